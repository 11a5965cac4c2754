/*
 * mf_source: the §11 records' field tables, JSON codec and range check.
 * The tables are the contract: a field, its aliases and its range are one
 * row each, read by the parser, the writer and the check alike.
 */
#include "mf_source.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mf_json.h"
#include "mf_time.h"
#include "mf_common.h"

#define MAX_ALIASES 3

struct num_field {
    const char *name;               /* canonical, on the wire and in the tables */
    const char *alias[MAX_ALIASES]; /* accepted on input too */
    int required;
    double min, max; /* plausible range, both inclusive */
};

struct kind_spec {
    const char *kind;
    const char *id, *id_alias;
    int nnum;
    struct num_field num[MF_SRC_MAX_NUMS];
};

/* DESIGN §11. The grid value's range is checked in kW, after the unit. */
static const struct kind_spec specs[MF_SRC_COUNT] = {
    [MF_SRC_GRID] = {"grid",
                     "feeder_id",
                     "feederId",
                     3,
                     {{"value", {NULL}, 1, 0, 1e7},
                      {"voltage_v", {"voltage", "voltageV"}, 0, 0, 1e6},
                      {"frequency_hz", {"frequency", "frequencyHz"}, 0, 40, 70}}},
    [MF_SRC_WEATHER] = {"weather",
                        "station_id",
                        "stationId",
                        4,
                        {{"temp_c", {"temperature", "tempC"}, 1, -90, 60},
                         {"humidity_pct", {"humidity", "humidityPct"}, 0, 0, 100},
                         {"wind_ms", {"wind", "windMs"}, 0, 0, 120},
                         {"ghi_wm2", {"ghi", "ghiWm2"}, 0, 0, 1500}}},
    [MF_SRC_VEHICLE] =
        {"vehicle",
         "vehicle_id",
         "vehicleId",
         3,
         {{"soc_pct", {"soc", "socPct"}, 1, 0, 100},
          {"kwh_delivered_dc", {"kwhDeliveredDc"}, 0, 0, INFINITY},
          {"battery_temp_c", {"batteryTemp", "battery_temp", "batteryTempC"}, 0, -40, 90}}},
};

const char *mf_source_kind_name(enum mf_source_kind k)
{
    return specs[k].kind;
}

const char *mf_source_id_field(enum mf_source_kind k)
{
    return specs[k].id;
}

const char *mf_source_num_name(enum mf_source_kind k, int i)
{
    MF_ASSERT(i >= 0 && i < specs[k].nnum);
    return specs[k].num[i].name;
}

/*
 * Whether field name a is b. The first bytes first: a record's field is
 * looked up among a dozen names and aliases, which nearly all differ
 * there, and a strcmp call per candidate was a visible share of decoding
 * an item in ingest-gw's profile.
 */
static int same(const char *a, const char *b)
{
    return a[0] == b[0] && strcmp(a, b) == 0;
}

int mf_source_kind_of(const cJSON *obj)
{
    for (const cJSON *c = obj->child; c; c = c->next)
        for (int k = 0; k < MF_SRC_COUNT; k++)
            if (same(c->string, specs[k].id) || same(c->string, specs[k].id_alias))
                return k;
    return -1;
}

/* ---------------------------------------------------------------- parsing */

/* Slots of one record's fields: id, ts, the numbers, then grid's unit and interval. */
enum {
    SLOT_ID,
    SLOT_TS,
    SLOT_NUM0,
    SLOT_UNIT = SLOT_NUM0 + MF_SRC_MAX_NUMS,
    SLOT_INTERVAL,
    NSLOTS
};

/* The slot a field name fills for kind k, or -1 (an unknown field, ignored). */
static int slot_of(const struct kind_spec *s, enum mf_source_kind k, const char *name)
{
    if (same(name, s->id) || same(name, s->id_alias))
        return SLOT_ID;
    if (same(name, "ts") || same(name, "timestamp"))
        return SLOT_TS;
    for (int i = 0; i < s->nnum; i++) {
        if (same(name, s->num[i].name))
            return SLOT_NUM0 + i;
        for (int a = 0; a < MAX_ALIASES && s->num[i].alias[a]; a++)
            if (same(name, s->num[i].alias[a]))
                return SLOT_NUM0 + i;
    }
    if (k == MF_SRC_GRID && same(name, "unit"))
        return SLOT_UNIT;
    if (k == MF_SRC_GRID && (same(name, "interval_s") || same(name, "intervalS")))
        return SLOT_INTERVAL;
    return -1;
}

/* The canonical name of a slot, for messages. */
static const char *slot_name(const struct kind_spec *s, int slot)
{
    if (slot == SLOT_ID)
        return s->id;
    if (slot == SLOT_TS)
        return "ts";
    if (slot == SLOT_UNIT)
        return "unit";
    if (slot == SLOT_INTERVAL)
        return "interval_s";
    return s->num[slot - SLOT_NUM0].name;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(errbuf, errlen, __VA_ARGS__);                                                     \
        return MF_EDATA;                                                                           \
    } while (0)

/* The id: a string of the meter-id alphabet, its errors naming the field. */
static int read_id(const struct kind_spec *s, const cJSON *f, struct mf_source_rec *r, char *errbuf,
                   size_t errlen)
{
    if (!f)
        FAIL("missing field '%s'", s->id);
    if (!cJSON_IsString(f))
        FAIL("%s is not a string", s->id);
    size_t n = strlen(f->valuestring);
    if (mf_meter_id_check(f->valuestring, n, errbuf, errlen) != MF_OK) {
        /* mf_meter_id_check says "meter_id ...": say which id it is. */
        char why[128];
        snprintf(why, sizeof why, "%s", errbuf + strlen("meter_id"));
        FAIL("%s%s", s->id, why);
    }
    memcpy(r->id, f->valuestring, n + 1);
    return MF_OK;
}

static int read_ts(const cJSON *f, int64_t *ts, char *errbuf, size_t errlen)
{
    if (!f)
        FAIL("missing field 'ts'");
    if (cJSON_IsString(f))
        return mf_time_parse_text(f->valuestring, strlen(f->valuestring), ts, errbuf, errlen);
    if (cJSON_IsNumber(f))
        return mf_time_from_epoch_ms(f->valuedouble, ts, errbuf, errlen);
    FAIL("ts is neither an RFC 3339 string nor epoch milliseconds");
}

int mf_source_from_json(const cJSON *obj, enum mf_source_kind k, struct mf_source_rec *r,
                        char *errbuf, size_t errlen)
{
    const struct kind_spec *s = &specs[k];
    const cJSON *f[NSLOTS] = {NULL};
    size_t nfields = 0;

    if (!cJSON_IsObject(obj))
        FAIL("%s record is not a JSON object", s->kind);
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (++nfields > MF_READING_MAX_FIELDS)
            FAIL("record has more than %d fields", MF_READING_MAX_FIELDS);
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (same(d->string, c->string))
                FAIL("duplicate field '%.40s'", c->string);
        int slot = slot_of(s, k, c->string);
        if (slot < 0 || cJSON_IsNull(c))
            continue;
        if (f[slot])
            FAIL("duplicate field '%s' (also as '%.40s')", slot_name(s, slot), c->string);
        f[slot] = c;
    }

    memset(r, 0, sizeof *r);
    r->kind = k;
    if (read_id(s, f[SLOT_ID], r, errbuf, errlen) != MF_OK ||
        read_ts(f[SLOT_TS], &r->ts_ms, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    for (int i = 0; i < s->nnum; i++) {
        const cJSON *v = f[SLOT_NUM0 + i];
        if (!v) {
            if (s->num[i].required)
                FAIL("missing field '%s'", s->num[i].name);
            continue;
        }
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            FAIL("%s is not a finite number", s->num[i].name);
        r->num[i] = v->valuedouble;
        r->has |= 1u << i;
    }
    /* Grid's unit and interval_s, as §3.1 has them for readings (other kinds have no slot). */
    if (mf_unit_from_json(f[SLOT_UNIT], r->unit_text, &r->unit, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    return mf_interval_from_json(f[SLOT_INTERVAL], &r->interval_s, errbuf, errlen);
}

int mf_source_parse(const char *data, size_t len, enum mf_source_kind k, struct mf_source_rec *r,
                    char *errbuf, size_t errlen)
{
    if (!mf_utf8_valid(data, len))
        FAIL("not valid UTF-8");
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!j)
        FAIL("not JSON");
    int rc = mf_source_from_json(j, k, r, errbuf, errlen);
    cJSON_Delete(j);
    return rc;
}

int mf_source_to_json(const struct mf_source_rec *r, struct mf_buf *out)
{
    const struct kind_spec *s = &specs[r->kind];
    char ts[MF_TIME_STRLEN];
    int rc = MF_OK;

    /* Names are ours and need no escaping: appended as they are, no format string parsed per
     * record (mf_buf_appendf was the bulk of this function in ingest-gw's profile). */
    mf_time_format(r->ts_ms, ts);
    rc |= mf_buf_appends(out, "{\"");
    rc |= mf_buf_appends(out, s->id);
    rc |= mf_buf_appends(out, "\":");
    rc |= mf_json_str(out, r->id, strlen(r->id));
    rc |= mf_buf_appends(out, ",\"ts\":\"");
    rc |= mf_buf_appends(out, ts);
    rc |= mf_buf_appendc(out, '"');
    for (int i = 0; i < s->nnum; i++) {
        if (!(r->has & (1u << i)))
            continue;
        rc |= mf_buf_appends(out, ",\"");
        rc |= mf_buf_appends(out, s->num[i].name);
        rc |= mf_buf_appends(out, "\":");
        rc |= mf_json_double(out, r->num[i]);
    }
    rc |= mf_unit_interval_to_json(out, r->unit_text, r->interval_s);
    rc |= mf_buf_appendc(out, '}');
    return rc == MF_OK ? MF_OK : MF_EDATA;
}

/* ---------------------------------------------------------------- meaning */

/* DESIGN §4 rule 2 for a grid feed's value: kW, or the reason it has none. */
static int grid_kw(const struct mf_source_rec *r, int default_interval_s, double *kw,
                   const char **code, char *msg, size_t msglen)
{
    double v = r->num[MF_GRID_VALUE];
    double per_h = 3600.0 / (r->interval_s ? r->interval_s : default_interval_s);
    enum mf_unit u = r->unit;

    if (u == MF_UNIT_NONE) {
        if (v < 10) {
            u = MF_UNIT_KW;
        } else if (v > 1000) {
            u = MF_UNIT_W;
        } else {
            *code = "unit_ambiguous";
            snprintf(msg, msglen, "unit missing and value %g is between 10 and 1000", v);
            return MF_EDATA;
        }
    }
    switch (u) {
    case MF_UNIT_W:
        *kw = v / 1000.0;
        return MF_OK;
    case MF_UNIT_KW:
        *kw = v;
        return MF_OK;
    case MF_UNIT_MW:
        *kw = v * 1000.0;
        return MF_OK;
    case MF_UNIT_WH:
        *kw = v / 1000.0 * per_h;
        return MF_OK;
    case MF_UNIT_KWH:
        *kw = v * per_h;
        return MF_OK;
    case MF_UNIT_MWH:
        *kw = v * 1000.0 * per_h;
        return MF_OK;
    case MF_UNIT_NONE:
    case MF_UNIT_OTHER:
    default:
        *code = "unit_unknown";
        snprintf(msg, msglen, "unit '%s' is not one of W, kW, MW, Wh, kWh, MWh", r->unit_text);
        return MF_EDATA;
    }
}

int mf_source_check(const struct mf_source_rec *r, int default_interval_s, double *value_kw,
                    const char **code, char *msg, size_t msglen)
{
    const struct kind_spec *s = &specs[r->kind];

    *value_kw = 0;
    for (int i = 0; i < s->nnum; i++) {
        if (!(r->has & (1u << i)))
            continue;
        double v = r->num[i];
        if (r->kind == MF_SRC_GRID && i == MF_GRID_VALUE) {
            if (grid_kw(r, default_interval_s, &v, code, msg, msglen) != MF_OK)
                return MF_EDATA;
            *value_kw = v;
        }
        if (v < s->num[i].min || v > s->num[i].max) {
            *code = "out_of_range";
            if (isinf(s->num[i].max))
                snprintf(msg, msglen, "%s %g below %g", s->num[i].name, v, s->num[i].min);
            else
                snprintf(msg, msglen, "%s %g outside %g..%g", s->num[i].name, v, s->num[i].min,
                         s->num[i].max);
            return MF_EDATA;
        }
    }
    return MF_OK;
}
