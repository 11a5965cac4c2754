/*
 * wk_state: the dense state array with its index, and the changelog codec.
 * Deleting swaps the last element into the hole, so the array stays dense
 * and the memory a meter costs is its struct plus ~16 bytes of index.
 */
#include "wk_state.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

static const char *state_key(const void *owner, uint32_t idx, size_t *len)
{
    const struct wk_store *s = owner;
    *len = s->v[idx].id_len;
    return wk_state_id(&s->v[idx]);
}

void wk_store_init(struct wk_store *s)
{
    memset(s, 0, sizeof *s);
    wk_map_init(&s->map, state_key, s);
}

void wk_store_release(struct wk_store *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i].id_len > WK_ID_INLINE)
            free(wk_state_long_id(&s->v[i]));
    wk_map_release(&s->map);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

struct wk_state *wk_store_get(struct wk_store *s, const char *id, size_t len)
{
    uint32_t i = wk_map_get(&s->map, id, len, wk_map_hash(id, len));
    return i == WK_MAP_NONE ? NULL : &s->v[i];
}

struct wk_state *wk_store_get_or_add(struct wk_store *s, const char *id, size_t len,
                                     int32_t partition, int *created)
{
    uint32_t h = wk_map_hash(id, len);
    uint32_t i = wk_map_get(&s->map, id, len, h);

    MF_ASSERT(len >= 1 && len <= MF_METER_ID_MAX);
    if (created)
        *created = i == WK_MAP_NONE;
    if (i != WK_MAP_NONE)
        return &s->v[i];
    if (s->n == s->cap) {
        /* Untouched capacity costs no RSS, so doubling does not double the footprint. */
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = mf_xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    struct wk_state *st = &s->v[s->n];
    memset(st, 0, sizeof *st);
    if (len > WK_ID_INLINE) {
        char *copy = mf_xmalloc(len);
        memcpy(copy, id, len);
        wk_state_set_long_id(st, copy);
    } else {
        memcpy(st->meter_id, id, len);
    }
    st->id_len = (uint8_t)len;
    st->partition = partition;
    st->offset = -1;
    wk_map_put(&s->map, id, len, h, s->n);
    s->n++;
    return st;
}

/* Removes the element at idx (already out of the map). */
static void remove_at(struct wk_store *s, uint32_t idx)
{
    uint32_t last = s->n - 1;
    if (s->v[idx].id_len > WK_ID_INLINE)
        free(wk_state_long_id(&s->v[idx]));
    if (idx != last) {
        struct wk_state *mv = &s->v[last];
        s->v[idx] = *mv; /* a long ID's copy moves with it */
        /* The map still finds the moved key through its old index (unchanged until n--). */
        const char *id = wk_state_id(mv);
        wk_map_move(&s->map, id, mv->id_len, wk_map_hash(id, mv->id_len), idx);
    }
    s->n--;
}

void wk_store_del(struct wk_store *s, const char *id, size_t len)
{
    uint32_t idx = wk_map_del(&s->map, id, len, wk_map_hash(id, len));
    if (idx != WK_MAP_NONE)
        remove_at(s, idx);
}

uint32_t wk_store_drop_partition(struct wk_store *s, int32_t partition)
{
    uint32_t dropped = 0;
    for (uint32_t i = 0; i < s->n;) {
        struct wk_state *st = &s->v[i];
        if (st->partition != partition) {
            i++;
            continue;
        }
        const char *id = wk_state_id(st);
        wk_map_del(&s->map, id, st->id_len, wk_map_hash(id, st->id_len));
        remove_at(s, i); /* the last element moved into i: look at i again */
        dropped++;
    }
    return dropped;
}

/* ---------------------------------------------------------------- codec */

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_f64(unsigned char *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return put_u64(p, u);
}

static unsigned char *put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return put_u32(p, u);
}

static uint32_t get_u32(const unsigned char **p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)(*p)[i] << (8 * i);
    *p += 4;
    return v;
}

static uint64_t get_u64(const unsigned char **p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += 8;
    return v;
}

static double get_f64(const unsigned char **p)
{
    uint64_t u = get_u64(p);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static float get_f32(const unsigned char **p)
{
    uint32_t u = get_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void wk_state_assign(struct wk_state *dst, const struct wk_state *src)
{
    struct wk_state keep = *dst;
    *dst = *src;
    memcpy(dst, &keep, offsetof(struct wk_state, id_len) + sizeof keep.id_len);
}

void wk_state_encode(const struct wk_state *st, unsigned char *out)
{
    unsigned char *p = out;
    *p++ = WK_STATE_VERSION;
    *p++ = (unsigned char)(st->flags & ~WK_ST_DIRTY);
    *p++ = st->faults;
    *p++ = 0;
    p = put_u32(p, (uint32_t)st->partition);
    p = put_u64(p, (uint64_t)st->offset);
    p = put_u64(p, (uint64_t)st->last_ts);
    p = put_f64(p, st->last_kw);
    p = put_u64(p, (uint64_t)st->zero_since);
    p = put_u64(p, (uint64_t)st->stuck_since);
    p = put_u64(p, (uint64_t)st->over_since);
    p = put_u32(p, st->over_n);
    p = put_u32(p, (uint32_t)st->day);
    p = put_u32(p, (uint32_t)st->first_day);
    p = put_u32(p, (uint32_t)st->lv_since);
    for (int i = 0; i < WK_BUCKETS; i++) {
        p = put_u32(p, st->b_n[i]);
        p = put_f32(p, st->b[i].mean);
        p = put_f32(p, st->b[i].m2);
    }
    p = put_f32(p, st->roc_level);
    p = put_f32(p, st->roc_spread);
    p = put_u32(p, st->roc_n);
    for (int i = 0; i < WK_ROC_BANDS; i++) {
        *p++ = (unsigned char)st->roc_high[i];
        *p++ = (unsigned char)(st->roc_high[i] >> 8);
    }
    MF_ASSERT(p - out == WK_STATE_WIRE_LEN);
}

int wk_state_decode(const unsigned char *in, size_t len, const char *id, size_t idlen,
                    struct wk_state *st, char *errbuf, size_t errlen)
{
    const unsigned char *p = in;

    if (idlen < 1 || idlen > MF_METER_ID_MAX) {
        snprintf(errbuf, errlen, "state key of %zu bytes", idlen);
        return MF_EDATA;
    }
    if (len < 1 || in[0] < 1 || in[0] > WK_STATE_VERSION) {
        snprintf(errbuf, errlen, "state version %d not supported", len ? in[0] : -1);
        return MF_EDATA;
    }
    /* Each older version is the next one without the statistics at its end. */
    static const size_t wire_len[WK_STATE_VERSION + 1] = {0, WK_STATE_V1_WIRE_LEN,
                                                          WK_STATE_V2_WIRE_LEN, WK_STATE_WIRE_LEN};
    size_t want = wire_len[in[0]];
    if (len != want) {
        snprintf(errbuf, errlen, "state version %d of %zu bytes, want %zu", in[0], len, want);
        return MF_EDATA;
    }
    memset(st, 0, sizeof *st);
    if (idlen <= WK_ID_INLINE)
        memcpy(st->meter_id, id, idlen);
    st->id_len = (uint8_t)idlen;
    p++;
    st->flags = (uint8_t)(*p++ & ~WK_ST_DIRTY);
    st->faults = *p++;
    p++;
    st->partition = (int32_t)get_u32(&p);
    st->offset = (int64_t)get_u64(&p);
    st->last_ts = (int64_t)get_u64(&p);
    st->last_kw = get_f64(&p);
    st->zero_since = (int64_t)get_u64(&p);
    st->stuck_since = (int64_t)get_u64(&p);
    st->over_since = (int64_t)get_u64(&p);
    st->over_n = get_u32(&p);
    st->day = (int32_t)get_u32(&p);
    st->first_day = (int32_t)get_u32(&p);
    st->lv_since = (int32_t)get_u32(&p);
    for (int i = 0; i < WK_BUCKETS; i++) {
        uint32_t n = get_u32(&p); /* an older worker counted to UINT32_MAX */
        st->b_n[i] = (uint16_t)(n < WK_BUCKET_N_MAX ? n : WK_BUCKET_N_MAX);
        st->b[i].mean = get_f32(&p);
        st->b[i].m2 = get_f32(&p);
    }
    if (in[0] == 1)
        return MF_OK; /* no statistics yet: the adaptive rule warms up again (seed rule) */
    st->roc_level = get_f32(&p);
    st->roc_spread = get_f32(&p);
    st->roc_n = get_u32(&p);
    if (in[0] == 2)
        return MF_OK; /* no highs yet: the spike test waits until each quarter has one */
    for (int i = 0; i < WK_ROC_BANDS; i++, p += 2)
        st->roc_high[i] = (uint16_t)(p[0] | p[1] << 8);
    return MF_OK;
}
