/*
 * agg_record: the scored-reading parser (cJSON). Strict on the fields the
 * rollups use, blind to the others.
 */
#include "agg_record.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mf_time.h"
#include "mf_common.h"

/* Larger magnitudes could overflow a window's sum to infinity. */
#define VALUE_MAX 1e12
/* src parts are Kafka partitions, offsets and small indexes. */
#define SRC_PART_MAX  65535
#define SRC_INDEX_MAX 1000000

static const cJSON *field(const cJSON *obj, const char *name, char *errbuf, size_t errlen)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!f)
        snprintf(errbuf, errlen, "missing field '%s'", name);
    return f;
}

/* A finite number with |v| <= max. */
static int number(const cJSON *obj, const char *name, double max, double *out, char *errbuf,
                  size_t errlen)
{
    const cJSON *f = field(obj, name, errbuf, errlen);
    if (!f)
        return MF_EDATA;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || fabs(f->valuedouble) > max) {
        snprintf(errbuf, errlen, "field '%s' is not a number within +-%g", name, max);
        return MF_EDATA;
    }
    *out = f->valuedouble;
    return MF_OK;
}

/* A whole number in [0, max]. cJSON keeps every number as a double, exact to 2^53. */
static int whole(const cJSON *obj, const char *name, double max, int64_t *out, char *errbuf,
                 size_t errlen)
{
    double v;
    if (number(obj, name, max, &v, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    if (v < 0 || v != floor(v)) {
        snprintf(errbuf, errlen, "field '%s' is not a whole number >= 0", name);
        return MF_EDATA;
    }
    *out = (int64_t)v;
    return MF_OK;
}

static int parse_ts(const cJSON *obj, int64_t *ms, char *errbuf, size_t errlen)
{
    char why[128];
    const cJSON *f = field(obj, "ts", errbuf, errlen);
    if (!f)
        return MF_EDATA;
    int rc = MF_EDATA;
    if (cJSON_IsString(f))
        rc = mf_time_parse_text(f->valuestring, strlen(f->valuestring), ms, why, sizeof why);
    else if (cJSON_IsNumber(f))
        rc = mf_time_from_epoch_ms(f->valuedouble, ms, why, sizeof why);
    else
        snprintf(why, sizeof why, "not a string or a number");
    if (rc != MF_OK)
        snprintf(errbuf, errlen, "invalid field 'ts': %s", why);
    return rc;
}

static int parse_src(const cJSON *obj, struct mf_src *src, char *errbuf, size_t errlen)
{
    const cJSON *s = field(obj, "src", errbuf, errlen);
    int64_t p, o, i;
    if (!s)
        return MF_EDATA;
    if (!cJSON_IsObject(s)) {
        snprintf(errbuf, errlen, "field 'src' is not an object");
        return MF_EDATA;
    }
    if (whole(s, "p", SRC_PART_MAX, &p, errbuf, errlen) ||
        whole(s, "o", 9007199254740992.0, &o, errbuf, errlen) ||
        whole(s, "i", SRC_INDEX_MAX, &i, errbuf, errlen))
        return MF_EDATA;
    src->p = (int32_t)p;
    src->o = o;
    src->i = (int32_t)i;
    return MF_OK;
}

int agg_record_parse(const char *data, size_t len, struct agg_record *r, char *errbuf,
                     size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(data, len);
    const cJSON *f;
    int64_t q;
    int rc = MF_EDATA;

    if (!cJSON_IsObject(root)) {
        snprintf(errbuf, errlen, "not a JSON object");
        goto out;
    }
    f = field(root, "meter_id", errbuf, errlen);
    if (!f)
        goto out;
    if (!cJSON_IsString(f) ||
        mf_meter_id_check(f->valuestring, strlen(f->valuestring), errbuf, errlen) != MF_OK) {
        if (!cJSON_IsString(f))
            snprintf(errbuf, errlen, "field 'meter_id' is not a string");
        goto out;
    }
    snprintf(r->meter_id, sizeof r->meter_id, "%s", f->valuestring);

    if (parse_ts(root, &r->ts_ms, errbuf, errlen) ||
        number(root, "value_kw", VALUE_MAX, &r->value_kw, errbuf, errlen) ||
        number(root, "energy_kwh", VALUE_MAX, &r->energy_kwh, errbuf, errlen) ||
        whole(root, "quality", 100, &q, errbuf, errlen) || parse_src(root, &r->src, errbuf, errlen))
        goto out;
    r->quality = (int)q;

    f = field(root, "tier", errbuf, errlen);
    if (!f)
        goto out;
    if (!cJSON_IsString(f) || mf_tier_parse(f->valuestring, &r->tier) != MF_OK) {
        snprintf(errbuf, errlen, "field 'tier' is not premium, standard or quarantine");
        goto out;
    }

    /* Optional: a worker that interpolates nothing may leave it out. */
    f = cJSON_GetObjectItemCaseSensitive(root, "interpolated");
    if (f && !cJSON_IsBool(f)) {
        snprintf(errbuf, errlen, "field 'interpolated' is not a boolean");
        goto out;
    }
    r->interpolated = f && cJSON_IsTrue(f);
    rc = MF_OK;
out:
    cJSON_Delete(root);
    return rc;
}
