/*
 * agg_daily: the daily analytics of DESIGN §13, run by the aggregator as
 * days close: peak hours (SQL, migration 042), quality_degradation (SQL,
 * 043) and the neighborhood_correlation fault (agg_corr), exactly once.
 *
 * Every AGG_DAILY_EVERY_S, on a PostgreSQL connection of its own (so a long
 * run never holds the batch connection), one member of the group at a time
 * (a transaction-level advisory lock; the others skip the round):
 *   1. the alerts a previous round wrote but did not see acknowledged are
 *      published to meter.alerts and deleted (analytics_alert_outbox);
 *   2. one transaction: the dirty local days (peak_days_dirty) that the
 *      watermark closed get their peaks, and every closed hour not judged
 *      yet its quality verdict (changes to the outbox);
 *   3. once per closed local day (FLEET_TZ), another transaction: each
 *      meter of a neighborhood judged over the 168 hours ending with that
 *      day, state changes to the outbox with r and the neighbours used;
 *   4. the outbox is published and deleted once acknowledged.
 * The watermark is the lowest of the consumed partitions' stored ones
 * (agg_partition_watermarks): a day is closed when it passed the day's end
 * everywhere. At start it writes FLEET_TZ and FLEET_HEMISPHERE to
 * fleet_settings; a changed FLEET_TZ recomputes every day's peaks.
 *
 * Thread: the rounds run on a thread of their own (agg_daily_start), so a
 * correlation round over many meters (seconds) never stalls consumption;
 * everything it shares with the main thread is in PostgreSQL. new and
 * destroy belong to the main thread; destroy cancels a round in progress
 * (its transaction rolls back; the next start does it again).
 */
#ifndef AGG_DAILY_H
#define AGG_DAILY_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

struct agg_daily_conf {
    const char *pg_dsn;
    const char *fleet_tz;
    const char *hemisphere; /* "north" or "south" */
    const char *topic_alerts;
    int64_t every_ms; /* 0: never */
};

struct agg_daily;

/* Registers its metrics (call with the program's other families). */
void agg_daily_metrics_init(void);

/* A runner over producer_conf (owned from here on, also on failure); NULL with errbuf. */
struct agg_daily *agg_daily_new(const struct agg_daily_conf *c, rd_kafka_conf_t *producer_conf,
                                char *errbuf, size_t errlen);
void agg_daily_destroy(struct agg_daily *d);

/* Starts the thread that runs a round every every_ms (none when 0). MF_OK or MF_EFATAL. */
int agg_daily_start(struct agg_daily *d, char *errbuf, size_t errlen);

/*
 * One round when due (now_ms: monotonic), on the caller's thread (the
 * thread's rounds, and bench_daily's; never both); MF_OK when nothing was due or the
 * round ended, else MF_ERETRY with errbuf (the next round retries; nothing
 * is half done: each step is its own transaction).
 */
int agg_daily_tick(struct agg_daily *d, int64_t now_ms, char *errbuf, size_t errlen);

/* Whether a round is due at now_ms (monotonic). */
int agg_daily_due(const struct agg_daily *d, int64_t now_ms);

#endif
