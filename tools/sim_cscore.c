/*
 * sim_cscore: two sorted lists (the truth's meters, the raised ones),
 * merged once when printed.
 */
#include "sim_cscore.h"

#include <stdlib.h>
#include <string.h>

#include "mf_alloc.h"

#include "mf_common.h"

struct cmeter {
    char meter[72];
    char kind[24];
    bool expected, atypical;
};

struct sim_cscore {
    struct cmeter *t; /* the truth's meters with a trouble */
    size_t nt, capt;
    char (*raised)[72]; /* meters raised at least once (repeats allowed until sorted) */
    size_t nr, capr, records;
    long judged_at_least;
};

struct sim_cscore *sim_cscore_new(void)
{
    struct sim_cscore *cs = mf_xcalloc(1, sizeof *cs);
    cs->judged_at_least = -1;
    return cs;
}

void sim_cscore_destroy(struct sim_cscore *cs)
{
    if (!cs)
        return;
    free(cs->t);
    free(cs->raised);
    free(cs);
}

void sim_cscore_truth(struct sim_cscore *cs, const char *meter, const char *kind, bool expected)
{
    if (cs->nt == cs->capt) {
        cs->capt = cs->capt ? 2 * cs->capt : 256;
        cs->t = mf_xrealloc(cs->t, cs->capt * sizeof *cs->t);
    }
    struct cmeter *c = &cs->t[cs->nt++];
    snprintf(c->meter, sizeof c->meter, "%s", meter);
    snprintf(c->kind, sizeof c->kind, "%s", kind);
    c->expected = expected;
    c->atypical = strcmp(kind, "night_shift") == 0 || strcmp(kind, "wrong_premises") == 0;
}

void sim_cscore_judged_at_least(struct sim_cscore *cs, long n)
{
    cs->judged_at_least = n;
}

void sim_cscore_alert(struct sim_cscore *cs, const char *meter, bool raised)
{
    cs->records++;
    if (!raised)
        return;
    if (cs->nr == cs->capr) {
        cs->capr = cs->capr ? 2 * cs->capr : 256;
        cs->raised = mf_xrealloc(cs->raised, cs->capr * sizeof *cs->raised);
    }
    snprintf(cs->raised[cs->nr++], sizeof cs->raised[0], "%s", meter);
}

static int cmp_cmeter(const void *a, const void *b)
{
    return strcmp(((const struct cmeter *)a)->meter, ((const struct cmeter *)b)->meter);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

void sim_cscore_print(struct sim_cscore *cs, double judged, FILE *out, bool kv)
{
    if (cs->nt)
        qsort(cs->t, cs->nt, sizeof *cs->t, cmp_cmeter);
    size_t nr = 0;
    if (cs->nr) {
        qsort(cs->raised, cs->nr, sizeof *cs->raised, cmp_id);
        for (size_t i = 0; i < cs->nr; i++) /* raised again after a clear: one meter */
            if (nr == 0 || strcmp(cs->raised[nr - 1], cs->raised[i]) != 0)
                memmove(cs->raised[nr++], cs->raised[i], sizeof cs->raised[0]);
    }
    long injected = 0, expected = 0, detected = 0, unexpected = 0, false_alarm = 0;
    char why[512] = "";
    size_t wl = 0;
    for (size_t i = 0; i < cs->nt; i++) {
        injected += cs->t[i].atypical;
        expected += cs->t[i].expected;
    }
    for (size_t i = 0; i < nr; i++) {
        struct cmeter key = {0};
        snprintf(key.meter, sizeof key.meter, "%s", cs->raised[i]);
        const struct cmeter *c = cs->nt ? bsearch(&key, cs->t, cs->nt, sizeof *cs->t, cmp_cmeter)
                                        : NULL;
        if (c && c->atypical) {
            detected += c->expected;
            unexpected += !c->expected; /* judged though the truth could not be sure */
            continue;
        }
        false_alarm++;
        if (wl + 40 < sizeof why)
            wl += (size_t)snprintf(why + wl, sizeof why - wl, "%s%s (%s)", wl ? ", " : "",
                                   cs->raised[i], c ? c->kind : "no trouble");
    }
    long missed = expected - detected;
    double recall = expected ? 100.0 * (double)detected / (double)expected : 0;
    double false_pct = judged > 0 ? 100.0 * (double)false_alarm / judged : 0;
    fprintf(out,
            "neighborhood correlation (the aggregator's daily fault, DESIGN §13; %zu records)\n",
            cs->records);
    fprintf(out,
            "  meters judged %.0f (the truth expects at least %ld); atypical profiles injected"
            " %ld, %ld of them expected judged\n",
            judged, cs->judged_at_least, injected, expected);
    fprintf(out,
            "  detected %ld, missed %ld: recall %.1f %%; false alarms %ld = %.2f %% of the meters"
            " judged%s%s%s\n",
            detected, missed, recall, false_alarm, false_pct, false_alarm ? " (" : "", why,
            false_alarm ? ")" : "");
    if (unexpected)
        fprintf(out,
                "  also raised: %ld atypical meter(s) the truth could not be sure were judged\n",
                unexpected);
    if (kv)
        fprintf(out,
                "score.correlation judged=%.0f judged_at_least=%ld injected=%ld expected=%ld"
                " detected=%ld missed=%ld false=%ld recall_pct=%.1f false_pct=%.2f\n",
                judged, cs->judged_at_least, injected, expected, detected, missed, false_alarm,
                recall, false_pct);
}
