/*
 * libFuzzer target: one Kafka record's bytes through mf_reading_parse, the
 * path every raw record takes in the stream-worker, without a NUL at the end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf_reading.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    struct mf_reading r;
    cJSON *root;
    /* An exact-size copy: ASan catches any read past the record. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    if (mf_reading_parse(copy, size, &root, &r, err, sizeof err) == MF_OK) {
        MF_ASSERT(strlen(r.meter_id) >= 1 && strlen(r.meter_id) <= MF_METER_ID_MAX);
        MF_ASSERT(r.ts_ms >= 0);
        cJSON_Delete(root);
    } else {
        MF_ASSERT(root == NULL && err[0]);
    }
    free(copy);
    return 0;
}
