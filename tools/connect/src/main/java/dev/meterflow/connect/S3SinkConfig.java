/*
 * S3SinkConfig: the connector's settings (deploy/connect/README.md explains
 * each one and why the deployed files set what they set).
 */
package dev.meterflow.connect;

import java.util.Map;

import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;

public final class S3SinkConfig extends AbstractConfig {
    public static final String BUCKET = "s3.bucket.name";
    public static final String REGION = "s3.region";
    public static final String ENDPOINT = "s3.endpoint";
    public static final String PATH_STYLE = "s3.path.style.access.enabled";
    public static final String FORMAT = "format";
    public static final String CODEC = "parquet.codec";
    public static final String JSONL_COMPRESSION = "jsonl.compression";
    public static final String TEMPLATE = "file.name.template";
    public static final String TIME_SOURCE = "timestamp.source";
    public static final String BLOCK = "block.records";

    public static final ConfigDef DEF = new ConfigDef()
            .define(BUCKET, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(),
                    Importance.HIGH, "The bucket every object goes to.")
            .define(REGION, Type.STRING, "us-east-1", Importance.MEDIUM,
                    "The bucket's region (any value for an S3-compatible server).")
            .define(ENDPOINT, Type.STRING, "", Importance.MEDIUM,
                    "The S3 endpoint URL; empty: AWS's endpoint for the region.")
            .define(PATH_STYLE, Type.BOOLEAN, false, Importance.MEDIUM,
                    "Path-style addressing (http://host/bucket/key) instead of virtual-host style.")
            .define(FORMAT, Type.STRING, "jsonl", ConfigDef.ValidString.in("jsonl", "parquet"),
                    Importance.HIGH, "jsonl: one JSON object per record and line (an envelope with the"
                            + " record's position); parquet: one row per record, the columns of the"
                            + " value's Connect schema (a flat struct).")
            .define(CODEC, Type.STRING, "snappy",
                    ConfigDef.ValidString.in("snappy", "gzip", "zstd", "uncompressed"), Importance.LOW,
                    "Parquet compression codec.")
            .define(JSONL_COMPRESSION, Type.STRING, "none", ConfigDef.ValidString.in("none", "gzip"),
                    Importance.LOW, "JSON lines compression: none, or gzip (one gzip member per object).")
            .define(TEMPLATE, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(),
                    Importance.HIGH, "Object key template: {{yyyy}} {{MM}} {{dd}} {{HH}} (UTC, from the"
                            + " record's time), {{topic}}, {{partition}}, {{start_offset}} (the offset of"
                            + " the object's first record, 20 digits). {{topic}}, {{partition}} and"
                            + " {{start_offset}} are required: they make a replay overwrite an object.")
            .define(TIME_SOURCE, Type.STRING, "record", Importance.MEDIUM,
                    "The time that picks the directory: 'record' (the Kafka record's timestamp) or"
                            + " 'field:NAME' (a value field: RFC 3339 text with any offset, epoch"
                            + " milliseconds, or a Connect Timestamp; a record without a usable one falls"
                            + " back to its Kafka timestamp).")
            .define(BLOCK, Type.LONG, 10000L, ConfigDef.Range.between(1L, 10_000_000L), Importance.MEDIUM,
                    "Offsets per block: the objects of a partition are cut at every multiple of this"
                            + " offset, so a replay after a crash rebuilds exactly the same objects.");

    public S3SinkConfig(Map<String, String> props) {
        super(DEF, props);
        String t = template();
        for (String v : new String[] {"{{topic}}", "{{partition}}", "{{start_offset}}"})
            if (!t.contains(v))
                throw new ConfigException(TEMPLATE, t, "must contain " + v);
        String src = timeSource();
        if (!src.equals("record") && !(src.startsWith("field:") && src.length() > 6))
            throw new ConfigException(TIME_SOURCE, src, "want 'record' or 'field:NAME'");
    }

    public String bucket() { return getString(BUCKET); }
    public String region() { return getString(REGION); }
    public String endpoint() { return getString(ENDPOINT).trim(); }
    public boolean pathStyle() { return getBoolean(PATH_STYLE); }
    public String format() { return getString(FORMAT); }
    public String codec() { return getString(CODEC); }
    public boolean gzip() { return getString(JSONL_COMPRESSION).equals("gzip"); }
    public String template() { return getString(TEMPLATE); }
    public String timeSource() { return getString(TIME_SOURCE); }
    public long blockRecords() { return getLong(BLOCK); }

    /** The value field the time comes from, or null for the record's timestamp. */
    public String timeField() {
        String s = timeSource();
        return s.startsWith("field:") ? s.substring(6) : null;
    }
}
