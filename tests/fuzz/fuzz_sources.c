/*
 * libFuzzer target: the other sources' bodies (gw_body_parse_objects in
 * all three formats, the first byte picking the format and the allowed
 * kinds) through gw_item_decode; each record of a §11 kind is parsed back
 * from its canonical JSON, which must give the same record and the same
 * verdict of mf_source_check.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_body.h"
#include "gw_items.h"
#include "mf_source.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Field by field: the struct has padding, so no memcmp. */
static int same_rec(const struct mf_source_rec *a, const struct mf_source_rec *b)
{
    if (a->kind != b->kind || strcmp(a->id, b->id) != 0 || a->ts_ms != b->ts_ms ||
        a->has != b->has || strcmp(a->unit_text, b->unit_text) != 0 || a->unit != b->unit ||
        a->interval_s != b->interval_s)
        return 0;
    for (int i = 0; i < MF_SRC_MAX_NUMS; i++)
        if ((a->has & (1u << i)) && a->num[i] != b->num[i])
            return 0;
    return 1;
}

static void on_obj(void *opaque, size_t index, const cJSON *obj, const char *err)
{
    unsigned allowed = *(const unsigned *)opaque;
    char why[200], key[MF_METER_ID_MAX + 1];
    enum gw_kind kind;
    struct mf_buf out = MF_BUF_INIT;
    (void)index;

    if (!obj) {
        MF_ASSERT(err && err[0]);
        return;
    }
    if (gw_item_decode(obj, allowed, &kind, key, &out, why, sizeof why) != MF_OK) {
        MF_ASSERT(why[0] && out.len == 0);
        goto out;
    }
    MF_ASSERT(allowed & GW_KIND_BIT(kind));
    if (kind != GW_KIND_READING) {
        static const enum mf_source_kind sk[] = {MF_SRC_GRID, MF_SRC_GRID, MF_SRC_WEATHER,
                                                 MF_SRC_VEHICLE};
        struct mf_source_rec a, b;
        struct mf_buf again = MF_BUF_INIT;
        MF_ASSERT(mf_source_parse(out.data, out.len, sk[kind], &a, why, sizeof why) == MF_OK);
        MF_ASSERT(strcmp(a.id, key) == 0);
        MF_ASSERT(mf_source_to_json(&a, &again) == MF_OK);
        MF_ASSERT(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
        MF_ASSERT(mf_source_parse(again.data, again.len, sk[kind], &b, why, sizeof why) == MF_OK);
        MF_ASSERT(same_rec(&a, &b));
        double kw1, kw2;
        const char *c1 = NULL, *c2 = NULL;
        char m1[160], m2[160];
        MF_ASSERT(mf_source_check(&a, 60, &kw1, &c1, m1, sizeof m1) ==
                  mf_source_check(&b, 60, &kw2, &c2, m2, sizeof m2));
        mf_buf_release(&again);
    }
out:
    mf_buf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (size < 1)
        return 0;
    enum gw_body_format fmt = (enum gw_body_format)(data[0] % 3);
    unsigned allowed = ((unsigned)data[0] >> 2) & GW_KINDS_ALL;
    if (!allowed)
        allowed = GW_KINDS_ALL;
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';
    gw_body_parse_objects(fmt, body, size - 1, 1000, on_obj, &allowed, err, sizeof err);
    free(body);
    return 0;
}
