/*
 * ParquetEncoder: one Parquet file per object, one row per record, the
 * columns those of the value's Connect schema (a flat struct: the ApplySchema
 * transform, or any converter that carries a schema, gives it). Column types:
 * int8/16/32 -> INT32, int64 -> INT64, Timestamp -> INT64 TIMESTAMP(MILLIS,
 * UTC), Date -> INT32 DATE, float32 -> FLOAT, float64 -> DOUBLE, boolean ->
 * BOOLEAN, string -> BINARY (STRING), bytes -> BINARY; optional fields are
 * OPTIONAL columns, the others REQUIRED.
 */
package dev.meterflow.connect;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Date;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import com.github.luben.zstd.Zstd;

import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.parquet.bytes.BytesInput;
import org.apache.parquet.compression.CompressionCodecFactory;
import org.apache.parquet.compression.CompressionCodecFactory.BytesInputCompressor;
import org.apache.parquet.compression.CompressionCodecFactory.BytesInputDecompressor;
import org.apache.parquet.conf.PlainParquetConfiguration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.PositionOutputStream;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType.PrimitiveTypeName;
import org.apache.parquet.schema.Type.Repetition;
import org.apache.parquet.schema.Types;
import org.xerial.snappy.Snappy;

final class ParquetEncoder implements Encoder {
    private final CompressionCodecName codec;
    private final String timeField;
    private Schema lastSchema;
    private MessageType lastType;

    ParquetEncoder(String codec, String timeField) {
        this.codec = CompressionCodecName.fromConf(codec.equals("uncompressed") ? null : codec);
        this.timeField = timeField;
    }

    @Override
    public Prepared prepare(SinkRecord r) {
        if (!(r.value() instanceof Struct))
            throw new DataException("Parquet needs a schema: the value of record " + r.originalKafkaOffset()
                                    + " of " + r.originalTopic() + " is a " + r.value().getClass().getSimpleName()
                                    + ", not a Struct (apply one: the ApplySchema transform, see"
                                    + " deploy/connect/README.md)");
        Struct s = (Struct) r.value();
        s.validate();
        Long t = null;
        if (timeField != null && s.schema().field(timeField) != null)
            t = Times.of(s.get(timeField));
        return new Prepared(s, t != null ? t : Times.record(r));
    }

    @Override
    public byte[] encode(List<Object> items) throws IOException {
        Schema schema = ((Struct) items.get(0)).schema();
        MessageType type = messageType(schema);
        SimpleGroupFactory groups = new SimpleGroupFactory(type);
        Bytes file = new Bytes();
        try (ParquetWriter<Group> w = ExampleParquetWriter.builder(file)
                                              .withConf(new PlainParquetConfiguration())
                                              .withType(type)
                                              .withCompressionCodec(codec)
                                              .withCodecFactory(CODECS)
                                              .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
                                              .build()) {
            for (Object o : items) {
                Struct s = (Struct) o;
                if (!s.schema().equals(schema))
                    throw new DataException("the value schema changed inside one object (restart the connector"
                                            + " after a schema change)");
                w.write(row(groups.newGroup(), s));
            }
        }
        return file.buf.toByteArray();
    }

    @Override
    public String contentType() {
        return "application/vnd.apache.parquet";
    }

    private MessageType messageType(Schema schema) {
        if (schema == lastSchema)
            return lastType;
        if (schema.type() != Schema.Type.STRUCT)
            throw new DataException("Parquet needs a struct value schema, not " + schema.type());
        Types.MessageTypeBuilder b = Types.buildMessage();
        for (Field f : schema.fields()) {
            Schema fs = f.schema();
            Repetition rep = fs.isOptional() ? Repetition.OPTIONAL : Repetition.REQUIRED;
            String logical = fs.name();
            switch (fs.type()) {
            case INT8:
            case INT16:
            case INT32:
                if (org.apache.kafka.connect.data.Date.LOGICAL_NAME.equals(logical))
                    b.primitive(PrimitiveTypeName.INT32, rep).as(LogicalTypeAnnotation.dateType()).named(f.name());
                else
                    b.primitive(PrimitiveTypeName.INT32, rep).named(f.name());
                break;
            case INT64:
                if (Timestamp.LOGICAL_NAME.equals(logical))
                    b.primitive(PrimitiveTypeName.INT64, rep)
                            .as(LogicalTypeAnnotation.timestampType(true, LogicalTypeAnnotation.TimeUnit.MILLIS))
                            .named(f.name());
                else
                    b.primitive(PrimitiveTypeName.INT64, rep).named(f.name());
                break;
            case FLOAT32:
                b.primitive(PrimitiveTypeName.FLOAT, rep).named(f.name());
                break;
            case FLOAT64:
                b.primitive(PrimitiveTypeName.DOUBLE, rep).named(f.name());
                break;
            case BOOLEAN:
                b.primitive(PrimitiveTypeName.BOOLEAN, rep).named(f.name());
                break;
            case STRING:
                b.primitive(PrimitiveTypeName.BINARY, rep).as(LogicalTypeAnnotation.stringType()).named(f.name());
                break;
            case BYTES:
                b.primitive(PrimitiveTypeName.BINARY, rep).named(f.name());
                break;
            default:
                throw new DataException("Parquet: field " + f.name() + " is a " + fs.type()
                                        + "; only flat structs of primitive fields are written");
            }
        }
        String name = schema.name() != null ? schema.name().replaceAll("[^A-Za-z0-9_]", "_") : "record";
        lastType = b.named(name);
        lastSchema = schema;
        return lastType;
    }

    private static Group row(Group g, Struct s) {
        for (Field f : s.schema().fields()) {
            Object v = s.get(f);
            if (v == null)
                continue; // an optional column's null
            String n = f.name();
            switch (f.schema().type()) {
            case INT8:
            case INT16:
            case INT32:
                if (v instanceof Date) // Connect Date: days since the epoch
                    g.append(n, (int) (((Date) v).getTime() / 86_400_000L));
                else
                    g.append(n, ((Number) v).intValue());
                break;
            case INT64:
                g.append(n, v instanceof Date ? ((Date) v).getTime() : ((Number) v).longValue());
                break;
            case FLOAT32:
                g.append(n, ((Number) v).floatValue());
                break;
            case FLOAT64:
                g.append(n, ((Number) v).doubleValue());
                break;
            case BOOLEAN:
                g.append(n, (Boolean) v);
                break;
            case STRING:
                g.append(n, (String) v);
                break;
            case BYTES:
                g.append(n, Binary.fromConstantByteArray(v instanceof byte[] ? (byte[]) v
                                                                             : ((java.nio.ByteBuffer) v).array()));
                break;
            default:
                throw new DataException("Parquet: field " + n + " is a " + f.schema().type());
            }
        }
        return g;
    }

    /**
     * Page compression without Hadoop: parquet-hadoop's own CodecFactory goes
     * through Hadoop's codec classes, which would put Hadoop (tens of MB) in
     * the plugin directory for four lines of compression each. Parquet's
     * SNAPPY is raw Snappy blocks, GZIP a gzip stream, ZSTD a zstd frame.
     */
    private static final CompressionCodecFactory CODECS = new CompressionCodecFactory() {
        @Override
        public BytesInputCompressor getCompressor(CompressionCodecName name) {
            return new BytesInputCompressor() {
                @Override
                public BytesInput compress(BytesInput in) throws IOException {
                    switch (name) {
                    case UNCOMPRESSED:
                        return in;
                    case SNAPPY:
                        return BytesInput.from(Snappy.compress(in.toByteArray()));
                    case ZSTD:
                        return BytesInput.from(Zstd.compress(in.toByteArray(), 3));
                    case GZIP: {
                        ByteArrayOutputStream out = new ByteArrayOutputStream();
                        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
                            in.writeAllTo(z);
                        }
                        return BytesInput.from(out.toByteArray());
                    }
                    default:
                        throw new IOException("codec " + name + " is not supported");
                    }
                }

                @Override
                public CompressionCodecName getCodecName() {
                    return name;
                }

                @Override
                public void release() {}
            };
        }

        @Override
        public BytesInputDecompressor getDecompressor(CompressionCodecName name) {
            throw new UnsupportedOperationException("the S3 sink only writes Parquet");
        }

        @Override
        public void release() {}
    };

    /** A Parquet file in memory: one S3 PUT. */
    private static final class Bytes implements OutputFile {
        final ByteArrayOutputStream buf = new ByteArrayOutputStream(64 * 1024);

        @Override
        public PositionOutputStream create(long blockSizeHint) {
            return stream();
        }

        @Override
        public PositionOutputStream createOrOverwrite(long blockSizeHint) {
            buf.reset();
            return stream();
        }

        @Override
        public boolean supportsBlockSize() {
            return false;
        }

        @Override
        public long defaultBlockSize() {
            return 0;
        }

        private PositionOutputStream stream() {
            return new PositionOutputStream() {
                @Override
                public long getPos() {
                    return buf.size();
                }

                @Override
                public void write(int b) {
                    buf.write(b);
                }

                @Override
                public void write(byte[] b, int off, int len) {
                    buf.write(b, off, len);
                }
            };
        }
    }
}
