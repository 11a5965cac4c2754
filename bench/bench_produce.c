/*
 * bench_produce: the ceiling for ingest-gw's benchmark. Produces the same
 * kind of readings straight to the broker with the gateway's producer
 * settings (idempotent, acks=all, murmur2_random), waits for every ack,
 * and prints records per second.
 *
 *   bench_produce BOOTSTRAP TOPIC COUNT
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "mf_time.h"
#include "mf_common.h"

static long failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        failed++;
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 4) {
        fprintf(stderr, "usage: bench_produce BOOTSTRAP TOPIC COUNT\n");
        return 2;
    }
    long count = strtol(argv[3], NULL, 10);
    rd_kafka_conf_t *conf =
        mf_kafka_conf_new(MF_KAFKA_PRODUCER, argv[1], "bench-produce", NULL, err, sizeof err);
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
        char key[32], val[160], ts[MF_TIME_STRLEN];
        int kn = snprintf(key, sizeof key, "BENCH-%05ld", i % 10000);
        mf_time_format(1710511200000 + i * 1000, ts);
        int vn = snprintf(val, sizeof val,
                          "{\"meter_id\":\"%s\",\"ts\":\"%s\",\"value\":%ld.5,\"unit\":\"W\","
                          "\"interval_s\":60}",
                          key, ts, i % 5000);
        while (rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key, (size_t)kn),
                                 RD_KAFKA_V_VALUE(val, (size_t)vn),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_HEADER("ingest.ts", ts, -1),
                                 RD_KAFKA_V_HEADER("ingest.source", "bench", -1),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 1);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double secs = (double)(mf_mono_ms() - t0) / 1000.0;
    printf("produced %ld records in %.2f s: %.0f records/s acknowledged (%ld failed)\n", count,
           secs, (double)count / secs, failed);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}
