/*
 * sim_rscore: every reading is remembered by a 64-bit hash of (meter, ts)
 * only, to count each once (a repeat after a worker crash carries the same
 * pair); the flagged ones, few, are kept whole. Faults and flagged
 * readings are sorted by (meter, ts) and matched by one merge.
 */
#include "sim_rscore.h"

#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

static const char *const kinds[SIM_RS_KINDS] = {
    "spike", "drop", "negative", "glitch", "unit_slip", "dropout", "ct_reversal",
};

struct fault {
    char meter[72];
    int kind;
    int64_t t0, t1;
    bool hit;
};

struct flagged {
    char meter[72];
    int64_t ts;
    unsigned flags;
};

struct sim_rscore {
    struct fault *f;
    size_t nf, capf;
    struct flagged *g;
    size_t ng, capg;
    uint64_t *keys; /* hash of every reading */
    size_t nk, capk;
};

unsigned sim_rscore_flag(const char *name)
{
    if (strcmp(name, "spike") == 0)
        return SIM_RS_SPIKE;
    if (strcmp(name, "drop") == 0)
        return SIM_RS_DROP;
    if (strcmp(name, "over_limit") == 0)
        return SIM_RS_OVER_LIMIT;
    if (strcmp(name, "negative_value") == 0)
        return SIM_RS_NEGATIVE;
    return 0;
}

struct sim_rscore *sim_rscore_new(void)
{
    return mf_xcalloc(1, sizeof(struct sim_rscore));
}

void sim_rscore_destroy(struct sim_rscore *rs)
{
    if (!rs)
        return;
    free(rs->f);
    free(rs->g);
    free(rs->keys);
    free(rs);
}

bool sim_rscore_inject(struct sim_rscore *rs, const char *meter, const char *kind,
                       int64_t first_ts_ms, int64_t last_ts_ms)
{
    int k = -1;
    for (int i = 0; i < SIM_RS_KINDS; i++)
        if (strcmp(kinds[i], kind) == 0)
            k = i;
    if (k < 0)
        return false;
    if (rs->nf == rs->capf) {
        rs->capf = rs->capf ? 2 * rs->capf : 256;
        rs->f = mf_xrealloc(rs->f, rs->capf * sizeof *rs->f);
    }
    struct fault *f = &rs->f[rs->nf++];
    memset(f, 0, sizeof *f);
    snprintf(f->meter, sizeof f->meter, "%s", meter);
    f->kind = k;
    f->t0 = first_ts_ms;
    f->t1 = last_ts_ms;
    return true;
}

/* FNV-1a over the meter ID, then the time mixed in (splitmix64's finalizer). */
static uint64_t key_of(const char *meter, int64_t ts)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)meter; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h ^= (uint64_t)ts + 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

void sim_rscore_reading(struct sim_rscore *rs, const char *meter, int64_t ts_ms, unsigned flags)
{
    if (rs->nk == rs->capk) {
        rs->capk = rs->capk ? 2 * rs->capk : 65536;
        rs->keys = mf_xrealloc(rs->keys, rs->capk * sizeof *rs->keys);
    }
    rs->keys[rs->nk++] = key_of(meter, ts_ms);
    if (!flags)
        return;
    if (rs->ng == rs->capg) {
        rs->capg = rs->capg ? 2 * rs->capg : 1024;
        rs->g = mf_xrealloc(rs->g, rs->capg * sizeof *rs->g);
    }
    struct flagged *g = &rs->g[rs->ng++];
    snprintf(g->meter, sizeof g->meter, "%s", meter);
    g->ts = ts_ms;
    g->flags = flags;
}

static int cmp_key(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_fault(const void *a, const void *b)
{
    const struct fault *x = a, *y = b;
    int c = strcmp(x->meter, y->meter);
    return c ? c : x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static int cmp_flagged(const void *a, const void *b)
{
    const struct flagged *x = a, *y = b;
    int c = strcmp(x->meter, y->meter);
    return c ? c : x->ts < y->ts ? -1 : x->ts > y->ts;
}

void sim_rscore_sum(struct sim_rscore *rs, struct sim_rscore_sum *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < SIM_RS_KINDS; i++)
        out->kind[i] = kinds[i];
    if (rs->nk)
        qsort(rs->keys, rs->nk, sizeof *rs->keys, cmp_key);
    for (size_t i = 0; i < rs->nk; i++)
        out->readings += i == 0 || rs->keys[i] != rs->keys[i - 1];
    if (rs->nf)
        qsort(rs->f, rs->nf, sizeof *rs->f, cmp_fault);
    if (rs->ng)
        qsort(rs->g, rs->ng, sizeof *rs->g, cmp_flagged);

    /* Merge: faults and flagged readings both in (meter, time) order. */
    size_t fi = 0;
    for (size_t gi = 0; gi < rs->ng; gi++) {
        const struct flagged *g = &rs->g[gi];
        if (gi > 0 && cmp_flagged(g, &rs->g[gi - 1]) == 0)
            continue; /* a repeat */
        while (fi < rs->nf && strcmp(rs->f[fi].meter, g->meter) < 0)
            fi++;
        bool inside = false;
        for (size_t j = fi; j < rs->nf && strcmp(rs->f[j].meter, g->meter) == 0; j++) {
            if (g->ts >= rs->f[j].t0 && g->ts <= rs->f[j].t1) {
                inside = true;
                rs->f[j].hit = true;
            }
        }
        if (g->flags & (SIM_RS_SPIKE | SIM_RS_DROP)) {
            out->rate_flags++;
            out->false_flags += !inside;
        }
    }
    for (size_t i = 0; i < rs->nf; i++) {
        out->injected[rs->f[i].kind]++;
        out->detected[rs->f[i].kind] += rs->f[i].hit;
        rs->f[i].hit = false; /* a second sum starts afresh */
    }
}

void sim_rscore_print(const struct sim_rscore_sum *s, FILE *out, bool kv)
{
    fprintf(out,
            "reading faults (detected: a reading of the fault flagged spike, drop, over_limit or "
            "negative_value)\n");
    fprintf(out, "  %-17s %8s %8s %8s %8s\n", "kind", "injected", "detected", "missed", "recall");
    for (int i = 0; i < SIM_RS_KINDS; i++) {
        long n = s->injected[i], d = s->detected[i];
        fprintf(out, "  %-17s %8ld %8ld %8ld %7.1f%%\n", s->kind[i], n, d, n - d,
                n ? 100.0 * (double)d / (double)n : 0.0);
        if (kv)
            fprintf(out, "score.reading.%s injected=%ld detected=%ld missed=%ld\n", s->kind[i], n,
                    d, n - d);
    }
    double per_k = s->readings ? 1000.0 * (double)s->false_flags / (double)s->readings : 0;
    fprintf(out,
            "  spike/drop flags: %ld on %ld scored readings, %ld of them on good readings "
            "(false flags): %.3f per 1000 readings\n",
            s->rate_flags, s->readings, s->false_flags, per_k);
    if (kv)
        fprintf(out, "score.reading.false_flags readings=%ld flags=%ld false=%ld per_1000=%.3f\n",
                s->readings, s->rate_flags, s->false_flags, per_k);
}
