/*
 * bench_wk: the stream-worker's figures (issue #3), printed one per line.
 *
 *   bench_wk inproc [records] [meters]   our own code alone: parse, rules,
 *                                        serialize (no Kafka); us/record
 *   bench_wk rss [meters]                peak RSS growth per meter of state
 *   bench_wk e2e [records] [meters]      one worker end to end on a real
 *                                        Apache Kafka broker (consume,
 *                                        rules, produce, changelog, commit),
 *                                        with the effectively-once protocol
 *                                        (WK_EOS=off) and with Kafka
 *                                        transactions (WK_EOS=on); then the
 *                                        ceiling: the same input and
 *                                        batches with no worker code
 *                                        (consume, copy each record to
 *                                        validated, flush, commit)
 *
 * e2e starts one broker (tools/kafka-local through the test harness: a
 * single KRaft node, its default 512 MB heap) and a throw-away PostgreSQL,
 * creates one set of the DESIGN §2 topics per run (mf-topics, real
 * policies: the changelog compacted) so that no run restores another's
 * state, and produces every run's input before any run starts: the broker
 * holds the same logs during each. Two warm-up runs (one without WK_EOS,
 * one with; a quarter of the records each, at most 500,000) go first and
 * are not reported: a fresh broker JVM spends its first tens of seconds
 * under load compiling (JIT; producing the inputs warms it too). Each run
 * times one stream-worker with the shipping batch settings
 * (WK_BATCH_MS=100, WK_BATCH_MAX=20000) from its group assignment until its
 * committed-batch counters cover every record, and reports where the
 * machine's CPU went meanwhile (bench_cpu.h: the broker's share by thread
 * role). Never a timed assertion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "mf_kafka.h"
#include "mf_wktest.h"
#include "bench_cpu.h"
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
    long resident = 0;
    char line[128];
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        /* statm: size resident shared ... (pages) */
        if (fgets(line, sizeof line, f)) {
            char *end;
            strtol(line, &end, 10);
            resident = strtol(end, NULL, 10);
        }
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
           records, meters, (double)ms * 1000.0 / (double)records,
           (double)records * 1000.0 / (double)(ms ? ms : 1), (double)out_bytes / (double)records);
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
           sizeof(struct wk_state), meters, after - before,
           (double)(after - before) * 1024.0 / (double)meters,
           (double)(after - before) / 1024.0 * 100000.0 / (double)meters);
    wk_proc_destroy(p);
    wk_config_release(&cfg);
}

/*
 * The topics of one run: DESIGN §2's names under a prefix, set in this
 * process's environment (the worker started next inherits them) and created
 * with their real policies by mf-topics.
 */
static void use_topics(struct wk_stack *s, const char *prefix)
{
    static const char *const vars[][2] = {
        {"TOPIC_RAW", T_RAW}, {"TOPIC_VALIDATED", T_VAL}, {"TOPIC_QUARANTINE", T_QUAR},
        {"TOPIC_DLQ", T_DLQ}, {"TOPIC_ALERTS", T_ALERT},  {"TOPIC_STATE", T_STATE},
    }; /* the rollup topics keep their names: no worker writes them */
    char name[256];
    for (size_t i = 0; i < MF_ARRAY_LEN(vars); i++) {
        snprintf(name, sizeof name, "%s%s", prefix, vars[i][1]);
        setenv(vars[i][0], name, 1);
    }
    const char *args[] = {"--bootstrap", s->broker->bootstrap, NULL};
    struct mf_proc *m = mf_proc_start("mf-topics", args, NULL);
    int st = mf_proc_wait(m, 60000);
    CHECK(st == 0, "mf-topics (prefix %s) exited %d", prefix, st);
    free(m);
}

/* Produces the input (records over meters) to topic with one producer, every record acked. */
static void produce_input(struct wk_stack *s, const char *topic, long records, long meters)
{
    char err[512];
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, s->broker->bootstrap,
                                              "bench-input", NULL, err, sizeof err);
    rd_kafka_t *rk = conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err) : NULL;
    CHECK(rk != NULL, "input producer: %s", err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    for (long i = 0; i < records; i++) {
        size_t len;
        const char *v = reading(i, meters, &len);
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)v, len,
                                v + 13, 10, NULL) == -1) /* key: the meter ID */
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
    }
    CHECK(rd_kafka_flush(rk, 120000) == RD_KAFKA_RESP_ERR_NO_ERROR, "input: flush timed out");
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* The broker JVM's pid, from tools/kafka-local's control channel. */
static int broker_pid(struct wk_stack *s)
{
    char line[64];
    CHECK(write(s->broker->proc->in_fd, "pid\n", 4) == 4, "kafka-local: no control channel");
    CHECK(mf_proc_readline(s->broker->proc, line, sizeof line, 10000) == 0, "kafka-local: no pid");
    return (int)strtol(line, NULL, 10);
}

/* The postmaster's pid (its backends are its children). */
static int pg_pid(struct wk_stack *s)
{
    char path[300], line[32] = "";
    snprintf(path, sizeof path, "%s/data/postmaster.pid", s->pg->dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    return (int)strtol(line, NULL, 10);
}

static int jvm, postmaster;
static struct wk_stack *live_stack;

/* A failed CHECK exits: the broker follows its parent by itself, PostgreSQL must be stopped. */
static void stop_live_stack(void)
{
    if (live_stack)
        stack_stop(live_stack);
}

/* One worker run over the topic set `name`, which holds `records` inputs; returns records/s. */
static double run_worker(struct wk_stack *s, const char *name, const char *eos, long records,
                         int report)
{
    char prefix[64], id[64], eos_env[32];
    snprintf(prefix, sizeof prefix, "bench-%s.", name);
    snprintf(id, sizeof id, "bench-%s", name);
    snprintf(eos_env, sizeof eos_env, "WK_EOS=%s", eos);
    use_topics(s, prefix);
    /* the shipping batch settings and registry refresh, not the test harness's */
    const char *extra[] = {"LOG_LEVEL=warn",        eos_env,
                           "WK_BATCH_MS=100",       "WK_BATCH_MAX=20000",
                           "REGISTRY_REFRESH_S=60", NULL};
    struct wk_proc_h *w = worker_start(s, id, extra, 1);
    struct bench_cpu cpu = {0};
    bench_cpu_watch(&cpu, "kafka", jvm, BENCH_CPU_JVM);
    bench_cpu_watch(&cpu, "stream-worker", w->proc->pid, BENCH_CPU_PLAIN);
    bench_cpu_watch(&cpu, "postgresql", postmaster, BENCH_CPU_TREE);
    bench_cpu_watch(&cpu, "bench_wk", (int)getpid(), BENCH_CPU_PLAIN);
    if (report)
        bench_cpu_begin(&cpu);
    int64_t t0 = mf_mono_ms();
    double done = 0;
    while ((done = worker_metric(w, "meterflow_worker_records_total{outcome=\"validated\"}")) <
               (double)records &&
           mf_mono_ms() - t0 < 900000)
        usleep(20000);
    int64_t ms = mf_mono_ms() - t0;
    double rate = done * 1000.0 / (double)(ms ? ms : 1);
    if (report) {
        char phase[96];
        printf("e2e_%s_records %ld\ne2e_%s_seconds %.2f\ne2e_%s_records_per_s %.0f\n", name,
               records, name, (double)ms / 1000.0, name, rate);
        snprintf(phase, sizeof phase, "worker WK_EOS=%s, %ld records", eos, records);
        bench_cpu_report(&cpu, phase, stdout);
        fflush(stdout);
    }
    CHECK(done >= records, "run %s: %.0f of %ld records in %.0f s", name, done, records,
          (double)ms / 1000.0);
    worker_stop(w);
    return rate;
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
 * The broker's share: a bare consumer and producer on the input of run
 * `name` (its raw topic, read again by another group) and the worker's
 * batch shape (100 ms / 20,000 records), each record copied to validated,
 * flush, synchronous commit. No parsing, rules, state or changelog: an
 * upper bound for e2e.
 */
static void ceiling(struct wk_stack *s, const char *name, long records)
{
    char raw[128], val[128];
    snprintf(raw, sizeof raw, "bench-%s.%s", name, T_RAW);
    snprintf(val, sizeof val, "bench-%s.%s", name, T_VAL);
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, s->broker->bootstrap);
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, s->broker->bootstrap);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, raw, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(c, t);
    rd_kafka_topic_partition_list_destroy(t);
    rd_kafka_topic_t *out = rd_kafka_topic_new(p, val, NULL);
    struct bench_cpu cpu = {0};
    bench_cpu_watch(&cpu, "kafka", jvm, BENCH_CPU_JVM);
    bench_cpu_watch(&cpu, "bench_wk (bare client)", (int)getpid(), BENCH_CPU_PLAIN);
    long done = 0;
    int64_t t0 = 0;
    while (done < records) {
        int64_t deadline = mf_mono_ms() + 100;
        long n = 0;
        while (n < 20000 && mf_mono_ms() < deadline) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 10);
            if (!m)
                continue;
            if (!m->err) {
                if (!t0) {
                    t0 = mf_mono_ms(); /* from the first record, like e2e's assignment */
                    bench_cpu_begin(&cpu);
                }
                while (rd_kafka_produce(out, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, m->payload,
                                        m->len, m->key, m->key_len, NULL) == -1)
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
           (double)ms / 1000.0, (double)done * 1000.0 / (double)(ms ? ms : 1));
    bench_cpu_report(&cpu, "bare consumer + producer, no worker code", stdout);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_topic_destroy(out);
    rd_kafka_destroy(p);
}

static void e2e(long records, long meters)
{
    static const char *const runs[] = {"warm-off", "warm-on", "off", "on"};
    struct wk_stack s;
    char desc[512], topic[128];
    long warm = records / 4 < 500000 ? records / 4 : 500000;
    stack_start(&s);
    live_stack = &s;
    atexit(stop_live_stack);
    jvm = broker_pid(&s);
    postmaster = pg_pid(&s);
    bench_broker_desc(jvm, desc, sizeof desc);
    printf("e2e_broker %s (tools/kafka-local, one broker for every run)\n", desc);
    sql(&s,
        "INSERT INTO meters (meter_id, interval_s) SELECT 'MTR-' || lpad(g::text, 6, '0'), "
        "60 FROM generate_series(0, %ld) g",
        meters - 1);
    /* Every run's input first: the worker then reads at its own pace, on the same logs. */
    for (size_t i = 0; i < MF_ARRAY_LEN(runs); i++) {
        snprintf(topic, sizeof topic, "bench-%s.", runs[i]);
        use_topics(&s, topic);
        snprintf(topic, sizeof topic, "bench-%s.%s", runs[i], T_RAW);
        produce_input(&s, topic, i < 2 ? warm : records, meters);
    }
    run_worker(&s, "warm-off", "off", warm, 0);
    run_worker(&s, "warm-on", "on", warm, 0);
    double off = run_worker(&s, "off", "off", records, 1);
    double on = run_worker(&s, "on", "on", records, 1);
    printf("e2e_meters %ld\ne2e_eos_cost_ratio %.2f (records/s without WK_EOS / with it)\n", meters,
           on > 0 ? off / on : 0.0);
    fflush(stdout);
    ceiling(&s, "off", records);
    live_stack = NULL;
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
        e2e(a ? a : 2000000, b ? b : 10000);
    else {
        fprintf(stderr, "usage: bench_wk inproc|rss|e2e [records|meters] [meters]\n");
        return 2;
    }
    return 0;
}
