/*
 * Encoder: turns a record into what an object holds (prepare, at put time)
 * and a list of those into the object's bytes (encode, at write time).
 */
package dev.meterflow.connect;

import java.io.IOException;
import java.util.List;

import org.apache.kafka.connect.sink.SinkRecord;

interface Encoder {
    /** A record made ready for its object, and the time that picks its directory. */
    final class Prepared {
        final Object item;
        final long timeMs;

        Prepared(Object item, long timeMs) {
            this.item = item;
            this.timeMs = timeMs;
        }
    }

    Prepared prepare(SinkRecord r);

    byte[] encode(List<Object> items) throws IOException;

    String contentType();
}
