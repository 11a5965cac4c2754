/*
 * it_java_producer: meters with their own Kafka client. Readings produced
 * by Apache Kafka's own Java console producer (kafka.tools.ConsoleProducer
 * from the broker's jars, Java's default partitioner) land on the partition
 * the gateway picks for the same meter, and the stream-worker processes
 * them like any other: each meter's two readings (one through ingest-gw,
 * one from Java) come out validated, on that same partition, in order.
 */
#include <errno.h>

#include "mf_wktest.h"
#include "mf_kafka.h"

#define METERS 30

int main(void)
{
    struct wk_stack s;
    stack_start(&s);
    sql(&s,
        "INSERT INTO meters (meter_id, interval_s) SELECT 'J' || lpad(g::text, 3, '0'), 60 "
        "FROM generate_series(0, %d) g",
        METERS - 1);

    /* Minute 0 of every meter through the gateway. */
    unsigned gw_port = mf_free_port();
    char e_brokers[300], e_addr[64];
    snprintf(e_brokers, sizeof e_brokers, "KAFKA_BROKERS=%s", s.broker->bootstrap);
    snprintf(e_addr, sizeof e_addr, "HTTP_ADDR=127.0.0.1:%u", gw_port);
    const char *gw_env[] = {e_brokers, e_addr, "GW_AUTH=off", NULL};
    struct mf_proc *gw = mf_proc_start("ingest-gw", NULL, gw_env);
    CHECK(mf_wait_http_ok(gw_port, "/readyz", 60000) == 0, "ingest-gw not ready");
    char body[8192], url[128];
    size_t o = (size_t)snprintf(body, sizeof body, "[");
    for (int m = 0; m < METERS; m++)
        o += (size_t)snprintf(body + o, sizeof body - o,
                              "%s{\"meter_id\":\"J%03d\",\"ts\":\"2024-03-15T00:00:00Z\","
                              "\"value\":1.5,\"unit\":\"kW\"}",
                              m ? "," : "", m);
    snprintf(body + o, sizeof body - o, "]");
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/readings", gw_port);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    struct mf_http_resp r;
    CHECK(mf_http("POST", url, hdr, body, strlen(body), &r) == 0 && r.code == 202,
          "gateway answered %ld", r.code);
    mf_http_resp_release(&r);
    CHECK(mf_proc_stop(gw, 30000) == 0, "ingest-gw exit status");

    /* Minute 1 of every meter from Java: key|value lines on stdin. */
    char input[] = "/tmp/mf-java-input.XXXXXX";
    int fd = mkstemp(input);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    for (int m = 0; m < METERS; m++)
        dprintf(fd,
                "J%03d|{\"meter_id\":\"J%03d\",\"ts\":\"2024-03-15T00:01:00Z\",\"value\":1.6,"
                "\"unit\":\"kW\"}\n",
                m, m);
    close(fd);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "libs=$('%s/tools/kafka-fetch') && java -cp \"$libs/*\" "
             "-Dlog4j.configuration=file:/dev/null kafka.tools.ConsoleProducer "
             "--bootstrap-server %s --topic %s --producer-property acks=all "
             "--property parse.key=true --property 'key.separator=|' < %s >/dev/null 2>&1",
             getenv("MF_TOP") ? getenv("MF_TOP") : ".", s.broker->bootstrap, T_RAW, input);
    /* NOLINTNEXTLINE(cert-env33-c): the test runs Kafka's own console producer */
    int rc = system(cmd);
    unlink(input);
    CHECK(rc == 0, "the Java console producer failed (%d)", rc);

    /* Raw: both copies of each meter on one partition, the one murmur2 gives. */
    struct mf_recs raw = {0}, val = {0};
    read_all(&s, T_RAW, 2 * METERS, &raw);
    CHECK(raw.n == 2 * METERS, "raw holds %zu records, want %d", raw.n, 2 * METERS);
    for (int m = 0; m < METERS; m++) {
        char id[16];
        int32_t parts[2];
        int n = 0;
        snprintf(id, sizeof id, "J%03d", m);
        for (size_t i = 0; i < raw.n; i++)
            if (strcmp(raw.v[i].key, id) == 0 && n < 2)
                parts[n++] = raw.v[i].partition;
        CHECK(n == 2, "meter %s: %d raw records", id, n);
        CHECK(parts[0] == parts[1], "meter %s: gateway partition %d, Java partition %d", id,
              parts[0], parts[1]);
        CHECK(parts[0] == mf_kafka_partition_of(id, strlen(id), 12),
              "meter %s: partition %d is not murmur2's", id, parts[0]);
    }

    /* Processed like any other: two validated readings a meter, no gap, same partition. */
    struct wk_proc_h *w = worker_start(&s, "java", NULL, 1);
    struct verdict v = wait_all_outputs(&s, 2 * METERS, NULL);
    read_all(&s, T_VAL, 2 * METERS, &val);
    CHECK(val.n == 2 * METERS, "validated holds %zu, want %d", val.n, 2 * METERS);
    for (size_t i = 0; i < val.n; i++) {
        CHECK(strstr(val.v[i].value, "\"tier\":\"premium\"") != NULL, "not premium: %s",
              val.v[i].value);
        CHECK(val.v[i].partition == mf_kafka_partition_of(val.v[i].key, strlen(val.v[i].key), 12),
              "validated %s on partition %d", val.v[i].key, val.v[i].partition);
    }
    CHECK(worker_stop(w) == 0, "worker exit status");
    printf("it_java_producer: %d meters, gateway and Java console producer on the same "
           "partitions, %zu validated outputs\n",
           METERS, v.distinct);
    mf_recs_release(&raw);
    mf_recs_release(&val);
    stack_stop(&s);
    return 0;
}
