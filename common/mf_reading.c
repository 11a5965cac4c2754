/*
 * mf_reading: JSON object <-> struct mf_reading, with the structural checks
 * of DESIGN §3.1, and a strict UTF-8 validator (cJSON does not validate).
 */
#include "mf_reading.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mf_json.h"
#include "mf_time.h"
#include "mf_common.h"

static const struct {
    const char *text;
    enum mf_unit unit;
} unit_table[] = {
    {"W", MF_UNIT_W},   {"watt", MF_UNIT_W}, {"watts", MF_UNIT_W}, {"kW", MF_UNIT_KW},
    {"MW", MF_UNIT_MW}, {"Wh", MF_UNIT_WH},  {"kWh", MF_UNIT_KWH}, {"MWh", MF_UNIT_MWH},
};

static const char *const unit_names[] = {"", "W", "kW", "MW", "Wh", "kWh", "MWh", ""};

enum mf_unit mf_unit_parse(const char *s, size_t n)
{
    if (n == 0)
        return MF_UNIT_NONE;
    for (size_t i = 0; i < MF_ARRAY_LEN(unit_table); i++)
        if (strlen(unit_table[i].text) == n && strncasecmp(unit_table[i].text, s, n) == 0)
            return unit_table[i].unit;
    return MF_UNIT_OTHER;
}

const char *mf_unit_name(enum mf_unit u)
{
    return unit_names[u];
}

int mf_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        /* ASCII, nearly every byte of a body: eight at a time while none has its high bit. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, sizeof w);
            if (w & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i == n)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned min, cp;
        if ((c & 0xE0) == 0xC0) {
            need = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= need) /* truncated sequence */
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

int mf_meter_id_check(const char *s, size_t n, char *errbuf, size_t errlen)
{
    if (n == 0) {
        snprintf(errbuf, errlen, "meter_id is empty");
        return MF_EDATA;
    }
    if (n > MF_METER_ID_MAX) {
        snprintf(errbuf, errlen, "meter_id longer than %d characters", MF_METER_ID_MAX);
        return MF_EDATA;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-')) {
            snprintf(errbuf, errlen, "meter_id has a character outside [A-Za-z0-9._:-]");
            return MF_EDATA;
        }
    }
    return MF_OK;
}

enum field { F_METER_ID, F_TS, F_VALUE, F_UNIT, F_INTERVAL, F_EXTRA };

/* The fields of DESIGN §3.1, in enum field order; every other one is an extra. */
static const char *const known[F_EXTRA] = {"meter_id", "ts", "value", "unit", "interval_s"};

static enum field field_of(const char *name)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(known); i++)
        if (strcmp(name, known[i]) == 0)
            return (enum field)i;
    return F_EXTRA;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(errbuf, errlen, __VA_ARGS__);                                                     \
        return MF_EDATA;                                                                           \
    } while (0)

int mf_reading_from_json(const cJSON *obj, struct mf_reading *r, char *errbuf, size_t errlen)
{
    const cJSON *f[F_EXTRA] = {NULL};
    size_t nfields = 0;

    if (!cJSON_IsObject(obj))
        FAIL("reading is not a JSON object");

    for (const cJSON *c = obj->child; c; c = c->next) {
        if (++nfields > MF_READING_MAX_FIELDS)
            FAIL("reading has more than %d fields", MF_READING_MAX_FIELDS);
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                FAIL("duplicate field '%.40s'", c->string);
        enum field k = field_of(c->string);
        if (k != F_EXTRA && !cJSON_IsNull(c))
            f[k] = c;
    }

    memset(r, 0, sizeof *r);
    r->object = obj;

    /* meter_id */
    if (!f[F_METER_ID])
        FAIL("missing field 'meter_id'");
    if (!cJSON_IsString(f[F_METER_ID]))
        FAIL("meter_id is not a string");
    size_t idlen = strlen(f[F_METER_ID]->valuestring);
    if (mf_meter_id_check(f[F_METER_ID]->valuestring, idlen, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    memcpy(r->meter_id, f[F_METER_ID]->valuestring, idlen + 1);

    /* ts: RFC 3339 text or whole epoch milliseconds */
    if (!f[F_TS])
        FAIL("missing field 'ts'");
    if (cJSON_IsString(f[F_TS])) {
        const char *s = f[F_TS]->valuestring;
        if (mf_time_parse_rfc3339(s, strlen(s), &r->ts_ms, errbuf, errlen) != MF_OK)
            return MF_EDATA;
    } else if (cJSON_IsNumber(f[F_TS])) {
        if (mf_time_from_epoch_ms(f[F_TS]->valuedouble, &r->ts_ms, errbuf, errlen) != MF_OK)
            return MF_EDATA;
    } else {
        FAIL("ts is neither an RFC 3339 string nor epoch milliseconds");
    }

    /* value */
    if (!f[F_VALUE])
        FAIL("missing field 'value'");
    if (!cJSON_IsNumber(f[F_VALUE]))
        FAIL("value is not a number");
    if (!isfinite(f[F_VALUE]->valuedouble))
        FAIL("value is not finite");
    r->value = f[F_VALUE]->valuedouble;

    /* unit and interval_s (optional) */
    if (mf_unit_from_json(f[F_UNIT], r->unit_text, &r->unit, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    return mf_interval_from_json(f[F_INTERVAL], &r->interval_s, errbuf, errlen);
}

int mf_unit_from_json(const cJSON *f, char *unit_text, enum mf_unit *unit, char *errbuf,
                      size_t errlen)
{
    if (!f)
        return MF_OK;
    if (!cJSON_IsString(f))
        FAIL("unit is not a string");
    size_t ulen = strlen(f->valuestring);
    if (ulen > MF_UNIT_TEXT_MAX)
        FAIL("unit longer than %d characters", MF_UNIT_TEXT_MAX);
    memcpy(unit_text, f->valuestring, ulen + 1);
    *unit = mf_unit_parse(unit_text, ulen);
    return MF_OK;
}

int mf_interval_from_json(const cJSON *f, int32_t *interval_s, char *errbuf, size_t errlen)
{
    if (!f)
        return MF_OK;
    double v = f->valuedouble;
    if (!cJSON_IsNumber(f) || v != floor(v))
        FAIL("interval_s is not a whole number");
    if (v < 1 || v > MF_INTERVAL_MAX_S)
        FAIL("interval_s out of range 1..%d", MF_INTERVAL_MAX_S);
    *interval_s = (int32_t)v;
    return MF_OK;
}

int mf_reading_parse(const char *data, size_t len, cJSON **root, struct mf_reading *r, char *errbuf,
                     size_t errlen)
{
    *root = NULL;
    if (!mf_utf8_valid(data, len))
        FAIL("not valid UTF-8");
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!j)
        FAIL("not JSON");
    if (mf_reading_from_json(j, r, errbuf, errlen) != MF_OK) {
        cJSON_Delete(j);
        return MF_EDATA;
    }
    *root = j;
    return MF_OK;
}

int mf_reading_to_json(const struct mf_reading *r, struct mf_buf *out)
{
    char ts[MF_TIME_STRLEN];
    int rc = MF_OK;

    mf_time_format(r->ts_ms, ts);
    rc |= mf_buf_appends(out, "{\"meter_id\":");
    rc |= mf_json_str(out, r->meter_id, strlen(r->meter_id));
    rc |= mf_buf_appends(out, ",\"ts\":\"");
    rc |= mf_buf_appends(out, ts);
    rc |= mf_buf_appends(out, "\",\"value\":");
    rc |= mf_json_double(out, r->value);
    rc |= mf_unit_interval_to_json(out, r->unit_text, r->interval_s);
    if (rc == MF_OK && mf_json_extras(out, r->object, known, MF_ARRAY_LEN(known)) != MF_OK)
        return MF_EDATA;
    rc |= mf_buf_appendc(out, '}');
    return rc == MF_OK ? MF_OK : MF_EDATA;
}

int mf_unit_interval_to_json(struct mf_buf *out, const char *unit_text, int32_t interval_s)
{
    int rc = MF_OK;
    if (unit_text[0]) {
        rc |= mf_buf_appends(out, ",\"unit\":");
        rc |= mf_json_str(out, unit_text, strlen(unit_text));
    }
    if (interval_s) {
        rc |= mf_buf_appends(out, ",\"interval_s\":");
        rc |= mf_json_int(out, interval_s);
    }
    return rc == MF_OK ? MF_OK : MF_EDATA;
}
