/*
 * Times: the time of a record, from a value field or the Kafka timestamp.
 */
package dev.meterflow.connect;

import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Date;

import org.apache.kafka.connect.sink.SinkRecord;

final class Times {
    static final DateTimeFormatter UTC_MS =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    private Times() {}

    /** The record's Kafka timestamp (0 if it has none). */
    static long record(SinkRecord r) {
        Long t = r.timestamp();
        return t == null ? 0 : t;
    }

    /** A field's value as epoch ms: a Date, a whole number of ms, or RFC 3339 text; null otherwise. */
    static Long of(Object v) {
        if (v instanceof Date)
            return ((Date) v).getTime();
        if (v instanceof Long || v instanceof Integer)
            return ((Number) v).longValue();
        if (v instanceof String)
            return parse((String) v);
        return null;
    }

    /** RFC 3339 with any offset (2024-03-15T14:00:00.000Z, ...+02:00) as epoch ms, or null. */
    static Long parse(String s) {
        try {
            return OffsetDateTime.parse(s.trim(), DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant().toEpochMilli();
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
