/*
 * sim_replay: a line reader over zlib, a quote-aware splitter, a small
 * strptime of our own (glibc's needs _XOPEN_SOURCE and follows the locale;
 * ours reads only digits and literals, so "16/12/2006" and "2013-01-01
 * 00:00:00" both work without padding rules), and batches to the gateway.
 */
#include "sim_replay.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <zlib.h>

#include "sim_send.h"

#include "mf_buf.h"
#include "mf_csv.h"
#include "mf_reading.h"
#include "mf_signal.h"
#include "mf_time.h"

#include "mf_common.h"

#define MAX_FIELDS 64
#define LINE_MAX_B (1 << 16)

static const char *const field_names[SIM_M_COUNT] = {"meter_id", "ts", "value", "unit",
                                                     "interval_s"};

/* ---------------------------------------------------------------- the mapping */

static int parse_src(struct sim_map_src *s, const char *v, size_t n, char *errbuf, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->set = true;
    s->col[0] = s->col[1] = -1;
    if (n >= 6 && strncmp(v, "const:", 6) == 0) {
        if (n - 6 >= sizeof s->konst)
            goto bad;
        s->is_const = true;
        memcpy(s->konst, v + 6, n - 6);
        return MF_OK;
    }
    const char *plus = memchr(v, '+', n);
    size_t n0 = plus ? (size_t)(plus - v) : n;
    if (n0 == 0 || n0 >= sizeof s->name[0])
        goto bad;
    memcpy(s->name[0], v, n0);
    if (plus) {
        size_t n1 = n - n0 - 1;
        if (n1 == 0 || n1 >= sizeof s->name[1])
            goto bad;
        memcpy(s->name[1], plus + 1, n1);
    }
    return MF_OK;
bad:
    snprintf(errbuf, errlen, "invalid --map source '%.*s'", (int)n, v);
    return MF_EDATA;
}

int sim_map_parse(struct sim_map *m, const char *spec, char *errbuf, size_t errlen)
{
    memset(m, 0, sizeof *m);
    for (const char *p = spec; *p;) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        int f = -1;
        for (int i = 0; eq && i < SIM_M_COUNT; i++)
            if ((size_t)(eq - p) == strlen(field_names[i]) &&
                strncmp(p, field_names[i], (size_t)(eq - p)) == 0)
                f = i;
        if (f < 0) {
            snprintf(errbuf, errlen,
                     "invalid --map item '%.*s': want meter_id|ts|value|unit|interval_s=SOURCE",
                     (int)len, p);
            return MF_EDATA;
        }
        if (parse_src(&m->f[f], eq + 1, len - (size_t)(eq + 1 - p), errbuf, errlen) != MF_OK)
            return MF_EDATA;
        p += len;
        if (*p == ',')
            p++;
    }
    for (int f = SIM_M_METER; f <= SIM_M_VALUE; f++) {
        if (!m->f[f].set) {
            snprintf(errbuf, errlen, "invalid --map: '%s' is required", field_names[f]);
            return MF_EDATA;
        }
    }
    return MF_OK;
}

static int find_col(const char *name, char **fields, int n)
{
    if (name[0] == '#') {
        char *end;
        long c = strtol(name + 1, &end, 10);
        return *end == '\0' && c >= 1 && c <= n ? (int)c - 1 : -1;
    }
    for (int i = 0; i < n; i++)
        if (strcmp(fields[i], name) == 0)
            return i;
    return -1;
}

int sim_map_resolve(struct sim_map *m, char **fields, int nfields, char *errbuf, size_t errlen)
{
    for (int f = 0; f < SIM_M_COUNT; f++) {
        struct sim_map_src *s = &m->f[f];
        if (!s->set || s->is_const)
            continue;
        for (int k = 0; k < 2 && s->name[k][0]; k++) {
            s->col[k] = find_col(s->name[k], fields, nfields);
            if (s->col[k] < 0) {
                snprintf(errbuf, errlen, "no column '%s' in the header (for %s)", s->name[k],
                         field_names[f]);
                return MF_EDATA;
            }
        }
    }
    return MF_OK;
}

/* ---------------------------------------------------------------- fields, times, values */

int sim_csv_split(char *line, char sep, char **fields, int max)
{
    /*
     * common's CSV reader (quotes, "" escapes, padding trimmed), one line
     * at a time; each field is copied back into the line, NUL-terminated.
     * A field never grows when unescaped, so the writes stay behind the
     * reads.
     */
    struct mf_csv c;
    char err[128];
    size_t len = strlen(line);
    mf_csv_init(&c, line, len);
    mf_csv_set_separator(&c, sep);
    int n = 0;
    if (mf_csv_next(&c, err, sizeof err) == 1) {
        char *w = line;
        size_t nf = c.nfields < MF_CSV_MAX_FIELDS ? c.nfields : MF_CSV_MAX_FIELDS;
        for (size_t i = 0; i < nf && n < max; i++) {
            memmove(w, c.f[i].s, c.f[i].n);
            fields[n++] = w;
            w += c.f[i].n;
            *w++ = '\0';
        }
    }
    mf_csv_release(&c);
    return n;
}

static const char *trim(const char *s, size_t *n)
{
    size_t len = strlen(s);
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    *n = len;
    return s;
}

int sim_parse_time(const char *s, const char *fmt, int64_t *ms)
{
    size_t n;
    const char *t = trim(s, &n);
    char err[128];

    if (n == 0)
        return MF_EDATA;
    if (!fmt) {
        if (mf_time_parse_text(t, n, ms, err, sizeof err) == MF_OK)
            return MF_OK;
        fmt = "%Y-%m-%d %H:%M:%S";
    }
    return mf_time_parse_format(t, n, fmt, ms);
}

int sim_parse_value(const char *s, bool decimal_comma, double *v, char *out, size_t outlen)
{
    size_t n;
    const char *t = trim(s, &n);
    if (n == 0 || n >= outlen || (n == 1 && t[0] == '?') ||
        (n == 2 && strncasecmp(t, "NA", 2) == 0))
        return MF_EDATA;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (decimal_comma && c == ',')
            c = '.';
        if (!strchr("+-0123456789.eE", c))
            return MF_EDATA;
        out[i] = c;
    }
    out[n] = '\0';
    char *end;
    errno = 0;
    *v = strtod(out, &end);
    if (*end || errno || !isfinite(*v))
        return MF_EDATA;
    /* JSON numbers have no leading '+' nor a bare '.5'; re-print those. */
    if (out[0] == '+' || out[0] == '.' || (out[0] == '-' && out[1] == '.') || out[n - 1] == '.')
        snprintf(out, outlen, "%.17g", *v);
    return MF_OK;
}

/* ---------------------------------------------------------------- the replay */

/* The text of a mapped field in this row ("" when unset); ts may join two columns. */
static const char *get(const struct sim_map_src *s, char **fields, int n, char *buf, size_t len)
{
    if (!s->set)
        return "";
    if (s->is_const)
        return s->konst;
    if (s->col[0] >= n)
        return "";
    if (s->col[1] < 0)
        return fields[s->col[0]];
    if (s->col[1] >= n)
        return "";
    snprintf(buf, len, "%s %s", fields[s->col[0]], fields[s->col[1]]);
    return buf;
}

/* Meters seen, for --registry-only: first two times give the cadence. */
struct seen {
    char id[MF_METER_ID_MAX + 1];
    int64_t t0, t1;
    int32_t interval_s;
};

static struct seen *seen_get(struct seen **v, size_t *n, size_t *cap, const char *id)
{
    /* Files are grouped by meter: the last one is the usual hit. */
    for (size_t i = *n; i-- > 0;)
        if (strcmp((*v)[i].id, id) == 0)
            return &(*v)[i];
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        *v = mf_xrealloc(*v, *cap * sizeof **v);
    }
    struct seen *s = &(*v)[(*n)++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    s->t0 = s->t1 = -1;
    return s;
}

struct batch {
    struct sim_gw *gw;
    struct mf_buf body;
    int n;
    long long accepted, rejected, sent;
    int failed;
};

static void batch_flush(struct batch *b)
{
    struct sim_gw_answer a;
    if (b->n == 0)
        return;
    mf_buf_appendc(&b->body, ']');
    for (int attempt = 0; attempt < 60 && !mf_stop_requested; attempt++) {
        long code = sim_gw_post(b->gw, "application/json", b->body.data, b->body.len, &a);
        if (code == 202 || code == 200 || code == 400) {
            b->accepted += a.accepted;
            b->rejected += code == 400 ? b->n : a.rejected;
            if (a.rejected || code == 400)
                fprintf(stderr, "replay: gateway rejected %ld of %d (%s)\n",
                        code == 400 ? (long)b->n : a.rejected, b->n, a.error);
            goto done;
        }
        if (code != 0 && code != 503) {
            fprintf(stderr, "replay: gateway answered %ld: %s\n", code, a.error);
            b->failed = 1;
            goto done;
        }
        struct timespec ts = {0, 300000000L};
        nanosleep(&ts, NULL);
    }
    b->failed = 1;
done:
    b->sent += b->n;
    b->n = 0;
    mf_buf_reset(&b->body);
    mf_buf_appendc(&b->body, '[');
}

int sim_replay(const struct sim_replay_opts *o, FILE *out)
{
    struct sim_map map;
    char err[256], *line = mf_xmalloc(LINE_MAX_B), *fields[MAX_FIELDS];
    gzFile gz = NULL;
    struct batch b = {0};
    struct seen *seen = NULL;
    size_t nseen = 0, capseen = 0;
    long long rows = 0, missing = 0, bad = 0;
    int rc = 2;
    int64_t t0 = mf_mono_ms(), last = t0;

    mf_buf_init(&b.body, 64u << 20);
    if (sim_map_parse(&map, o->map ? o->map : "", err, sizeof err) != MF_OK) {
        fprintf(stderr, "meter-sim: %s\n", err);
        goto out;
    }
    gz = gzopen(o->file, "rb");
    if (!gz || !gzgets(gz, line, LINE_MAX_B)) {
        fprintf(stderr, "meter-sim: cannot read '%s'\n", o->file);
        goto out;
    }
    int nh = sim_csv_split(line, o->sep, fields, MAX_FIELDS);
    for (int i = 0; i < nh; i++) {
        size_t n;
        const char *t = trim(fields[i], &n);
        memmove(fields[i], t, n);
        fields[i][n] = '\0';
    }
    if (sim_map_resolve(&map, fields, nh, err, sizeof err) != MF_OK) {
        fprintf(stderr, "meter-sim: %s: %s\n", o->file, err);
        goto out;
    }
    if (!o->registry_only) {
        b.gw = sim_gw_new(o->gw_url, o->token);
        mf_buf_appendc(&b.body, '[');
    }
    rc = 0;
    while (gzgets(gz, line, LINE_MAX_B) && !mf_stop_requested && !b.failed) {
        char tsbuf[160], idbuf[MF_METER_ID_MAX + 1], vbuf[64], tstext[MF_TIME_STRLEN];
        int n = sim_csv_split(line, o->sep, fields, MAX_FIELDS);
        int64_t ts;
        double v;
        size_t idn;
        if (n == 1 && fields[0][0] == '\0')
            continue; /* a blank line */
        rows++;
        const char *id = trim(get(&map.f[SIM_M_METER], fields, n, tsbuf, sizeof tsbuf), &idn);
        if (idn == 0 || idn > MF_METER_ID_MAX ||
            sim_parse_time(get(&map.f[SIM_M_TS], fields, n, tsbuf, sizeof tsbuf), o->time_format,
                           &ts) != MF_OK) {
            if (bad++ < 5)
                fprintf(stderr, "replay: row %lld: no meter id or time; skipped\n", rows + 1);
            continue;
        }
        memcpy(idbuf, id, idn);
        idbuf[idn] = '\0';
        if (sim_parse_value(get(&map.f[SIM_M_VALUE], fields, n, tsbuf, sizeof tsbuf),
                            o->decimal_comma, &v, vbuf, sizeof vbuf) != MF_OK) {
            missing++;
            continue;
        }
        if (o->registry_only) {
            struct seen *s = seen_get(&seen, &nseen, &capseen, idbuf);
            if (s->t0 < 0)
                s->t0 = ts;
            else if (s->t1 < 0 && ts > s->t0)
                s->t1 = ts;
            continue;
        }
        size_t un;
        const char *unit = trim(get(&map.f[SIM_M_UNIT], fields, n, tsbuf, sizeof tsbuf), &un);
        mf_time_format(ts, tstext);
        if (b.n)
            mf_buf_appendc(&b.body, ',');
        mf_buf_appends(&b.body, "{\"meter_id\":");
        mf_buf_append_json_str(&b.body, idbuf, idn);
        mf_buf_appendf(&b.body, ",\"ts\":\"%s\",\"value\":%s", tstext, vbuf);
        if (un) {
            mf_buf_appends(&b.body, ",\"unit\":");
            mf_buf_append_json_str(&b.body, unit, un);
        }
        size_t ivn;
        const char *iv = trim(get(&map.f[SIM_M_INTERVAL], fields, n, tsbuf, sizeof tsbuf), &ivn);
        if (ivn)
            mf_buf_appendf(&b.body, ",\"interval_s\":%.*s", (int)ivn, iv);
        mf_buf_appendc(&b.body, '}');
        if (++b.n >= o->batch)
            batch_flush(&b);
        if (o->progress && mf_mono_ms() - last >= 1000) {
            last = mf_mono_ms();
            fprintf(stderr, "replay: %lld rows, %lld accepted, %lld missing values skipped\n", rows,
                    b.accepted, missing);
        }
    }
    if (o->registry_only) {
        int32_t const_iv = 0;
        if (map.f[SIM_M_INTERVAL].is_const)
            const_iv = (int32_t)strtol(map.f[SIM_M_INTERVAL].konst, NULL, 10);
        fprintf(out, "meter_id,class,max_kw,interval_s,vacant,neighborhood,region,active\n");
        for (size_t i = 0; i < nseen; i++) {
            int32_t iv = const_iv > 0              ? const_iv
                         : seen[i].t1 > seen[i].t0 ? (int32_t)((seen[i].t1 - seen[i].t0) / 1000)
                                                   : 60;
            fprintf(out, "%s,residential,20,%d,false,,,true\n", seen[i].id, (int)iv);
        }
    } else {
        batch_flush(&b);
    }
    fprintf(stderr,
            "replay: %lld rows in %.1f s: %lld sent, %lld accepted, %lld rejected by the gateway, "
            "%lld skipped (missing value), %lld skipped (no meter id or time)\n",
            rows, (double)(mf_mono_ms() - t0) / 1000.0, b.sent, b.accepted, b.rejected, missing,
            bad);
    if (b.failed || mf_stop_requested)
        rc = 1;
out:
    if (gz)
        gzclose(gz);
    sim_gw_destroy(b.gw);
    mf_buf_release(&b.body);
    free(seen);
    free(line);
    return rc;
}
