/*
 * gw_items: routing by shape, the seed's AC meter shape, and the §11
 * records through common/mf_source.
 */
#include "gw_items.h"

#include <stdio.h>
#include <string.h>

#include "mf_source.h"
#include "mf_common.h"

/* Kind order: reading, grid, weather, vehicle. */
static const struct {
    enum mf_scope scope;
    const char *noun;
    int source; /* mf_source_kind, or -1 for readings */
} kinds[GW_KIND_COUNT] = {
    {MF_SCOPE_READINGS, "meter", -1},
    {MF_SCOPE_GRID, "feeder", MF_SRC_GRID},
    {MF_SCOPE_WEATHER, "station", MF_SRC_WEATHER},
    {MF_SCOPE_VEHICLES, "vehicle", MF_SRC_VEHICLE},
};

enum mf_scope gw_kind_scope(enum gw_kind k)
{
    return kinds[k].scope;
}

const char *gw_kind_noun(enum gw_kind k)
{
    return kinds[k].noun;
}

/*
 * The seed's AC meter item's names and the §3.1 names they become; the
 * snake_case forms are the seed's names spelt the other way.
 */
static const struct {
    const char *from, *to;
} ac_names[] = {
    {"meterId", "meter_id"},  {"kwhConsumedAc", "value"}, {"kwh_consumed_ac", "value"},
    {"voltage", "voltage_v"}, {"voltageV", "voltage_v"},  {"timestamp", "ts"},
};

/* (The first bytes compared first: most names differ there, and this runs per field.) */
static const char *ac_name(const char *name)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(ac_names); i++)
        if (name[0] == ac_names[i].from[0] && strcmp(name, ac_names[i].from) == 0)
            return ac_names[i].to;
    return name;
}

/*
 * A meter item: the seed's AC shape read as §3.1 (unit kWh), or a §3.1
 * reading as is. The seed's names are renamed in place for the reading
 * codec and put back before returning: the object is this request's own
 * parse, seen by no other thread, and no copy of it is made per item.
 */
static int decode_reading(const cJSON *obj, char *key, struct mf_buf *out, char *errbuf,
                          size_t errlen)
{
    struct mf_reading r;
    cJSON *o = (cJSON *)obj; /* renamed and restored below */
    char *saved[MF_READING_MAX_FIELDS + 1];
    size_t n = 0;
    int kwh = 0, unit = 0, rc = MF_EDATA;

    for (cJSON *c = o->child; c && n < MF_ARRAY_LEN(saved); c = c->next, n++) {
        const char *to = ac_name(c->string);
        saved[n] = c->string;
        kwh |= to != c->string && strcmp(to, "value") == 0;
        unit |= strcmp(c->string, "unit") == 0;
        c->string = (char *)to; /* a static name until restored */
    }
    if (kwh && unit) {
        snprintf(errbuf, errlen, "kwhConsumedAc is in kWh: no 'unit' beside it");
        goto out;
    }
    if (mf_reading_from_json(o, &r, errbuf, errlen) != MF_OK)
        goto out;
    if (kwh) {
        memcpy(r.unit_text, "kWh", 4);
        r.unit = MF_UNIT_KWH;
    }
    memcpy(key, r.meter_id, sizeof r.meter_id);
    rc = mf_reading_to_json(&r, out);
    if (rc != MF_OK)
        snprintf(errbuf, errlen, "reading too large to write");
out:
    n = 0;
    for (cJSON *c = o->child; c && n < MF_ARRAY_LEN(saved); c = c->next)
        c->string = saved[n++];
    return rc;
}

/* The kind obj's fields name, among the allowed ones; -1 if none. */
static int kind_of(const cJSON *obj, unsigned allowed)
{
    if (allowed && !(allowed & (allowed - 1))) { /* one kind: no routing */
        for (int k = 0; k < GW_KIND_COUNT; k++)
            if (allowed == GW_KIND_BIT(k))
                return k;
    }
    int s = mf_source_kind_of(obj);
    for (int k = 1; k < GW_KIND_COUNT; k++)
        if (s >= 0 && kinds[k].source == s)
            return (allowed & GW_KIND_BIT(k)) ? k : -1;
    if (cJSON_GetObjectItemCaseSensitive(obj, "meter_id") ||
        cJSON_GetObjectItemCaseSensitive(obj, "meterId"))
        return (allowed & GW_KIND_BIT(GW_KIND_READING)) ? GW_KIND_READING : -1;
    return -1;
}

int gw_item_decode(const cJSON *obj, unsigned allowed, enum gw_kind *kind,
                   char key[MF_METER_ID_MAX + 1], struct mf_buf *out, char *errbuf, size_t errlen)
{
    size_t mark = out->len;
    int k = kind_of(obj, allowed);

    if (k < 0) {
        snprintf(errbuf, errlen,
                 "cannot tell the item's kind: want one of meter_id, feeder_id, station_id, "
                 "vehicle_id (or meterId, feederId, stationId, vehicleId)");
        return MF_EDATA;
    }
    *kind = (enum gw_kind)k;
    int rc;
    if (k == GW_KIND_READING) {
        rc = decode_reading(obj, key, out, errbuf, errlen);
    } else {
        struct mf_source_rec r;
        rc = mf_source_from_json(obj, (enum mf_source_kind)kinds[k].source, &r, errbuf, errlen);
        if (rc == MF_OK) {
            memcpy(key, r.id, sizeof r.id);
            if ((rc = mf_source_to_json(&r, out)) != MF_OK)
                snprintf(errbuf, errlen, "record too large to write");
        }
    }
    if (rc != MF_OK)
        out->len = mark; /* a half-written record is not left behind */
    return rc;
}
