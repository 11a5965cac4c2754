/* mf_aggtest: the aggregator tests' stack, generator and checks. */
#include "mf_aggtest.h"

static int itg_failures;

void itg_check(bool cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s - ", cond ? "ok" : "not ok");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (!cond)
        itg_failures++;
}

uint64_t itg_rng = 88172645463325252ull;

uint64_t itg_rand(void)
{
    itg_rng ^= itg_rng << 13;
    itg_rng ^= itg_rng >> 7;
    itg_rng ^= itg_rng << 17;
    return itg_rng;
}

double itg_unit(void)
{
    return (double)(itg_rand() >> 11) / 9007199254740992.0;
}

static int itg_cmp_key(const void *a, const void *b)
{
    double x = ((const struct itg_reading *)a)->key, y = ((const struct itg_reading *)b)->key;
    return x < y ? -1 : x > y;
}

/*
 * nmeters meters, one reading every cadence_s from start over span_s, in a
 * shuffled arrival order: each reading arrives up to 90 s of event time
 * late (within AGG_LATENESS_S), and late_pct of them 5 to 40 minutes late
 * (after their 1-minute windows closed). src offsets are given per
 * partition in arrival order, as a worker would.
 */
struct itg_set itg_generate(int nmeters, int64_t start, int64_t span_s, int cadence_s,
                            double late_pct)
{
    size_t per = (size_t)(span_s / cadence_s);
    struct itg_set s = {mf_xcalloc((size_t)nmeters * per, sizeof(struct itg_reading)), 0};
    for (int m = 0; m < nmeters; m++) {
        char id[16];
        snprintf(id, sizeof id, "MTR-%04d", m);
        int32_t part = mf_kafka_partition_of(id, strlen(id), ITG_NPARTS);
        /* Each meter has its own phase inside the cadence. */
        int64_t phase = (int64_t)(itg_rand() % (uint64_t)cadence_s) * 1000 + m % 1000;
        for (size_t k = 0; k < per; k++) {
            struct itg_reading *r = &s.v[s.n++];
            snprintf(r->meter, sizeof r->meter, "%s", id);
            r->ts = start + phase + (int64_t)k * cadence_s * 1000;
            r->v = floor(itg_unit() * 5000.0) / 1000.0 + (m % 7) * 0.25;
            r->e = r->v * cadence_s / 3600.0;
            r->q = 70 + (int)(itg_rand() % 31);
            r->interp = itg_rand() % 20 == 0;
            r->part = part;
            double delay = itg_unit() * 90000.0;
            if (itg_unit() * 100.0 < late_pct)
                delay += 300000.0 + itg_unit() * 2100000.0;
            r->key = (double)r->ts + delay;
        }
    }
    qsort(s.v, s.n, sizeof *s.v, itg_cmp_key);
    return s;
}

/*
 * Moves about pct % of the readings (chosen at random) to the end, in
 * their order: produced last, they arrive hours after their windows
 * closed. Returns how many moved.
 */
size_t itg_hold_back(struct itg_set *s, double pct)
{
    struct itg_reading *tmp = mf_xmalloc(s->n * sizeof *tmp);
    size_t a = 0, b = 0;
    bool *late = mf_xcalloc(s->n, sizeof *late);
    for (size_t k = 0; k < s->n; k++)
        late[k] = itg_unit() * 100.0 < pct;
    for (size_t k = 0; k < s->n; k++)
        if (!late[k])
            tmp[a++] = s->v[k];
    for (size_t k = 0; k < s->n; k++)
        if (late[k])
            tmp[a + b++] = s->v[k];
    memcpy(s->v, tmp, s->n * sizeof *tmp);
    free(tmp);
    free(late);
    return b;
}

/*
 * src positions per partition in array (= arrival) order, with gaps as raw
 * offsets have, and now and then a second output of one source record
 * (i = 1), as interpolation makes.
 */
void itg_assign_src(struct itg_set *s)
{
    int64_t next_o[ITG_NPARTS] = {0};
    int32_t last_i[ITG_NPARTS] = {0};
    for (size_t k = 0; k < s->n; k++) {
        int32_t p = s->v[k].part;
        if (next_o[p] && itg_rand() % 10 == 0) {
            s->v[k].o = 1000 + next_o[p] - 1; /* same source record, next index */
            s->v[k].i = ++last_i[p];
            continue;
        }
        s->v[k].o = 1000 + next_o[p];
        s->v[k].i = last_i[p] = 0;
        next_o[p] += 1 + (int64_t)(itg_rand() % 3);
    }
}

char *itg_json(const struct itg_reading *r)
{
    char ts[MF_TIME_STRLEN], *out = mf_xmalloc(512);
    mf_time_format(r->ts, ts);
    snprintf(out, 512,
             "{\"meter_id\":\"%s\",\"ts\":\"%s\",\"value_kw\":%.17g,\"source_value\":%.17g,"
             "\"source_unit\":\"kW\",\"interval_s\":60,\"energy_kwh\":%.17g,\"quality\":%d,"
             "\"tier\":\"%s\",\"flags\":[],\"reasons\":[],\"interpolated\":%s,"
             "\"src\":{\"p\":%d,\"o\":%lld,\"i\":%d}}",
             r->meter, ts, r->v, r->v, r->e, r->q, r->q >= 90 ? "premium" : "standard",
             r->interp ? "true" : "false", (int)r->part, (long long)r->o, (int)r->i);
    return out;
}

/* Produces readings v[from..to) (keys = meter IDs, so partition = murmur2). */
void itg_produce(const char *bootstrap, const struct itg_reading *v, size_t from, size_t to)
{
    size_t n = to - from;
    const char **keys = mf_xcalloc(n ? n : 1, sizeof *keys);
    char **vals = mf_xcalloc(n ? n : 1, sizeof *vals);
    for (size_t k = 0; k < n; k++) {
        keys[k] = v[from + k].meter;
        vals[k] = itg_json(&v[from + k]);
    }
    mf_kafka_produce(bootstrap, ITG_TOPIC, keys, (const char *const *)vals, n);
    for (size_t k = 0; k < n; k++)
        free(vals[k]);
    free(vals);
    free(keys);
}

/*
 * Starts an aggregator on the stack with the test settings plus extra
 * ("K=V", NULL-terminated, may be NULL; later ones override). A short
 * session timeout lets the group notice a killed member in seconds.
 */
/*
 * Before the first aggregator of a database: the schema, and a registry in
 * which the generator's meters MTR-0000.. are, by ID modulo 4, in 'north',
 * in 'south', without a region, or not registered (both 'unknown' to
 * region_load_1h). Once per database; later starts find it there.
 */
static void register_meters(const char *bin, const char *dsn, const char *const *env)
{
    static char done[8][320];
    for (size_t k = 0; k < MF_ARRAY_LEN(done) && done[k][0]; k++)
        if (strcmp(done[k], dsn) == 0)
            return;
    const char *args[] = {"migrate", NULL};
    struct mf_proc *m = mf_proc_start(bin, args, env);
    int st = mf_proc_wait(m, 60000);
    mf_proc_stop(m, 1000);
    if (st != 0)
        mf_die("aggregator migrate exited %d", st);
    PGconn *c = itg_pg(dsn);
    PGresult *res = PQexec(c, "INSERT INTO meters (meter_id, region)"
                              " SELECT format('MTR-%s', lpad(g::text, 4, '0')),"
                              " (ARRAY['north', 'south', NULL])[g % 4 + 1]"
                              " FROM generate_series(0, 9999) g WHERE g % 4 <> 3"
                              " ON CONFLICT (meter_id) DO NOTHING");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        mf_die("registering the test meters: %s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    for (size_t k = 0; k < MF_ARRAY_LEN(done); k++)
        if (!done[k][0]) {
            snprintf(done[k], sizeof done[k], "%s", dsn);
            break;
        }
}

struct itg_agg itg_start_agg(const char *bootstrap, const char *dsn, const char *const *extra)
{
    return itg_start_agg_bin("aggregator", bootstrap, dsn, extra, 1);
}

struct itg_agg itg_start_agg_bin(const char *bin, const char *bootstrap, const char *dsn,
                                 const char *const *extra, int wait)
{
    static char env[24][320];
    const char *e[25];
    size_t n = 0;
    struct itg_agg a;
    a.port = mf_free_port();
    snprintf(env[n++], sizeof env[0], "KAFKA_BROKERS=%s", bootstrap);
    snprintf(env[n++], sizeof env[0], "PG_DSN=%s", dsn);
    snprintf(env[n++], sizeof env[0], "METRICS_ADDR=127.0.0.1:%u", a.port);
    snprintf(env[n++], sizeof env[0], "AGG_IDLE_FLUSH_S=1");
    snprintf(env[n++], sizeof env[0], "AGG_BATCH_MS=200");
    snprintf(env[n++], sizeof env[0], "AGG_BATCH_MAX=1500");
    snprintf(env[n++], sizeof env[0], "KAFKA_SESSION_TIMEOUT_MS=6000");
    snprintf(env[n++], sizeof env[0], "KAFKA_HEARTBEAT_INTERVAL_MS=500");
    snprintf(env[n++], sizeof env[0], "LOG_LEVEL=info");
    for (size_t k = 0; extra && extra[k] && n < 24; k++)
        snprintf(env[n++], sizeof env[0], "%s", extra[k]);
    for (size_t k = 0; k < n; k++)
        e[k] = env[k];
    e[n] = NULL;
    register_meters(bin, dsn, e);
    a.proc = mf_proc_start(bin, NULL, e);
    if (wait && mf_wait_http_ok(a.port, "/healthz", 30000) != 0)
        mf_die("aggregator did not come up");
    return a;
}

PGconn *itg_pg(const char *dsn)
{
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK)
        mf_die("test connection to PostgreSQL: %s", PQerrorMessage(c));
    return c;
}

/* One number from SQL (-1 on error); reconnects a dropped test connection. */
long long itg_sql_num(PGconn **c, const char *dsn, const char *sql)
{
    if (PQstatus(*c) != CONNECTION_OK) {
        PQfinish(*c);
        *c = PQconnectdb(dsn);
        if (PQstatus(*c) != CONNECTION_OK)
            return -1;
    }
    PGresult *res = PQexec(*c, sql);
    long long v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/*
 * Waits until the tables hold `total` readings, every window is closed,
 * and the outbox is empty (the last publish was acknowledged); -1 on timeout.
 */
int itg_wait_done(PGconn **c, const char *dsn, long long total, int timeout_ms)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    long long n1 = -1, n2 = -1, open = -1, ob = -1;
    while (mf_mono_ms() < deadline) {
        n1 = itg_sql_num(c, dsn, "SELECT coalesce(sum(count), 0) FROM rollup_1m");
        n2 = itg_sql_num(c, dsn, "SELECT coalesce(sum(count), 0) FROM rollup_1h_stats");
        open = itg_sql_num(c, dsn,
                           "SELECT (SELECT count(*) FROM rollup_1m_stats WHERE NOT closed)"
                           " + (SELECT count(*) FROM rollup_1h_stats WHERE NOT closed)");
        ob = itg_sql_num(c, dsn,
                         "SELECT (SELECT count(*) FROM agg_outbox_keys)"
                         " + (SELECT count(*) FROM agg_outbox_ranges)");
        if (n1 == total && n2 == total && open == 0 && ob == 0)
            return 0;
        if (n1 > total || n2 > total)
            break; /* counted twice: no use waiting */
        usleep(200000);
    }
    printf("# waited: rollup_1m %lld, rollup_1h %lld readings (want %lld), %lld open, %lld in "
           "outbox\n",
           n1, n2, total, open, ob);
    return -1;
}

/*
 * Readings stored so far (-1 when PostgreSQL does not answer): rollup_1m's,
 * written in the same transactions as the hours, and cheaper to sum than
 * rollup_1h_stats, whose open hours are summed from the minutes (012).
 */
long long itg_progress(PGconn **c, const char *dsn)
{
    return itg_sql_num(c, dsn, "SELECT coalesce(sum(count), 0) FROM rollup_1m");
}

/* Waits until the rollups hold at least want readings; the count, or -1 on timeout. */
long long itg_wait_progress(PGconn **c, const char *dsn, long long want, int timeout_ms)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    while (mf_mono_ms() < deadline) {
        long long n = itg_progress(c, dsn);
        if (n >= want)
            return n;
        usleep(20000);
    }
    return -1;
}

/* /readyz's status code (0 when it does not answer). */
long itg_readyz(unsigned port)
{
    char url[128];
    struct mf_http_resp r;
    long code = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/readyz", port);
    if (mf_http("GET", url, NULL, NULL, 0, &r) == 0)
        code = r.code;
    mf_http_resp_release(&r);
    return code;
}

static int itg_cmp_win_reading(const void *a, const void *b, int64_t width)
{
    const struct itg_reading *x = *(const struct itg_reading *const *)a;
    const struct itg_reading *y = *(const struct itg_reading *const *)b;
    int c = strcmp(x->meter, y->meter);
    if (c)
        return c;
    int64_t sx = x->ts - x->ts % width, sy = y->ts - y->ts % width;
    return sx < sy ? -1 : sx > sy;
}

static int itg_cmp_1m(const void *a, const void *b)
{
    return itg_cmp_win_reading(a, b, ITG_MIN_MS);
}

static int itg_cmp_1h(const void *a, const void *b)
{
    return itg_cmp_win_reading(a, b, ITG_HOUR_MS);
}

/* The expected windows of width (ms) over the readings, two-pass, sorted by (meter, start). */
struct itg_win *itg_expect(const struct itg_set *s, int64_t width, size_t *nwin)
{
    const struct itg_reading **p = mf_xmalloc(s->n * sizeof *p);
    struct itg_win *w = mf_xcalloc(s->n, sizeof *w);
    size_t n = 0;
    for (size_t k = 0; k < s->n; k++)
        p[k] = &s->v[k];
    qsort(p, s->n, sizeof *p, width == ITG_MIN_MS ? itg_cmp_1m : itg_cmp_1h);
    for (size_t a = 0, b; a < s->n; a = b) {
        int64_t start = p[a]->ts - p[a]->ts % width;
        for (b = a; b < s->n && strcmp(p[b]->meter, p[a]->meter) == 0 &&
                    p[b]->ts - p[b]->ts % width == start;
             b++)
            ;
        struct itg_win *x = &w[n++];
        x->meter = p[a]->meter;
        x->start = start;
        x->min = p[a]->v;
        x->max = p[a]->v;
        for (size_t k = a; k < b; k++) {
            x->count++;
            x->sum += p[k]->v;
            x->energy += p[k]->e;
            x->qsum += p[k]->q;
            x->min = p[k]->v < x->min ? p[k]->v : x->min;
            x->max = p[k]->v > x->max ? p[k]->v : x->max;
            x->premium += p[k]->q >= 90;
            x->standard += p[k]->q < 90;
            x->interp += p[k]->interp;
        }
        long double mean = x->sum / x->count;
        for (size_t k = a; k < b; k++)
            x->m2 += (p[k]->v - mean) * (p[k]->v - mean);
    }
    free(p);
    *nwin = n;
    return w;
}

static bool itg_close(long double want, double got, double rel)
{
    return fabsl(want - got) <= rel * (1.0L + fabsl(want));
}

/*
 * The table of width (rollup_1m/1h) against the expected windows, field by
 * field; also every window closed with revision >= 1. Returns mismatches.
 */
int itg_check_table(PGconn *c, const char *table, const struct itg_win *w, size_t n)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT meter_id, (extract(epoch FROM window_start) * 1000)::bigint, count, sum_kw,"
             " min_kw, max_kw, m2, energy_kwh, quality_sum, premium, standard, interpolated,"
             " closed, revision FROM %s_stats ORDER BY meter_id COLLATE \"C\", window_start",
             table);
    PGresult *res = PQexec(c, sql);
    int bad = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        itg_check(false, "%s: query failed: %s", table, PQerrorMessage(c));
        PQclear(res);
        return 1;
    }
    size_t rows = (size_t)PQntuples(res);
    itg_check(rows == n, "%s holds %zu windows (expected %zu)", table, rows, n);
    for (size_t k = 0; k < rows && k < n; k++) {
        const struct itg_win *x = &w[k];
        const char *id = PQgetvalue(res, (int)k, 0);
        long long start = strtoll(PQgetvalue(res, (int)k, 1), NULL, 10);
        double f[9];
        for (int j = 0; j < 9; j++)
            f[j] = strtod(PQgetvalue(res, (int)k, 2 + j), NULL);
        bool closed = PQgetvalue(res, (int)k, 12)[0] == 't';
        int rev = (int)strtol(PQgetvalue(res, (int)k, 13), NULL, 10);
        bool ok = strcmp(id, x->meter) == 0 && start == x->start && (long long)f[0] == x->count &&
                  itg_close(x->sum, f[1], 1e-12) && itg_close(x->min, f[2], 0) &&
                  itg_close(x->max, f[3], 0) && itg_close(x->m2, f[4], 1e-9) &&
                  itg_close(x->energy, f[5], 1e-12) && itg_close(x->qsum, f[6], 1e-12) &&
                  (long long)f[7] == x->premium && (long long)f[8] == x->standard &&
                  strtoll(PQgetvalue(res, (int)k, 11), NULL, 10) == x->interp && closed && rev >= 1;
        if (!ok && bad++ < 5)
            printf("# %s row %zu: got %s %lld count %g sum %.17g m2 %.17g closed %d rev %d;"
                   " want %s %lld count %lld sum %.17Lg m2 %.17Lg\n",
                   table, k, id, start, f[0], f[1], f[4], closed, rev, x->meter,
                   (long long)x->start, x->count, x->sum, x->m2);
    }
    PQclear(res);
    itg_check(bad == 0, "%s: every window equals the two-pass computation, closed (%d differ)",
              table, bad);
    return bad;
}

/* A published deviation equals the view's: both null (one reading), or within rounding. */
static bool same_stddev(const cJSON *f, const PGresult *res, int row, int col)
{
    if (!f)
        return false;
    if (PQgetisnull(res, row, col))
        return cJSON_IsNull(f);
    double want = strtod(PQgetvalue(res, row, col), NULL);
    return cJSON_IsNumber(f) && fabs(f->valuedouble - want) <= 1e-9 * (1 + fabs(want));
}

/* A published rollup record's values equal table row k's (revision aside). */
static bool rollup_equals_row(const cJSON *j, const PGresult *res, int k)
{
    double count = cJSON_GetObjectItem(j, "count")->valuedouble;
    double sum = cJSON_GetObjectItem(j, "sum_kw")->valuedouble;
    double avg = cJSON_GetObjectItem(j, "avg_kw")->valuedouble;
    double mn = cJSON_GetObjectItem(j, "min_kw")->valuedouble;
    double mx = cJSON_GetObjectItem(j, "max_kw")->valuedouble;
    double en = cJSON_GetObjectItem(j, "energy_kwh")->valuedouble;
    return count == strtod(PQgetvalue(res, k, 3), NULL) &&
           sum == strtod(PQgetvalue(res, k, 4), NULL) && fabs(avg - sum / count) < 1e-12 &&
           mn == strtod(PQgetvalue(res, k, 5), NULL) && mx == strtod(PQgetvalue(res, k, 6), NULL) &&
           en == strtod(PQgetvalue(res, k, 7), NULL) &&
           same_stddev(cJSON_GetObjectItem(j, "stddev_kw"), res, k, 8) &&
           same_stddev(cJSON_GetObjectItem(j, "stddev_pop_kw"), res, k, 9) &&
           cJSON_GetObjectItem(j, "quality_avg") && cJSON_GetObjectItem(j, "premium") &&
           cJSON_GetObjectItem(j, "standard") && cJSON_GetObjectItem(j, "interpolated");
}

/*
 * The rollup topic of a width against the table: every stored window was
 * published; for each (meter, window) the highest revision published is
 * the table's, and every record of that revision (the first publish and
 * any republish after a crash or a rebalance) carries the table's values.
 * Returns mismatches.
 */
int itg_check_topic(const char *bootstrap, PGconn *c, const char *topic, const char *table,
                    const char *width, long *nrecords)
{
    struct mf_recs recs = {0};
    char sql[512];
    int bad = 0;
    mf_kafka_read_topic(bootstrap, topic, -1, 3000, 60000, &recs);
    *nrecords = (long)recs.n;

    snprintf(sql, sizeof sql,
             "SELECT meter_id, (extract(epoch FROM window_start) * 1000)::bigint, revision,"
             " count, sum_kw, min_kw, max_kw, energy_kwh, stddev_kw, stddev_pop_kw FROM %s_stats"
             " ORDER BY meter_id COLLATE \"C\", window_start",
             table);
    PGresult *res = PQexec(c, sql);
    size_t rows = (size_t)PQntuples(res);
    /* best[k]: highest-revision record of table row k, found by binary search. */
    const cJSON **best = mf_xcalloc(rows ? rows : 1, sizeof *best);
    cJSON **trees = mf_xcalloc(recs.n ? recs.n : 1, sizeof *trees);
    size_t *row_of = mf_xcalloc(recs.n ? recs.n : 1, sizeof *row_of); /* rows: none */
    for (size_t r = 0; r < recs.n; r++) {
        row_of[r] = rows;
        cJSON *j = trees[r] = cJSON_Parse(recs.v[r].value);
        const cJSON *id = cJSON_GetObjectItem(j, "meter_id"),
                    *ws = cJSON_GetObjectItem(j, "window_start");
        const cJSON *w = cJSON_GetObjectItem(j, "width"), *rev = cJSON_GetObjectItem(j, "revision");
        int64_t start;
        char why[64];
        if (!cJSON_IsString(id) || !cJSON_IsString(ws) || !cJSON_IsString(w) ||
            strcmp(w->valuestring, width) != 0 || !cJSON_IsNumber(rev) ||
            strcmp(recs.v[r].key, id->valuestring) != 0 ||
            mf_time_parse_rfc3339(ws->valuestring, strlen(ws->valuestring), &start, why,
                                  sizeof why) != MF_OK) {
            if (bad++ < 5)
                printf("# malformed rollup record: %s\n", recs.v[r].value);
            continue;
        }
        size_t lo = 0, hi = rows;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int cmp = strcmp(PQgetvalue(res, (int)mid, 0), id->valuestring);
            long long s = strtoll(PQgetvalue(res, (int)mid, 1), NULL, 10);
            if (cmp < 0 || (cmp == 0 && s < start))
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo >= rows || strcmp(PQgetvalue(res, (int)lo, 0), id->valuestring) != 0 ||
            strtoll(PQgetvalue(res, (int)lo, 1), NULL, 10) != start) {
            if (bad++ < 5)
                printf("# published window not in %s: %s\n", table, recs.v[r].value);
            continue;
        }
        row_of[r] = lo;
        if (!best[lo] || cJSON_GetObjectItem(best[lo], "revision")->valuedouble < rev->valuedouble)
            best[lo] = j;
    }
    for (size_t k = 0; k < rows; k++) {
        const cJSON *j = best[k];
        if (!j) {
            if (bad++ < 5) {
                char q[512];
                snprintf(q, sizeof q,
                         "SELECT r.closed, r.revision, r.part, r.updated_at, w.watermark"
                         " FROM %s r LEFT JOIN agg_partition_watermarks w ON w.partition = r.part"
                         " WHERE r.meter_id = '%s' AND r.window_start = 'epoch'::timestamptz"
                         " + %s * interval '1 ms'",
                         table, PQgetvalue(res, (int)k, 0), PQgetvalue(res, (int)k, 1));
                PGresult *d = PQexec(c, strcmp(table, "rollup_1m") == 0 ? q : "SELECT 1");
                printf("# window never published: %s %s (stored: %s %s %s %s, watermark %s)\n",
                       PQgetvalue(res, (int)k, 0), PQgetvalue(res, (int)k, 1),
                       PQntuples(d) ? PQgetvalue(d, 0, 0) : "?",
                       PQntuples(d) && PQnfields(d) > 1 ? PQgetvalue(d, 0, 1) : "?",
                       PQntuples(d) && PQnfields(d) > 2 ? PQgetvalue(d, 0, 2) : "?",
                       PQntuples(d) && PQnfields(d) > 3 ? PQgetvalue(d, 0, 3) : "?",
                       PQntuples(d) && PQnfields(d) > 4 ? PQgetvalue(d, 0, 4) : "?");
                PQclear(d);
            }
            continue;
        }
        if (cJSON_GetObjectItem(j, "revision")->valuedouble !=
                strtod(PQgetvalue(res, (int)k, 2), NULL) &&
            bad++ < 5) {
            char *txt = cJSON_PrintUnformatted(j);
            printf("# %s row %zu (rev %s) vs the highest revision published %s\n", table, k,
                   PQgetvalue(res, (int)k, 2), txt);
            free(txt);
        }
    }
    /* Every record at the table's revision, republishes included, carries its values. */
    for (size_t r = 0; r < recs.n; r++) {
        size_t k = row_of[r];
        if (k >= rows || cJSON_GetObjectItem(trees[r], "revision")->valuedouble !=
                             strtod(PQgetvalue(res, (int)k, 2), NULL))
            continue;
        if (!rollup_equals_row(trees[r], res, (int)k) && bad++ < 5) {
            char *txt = cJSON_PrintUnformatted(trees[r]);
            printf("# %s row %zu (rev %s count %s sum %s) vs published (record %zu of %zu) %s\n",
                   table, k, PQgetvalue(res, (int)k, 2), PQgetvalue(res, (int)k, 3),
                   PQgetvalue(res, (int)k, 4), r, recs.n, txt);
            free(txt);
        }
    }
    for (size_t r = 0; r < recs.n; r++)
        cJSON_Delete(trees[r]);
    free(trees);
    free(row_of);
    free(best);
    PQclear(res);
    mf_recs_release(&recs);
    itg_check(
        bad == 0,
        "%s: %ld records; the highest revision of every window is %s's, and every record of it"
        " (republishes too) carries its values (%d bad)",
        topic, *nrecords, table, bad);
    return bad;
}

/* meter_current_status holds each meter's newest reading. */
int itg_check_status(PGconn *c, const struct itg_set *s)
{
    PGresult *res = PQexec(c, "SELECT meter_id, (extract(epoch FROM ts) * 1000)::bigint, value_kw,"
                              " quality FROM meter_current_status");
    int bad = 0, rows = PQntuples(res);
    for (int k = 0; k < rows; k++) {
        const char *id = PQgetvalue(res, k, 0);
        long long ts = strtoll(PQgetvalue(res, k, 1), NULL, 10);
        const struct itg_reading *best = NULL;
        for (size_t j = 0; j < s->n; j++)
            if (strcmp(s->v[j].meter, id) == 0 && (!best || s->v[j].ts > best->ts))
                best = &s->v[j];
        if (!best || best->ts != ts || best->v != strtod(PQgetvalue(res, k, 2), NULL) ||
            best->q != (int)strtol(PQgetvalue(res, k, 3), NULL, 10))
            bad++;
    }
    PQclear(res);
    itg_check(bad == 0 && rows > 0, "meter_current_status: %d meters, newest reading each (%d bad)",
              rows, bad);
    return bad;
}

/*
 * The views' stddev_kw and stddev_pop_kw against PostgreSQL's own stddev()
 * and stddev_pop() over the readings s (copied into a temporary table), for
 * every window of both widths; windows of one reading must have a null
 * stddev_kw. Returns mismatches.
 */
int itg_check_stddev_sql(PGconn *c, const struct itg_set *s)
{
    PGresult *res = PQexec(c, "CREATE TEMP TABLE itg_readings (meter_id text, ts timestamptz,"
                              " value_kw float8); COPY itg_readings FROM STDIN");
    bool ok = PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    for (size_t k = 0; ok && k < s->n; k++) {
        char line[128], ts[MF_TIME_STRLEN];
        mf_time_format(s->v[k].ts, ts);
        int n = snprintf(line, sizeof line, "%s\t%s\t%.17g\n", s->v[k].meter, ts, s->v[k].v);
        ok = PQputCopyData(c, line, n) == 1;
    }
    ok = PQputCopyEnd(c, NULL) == 1 && ok;
    while ((res = PQgetResult(c))) {
        ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
    }
    int bad = 0, singles = 0, rows = 0;
    static const char *const widths[] = {"minute", "hour"};
    for (size_t w = 0; ok && w < 2; w++) {
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "WITH x AS (SELECT meter_id,"
                 " date_trunc('%s', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS window_start,"
                 " stddev(value_kw) AS samp, stddev_pop(value_kw) AS pop FROM itg_readings"
                 " GROUP BY 1, 2)"
                 " SELECT count(*) FILTER (WHERE v.meter_id IS NULL OR x.meter_id IS NULL"
                 " OR (v.stddev_kw IS NULL) <> (x.samp IS NULL)"
                 " OR abs(v.stddev_kw - x.samp) > 1e-9 * (1 + x.samp)"
                 " OR abs(v.stddev_pop_kw - x.pop) > 1e-9 * (1 + x.pop)),"
                 " count(*) FILTER (WHERE v.count = 1 AND v.stddev_kw IS NULL), count(*)"
                 " FROM rollup_1%c_stats v FULL JOIN x USING (meter_id, window_start)",
                 widths[w], widths[w][0] == 'm' ? 'm' : 'h');
        res = PQexec(c, sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            bad += (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
            singles += (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
            rows += (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
        } else {
            ok = false;
            printf("# stddev check: %s", PQerrorMessage(c));
        }
        PQclear(res);
    }
    PQclear(PQexec(c, "DROP TABLE IF EXISTS itg_readings"));
    itg_check(ok && bad == 0 && rows > 0,
              "stddev_kw = SQL stddev(), stddev_pop_kw = stddev_pop() over the readings: %d windows"
              " (%d of one reading, stddev_kw null), %d differ",
              rows, singles, bad);
    return ok ? bad : -1;
}

/*
 * region_load_1h equals the region sums over rollup_1h_stats and the
 * registry (the query), row for row; the registered regions and
 * 'unknown' (no region, no registry row) must all be there.
 */
int itg_check_region_load(PGconn *c)
{
    PGresult *res = PQexec(
        c, "WITH want AS (SELECT coalesce(m.region, 'unknown') AS region, r.window_start,"
           " sum(r.energy_kwh) AS energy_kwh, sum(r.count) AS readings, count(*) AS meters,"
           " sum(r.quality_sum) AS quality_sum"
           " FROM rollup_1h_stats r LEFT JOIN meters m USING (meter_id) GROUP BY 1, 2)"
           " SELECT count(*) FILTER (WHERE w.region IS NULL OR g.region IS NULL"
           " OR w.readings <> g.readings OR w.meters <> g.meters"
           " OR abs(w.energy_kwh - g.energy_kwh) > 1e-9 * greatest(1, abs(w.energy_kwh))"
           " OR abs(w.quality_sum - g.quality_sum) > 1e-9 * greatest(1, abs(w.quality_sum))),"
           " count(*), count(DISTINCT coalesce(w.region, g.region))"
           " FROM want w FULL JOIN region_load_1h g USING (region, window_start)");
    int bad = -1, rows = 0, regions = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        bad = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
        rows = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
        regions = (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
    } else {
        printf("# region_load_1h: %s", PQerrorMessage(c));
    }
    PQclear(res);
    if (bad > 0) { /* the first few, to say what differs */
        res = PQexec(c,
                     "WITH want AS (SELECT coalesce(m.region, 'unknown') AS region,"
                     " r.window_start, sum(r.energy_kwh) AS energy_kwh, sum(r.count) AS readings,"
                     " count(*) AS meters FROM rollup_1h_stats r LEFT JOIN meters m"
                     " USING (meter_id) GROUP BY 1, 2)"
                     " SELECT region, window_start, w.readings, g.readings, w.meters, g.meters,"
                     " w.energy_kwh, g.energy_kwh FROM want w FULL JOIN region_load_1h g"
                     " USING (region, window_start) WHERE w.readings IS DISTINCT FROM g.readings"
                     " OR w.meters IS DISTINCT FROM g.meters ORDER BY 1, 2 LIMIT 3");
        for (int r = 0; PQresultStatus(res) == PGRES_TUPLES_OK && r < PQntuples(res); r++)
            printf("# region_load_1h %s %s: readings want %s got %s, meters want %s got %s\n",
                   PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
                   PQgetvalue(res, r, 3), PQgetvalue(res, r, 4), PQgetvalue(res, r, 5));
        PQclear(res);
    }
    itg_check(bad == 0 && rows > 0 && regions == 3,
              "region_load_1h: %d (region, hour) rows in %d regions (energy, readings, meters,"
              " quality_sum) equal to rollup_1h_stats"
              " joined with meters (%d differ)",
              rows, regions, bad);
    /* fleet_load_1h (031, kept by triggers): each hour the sum of its regions. */
    res = PQexec(c, "SELECT count(*) FILTER (WHERE g.window_start IS NULL OR f.window_start IS NULL"
                    " OR g.readings <> f.readings OR g.meters <> f.meters"
                    " OR abs(g.e - f.energy_kwh) > 1e-9 * greatest(1, abs(g.e))"
                    " OR abs(g.q - f.quality_sum) > 1e-9 * greatest(1, abs(g.q))), count(*)"
                    " FROM (SELECT window_start, sum(energy_kwh) AS e, sum(readings) AS readings,"
                    " sum(meters) AS meters, sum(quality_sum) AS q FROM region_load_1h"
                    " GROUP BY window_start) g FULL JOIN fleet_load_1h f USING (window_start)");
    int fbad = -1, frows = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        fbad = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
        frows = (int)strtol(PQgetvalue(res, 0, 1), NULL, 10);
    } else {
        printf("# fleet_load_1h: %s", PQerrorMessage(c));
    }
    PQclear(res);
    itg_check(fbad == 0 && frows > 0,
              "fleet_load_1h: %d hours equal to region_load_1h summed over regions (%d differ)",
              frows, fbad);
    return bad + (fbad != 0);
}

/* The full verification of a finished run over the applied readings s. */
void itg_verify_all(const char *bootstrap, PGconn *c, const struct itg_set *s)
{
    static const struct {
        const char *table, *topic, *width;
        int64_t ms;
    } w[] = {{"rollup_1m", "meter.rollups.1m", "1m", ITG_MIN_MS},
             {"rollup_1h", "meter.rollups.1h", "1h", ITG_HOUR_MS}};
    for (size_t k = 0; k < 2; k++) {
        size_t n;
        long nrec;
        struct itg_win *x = itg_expect(s, w[k].ms, &n);
        itg_check_table(c, w[k].table, x, n);
        itg_check_topic(bootstrap, c, w[k].topic, w[k].table, w[k].width, &nrec);
        free(x);
    }
    itg_check_status(c, s);
    itg_check_region_load(c);
}

/* A counter's value from /metrics ("name{labels}" exactly), or -1. */
double itg_metric(unsigned port, const char *series)
{
    char url[128];
    struct mf_http_resp r;
    double v = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", port);
    if (mf_http("GET", url, NULL, NULL, 0, &r) == 0 && r.code == 200) {
        size_t n = strlen(series);
        for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
            if (strncmp(p, series, n) == 0 && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
        }
    }
    mf_http_resp_release(&r);
    return v;
}

int itg_finish(const char *name)
{
    printf("%s: %s\n", name, itg_failures ? "FAILED" : "all checks passed");
    return itg_failures ? 1 : 0;
}
