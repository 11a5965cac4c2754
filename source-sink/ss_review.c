/*
 * ss_review: records of the quarantine, DLQ and alerts topics as rows of
 * the review stores (DESIGN §14). Each row is written into the batch as a
 * JSON object of typed fields checked here, so ss_pg's SQL casts cannot
 * fail on a record's content (a failing cast would stop the sink on that
 * batch for ever). No I/O: unit-tested alone.
 */
#include "ss_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mf_json.h"
#include "mf_reading.h"
#include "mf_time.h"
#include "mf_common.h"

#define MS_PER_DAY 86400000LL

const char *ss_topic_kind_name(int kind)
{
    static const char *const review[SS_REV_COUNT] = {"quarantine", "dlq", "alerts"};
    if (kind < MF_SRC_COUNT)
        return mf_source_kind_name((enum mf_source_kind)kind);
    return review[kind - MF_SRC_COUNT];
}

/* Text PostgreSQL can hold and jsonb can carry: valid UTF-8, no NUL. */
static int pg_text_ok(const void *s, size_t n)
{
    return mf_utf8_valid(s, n) && !memchr(s, '\0', n);
}

/* \u0000 (any case of u), which jsonb refuses and cJSON reads. */
static int has_nul_escape(const char *s, size_t n)
{
    for (size_t i = 0; i + 5 < n; i++)
        if (s[i] == '\\' && (s[i + 1] == 'u' || s[i + 1] == 'U') &&
            memcmp(s + i + 2, "0000", 4) == 0)
            return 1;
    return 0;
}

static void base64(struct mf_buf *out, const unsigned char *s, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="; /* [64]: the pad */
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        mf_buf_appendc(out, tab[(v >> 18) & 63]);
        mf_buf_appendc(out, tab[(v >> 12) & 63]);
        mf_buf_appendc(out, tab[i + 1 < n ? (v >> 6) & 63 : 64]);
        mf_buf_appendc(out, tab[i + 2 < n ? v & 63 : 64]);
    }
}

/* ,"name":"text" for bytes PostgreSQL can hold as text, else their base64 (enc says which). */
static void put_bytes(struct mf_buf *o, const char *name, const char *enc_name, const void *s,
                      size_t n)
{
    mf_buf_appendf(o, ",\"%s\":\"", name);
    int text = pg_text_ok(s, n);
    if (text) {
        o->len--; /* mf_json_str writes its own quotes */
        mf_json_str(o, s, n);
    } else {
        base64(o, s, n);
        mf_buf_appendc(o, '"');
    }
    mf_buf_appendf(o, ",\"%s\":\"%s\"", enc_name, text ? "utf8" : "base64");
}

static void put_str(struct mf_buf *o, const char *name, const char *s)
{
    mf_buf_appendf(o, ",\"%s\":", name);
    if (s)
        mf_json_str(o, s, strlen(s));
    else
        mf_buf_appends(o, "null");
}

static void put_time(struct mf_buf *o, const char *name, int64_t ms)
{
    char ts[MF_TIME_STRLEN];
    mf_time_format(ms, ts);
    mf_buf_appendf(o, ",\"%s\":\"%s\"", name, ts);
}

/* A finite number or null. */
static void put_num(struct mf_buf *o, const char *name, const cJSON *v)
{
    mf_buf_appendf(o, ",\"%s\":", name);
    if (cJSON_IsNumber(v))
        mf_json_double(o, v->valuedouble);
    else
        mf_buf_appends(o, "null");
}

/* An integer in [lo, hi], else null. */
static void put_int(struct mf_buf *o, const char *name, const cJSON *v, double lo, double hi)
{
    mf_buf_appendf(o, ",\"%s\":", name);
    if (cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
        v->valuedouble == (double)(int64_t)v->valuedouble)
        mf_json_int(o, (int64_t)v->valuedouble);
    else
        mf_buf_appends(o, "null");
}

/* The strings of an array (anything else in it skipped). */
static void put_strings(struct mf_buf *o, const char *name, const cJSON *arr)
{
    const cJSON *e;
    int first = 1;
    mf_buf_appendf(o, ",\"%s\":[", name);
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e))
            continue;
        if (!first)
            mf_buf_appendc(o, ',');
        first = 0;
        mf_json_str(o, e->valuestring, strlen(e->valuestring));
    }
    mf_buf_appendc(o, ']');
}

static void put_src(struct mf_buf *o, const cJSON *src)
{
    put_int(o, "sp", cJSON_GetObjectItemCaseSensitive(src, "p"), 0, INT32_MAX);
    put_int(o, "so", cJSON_GetObjectItemCaseSensitive(src, "o"), 0, 9007199254740992.0);
    put_int(o, "si", cJSON_GetObjectItemCaseSensitive(src, "i"), 0, INT32_MAX);
}

/* A required RFC 3339 field: its ms, or -1 with msg. */
static int get_time(const cJSON *root, const char *name, int64_t *ms, char *msg, size_t msglen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    char err[128];
    if (!cJSON_IsString(v)) {
        snprintf(msg, msglen, "%s: missing or not a string", name);
        return -1;
    }
    if (mf_time_parse_rfc3339(v->valuestring, strlen(v->valuestring), ms, err, sizeof err) !=
        MF_OK) {
        snprintf(msg, msglen, "%s: %s", name, err);
        return -1;
    }
    return 0;
}

static const char *get_str(const cJSON *root, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The quarantine row: §3.2's fields, the record itself. */
static int quarantine_row(struct mf_buf *o, const cJSON *root, const void *value, size_t len,
                          char *msg, size_t msglen)
{
    int64_t ts;
    const char *meter = get_str(root, "meter_id");
    if (!meter || mf_meter_id_check(meter, strlen(meter), msg, msglen) != MF_OK) {
        if (!meter)
            snprintf(msg, msglen, "meter_id: missing or not a string");
        return -1;
    }
    if (get_time(root, "ts", &ts, msg, msglen))
        return -1;
    put_str(o, "meter_id", meter);
    put_time(o, "ts", ts);
    put_num(o, "value_kw", cJSON_GetObjectItemCaseSensitive(root, "value_kw"));
    put_num(o, "source_value", cJSON_GetObjectItemCaseSensitive(root, "source_value"));
    put_str(o, "source_unit", get_str(root, "source_unit"));
    put_int(o, "interval_s", cJSON_GetObjectItemCaseSensitive(root, "interval_s"), 1, INT32_MAX);
    put_int(o, "quality", cJSON_GetObjectItemCaseSensitive(root, "quality"), INT32_MIN, INT32_MAX);
    put_strings(o, "reasons", cJSON_GetObjectItemCaseSensitive(root, "reasons"));
    put_strings(o, "flags", cJSON_GetObjectItemCaseSensitive(root, "flags"));
    put_src(o, cJSON_GetObjectItemCaseSensitive(root, "src"));
    mf_buf_appends(o, ",\"record\":");
    mf_buf_append(o, value, len);
    return 0;
}

/* The alert row: §3.3's fields. */
static int alert_row(struct mf_buf *o, const cJSON *root, char *msg, size_t msglen)
{
    int64_t since, ts;
    const char *meter = get_str(root, "meter_id"), *type = get_str(root, "type");
    const char *sev = get_str(root, "severity"), *state = get_str(root, "state");
    if (!meter || mf_meter_id_check(meter, strlen(meter), msg, msglen) != MF_OK) {
        if (!meter)
            snprintf(msg, msglen, "meter_id: missing or not a string");
        return -1;
    }
    if (!type || !*type || !sev || !*sev) {
        snprintf(msg, msglen, "%s: missing or not a string", !type || !*type ? "type" : "severity");
        return -1;
    }
    if (!state || (strcmp(state, "raised") != 0 && strcmp(state, "cleared") != 0)) {
        snprintf(msg, msglen, "state: not raised or cleared");
        return -1;
    }
    if (get_time(root, "since", &since, msg, msglen) || get_time(root, "ts", &ts, msg, msglen))
        return -1;
    put_str(o, "meter_id", meter);
    put_str(o, "type", type);
    put_str(o, "severity", sev);
    put_str(o, "state", state);
    put_time(o, "since", since);
    put_time(o, "ts", ts);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "detail");
    char *dj = cJSON_IsObject(d) ? cJSON_PrintUnformatted(d) : NULL;
    mf_buf_appends(o, ",\"detail\":");
    mf_buf_appends(o, dj ? dj : "{}");
    free(dj);
    put_src(o, cJSON_GetObjectItemCaseSensitive(root, "src"));
    return 0;
}

/* The header's value as a C string (a NUL-terminated copy, or NULL when it is not text). */
static char *header_text(const struct ss_header *h, size_t nh, const char *name)
{
    for (size_t i = nh; i-- > 0;) /* the last one, as jsonb keeps it */
        if (strcmp(h[i].name, name) == 0 && h[i].value && pg_text_ok(h[i].value, h[i].len)) {
            char *s = mf_xcalloc(1, h[i].len + 1);
            memcpy(s, h[i].value, h[i].len);
            return s;
        }
    return NULL;
}

/* The DLQ row: key and bytes unchanged, every header. */
static void dlq_row(struct mf_buf *o, const void *key, size_t keylen, const struct ss_header *h,
                    size_t nh, const void *value, size_t len)
{
    if (key)
        put_bytes(o, "key", "key_encoding", key, keylen);
    else
        mf_buf_appends(o, ",\"key\":null,\"key_encoding\":null");
    put_bytes(o, "value", "value_encoding", value ? value : "", value ? len : 0);
    mf_buf_appends(o, ",\"headers\":{");
    for (size_t i = 0; i < nh; i++) {
        if (i)
            mf_buf_appendc(o, ',');
        size_t nl = strlen(h[i].name);
        if (pg_text_ok(h[i].name, nl))
            mf_json_str(o, h[i].name, nl);
        else
            mf_buf_appends(o, "\"(not UTF-8)\"");
        mf_buf_appendc(o, ':');
        if (!h[i].value) {
            mf_buf_appends(o, "null");
        } else if (pg_text_ok(h[i].value, h[i].len)) {
            mf_json_str(o, h[i].value, h[i].len);
        } else {
            mf_buf_appends(o, "\"base64:");
            base64(o, h[i].value, h[i].len);
            mf_buf_appendc(o, '"');
        }
    }
    mf_buf_appendc(o, '}');
    char *code = header_text(h, nh, "error.code"), *topic = header_text(h, nh, "source.topic");
    char *part = header_text(h, nh, "source.partition"), *off = header_text(h, nh, "source.offset");
    put_str(o, "error_code", code);
    put_str(o, "source_topic", topic);
    /* Numbers only when they are numbers: a bad header must not fail the batch's cast. */
    char *end = NULL;
    long long p = part ? strtoll(part, &end, 10) : -1;
    int pok = part && *part && !*end && p >= 0 && p <= INT32_MAX;
    long long of = off ? strtoll(off, &end, 10) : -1;
    int ook = off && *off && !*end && of >= 0;
    mf_buf_appends(o, ",\"source_partition\":");
    if (pok)
        mf_json_int(o, p);
    else
        mf_buf_appends(o, "null");
    mf_buf_appends(o, ",\"source_offset\":");
    if (ook)
        mf_json_int(o, of);
    else
        mf_buf_appends(o, "null");
    free(code);
    free(topic);
    free(part);
    free(off);
}

static void need_day(struct ss_batch *b, int64_t ms)
{
    int64_t day = (ms >= 0 ? ms : ms - MS_PER_DAY + 1) / MS_PER_DAY;
    for (size_t i = 0; i < b->ndays; i++)
        if (b->days[i] == day)
            return;
    b->days = ss_grow(b->days, b->ndays, &b->capdays, sizeof *b->days);
    b->days[b->ndays++] = day;
}

int ss_batch_add_review(struct ss_batch *b, enum ss_review_kind k, int32_t partition,
                        int64_t offset, int64_t ts_ms, const void *key, size_t keylen,
                        const struct ss_header *h, size_t nh, const void *value, size_t len)
{
    int topic = SS_TOPIC_OF_REVIEW(k);
    struct mf_buf *o = &b->review[k];
    size_t mark = o->len;
    char msg[200] = "";
    cJSON *root = NULL;

    b->count++;
    ss_advance(b, topic, partition, offset);
    if (ts_ms < 0)
        ts_ms = mf_now_ms();
    if (b->nreview[k])
        mf_buf_appendc(o, ',');
    mf_buf_appendf(o, "{\"p\":%d,\"o\":%lld", (int)partition, (long long)offset);
    put_time(o, "received_at", ts_ms);
    if (k == SS_REV_DLQ) {
        dlq_row(o, key, keylen, h, nh, value, len);
    } else {
        int bad = !value || !pg_text_ok(value, len);
        if (bad)
            snprintf(msg, sizeof msg, "not UTF-8 text");
        /* jsonb refuses \u0000, which cJSON reads. */
        else if (has_nul_escape(value, len))
            snprintf(msg, sizeof msg, "\\u0000 in a string"), bad = 1;
        /* The whole value, nothing after it: a quarantine row keeps it as jsonb. */
        else if (!(root = mf_json_parse_whole(value, len)) || !cJSON_IsObject(root))
            snprintf(msg, sizeof msg, "not a JSON object"), bad = 1;
        else if (k == SS_REV_QUARANTINE)
            bad = quarantine_row(o, root, value, len, msg, sizeof msg) != 0;
        else
            bad = alert_row(o, root, msg, sizeof msg) != 0;
        cJSON_Delete(root);
        if (bad) {
            o->len = mark;
            ss_add_dlq(b, topic, partition, offset, key, keylen, value, len, "parse_error", msg);
            return 0;
        }
    }
    mf_buf_appendc(o, '}');
    b->nreview[k]++;
    if (k != SS_REV_ALERTS)
        need_day(b, ts_ms);
    return 1;
}
