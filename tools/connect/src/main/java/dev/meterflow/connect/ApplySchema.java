/*
 * ApplySchema: gives a schemaless JSON value (a Map from the JsonConverter
 * with schemas.enable=false, or JSON text from the StringConverter) the
 * Connect schema written in schema.content, the same schema language and
 * setting name as Kafka 4.0's JsonConverter schema.content (KIP-1054), so
 * on a Kafka Connect >= 4.0 the transform can give way to the converter.
 *
 * Each schema field is taken from the value's field of the same name:
 * numbers to the integer or floating type (an integer field refuses a
 * fraction), text to string, an int64 Timestamp field from RFC 3339 text
 * with any offset or from epoch milliseconds, a missing or null field only
 * if the schema makes it optional. A field the schema does not name, or a
 * value that does not fit, fails the record (DataException): the producer
 * broke the contract, and the connector's errors.tolerance decides.
 *
 *   transforms=schema
 *   transforms.schema.type=dev.meterflow.connect.ApplySchema$Value
 *   transforms.schema.schema.content={"type":"struct","fields":[...]}
 */
package dev.meterflow.connect;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.connect.connector.ConnectRecord;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.transforms.Transformation;

public abstract class ApplySchema<R extends ConnectRecord<R>> implements Transformation<R> {
    public static final String SCHEMA_CONTENT = "schema.content";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ConfigDef DEF = new ConfigDef().define(
            SCHEMA_CONTENT, ConfigDef.Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(),
            ConfigDef.Importance.HIGH,
            "The value's schema in Connect's JSON schema language (as JsonConverter's envelope \"schema\").");

    private Schema schema;

    @Override
    public void configure(Map<String, ?> props) {
        Object content = props.get(SCHEMA_CONTENT);
        if (content == null)
            throw new ConfigException(SCHEMA_CONTENT, null, "required");
        try {
            JsonConverter jc = new JsonConverter();
            jc.configure(Map.of("schemas.enable", "true", "converter.type", "value"));
            schema = jc.asConnectSchema(JSON.readTree(content.toString()));
        } catch (IOException | RuntimeException e) {
            throw new ConfigException(SCHEMA_CONTENT, content, "not a Connect JSON schema: " + e.getMessage());
        }
        if (schema == null || schema.type() != Schema.Type.STRUCT)
            throw new ConfigException(SCHEMA_CONTENT, content, "want a struct schema");
    }

    @Override
    public R apply(R record) {
        Object v = value(record);
        if (v == null || v instanceof Struct)
            return record; // a tombstone, or a value that has a schema already
        Object tree = v;
        if (v instanceof String) {
            try {
                tree = JSON.readValue((String) v, Map.class);
            } catch (IOException e) {
                throw new DataException("ApplySchema: the value is not a JSON object: " + e.getMessage());
            }
        }
        if (!(tree instanceof Map))
            throw new DataException("ApplySchema: the value is a " + v.getClass().getSimpleName()
                                    + ", not a JSON object");
        return newRecord(record, schema, toStruct(schema, (Map<?, ?>) tree, ""));
    }

    private static Struct toStruct(Schema schema, Map<?, ?> map, String path) {
        Struct s = new Struct(schema);
        Set<Object> known = new HashSet<>();
        for (Field f : schema.fields()) {
            known.add(f.name());
            s.put(f, convert(f.schema(), map.get(f.name()), path + f.name()));
        }
        for (Object k : map.keySet())
            if (!known.contains(k))
                throw new DataException("ApplySchema: field '" + path + k + "' is not in the schema");
        return s;
    }

    private static Object convert(Schema fs, Object v, String path) {
        if (v == null) {
            if (fs.isOptional())
                return fs.defaultValue();
            throw new DataException("ApplySchema: field '" + path + "' is missing or null");
        }
        try {
            switch (fs.type()) {
            case INT8:
                return (byte) integral(v);
            case INT16:
                return (short) integral(v);
            case INT32:
                return Math.toIntExact(integral(v));
            case INT64:
                if (Timestamp.LOGICAL_NAME.equals(fs.name())) {
                    Long t = Times.of(v instanceof Number ? (Object) integral(v) : v);
                    if (t == null)
                        throw new DataException("not an RFC 3339 time");
                    return new Date(t);
                }
                return integral(v);
            case FLOAT32:
                return ((Number) v).floatValue();
            case FLOAT64:
                return ((Number) v).doubleValue();
            case BOOLEAN:
                return (Boolean) v;
            case STRING:
                return (String) v;
            case STRUCT:
                return toStruct(fs, (Map<?, ?>) v, path + ".");
            case ARRAY: {
                List<?> in = (List<?>) v;
                List<Object> out = new java.util.ArrayList<>(in.size());
                for (int i = 0; i < in.size(); i++)
                    out.add(convert(fs.valueSchema(), in.get(i), path + "[" + i + "]"));
                return out;
            }
            default:
                throw new DataException("type " + fs.type() + " is not supported");
            }
        } catch (ClassCastException | ArithmeticException | DataException e) {
            throw new DataException("ApplySchema: field '" + path + "' (" + v + ") does not fit "
                                    + fs.type() + ": " + e.getMessage());
        }
    }

    /** A whole number, refusing fractions and values beyond int64. */
    private static long integral(Object v) {
        if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte)
            return ((Number) v).longValue();
        if (v instanceof BigInteger)
            return ((BigInteger) v).longValueExact();
        if (v instanceof Double || v instanceof Float || v instanceof BigDecimal) {
            BigDecimal d = v instanceof BigDecimal ? (BigDecimal) v : BigDecimal.valueOf(((Number) v).doubleValue());
            return d.longValueExact();
        }
        throw new ClassCastException("not a number");
    }

    @Override
    public ConfigDef config() {
        return DEF;
    }

    @Override
    public void close() {}

    protected abstract Object value(R record);

    protected abstract R newRecord(R record, Schema schema, Object value);

    /** The transform of record values. */
    public static final class Value<R extends ConnectRecord<R>> extends ApplySchema<R> {
        @Override
        protected Object value(R record) {
            return record.value();
        }

        @Override
        protected R newRecord(R r, Schema schema, Object value) {
            return r.newRecord(r.topic(), r.kafkaPartition(), r.keySchema(), r.key(), schema, value,
                               r.timestamp(), r.headers());
        }
    }
}
