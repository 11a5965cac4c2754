/*
 * agg_state: meters, partitions, open windows and the batch pre-merge map.
 */
#include "agg_state.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agg_watermark.h"
#include "mf_common.h"

/* ---------------------------------------------------------------- types */

struct agg_meter {
    struct agg_meter *next; /* hash chain */
    int64_t *open;          /* keys of the open windows */
    /*
     * Their content as PostgreSQL holds it after the last commit (count 0:
     * nothing stored yet), so a window the watermark closes is published
     * from here, not read back (a primary-key probe each).
     */
    struct agg_acc *oacc;
    uint32_t nopen, capopen;
    uint32_t hash;
    int32_t part;
    /* Latest reading seen (meter_current_status); st_ts < 0: none. */
    int64_t st_ts;
    double st_value;
    int16_t st_quality;
    uint8_t st_tier;
    uint8_t st_in_batch; /* already listed in st->dirty */
    char id[];
};

/* The highest src applied from one raw partition (pos.p). */
struct src_slot {
    struct mf_src pos;
    bool dirty;
};

struct pstate {
    bool assigned;
    bool touched; /* in this batch: offsets, positions or watermark changed */
    int64_t stored_next, next;
    int64_t stored_wm;
    struct agg_watermark wm;
    struct src_slot *src;
    size_t nsrc, capsrc;
};

struct agg_state {
    size_t batch_max;
    int64_t lateness_ms, idle_ms;
    int64_t cutoff[AGG_NWIDTHS];

    struct pstate *parts;
    size_t nparts;

    struct agg_meter **buckets;
    size_t nbuckets, nmeters;
    size_t open_windows, meter_bytes;

    /* The batch: dense entries plus an index of (slot + 1), 0 = empty. */
    struct agg_entry *entries;
    size_t nentries, maxentries;
    uint32_t *index;
    size_t index_mask;
    size_t nrecords;
    struct agg_meter **dirty; /* meters whose status changed in this batch */
    size_t ndirty;

    /* Outputs of agg_state_build, reused between batches. */
    struct agg_close *closes;
    size_t ncloses, capcloses;
    struct agg_status *statuses;
    struct agg_src_pos *srcs;
    size_t capsrcs;
    struct agg_part_pos *pos;

    int64_t newest_event;
};

/* ---------------------------------------------------------------- hashing */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static size_t hash_slot(const struct agg_meter *m, int64_t key)
{
    uint64_t x = (uint64_t)m->hash * 0x9e3779b97f4a7c15ull ^ (uint64_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

/* ---------------------------------------------------------------- lifecycle */

struct agg_state *agg_state_new(size_t batch_max, int64_t lateness_ms, int64_t idle_ms)
{
    struct agg_state *st = mf_xcalloc(1, sizeof *st);
    MF_ASSERT(batch_max > 0);
    st->batch_max = batch_max;
    st->lateness_ms = lateness_ms;
    st->idle_ms = idle_ms;
    /* Each record makes at most one entry per width. */
    st->maxentries = batch_max * AGG_NWIDTHS;
    st->entries = mf_xmalloc(st->maxentries * sizeof *st->entries);
    size_t isize = 16;
    while (isize < st->maxentries * 2)
        isize *= 2;
    st->index = mf_xcalloc(isize, sizeof *st->index);
    st->index_mask = isize - 1;
    st->dirty = mf_xmalloc(batch_max * sizeof *st->dirty);
    st->statuses = mf_xmalloc(batch_max * sizeof *st->statuses);
    st->nbuckets = 1024;
    st->buckets = mf_xcalloc(st->nbuckets, sizeof *st->buckets);
    st->newest_event = AGG_WM_NONE;
    return st;
}

static void clear_batch(struct agg_state *st)
{
    /* A memset of the index (4 bytes a slot) is cheaper than tracking slots. */
    if (st->nentries)
        memset(st->index, 0, (st->index_mask + 1) * sizeof *st->index);
    st->nentries = 0;
    st->nrecords = 0;
    for (size_t i = 0; i < st->ndirty; i++)
        st->dirty[i]->st_in_batch = 0;
    st->ndirty = 0;
    for (size_t p = 0; p < st->nparts; p++) {
        st->parts[p].touched = false;
        for (size_t k = 0; k < st->parts[p].nsrc; k++)
            st->parts[p].src[k].dirty = false;
    }
}

void agg_state_reset(struct agg_state *st)
{
    /* Entries point into meters: the index goes before the meters. */
    memset(st->index, 0, (st->index_mask + 1) * sizeof *st->index);
    st->nentries = st->nrecords = st->ndirty = 0;
    for (size_t b = 0; b < st->nbuckets; b++) {
        struct agg_meter *m = st->buckets[b], *next;
        for (; m; m = next) {
            next = m->next;
            free(m->open);
            free(m->oacc);
            free(m);
        }
        st->buckets[b] = NULL;
    }
    st->nmeters = st->open_windows = st->meter_bytes = 0;
    for (size_t p = 0; p < st->nparts; p++)
        free(st->parts[p].src);
    free(st->parts);
    st->parts = NULL;
    st->nparts = 0;
    st->newest_event = AGG_WM_NONE;
}

void agg_state_destroy(struct agg_state *st)
{
    if (!st)
        return;
    agg_state_reset(st);
    free(st->buckets);
    free(st->entries);
    free(st->index);
    free(st->dirty);
    free(st->statuses);
    free(st->closes);
    free(st->srcs);
    free(st->pos);
    free(st);
}

/* ---------------------------------------------------------------- partitions, meters */

static struct pstate *part_get(struct agg_state *st, int32_t part)
{
    MF_ASSERT(part >= 0);
    if ((size_t)part >= st->nparts) {
        size_t n = (size_t)part + 1;
        st->parts = mf_xrealloc(st->parts, n * sizeof *st->parts);
        memset(st->parts + st->nparts, 0, (n - st->nparts) * sizeof *st->parts);
        st->pos = mf_xrealloc(st->pos, n * sizeof *st->pos);
        st->nparts = n;
    }
    return &st->parts[part];
}

void agg_state_assign(struct agg_state *st, int32_t part, int64_t stored_next, int64_t stored_wm,
                      int64_t now_mono)
{
    struct pstate *ps = part_get(st, part);
    ps->assigned = true;
    ps->stored_next = ps->next = stored_next;
    ps->stored_wm = stored_wm;
    agg_watermark_init(&ps->wm, stored_wm, now_mono);
}

bool agg_state_assigned(const struct agg_state *st, int32_t part)
{
    return part >= 0 && (size_t)part < st->nparts && st->parts[part].assigned;
}

static struct src_slot *src_get(struct pstate *ps, int32_t src_p)
{
    for (size_t k = 0; k < ps->nsrc; k++)
        if (ps->src[k].pos.p == src_p)
            return &ps->src[k];
    if (ps->nsrc == ps->capsrc) {
        ps->capsrc = ps->capsrc ? ps->capsrc * 2 : 4;
        ps->src = mf_xrealloc(ps->src, ps->capsrc * sizeof *ps->src);
    }
    struct src_slot *s = &ps->src[ps->nsrc++];
    s->pos = (struct mf_src){src_p, -1, -1}; /* below every real position */
    s->dirty = false;
    return s;
}

void agg_state_load_src(struct agg_state *st, int32_t part, int32_t src_p, int64_t o, int32_t i)
{
    struct src_slot *s = src_get(part_get(st, part), src_p);
    s->pos.o = o;
    s->pos.i = i;
}

static struct agg_meter *meter_get(struct agg_state *st, const char *id, int32_t part)
{
    uint32_t h = hash_str(id);
    struct agg_meter **b = &st->buckets[h & (st->nbuckets - 1)];
    for (struct agg_meter *m = *b; m; m = m->next)
        if (m->hash == h && strcmp(m->id, id) == 0)
            return m;

    if (st->nmeters >= st->nbuckets) { /* keep chains short: double and rehash */
        size_t n = st->nbuckets * 2;
        struct agg_meter **nb = mf_xcalloc(n, sizeof *nb);
        for (size_t i = 0; i < st->nbuckets; i++) {
            struct agg_meter *m = st->buckets[i], *next;
            for (; m; m = next) {
                next = m->next;
                m->next = nb[m->hash & (n - 1)];
                nb[m->hash & (n - 1)] = m;
            }
        }
        free(st->buckets);
        st->buckets = nb;
        st->nbuckets = n;
        b = &st->buckets[h & (n - 1)];
    }
    size_t len = strlen(id) + 1;
    struct agg_meter *m = mf_xcalloc(1, sizeof *m + len);
    memcpy(m->id, id, len);
    m->hash = h;
    m->part = part;
    m->st_ts = -1;
    m->next = *b;
    *b = m;
    st->nmeters++;
    st->meter_bytes += sizeof *m + len;
    return m;
}

/* Bytes of one open window: its key and its content. */
#define OPEN_BYTES (sizeof(int64_t) + sizeof(struct agg_acc))

/* Adds key to m's open windows; false if it was open already. */
static bool open_add(struct agg_state *st, struct agg_meter *m, int64_t key,
                     const struct agg_acc *acc)
{
    for (uint32_t k = 0; k < m->nopen; k++)
        if (m->open[k] == key)
            return false;
    if (m->nopen == m->capopen) {
        st->meter_bytes -= m->capopen * OPEN_BYTES;
        m->capopen = m->capopen ? m->capopen * 2 : 2;
        m->open = mf_xrealloc(m->open, m->capopen * sizeof *m->open);
        m->oacc = mf_xrealloc(m->oacc, m->capopen * sizeof *m->oacc);
        st->meter_bytes += m->capopen * OPEN_BYTES;
    }
    if (acc)
        m->oacc[m->nopen] = *acc;
    else
        memset(&m->oacc[m->nopen], 0, sizeof *m->oacc);
    m->open[m->nopen++] = key;
    st->open_windows++;
    return true;
}

void agg_state_load_open(struct agg_state *st, const char *meter_id, int32_t part, int64_t key,
                         const struct agg_acc *acc)
{
    MF_ASSERT(agg_state_assigned(st, part));
    open_add(st, meter_get(st, meter_id, part), key, acc);
}

void agg_state_set_cutoff(struct agg_state *st, enum agg_width w, int64_t cutoff_ms)
{
    st->cutoff[w] = cutoff_ms;
}

/* ---------------------------------------------------------------- adding */

static struct agg_entry *entry_get(struct agg_state *st, struct agg_meter *m, int64_t key,
                                   bool *fresh)
{
    for (size_t h = hash_slot(m, key);; h++) {
        uint32_t *slot = &st->index[h & st->index_mask];
        if (*slot == 0) {
            MF_ASSERT(st->nentries < st->maxentries);
            struct agg_entry *e = &st->entries[st->nentries++];
            *slot = (uint32_t)st->nentries;
            e->meter_id = m->id;
            e->key = key;
            e->part = m->part;
            e->close = false;
            *fresh = true;
            return e;
        }
        struct agg_entry *e = &st->entries[*slot - 1];
        if (e->key == key && e->meter_id == m->id) {
            *fresh = false;
            return e;
        }
    }
}

/* The batch's partial of (m, key), or NULL. */
static struct agg_entry *entry_find(struct agg_state *st, const struct agg_meter *m, int64_t key)
{
    for (size_t h = hash_slot(m, key);; h++) {
        uint32_t slot = st->index[h & st->index_mask];
        if (slot == 0)
            return NULL;
        struct agg_entry *e = &st->entries[slot - 1];
        if (e->key == key && e->meter_id == m->id)
            return e;
    }
}

static void note_offset(struct pstate *ps, int64_t offset)
{
    ps->next = offset + 1;
    ps->touched = true;
}

void agg_state_skip(struct agg_state *st, int32_t part, int64_t offset)
{
    if (!agg_state_assigned(st, part))
        return;
    struct pstate *ps = &st->parts[part];
    if (ps->next < 0 || offset >= ps->next)
        note_offset(ps, offset);
}

enum agg_add_result agg_state_add(struct agg_state *st, int32_t part, int64_t offset,
                                  const struct agg_record *rec, int64_t now_mono, bool *late,
                                  int *expired)
{
    *late = false;
    *expired = 0;
    if (!agg_state_assigned(st, part))
        return AGG_ADD_UNASSIGNED;
    struct pstate *ps = &st->parts[part];
    /* Prefetched before a seek, or re-read after one: already in PostgreSQL. */
    if (ps->next >= 0 && offset < ps->next)
        return AGG_ADD_STALE;
    MF_ASSERT(st->nrecords < st->batch_max);
    note_offset(ps, offset);

    struct src_slot *src = src_get(ps, rec->src.p);
    if (mf_src_cmp(rec->src, src->pos) <= 0)
        return AGG_ADD_DUPLICATE;
    src->pos = rec->src;
    src->dirty = true;

    *late = agg_watermark_passed(&ps->wm,
                                 agg_window_start(AGG_W1M, rec->ts_ms) + agg_widths[AGG_W1M].ms);
    agg_watermark_observe(&ps->wm, rec->ts_ms, st->lateness_ms, now_mono);
    if (st->newest_event == AGG_WM_NONE || rec->ts_ms > st->newest_event)
        st->newest_event = rec->ts_ms;

    struct agg_meter *m = meter_get(st, rec->meter_id, part);
    struct agg_acc one;
    agg_acc_init(&one, rec);
    for (int w = 0; w < AGG_NWIDTHS; w++) {
        int64_t start = agg_window_start((enum agg_width)w, rec->ts_ms);
        if (start < st->cutoff[w]) {
            *expired |= 1 << w;
            continue;
        }
        int64_t key = agg_window_key((enum agg_width)w, start);
        bool fresh;
        struct agg_entry *e = entry_get(st, m, key, &fresh);
        if (fresh) {
            e->acc = one;
            int64_t end = start + agg_widths[w].ms;
            bool closed_before = ps->stored_wm != AGG_WM_NONE && end <= ps->stored_wm;
            bool added = open_add(st, m, key, NULL);
            e->fresh = added && !closed_before;
            e->known = !added;
        } else {
            agg_acc_merge(&e->acc, &one);
        }
    }

    /* Latest by event time; a tie goes to the later record. */
    if (rec->ts_ms >= m->st_ts) {
        m->st_ts = rec->ts_ms;
        m->st_value = rec->value_kw;
        m->st_quality = (int16_t)rec->quality;
        m->st_tier = (uint8_t)rec->tier;
        if (!m->st_in_batch) {
            m->st_in_batch = 1;
            st->dirty[st->ndirty++] = m;
        }
    }
    st->nrecords++;
    return AGG_ADD_APPLIED;
}

bool agg_state_tick(struct agg_state *st, int64_t now_wall, int64_t now_mono)
{
    bool moved = false;
    for (size_t p = 0; p < st->nparts; p++) {
        struct pstate *ps = &st->parts[p];
        if (ps->assigned &&
            agg_watermark_idle(&ps->wm, now_wall, now_mono, st->lateness_ms, st->idle_ms))
            moved = true;
    }
    return moved;
}

size_t agg_state_batch_records(const struct agg_state *st)
{
    return st->nrecords;
}

bool agg_state_batch_full(const struct agg_state *st)
{
    return st->nrecords >= st->batch_max;
}

/* ---------------------------------------------------------------- building */

/*
 * e: the window's partial in this batch, or NULL. The close carries the
 * whole content: what was open before the batch and the batch's partial.
 */
static void close_push(struct agg_state *st, const struct agg_meter *m, uint32_t k,
                       const struct agg_entry *e)
{
    if (st->ncloses == st->capcloses) {
        st->capcloses = st->capcloses ? st->capcloses * 2 : 1024;
        st->closes = mf_xrealloc(st->closes, st->capcloses * sizeof *st->closes);
    }
    struct agg_close *c = &st->closes[st->ncloses++];
    *c = (struct agg_close){m->id, m->open[k], m->part, e != NULL, false, m->oacc[k]};
    if (!e)
        return;
    /* Neither open before nor new: a window closed before, reopened by late data. */
    c->late = !e->fresh && !e->known;
    if (c->acc.count == 0)
        c->acc = e->acc;
    else
        agg_acc_merge(&c->acc, &e->acc);
}

bool agg_state_build(struct agg_state *st, struct agg_batch *b)
{
    memset(b, 0, sizeof *b);

    /*
     * Closes: every open window whose end its partition's watermark passed.
     * One with a partial in this batch is closed by its merge (a replay of
     * history or a batch longer than the lateness: most 1-minute windows
     * are born closed), the others by an UPDATE.
     */
    st->ncloses = 0;
    for (size_t i = 0; i < st->nbuckets; i++) {
        for (struct agg_meter *m = st->buckets[i]; m; m = m->next) {
            const struct agg_watermark *wm = &st->parts[m->part].wm;
            for (uint32_t k = 0; k < m->nopen;) {
                if (agg_watermark_passed(wm, agg_key_end(m->open[k]))) {
                    struct agg_entry *e = st->nentries ? entry_find(st, m, m->open[k]) : NULL;
                    if (e)
                        e->close = true;
                    close_push(st, m, k, e);
                    m->nopen--;
                    m->open[k] = m->open[m->nopen];
                    m->oacc[k] = m->oacc[m->nopen];
                    st->open_windows--;
                } else {
                    k++;
                }
            }
        }
    }

    for (size_t i = 0; i < st->ndirty; i++) {
        const struct agg_meter *m = st->dirty[i];
        st->statuses[i] = (struct agg_status){m->id, m->st_ts, m->st_value, m->st_quality,
                                              (enum mf_tier)m->st_tier};
    }

    /* Touched partitions, dirty source positions, moved watermarks. */
    size_t nsrcs = 0, npos = 0;
    for (size_t p = 0; p < st->nparts; p++) {
        struct pstate *ps = &st->parts[p];
        if (!ps->assigned)
            continue;
        if (ps->wm.wm != ps->stored_wm)
            ps->touched = true;
        if (!ps->touched)
            continue;
        st->pos[npos++] = (struct agg_part_pos){(int32_t)p, ps->stored_next, ps->next, ps->wm.wm};
        for (size_t k = 0; k < ps->nsrc; k++) {
            if (!ps->src[k].dirty)
                continue;
            if (nsrcs == st->capsrcs) {
                st->capsrcs = st->capsrcs ? st->capsrcs * 2 : 64;
                st->srcs = mf_xrealloc(st->srcs, st->capsrcs * sizeof *st->srcs);
            }
            st->srcs[nsrcs++] = (struct agg_src_pos){(int32_t)p, ps->src[k].pos};
        }
    }

    b->entries = st->entries;
    b->nentries = st->nentries;
    b->closes = st->closes;
    b->ncloses = st->ncloses;
    b->statuses = st->statuses;
    b->nstatuses = st->ndirty;
    b->srcs = st->srcs;
    b->nsrcs = nsrcs;
    b->parts = st->pos;
    b->nparts = npos;
    b->nrecords = st->nrecords;
    /* A watermark that moved alone is not worth a transaction: it goes with the next one. */
    bool moved = false;
    for (size_t i = 0; i < npos; i++)
        if (st->pos[i].next != st->pos[i].expect)
            moved = true;
    return b->nentries || b->ncloses || moved;
}

/* The meter an entry's meter_id points into. */
static struct agg_meter *entry_meter(const struct agg_entry *e)
{
    return (struct agg_meter *)(void *)(e->meter_id - offsetof(struct agg_meter, id));
}

void agg_state_committed(struct agg_state *st)
{
    /* PostgreSQL merged the batch: so do the open windows' contents. */
    for (size_t i = 0; i < st->nentries; i++) {
        const struct agg_entry *e = &st->entries[i];
        if (e->close)
            continue; /* closed by its merge: no longer open */
        struct agg_meter *m = entry_meter(e);
        for (uint32_t k = 0; k < m->nopen; k++) {
            if (m->open[k] != e->key)
                continue;
            if (m->oacc[k].count == 0)
                m->oacc[k] = e->acc;
            else
                agg_acc_merge(&m->oacc[k], &e->acc);
            break;
        }
    }
    for (size_t p = 0; p < st->nparts; p++) {
        struct pstate *ps = &st->parts[p];
        if (!ps->assigned || !ps->touched)
            continue;
        ps->stored_next = ps->next;
        ps->stored_wm = ps->wm.wm;
    }
    clear_batch(st);
    st->ncloses = 0;
}

/* ---------------------------------------------------------------- queries */

int64_t agg_state_next_offset(const struct agg_state *st, int32_t part)
{
    return agg_state_assigned(st, part) ? st->parts[part].stored_next : -1;
}

int64_t agg_state_newest_event(const struct agg_state *st)
{
    return st->newest_event;
}

size_t agg_state_open_windows(const struct agg_state *st)
{
    return st->open_windows;
}

size_t agg_state_memory_bytes(const struct agg_state *st)
{
    return st->meter_bytes + st->nbuckets * sizeof *st->buckets;
}
