/*
 * sim_gen: one meter's readings, in the order the meter sends them.
 *
 * Walks the meter's reading indices -hist..n-1: first its hourly history
 * (k < 0, clean energies before the range, see sim_params.history_h), then
 * reading k at start + k * interval, applying its trouble: values (stuck, zero, overload, spike,
 * drop, negative, glitch, unit slip, dropout, CT reversal), readings left out (gaps) and readings
 * sent twice or swapped (duplicate, out-of-order). Values are written in the meter's unit style
 * with a meter's resolution (kW to 3 decimals, W to 0.1, kWh to 6, Wh to 3). Thread: a generator
 * belongs to one thread; the fleet it reads is shared read-only.
 */
#ifndef SIM_GEN_H
#define SIM_GEN_H

#include <stdint.h>

#include "sim_fleet.h"

#include "mf_buf.h"

struct sim_reading {
    const struct sim_meter *m;
    int64_t k; /* reading index */
    int64_t ts_ms;
    double kw;          /* the value in kW before formatting */
    uint8_t style;      /* enum sim_style as sent: the meter's, or an energy one for history */
    int32_t interval_s; /* the interval the value covers: the meter's, or 3600 for history */
    char value[32];     /* the value as sent, in the meter's unit */
};

struct sim_gen {
    const struct sim_params *p;
    const struct sim_meter *m;
    int64_t k;  /* next index to look at */
    int qn, qi; /* readings queued by duplicate / out-of-order */
    struct sim_reading q[2];
};

void sim_gen_init(struct sim_gen *g, const struct sim_params *p, const struct sim_meter *m);

/* The next reading into *r: 1, or 0 when the meter has no more. */
int sim_gen_next(struct sim_gen *g, struct sim_reading *r);

/* The meter's value at reading k in kW, trouble applied (gaps and resends aside). */
double sim_gen_kw(const struct sim_params *p, const struct sim_meter *m, int64_t k);

/* The time of reading k (k < 0: history, hourly, the last a native interval before start). */
int64_t sim_gen_ts(const struct sim_params *p, const struct sim_meter *m, int64_t k);

/* Appends the reading as a JSON object (meter_id, ts, value, unit, interval_s for energy). */
int sim_reading_json(const struct sim_reading *r, struct mf_buf *out);

/* The CSV header matching sim_reading_csv, with its newline. */
extern const char sim_csv_header[];
/* Appends one CSV row "meter_id,ts,value,unit,interval_s\n" (empty unit when none). */
int sim_reading_csv(const struct sim_reading *r, struct mf_buf *out);

#endif
