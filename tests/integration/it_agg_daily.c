/*
 * it_agg_daily: the daily analytics (DESIGN §13) of a real aggregator on
 * the local broker and a throw-away PostgreSQL. Nine days of hourly
 * readings ending two days before the current UTC midnight (the watermark
 * of a quiet stream is the wall clock, so the last closed days have no
 * load, as in a replay: the correlation judges the 168 hours ending with
 * the last day that has it) for three neighborhoods: N1 (8 meters, one on
 * a night shift), N2 (8 meters, one wired to the wrong premises: nothing
 * like the street), N3 (4 meters: too few to judge anyone). Region r2's
 * readings score 72 for three hours.
 *   - meter.alerts: neighborhood_correlation raised once for exactly the
 *     two atypical meters, with r < 0.3 and their neighbours in detail
 *     (N2-00, whose stuck_value fault is raised, is none);
 *     quality_degradation raised and cleared once for r2 at the hours an
 *     independent computation over the readings gives;
 *   - peak_hours: every closed day of every region and '*', the regional
 *     holiday excluding its day, the ranks equal to a computation here;
 *   - SIGKILL of the aggregator, restart: nothing raised again; then late
 *     readings that make the night-shift meter follow its street recompute
 *     its days and clear its alert, once, across a second SIGKILL;
 *   - a round stuck in PostgreSQL (its outbox locked by the test) stalls
 *     no batch (the rounds have a thread of their own), and SIGTERM then
 *     cancels it: the aggregator exits 0 at once.
 */
#include "mf_aggtest.h"

#define DAYS  9
#define HOURS (DAYS * 24)

struct meter {
    char id[16], hood[4], region[4];
    int kind; /* 0 typical, 1 night shift, 2 wrong premises */
};

static struct meter meters[20];
static size_t nmeters;

static void add(const char *hood, const char *region, int n, int odd_one, int kind)
{
    for (int k = 0; k < n; k++) {
        struct meter *m = &meters[nmeters++];
        snprintf(m->id, sizeof m->id, "%s-%02d", hood, k);
        snprintf(m->hood, sizeof m->hood, "%s", hood);
        snprintf(m->region, sizeof m->region, "%s", region);
        m->kind = k == odd_one ? kind : 0;
    }
}

/* The street's day (morning and evening peaks) or a night shift's, kW for an hour. */
static double kw(int kind, int hod)
{
    if (kind == 1)
        return 0.3 + (hod <= 5 ? 1.8 : 0) + 0.3 * itg_unit();
    if (kind == 2)
        return 2.0 * itg_unit();
    return 0.3 + (hod >= 17 && hod <= 21 ? 1.5 : 0) + (hod >= 7 && hod <= 9 ? 0.8 : 0) +
           0.4 * itg_unit();
}

/* Hour index (from the start) of r2's low-quality hours. */
static bool low_quality(int h)
{
    return h >= 6 * 24 + 10 && h < 6 * 24 + 13;
}

static struct itg_reading reading(const struct meter *m, int64_t start, int h, double v)
{
    struct itg_reading r = {0};
    snprintf(r.meter, sizeof r.meter, "%s", m->id);
    r.ts = start + (int64_t)h * ITG_HOUR_MS + 30 * ITG_MIN_MS;
    r.v = v;
    r.e = v; /* one reading per hour: its energy is the hour's */
    r.q = strcmp(m->region, "r2") == 0 && low_quality(h) ? 72 : 95;
    r.part = mf_kafka_partition_of(r.meter, strlen(r.meter), ITG_NPARTS);
    return r;
}

static int count_alerts(const struct mf_recs *recs, const char *meter, const char *type,
                        const char *state, char *first, size_t firstlen)
{
    int n = 0;
    for (size_t k = 0; k < recs->n; k++) {
        cJSON *j = cJSON_Parse(recs->v[k].value);
        const char *mid = cJSON_GetStringValue(cJSON_GetObjectItem(j, "meter_id"));
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "type"));
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(j, "state"));
        if (mid && t && st && (!meter || strcmp(mid, meter) == 0) && strcmp(t, type) == 0 &&
            strcmp(st, state) == 0) {
            if (!n && first)
                snprintf(first, firstlen, "%s", recs->v[k].value);
            n++;
        }
        cJSON_Delete(j);
    }
    return n;
}

/* Reads meter.alerts until want records or timeout_ms, and lists them. */
static void read_alerts(const char *bootstrap, long want, int timeout_ms, struct mf_recs *out)
{
    mf_recs_release(out);
    memset(out, 0, sizeof *out);
    mf_kafka_read_topic(bootstrap, "meter.alerts", want, timeout_ms, timeout_ms, out);
    for (size_t k = 0; k < out->n; k++)
        printf("# alert: %s\n", out->v[k].value);
}

static void wait_rounds(unsigned port, double more)
{
    const char *m = "meterflow_agg_daily_rounds_total";
    double r0 = itg_metric(port, m), r = r0;
    for (int k = 0; k < 600 && r < r0 + more; k++) {
        usleep(100000);
        r = itg_metric(port, m);
    }
    itg_check(r >= r0 + more, "the daily analytics ran %g more round(s)", r - r0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct mf_pgtmp *pgt = mf_pgtmp_start();
    struct mf_broker *broker = mf_broker_start(1);
    add("N1", "r1", 8, 7, 1);
    add("N2", "r2", 8, 6, 2);
    add("N3", "r2", 4, -1, 0);

    /* Ending two days before today: the last closed days have no load (as in a replay). */
    int64_t now = mf_now_ms(),
            start = now - now % (24 * ITG_HOUR_MS) - (DAYS + 2) * 24 * ITG_HOUR_MS;
    /* Phase 1, then phase 2's late readings: the night shift's street profile, 4x. */
    struct itg_set s = {mf_xcalloc(nmeters * HOURS + HOURS + nmeters, sizeof *s.v), 0};
    double e[20][HOURS];
    for (int h = 0; h < HOURS; h++)
        for (size_t i = 0; i < nmeters; i++) {
            e[i][h] = kw(meters[i].kind, h % 24);
            s.v[s.n++] = reading(&meters[i], start, h, e[i][h]);
        }
    size_t n1 = s.n;
    for (int h = 0; h < HOURS; h++) {
        s.v[s.n] = reading(&meters[7], start, h, 4 * kw(0, h % 24));
        s.v[s.n++].ts += 5 * ITG_MIN_MS; /* its own minute window */
    }
    size_t n2 = s.n;
    for (size_t i = 0; i < nmeters; i++) /* phase 3: the hour after the nine days */
        s.v[s.n++] = reading(&meters[i], start, HOURS, 1.0);
    itg_assign_src(&s);

    const char *const env[] = {"AGG_DAILY_EVERY_S=1", NULL};
    struct itg_agg agg = itg_start_agg(broker->bootstrap, pgt->dsn, env);
    PGconn *c = itg_pg(pgt->dsn);
    /* The registry and a holiday of r1 (four days ago), before any reading. */
    char sql[4096];
    size_t off = (size_t)snprintf(
        sql, sizeof sql, "INSERT INTO meters (meter_id, max_kw, neighborhood, region) VALUES ");
    for (size_t i = 0; i < nmeters; i++)
        off += (size_t)snprintf(sql + off, sizeof sql - off, "%s('%s', 20, '%s', '%s')",
                                i ? "," : "", meters[i].id, meters[i].hood, meters[i].region);
    snprintf(sql + off, sizeof sql - off,
             "; INSERT INTO holidays (day, region, name) VALUES"
             " ((now() AT TIME ZONE 'UTC')::date - 4, 'r1', 'Fete');"
             /* A worker's fault of N2-00, as source-sink stores meter.alerts: not a neighbour. */
             " INSERT INTO alerts (meter_id, type, severity, state, since)"
             " VALUES ('N2-00', 'stuck_value', 'warning', 'raised', now() - interval '3 days');"
             " SELECT 1");
    itg_check(itg_sql_num(&c, pgt->dsn, sql) == 1, "the registry: %zu meters, one holiday",
              nmeters);

    itg_produce(broker->bootstrap, s.v, 0, n1);
    itg_check(itg_wait_done(&c, pgt->dsn, (long long)n1, 120000) == 0,
              "phase 1: %zu readings in the rollups", n1);
    /* Every window closed, so every day: two more rounds have seen them all. */
    wait_rounds(agg.port, 2);

    /* The expected quality alerts, from the readings: r2's hourly average against 80. */
    int want_q_raised = 0, want_q_cleared = 0;
    bool low = false;
    for (int h = 0; h < HOURS; h++) {
        double q = 0;
        int n = 0;
        for (size_t i = 0; i < nmeters; i++)
            if (strcmp(meters[i].region, "r2") == 0) {
                q += reading(&meters[i], start, h, 0).q;
                n++;
            }
        bool now_low = q / n < 80;
        want_q_raised += now_low && !low;
        want_q_cleared += !now_low && low;
        low = now_low;
    }
    /* 2 correlation raises and the quality alerts. */
    struct mf_recs recs = {0};
    long nalerts = 2 + want_q_raised + want_q_cleared;
    read_alerts(broker->bootstrap, nalerts, 90000, &recs);
    char first[1024] = "";
    itg_check(count_alerts(&recs, NULL, "neighborhood_correlation", "raised", NULL, 0) == 2,
              "neighborhood_correlation raised for 2 meters (of %zu records)", recs.n);
    for (size_t i = 0; i < nmeters; i++) {
        int n = count_alerts(&recs, meters[i].id, "neighborhood_correlation", "raised", first,
                             sizeof first);
        if (meters[i].kind)
            itg_check(n == 1, "%s (%s) raised once: %s", meters[i].id,
                      meters[i].kind == 1 ? "night shift" : "wrong premises", first);
        else if (n)
            itg_check(false, "%s (typical) raised", meters[i].id);
    }
    cJSON *a = cJSON_Parse(first);
    cJSON *det = cJSON_GetObjectItem(a, "detail");
    double r = cJSON_GetNumberValue(cJSON_GetObjectItem(det, "r"));
    int nb = cJSON_GetArraySize(cJSON_GetObjectItem(det, "neighbours"));
    char *nbs = cJSON_PrintUnformatted(cJSON_GetObjectItem(det, "neighbours"));
    itg_check(r < 0.3 && nb == 6 && nbs && !strstr(nbs, "N2-00"),
              "N2-06's detail: r = %.3f < 0.3, %d neighbours, not N2-00 (a raised stuck_value): %s",
              r, nb, nbs ? nbs : "-");
    free(nbs);
    const char *sev = cJSON_GetStringValue(cJSON_GetObjectItem(a, "severity"));
    itg_check(sev && strcmp(sev, "info") == 0, "severity info");
    cJSON_Delete(a);
    itg_check(count_alerts(&recs, "r2", "quality_degradation", "raised", NULL, 0) ==
                      want_q_raised &&
                  count_alerts(&recs, "r2", "quality_degradation", "cleared", NULL, 0) ==
                      want_q_cleared &&
                  count_alerts(&recs, "r1", "quality_degradation", "raised", NULL, 0) == 0,
              "quality_degradation of r2 raised %d and cleared %d time(s), as computed",
              want_q_raised, want_q_cleared);
    double unjudged = itg_metric(agg.port,
                                 "meterflow_agg_correlation_meters{outcome=\"unjudged\"}");
    itg_check(unjudged == 4, "N3's 4 meters counted unjudged (%g)", unjudged);

    /* Peaks: each closed day of r1, r2 and '*', ranks as computed here from e[][]. */
    long long days = itg_sql_num(&c, pgt->dsn,
                                 "SELECT count(DISTINCT day) FROM peak_hours WHERE region = '*'");
    long long rows = itg_sql_num(&c, pgt->dsn, "SELECT count(*) FROM peak_hours");
    itg_check(days == DAYS && rows == DAYS * 3 * 3, "peak_hours: %lld days, %lld rows", days, rows);
    if (days != DAYS) {
        PGresult *res = PQexec(
            c, "SELECT day, region, count(*) FROM peak_hours GROUP BY 1, 2 ORDER BY 1, 2");
        for (int k = 0; k < PQntuples(res); k++)
            printf("# peak_hours %s %s %s\n", PQgetvalue(res, k, 0), PQgetvalue(res, k, 1),
                   PQgetvalue(res, k, 2));
        PQclear(res);
    }
    long long bad = 0;
    for (int day = 0; day < DAYS; day++) {
        int top[3] = {-1, -1, -1};
        for (int h = day * 24; h < day * 24 + 24; h++) {
            double t = 0, best;
            for (size_t i = 0; i < nmeters; i++)
                t += e[i][h];
            for (int k = 0; k < 3; k++) {
                if (top[k] < 0) {
                    top[k] = h;
                    break;
                }
                best = 0;
                for (size_t i = 0; i < nmeters; i++)
                    best += e[i][top[k]];
                if (t > best) {
                    memmove(&top[k + 1], &top[k], (size_t)(2 - k) * sizeof *top);
                    top[k] = h;
                    break;
                }
            }
        }
        for (int k = 0; k < 3; k++) {
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM peak_hours WHERE region = '*' AND rank = %d"
                     " AND hour_start = to_timestamp(%lld)",
                     k + 1, (long long)((start + top[k] * ITG_HOUR_MS) / 1000));
            bad += itg_sql_num(&c, pgt->dsn, sql) != 1;
        }
    }
    itg_check(bad == 0, "the fleet's top 3 of every day equal the test's computation (%lld differ)",
              bad);
    itg_check(itg_sql_num(&c, pgt->dsn,
                          "SELECT count(*) FROM peak_hours WHERE excluded AND region IN ('r1', '*')"
                          " AND exclusion LIKE 'holiday: Fete%'") == 6 &&
                  itg_sql_num(&c, pgt->dsn, "SELECT count(*) FROM peak_hours WHERE excluded") == 6,
              "the holiday excludes r1's and the fleet's day, nothing else");

    /* SIGKILL, restart: rounds run, nothing is raised again. */
    mf_proc_signal(agg.proc, SIGKILL);
    itg_check(mf_proc_wait(agg.proc, 10000) == 128 + SIGKILL, "SIGKILL");
    mf_proc_stop(agg.proc, 1000);
    agg = itg_start_agg(broker->bootstrap, pgt->dsn, env);
    wait_rounds(agg.port, 3);
    long long outbox = itg_sql_num(&c, pgt->dsn, "SELECT count(*) FROM analytics_alert_outbox");
    read_alerts(broker->bootstrap, nalerts + 1, 5000, &recs); /* one more would be a repeat */
    int again = count_alerts(&recs, NULL, "neighborhood_correlation", "raised", NULL, 0);
    itg_check(again == 2 && outbox == 0,
              "after SIGKILL and restart: still 2 raises (%d), outbox empty", again);

    /* Late readings: the night-shift meter now follows its street; killed midway. */
    itg_produce(broker->bootstrap, s.v, n1, n1 + HOURS / 2);
    itg_wait_progress(&c, pgt->dsn, (long long)n1 + HOURS / 2, 60000);
    mf_proc_signal(agg.proc, SIGKILL);
    itg_check(mf_proc_wait(agg.proc, 10000) == 128 + SIGKILL, "SIGKILL");
    mf_proc_stop(agg.proc, 1000);
    itg_produce(broker->bootstrap, s.v, n1 + HOURS / 2, n2);
    agg = itg_start_agg(broker->bootstrap, pgt->dsn, env);
    itg_check(itg_wait_done(&c, pgt->dsn, (long long)n2, 120000) == 0,
              "phase 2: %zu readings in the rollups", n2);
    wait_rounds(agg.port, 3);
    read_alerts(broker->bootstrap, nalerts + 1, 90000, &recs);
    read_alerts(broker->bootstrap, nalerts + 2, 5000, &recs); /* one more would be a repeat */
    int cleared = count_alerts(&recs, meters[7].id, "neighborhood_correlation", "cleared", first,
                               sizeof first);
    int raised = count_alerts(&recs, meters[7].id, "neighborhood_correlation", "raised", NULL, 0);
    itg_check(cleared == 1 && raised == 1, "%s: raised %d, cleared %d time(s): %s", meters[7].id,
              raised, cleared, first);
    itg_check(count_alerts(&recs, NULL, "neighborhood_correlation", "cleared", NULL, 0) == 1,
              "no other meter cleared");

    /* Phase 3: a round waits on a lock the test holds; the batches go on meanwhile. */
    PGconn *lk = itg_pg(pgt->dsn);
    PQclear(PQexec(lk, "BEGIN"));
    PGresult *lr = PQexec(lk, "LOCK TABLE analytics_alert_outbox IN ACCESS EXCLUSIVE MODE");
    itg_check(PQresultStatus(lr) == PGRES_COMMAND_OK, "the test locks the alert outbox");
    PQclear(lr);
    const char *waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
                          " AND relation = 'analytics_alert_outbox'::regclass";
    long long w = 0;
    for (int k = 0; k < 100 && w < 1; k++) {
        usleep(100000);
        w = itg_sql_num(&c, pgt->dsn, waiting);
    }
    itg_check(w == 1, "a round waits on the lock");
    double r0 = itg_metric(agg.port, "meterflow_agg_daily_rounds_total");
    itg_produce(broker->bootstrap, s.v, n2, s.n);
    itg_check(itg_wait_done(&c, pgt->dsn, (long long)s.n, 60000) == 0,
              "phase 3: %zu more readings in the rollups while the round waits", s.n - n2);
    itg_check(itg_metric(agg.port, "meterflow_agg_daily_rounds_total") == r0 &&
                  itg_sql_num(&c, pgt->dsn, waiting) == 1,
              "the round still waits (no round ended meanwhile)");
    int64_t t0 = mf_mono_ms();
    int rc = mf_proc_stop(agg.proc, 30000);
    int64_t took = mf_mono_ms() - t0;
    itg_check(rc == 0 && took < 10000,
              "SIGTERM: the aggregator cancels the waiting round and exits 0 (got %d in %lld ms)",
              rc, (long long)took);
    PQclear(PQexec(lk, "ROLLBACK"));
    PQfinish(lk);
    mf_recs_release(&recs);
    PQfinish(c);
    free(s.v);
    mf_broker_stop(broker);
    mf_pgtmp_do(pgt, "destroy");
    return itg_finish("it_agg_daily");
}
