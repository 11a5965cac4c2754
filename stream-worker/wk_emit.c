/*
 * wk_emit: hand-written JSON writers. cJSON would build a tree per output
 * (a malloc per field); these append straight into a reused buffer, which
 * is most of why our own code stays under 2 us a record.
 */
#include "wk_emit.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "mf_json.h"
#include "mf_time.h"
#include "mf_common.h"

/*
 * energy_kwh is kW * interval / 3600, rarely a short decimal: written to
 * 1e-9 kWh (a microwatt-hour), which is below any meter's resolution and
 * keeps it on the fast path of mf_json_fmt_double.
 */
static double energy_rounded(double e)
{
    return fabs(e) < 1e6 ? nearbyint(e * 1e9) / 1e9 : e;
}

static int put_time(struct mf_buf *b, const char *name, int64_t ms)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(ms, ts);
    int rc = mf_buf_appends(b, name);
    rc |= mf_buf_appendc(b, '"');
    rc |= mf_buf_append(b, ts, MF_TIME_STRLEN - 1);
    rc |= mf_buf_appendc(b, '"');
    return rc;
}

/* ,"name":v */
static int put_number(struct mf_buf *b, const char *name, double v)
{
    int rc = mf_buf_appends(b, ",\"");
    rc |= mf_buf_appends(b, name);
    rc |= mf_buf_appends(b, "\":");
    rc |= mf_json_double(b, v);
    return rc;
}

/* Names a scored reading writes itself; an input extra field by one of them is not copied. */
static const char *const reserved[] = {
    "meter_id", "ts",           "value",       "unit",         "interval_s",
    "value_kw", "source_value", "source_unit", "energy_kwh",   "quality",
    "tier",     "flags",        "reasons",     "interpolated", "src",
};

/* ---------------------------------------------------------------- the raw writer */

/*
 * The scored reading is written once per record, so it goes straight into
 * room reserved up front instead of through an append per piece (each one
 * a strlen, a capacity check and a NUL: a fifth of our instructions a
 * record, callgrind). Strings that need escaping and the extra fields still
 * go through mf_buf, after which the writer picks up at the buffer's end.
 * The flags and the src are written this way by every output.
 */
struct raw {
    struct mf_buf *b;
    char *o; /* next byte; room reserved by raw_room */
};

#define RAW_LIT(w, s) (memcpy((w)->o, s, sizeof(s) - 1), (w)->o += sizeof(s) - 1)

/* Makes room for n more bytes at the end of the buffer. MF_OK or MF_EDATA. */
static int raw_room(struct raw *w, size_t n)
{
    struct mf_buf *b = w->b;
    if (w->o)
        b->len = (size_t)(w->o - b->data);
    if (mf_buf_reserve(b, n) != MF_OK)
        return MF_EDATA;
    w->o = b->data + b->len;
    return MF_OK;
}

/* Hands the bytes written so far to the buffer (before an mf_buf call). */
static void raw_sync(struct raw *w)
{
    w->b->len = (size_t)(w->o - w->b->data);
    w->b->data[w->b->len] = '\0';
    w->o = NULL;
}

static void raw_str(struct raw *w, const char *s)
{
    size_t n = strlen(s);
    memcpy(w->o, s, n);
    w->o += n;
}

static void raw_int(struct raw *w, int64_t v)
{
    w->o += mf_json_fmt_int(w->o, v);
}

/* A number (48 bytes of the room): null if not finite, as every output of ours. */
static void raw_double(struct raw *w, double v)
{
    w->o += mf_json_fmt_double(w->o, v);
}

/* The JSON string s[0..n) (escaped through mf_buf), then room for `after` bytes. */
static int raw_json_str(struct raw *w, const char *s, size_t n, size_t after)
{
    raw_sync(w);
    int rc = mf_json_str(w->b, s, n);
    return rc | raw_room(w, after);
}

/* Room "flags":[...],"reasons":[...] can take: every name twice, quoted, with commas. */
static size_t flags_room(void)
{
    static size_t room; /* computed once; the same value from any thread */
    if (!room) {
        size_t n = 32;
        for (int f = 0; f < WK_F_COUNT; f++)
            n += 2 * (strlen(wk_flags[f].name) + 3);
        room = n;
    }
    return room;
}

/* The quoted names of the flags set in `flags`, in wk_flags[] order; only reasons if asked. */
static void raw_names(struct raw *w, uint32_t flags, bool reasons_only)
{
    int first = 1;
    for (int f = 0; f < WK_F_COUNT; f++) {
        if (!(flags & (1u << f)) || (reasons_only && !wk_flags[f].reject))
            continue;
        if (!first)
            *w->o++ = ',';
        first = 0;
        *w->o++ = '"';
        raw_str(w, wk_flags[f].name);
        *w->o++ = '"';
    }
}

/* ,"flags":[...],"reasons":[...] (flags_room bytes of the room). */
static void raw_flags(struct raw *w, uint32_t flags)
{
    RAW_LIT(w, ",\"flags\":[");
    raw_names(w, flags, false);
    RAW_LIT(w, "],\"reasons\":[");
    raw_names(w, flags, true);
    *w->o++ = ']';
}

#define SRC_ROOM 96 /* "src":{"p":...,"o":...,"i":...} */

static void raw_src(struct raw *w, struct mf_src src)
{
    RAW_LIT(w, "\"src\":{\"p\":");
    raw_int(w, src.p);
    RAW_LIT(w, ",\"o\":");
    raw_int(w, src.o);
    RAW_LIT(w, ",\"i\":");
    raw_int(w, src.i);
    *w->o++ = '}';
}

/* The flags and the src for the writers that append piece by piece (interpolated, alert). */
static int put_flags(struct mf_buf *b, uint32_t flags)
{
    struct raw w = {b, NULL};
    if (raw_room(&w, flags_room()) != MF_OK)
        return MF_EDATA;
    raw_flags(&w, flags);
    raw_sync(&w);
    return MF_OK;
}

static int put_src(struct mf_buf *b, struct mf_src src)
{
    struct raw w = {b, NULL};
    if (raw_room(&w, SRC_ROOM) != MF_OK)
        return MF_EDATA;
    raw_src(&w, src);
    raw_sync(&w);
    return MF_OK;
}

/* ---------------------------------------------------------------- the outputs */

int wk_emit_scored(struct mf_buf *b, const struct mf_reading *r, const struct wk_result *res,
                   struct mf_src src)
{
    struct raw w = {b, NULL};

    /* Up to the unit: fixed text, a time and two numbers (48 each); then the rest. */
    const size_t upto_unit = 256, rest = 320 + flags_room();
    int rc = raw_room(&w, 16);
    if (rc != MF_OK)
        return MF_EDATA;
    RAW_LIT(&w, "{\"meter_id\":");
    rc |= raw_json_str(&w, r->meter_id, strlen(r->meter_id), upto_unit + rest);
    if (rc != MF_OK)
        return MF_EDATA;
    RAW_LIT(&w, ",\"ts\":\"");
    mf_time_format(r->ts_ms, w.o);
    w.o += MF_TIME_STRLEN - 1;
    RAW_LIT(&w, "\",\"value_kw\":");
    if (res->has_kw)
        raw_double(&w, res->value_kw);
    else
        RAW_LIT(&w, "null");
    RAW_LIT(&w, ",\"source_value\":");
    raw_double(&w, r->value);
    RAW_LIT(&w, ",\"source_unit\":");
    if (res->unit == MF_UNIT_OTHER) {
        rc |= raw_json_str(&w, r->unit_text, strlen(r->unit_text), rest);
        if (rc != MF_OK)
            return MF_EDATA;
    } else if (res->unit == MF_UNIT_NONE) {
        RAW_LIT(&w, "null");
    } else {
        *w.o++ = '"'; /* canonical unit names need no escaping */
        raw_str(&w, mf_unit_name(res->unit));
        *w.o++ = '"';
    }
    RAW_LIT(&w, ",\"interval_s\":");
    raw_int(&w, res->interval_s);
    RAW_LIT(&w, ",\"energy_kwh\":");
    if (res->has_kw)
        raw_double(&w, energy_rounded(res->energy_kwh));
    else
        RAW_LIT(&w, "null");
    RAW_LIT(&w, ",\"quality\":");
    raw_int(&w, res->quality);
    RAW_LIT(&w, ",\"tier\":\"");
    raw_str(&w, mf_tier_name(res->tier));
    *w.o++ = '"';
    raw_flags(&w, res->flags);
    RAW_LIT(&w, ",\"interpolated\":false");
    raw_sync(&w);
    if (mf_json_extras(b, r->object, reserved, MF_ARRAY_LEN(reserved)) != MF_OK ||
        raw_room(&w, 2 + SRC_ROOM) != MF_OK)
        return MF_EDATA;
    *w.o++ = ',';
    raw_src(&w, src);
    *w.o++ = '}';
    raw_sync(&w);
    return MF_OK;
}

int wk_emit_interp(struct mf_buf *b, const struct mf_reading *r, const struct wk_result *res,
                   uint32_t k, struct mf_src src)
{
    double kw = wk_interp_kw(res, k);
    int rc = mf_buf_appends(b, "{\"meter_id\":");
    rc |= mf_json_str(b, r->meter_id, strlen(r->meter_id));
    rc |= put_time(b, ",\"ts\":", wk_interp_ts(res, k));
    rc |= mf_buf_appends(b, ",\"value_kw\":");
    rc |= mf_json_double(b, kw);
    /* Made here, in kW: its own source value, never a converted one. */
    rc |= mf_buf_appends(b, ",\"source_value\":");
    rc |= mf_json_double(b, kw);
    rc |= mf_buf_appends(b, ",\"source_unit\":\"kW\",\"interval_s\":");
    rc |= mf_json_int(b, res->interval_s);
    rc |= mf_buf_appends(b, ",\"energy_kwh\":");
    rc |= mf_json_double(b, energy_rounded(kw * res->interval_s / 3600.0));
    rc |= mf_buf_appends(b, ",\"quality\":");
    rc |= mf_json_int(b, res->interp_quality);
    rc |= mf_buf_appends(b, ",\"tier\":\"");
    rc |= mf_buf_appends(b, mf_tier_name(res->interp_tier));
    rc |= mf_buf_appendc(b, '"');
    rc |= put_flags(b, 1u << WK_F_INTERPOLATED);
    rc |= mf_buf_appends(b, ",\"interpolated\":true,");
    rc |= put_src(b, src);
    rc |= mf_buf_appendc(b, '}');
    return rc == MF_OK ? MF_OK : MF_EDATA;
}

int wk_emit_alert(struct mf_buf *b, const char *meter_id, const struct wk_alert *a,
                  struct mf_src src)
{
    const struct wk_alert_info *t = &wk_alert_types[a->type];
    int rc = mf_buf_appends(b, "{\"meter_id\":");
    rc |= mf_json_str(b, meter_id, strlen(meter_id));
    rc |= mf_buf_appends(b, ",\"type\":\"");
    rc |= mf_buf_appends(b, t->type);
    rc |= mf_buf_appends(b, "\",\"severity\":\"");
    rc |= mf_buf_appends(b, t->severity);
    rc |= mf_buf_appends(b, a->cleared ? "\",\"state\":\"cleared\"" : "\",\"state\":\"raised\"");
    rc |= put_time(b, ",\"since\":", a->since);
    rc |= put_time(b, ",\"ts\":", a->ts);
    rc |= mf_buf_appends(b, ",\"detail\":{\"hours\":");
    rc |= mf_json_double(b, round(a->hours * 1000) / 1000);
    if (t->value_name)
        rc |= put_number(b, t->value_name, a->value);
    if (t->limit_name)
        rc |= put_number(b, t->limit_name, a->limit);
    rc |= mf_buf_appends(b, "},");
    rc |= put_src(b, src);
    rc |= mf_buf_appendc(b, '}');
    return rc == MF_OK ? MF_OK : MF_EDATA;
}
