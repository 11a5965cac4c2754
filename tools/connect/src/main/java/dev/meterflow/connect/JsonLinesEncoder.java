/*
 * JsonLinesEncoder: one JSON object per record and line, the record's
 * position around its value:
 *
 *   {"topic":"meter.readings.raw","partition":3,"offset":12345,
 *    "timestamp":"2024-03-15T14:00:01.234Z","key":"MTR-1",
 *    "headers":{"ingest.source":"gw"},"value":{...the reading...}}
 *
 * A value that is JSON (bytes from the ByteArrayConverter, text, or a
 * Connect value) is kept as it is, byte for byte when it has no line break;
 * bytes that are not JSON (a meter's own Kafka client can send anything)
 * are kept as "value_text" (UTF-8) or "value_base64", never dropped.
 */
package dev.meterflow.connect;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.sink.SinkRecord;

final class JsonLinesEncoder implements Encoder {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .enable(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS);
    private static final JsonFactory FACTORY = JSON.getFactory();

    private final String timeField;
    private final boolean gzip;
    private final JsonConverter converter = new JsonConverter();

    JsonLinesEncoder(String timeField, boolean gzip) {
        this.timeField = timeField;
        this.gzip = gzip;
        converter.configure(Map.of("schemas.enable", "false", "converter.type", "value"));
    }

    @Override
    public Prepared prepare(SinkRecord r) {
        byte[] raw = valueBytes(r);
        JsonNode tree = parse(raw);
        Long t = null;
        if (timeField != null)
            t = fieldTime(r.value(), tree);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length + 200);
            try (JsonGenerator g = FACTORY.createGenerator(out)) {
                g.writeStartObject();
                g.writeStringField("topic", r.originalTopic());
                g.writeNumberField("partition", r.originalKafkaPartition());
                g.writeNumberField("offset", r.originalKafkaOffset());
                if (r.timestamp() != null)
                    g.writeStringField("timestamp", Times.UTC_MS.format(Instant.ofEpochMilli(r.timestamp())));
                writeKey(g, r.key());
                if (!r.headers().isEmpty()) {
                    g.writeObjectFieldStart("headers");
                    for (Header h : r.headers())
                        g.writeStringField(h.key(), h.value() == null ? null : String.valueOf(h.value()));
                    g.writeEndObject();
                }
                if (tree != null) {
                    g.writeFieldName("value");
                    if (hasLineBreak(raw) || utf8(raw) == null)
                        g.writeTree(tree); // one line, UTF-8: re-encoded (numbers kept exact)
                    else
                        g.writeRawValue(new String(raw, StandardCharsets.UTF_8).trim());
                } else {
                    String text = utf8(raw);
                    if (text != null)
                        g.writeStringField("value_text", text);
                    else
                        g.writeStringField("value_base64", Base64.getEncoder().encodeToString(raw));
                }
                g.writeEndObject();
            }
            out.write('\n');
            return new Prepared(out.toByteArray(), t != null ? t : Times.record(r));
        } catch (IOException e) {
            throw new DataException("encoding record " + r.originalKafkaOffset() + " of " + r.originalTopic(), e);
        }
    }

    @Override
    public byte[] encode(List<Object> items) throws IOException {
        int n = 0;
        for (Object o : items)
            n += ((byte[]) o).length;
        ByteArrayOutputStream out = new ByteArrayOutputStream(gzip ? n / 4 + 64 : n);
        try (OutputStream w = gzip ? new GZIPOutputStream(out, 64 * 1024) : out) {
            for (Object o : items)
                w.write((byte[]) o);
        }
        return out.toByteArray();
    }

    @Override
    public String contentType() {
        return "application/x-ndjson";
    }

    private byte[] valueBytes(SinkRecord r) {
        Object v = r.value();
        if (v instanceof byte[])
            return (byte[]) v;
        if (v instanceof String)
            return ((String) v).getBytes(StandardCharsets.UTF_8);
        return converter.fromConnectData(r.topic(), r.valueSchema(), v);
    }

    /** The value as a JSON tree, or null if it is not exactly one JSON value. */
    private static JsonNode parse(byte[] raw) {
        if (raw.length == 0)
            return null;
        try {
            JsonNode n = JSON.readTree(raw);
            return n == null || n.isMissingNode() ? null : n;
        } catch (IOException e) {
            return null;
        }
    }

    private Long fieldTime(Object value, JsonNode tree) {
        if (value instanceof Struct) {
            Struct s = (Struct) value;
            return s.schema().field(timeField) == null ? null : Times.of(s.get(timeField));
        }
        if (value instanceof Map)
            return Times.of(((Map<?, ?>) value).get(timeField));
        if (tree == null || !tree.isObject())
            return null;
        JsonNode f = tree.get(timeField);
        if (f == null)
            return null;
        if (f.isTextual())
            return Times.parse(f.asText());
        if (f.isIntegralNumber() && f.canConvertToLong())
            return f.asLong();
        return null;
    }

    private static void writeKey(JsonGenerator g, Object key) throws IOException {
        if (key == null)
            return;
        String k = key instanceof byte[] ? utf8((byte[]) key) : String.valueOf(key);
        if (k == null)
            g.writeStringField("key_base64", Base64.getEncoder().encodeToString((byte[]) key));
        else
            g.writeStringField("key", k);
    }

    private static boolean hasLineBreak(byte[] b) {
        for (byte c : b)
            if (c == '\n' || c == '\r')
                return true;
        return false;
    }

    /** Strict UTF-8 decoding, or null. */
    private static String utf8(byte[] b) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b))
                    .toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
