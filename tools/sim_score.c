/*
 * sim_score: the truth is small (one line per troubled meter), so it is
 * kept in sorted arrays and searched with bsearch; the alerts are deduped
 * by sorting their keys. Nothing here needs to be fast.
 */
#include "sim_score.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "sim_prom.h"
#include "sim_cscore.h"
#include "sim_rscore.h"
#include "sim_topic.h"

#include "mf_time.h"

#include "mf_common.h"

/* Alert types the worker raises, with the injected kind that should lead to each. */
static const struct alert_row {
    const char *type;
    const char *kind; /* truth kind; NULL: nothing injects it */
    const char *why_none;
} alert_rows[] = {
    {"missing_short", "gap_5h", NULL},
    {"missing_extended", "gap_25h", NULL},
    {"zero_value", "zero", NULL},
    {"stuck_value", "stuck", NULL},
    {"overload", "overload", NULL},
    {"low_variance", NULL, "needs 7 full days of history: cannot happen in this range"},
};
#define NTYPES MF_ARRAY_LEN(alert_rows)

/*
 * Reading-level checks: worker counter (flag or outcome) against the truth's
 * expectation. spike and drop are not among them: sim_rscore scores them
 * per reading, since the adaptive rule's flags follow each meter's history.
 */
static const struct check_row {
    const char *name;   /* flag name, or "dlq" for the outcome */
    const char *family; /* metric family */
    const char *label;
} check_rows[] = {
    {"negative_value", "meterflow_worker_flags_total", "flag"},
    {"over_limit", "meterflow_worker_flags_total", "flag"},
    {"unknown_meter", "meterflow_worker_flags_total", "flag"},
    {"inactive_meter", "meterflow_worker_flags_total", "flag"},
    {"duplicate", "meterflow_worker_flags_total", "flag"},
    {"out_of_order", "meterflow_worker_flags_total", "flag"},
    {"interpolated", "meterflow_worker_flags_total", "flag"},
    {"unit_converted", "meterflow_worker_flags_total", "flag"},
    {"unit_inferred", "meterflow_worker_flags_total", "flag"},
    {"dlq", "meterflow_worker_records_total", "outcome"},
};
#define NCHECKS MF_ARRAY_LEN(check_rows)

struct injected {
    char meter[72];
    char kind[24];
    int expect; /* index into alert_rows, or -1 */
};

struct raised {
    char meter[72];
    int type;    /* index into alert_rows */
    int cleared; /* 0 raised, 1 cleared */
    char src[64];
};

static int cmp_injected(const void *a, const void *b)
{
    return strcmp(((const struct injected *)a)->meter, ((const struct injected *)b)->meter);
}

static int cmp_raised(const void *a, const void *b)
{
    const struct raised *x = a, *y = b;
    int c = strcmp(x->meter, y->meter);
    if (c)
        return c;
    if (x->type != y->type)
        return x->type - y->type;
    if (x->cleared != y->cleared)
        return x->cleared - y->cleared;
    return strcmp(x->src, y->src);
}

static int type_index(const char *type)
{
    for (size_t t = 0; t < NTYPES; t++)
        if (strcmp(alert_rows[t].type, type) == 0)
            return (int)t;
    return -1;
}

/* ---------------------------------------------------------------- the truth */

struct truth {
    struct injected *inj;
    size_t ninj, cap;
    double expect[NCHECKS];
    long long readings;
    struct sim_rscore *rs; /* the reading-level faults */
    struct sim_cscore *cs; /* the neighborhood correlation */
};

/* A truth line's time field in ms, or -1. */
static int64_t truth_ts(const cJSON *root, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    int64_t ms;
    char err[64];
    if (!cJSON_IsString(v) ||
        mf_time_parse_text(v->valuestring, strlen(v->valuestring), &ms, err, sizeof err) != MF_OK)
        return -1;
    return ms;
}

static int read_truth(const char *path, struct truth *t)
{
    gzFile gz = gzopen(path, "rb");
    char line[4096];
    int rc = 2;

    if (!gz) {
        fprintf(stderr, "meter-sim: cannot open truth file '%s'\n", path);
        return 2;
    }
    while (gzgets(gz, line, sizeof line)) {
        cJSON *root = cJSON_Parse(line);
        if (!root) {
            fprintf(stderr, "meter-sim: truth file '%s': a line is not JSON\n", path);
            goto out;
        }
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
        const cJSON *meter = cJSON_GetObjectItemCaseSensitive(root, "meter_id");
        const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expect");
        const cJSON *flags = cJSON_GetObjectItemCaseSensitive(exp, "flags");
        const cJSON *alert = cJSON_GetObjectItemCaseSensitive(exp, "alert");
        const cJSON *dlq = cJSON_GetObjectItemCaseSensitive(exp, "dlq");
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, "run") == 0) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "readings");
            t->readings = cJSON_IsNumber(n) ? (long long)n->valuedouble : 0;
        }
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, "correlation") == 0) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "judged_at_least");
            sim_cscore_judged_at_least(t->cs, cJSON_IsNumber(n) ? (long)n->valuedouble : -1);
        }
        for (size_t c = 0; c < NCHECKS; c++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(flags, check_rows[c].name);
            if (cJSON_IsNumber(v))
                t->expect[c] += v->valuedouble;
            if (cJSON_IsNumber(dlq) && strcmp(check_rows[c].name, "dlq") == 0)
                t->expect[c] += dlq->valuedouble;
        }
        if (cJSON_IsString(meter) && cJSON_IsString(kind)) {
            if (t->ninj == t->cap) {
                t->cap = t->cap ? 2 * t->cap : 256;
                t->inj = mf_xrealloc(t->inj, t->cap * sizeof *t->inj);
            }
            struct injected *in = &t->inj[t->ninj++];
            snprintf(in->meter, sizeof in->meter, "%s", meter->valuestring);
            snprintf(in->kind, sizeof in->kind, "%s", kind->valuestring);
            in->expect = cJSON_IsString(alert) ? type_index(alert->valuestring) : -1;
            sim_rscore_inject(t->rs, meter->valuestring, kind->valuestring, truth_ts(root, "start"),
                              truth_ts(root, "end"));
            sim_cscore_truth(t->cs, meter->valuestring, kind->valuestring,
                             cJSON_IsString(alert) &&
                                 strcmp(alert->valuestring, "neighborhood_correlation") == 0);
        }
        cJSON_Delete(root);
    }
    if (t->ninj > 0) /* t->inj is NULL when nothing was injected */
        qsort(t->inj, t->ninj, sizeof *t->inj, cmp_injected);
    rc = 0;
out:
    gzclose(gz);
    return rc;
}

static const struct injected *find_injected(const struct truth *t, const char *meter)
{
    struct injected key = {0};
    snprintf(key.meter, sizeof key.meter, "%s", meter);
    return t->ninj ? bsearch(&key, t->inj, t->ninj, sizeof *t->inj, cmp_injected) : NULL;
}

/* ---------------------------------------------------------------- the alerts topic */

struct alerts {
    struct raised *r;
    size_t n, cap;
    size_t records, unparsed, daily;
    struct sim_cscore *cs;
};

static void add_alert(void *ctx, const char *data, size_t len)
{
    struct alerts *a = ctx;
    cJSON *root = cJSON_ParseWithLength(data, len);
    a->records++;
    const cJSON *meter = cJSON_GetObjectItemCaseSensitive(root, "meter_id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(root, "state");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(root, "src");
    int ti = cJSON_IsString(type) ? type_index(type->valuestring) : -1;
    /* The aggregator's daily analytics (DESIGN §13) are not the worker's faults. */
    if (cJSON_IsString(type) && (strcmp(type->valuestring, "quality_degradation") == 0 ||
                                 strcmp(type->valuestring, "neighborhood_correlation") == 0)) {
        a->daily++;
        if (cJSON_IsString(meter) && cJSON_IsString(state) &&
            strcmp(type->valuestring, "neighborhood_correlation") == 0)
            sim_cscore_alert(a->cs, meter->valuestring, strcmp(state->valuestring, "raised") == 0);
        cJSON_Delete(root);
        return;
    }
    if (!cJSON_IsString(meter) || ti < 0 || !cJSON_IsString(state)) {
        a->unparsed++;
        cJSON_Delete(root);
        return;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 1024;
        a->r = mf_xrealloc(a->r, a->cap * sizeof *a->r);
    }
    struct raised *r = &a->r[a->n++];
    snprintf(r->meter, sizeof r->meter, "%s", meter->valuestring);
    r->type = ti;
    r->cleared = strcmp(state->valuestring, "cleared") == 0;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(src, "p");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(src, "o");
    const cJSON *i = cJSON_GetObjectItemCaseSensitive(src, "i");
    snprintf(r->src, sizeof r->src, "%.0f/%.0f/%.0f", cJSON_IsNumber(p) ? p->valuedouble : -1,
             cJSON_IsNumber(o) ? o->valuedouble : -1, cJSON_IsNumber(i) ? i->valuedouble : -1);
    cJSON_Delete(root);
}

/* ---------------------------------------------------------------- scored readings */

/* One validated or quarantine record into the reading score (interpolated ones aside). */
static void add_reading(void *ctx, const char *data, size_t len)
{
    struct sim_rscore *rs = ctx;
    cJSON *root = cJSON_ParseWithLength(data, len);
    const cJSON *meter = cJSON_GetObjectItemCaseSensitive(root, "meter_id");
    const cJSON *flags = cJSON_GetObjectItemCaseSensitive(root, "flags");
    int64_t ts = truth_ts(root, "ts");
    unsigned bits = 0;
    bool interpolated = false;
    const cJSON *f;
    cJSON_ArrayForEach(f, flags)
    {
        if (!cJSON_IsString(f))
            continue;
        bits |= sim_rscore_flag(f->valuestring);
        interpolated |= strcmp(f->valuestring, "interpolated") == 0;
    }
    if (cJSON_IsString(meter) && ts >= 0 && !interpolated)
        sim_rscore_reading(rs, meter->valuestring, ts, bits);
    cJSON_Delete(root);
}

/* ---------------------------------------------------------------- scoring */

int sim_score(const struct sim_score_opts *o, FILE *out)
{
    struct truth t = {0};
    struct alerts a = {0};
    struct sim_prom *pr = NULL;
    int rc;

    t.rs = sim_rscore_new();
    t.cs = a.cs = sim_cscore_new();
    if ((rc = read_truth(o->truth, &t)) != 0)
        goto out;
    if ((rc = sim_topic_read(o->brokers, o->topic_alerts, o->timeout_s, add_alert, &a)) != 0)
        goto out;

    /* Repeats carry the same src: sort, then keep the first of each run. */
    qsort(a.r, a.n, sizeof *a.r, cmp_raised);
    size_t uniq = 0;
    for (size_t i = 0; i < a.n; i++)
        if (uniq == 0 || cmp_raised(&a.r[uniq - 1], &a.r[i]) != 0)
            a.r[uniq++] = a.r[i];
    size_t repeats = a.n - uniq;
    a.n = uniq;

    long injected[NTYPES] = {0}, expected[NTYPES] = {0}, detected[NTYPES] = {0};
    long false_alarm[NTYPES] = {0}, raised[NTYPES] = {0}, cleared[NTYPES] = {0};
    for (size_t i = 0; i < t.ninj; i++) {
        for (size_t ty = 0; ty < NTYPES; ty++)
            if (alert_rows[ty].kind && strcmp(alert_rows[ty].kind, t.inj[i].kind) == 0)
                injected[ty]++;
        if (t.inj[i].expect >= 0)
            expected[t.inj[i].expect]++;
    }
    /* Per (meter, type): was it raised at all? The array is sorted by meter, type, state. */
    for (size_t i = 0; i < a.n; i++) {
        const struct raised *r = &a.r[i];
        (r->cleared ? cleared : raised)[r->type]++;
        if (r->cleared || (i > 0 && strcmp(a.r[i - 1].meter, r->meter) == 0 &&
                           a.r[i - 1].type == r->type && !a.r[i - 1].cleared))
            continue; /* only the first raise of a (meter, type) scores */
        const struct injected *in = find_injected(&t, r->meter);
        if (in && in->expect == r->type)
            detected[r->type]++;
        else
            false_alarm[r->type]++;
    }

    long tot_raised = 0, tot_cleared = 0;
    for (size_t ty = 0; ty < NTYPES; ty++)
        tot_raised += raised[ty], tot_cleared += cleared[ty];
    /* An alert is one record when raised and one more when its condition ends. */
    fprintf(out, "alerts (meter.alerts: %zu records = %ld raised + %ld cleared", a.records,
            tot_raised, tot_cleared);
    if (repeats)
        fprintf(out, " + %zu repeats dropped", repeats);
    if (a.daily)
        fprintf(out, " + %zu of the daily analytics, not scored here", a.daily);
    if (a.unparsed)
        fprintf(out, " + %zu not understood", a.unparsed);
    fprintf(out, "; a clear when its condition ended; the scores count raises)\n");
    fprintf(out, "  %-17s %8s %8s %8s %8s %12s %8s %8s\n", "type", "injected", "expected",
            "detected", "missed", "false alarms", "raised", "cleared");
    long tot_exp = 0, tot_det = 0, tot_false = 0;
    for (size_t ty = 0; ty < NTYPES; ty++) {
        long missed = expected[ty] - detected[ty];
        fprintf(out, "  %-17s %8ld %8ld %8ld %8ld %12ld %8ld %8ld%s%s\n", alert_rows[ty].type,
                injected[ty], expected[ty], detected[ty], missed, false_alarm[ty], raised[ty],
                cleared[ty], alert_rows[ty].why_none ? "  " : "",
                alert_rows[ty].why_none ? alert_rows[ty].why_none : "");
        tot_exp += expected[ty], tot_det += detected[ty], tot_false += false_alarm[ty];
        if (o->kv)
            fprintf(out,
                    "score.alert.%s injected=%ld expected=%ld detected=%ld missed=%ld "
                    "false=%ld raised=%ld cleared=%ld\n",
                    alert_rows[ty].type, injected[ty], expected[ty], detected[ty], missed,
                    false_alarm[ty], raised[ty], cleared[ty]);
    }
    long zero_ok = 0, vacant = 0;
    for (size_t i = 0; i < t.ninj; i++)
        if (strcmp(t.inj[i].kind, "vacant_zero") == 0)
            vacant++;
    for (size_t i = 0; i < a.n; i++) {
        const struct injected *in = find_injected(&t, a.r[i].meter);
        if (in && strcmp(in->kind, "vacant_zero") == 0 && !a.r[i].cleared)
            zero_ok--;
    }
    fprintf(out, "  vacant meters reading 0 (must not alarm): %ld, alarmed: %ld\n", vacant,
            -zero_ok);

    double judged = -1;
    if (o->agg_metrics) {
        struct sim_prom *ap = sim_prom_new(o->agg_metrics);
        bool found = false;
        if (sim_prom_scrape(ap) == 1)
            judged = sim_prom_sum(ap, "meterflow_agg_correlation_meters", "outcome", "judged",
                                  false, &found);
        if (!found)
            judged = -1;
        sim_prom_destroy(ap);
    }
    sim_cscore_print(t.cs, judged, out, o->kv);

    int nok = 0, nchk = 0;
    if (o->metrics) {
        pr = sim_prom_new(o->metrics);
        if (sim_prom_scrape(pr) < sim_prom_count(pr))
            fprintf(out, "  (warning: not every /metrics page answered)\n");
        fprintf(out, "reading checks (workers' counters vs injected)\n");
        fprintf(out, "  %-17s %10s %10s\n", "flag/outcome", "expected", "observed");
        for (size_t c = 0; c < NCHECKS; c++) {
            double got = sim_prom_sum(pr, check_rows[c].family, check_rows[c].label,
                                      check_rows[c].name, false, NULL);
            bool ok = got == t.expect[c];
            nok += ok;
            nchk++;
            fprintf(out, "  %-17s %10.0f %10.0f  %s\n", check_rows[c].name, t.expect[c], got,
                    ok ? "ok" : "DIFF");
            if (o->kv)
                fprintf(out, "score.check.%s expected=%.0f observed=%.0f\n", check_rows[c].name,
                        t.expect[c], got);
        }
    }
    if (o->topic_validated && o->topic_quarantine) {
        struct sim_rscore_sum rsum;
        if ((rc = sim_topic_read(o->brokers, o->topic_validated, o->timeout_s, add_reading,
                                 t.rs)) != 0 ||
            (rc = sim_topic_read(o->brokers, o->topic_quarantine, o->timeout_s, add_reading,
                                 t.rs)) != 0)
            goto out;
        sim_rscore_sum(t.rs, &rsum);
        sim_rscore_print(&rsum, out, o->kv);
    }
    fprintf(out,
            "score: alerts detected %ld of %ld expected, missed %ld, false alarms %ld; "
            "reading checks %d of %d match\n",
            tot_det, tot_exp, tot_exp - tot_det, tot_false, nok, nchk);
    rc = 0;
out:
    sim_rscore_destroy(t.rs);
    sim_cscore_destroy(t.cs);
    sim_prom_destroy(pr);
    free(t.inj);
    free(a.r);
    return rc;
}
