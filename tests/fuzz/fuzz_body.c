/*
 * libFuzzer target: request bodies in all three formats (the first byte
 * picks JSON, NDJSON or CSV), each valid item serialized and parsed back,
 * which must give the same reading.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_body.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_item(void *opaque, size_t index, const struct mf_reading *r, const char *err)
{
    (void)opaque;
    (void)index;
    if (!r) {
        MF_ASSERT(err && err[0]);
        return;
    }
    struct mf_buf b = MF_BUF_INIT;
    MF_ASSERT(mf_reading_to_json(r, &b) == MF_OK);
    char e[160];
    struct mf_reading back;
    cJSON *root;
    MF_ASSERT(mf_reading_parse(b.data, b.len, &root, &back, e, sizeof e) == MF_OK);
    MF_ASSERT(strcmp(back.meter_id, r->meter_id) == 0);
    MF_ASSERT(back.ts_ms == r->ts_ms);
    MF_ASSERT(back.value == r->value);
    MF_ASSERT(back.interval_s == r->interval_s);
    MF_ASSERT(strcmp(back.unit_text, r->unit_text) == 0);
    cJSON_Delete(root);
    mf_buf_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (size < 1)
        return 0;
    enum gw_body_format fmt = (enum gw_body_format)(data[0] % 3);
    /* The gateway hands the parser a NUL-terminated copy; so do we. */
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    gw_body_parse(fmt, body, size - 1, 1000, on_item, NULL, err, sizeof err);
    free(body);
    return 0;
}
