/*
 * wk_state: the per-meter state of the partitions this worker owns, and its
 * changelog encoding.
 *
 * One struct wk_state per meter (last reading, fault runs, the low_variance
 * day buckets, the adaptive rate-of-change rule's statistics, the source
 * offset of the last record it includes), kept in one dense array indexed
 * by a wk_map. A meter ID of up to WK_ID_INLINE bytes (a UUID fits) lives in
 * the struct; only a longer one is a separate heap copy, which the store
 * owns. That keeps sizeof(struct wk_state) at 208 bytes and a meter, index
 * included, under 256 bytes of RSS (docs/worker.md, "Memory"). The store is
 * owned by the worker's main thread; pointers into it are valid until the
 * next wk_store_get_or_add, wk_store_del or wk_store_drop_partition.
 *
 * Changelog value (meter.state.changelog, key = meter_id), version 3,
 * little-endian, fixed 188 bytes:
 *   u8 version=3, u8 flags, u8 faults, u8 reserved, i32 partition,
 *   i64 offset, i64 last_ts, f64 last_kw, i64 zero_since, i64 stuck_since,
 *   i64 over_since, u32 over_n, i32 day, i32 first_day, i32 lv_since,
 *   8 x {u32 n, f32 mean, f32 m2}, f32 roc_level, f32 roc_spread, u32 roc_n,
 *   4 x u16 roc_high
 * Version 2 (180 bytes) is version 3 without roc_high, version 1 (168
 * bytes) also without roc_level, roc_spread and roc_n, as older workers
 * wrote them: both still restore, with the missing statistics empty (the
 * adaptive rule learns them again; see wk_rules.c). A reader refuses other
 * versions (a newer worker's state is never misread); an empty value
 * (tombstone) deletes the meter.
 */
#ifndef WK_STATE_H
#define WK_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mf_reading.h"
#include "wk_map.h"

#define WK_BUCKETS 8 /* the current UTC day and the 7 before it */

/* struct wk_state.flags */
enum {
    WK_ST_HAS_LAST = 1 << 0,  /* last_ts/last_kw hold an in-order reading */
    WK_ST_LAST_OK = 1 << 1,   /* that reading was within physical limits */
    WK_ST_ZERO_RUN = 1 << 2,  /* zero_since holds the start of a 0 kW run */
    WK_ST_STUCK_RUN = 1 << 3, /* stuck_since holds the start of a same-value run */
    WK_ST_HAS_DAYS = 1 << 4,  /* day/first_day/b[] are set */
    WK_ST_DIRTY = 1 << 7,     /* changed in this batch (never written to the changelog) */
};

/* struct wk_state.faults: active fault bits, one per fault (wk_rules' table order). */
enum {
    WK_FAULT_ZERO = 1 << 0,
    WK_FAULT_STUCK = 1 << 1,
    WK_FAULT_OVERLOAD = 1 << 2,
    WK_FAULT_LOWVAR = 1 << 3,
};

/* Welford per day: float keeps the state small; CV 0.01 needs ~4 digits. */
struct wk_bucket {
    float mean;
    float m2;
};

/* The day's reading count saturates here (one reading every 1.3 s); its mean and m2 then stay. */
#define WK_BUCKET_N_MAX UINT16_MAX

/*
 * Longest meter ID kept inside struct wk_state (a UUID fits). A longer one
 * is a heap copy whose pointer is stored in meter_id's first bytes
 * (wk_state_id): a union with a pointer would round the field up to 40.
 */
#define WK_ID_INLINE 36

#define WK_ROC_BANDS 4 /* rule 6's quarters of the UTC day, each with its own high */

struct wk_state {
    char meter_id[WK_ID_INLINE]; /* id_len <= WK_ID_INLINE; not NUL-terminated */
    uint8_t id_len;              /* use wk_state_id() for the bytes */
    uint8_t flags;
    uint8_t faults;
    int32_t partition; /* raw partition its records come from */
    /* Adaptive rate of change (rule 6): the in-limits readings its statistics include
     * (saturating); here it fills the hole before the 8-byte fields. */
    uint32_t roc_n;
    int64_t offset;  /* source offset of the last record included; -1 none */
    int64_t last_ts; /* ms, valid with WK_ST_HAS_LAST */
    double last_kw;
    int64_t zero_since;  /* ts of the first reading of the 0 kW run (WK_ST_ZERO_RUN) */
    int64_t stuck_since; /* ts where the run of one non-zero value began (WK_ST_STUCK_RUN) */
    int64_t over_since;  /* ts of the first reading of the over-max run */
    uint32_t over_n;     /* readings above max_kw in a row */
    int32_t day;         /* UTC day (days since epoch) of the newest bucket */
    int32_t first_day;   /* UTC day of the meter's first reading */
    int32_t lv_since;    /* first day of the window that raised low_variance */
    /* Rule 6, adaptive: the meter's robust level (an exponentially weighted median,
     * kW) and spread (the weighted mean absolute deviation from it, kW), which judge
     * drops; float: 7 digits are plenty for a comparison against spreads. */
    float roc_level, roc_spread;
    /* Rule 6, adaptive: per quarter of the UTC day, the meter's high (its running
     * 99th percentile), which judges spikes: log2(kW) in 1/1024 of a doubling plus
     * 32768 (0.07 % steps, 2^-32..2^32 kW); 0 = no reading in that quarter yet. */
    uint16_t roc_high[WK_ROC_BANDS];
    struct wk_bucket b[WK_BUCKETS]; /* b[d % 8] = day d, for day-7 .. day */
    uint16_t b_n[WK_BUCKETS];       /* readings in b[i] (saturating at WK_BUCKET_N_MAX) */
};

/* A longer ID's heap copy (id_len > WK_ID_INLINE). */
static inline char *wk_state_long_id(const struct wk_state *st)
{
    char *p;
    memcpy(&p, st->meter_id, sizeof p);
    return p;
}

static inline void wk_state_set_long_id(struct wk_state *st, char *p)
{
    memcpy(st->meter_id, &p, sizeof p);
}

/* The meter ID's id_len bytes (not NUL-terminated). */
static inline const char *wk_state_id(const struct wk_state *st)
{
    return st->id_len > WK_ID_INLINE ? wk_state_long_id(st) : st->meter_id;
}

#define WK_STATE_WIRE_LEN    188
#define WK_STATE_VERSION     3
#define WK_STATE_V2_WIRE_LEN 180 /* still read: see the changelog format above */
#define WK_STATE_V1_WIRE_LEN 168

struct wk_store {
    struct wk_state *v; /* dense; owned */
    uint32_t n, cap;
    struct wk_map map;
};

void wk_store_init(struct wk_store *s);
void wk_store_release(struct wk_store *s);

/* The state of a meter, or NULL. */
struct wk_state *wk_store_get(struct wk_store *s, const char *id, size_t len);
/*
 * The state of a meter, created empty (offset -1, in partition) if absent.
 * *created tells which (may be NULL).
 */
struct wk_state *wk_store_get_or_add(struct wk_store *s, const char *id, size_t len,
                                     int32_t partition, int *created);
/* Removes one meter; no-op if absent. */
void wk_store_del(struct wk_store *s, const char *id, size_t len);
/* Drops every meter of a partition (revoked); returns how many. */
uint32_t wk_store_drop_partition(struct wk_store *s, int32_t partition);

/*
 * Copies src's durable part (everything but the meter ID) into dst, a
 * state of the same meter in a store: how a decoded state is applied.
 */
void wk_state_assign(struct wk_state *dst, const struct wk_state *src);

/* Encodes st's durable part into out (WK_STATE_WIRE_LEN bytes, the current version). */
void wk_state_encode(const struct wk_state *st, unsigned char *out);
/*
 * Decodes a changelog value (version 3, or an older 2 or 1) for the
 * meter `id` into st. MF_OK, or MF_EDATA (wrong length or version) with the
 * reason in errbuf. An ID longer than
 * WK_ID_INLINE is not copied (its pointer is NULL, st owns nothing): apply
 * st with wk_state_assign.
 */
int wk_state_decode(const unsigned char *in, size_t len, const char *id, size_t idlen,
                    struct wk_state *st, char *errbuf, size_t errlen);

#endif
