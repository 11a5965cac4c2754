/*
 * wk_map: linear probing over {hash, index} slots. Keys are compared only
 * when the full 32-bit hashes match, so the owner's key_fn is called about
 * once per lookup.
 */
#include "wk_map.h"

#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

void wk_map_init(struct wk_map *m, wk_map_key_fn *key_fn, const void *owner)
{
    memset(m, 0, sizeof *m);
    m->key_fn = key_fn;
    m->owner = owner;
}

void wk_map_release(struct wk_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

uint32_t wk_map_hash(const char *key, size_t len)
{
    /* FNV-1a, then a final mix so the low bits (the slot) depend on every byte. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

static int same_key(const struct wk_map *m, uint32_t idx, const char *key, size_t len)
{
    size_t klen;
    const char *k = m->key_fn(m->owner, idx, &klen);
    return klen == len && memcmp(k, key, len) == 0;
}

/* The slot holding key, or the empty slot where it would go. */
static uint32_t find_slot(const struct wk_map *m, const char *key, size_t len, uint32_t hash)
{
    uint32_t i = hash & m->mask;
    for (;;) {
        const struct wk_map_slot *s = &m->slots[i];
        if (s->idx1 == 0 || (s->hash == hash && same_key(m, s->idx1 - 1, key, len)))
            return i;
        i = (i + 1) & m->mask;
    }
}

uint32_t wk_map_get(const struct wk_map *m, const char *key, size_t len, uint32_t hash)
{
    if (!m->slots)
        return WK_MAP_NONE;
    const struct wk_map_slot *s = &m->slots[find_slot(m, key, len, hash)];
    return s->idx1 ? s->idx1 - 1 : WK_MAP_NONE;
}

static void grow(struct wk_map *m)
{
    uint32_t oldcap = m->slots ? m->mask + 1 : 0;
    uint32_t cap = oldcap ? oldcap * 2 : 16;
    struct wk_map_slot *old = m->slots;

    MF_ASSERT(cap > oldcap); /* 2^31 slots: far beyond any partition's meters */
    m->slots = mf_xcalloc(cap, sizeof *m->slots);
    m->mask = cap - 1;
    for (uint32_t i = 0; i < oldcap; i++) {
        if (!old[i].idx1)
            continue;
        uint32_t j = old[i].hash & m->mask;
        while (m->slots[j].idx1)
            j = (j + 1) & m->mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void wk_map_put(struct wk_map *m, const char *key, size_t len, uint32_t hash, uint32_t idx)
{
    if (!m->slots || (uint64_t)(m->count + 1) * 4 > ((uint64_t)m->mask + 1) * 3)
        grow(m);
    uint32_t i = find_slot(m, key, len, hash);
    MF_ASSERT(m->slots[i].idx1 == 0);
    m->slots[i].hash = hash;
    m->slots[i].idx1 = idx + 1;
    m->count++;
}

uint32_t wk_map_del(struct wk_map *m, const char *key, size_t len, uint32_t hash)
{
    if (!m->slots)
        return WK_MAP_NONE;
    uint32_t i = find_slot(m, key, len, hash);
    if (!m->slots[i].idx1)
        return WK_MAP_NONE;
    uint32_t idx = m->slots[i].idx1 - 1;

    /* Backward-shift deletion: pull later members of the probe chain into the hole. */
    uint32_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (!m->slots[j].idx1)
            break;
        uint32_t home = m->slots[j].hash & m->mask;
        /* j may move to hole only if its home is not cyclically in (hole, j]. */
        int in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!in_range) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].idx1 = 0;
    m->slots[hole].hash = 0;
    m->count--;
    return idx;
}

void wk_map_move(struct wk_map *m, const char *key, size_t len, uint32_t hash, uint32_t new_idx)
{
    uint32_t i = find_slot(m, key, len, hash);
    MF_ASSERT(m->slots[i].idx1 != 0);
    m->slots[i].idx1 = new_idx + 1;
}
