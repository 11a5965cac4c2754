/*
 * gw_items: one item of a /v1/grid, /v1/weather, /v1/vehicles or
 * /v1/telemetry body (a JSON object, from gw_body_parse_objects) to a
 * typed record: its kind, its key and its canonical JSON for the kind's
 * topic.
 *
 * /v1/telemetry routes each item by its shape (DESIGN §7): a key field
 * names the kind (meter_id, feeder_id, station_id, vehicle_id, or their
 * camelCase forms). A meter item in the seed's shape
 * ({meterId, kwhConsumedAc, voltage, timestamp}, or in snake_case) becomes
 * a §3.1 reading: value = kwhConsumedAc, unit kWh, voltage carried as
 * voltage_v; any other meter item is read as a §3.1 reading. Structure
 * only, as for readings: ranges are checked downstream (DLQ).
 * Thread: any.
 */
#ifndef GW_ITEMS_H
#define GW_ITEMS_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "mf_buf.h"
#include "mf_reading.h"
#include "mf_tokens.h"

/* The kinds, in the publisher's topic order. */
enum gw_kind { GW_KIND_READING, GW_KIND_GRID, GW_KIND_WEATHER, GW_KIND_VEHICLE, GW_KIND_COUNT };
#define GW_KIND_BIT(k) (1u << (k))
#define GW_KINDS_ALL   ((1u << GW_KIND_COUNT) - 1)

/* The token scope writing a kind needs. */
enum mf_scope gw_kind_scope(enum gw_kind k);
/* "meter", "feeder", "station", "vehicle": what a 403 names. */
const char *gw_kind_noun(enum gw_kind k);

/*
 * Decodes obj as one of the kinds in `allowed` (a single bit: that kind,
 * whatever its fields; several: routed by shape). On MF_OK sets *kind,
 * copies the key into key and appends the canonical JSON to out. On
 * MF_EDATA, errbuf says why and out is as it was.
 */
int gw_item_decode(const cJSON *obj, unsigned allowed, enum gw_kind *kind,
                   char key[MF_METER_ID_MAX + 1], struct mf_buf *out, char *errbuf, size_t errlen);

#endif
