/*
 * agg_record: the fields of a scored reading (DESIGN §3.2) the aggregator
 * uses, read from one Kafka record of meter.readings.validated.
 *
 * This is the aggregator's edge, so everything is checked: meter_id as
 * DESIGN §3.1 allows it, ts as RFC 3339 or whole epoch ms (nothing before
 * 1970), value_kw and energy_kwh finite and below 1e12 in magnitude (so no
 * sum can overflow to infinity), quality 0..100, tier a known name, src
 * three non-negative integers. A record failing any check cannot be fixed
 * by reading it again: the caller counts it and skips it. Fields the
 * aggregator does not use (flags, reasons, source_value...) are ignored.
 * Thread: any (no shared state).
 */
#ifndef AGG_RECORD_H
#define AGG_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mf_contract.h"
#include "mf_reading.h"

struct agg_record {
    char meter_id[MF_METER_ID_MAX + 1];
    int64_t ts_ms;
    double value_kw;
    double energy_kwh;
    int quality;
    enum mf_tier tier;
    bool interpolated;
    struct mf_src src;
};

/*
 * Parses one record value (len bytes, no NUL needed) into r. MF_OK, or
 * MF_EDATA with one line in errbuf ("missing field 'src'"). r is
 * undefined on failure.
 */
int agg_record_parse(const char *data, size_t len, struct agg_record *r, char *errbuf,
                     size_t errlen);

#endif
