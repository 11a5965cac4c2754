/*
 * ft_api_crashwalk: analytics-api's crash-point walk (issue 17). The API
 * writes nothing but its answers (its cache lives and dies with the
 * process; SIGHUP reads the tokens file), so what a crash may break is
 * what a client is told: a half-written answer taken for a whole one, a
 * cached answer that outlives its crash wrongly, tokens that are not those
 * of the file after a restart.
 *
 * For every point the fault build lists (`build/crash/bin/analytics-api
 * --crash-points`, so a new point is walked without editing this test), a
 * fault-build API runs with MF_CRASH_AT=<point>:2, then again with
 * MF_CRASH_AT=<point>:7, over a fixed PostgreSQL
 * while three clients ask a mix of requests (answers of every kind: 200,
 * 304 to a matching If-None-Match, 400, 401, 404, the page) and the test
 * rotates a token in the tokens file with a SIGHUP after each round. The
 * API must die there by SIGKILL (a point never reached fails the test).
 * Then:
 *   - every answer a client got whole is byte-equal (status, body, ETag) to
 *     the reference: the same request to a release API with its cache off,
 *     before the walk (it_api checks that API's numbers against SQL);
 *   - a restarted API answers every request whose answer did not arrive,
 *     again equal to the reference;
 *   - the restarted API takes the tokens the file says: the last rotated
 *     token is let in, the one before it gets 401.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

#define MAX_POINTS 32
#define NCLIENTS   3
#define MAX_ROUNDS 9
#define NREQ       12

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            mf_die(__VA_ARGS__);                                                                   \
    } while (0)

static struct mf_pgtmp *pg;
static unsigned port;
static char tokens_path[64] = "/tmp/mf-ft-api-tokens.XXXXXX";

/* A request of the mix and its reference answer. */
struct req {
    char path[512];
    const char *token; /* the bearer token */
    int conditional;   /* 1: If-None-Match with the reference's ETag (304) */
    long code;         /* the reference */
    char *body;
    char etag[64];
};
static struct req reqs[NREQ];
static int nreqs;

/* What the clients saw during one crash run. */
static atomic_int answered, lost, failed[NREQ];

/* The tokens file: tok-all (every meter) and the rotating tok-r<k>. */
static void write_tokens(int k)
{
    char h1[65], h2[65], rot[32], line[512];
    mf_sha256_hex("tok-all", h1);
    snprintf(rot, sizeof rot, "tok-r%d", k);
    mf_sha256_hex(rot, h2);
    int n = snprintf(line, sizeof line, "%s all * read\n%s rot * read\n", h1, h2);
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.new", tokens_path);
    FILE *f = fopen(tmp, "w");
    CHECK(f && fwrite(line, 1, (size_t)n, f) == (size_t)n && fclose(f) == 0,
          "cannot write the tokens file");
    CHECK(rename(tmp, tokens_path) == 0, "cannot replace the tokens file");
}

static struct mf_proc *start_api(const char *bin, const char *crash_at, int cache)
{
    static char env[6][512];
    snprintf(env[0], sizeof env[0], "PG_DSN=%s", pg->dsn);
    snprintf(env[1], sizeof env[1], "API_ADDR=127.0.0.1:%u", port);
    snprintf(env[2], sizeof env[2], "API_TOKENS_FILE=%s", tokens_path);
    snprintf(env[3], sizeof env[3], "API_CACHE=%s", cache ? "on" : "off");
    snprintf(env[4], sizeof env[4], "%s", "API_STATEMENT_TIMEOUT_MS=5000");
    snprintf(env[5], sizeof env[5], "%s", crash_at ? crash_at : "LOG_LEVEL=info");
    const char *e[] = {env[0], env[1], env[2], env[3], env[4], env[5], NULL};
    struct mf_proc *p = mf_proc_start(bin, NULL, e);
    CHECK(mf_wait_http_ok(port, "/readyz", 30000) == 0, "%s did not become ready", bin);
    return p;
}

/* GET path with token (and If-None-Match); -1 when no whole answer arrived. */
static long get(const char *path, const char *token, const char *inm, struct mf_http_resp *r)
{
    char url[640], auth[96], cond[96];
    const char *h[3] = {NULL, NULL, NULL};
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    h[0] = auth;
    if (inm) {
        snprintf(cond, sizeof cond, "If-None-Match: %s", inm);
        h[1] = cond;
    }
    if (mf_http("GET", url, h, NULL, 0, r) != 0)
        return -1; /* refused, reset, or cut short of its Content-Length */
    return r->code;
}

/* Asks request i; 1 when answered equal to the reference, 0 when it did not arrive. */
static int ask(int i)
{
    struct req *q = &reqs[i];
    struct mf_http_resp r;
    long code = get(q->path, q->token, q->conditional ? q->etag : NULL, &r);
    if (code < 0) {
        mf_http_resp_release(&r);
        return 0;
    }
    CHECK(code == q->code && strcmp(r.body, q->body) == 0 &&
              (code != 200 || strcmp(r.etag, q->etag) == 0),
          "%s: answered %ld %s (ETag %s), the reference %ld %s (ETag %s)", q->path, code, r.body,
          r.etag, q->code, q->body, q->etag);
    mf_http_resp_release(&r);
    return 1;
}

static void *client(void *arg)
{
    int first = *(const int *)arg;
    for (int j = 0; j < nreqs; j++) {
        int i = (first + j) % nreqs;
        if (ask(i)) {
            atomic_fetch_add(&answered, 1);
        } else {
            atomic_fetch_add(&lost, 1);
            atomic_fetch_add(&failed[i], 1);
        }
    }
    return NULL;
}

static void add(const char *token, int conditional, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(const char *token, int conditional, const char *fmt, ...)
{
    CHECK(nreqs < NREQ, "too many requests");
    struct req *q = &reqs[nreqs++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->path, sizeof q->path, fmt, ap);
    va_end(ap);
    q->token = token;
    q->conditional = conditional;
}

/* The mix, over fixed times: the same request has the same answer all run. */
static void make_requests(void)
{
    char t0[MF_TIME_STRLEN], t1[MF_TIME_STRLEN], m0[MF_TIME_STRLEN];
    int64_t now = mf_now_ms();
    mf_time_format((now / 3600000 - 40) * 3600000, t0);
    mf_time_format((now / 3600000 - 2) * 3600000, t1);
    mf_time_format((now / 60000 - 300) * 60000, m0);
    add("tok-all", 0, "/v1/meters/MTR-00007/status");
    add("tok-all", 0, "/v1/meters/MTR-00003/rollups?width=1h&from=%s&to=%s&limit=7", t0, t1);
    add("tok-all", 1, "/v1/meters/MTR-00003/rollups?width=1h&from=%s&to=%s&limit=7", t0, t1);
    add("tok-all", 0, "/v1/meters/MTR-00002/rollups?width=1m&from=%s&to=%s&limit=250", m0, t1);
    add("tok-all", 0, "/v1/fleet/load?from=%s&to=%s", t0, t1);
    add("tok-all", 0, "/v1/fleet/peaks?from=%s&to=%s", t0, t1);
    add("tok-all", 0, "/v1/feeders/FDR-2/balance?from=%s&to=%s", t0, t1);
    add("tok-all", 0, "/v1/meters/MTR-99999/status");
    add("tok-all", 0, "/v1/fleet/load?width=1m");
    add("nobody", 0, "/v1/meters/MTR-00007/status");
    add("tok-all", 0, "/");
}

/* The reference answers: a release API, cache off, no crash point. */
static void take_reference(void)
{
    struct mf_proc *api = start_api("analytics-api", NULL, 0);
    char last[64] = ""; /* the ETag of the last unconditional request */
    for (int i = 0; i < nreqs; i++) {
        struct req *q = &reqs[i];
        struct mf_http_resp r;
        /* a conditional request's ETag is its unconditional twin's, just before it */
        if (q->conditional)
            snprintf(q->etag, sizeof q->etag, "%s", last);
        q->code = get(q->path, q->token, q->conditional ? q->etag : NULL, &r);
        CHECK(q->code > 0, "%s: no reference answer", q->path);
        q->body = mf_xstrdup(r.body);
        if (!q->conditional) {
            snprintf(q->etag, sizeof q->etag, "%s", r.etag);
            snprintf(last, sizeof last, "%s", r.etag);
        }
        mf_http_resp_release(&r);
    }
    /* Each kind of answer is in the mix. */
    static const long kinds[] = {200, 304, 400, 401, 404};
    for (size_t k = 0; k < MF_ARRAY_LEN(kinds); k++) {
        int seen = 0;
        for (int i = 0; i < nreqs; i++)
            seen |= reqs[i].code == kinds[k];
        CHECK(seen, "no reference answer is %ld", kinds[k]);
    }
    CHECK(mf_proc_stop(api, 30000) == 0, "analytics-api SIGTERM exit status");
}

/* 1 once the API has exited, its status in *st (-1 while it runs). */
static int ended(struct mf_proc *api, int *st)
{
    if (*st < 0)
        *st = mf_proc_wait(api, 0);
    return *st >= 0;
}

/* 1 once token k is let in (the reload is done); 0 if the API died first. */
static int wait_token(struct mf_proc *api, int k, int *st)
{
    char tok[32];
    snprintf(tok, sizeof tok, "tok-r%d", k);
    int64_t deadline = mf_mono_ms() + 15000;
    while (mf_mono_ms() < deadline) {
        struct mf_http_resp r;
        long code = get(reqs[0].path, tok, NULL, &r);
        mf_http_resp_release(&r);
        if (code == 200)
            return 1;
        if (ended(api, st))
            return 0;
        usleep(20000);
    }
    mf_die("token %s not in force 15 s after SIGHUP", tok);
}

int main(void)
{
    char bin[512];
    static char points[MAX_POINTS][MF_CRASH_POINT_MAX];
    int npoints = mf_crash_walk_points("analytics-api", bin, sizeof bin, points, MAX_POINTS);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    pg = mf_pgtmp_start();
    mf_pgtmp_load(pg, "tests/data/api/fixture.sql",
                  "-v meters=20 -v regions=2 -v meters_1h=10 -v days_1h=2 -v meters_1m=3 -v "
                  "days_1m=1 -v feeders=3 -v vehicles=2");
    int fd = mkstemp(tokens_path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    int k = 0; /* the rotating token now in the file */
    write_tokens(k);
    port = mf_free_port();
    make_requests();
    take_reference();

    int total_answered = 0, total_reasked = 0;
    /* Each point at its second reach (cache cold, the first reload) and at
     * its seventh (answers from the cache beside queries, several reloads). */
    static const int reach[] = {2, 7};
    for (int w = 0; w < npoints * (int)MF_ARRAY_LEN(reach); w++) {
        int p = w / (int)MF_ARRAY_LEN(reach), n = reach[w % (int)MF_ARRAY_LEN(reach)];
        char at[160];
        snprintf(at, sizeof at, "MF_CRASH_AT=%.96s:%d", points[p], n);
        struct mf_proc *api = start_api(bin, at, 1);
        atomic_store(&answered, 0);
        atomic_store(&lost, 0);
        for (int i = 0; i < nreqs; i++)
            atomic_store(&failed[i], 0);
        int round = 0, st = -1;
        for (; round < MAX_ROUNDS && !ended(api, &st); round++) {
            pthread_t t[NCLIENTS];
            static const int first[NCLIENTS] = {0, 4, 8}; /* where each client starts the mix */
            for (int c = 0; c < NCLIENTS; c++)
                pthread_create(&t[c], NULL, client, (void *)&first[c]);
            for (int c = 0; c < NCLIENTS; c++)
                pthread_join(t[c], NULL);
            if (ended(api, &st))
                break;
            /* Rotate the token: the file is the truth, before and after any crash. */
            write_tokens(++k);
            mf_proc_signal(api, SIGHUP);
            if (!wait_token(api, k, &st))
                break;
        }
        if (st < 0)
            st = mf_proc_wait(api, 10000);
        if (st < 0)
            mf_proc_signal(api, SIGKILL);
        CHECK(st == 128 + SIGKILL, "crash point %s: not reached %d times in %d rounds (status %d)",
              points[p], n, round, st);
        free(api);

        /* A restarted API: the answers that did not arrive, and the file's tokens. */
        api = start_api("analytics-api", NULL, 1);
        int reasked = 0;
        for (int i = 0; i < nreqs; i++)
            for (int left = atomic_load(&failed[i]); left > 0; left--, reasked++)
                CHECK(ask(i), "%s: no answer from the restarted API", reqs[i].path);
        CHECK(reasked == atomic_load(&lost), "re-asked %d, lost %d", reasked, atomic_load(&lost));
        struct mf_http_resp r;
        char tok[32];
        snprintf(tok, sizeof tok, "tok-r%d", k);
        long code = get(reqs[0].path, tok, NULL, &r);
        CHECK(code == 200 && strcmp(r.body, reqs[0].body) == 0,
              "after %s: the file's token %s got %ld", points[p], tok, code);
        mf_http_resp_release(&r);
        if (k > 0) {
            snprintf(tok, sizeof tok, "tok-r%d", k - 1);
            code = get(reqs[0].path, tok, NULL, &r);
            CHECK(code == 401, "after %s: the replaced token %s got %ld", points[p], tok, code);
            mf_http_resp_release(&r);
        }
        CHECK(mf_proc_stop(api, 30000) == 0, "analytics-api SIGTERM exit status");
        printf("crash point %-18s reach %d (round %d), SIGKILL: %d answers equal to the "
               "reference, %d re-asked after the restart and equal, token tok-r%d in force\n",
               points[p], n, round + 1, atomic_load(&answered), reasked, k);
        total_answered += atomic_load(&answered);
        total_reasked += reasked;
    }
    printf("ft_api_crashwalk: %d crash points walked (reach 2 and 7), %d answers whole and "
           "right, %d re-asked after a crash and right, none cut short taken for whole\n",
           npoints, total_answered, total_reasked);
    for (int i = 0; i < nreqs; i++)
        free(reqs[i].body);
    unlink(tokens_path);
    mf_pgtmp_do(pg, "destroy");
    curl_global_cleanup();
    return 0;
}
