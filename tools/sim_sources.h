/*
 * sim_sources: the other sources of the simulated fleet (DESIGN §11),
 * derived from the same seed as its meters:
 *   - a feeder per neighborhood, its 15-minute load the true load of its
 *     registered meters (as they report it per interval) plus 2-6 %
 *     technical losses; FDR-07 also carries an unregistered load (25 % on
 *     top) that the feeder balance must expose;
 *   - a weather station per region (a seasonal and daily temperature
 *     curve; WX-R1 goes through a heat wave above 35 °C on the range's
 *     second day) and, with a weather file, London's 2013 hours replayed
 *     onto the range as station LHR-DS;
 *   - electric vehicles charging at night at their charger meters: the
 *     charger's AC energy (the seed's meter shape) and the vehicle's DC
 *     energy at 85-95 % efficiency (EV-006's falls from 80 % to 70 %), both
 *     in one /v1/telemetry body.
 * Everything goes through the gateway (/v1/grid, /v1/weather,
 * /v1/telemetry). The truth (what the balance and the efficiencies should
 * show) is printed as key=value lines.
 */
#ifndef SIM_SOURCES_H
#define SIM_SOURCES_H

#include <stdio.h>

#include "sim_fleet.h"

struct sim_sources_opts {
    const char *gw_url;       /* http://host:port */
    const char *token;        /* may be NULL */
    const char *weather_file; /* the London hourly weather (.csv.gz), or NULL */
};

/* SQL for psql: feeders, stations, chargers, vehicles, meters.feeder_id. */
int sim_sources_registry(const struct sim_fleet *f, FILE *out);

/* Sends every source record through the gateway; prints the truth. 0 or 1. */
int sim_sources_run(const struct sim_fleet *f, const struct sim_sources_opts *o, FILE *out);

#endif
