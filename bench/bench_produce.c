/*
 * bench_produce: the ceiling for ingest-gw's benchmark. A bare librdkafka
 * producer with the gateway's settings (mf_kafka_conf_new's producer:
 * idempotent, acks=all, murmur2_random; linger.ms=1 and a 400,000-record
 * queue as gw_publish sets them) sends COUNT records, waits for every
 * ack, and prints records per second.
 *
 *   bench_produce BOOTSTRAP TOPIC COUNT [--replay N]
 *
 * --replay N: the records are the newest N records of TOPIC, read back
 * first (key, value and headers as the gateway wrote them) and sent again
 * in turn until COUNT went out: the same records, byte for byte, that the
 * gateway benchmark just produced. Without it, synthetic readings of the
 * same shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "mf_time.h"
#include "mf_common.h"

static long failed;

struct rec {
    char *key, *val;
    size_t klen, vlen;
    rd_kafka_headers_t *hdrs;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        failed++;
}

/* The newest want records of topic (spread over its partitions); returns how many. */
static size_t read_newest(const char *bootstrap, const char *topic, size_t want, struct rec *out)
{
    char err[512];
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_CONSUMER, bootstrap, "bench-produce-replay",
                                              "bench-produce-replay", err, sizeof err);
    rd_kafka_t *rk = conf ? rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err) : NULL;
    if (!rk) {
        fprintf(stderr, "bench_produce: %s\n", err);
        exit(1);
    }
    int parts = mf_kafka_partition_count(rk, topic, 10000);
    if (parts <= 0) {
        fprintf(stderr, "bench_produce: no partitions for %s\n", topic);
        exit(1);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    size_t expect = 0, share = (want + (size_t)parts - 1) / (size_t)parts;
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000))
            continue;
        int64_t from = hi - (int64_t)share > lo ? hi - (int64_t)share : lo;
        expect += (size_t)(hi - from);
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = from;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t n = 0;
    int64_t deadline = mf_mono_ms() + 60000;
    while (n < expect && n < want && mf_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err && m->payload) {
            rd_kafka_headers_t *h = NULL;
            out[n].klen = m->key_len;
            out[n].vlen = m->len;
            out[n].key = mf_xmalloc(m->key_len + 1);
            out[n].val = mf_xmalloc(m->len + 1);
            memcpy(out[n].key, m->key ? m->key : "", m->key_len);
            memcpy(out[n].val, m->payload, m->len);
            out[n].hdrs = rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR
                              ? rd_kafka_headers_copy(h)
                              : NULL;
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* A synthetic reading i, the shape the gateway writes. */
static void synthetic(long i, struct rec *r)
{
    char key[32], val[200], ts[MF_TIME_STRLEN];
    int kn = snprintf(key, sizeof key, "BENCH-%05ld", i % 10000);
    mf_time_format(1710511200000 + i * 1000, ts);
    int vn = snprintf(val, sizeof val,
                      "{\"meter_id\":\"%s\",\"ts\":\"%s\",\"value\":%ld.5,\"unit\":\"W\","
                      "\"interval_s\":60}",
                      key, ts, i % 5000);
    r->key = mf_xstrdup(key);
    r->val = mf_xstrdup(val);
    r->klen = (size_t)kn;
    r->vlen = (size_t)vn;
    r->hdrs = rd_kafka_headers_new(2);
    rd_kafka_header_add(r->hdrs, "ingest.ts", -1, ts, -1);
    rd_kafka_header_add(r->hdrs, "ingest.source", -1, "bench", -1);
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 4 && !(argc == 6 && strcmp(argv[4], "--replay") == 0)) {
        fprintf(stderr, "usage: bench_produce BOOTSTRAP TOPIC COUNT [--replay N]\n");
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    size_t want = argc == 6 ? (size_t)strtol(argv[5], NULL, 10) : 10000;
    if (count <= 0 || want == 0) {
        fprintf(stderr, "bench_produce: COUNT and N must be positive\n");
        return 2;
    }
    struct rec *recs = mf_xcalloc(want, sizeof *recs);
    size_t nrecs;
    if (argc == 6) {
        nrecs = read_newest(argv[1], argv[2], want, recs);
        if (nrecs == 0) {
            fprintf(stderr, "bench_produce: %s holds no records to replay\n", argv[2]);
            return 1;
        }
    } else {
        for (nrecs = 0; nrecs < want; nrecs++)
            synthetic((long)nrecs, &recs[nrecs]);
    }
    size_t bytes = 0;
    for (size_t i = 0; i < nrecs; i++)
        bytes += recs[i].klen + recs[i].vlen;

    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, argv[1], "bench-produce", NULL,
                                              err, sizeof err);
    if (!conf) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_conf_set(conf, "linger.ms", "1", NULL, 0);
    rd_kafka_conf_set(conf, "queue.buffering.max.messages", "400000", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    int64_t t0 = mf_mono_ms();
    for (long i = 0; i < count; i++) {
        const struct rec *r = &recs[(size_t)i % nrecs];
        /* librdkafka owns the headers once a produce succeeds: each send gets a copy */
        rd_kafka_headers_t *h = r->hdrs ? rd_kafka_headers_copy(r->hdrs) : NULL;
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(
                    rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(r->key, r->klen),
                    RD_KAFKA_V_VALUE(r->val, r->vlen), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 1);
        if (e) {
            if (h)
                rd_kafka_headers_destroy(h);
            failed++;
        }
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        failed += rd_kafka_outq_len(rk); /* never acknowledged */
    double secs = (double)(mf_mono_ms() - t0) / 1000.0;
    printf("produced %ld records in %.2f s: %.0f records/s acknowledged (%ld failed; %zu %s "
           "records of %.0f bytes on average)\n",
           count, secs, (double)count / secs, failed, nrecs, argc == 6 ? "replayed" : "synthetic",
           (double)bytes / (double)nrecs);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    for (size_t i = 0; i < nrecs; i++) {
        free(recs[i].key);
        free(recs[i].val);
        if (recs[i].hdrs)
            rd_kafka_headers_destroy(recs[i].hdrs);
    }
    free(recs);
    return failed ? 1 : 0;
}
