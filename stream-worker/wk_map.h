/*
 * wk_map: an open-addressing hash index from a string key to a 32-bit
 * index into the caller's dense array.
 *
 * The map stores only {hash, index} pairs (8 bytes a slot, linear probing,
 * load kept at or below 3/4 so a probe stays short), never the key itself: it
 * asks the owner for the key of an index through key_fn, so each key lives
 * once, in the owner's element. That keeps a meter's state under 256 bytes
 * (DESIGN asks it of the benchmark) and makes deletion a backward shift,
 * with no tombstones. Not thread-safe; an embedded struct (init/release).
 */
#ifndef WK_MAP_H
#define WK_MAP_H

#include <stddef.h>
#include <stdint.h>

/* The key of element idx of the owner's array (len bytes, need not be NUL-terminated). */
typedef const char *wk_map_key_fn(const void *owner, uint32_t idx, size_t *len);

struct wk_map_slot {
    uint32_t hash;
    uint32_t idx1; /* index + 1; 0 = empty */
};

struct wk_map {
    struct wk_map_slot *slots; /* owned */
    uint32_t mask;             /* capacity - 1 (a power of two), or 0 when empty */
    uint32_t count;
    wk_map_key_fn *key_fn;
    const void *owner;
};

#define WK_MAP_NONE UINT32_MAX

/* An empty map over owner's elements. */
void wk_map_init(struct wk_map *m, wk_map_key_fn *key_fn, const void *owner);
/* Frees the slots; the map is empty and reusable. */
void wk_map_release(struct wk_map *m);

/* 32-bit FNV-1a-style hash of a key (exposed so callers can hash once). */
uint32_t wk_map_hash(const char *key, size_t len);

/* The index of key, or WK_MAP_NONE. */
uint32_t wk_map_get(const struct wk_map *m, const char *key, size_t len, uint32_t hash);
/* Adds key -> idx; the key must not be present (asserts). Grows as needed. */
void wk_map_put(struct wk_map *m, const char *key, size_t len, uint32_t hash, uint32_t idx);
/* Removes key; returns its index or WK_MAP_NONE. */
uint32_t wk_map_del(struct wk_map *m, const char *key, size_t len, uint32_t hash);
/* Changes the index stored for a present key (after the owner moved an element). */
void wk_map_move(struct wk_map *m, const char *key, size_t len, uint32_t hash, uint32_t new_idx);

#endif
