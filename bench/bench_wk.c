/*
 * bench_wk: the stream-worker's figures (issue #3), printed one per line.
 *
 *   bench_wk inproc [records] [meters]   our own code alone: parse, rules,
 *                                        serialize (no Kafka); us/record
 *   bench_wk rss [meters]                peak RSS growth per meter of state
 *   bench_wk e2e [records] [meters]      one worker end to end from the
 *                                        local broker (consume, rules,
 *                                        produce, changelog, commit); rec/s
 *   bench_wk ceiling [records] [meters]  the same broker and batches with no
 *                                        worker code: consume, copy each
 *                                        record to validated, flush, commit;
 *                                        what the broker leaves for us, rec/s
 *
 * e2e starts mf-localbroker and a throw-away PostgreSQL through the test
 * harness, produces the records first (sized under the broker's 5 MiB per
 * partition), then times one stream-worker from its group assignment until
 * its committed-batch counters cover every record. Never a timed assertion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "../tests/integration/it_wk_lib.h"
#include "wk_config.h"
#include "wk_proc.h"
#include "wk_registry.h"
#include "wk_rules.h"
#include "wk_state.h"

static size_t out_bytes;

static int count_out(void *opaque, const struct wk_output *o)
{
    (void)opaque;
    out_bytes += o->len;
    return MF_OK;
}

static char *reading(long i, long meters, size_t *len)
{
    static char buf[256];
    long m = i % meters, k = i / meters;
    int n = snprintf(buf, sizeof buf,
                     "{\"meter_id\":\"MTR-%06ld\",\"ts\":%lld,\"value\":%ld.%03ld,\"unit\":\"W\"}",
                     m, 1710460800000LL + (long long)k * 60000, 1000 + (k * 37 + m) % 900,
                     (k * 13) % 1000);
    *len = (size_t)n;
    return buf;
}

static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static struct wk_proc *new_proc(long meters, struct wk_config *cfg)
{
    char err[256];
    struct wk_rules_cfg rc;
    setenv("PG_DSN", "unused", 1);
    setenv("TS_CHECK", "off", 1);
    memset(cfg, 0, sizeof *cfg);
    if (wk_config_load(cfg, err, sizeof err) != MF_OK) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    wk_rules_cfg_from(&rc, cfg);
    struct wk_proc *p = wk_proc_new(&rc, NULL, 0, count_out, NULL);
    struct wk_registry *reg = wk_registry_new();
    for (long m = 0; m < meters; m++) {
        struct wk_meter row;
        memset(&row, 0, sizeof row);
        row.id_len = (uint8_t)snprintf(row.meter_id, sizeof row.meter_id, "MTR-%06ld", m);
        row.max_kw = 20;
        row.interval_s = 60;
        row.active = true;
        wk_registry_put(reg, &row);
    }
    wk_proc_set_registry(p, reg);
    return p;
}

static void inproc(long records, long meters)
{
    struct wk_config cfg;
    struct wk_proc *p = new_proc(meters, &cfg);
    /* The input is generated before the clock starts: only our code is timed. */
    char **in = mf_xcalloc((size_t)records, sizeof *in);
    size_t *lens = mf_xcalloc((size_t)records, sizeof *lens);
    for (long i = 0; i < records; i++)
        in[i] = mf_xstrdup(reading(i, meters, &lens[i]));
    int64_t t0 = mf_mono_ms();
    for (long i = 0; i < records; i++) {
        wk_proc_record(p, (int32_t)(i % 12), i, NULL, 0, in[i], lens[i], 0);
        if ((i + 1) % 20000 == 0)
            wk_proc_flush_states(p); /* the changelog encoding, once per batch */
    }
    int64_t ms = mf_mono_ms() - t0;
    printf("inproc_records %ld\ninproc_meters %ld\ninproc_us_per_record %.3f\n"
           "inproc_records_per_s %.0f\ninproc_output_bytes_per_record %.1f\n",
           records, meters, ms * 1000.0 / records, records * 1000.0 / (ms ? ms : 1),
           (double)out_bytes / records);
    for (long i = 0; i < records; i++)
        free(in[i]);
    free(in);
    free(lens);
    wk_proc_destroy(p);
    wk_config_release(&cfg);
}

static void rss(long meters)
{
    struct wk_config cfg;
    struct wk_proc *p = new_proc(meters, &cfg);
    long before = rss_kb();
    for (long i = 0; i < meters * 2; i++) { /* two readings each: full state */
        size_t len;
        char *r = reading(i, meters, &len);
        wk_proc_record(p, 0, i, NULL, 0, r, len, 0);
    }
    wk_proc_flush_states(p);
    long after = rss_kb();
    printf("state_sizeof_bytes %zu\nstate_meters %ld\nstate_rss_growth_kb %ld\n"
           "state_rss_bytes_per_meter %.1f\nstate_rss_mb_per_100k_meters %.1f\n",
           sizeof(struct wk_state), meters, after - before, (after - before) * 1024.0 / meters,
           (after - before) / 1024.0 * 100000.0 / meters);
    wk_proc_destroy(p);
    wk_config_release(&cfg);
}

/* Produces the e2e input (records over meters) to the raw topic. */
static void produce_input(struct wk_stack *s, long records, long meters)
{
    const long chunk = 50000;
    char **keys = mf_xcalloc((size_t)chunk, sizeof *keys), **vals = mf_xcalloc((size_t)chunk, sizeof *vals);
    for (long from = 0; from < records; from += chunk) {
        long n = records - from < chunk ? records - from : chunk;
        for (long i = 0; i < n; i++) {
            size_t len;
            vals[i] = mf_xstrdup(reading(from + i, meters, &len));
            keys[i] = mf_xstrndup(vals[i] + 13, 10);
        }
        produce_keyed(s, (const char *const *)keys, (const char *const *)vals, (size_t)n);
        for (long i = 0; i < n; i++) {
            free(keys[i]);
            free(vals[i]);
        }
    }
    free(keys);
    free(vals);
}

static void e2e(long records, long meters)
{
    struct wk_stack s;
    stack_start(&s);
    sql(&s, "INSERT INTO meters (meter_id, interval_s) SELECT 'MTR-' || lpad(g::text, 6, '0'), "
            "60 FROM generate_series(0, %ld) g",
        meters - 1);
    /* Produce everything first: the worker then reads at its own pace. */
    produce_input(&s, records, meters);
    const char *extra[] = {"LOG_LEVEL=warn", NULL};
    struct wk_proc_h *w = worker_start(&s, "bench", extra, 1);
    int64_t t0 = mf_mono_ms();
    double done = 0;
    while ((done = worker_metric(w, "meterflow_worker_records_total{outcome=\"validated\"}")) <
               records &&
           mf_mono_ms() - t0 < 600000)
        usleep(20000);
    int64_t ms = mf_mono_ms() - t0;
    printf("e2e_records %ld\ne2e_meters %ld\ne2e_seconds %.2f\ne2e_records_per_s %.0f\n", records,
           meters, ms / 1000.0, done * 1000.0 / (ms ? ms : 1));
    worker_stop(w);
    stack_stop(&s);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = mf_kafka_conf_new(type == RD_KAFKA_PRODUCER ? MF_KAFKA_PRODUCER
                                                                          : MF_KAFKA_CONSUMER,
                                              brokers, "ceiling", "bench-ceiling", err, sizeof err);
    if (conf && type == RD_KAFKA_PRODUCER && !getenv("KAFKA_MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION"))
        mf_kafka_conf_set(conf, "max.in.flight.requests.per.connection", "1", "in flight", err,
                          sizeof err); /* as the worker does */
    rd_kafka_t *rk = conf ? rd_kafka_new(type, conf, err, sizeof err) : NULL;
    if (!rk) {
        fprintf(stderr, "ceiling: %s\n", err);
        exit(1);
    }
    return rk;
}

/*
 * The broker's share: a bare consumer and producer on the e2e input and
 * batch shape (50 ms / 20,000 records, as the test harness runs the
 * worker), each record copied to validated, flush, synchronous commit. No
 * parsing, rules, state or changelog: an upper bound for e2e.
 */
static void ceiling(long records, long meters)
{
    struct wk_stack s;
    stack_start(&s);
    produce_input(&s, records, meters);
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, s.broker->bootstrap);
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, s.broker->bootstrap);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, T_RAW, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, t);
    rd_kafka_topic_partition_list_destroy(t);
    rd_kafka_topic_t *out = rd_kafka_topic_new(p, T_VAL, NULL);
    long done = 0;
    int64_t t0 = 0;
    while (done < records) {
        int64_t deadline = mf_mono_ms() + 50;
        long n = 0;
        while (n < 20000 && mf_mono_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 10);
            if (!m)
                continue;
            if (!m->err) {
                if (!t0)
                    t0 = mf_mono_ms(); /* from the first record, like e2e's assignment */
                while (rd_kafka_produce(out, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                                        m->payload, m->len, m->key, m->key_len, NULL) == -1)
                    rd_kafka_poll(p, 10);
                n++;
            }
            rd_kafka_message_destroy(m);
        }
        if (n) {
            rd_kafka_flush(p, 60000);
            rd_kafka_commit(c, NULL, 0);
            done += n;
        }
    }
    int64_t ms = mf_mono_ms() - t0;
    printf("ceiling_records %ld\nceiling_seconds %.2f\nceiling_records_per_s %.0f\n", done,
           ms / 1000.0, done * 1000.0 / (ms ? ms : 1));
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_topic_destroy(out);
    rd_kafka_destroy(p);
    stack_stop(&s);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "inproc";
    long a = argc > 2 ? strtol(argv[2], NULL, 10) : 0, b = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    if (strcmp(mode, "inproc") == 0)
        inproc(a ? a : 1000000, b ? b : 10000);
    else if (strcmp(mode, "rss") == 0)
        rss(a ? a : 100000);
    else if (strcmp(mode, "e2e") == 0)
        e2e(a ? a : 300000, b ? b : 10000);
    else if (strcmp(mode, "ceiling") == 0)
        ceiling(a ? a : 300000, b ? b : 10000);
    else {
        fprintf(stderr, "usage: bench_wk inproc|rss|e2e|ceiling [records|meters] [meters]\n");
        return 2;
    }
    return 0;
}
