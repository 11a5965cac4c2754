/*
 * sim_hourly: what the fleet did with the readings, hour by hour of event
 * time (UTC), for the demo's quality picture: quarantined readings by
 * reason, flags on validated readings, alerts raised and cleared.
 *
 * Reads meter.readings.quarantine, meter.readings.validated and
 * meter.alerts back whole (sim_topic) and prints one line per hour and
 * series with a count, sorted by hour, then series:
 *
 *   2024-03-11T05:00:00.000Z quarantine:inactive_meter 45
 *
 * Series: `quarantine:<first reason>` (`quarantine:score` when the reading
 * has no reason and only its score, under 70, put it there);
 * `flag:<name>` for the validated readings that carry the flag, except
 * unit_converted and unit_inferred (the fleet's unit mix, on a fixed share
 * of the readings every hour, not trouble); `alert.raised:<type>` and
 * `alert.cleared:<type>`. Records are counted as read: a worker killed
 * between its outputs and its changelog repeats some (the demo kills
 * none). Thread: main.
 */
#ifndef SIM_HOURLY_H
#define SIM_HOURLY_H

#include <stdio.h>

struct sim_hourly_opts {
    const char *brokers;          /* Kafka bootstrap (required) */
    const char *topic_validated;  /* default meter.readings.validated */
    const char *topic_quarantine; /* default meter.readings.quarantine */
    const char *topic_alerts;     /* default meter.alerts */
    int timeout_s;                /* each topic's read gives up after this long */
};

/* Prints the counts on out. 0, or 2 for a set-up error (message on stderr). */
int sim_hourly(const struct sim_hourly_opts *o, FILE *out);

#endif
