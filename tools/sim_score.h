/*
 * sim_score: how well the fleet saw the trouble that was injected.
 *
 * Reads the truth file (sim_truth), every alert on meter.alerts from the
 * beginning (its own consumer, no group, until each partition's end as it
 * was when scoring started), drops repeats by (meter_id, type, state, src)
 * (a worker killed between its outputs and its changelog repeats them with
 * the same src), and prints per alert type: injected, expected (by the
 * worker's own definition, see sim_truth), detected, missed and false
 * alarms (raised for a meter whose injected trouble does not lead to that
 * type). Reading-level checks compare the workers' flag and outcome
 * counters (their /metrics) with the injected counts. The faults a
 * rate-of-change rule exists for (glitch, unit slip, dropout, CT reversal,
 * spike, drop, negative) are scored per reading (sim_rscore) from the
 * validated and quarantine topics read back in full: detected, missed and
 * spike/drop flags on good readings per thousand. The aggregator's
 * neighborhood_correlation fault is scored apart (sim_cscore). Thread: main.
 */
#ifndef SIM_SCORE_H
#define SIM_SCORE_H

#include <stdbool.h>
#include <stdio.h>

struct sim_score_opts {
    const char *truth;   /* truth file (required) */
    const char *brokers; /* Kafka bootstrap (required) */
    const char *metrics; /* comma list of the workers' /metrics URLs, or NULL */
    const char
        *agg_metrics; /* the aggregator's /metrics (meters its correlation judged), or NULL */
    const char *topic_alerts; /* default meter.alerts */
    /* Scored readings, for the reading-level faults (sim_rscore); NULL: not scored. */
    const char *topic_validated, *topic_quarantine;
    int timeout_s; /* reading alerts gives up after this long */
    bool kv;       /* also print "key=value" lines for scripts */
};

/* Prints the score on out. 0, or 2 for a set-up error (message on stderr). */
int sim_score(const struct sim_score_opts *o, FILE *out);

#endif
