/*
 * gw_http: the request state machine.
 *
 *   first call   route, method, drain, auth, content type, declared size
 *   body calls   append to a bounded buffer (past the limit: discard, 413)
 *   last call    parse items, check scopes and key globs, queue to Kafka, suspend
 *   resumed      all records settled: 202/400, or 503 if Kafka failed any;
 *                or the deadline passed first (the watchdog): 503
 *
 * A request waiting for Kafka is held twice (refs): by libmicrohttpd until
 * the connection completes, and by its batch until the last delivery
 * report. A request answered 503 by the watchdog still has records in
 * flight, which report into its batch later: it returns to the pool only
 * when both let go.
 */
#include "gw_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_auth.h"
#include "gw_publish.h"
#include "gw_body.h"
#include "gw_items.h"
#include "mf_authz.h"
#include "mf_buf.h"
#include "mf_http.h"
#include "mf_http_guard.h"
#include "mf_json.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_producer.h"
#include "mf_time.h"
#include "mf_common.h"
#include "mf_crash.h"

/*
 * The write endpoints (DESIGN §7) and the kinds each takes. /v1/readings
 * keeps its own path (gw_body_parse straight to readings, its CSV columns
 * fixed); the others go through objects (gw_body_parse_objects, gw_items).
 */
static const struct {
    const char *path;
    unsigned kinds;   /* 0: the readings path */
    const char *name; /* its rejected items' kind label */
} routes[] = {
    {"/v1/readings", 0, "reading"},
    {"/v1/grid", GW_KIND_BIT(GW_KIND_GRID), "grid"},
    {"/v1/weather", GW_KIND_BIT(GW_KIND_WEATHER), "weather"},
    {"/v1/vehicles", GW_KIND_BIT(GW_KIND_VEHICLE), "vehicle"},
    {"/v1/telemetry", GW_KINDS_ALL, "telemetry"},
};

enum req_state { RECEIVING, WAITING, SETTLED, TIMED_OUT };

#define WATCHDOG_MS 50 /* how often the watchdog looks at waiting requests' deadlines */

/* Where one serialized reading sits in a request's output buffers. */
struct item {
    uint32_t val_off, val_len;
    uint32_t key_off, key_len;
    uint32_t kind; /* enum gw_kind: the topic */
};

struct gw_req {
    struct gw_req *next_free;
    struct gw_req *wait_prev, *wait_next; /* in the server's waiting list while WAITING */
    struct gw_server *srv;
    struct MHD_Connection *conn;
    _Atomic enum req_state state; /* WAITING -> SETTLED or TIMED_OUT: the first one wins */
    atomic_int refs;              /* libmicrohttpd's, and the batch's while records fly */
    int64_t deadline_ms;          /* mf_mono_ms() by which it is answered */
    int fmt;
    unsigned kinds; /* the route's (0: readings path) */
    int route;
    size_t kind_n[GW_KIND_COUNT]; /* accepted items by kind */
    int too_large;
    int shed;              /* over GW_MAX_INFLIGHT_BYTES: the body is read and dropped, then 503 */
    size_t admitted_bytes; /* its share of the server's inflight_bytes, until put back */
    const struct mf_token *token;
    int64_t start_us;
    struct mf_buf body;   /* the request body, bounded */
    struct mf_buf out;    /* serialized readings */
    struct mf_buf keys;   /* their meter IDs */
    struct mf_buf items;  /* struct item[] */
    struct mf_buf errors; /* the JSON "errors" array's elements */
    size_t accepted, rejected;
    char forbidden[MF_METER_ID_MAX + 1];
    enum gw_kind forbidden_kind;
    struct mf_batch batch;
};

struct gw_server {
    struct MHD_Daemon *daemon;
    struct gw_server_opts o;
    unsigned port;
    struct gw_publisher *pub;
    struct mf_authz *auth;
    atomic_int draining;
    atomic_size_t inflight;
    atomic_size_t inflight_bytes; /* the admitted requests' bodies (GW_MAX_INFLIGHT_BYTES) */
    pthread_mutex_t pool_lock;
    struct gw_req *pool; /* recycled requests: buffers keep their memory */
    pthread_mutex_t wait_lock;
    struct gw_req *waiting; /* requests waiting for Kafka, oldest last */
    pthread_t watchdog;
    atomic_int stop;
    struct mf_http_guard *guard; /* slow clients: a deadline per connection */
};

/* ---------------------------------------------------------------- metrics */

static const unsigned known_codes[] = {202, 400, 401, 403, 404, 405, 413, 415, 429, 500, 503};
static struct mf_metric *code_series[MF_ARRAY_LEN(known_codes)];
static struct mf_metric *readings_accepted, *readings_rejected, *readings_failed, *duration, *shed;
/* The other kinds' items by outcome (readings keep meterflow_gw_readings_total). */
enum { OUT_ACCEPTED, OUT_REJECTED, OUT_FAILED, OUT_COUNT };
static struct mf_metric *source_items[GW_KIND_COUNT][OUT_COUNT];
static struct mf_metric *route_rejected[MF_ARRAY_LEN(routes)];

void gw_http_metrics_init(void)
{
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    mf_metrics_register("meterflow_gw_requests_total", MF_METRIC_COUNTER,
                        "HTTP requests answered, by status code.", NULL, 0);
    mf_metrics_register("meterflow_gw_readings_total", MF_METRIC_COUNTER,
                        "Readings received, by outcome: accepted (acknowledged by Kafka), "
                        "rejected (invalid, listed in the answer), failed (answered 503).",
                        NULL, 0);
    mf_metrics_register("meterflow_gw_request_duration_seconds", MF_METRIC_HISTOGRAM,
                        "Time from a request's first byte to its answer.", bounds,
                        MF_ARRAY_LEN(bounds));
    for (size_t i = 0; i < MF_ARRAY_LEN(known_codes); i++) {
        char code[8];
        snprintf(code, sizeof code, "%u", known_codes[i]);
        code_series[i] = mf_metric1("meterflow_gw_requests_total", "code", code);
    }
    readings_accepted = mf_metric1("meterflow_gw_readings_total", "outcome", "accepted");
    readings_rejected = mf_metric1("meterflow_gw_readings_total", "outcome", "rejected");
    readings_failed = mf_metric1("meterflow_gw_readings_total", "outcome", "failed");
    duration = mf_metric("meterflow_gw_request_duration_seconds", NULL);
    mf_metrics_register("meterflow_gw_shed_requests_total", MF_METRIC_COUNTER,
                        "Requests answered 503 (their body read and dropped, never parsed) "
                        "because the bodies of the requests in flight reached "
                        "GW_MAX_INFLIGHT_BYTES (load shedding).",
                        NULL, 0);
    shed = mf_metric("meterflow_gw_shed_requests_total", NULL);
    mf_metrics_register("meterflow_gw_source_records_total", MF_METRIC_COUNTER,
                        "Grid, weather and vehicle items received (DESIGN 11), by kind and outcome "
                        "as for readings; rejected ones by the endpoint's kind.",
                        NULL, 0);
    static const char *const outcomes[OUT_COUNT] = {"accepted", "rejected", "failed"};
    for (int k = GW_KIND_GRID; k < GW_KIND_COUNT; k++)
        for (int o = 0; o < OUT_COUNT; o++)
            source_items[k][o] = mf_metric2("meterflow_gw_source_records_total", "kind",
                                            gw_kind_noun((enum gw_kind)k), "outcome", outcomes[o]);
    source_items[GW_KIND_READING][OUT_ACCEPTED] = readings_accepted;
    source_items[GW_KIND_READING][OUT_FAILED] = readings_failed;
    for (size_t r = 0; r < MF_ARRAY_LEN(routes); r++)
        route_rejected[r] = r == 0 ? readings_rejected
                                   : mf_metric2("meterflow_gw_source_records_total", "kind",
                                                routes[r].name, "outcome", "rejected");
}

/* Counts a request's accepted items (acked or failed) by kind: readings in their own family. */
static void count_items(const struct gw_req *q, int outcome)
{
    for (int k = 0; k < GW_KIND_COUNT; k++)
        if (q->kind_n[k])
            mf_metric_add(source_items[k][outcome], (double)q->kind_n[k]);
}

static void count_code(unsigned code)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(known_codes); i++) {
        if (known_codes[i] == code) {
            mf_metric_inc(code_series[i]);
            return;
        }
    }
    char c[8];
    snprintf(c, sizeof c, "%u", code);
    mf_metric_inc(mf_metric1("meterflow_gw_requests_total", "code", c));
}

/* ---------------------------------------------------------------- requests */

static struct gw_req *req_get(struct gw_server *s, struct MHD_Connection *c)
{
    pthread_mutex_lock(&s->pool_lock);
    struct gw_req *q = s->pool;
    if (q)
        s->pool = q->next_free;
    pthread_mutex_unlock(&s->pool_lock);
    if (!q) {
        q = mf_xcalloc(1, sizeof *q);
        mf_buf_init(&q->body, s->o.max_body_bytes);
        mf_buf_init(&q->out, SIZE_MAX);
        mf_buf_init(&q->keys, SIZE_MAX);
        mf_buf_init(&q->items, SIZE_MAX);
        mf_buf_init(&q->errors, SIZE_MAX);
    }
    q->srv = s;
    q->conn = c;
    atomic_store(&q->state, RECEIVING);
    atomic_store(&q->refs, 1); /* libmicrohttpd's */
    q->wait_prev = q->wait_next = NULL;
    q->fmt = -1;
    q->kinds = 0;
    q->too_large = 0;
    q->shed = 0;
    q->admitted_bytes = 0;
    q->token = NULL;
    q->start_us = mf_mono_us();
    q->accepted = q->rejected = 0;
    memset(q->kind_n, 0, sizeof q->kind_n);
    q->forbidden[0] = '\0';
    mf_buf_reset(&q->body);
    mf_buf_reset(&q->out);
    mf_buf_reset(&q->keys);
    mf_buf_reset(&q->items);
    mf_buf_reset(&q->errors);
    return q;
}

/* Lets go of one hold on q; the last one returns it to the pool. */
static void req_put(struct gw_server *s, struct gw_req *q)
{
    if (atomic_fetch_sub(&q->refs, 1) != 1)
        return;
    atomic_fetch_sub(&s->inflight_bytes, q->admitted_bytes);
    q->admitted_bytes = 0;
    /* A huge body's memory is not kept around for the next small request. */
    if (q->body.cap > (1u << 20))
        mf_buf_release(&q->body);
    if (q->out.cap > (4u << 20)) {
        mf_buf_release(&q->out);
        mf_buf_release(&q->errors);
    }
    pthread_mutex_lock(&s->pool_lock);
    q->next_free = s->pool;
    s->pool = q;
    pthread_mutex_unlock(&s->pool_lock);
}

/*
 * Queues a JSON response. retry_after > 0 adds Retry-After (503s, 429s);
 * close_conn ends a keep-alive connection (while draining, so clients go
 * elsewhere).
 */
static enum MHD_Result respond(struct gw_server *s, struct MHD_Connection *c, unsigned code,
                               const char *body, size_t len, unsigned retry_after, int close_conn,
                               int64_t start_us)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    (void)s;
    if (retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (code == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (code == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    if (close_conn)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    count_code(code);
    if (start_us)
        mf_metric_observe(duration, (double)(mf_mono_us() - start_us) / 1e6);
    return ok;
}

/* {"error":"..."} with Retry-After: retry_after seconds (0: none). */
static enum MHD_Result respond_error_retry(struct gw_server *s, struct MHD_Connection *c,
                                           unsigned code, const char *msg, unsigned retry_after,
                                           int64_t start_us)
{
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appends(&b, "{\"error\":");
    mf_json_str(&b, msg, strlen(msg));
    mf_buf_appends(&b, "}\n");
    int draining = atomic_load(&s->draining);
    enum MHD_Result rc = respond(s, c, code, b.data, b.len, retry_after, draining, start_us);
    mf_buf_release(&b);
    return rc;
}

/* {"error":"..."} responses for whole-request failures; a 503 says when to retry. */
static enum MHD_Result respond_error(struct gw_server *s, struct MHD_Connection *c, unsigned code,
                                     const char *msg, int64_t start_us)
{
    return respond_error_retry(s, c, code, msg, code == 503 ? s->o.retry_after_s : 0, start_us);
}

/* 429: the token is over the rate its line in the tokens file gives it. */
static enum MHD_Result respond_rate_limited(struct gw_server *s, struct gw_req *q, unsigned wait)
{
    char msg[160];
    snprintf(msg, sizeof msg, "token '%s' is over its rate of %g requests a second; retry later",
             q->token->name, q->token->rate_per_s);
    return respond_error_retry(s, q->conn, 429, msg, wait, q->start_us);
}

/* An invalid item: listed in the answer by its index. */
static void reject_item(struct gw_req *q, size_t index, const char *err)
{
    if (q->errors.len)
        mf_buf_appendc(&q->errors, ',');
    mf_buf_appendf(&q->errors, "{\"index\":%zu,\"error\":", index);
    mf_json_str(&q->errors, err, strlen(err));
    mf_buf_appendc(&q->errors, '}');
    q->rejected++;
}

/* 1 if the request's token may write this key of this kind; else remembers the first refusal. */
static int allowed(struct gw_req *q, enum gw_kind kind, const char *key)
{
    if (!q->token || mf_token_allows(q->token, gw_kind_scope(kind), key))
        return 1;
    if (!q->forbidden[0]) {
        memcpy(q->forbidden, key, sizeof q->forbidden);
        q->forbidden_kind = kind;
    }
    return 0;
}

/* Records an accepted item whose value is out[val_off..] and key `key`. */
static void keep_item(struct gw_req *q, enum gw_kind kind, const char *key, size_t val_off)
{
    struct item it;
    it.val_off = (uint32_t)val_off;
    it.val_len = (uint32_t)(q->out.len - val_off);
    it.key_off = (uint32_t)q->keys.len;
    it.key_len = (uint32_t)strlen(key);
    it.kind = (uint32_t)kind;
    mf_buf_append(&q->keys, key, it.key_len);
    mf_buf_append(&q->items, &it, sizeof it);
    q->accepted++;
    q->kind_n[kind]++;
}

/* gw_body_item_fn of /v1/readings. */
static void on_item(void *opaque, size_t index, const struct mf_reading *r, const char *err)
{
    struct gw_req *q = opaque;

    if (!r) {
        reject_item(q, index, err);
        return;
    }
    if (!allowed(q, GW_KIND_READING, r->meter_id))
        return;
    size_t off = q->out.len;
    mf_reading_to_json(r, &q->out);
    keep_item(q, GW_KIND_READING, r->meter_id, off);
}

/* gw_body_object_fn of the other endpoints: decode by kind, then as readings. */
static void on_object(void *opaque, size_t index, const cJSON *obj, const char *err)
{
    struct gw_req *q = opaque;
    char why[200], key[MF_METER_ID_MAX + 1];
    enum gw_kind kind;
    size_t off = q->out.len;

    if (!obj) {
        reject_item(q, index, err);
        return;
    }
    if (gw_item_decode(obj, q->kinds, &kind, key, &q->out, why, sizeof why) != MF_OK) {
        reject_item(q, index, why);
        return;
    }
    if (!allowed(q, kind, key)) {
        q->out.len = off;
        return;
    }
    keep_item(q, kind, key, off);
}

/* ---------------------------------------------------------------- waiting */

static void wait_link(struct gw_server *s, struct gw_req *q)
{
    pthread_mutex_lock(&s->wait_lock);
    q->wait_prev = NULL;
    q->wait_next = s->waiting;
    if (s->waiting)
        s->waiting->wait_prev = q;
    s->waiting = q;
    pthread_mutex_unlock(&s->wait_lock);
}

/* Thread: any; the caller holds wait_lock. */
static void wait_unlink_locked(struct gw_server *s, struct gw_req *q)
{
    if (q->wait_prev)
        q->wait_prev->wait_next = q->wait_next;
    else if (s->waiting == q)
        s->waiting = q->wait_next;
    if (q->wait_next)
        q->wait_next->wait_prev = q->wait_prev;
    q->wait_prev = q->wait_next = NULL;
}

/*
 * Moves a waiting request to its outcome (SETTLED or TIMED_OUT) and resumes
 * its connection to be answered; 0 when the other outcome came first.
 */
static int wait_end(struct gw_req *q, enum req_state outcome)
{
    enum req_state expect = WAITING;
    if (!atomic_compare_exchange_strong(&q->state, &expect, outcome))
        return 0;
    MHD_resume_connection(q->conn);
    return 1;
}

/* Thread: the delivery thread (or ours, when everything settled at once). */
static void on_settled(struct mf_batch *b, void *opaque)
{
    struct gw_req *q = opaque;
    struct gw_server *s = q->srv;
    (void)b;
    MF_CRASH_POINT("gateway.batch.settled"); /* Kafka acknowledged, the client not told */
    pthread_mutex_lock(&s->wait_lock);
    wait_unlink_locked(s, q);
    wait_end(q, SETTLED);
    pthread_mutex_unlock(&s->wait_lock);
    req_put(s, q); /* the batch's hold: no report will come any more */
}

/* The watchdog: answers 503 for every request whose deadline passed. */
static void *watchdog_main(void *arg)
{
    struct gw_server *s = arg;
    while (!atomic_load(&s->stop)) {
        int64_t now = mf_mono_ms();
        pthread_mutex_lock(&s->wait_lock);
        for (struct gw_req *q = s->waiting, *next; q; q = next) {
            next = q->wait_next;
            if (now < q->deadline_ms)
                continue;
            wait_unlink_locked(s, q);
            wait_end(q, TIMED_OUT);
        }
        pthread_mutex_unlock(&s->wait_lock);
        usleep(WATCHDOG_MS * 1000);
    }
    return NULL;
}

/* The answer with the accepted/rejected counts and the item errors. */
static enum MHD_Result respond_summary(struct gw_req *q, unsigned code)
{
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appendf(&b, "{\"accepted\":%zu,\"rejected\":%zu,\"errors\":[", q->accepted, q->rejected);
    mf_buf_append(&b, q->errors.data, q->errors.len);
    mf_buf_appends(&b, "]}\n");
    enum MHD_Result rc = respond(q->srv, q->conn, code, b.data, b.len, 0, 0, q->start_us);
    mf_buf_release(&b);
    return rc;
}

/* The body is complete: parse, authorize, publish, suspend. */
static enum MHD_Result process_body(struct gw_req *q)
{
    struct gw_server *s = q->srv;
    char err[256];

    if (q->too_large) {
        snprintf(err, sizeof err, "body larger than %zu bytes", s->o.max_body_bytes);
        return respond_error(s, q->conn, 413, err, q->start_us);
    }
    if (q->shed)
        return respond_error(s, q->conn, 503,
                             "the gateway is at its limit of requests in flight "
                             "(GW_MAX_INFLIGHT_BYTES); retry after the Retry-After seconds",
                             q->start_us);
    const char *body = q->body.data ? q->body.data : "";
    enum gw_body_status st = q->kinds
                                 ? gw_body_parse_objects((enum gw_body_format)q->fmt, body,
                                                         q->body.len, s->o.max_readings, on_object,
                                                         q, err, sizeof err)
                                 : gw_body_parse((enum gw_body_format)q->fmt, body, q->body.len,
                                                 s->o.max_readings, on_item, q, err, sizeof err);
    if (st == GW_BODY_TOO_MANY)
        return respond_error(s, q->conn, 413, err, q->start_us);
    if (st != GW_BODY_OK)
        return respond_error(s, q->conn, 400, err, q->start_us);
    if (q->forbidden[0]) {
        /* Nothing of the request is published: the token's scope or glob says no. */
        snprintf(err, sizeof err, "token '%s' may not write %s '%s' (needs scope '%s')",
                 q->token->name, gw_kind_noun(q->forbidden_kind), q->forbidden,
                 mf_scope_name(gw_kind_scope(q->forbidden_kind)));
        return respond_error(s, q->conn, 403, err, q->start_us);
    }
    mf_metric_add(route_rejected[q->route], (double)q->rejected);
    if (q->accepted == 0)
        return respond_summary(q, 400);
    if (!gw_publisher_has_room(s->pub, q->accepted)) {
        count_items(q, OUT_FAILED);
        return respond_error(s, q->conn, 503, "the Kafka producer queue is full", q->start_us);
    }

    char ts[MF_TIME_STRLEN];
    mf_time_format(mf_now_ms(), ts);
    const char *source = q->token ? q->token->name : "anonymous";
    const struct item *items = (const struct item *)(void *)q->items.data;

    mf_batch_init(&q->batch, on_settled, q);
    atomic_store(&q->state, WAITING);
    atomic_fetch_add(&q->refs, 1); /* the batch's, until its last report */
    q->deadline_ms = q->start_us / 1000 + s->o.ack_timeout_ms;
    atomic_fetch_add(&s->inflight, 1);
    MHD_suspend_connection(q->conn);
    wait_link(s, q);
    size_t queued = 0;
    for (; queued < q->accepted; queued++) {
        const struct item *it = &items[queued];
        if (gw_publish(s->pub, &q->batch, (int)it->kind, q->keys.data + it->key_off, it->key_len,
                       q->out.data + it->val_off, it->val_len, ts, source) != MF_OK)
            break;
        MF_CRASH_POINT("gateway.record.queued"); /* some of a request's records queued */
    }
    /* Refused mid-request: what was queued still settles; the answer is 503. */
    if (queued < q->accepted)
        mf_batch_fail(&q->batch, q->accepted - queued, "the Kafka producer queue is full");
    mf_batch_seal(&q->batch); /* may resume the connection right away */
    return MHD_YES;
}

/*
 * Everything settled: answer 202, or 503 if Kafka did not acknowledge all;
 * or the deadline passed first: 503 (what is still in flight may yet
 * arrive: a retry of the request repeats readings the worker rejects as
 * duplicates).
 */
static enum MHD_Result answer_settled(struct gw_req *q)
{
    struct gw_server *s = q->srv;
    size_t failed = atomic_load(&q->batch.failed);
    enum MHD_Result rc;

    atomic_fetch_sub(&s->inflight, 1);
    if (atomic_load(&q->state) == TIMED_OUT) {
        char err[160];
        snprintf(err, sizeof err,
                 "Kafka did not acknowledge the %zu records within %d ms; retry the request",
                 q->accepted, s->o.ack_timeout_ms);
        MF_LOG_WARN("http", "%s", err);
        count_items(q, OUT_FAILED);
        rc = respond_error(s, q->conn, 503, err, q->start_us);
    } else if (failed == 0) {
        MF_CRASH_POINT("gateway.answer.accepted"); /* the 202 about to be written */
        count_items(q, OUT_ACCEPTED);
        rc = respond_summary(q, 202);
    } else {
        char err[256];
        snprintf(err, sizeof err,
                 "Kafka did not acknowledge %zu of %zu readings (%s); retry the request", failed,
                 q->accepted, q->batch.first_error);
        MF_LOG_WARN("http", "%s", err);
        count_items(q, OUT_FAILED);
        rc = respond_error(s, q->conn, 503, err, q->start_us);
    }
    atomic_store(&q->state, RECEIVING);
    return rc;
}

/* /readyz: a broker answers and we are not shutting down. Thread: any. */
static int ready(void *opaque, char *why, size_t whylen)
{
    struct gw_server *s = opaque;
    if (atomic_load(&s->draining)) {
        snprintf(why, whylen, "shutting down");
        return 0;
    }
    if (!gw_publisher_connected(s->pub)) {
        snprintf(why, whylen, "no Kafka broker answers");
        return 0;
    }
    return 1;
}

/*
 * Load shedding: the bodies of the requests held (read, parsed, waiting for
 * Kafka, until their last delivery report) stay under GW_MAX_INFLIGHT_BYTES,
 * so memory is bounded however much is offered. Past it a request's body is
 * read and dropped (answering before it is read would reset the connection
 * under a client still sending) and it is answered 503 with Retry-After.
 * One request is always admitted, whatever its size, so a budget below
 * GW_MAX_BODY_BYTES cannot refuse everything.
 */
static enum MHD_Result admit(struct gw_server *s, struct gw_req *q, size_t want)
{
    size_t before = atomic_fetch_add(&s->inflight_bytes, want);
    if (before > 0 && before + want > s->o.max_inflight_bytes) {
        atomic_fetch_sub(&s->inflight_bytes, want);
        mf_metric_inc(shed);
        q->shed = 1;
        return MHD_YES;
    }
    q->admitted_bytes = want;
    return MHD_YES;
}

/* The first call of a request: everything decidable from its headers. */
static enum MHD_Result first_call(struct gw_server *s, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    int route = -1;
    for (size_t i = 0; i < MF_ARRAY_LEN(routes); i++)
        if (strcmp(url, routes[i].path) == 0)
            route = (int)i;
    if (route < 0) {
        if (mf_admin_answer(c, method, url, ready, s))
            return MHD_YES;
        return respond_error(s, c, 404,
                             "not found: the API is POST /v1/readings, /v1/grid, /v1/weather, "
                             "/v1/vehicles, /v1/telemetry",
                             0);
    }
    if (strcmp(method, "POST") != 0)
        return respond_error(s, c, 405, "method not allowed: use POST", 0);
    if (atomic_load(&s->draining))
        return respond_error(s, c, 503, "shutting down", 0);

    struct gw_req *q = req_get(s, c);
    *con_cls = q;
    q->kinds = routes[route].kinds;
    q->route = route;
    if (s->auth) {
        const char *tok;
        size_t n;
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        if (!mf_tokens_bearer(h, &tok, &n))
            return respond_error(s, c, 401, "missing bearer token", q->start_us);
        unsigned wait = 0;
        enum mf_authz_result ar = mf_authz_check(s->auth, tok, n, mf_mono_ms(), &q->token, &wait);
        if (ar == MF_AUTHZ_UNKNOWN)
            return respond_error(s, c, 401, "unknown token", q->start_us);
        if (ar == MF_AUTHZ_RATE_LIMITED)
            return respond_rate_limited(s, q, wait);
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    q->fmt = gw_body_format_of(ct);
    if (q->fmt < 0)
        return respond_error(s, c, 415,
                             "unsupported Content-Type: use application/json, "
                             "application/x-ndjson or text/csv",
                             q->start_us);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    size_t want = s->o.max_body_bytes; /* chunked: the most it may grow to */
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!errno && !*end && n > s->o.max_body_bytes) {
            char err[96];
            snprintf(err, sizeof err, "body larger than %zu bytes", s->o.max_body_bytes);
            return respond_error(s, c, 413, err, q->start_us);
        }
        if (!errno && !*end)
            want = (size_t)n;
    }
    return admit(s, q, want);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_size, void **con_cls)
{
    struct gw_server *s = cls;
    struct gw_req *q = *con_cls;
    (void)version;

    if (!q)
        return first_call(s, c, url, method, con_cls);
    enum req_state st = atomic_load(&q->state);
    if (st == SETTLED || st == TIMED_OUT)
        return answer_settled(q);
    if (*upload_size) {
        if (!q->too_large && !q->shed &&
            mf_buf_append(&q->body, upload_data, *upload_size) != MF_OK)
            q->too_large = 1; /* keep reading, then answer 413 */
        *upload_size = 0;
        return MHD_YES;
    }
    if (st == RECEIVING)
        return process_body(q);
    return MHD_YES; /* WAITING: resumed spuriously */
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct gw_server *s = cls;
    struct gw_req *q = *con_cls;
    (void)toe;
    mf_http_guard_request_done(s->guard, c);
    if (q) {
        *con_cls = NULL;
        req_put(s, q);
    }
}

/* ---------------------------------------------------------------- server */

struct gw_server *gw_server_start(const struct gw_server_opts *o, struct gw_publisher *pub,
                                  struct mf_authz *auth, char *errbuf, size_t errlen)
{
    struct gw_server *s = mf_xcalloc(1, sizeof *s);
    s->o = *o;
    s->pub = pub;
    s->auth = auth;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_mutex_init(&s->wait_lock, NULL);
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        snprintf(errbuf, errlen, "cannot start the gateway's watchdog thread");
        goto fail_locks;
    }
    s->guard = mf_http_guard_new("ingest-gw", o->idle_timeout_s, o->request_timeout_s, errbuf,
                                 errlen);
    if (!s->guard)
        goto fail_watchdog;
    struct MHD_OptionItem guard_opts[3];
    mf_http_guard_options(s->guard, guard_opts);
    int fd = mf_http_listen(o->addr, 1024, &s->port, errbuf, errlen);
    if (fd < 0)
        goto fail_watchdog;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (o->tls ? MHD_USE_TLS : 0);
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        o->threads, MHD_OPTION_CONNECTION_LIMIT, o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        o->idle_timeout_s,
        /* libmicrohttpd zeroes this pool for every request, and bodies live in
         * our own buffer: 16 KiB holds any sane header block (nginx uses 8). */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_ARRAY, mf_http_tls_options(o->tls), MHD_OPTION_ARRAY,
        guard_opts, MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        snprintf(errbuf, errlen, "cannot start the HTTP%s server on %s", o->tls ? "S" : "",
                 o->addr);
        goto fail_watchdog;
    }
    return s;
fail_watchdog:
    mf_http_guard_destroy(s->guard);
    atomic_store(&s->stop, 1);
    pthread_join(s->watchdog, NULL);
fail_locks:
    pthread_mutex_destroy(&s->wait_lock);
    pthread_mutex_destroy(&s->pool_lock);
    free(s);
    return NULL;
}

unsigned gw_server_port(const struct gw_server *s)
{
    return s->port;
}

void gw_server_drain(struct gw_server *s)
{
    atomic_store(&s->draining, 1);
}

size_t gw_server_inflight(struct gw_server *s)
{
    return atomic_load(&s->inflight);
}

void gw_server_destroy(struct gw_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    mf_http_guard_destroy(s->guard);
    atomic_store(&s->stop, 1);
    pthread_join(s->watchdog, NULL);
    while (s->pool) {
        struct gw_req *q = s->pool;
        s->pool = q->next_free;
        mf_buf_release(&q->body);
        mf_buf_release(&q->out);
        mf_buf_release(&q->keys);
        mf_buf_release(&q->items);
        mf_buf_release(&q->errors);
        free(q);
    }
    pthread_mutex_destroy(&s->wait_lock);
    pthread_mutex_destroy(&s->pool_lock);
    free(s);
}
