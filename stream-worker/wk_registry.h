/*
 * wk_registry: the meter registry (PostgreSQL table `meters`, DESIGN §4
 * rule 3) as an immutable in-memory snapshot, and the thread that reloads
 * it every REGISTRY_REFRESH_S.
 *
 * A snapshot is built whole, then handed to the main thread, which swaps
 * it in between batches: the rules never see a half-loaded registry and
 * never wait for PostgreSQL. While PostgreSQL is unreachable the refresher
 * keeps trying and the worker keeps its last snapshot; the outage is logged
 * once when it starts and once when it ends.
 */
#ifndef WK_REGISTRY_H
#define WK_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_reading.h"

/* One registry row. */
struct wk_meter {
    char meter_id[MF_METER_ID_MAX + 1];
    uint8_t id_len;
    bool active;
    bool vacant;
    int32_t interval_s; /* 0 when the row has none */
    double max_kw;
};

struct wk_registry;

/* An empty snapshot. Never NULL. */
struct wk_registry *wk_registry_new(void);
/* NULL is a no-op. */
void wk_registry_destroy(struct wk_registry *reg);
/* Adds or replaces a row (copied). Thread: the snapshot's builder only. */
void wk_registry_put(struct wk_registry *reg, const struct wk_meter *m);
/* The row of a meter, or NULL (unknown_meter). Thread: any reader of a finished snapshot. */
const struct wk_meter *wk_registry_get(const struct wk_registry *reg, const char *id, size_t len);
size_t wk_registry_count(const struct wk_registry *reg);

/*
 * Loads the whole `meters` table over conn into a new snapshot (*out, the
 * caller owns it). NULL columns take the defaults: max_kw default_max_kw,
 * interval_s 0 (the reading's or the config's), vacant false, active true.
 * MF_OK, or MF_ERETRY/MF_EFATAL (mf_pg_classify) with errbuf set.
 */
int wk_registry_load(void *pgconn, double default_max_kw, struct wk_registry **out, char *errbuf,
                     size_t errlen);

/* ---------------------------------------------------------------- refresher */

struct wk_refresher;

/*
 * Starts the refresher thread: it connects with dsn (never logged), applies
 * the migrations once (mf_pg_migrate), then loads the registry now and
 * every interval_s. Thread: main; signals must already be blocked
 * (mf_signal_block). The dsn is copied.
 */
struct wk_refresher *wk_refresher_start(const char *dsn, int64_t interval_s, double default_max_kw);
/* Stops and joins the thread, frees any snapshot not taken. NULL is a no-op. */
void wk_refresher_stop(struct wk_refresher *r);
/*
 * The newest snapshot loaded since the last call (the caller owns it), or
 * NULL if none. Thread: main.
 */
struct wk_registry *wk_refresher_take(struct wk_refresher *r);
/* 1 once a migration failed for good (exit non-zero). Thread: any. */
int wk_refresher_fatal(struct wk_refresher *r);

#endif
