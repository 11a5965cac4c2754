/*
 * mf_source: the other sources' records (DESIGN §11): grid feed readings,
 * weather observations, vehicle telemetry. One table of fields per kind
 * (canonical name, the aliases the gateway accepts, whether required, its
 * plausible range), one JSON codec, one range check.
 *
 * Two levels, like readings: mf_source_from_json checks structure only (an
 * id of the meter-id alphabet, a time, numbers that are finite numbers,
 * nothing twice) -- what the gateway refuses item by item. mf_source_check
 * checks meaning (ranges of §11, the grid feed's unit converted to kW as
 * DESIGN §4 rule 2 does for readings) -- what sends a record to the DLQ.
 * The wire form is always the canonical snake_case object with the time in
 * UTC with ms; unknown fields are not carried (the tables have no place for
 * them). Thread: any (no shared state).
 */
#ifndef MF_SOURCE_H
#define MF_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "mf_buf.h"
#include "mf_reading.h"

enum mf_source_kind { MF_SRC_GRID, MF_SRC_WEATHER, MF_SRC_VEHICLE, MF_SRC_COUNT };

/* The numeric fields of each kind: indexes into mf_source_rec.num. */
enum { MF_GRID_VALUE, MF_GRID_VOLTAGE, MF_GRID_FREQUENCY };
enum { MF_WX_TEMP, MF_WX_HUMIDITY, MF_WX_WIND, MF_WX_GHI };
enum { MF_EV_SOC, MF_EV_KWH_DC, MF_EV_BATTERY_TEMP };
#define MF_SRC_MAX_NUMS 4

struct mf_source_rec {
    enum mf_source_kind kind;
    char id[MF_METER_ID_MAX + 1]; /* feeder_id, station_id or vehicle_id */
    int64_t ts_ms;
    double num[MF_SRC_MAX_NUMS];
    unsigned has; /* bit i: num[i] was given (optional fields may be absent) */
    /* Grid feeds only (§11.1: units and interval_s as §3.1). */
    char unit_text[MF_UNIT_TEXT_MAX + 1]; /* as given; "" when absent */
    enum mf_unit unit;
    int32_t interval_s; /* 0 when absent */
};

/* "grid", "weather", "vehicle". */
const char *mf_source_kind_name(enum mf_source_kind k);
/* The key field's canonical name: "feeder_id", "station_id", "vehicle_id". */
const char *mf_source_id_field(enum mf_source_kind k);
/* The canonical name of numeric field i of kind k ("soc_pct"). */
const char *mf_source_num_name(enum mf_source_kind k, int i);

/*
 * The kind an object's fields say it is (its key field under any accepted
 * name: feeder_id/feederId, station_id/stationId, vehicle_id/vehicleId),
 * or -1 when it names none.
 */
int mf_source_kind_of(const cJSON *obj);

/*
 * Reads a record of kind k from a JSON object, accepting the canonical
 * names and their aliases (camelCase, the seed's `soc`, `batteryTemp`,
 * `timestamp`). MF_OK, or MF_EDATA with one line in errbuf naming the
 * field ("missing field 'soc_pct'", "duplicate field 'soc_pct' (also as
 * 'soc')").
 */
int mf_source_from_json(const cJSON *obj, enum mf_source_kind k, struct mf_source_rec *r,
                        char *errbuf, size_t errlen);

/* Parses a Kafka value (UTF-8 checked, one JSON object) as mf_source_from_json. */
int mf_source_parse(const char *data, size_t len, enum mf_source_kind k, struct mf_source_rec *r,
                    char *errbuf, size_t errlen);

/* Appends the canonical JSON object. MF_OK or MF_EDATA (the buffer's maximum). */
int mf_source_to_json(const struct mf_source_rec *r, struct mf_buf *out);

/*
 * The meaning checks of DESIGN §11 on a parsed record: each given number
 * within its plausible range, and (grid) the value in kW by the unit rule
 * of §4 (no unit: < 10 is kW, > 1000 is W, between is ambiguous; energy
 * units over interval_s, else default_interval_s). MF_OK with *value_kw
 * (grid; else 0), or MF_EDATA with *code ("out_of_range", "unit_unknown",
 * "unit_ambiguous") and a message naming the field.
 */
int mf_source_check(const struct mf_source_rec *r, int default_interval_s, double *value_kw,
                    const char **code, char *msg, size_t msglen);

#endif
