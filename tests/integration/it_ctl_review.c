/*
 * it_ctl_review: meterctl's review commands against the real fleet: a real
 * broker, the real stream-worker, aggregator and source-sink, a throw-away
 * PostgreSQL (DESIGN §14).
 *
 *   review   readings quarantined by the worker (unit_ambiguous, over_limit)
 *            and DLQ records reach the stores; quarantine list / approve /
 *            reject, dlq list / replay, alerts list / ack; every refusal
 *            publishes and changes nothing; an approved reading keeps its
 *            unit and is counted once in the rollups, a replayed record too;
 *            the audit log holds exactly the actions that changed something.
 *   kill     an approval and a replay killed with SIGKILL at each of
 *            meterctl's crash points (the fault build, `make crash-build`),
 *            then run again: each record is in the raw topic once, the row
 *            says where, one audit row, and the rollups count it once.
 *            Skipped under the sanitizers (the release run covers it).
 */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

/* The end of ctl()'s arguments (a typed null: varargs). */
#define END ((const char *)NULL)

#define NKILL 6 /* readings / DLQ records kept for the kill walk (>= its points) */

static struct mf_pgtmp *pgt;
static struct mf_broker *broker;
static struct mf_proc *wk, *agg, *ss;
static PGconn *pg;
static int64_t t0; /* the first reading's time: a minute 50 minutes ago */

static void sql(const char *q)
{
    PGresult *r = PQexec(pg, q);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        mf_die("%s: %s", q, PQerrorMessage(pg));
    PQclear(r);
}

static double num(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static double num(const char *fmt, ...)
{
    char q[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    PGresult *r = PQexec(pg, q);
    double v = NAN;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQerrorMessage(pg));
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtod(PQgetvalue(r, 0, 0), NULL);
    PQclear(r);
    return v;
}

static void wait_num(double want, int timeout_ms, const char *q)
{
    double got = NAN;
    for (int waited = 0; waited < timeout_ms; waited += 250) {
        if ((got = num("%s", q)) == want)
            return;
        usleep(250000);
    }
    fail_msg("waited %d ms for %s = %g, got %g", timeout_ms, q, want, got);
}

static struct mf_proc *start(const char *prog, const char *const *extra)
{
    static char env[10][320];
    const char *e[11];
    size_t n = 0;
    unsigned port = mf_free_port();
    snprintf(env[n++], sizeof env[0], "KAFKA_BROKERS=%s", broker->bootstrap);
    snprintf(env[n++], sizeof env[0], "PG_DSN=%s", pgt->dsn);
    snprintf(env[n++], sizeof env[0], "METRICS_ADDR=127.0.0.1:%u", port);
    snprintf(env[n++], sizeof env[0], "KAFKA_SESSION_TIMEOUT_MS=6000");
    snprintf(env[n++], sizeof env[0], "LOG_LEVEL=warn");
    for (size_t k = 0; extra && extra[k]; k++)
        snprintf(env[n++], sizeof env[0], "%s", extra[k]);
    for (size_t k = 0; k < n; k++)
        e[k] = env[k];
    e[n] = NULL;
    struct mf_proc *p = mf_proc_start(prog, NULL, e);
    if (mf_wait_http_ok(port, "/healthz", 60000) != 0)
        mf_die("%s did not come up", prog);
    return p;
}

/* Runs meterctl (bin: NULL = the release one) with args; returns its exit status. */
static int ctl(const char *bin, const char *crash_at, char *out, size_t outlen, ...)
{
    const char *args[24];
    size_t n = 0;
    va_list ap;
    va_start(ap, outlen);
    for (const char *s; (s = va_arg(ap, const char *)) && n < 23;)
        args[n++] = s;
    va_end(ap);
    args[n] = NULL;
    char e0[320], e1[320], e2[160];
    snprintf(e0, sizeof e0, "KAFKA_BROKERS=%s", broker->bootstrap);
    snprintf(e1, sizeof e1, "PG_DSN=%s", pgt->dsn);
    snprintf(e2, sizeof e2, "MF_CRASH_AT=%s", crash_at ? crash_at : "");
    const char *env[] = {
        e0, e1, "LOG_LEVEL=warn", "CTL_KAFKA_TIMEOUT_MS=20000", crash_at ? e2 : NULL, NULL};
    struct mf_proc *p = mf_proc_start(bin ? bin : "meterctl", args, env);
    char line[4096];
    size_t used = 0;
    if (out && outlen)
        out[0] = '\0';
    while (mf_proc_readline(p, line, sizeof line, 60000) == 0)
        if (out && used + strlen(line) + 2 < outlen)
            used += (size_t)snprintf(out + used, outlen - used, "%s\n", line);
    int st = mf_proc_wait(p, 60000);
    mf_proc_stop(p, 1000);
    return st;
}

/* Records of the raw topic whose header `name` is `value`; *offset set to the last one's. */
/* Records of the raw topic whose header name is value, in one read (ends after 1.5 s idle). */
static int raw_read(const char *name, const char *value, int64_t *offset)
{
    struct mf_recs r = {0};
    int n = 0;
    mf_kafka_read_topic(broker->bootstrap, "meter.readings.raw", -1, 1500, 15000, &r);
    for (size_t i = 0; i < r.n; i++) {
        const char *h = mf_rec_header(&r.v[i], name);
        if (h && strcmp(h, value) == 0) {
            n++;
            if (offset)
                *offset = r.v[i].offset;
        }
    }
    mf_recs_release(&r);
    return n;
}

/* The same where at least one is expected: a loaded machine may idle 1.5 s before the
 * first fetch, so read again until one shows (four reads at most). */
static int raw_with(const char *name, const char *value, int64_t *offset)
{
    int n = 0;
    for (int tries = 0; tries < 4 && n == 0; tries++)
        n = raw_read(name, value, offset);
    return n;
}

static void produce_reading(const char *meter, int minute, const char *value, const char *unit)
{
    char ts[MF_TIME_STRLEN], v[256];
    mf_time_format(t0 + minute * 60000LL, ts);
    snprintf(v, sizeof v, "{\"meter_id\":\"%s\",\"ts\":\"%s\",\"value\":%s%s%s%s}", meter, ts,
             value, unit ? ",\"unit\":\"" : "", unit ? unit : "", unit ? "\"" : "");
    const char *k[] = {meter}, *vv[] = {v};
    mf_kafka_produce(broker->bootstrap, "meter.readings.raw", k, vv, 1);
}

/* A DLQ record as the worker writes one for a processing failure: the bytes a valid reading. */
static void produce_dlq(const char *meter, int minute, int source_offset, const char *code)
{
    char ts[MF_TIME_STRLEN], v[256], off[48], c[64];
    mf_time_format(t0 + minute * 60000LL, ts);
    snprintf(v, sizeof v, "{\"meter_id\":\"%s\",\"ts\":\"%s\",\"value\":2.5,\"unit\":\"kW\"}",
             meter, ts);
    snprintf(off, sizeof off, "source.offset=%d", source_offset);
    snprintf(c, sizeof c, "error.code=%s", code);
    const char *h[] = {c,
                       "error.message=state unavailable",
                       "source.topic=meter.readings.raw",
                       "source.partition=0",
                       off,
                       "worker.id=w-test",
                       NULL};
    mf_kafka_produce_with_headers(broker->bootstrap, "meter.readings.dlq", meter, v, h);
}

static int setup(void **state)
{
    (void)state;
    pgt = mf_pgtmp_start();
    broker = mf_broker_start(1);
    pg = PQconnectdb(pgt->dsn);
    if (PQstatus(pg) != CONNECTION_OK)
        mf_die("%s", PQerrorMessage(pg));
    char out[256];
    if (ctl(NULL, NULL, out, sizeof out, "quarantine", "list", END) != 0) /* migrates */
        mf_die("meterctl quarantine list failed: %s", out);
    sql("INSERT INTO meters (meter_id, max_kw, interval_s, region) VALUES"
        " ('MTR-A', 20, 60, 'north'), ('MTR-B', 20, 60, 'north'), ('MTR-D', 20, 60, 'north'),"
        " ('MTR-K', 20, 60, 'north'), ('MTR-KD', 20, 60, 'north')");
    const char *wke[] = {"TS_CHECK=off", NULL};
    wk = start("stream-worker", wke);
    const char *agge[] = {"AGG_IDLE_FLUSH_S=1", "AGG_BATCH_MS=200", NULL};
    agg = start("aggregator", agge);
    const char *sse[] = {"SS_BATCH_MS=100", NULL};
    ss = start("source-sink", sse);

    t0 = (mf_now_ms() / 60000 - 50) * 60000;
    /* MTR-A: 4 readings without a unit, 10 <= value <= 1000: unit_ambiguous. */
    for (int i = 0; i < 4; i++)
        produce_reading("MTR-A", i, "500", NULL);
    /* MTR-B: 2 readings in kW over its max_kw 20: over_limit. */
    for (int i = 0; i < 2; i++)
        produce_reading("MTR-B", i, "30", "kW");
    /* MTR-K: the kill walk's readings. */
    for (int i = 0; i < NKILL; i++)
        produce_reading("MTR-K", i, "500", NULL);
    /* A malformed raw record: the worker's DLQ, parse_error. */
    const char *bk[] = {"MTR-C"}, *bv[] = {"{oops"};
    mf_kafka_produce(broker->bootstrap, "meter.readings.raw", bk, bv, 1);
    /* DLQ records to replay: 2 for the review test, NKILL for the walk. */
    for (int i = 0; i < 2; i++)
        produce_dlq("MTR-D", i, 9000 + i, "processing_failed");
    for (int i = 0; i < NKILL; i++)
        produce_dlq("MTR-KD", i, 9100 + i, "processing_failed");
    /* 2 not worth replaying: dismissed. */
    for (int i = 0; i < 2; i++)
        produce_dlq("MTR-X", i, 9200 + i, "stale_record");
    wait_num(4 + 2 + NKILL, 90000, "SELECT count(*) FROM quarantine_readings");
    wait_num(1 + 2 + NKILL + 2, 90000, "SELECT count(*) FROM dlq_records");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(mf_proc_stop(ss, 30000), 0);
    assert_int_equal(mf_proc_stop(agg, 30000), 0);
    assert_int_equal(mf_proc_stop(wk, 30000), 0);
    PQfinish(pg);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return 0;
}

/* Everything a refusal must leave alone: the stores' review columns, the audit log, the raw topic.
 */
static double fingerprint(void)
{
    return num("SELECT (SELECT count(*) FROM audit_log) * 1000000 + (SELECT count(*) FROM "
               "quarantine_readings WHERE status = 'pending' AND publish_from IS NULL) * 1000 + "
               "(SELECT count(*) FROM dlq_records WHERE status = 'pending' AND publish_from IS "
               "NULL) * 10 + (SELECT count(*) FROM alerts WHERE acked_at IS NOT NULL)");
}

static void test_review(void **state)
{
    (void)state;
    char out[8192], id[32], id2[32];

    /* list: by reason, by meter, --json. */
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "list", "--meter", "MTR-A",
                         "--reason", "unit_ambiguous", "--json", END),
                     0);
    assert_int_equal(out[0], '[');
    int listed = 0;
    for (const char *p = out; (p = strstr(p, "\"meter_id\":\"MTR-A\"")); p++)
        listed++;
    assert_int_equal(listed, 4);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "list", "--code", "parse_error", END),
                     0);
    assert_non_null(strstr(out, "{oops"));

    double before = fingerprint();
    int64_t raw_before = -1;
    int raw_n = raw_read("meter.override", "approve", &raw_before);
    snprintf(id, sizeof id, "%.0f",
             num("SELECT min(id) FROM quarantine_readings WHERE meter_id = 'MTR-A'"));
    /* Refusals: no --unit for a reading sent without one; a wrong --unit; no --why;
     * an unknown id; ids and filters; nothing published, nothing changed. */
    assert_int_equal(
        ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", id, "--why", "ok", END), 1);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", "--meter", "MTR-B",
                         "--unit", "W", "--why", "ok", END),
                     1);
    assert_int_equal(
        ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", id, "--unit", "W", END), 2);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", "999999", "--unit",
                         "W", "--why", "ok", END),
                     1);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", id, "--meter",
                         "MTR-A", "--why", "ok", END),
                     2);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", id, "--unit", "XW",
                         "--why", "ok", END),
                     2);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "replay", "--since",
                         "2024-01-01T00:00:00Z", "--why", "ok", END),
                     2);
    assert_true(fingerprint() == before);
    assert_int_equal(raw_read("meter.override", "approve", NULL), raw_n);

    /* approve MTR-A's unit-ambiguous readings in W (500 W = 0.5 kW), by filter. */
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", "--meter", "MTR-A",
                         "--reason", "unit_ambiguous", "--unit", "W", "--why",
                         "meter reports watts", "--actor", "ops-1", END),
                     0);
    assert_non_null(strstr(out, "approved reading"));
    /* MTR-B's over_limit readings by id: they keep their kW. */
    snprintf(id2, sizeof id2, "%.0f",
             num("SELECT min(id) FROM quarantine_readings WHERE meter_id = 'MTR-B'"));
    snprintf(id, sizeof id, "%.0f",
             num("SELECT max(id) FROM quarantine_readings WHERE meter_id = 'MTR-B'"));
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", id2, id, "--why",
                         "new breaker", "--actor", "ops-1", "--json", END),
                     0);
    assert_non_null(strstr(out, "\"ok\":true"));
    /* Approving again: not pending, refused, nothing published. */
    before = fingerprint();
    raw_n = raw_with("meter.override", "approve", NULL);
    assert_int_equal(raw_n, 6);
    assert_int_equal(
        ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", id, "--why", "ok", END), 1);
    assert_int_equal(raw_with("meter.override", "approve", NULL), raw_n);
    assert_true(fingerprint() == before);

    /* The rollups: each approved reading once, with its unit (0.5 kW; 30 kW). */
    wait_num(4, 90000,
             "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = 'MTR-A'");
    wait_num(2, 90000,
             "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = 'MTR-B'");
    assert_true(
        fabs(num("SELECT max(max_kw) FROM rollup_1m_stats WHERE meter_id = 'MTR-A'") - 0.5) < 1e-9);
    assert_true(fabs(num("SELECT max(max_kw) FROM rollup_1m_stats WHERE meter_id = 'MTR-B'") - 30) <
                1e-9);
    assert_true(num("SELECT count(*) FROM quarantine_readings WHERE status = 'approved' AND "
                    "decided_by = 'ops-1' AND publish_offset IS NOT NULL") == 6);
    assert_true(num("SELECT count(*) FROM quarantine_readings WHERE meter_id = 'MTR-A' AND "
                    "approved_unit = 'W' AND why = 'meter reports watts'") == 4);

    /* reject: a new unit-ambiguous reading of MTR-A, rejected for good. */
    produce_reading("MTR-A", 30, "700", NULL);
    wait_num(1, 60000,
             "SELECT count(*) FROM quarantine_readings WHERE meter_id = 'MTR-A' AND "
             "status = 'pending'");
    snprintf(id, sizeof id, "%.0f",
             num("SELECT id FROM quarantine_readings WHERE meter_id = 'MTR-A' AND status = "
                 "'pending'"));
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "reject", id, "--why",
                         "meter was on test bench", END),
                     0);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "quarantine", "approve", id, "--unit", "W",
                         "--why", "changed my mind", END),
                     1);

    /* dlq replay: a code nothing has is refused; MTR-D's 2 records by id, each once,
     * and into the rollups once. */
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "replay", "--code", "no_such_code",
                         "--why", "x", END),
                     1);
    snprintf(id, sizeof id, "%.0f", num("SELECT min(id) FROM dlq_records WHERE key = 'MTR-D'"));
    snprintf(id2, sizeof id2, "%.0f", num("SELECT max(id) FROM dlq_records WHERE key = 'MTR-D'"));
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "replay", id, id2, "--why",
                         "state store fixed", END),
                     0);
    assert_int_equal(raw_with("meter.replay.id", id, NULL), 1);
    assert_int_equal(raw_with("meter.replay.id", id2, NULL), 1);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "replay", id, "--why", "again", END),
                     1);
    assert_int_equal(raw_with("meter.replay.id", id, NULL), 1);
    wait_num(2, 90000,
             "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = 'MTR-D'");
    /* The worker's malformed record, fixed by hand: --value publishes the fix, once. */
    char fixed[256], ts20[MF_TIME_STRLEN];
    mf_time_format(t0 + 2 * 60000LL, ts20); /* the minute after MTR-D's last: no gap to fill */
    snprintf(fixed, sizeof fixed,
             "{\"meter_id\":\"MTR-D\",\"ts\":\"%s\",\"value\":2.5,\"unit\":\"kW\"}", ts20);
    snprintf(
        id, sizeof id, "%.0f",
        num("SELECT id FROM dlq_records WHERE error_code = 'parse_error' AND value = '{oops'"));
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "replay", id, id2, "--value", fixed,
                         "--why", "x", END),
                     2);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "replay", id, "--value", fixed,
                         "--why", "firmware sent a truncated record", END),
                     0);
    wait_num(3, 90000,
             "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = 'MTR-D'");
    assert_true(num("SELECT count(*) FROM audit_log WHERE action = 'dlq.replay' AND "
                    "detail->>'original' = '{oops' AND detail->>'fixed' LIKE '%%MTR-D%%'") == 1);

    /* alerts: one raised by hand on the topic, listed, acknowledged once. */
    char a[512], ts[MF_TIME_STRLEN];
    mf_time_format(t0, ts);
    snprintf(a, sizeof a,
             "{\"meter_id\":\"MTR-A\",\"type\":\"overload\",\"severity\":\"critical\","
             "\"state\":\"raised\",\"since\":\"%s\",\"ts\":\"%s\",\"detail\":{},"
             "\"src\":{\"p\":0,\"o\":1,\"i\":0}}",
             ts, ts);
    const char *ak[] = {"MTR-A"}, *av[] = {a};
    mf_kafka_produce(broker->bootstrap, "meter.alerts", ak, av, 1);
    wait_num(1, 60000, "SELECT count(*) FROM alerts WHERE meter_id = 'MTR-A'");
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "alerts", "list", "--meter", "MTR-A",
                         "--unacked", "--json", END),
                     0);
    assert_non_null(strstr(out, "\"type\":\"overload\""));
    snprintf(id, sizeof id, "%.0f", num("SELECT id FROM alerts WHERE meter_id = 'MTR-A'"));
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "alerts", "ack", id, "--why", "known", END),
                     0);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "alerts", "ack", id, END), 1);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "alerts", "ack", "424242", END), 1);

    /* dlq dismiss: no --why, a replayed id refused (nothing changed); then by --code,
     * final status rejected, listed as such, not pending; again, or a replay, refused. */
    snprintf(id, sizeof id, "%.0f", num("SELECT min(id) FROM dlq_records WHERE key = 'MTR-D'"));
    before = fingerprint();
    assert_int_equal(
        ctl(NULL, NULL, out, sizeof out, "dlq", "dismiss", "--code", "stale_record", END), 2);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "dismiss", id, "--why", "x", END), 1);
    assert_true(fingerprint() == before);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "dismiss", "--code", "stale_record",
                         "--why", "meter retired", "--actor", "ops-2", "--json", END),
                     0);
    assert_non_null(strstr(out, "\"dismissed\":2"));
    assert_int_equal(
        ctl(NULL, NULL, out, sizeof out, "dlq", "list", "--status", "rejected", "--json", END), 0);
    assert_non_null(strstr(out, "\"key\":\"MTR-X\""));
    assert_null(strstr(out, "MTR-D"));
    assert_true(num("SELECT count(*) FROM dlq_records WHERE key = 'MTR-X' AND status = "
                    "'rejected' AND decided_by = 'ops-2' AND why = 'meter retired'") == 2);
    snprintf(id, sizeof id, "%.0f", num("SELECT min(id) FROM dlq_records WHERE key = 'MTR-X'"));
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "dismiss", id, "--why", "x", END), 1);
    assert_int_equal(ctl(NULL, NULL, out, sizeof out, "dlq", "replay", id, "--why", "x", END), 1);
    assert_int_equal(raw_read("meter.replay.id", id, NULL), 0);

    /* The audit log: exactly the actions that changed something. */
    assert_true(num("SELECT count(*) FROM audit_log WHERE action = 'quarantine.approve'") == 6);
    assert_true(num("SELECT count(*) FROM audit_log WHERE action = 'quarantine.approve' AND "
                    "actor = 'ops-1' AND detail->>'recovered' = 'false'") == 6);
    assert_true(num("SELECT count(*) FROM audit_log WHERE action = 'quarantine.reject' AND why = "
                    "'meter was on test bench'") == 1);
    assert_true(num("SELECT count(*) FROM audit_log WHERE action = 'dlq.replay'") == 3);
    assert_true(num("SELECT count(*) FROM audit_log WHERE action = 'alerts.ack'") == 1);
    assert_true(num("SELECT count(*) FROM audit_log WHERE action = 'dlq.dismiss' AND "
                    "detail->>'error_code' = 'stale_record'") == 2);
    assert_true(num("SELECT count(*) FROM audit_log") == 13);
    /* Each audit row's offset is where its record is. */
    assert_true(num("SELECT count(*) FROM audit_log l JOIN quarantine_readings q ON l.target = "
                    "'quarantine_readings/' || q.id WHERE (l.detail->>'offset')::bigint = "
                    "q.publish_offset") == 6);
}

/* The kill walk: each point once for an approval and once for a replay. */
static void test_kill(void **state)
{
    (void)state;
    char bin[512], points[16][MF_CRASH_POINT_MAX], out[4096], at[MF_CRASH_POINT_MAX + 8], id[32];
    const char *sanitized = getenv("MF_SANITIZED");
    if (sanitized && strcmp(sanitized, "1") == 0) {
        skip(); /* the fault build is not sanitized: the release run walks it */
        return;
    }
    int np = mf_crash_walk_points("meterctl", bin, sizeof bin, points, 16);
    assert_true(np >= 4 && np <= NKILL);
    const struct {
        const char *meter, *table, *header, *group, *verb;
    } kinds[] = {
        {"MTR-K", "quarantine_readings", "meter.review.id", "quarantine", "approve"},
        {"MTR-KD", "dlq_records", "meter.replay.id", "dlq", "replay"},
    };
    for (size_t k = 0; k < MF_ARRAY_LEN(kinds); k++) {
        for (int j = 0; j < np; j++) {
            char q[256];
            snprintf(q, sizeof q, "SELECT id FROM %s WHERE %s = '%s' ORDER BY id OFFSET %d LIMIT 1",
                     kinds[k].table, k ? "key" : "meter_id", kinds[k].meter, j);
            snprintf(id, sizeof id, "%.0f", num("%s", q));
            snprintf(at, sizeof at, "%.*s:1", MF_CRASH_POINT_MAX - 1, points[j]);
            /* (replay has no --unit) */
            int st = k ? ctl(bin, at, out, sizeof out, kinds[k].group, kinds[k].verb, id, "--why",
                             "walk", END)
                       : ctl(bin, at, out, sizeof out, kinds[k].group, kinds[k].verb, id, "--unit",
                             "W", "--why", "walk", END);
            if (st != 128 + SIGKILL)
                fail_msg("%s %s %s at %s: status %d, not killed: %s", kinds[k].group, kinds[k].verb,
                         id, points[j], st, out);
            /* Run again, as an operator would; after the last point it is done already. */
            st = k ? ctl(NULL, NULL, out, sizeof out, kinds[k].group, kinds[k].verb, id, "--why",
                         "walk", END)
                   : ctl(NULL, NULL, out, sizeof out, kinds[k].group, kinds[k].verb, id, "--unit",
                         "W", "--why", "walk", END);
            int done_before = strstr(points[j], "recorded") != NULL;
            if (st != (done_before ? 1 : 0))
                fail_msg("rerun after %s: status %d: %s", points[j], st, out);
            int64_t off = -1;
            int n = raw_with(kinds[k].header, id, &off);
            if (n != 1)
                fail_msg("%s %s killed at %s: %d records in the raw topic, want 1", kinds[k].group,
                         id, points[j], n);
            assert_true(num("SELECT publish_offset FROM %s WHERE id = %s AND status <> 'pending'",
                            kinds[k].table, id) == (double)off);
            assert_true(num("SELECT count(*) FROM audit_log WHERE target = '%s/%s'", kinds[k].table,
                            id) == 1);
            printf("crash point %-26s %s %s %s: SIGKILL, run again (status %d): 1 record at offset "
                   "%lld, 1 audit row\n",
                   points[j], kinds[k].group, kinds[k].verb, id, st, (long long)off);
        }
    }
    printf("it_ctl_review: %d crash points walked for approve and for replay\n", np);
    /* Counted once downstream: np readings of each meter in the rollups, no more. */
    wait_num(np, 90000,
             "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = 'MTR-K'");
    wait_num(np, 90000,
             "SELECT coalesce(sum(count), 0) FROM rollup_1m_stats WHERE meter_id = 'MTR-KD'");
    struct mf_recs v = {0};
    int nk = 0;
    mf_kafka_read_topic(broker->bootstrap, "meter.readings.validated", -1, 1500, 30000, &v);
    for (size_t i = 0; i < v.n; i++)
        nk += v.v[i].key && strcmp(v.v[i].key, "MTR-K") == 0;
    mf_recs_release(&v);
    assert_int_equal(nk, np);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_review),
        cmocka_unit_test(test_kill),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
