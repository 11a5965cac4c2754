/*
 * sim_fleet: the simulated fleet: its meters' registry rows, cadences, unit
 * styles, load scales, and the trouble injected into each.
 *
 * Everything follows from struct sim_params (seed, size, time range,
 * rates), so `meter-sim registry` and `meter-sim run` given the same
 * options describe the same meters. Each meter carries at most one kind of
 * trouble, placed in reading indices of its own cadence, so what the
 * worker should see is exact and the truth file can say it. Meters that
 * are not in the registry (unknown_meter) follow the registered ones in the
 * array. Thread: build on one thread; afterwards read-only, any thread.
 */
#ifndef SIM_FLEET_H
#define SIM_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim_load.h"

/* How a meter writes its value. */
enum sim_style { SIM_U_KW, SIM_U_W, SIM_U_KWH, SIM_U_WH, SIM_U_NONE, SIM_U_COUNT };
extern const char *const sim_style_names[SIM_U_COUNT]; /* "kW" ... "none" */

/* The trouble a meter carries (at most one). Rates are fractions of the registered meters. */
enum sim_trouble {
    SIM_T_NONE,
    SIM_T_STUCK,        /* the same non-zero value for --stuck-hours */
    SIM_T_ZERO,         /* 0 kW from the first reading to the end, not vacant */
    SIM_T_VACANT_ZERO,  /* a vacant meter reading 0: must not alarm */
    SIM_T_OVERLOAD,     /* over max_kw for 8 readings (meters with max_kw 8..15) */
    SIM_T_SPIKE,        /* one reading 8x the one before */
    SIM_T_DROP,         /* one reading 0.05x the one before */
    SIM_T_GAP_SHORT,    /* 1..3 h missing: interpolated */
    SIM_T_GAP_5H,       /* 5 h missing: missing_short */
    SIM_T_GAP_25H,      /* 25 h missing: missing_extended */
    SIM_T_NEGATIVE,     /* one reading negated */
    SIM_T_DUPLICATE,    /* one reading sent twice */
    SIM_T_OUT_OF_ORDER, /* one reading sent after its successor */
    SIM_T_GLITCH,       /* register glitch: one reading 10..100x the load */
    SIM_T_UNIT_SLIP,    /* one W value sent as kW: 1000x */
    SIM_T_DROPOUT,      /* 1..3 readings of 0 kW, then the load again */
    SIM_T_CT_REVERSAL,  /* CT clamp reversed: 6 h of negated readings */
    SIM_T_NIGHT_SHIFT,  /* a night-shift profile among its neighbours' (neighborhood_correlation) */
    SIM_T_WRONG_PREMISES, /* wired to premises of the other class (neighborhood_correlation) */
    SIM_T_INACTIVE,       /* registered with active = false */
    SIM_T_UNKNOWN,        /* not in the registry at all */
    SIM_T_COUNT
};

struct sim_trouble_info {
    const char *name; /* "stuck", as in --trouble and the truth file */
    double def_rate;  /* default fraction of meters; for unknown: a count */
    const char *help;
};
extern const struct sim_trouble_info sim_troubles[SIM_T_COUNT];

#define SIM_MAX_CADENCES 8

struct sim_params {
    uint64_t seed;
    uint32_t meters;          /* registered meters */
    int64_t start_ms, end_ms; /* the range; both ends are reading times */
    int ncad;
    int32_t cad_s[SIM_MAX_CADENCES];
    double cad_frac[SIM_MAX_CADENCES];
    double unit_frac[SIM_U_COUNT];
    double rate[SIM_T_COUNT]; /* fraction of meters; [SIM_T_UNKNOWN] is a count of meters */
    double vacant_frac;       /* registry: vacant meters */
    double low_max_frac;      /* registry: residential meters with max_kw 8..15 */
    double commercial_frac;
    double stuck_hours; /* length of an injected stuck run */
    uint32_t malformed; /* malformed records (straight to Kafka) */
    /* The worker's thresholds (its RULE_* defaults); the truth's expectations follow them. */
    int64_t zero_ms, stuck_ms, gap_short_ms, gap_long_ms;
    uint32_t overload_n;
    /*
     * History before the range (0: none): each meter of neighborhoods
     * N-01..N-history_hoods (0: every one), active and not vacant, first
     * sends history_h hourly energies (kWh, interval_s 3600; Wh for Wh
     * meters), the last one a native interval before start_ms so its own
     * cadence follows without a gap. Clean: the trouble is in the range.
     * It gives the neighborhood correlation its 168 hours cheaply.
     */
    int history_h;
    int history_hoods;
};

struct sim_meter {
    char id[16];  /* "MTR-00001", or "UNK-00001" for unknown ones */
    uint32_t idx; /* position in the fleet; the hash's meter number */
    bool registered, commercial, vacant, active;
    uint8_t style;   /* enum sim_style */
    uint8_t trouble; /* enum sim_trouble */
    int32_t interval_s;
    int neighborhood, region;
    double max_kw, scale;
    int64_t n;        /* readings in the range at this cadence (before trouble) */
    int64_t hist;     /* hourly history readings before the range (sim_params.history_h or 0) */
    int64_t ta, tlen; /* trouble: first reading index and length in readings */
    double tval;      /* trouble: the value (kW) it uses, if any */
};

struct sim_fleet {
    struct sim_params p;
    uint32_t n;          /* meters in m: registered first, then unknown ones */
    struct sim_meter *m; /* owned */
};

/* The defaults: 5000 meters, 2024-03-11T00:00:00Z for 48 h, the rates of sim_troubles. */
void sim_params_default(struct sim_params *p);

/*
 * Option lists: "kW=0.7,W=0.1", "60=0.02,900=0.48,3600=0.5",
 * "stuck=0.004,zero=0.003". MF_OK, or MF_EDATA with one line in errbuf.
 * A list replaces only the entries it names (cadences: the whole list).
 */
int sim_params_units(struct sim_params *p, const char *list, char *errbuf, size_t errlen);
int sim_params_cadences(struct sim_params *p, const char *list, char *errbuf, size_t errlen);
int sim_params_troubles(struct sim_params *p, const char *list, char *errbuf, size_t errlen);

/* Builds the fleet from p (copied). Never NULL. The caller destroys it. */
struct sim_fleet *sim_fleet_new(const struct sim_params *p);
void sim_fleet_destroy(struct sim_fleet *f);

/*
 * The registry as CSV with a header, in the column order of the meters
 * table (meter_id,class,max_kw,interval_s,vacant,neighborhood,region,active),
 * for `\copy meters FROM STDIN CSV HEADER`. MF_OK or MF_EFATAL (write error).
 */
int sim_fleet_write_registry(const struct sim_fleet *f, FILE *out);

/* The meter's load profile (its class's, unless injected as atypical). */
enum sim_profile sim_meter_profile(const struct sim_meter *m);

/* The earliest reading time of the run (start_ms, or its first history reading). */
int64_t sim_fleet_first_ms(const struct sim_fleet *f);

/* The meter with this ID, or NULL. Linear in the fleet size: for tests and tools. */
const struct sim_meter *sim_fleet_find(const struct sim_fleet *f, const char *id);

#endif
