/*
 * wk_proc: one raw record in, its outputs out (DESIGN §4 rule 1 and the
 * record's bookkeeping), without Kafka.
 *
 * For each record: skip it if its meter's state already includes its
 * offset (a repeat after a crash or rebalance); parse it (a failure goes to
 * the DLQ with the original key and bytes); look up the registry row and
 * the state; run wk_rules; serialize the interpolated readings, the scored
 * reading and the alerts, in that `src.i` order; then hand them to the
 * output callback. A processing error that is not the record's fault is
 * retried with the configured backoff (the state is put back before each
 * retry), then the record goes to the DLQ as processing_failed.
 *
 * The processor owns the per-meter state store and the registry snapshot
 * in use, and remembers which meters changed since the last
 * wk_proc_flush_states. Thread: one (the worker's main thread).
 */
#ifndef WK_PROC_H
#define WK_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "wk_registry.h"
#include "wk_rules.h"
#include "wk_state.h"

enum wk_topic { WK_T_VALIDATED, WK_T_QUARANTINE, WK_T_DLQ, WK_T_ALERTS, WK_T_STATE, WK_T_COUNT };

/* One output record. Pointers are valid only during the callback. */
struct wk_output {
    enum wk_topic topic;
    int32_t partition; /* -1: the producer's partitioner (by key); else explicit */
    const void *key;
    size_t keylen; /* key NULL with 0: no key */
    const void *value;
    size_t len;
    /* DLQ only: the headers' contents */
    const char *err_code;
    const char *err_msg;
    int32_t src_p;
    int64_t src_o;
};

/* Takes one output (copies what it keeps). MF_OK, or an error that stops the batch. */
typedef int wk_output_fn(void *opaque, const struct wk_output *o);

/* A test hook: returns non-zero to make the current attempt fail (a processing error). */
typedef int wk_fail_fn(void *opaque, const char *meter_id, int attempt);

/* Counters since the last wk_proc_take_counts (the worker adds them to the metrics). */
struct wk_counts {
    uint64_t outcome[WK_OUTCOME_COUNT]; /* outputs by enum wk_outcome */
    uint64_t flags[WK_F_COUNT];
    uint64_t alerts[WK_A_COUNT][2]; /* [type][raised=0, cleared=1] */
    uint64_t skipped;
    int64_t newest_ts; /* newest event time processed; 0 if none */
};

struct wk_proc;

/*
 * A processor with the rule thresholds rc (copied), the retry backoffs in
 * ms (copied; nbackoff may be 0), and the output callback. Never NULL.
 */
struct wk_proc *wk_proc_new(const struct wk_rules_cfg *rc, const int64_t *backoff_ms, int nbackoff,
                            wk_output_fn *out, void *opaque);
/* NULL is a no-op. Frees the store and the registry. */
void wk_proc_destroy(struct wk_proc *p);

/* Swaps in a registry snapshot (takes ownership; the old one is freed). */
void wk_proc_set_registry(struct wk_proc *p, struct wk_registry *reg);
/* 1 once a registry was set. */
int wk_proc_has_registry(const struct wk_proc *p);
size_t wk_proc_registry_count(const struct wk_proc *p);

/* Installs a test hook that fails attempts (NULL: none). */
void wk_proc_set_fail_hook(struct wk_proc *p, wk_fail_fn *fn, void *opaque);

/*
 * Processes one raw record (partition, offset, key, value) with the clock
 * reading now_ms. Returns MF_OK when the record's outputs were handed over
 * (or it was skipped), or the output callback's error.
 */
int wk_proc_record(struct wk_proc *p, int32_t partition, int64_t offset, const void *key,
                   size_t keylen, const void *value, size_t len, int64_t now_ms);

/*
 * The same for a record a human approved (its header meter.override=approve,
 * DESIGN §14): wk_rules_override instead of the rules, and the meter's
 * state neither read nor changed; a parse failure still goes to the DLQ.
 */
int wk_proc_record_override(struct wk_proc *p, int32_t partition, int64_t offset, const void *key,
                            size_t keylen, const void *value, size_t len, int64_t now_ms);

/*
 * Hands every meter state changed since the last call to out as a
 * WK_T_STATE output (key meter_id, explicit partition, wk_state_encode
 * value) and marks them clean. Returns MF_OK or the callback's error
 * (the remaining ones stay dirty).
 */
int wk_proc_flush_states(struct wk_proc *p);
/* Forgets the dirty list without writing (the states will be restored). */
void wk_proc_discard_dirty(struct wk_proc *p);

/* The state store (restore writes into it; revoke drops partitions from it). */
struct wk_store *wk_proc_store(struct wk_proc *p);

/* Copies the counters out and zeroes them. */
void wk_proc_take_counts(struct wk_proc *p, struct wk_counts *out);

#endif
