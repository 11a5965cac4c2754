/*
 * S3SinkTask: buffers each partition's records by offset block and time
 * directory and writes one object per (partition, block, directory).
 *
 * Exactly-once objects without a transaction: a partition's offsets are cut
 * into blocks of block.records (offset / block.records). A block's records
 * that fall in one time directory make one object, named by the offset of
 * the first of them. preCommit writes every open block as it stands
 * (overwriting the objects it wrote before, which only ever grow) and
 * commits, for a partition with an open block, the offset of the block's
 * first record, not the consumer's position: after a crash, a restart or a
 * rebalance the block is read again from that record, so every object is
 * rebuilt under the same name with the same records (plus any newer ones)
 * and overwrites its earlier copy. A record lands in exactly one object.
 * The price: a partition's committed offset trails by up to one block.
 */
package dev.meterflow.connect;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.exception.SdkException;

public final class S3SinkTask extends SinkTask {
    private static final Logger log = LoggerFactory.getLogger(S3SinkTask.class);
    private static final long RETRY_MS = 5000;

    /** One time directory's records of an open block. */
    private static final class Bucket {
        final String keyPattern; // the object key with {{start_offset}} still in it
        final long start;
        final List<Object> items = new ArrayList<>();

        Bucket(String keyPattern, long start) {
            this.keyPattern = keyPattern;
            this.start = start;
        }

        String key() {
            return keyPattern.replace("{{start_offset}}", String.format("%020d", start));
        }
    }

    /** A partition's open block. */
    private static final class Block {
        final long number;
        final long firstOffset;
        final LinkedHashMap<String, Bucket> buckets = new LinkedHashMap<>();
        boolean dirty;

        Block(long number, long firstOffset) {
            this.number = number;
            this.firstOffset = firstOffset;
        }
    }

    private S3SinkConfig cfg;
    private S3Store store;
    private Encoder encoder;
    private final Map<TopicPartition, Block> blocks = new HashMap<>();
    /** The highest offset taken per partition: a batch delivered again after a failed put is skipped. */
    private final Map<TopicPartition, Long> taken = new HashMap<>();
    /** An encoding failure seen in preCommit, thrown by the next put. */
    private ConnectException fatal;

    @Override
    public String version() {
        return S3SinkConnector.VERSION;
    }

    @Override
    public void start(Map<String, String> props) {
        cfg = new S3SinkConfig(props);
        store = new S3Store(cfg);
        encoder = cfg.format().equals("parquet") ? new ParquetEncoder(cfg.codec(), cfg.timeField())
                                                 : new JsonLinesEncoder(cfg.timeField(), cfg.gzip());
        log.info("S3 sink task: {} to s3://{}/{} ({}, blocks of {} offsets)", cfg.format(), cfg.bucket(),
                 cfg.template(), cfg.endpoint().isEmpty() ? "AWS" : cfg.endpoint(), cfg.blockRecords());
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        if (fatal != null)
            throw fatal;
        for (SinkRecord r : records) {
            TopicPartition tp = new TopicPartition(r.originalTopic(), r.originalKafkaPartition());
            long offset = r.originalKafkaOffset();
            Long last = taken.get(tp);
            if (last != null && offset <= last)
                continue; // delivered again after a failed put: already buffered
            long number = offset / cfg.blockRecords();
            Block b = blocks.get(tp);
            if (b != null && b.number != number) {
                if (!write(tp, b)) {
                    if (fatal != null)
                        throw fatal;
                    context.timeout(RETRY_MS);
                    throw new RetriableException("writing a block of " + tp + " to S3 failed; retrying");
                }
                blocks.remove(tp);
                b = null;
            }
            if (b == null) {
                b = new Block(number, offset);
                blocks.put(tp, b);
            }
            taken.put(tp, offset);
            b.dirty = true;
            if (r.value() == null)
                continue; // a tombstone: nothing to archive
            Encoder.Prepared p = encoder.prepare(r);
            String pattern = keyPattern(tp, p.timeMs);
            Bucket k = b.buckets.get(pattern);
            if (k == null) {
                k = new Bucket(pattern, offset);
                b.buckets.put(pattern, k);
            }
            k.items.add(p.item);
        }
    }

    @Override
    public Map<TopicPartition, OffsetAndMetadata> preCommit(Map<TopicPartition, OffsetAndMetadata> current) {
        Map<TopicPartition, OffsetAndMetadata> out = new HashMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : current.entrySet()) {
            TopicPartition tp = e.getKey();
            Block b = blocks.get(tp);
            if (b == null) {
                out.put(tp, e.getValue()); // everything before the position is in S3
            } else if (!b.dirty || write(tp, b)) {
                out.put(tp, new OffsetAndMetadata(b.firstOffset));
            }
            // else: not committed this round; the next commit writes it again
        }
        return out;
    }

    @Override
    public void close(Collection<TopicPartition> partitions) {
        // preCommit ran just before (Connect commits on revocation); the
        // partitions' next owner reads their open blocks again.
        for (TopicPartition tp : partitions) {
            blocks.remove(tp);
            taken.remove(tp);
        }
    }

    @Override
    public void stop() {
        if (store != null)
            store.close();
    }

    /**
     * Writes every object of a block; false (logged) if S3 refused one, which
     * a later call retries. A record that cannot be encoded is no passing
     * trouble: it fails the task (at the next put, since Connect takes an
     * exception in preCommit for a failed commit and rewinds).
     */
    private boolean write(TopicPartition tp, Block b) {
        List<byte[]> bodies = new ArrayList<>();
        try {
            for (Bucket k : b.buckets.values())
                bodies.add(encoder.encode(k.items));
        } catch (Exception | LinkageError e) {
            fatal = new ConnectException("S3 sink: cannot encode block " + b.number + " of " + tp, e);
            log.error("S3 sink: cannot encode block {} of {}", b.number, tp, e);
            return false;
        }
        try {
            Iterator<byte[]> body = bodies.iterator();
            for (Bucket k : b.buckets.values())
                store.put(k.key(), body.next(), encoder.contentType());
            b.dirty = false;
            return true;
        } catch (SdkException e) {
            log.error("S3 sink: writing block {} of {} failed (retried later): {}", b.number, tp, e.toString());
            return false;
        }
    }

    private String keyPattern(TopicPartition tp, long timeMs) {
        ZonedDateTime t = Instant.ofEpochMilli(timeMs).atZone(ZoneOffset.UTC);
        return cfg.template()
                .replace("{{yyyy}}", String.format("%04d", t.getYear()))
                .replace("{{MM}}", String.format("%02d", t.getMonthValue()))
                .replace("{{dd}}", String.format("%02d", t.getDayOfMonth()))
                .replace("{{HH}}", String.format("%02d", t.getHour()))
                .replace("{{topic}}", tp.topic())
                .replace("{{partition}}", Integer.toString(tp.partition()));
    }
}
