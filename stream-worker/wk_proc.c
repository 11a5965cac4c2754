/*
 * wk_proc: the per-record driver around wk_rules. Outputs of one record
 * are serialized into one reused buffer first and handed over only when
 * the whole record succeeded, so a retried record never emits half its
 * outputs twice.
 */
#include "wk_proc.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mf_buf.h"
#include "mf_log.h"
#include "mf_reading.h"
#include "wk_emit.h"
#include "mf_common.h"

#define MAX_BACKOFFS 8
#define OUTPUT_MAX   (1u << 20) /* a Kafka record's usual limit: beyond it is a processing error */
#define MAX_REC_OUTS (WK_MAX_ALERTS + 1)
#define ARENA_SIZE   (64 * 1024) /* a usual record's tree takes ~1 KiB */

/* The cJSON allocations of one record (see "the record's arena" below). */
struct arena {
    char *base; /* ARENA_SIZE bytes; owned */
    size_t used;
    int spilled; /* something did not fit and came from malloc */
};

/* One serialized output of the current record: bytes [off, off+len) of buf. */
struct pending {
    enum wk_topic topic;
    size_t off, len;
};

struct wk_proc {
    struct wk_rules_cfg rc;
    int64_t backoff_ms[MAX_BACKOFFS];
    int nbackoff;
    wk_output_fn *out;
    void *opaque;
    wk_fail_fn *fail;
    void *fail_opaque;
    struct wk_registry *reg;
    struct wk_store store;
    uint32_t *dirty; /* indices into store.v changed since the last flush */
    uint32_t ndirty, capdirty;
    struct mf_buf buf;
    struct pending *outs; /* grows with interpolated readings */
    size_t nouts, capouts;
    struct wk_counts counts;
    struct arena arena;
};

/* ---------------------------------------------------------------- the record's arena */

/*
 * cJSON mallocs every node and string of a record's tree and frees them one
 * by one: ~15 malloc/free pairs, about an eighth of our instructions per
 * record (callgrind). While wk_proc_record runs, cJSON allocates from the
 * processor's arena instead, and the tree is dropped with the arena's
 * reset. cJSON's hooks are process-wide, so they fall back to malloc/free
 * whenever no arena is active on the calling thread (the librdkafka
 * statistics callback, other threads) or the arena is full; free ignores
 * only pointers inside the active arena.
 */
static _Thread_local struct arena *active_arena;

static void *arena_malloc(size_t n)
{
    struct arena *a = active_arena;
    if (a) {
        size_t need = (n + 15) & ~(size_t)15; /* malloc's alignment */
        if (need >= n && need <= ARENA_SIZE - a->used) {
            void *ptr = a->base + a->used;
            a->used += need;
            return ptr;
        }
        a->spilled = 1;
    }
    return malloc(n);
}

static void arena_free(void *ptr)
{
    struct arena *a = active_arena;
    uintptr_t u = (uintptr_t)ptr, lo = a ? (uintptr_t)a->base : 0;
    if (a && u >= lo && u < lo + ARENA_SIZE)
        return; /* reclaimed by the reset */
    free(ptr);
}

/* Calls the output callback outside the arena: what it parses or keeps is its own. */
static int hand_over(struct wk_proc *p, const struct wk_output *o)
{
    struct arena *a = active_arena;
    active_arena = NULL;
    int rc = p->out(p->opaque, o);
    active_arena = a;
    return rc;
}

static void install_hooks(void)
{
    cJSON_Hooks h = {arena_malloc, arena_free};
    cJSON_InitHooks(&h);
}

struct wk_proc *wk_proc_new(const struct wk_rules_cfg *rc, const int64_t *backoff_ms, int nbackoff,
                            wk_output_fn *out, void *opaque)
{
    struct wk_proc *p = mf_xcalloc(1, sizeof *p);
    p->rc = *rc;
    p->nbackoff = nbackoff < MAX_BACKOFFS ? nbackoff : MAX_BACKOFFS;
    for (int i = 0; i < p->nbackoff; i++)
        p->backoff_ms[i] = backoff_ms[i];
    p->out = out;
    p->opaque = opaque;
    wk_store_init(&p->store);
    mf_buf_init(&p->buf, OUTPUT_MAX * 4);
    p->arena.base = mf_xmalloc(ARENA_SIZE);
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_hooks);
    return p;
}

void wk_proc_destroy(struct wk_proc *p)
{
    if (!p)
        return;
    wk_registry_destroy(p->reg);
    wk_store_release(&p->store);
    mf_buf_release(&p->buf);
    free(p->dirty);
    free(p->outs);
    free(p->arena.base);
    free(p);
}

void wk_proc_set_registry(struct wk_proc *p, struct wk_registry *reg)
{
    wk_registry_destroy(p->reg);
    p->reg = reg;
}

int wk_proc_has_registry(const struct wk_proc *p)
{
    return p->reg != NULL;
}

size_t wk_proc_registry_count(const struct wk_proc *p)
{
    return p->reg ? wk_registry_count(p->reg) : 0;
}

void wk_proc_set_fail_hook(struct wk_proc *p, wk_fail_fn *fn, void *opaque)
{
    p->fail = fn;
    p->fail_opaque = opaque;
}

struct wk_store *wk_proc_store(struct wk_proc *p)
{
    return &p->store;
}

void wk_proc_take_counts(struct wk_proc *p, struct wk_counts *out)
{
    *out = p->counts;
    memset(&p->counts, 0, sizeof p->counts);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void mark_dirty(struct wk_proc *p, struct wk_state *st)
{
    if (st->flags & WK_ST_DIRTY)
        return;
    st->flags |= WK_ST_DIRTY;
    if (p->ndirty == p->capdirty) {
        p->capdirty = p->capdirty ? p->capdirty * 2 : 1024;
        p->dirty = mf_xrealloc(p->dirty, p->capdirty * sizeof *p->dirty);
    }
    p->dirty[p->ndirty++] = (uint32_t)(st - p->store.v);
}

/* Starts the next pending output at the end of buf. */
static struct pending *begin_out(struct wk_proc *p, enum wk_topic t)
{
    if (p->nouts == p->capouts) {
        p->capouts = p->capouts ? p->capouts * 2 : 64;
        p->outs = mf_xrealloc(p->outs, p->capouts * sizeof *p->outs);
    }
    struct pending *o = &p->outs[p->nouts++];
    o->topic = t;
    o->off = p->buf.len;
    return o;
}

static void end_out(struct wk_proc *p, struct pending *o)
{
    o->len = p->buf.len - o->off;
}

/* Serializes every output of one record; MF_OK or MF_EDATA (too large). */
static int serialize(struct wk_proc *p, const struct mf_reading *r, const struct wk_result *res,
                     int32_t partition, int64_t offset)
{
    struct mf_src src = {partition, offset, 0};
    int rc = MF_OK;

    mf_buf_reset(&p->buf);
    p->nouts = 0;
    for (uint32_t k = 1; k <= res->n_interp; k++) {
        struct pending *o = begin_out(p, WK_T_VALIDATED);
        rc |= wk_emit_interp(&p->buf, r, res, k, src);
        end_out(p, o);
        /* An interpolated reading of quarantine tier goes there. */
        if (res->interp_tier == MF_TIER_QUARANTINE)
            o->topic = WK_T_QUARANTINE;
        src.i++;
    }
    struct pending *o = begin_out(p,
                                  res->outcome == WK_VALIDATED ? WK_T_VALIDATED : WK_T_QUARANTINE);
    rc |= wk_emit_scored(&p->buf, r, res, src);
    end_out(p, o);
    src.i++;
    for (int a = 0; a < res->n_alerts; a++) {
        o = begin_out(p, WK_T_ALERTS);
        rc |= wk_emit_alert(&p->buf, r->meter_id, &res->alerts[a], src);
        end_out(p, o);
        src.i++;
    }
    return rc == MF_OK ? MF_OK : MF_EDATA;
}

static int send_dlq(struct wk_proc *p, int32_t partition, int64_t offset, const void *key,
                    size_t keylen, const void *value, size_t len, const char *code, const char *msg)
{
    struct wk_output o = {WK_T_DLQ, -1, key, keylen, value, len, code, msg, partition, offset};
    p->counts.outcome[WK_DLQ]++;
    return hand_over(p, &o);
}

/*
 * One attempt at the rules and the serialization. On failure the meter's
 * state is exactly as before. Returns MF_OK, or MF_ERETRY (a processing
 * error: retry or give up).
 */
static int attempt(struct wk_proc *p, const struct mf_reading *r, int32_t partition, int64_t offset,
                   int64_t now_ms, int n, bool override, struct wk_result *res,
                   struct wk_state **stp)
{
    size_t idlen = strlen(r->meter_id);
    const struct wk_meter *reg = p->reg ? wk_registry_get(p->reg, r->meter_id, idlen) : NULL;
    struct wk_state *st = NULL, saved;
    int created = 0;

    if (override)
        ; /* an approval is no part of the meter's history: no state */
    else if (reg && reg->active)
        st = wk_store_get_or_add(&p->store, r->meter_id, idlen, partition, &created);
    else
        st = wk_store_get(&p->store, r->meter_id, idlen);
    if (st)
        saved = *st;
    if (override)
        wk_rules_override(&p->rc, r, reg, res);
    else
        wk_rules_apply(&p->rc, r, reg, st, now_ms, res);
    int rc = serialize(p, r, res, partition, offset);
    if (rc == MF_OK && p->fail && p->fail(p->fail_opaque, r->meter_id, n))
        rc = MF_ERETRY;
    if (rc != MF_OK) {
        if (created)
            wk_store_del(&p->store, r->meter_id, idlen);
        else if (st)
            *st = saved;
        return MF_ERETRY;
    }
    *stp = st;
    return MF_OK;
}

static int process(struct wk_proc *p, int32_t partition, int64_t offset, const void *key,
                   size_t keylen, const void *value, size_t len, int64_t now_ms, bool override)
{
    struct mf_reading r;
    struct wk_result res;
    struct wk_state *st = NULL;
    cJSON *root = NULL;
    char err[256];
    int rc = MF_OK;

    if (!value || len == 0)
        return send_dlq(p, partition, offset, key, keylen, value, len, "parse_error",
                        "empty record");
    if (mf_reading_parse(value, len, &root, &r, err, sizeof err) != MF_OK)
        return send_dlq(p, partition, offset, key, keylen, value, len, "parse_error", err);

    /* Already in the meter's state: its outputs were delivered before a crash or rebalance. */
    st = wk_store_get(&p->store, r.meter_id, strlen(r.meter_id));
    if (st && st->partition == partition && offset <= st->offset) {
        p->counts.skipped++;
        goto out;
    }

    for (int n = 0;; n++) {
        if (attempt(p, &r, partition, offset, now_ms, n, override, &res, &st) == MF_OK)
            break;
        if (n >= p->nbackoff) {
            MF_LOG_ERROR("proc", "record %d/%lld of meter %s failed %d times: to the DLQ",
                         partition, (long long)offset, r.meter_id, n + 1);
            rc = send_dlq(p, partition, offset, key, keylen, value, len, "processing_failed",
                          "processing failed after retries");
            goto out;
        }
        MF_LOG_WARN("proc", "record %d/%lld of meter %s failed; retrying in %lld ms", partition,
                    (long long)offset, r.meter_id, (long long)p->backoff_ms[n]);
        sleep_ms(p->backoff_ms[n]);
    }

    for (size_t i = 0; i < p->nouts && rc == MF_OK; i++) {
        const struct pending *o = &p->outs[i];
        struct wk_output w = {o->topic, -1,   r.meter_id, strlen(r.meter_id), p->buf.data + o->off,
                              o->len,   NULL, NULL,       partition,          offset};
        rc = hand_over(p, &w);
    }
    if (rc != MF_OK)
        goto out;
    if (st) {
        st->offset = offset;
        st->partition = partition;
        mark_dirty(p, st);
    }
    p->counts.outcome[res.outcome]++;
    p->counts.outcome[WK_INTERPOLATED] += res.n_interp;
    if (res.n_interp)
        p->counts.flags[WK_F_INTERPOLATED] += res.n_interp;
    for (int f = 0; f < WK_F_COUNT; f++)
        if (res.flags & (1u << f))
            p->counts.flags[f]++;
    for (int a = 0; a < res.n_alerts; a++)
        p->counts.alerts[res.alerts[a].type][res.alerts[a].cleared]++;
    if (res.outcome == WK_VALIDATED && r.ts_ms > p->counts.newest_ts)
        p->counts.newest_ts = r.ts_ms;
out:
    if (p->arena.spilled)
        cJSON_Delete(root); /* frees what came from malloc; arena nodes stay until the reset */
    return rc;
}

static int record(struct wk_proc *p, int32_t partition, int64_t offset, const void *key,
                  size_t keylen, const void *value, size_t len, int64_t now_ms, bool override)
{
    MF_ASSERT(active_arena == NULL);
    p->arena.used = 0;
    p->arena.spilled = 0;
    active_arena = &p->arena;
    int rc = process(p, partition, offset, key, keylen, value, len, now_ms, override);
    active_arena = NULL;
    return rc;
}

int wk_proc_record(struct wk_proc *p, int32_t partition, int64_t offset, const void *key,
                   size_t keylen, const void *value, size_t len, int64_t now_ms)
{
    return record(p, partition, offset, key, keylen, value, len, now_ms, false);
}

int wk_proc_record_override(struct wk_proc *p, int32_t partition, int64_t offset, const void *key,
                            size_t keylen, const void *value, size_t len, int64_t now_ms)
{
    return record(p, partition, offset, key, keylen, value, len, now_ms, true);
}

int wk_proc_flush_states(struct wk_proc *p)
{
    unsigned char val[WK_STATE_WIRE_LEN];
    while (p->ndirty > 0) {
        struct wk_state *st = &p->store.v[p->dirty[p->ndirty - 1]];
        wk_state_encode(st, val);
        struct wk_output o = {
            WK_T_STATE, st->partition, wk_state_id(st), st->id_len, val, sizeof val, NULL, NULL, -1,
            -1};
        int rc = p->out(p->opaque, &o);
        if (rc != MF_OK)
            return rc;
        st->flags &= (uint8_t)~WK_ST_DIRTY;
        p->ndirty--;
    }
    return MF_OK;
}

void wk_proc_discard_dirty(struct wk_proc *p)
{
    for (uint32_t i = 0; i < p->ndirty; i++)
        if (p->dirty[i] < p->store.n)
            p->store.v[p->dirty[i]].flags &= (uint8_t)~WK_ST_DIRTY;
    p->ndirty = 0;
}
