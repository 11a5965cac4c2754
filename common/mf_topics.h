/*
 * mf_topics: the topics of DESIGN §2, written once: default name, the
 * TOPIC_* variable that renames it, partition count and Kafka policy.
 * Read by the local brokers (the real one's topic creator, the mock) and
 * the deploy checks; the programs take their names through their config.
 * Thread: any (read-only data, getenv).
 */
#ifndef MF_TOPICS_H
#define MF_TOPICS_H

#include <stddef.h>

/* The default names (DESIGN §2); a TOPIC_* variable renames each. */
#define MF_TOPIC_RAW        "meter.readings.raw"
#define MF_TOPIC_VALIDATED  "meter.readings.validated"
#define MF_TOPIC_QUARANTINE "meter.readings.quarantine"
#define MF_TOPIC_DLQ        "meter.readings.dlq"
#define MF_TOPIC_ALERTS     "meter.alerts"
#define MF_TOPIC_STATE      "meter.state.changelog"
#define MF_TOPIC_ROLLUPS_1M "meter.rollups.1m"
#define MF_TOPIC_ROLLUPS_1H "meter.rollups.1h"
/* The other sources (DESIGN §11): not co-partitioned with the meters. */
#define MF_TOPIC_GRID     "grid.feeds"
#define MF_TOPIC_WEATHER  "weather.observations"
#define MF_TOPIC_VEHICLES "vehicle.telemetry"

struct mf_topic_spec {
    const char *env;  /* TOPIC_RAW ... */
    const char *name; /* the default name */
    int partitions;
    const char *cleanup;    /* "delete" or "compact" */
    long long retention_ms; /* -1 for compacted topics */
};

/* The §2 table, n entries. */
const struct mf_topic_spec *mf_topics(size_t *n);

/* The topic's name: $env when set and not empty, else the default. */
const char *mf_topic_name(const struct mf_topic_spec *t);

#endif
