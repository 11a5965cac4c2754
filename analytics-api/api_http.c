/* api_http: routing, auth, cache, conditional GETs and metrics. */
#include "api_http.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api_page.h"
#include "api_route.h"
#include "mf_http.h"
#include "mf_http_guard.h"
#include "mf_metrics.h"
#include "mf_time.h"
#include "mf_authz.h"
#include "mf_crash.h"
#include "mf_tokens.h"
#include "mf_common.h"

struct api_server {
    struct MHD_Daemon *daemon;
    struct api_server_opts o;
    unsigned port;
    const struct api_query_env *env;
    struct api_cache *cache;
    struct mf_authz *auth;       /* NULL: API_AUTH=off */
    struct mf_http_guard *guard; /* slow clients: a deadline per connection */
};

/* ---------------------------------------------------------------- metrics */

enum { RT_PAGE = API_R_COUNT, RT_OTHER, RT_COUNT };
static const unsigned known_codes[] = {200, 304, 400, 401, 403, 404, 405, 500, 503};
static struct mf_metric *code_series[RT_COUNT][MF_ARRAY_LEN(known_codes)];
static struct mf_metric *duration[RT_COUNT];
static struct mf_metric *cache_result[3];

static const char *rt_name(int rt)
{
    if (rt < API_R_COUNT)
        return api_route_name((enum api_route)rt);
    return rt == RT_PAGE ? "page" : "other";
}

void api_http_metrics_init(void)
{
    static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                    0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
    mf_metrics_register("meterflow_api_requests_total", MF_METRIC_COUNTER,
                        "HTTP requests answered, by route and status code.", NULL, 0);
    mf_metrics_register("meterflow_api_request_duration_seconds", MF_METRIC_HISTOGRAM,
                        "Time from a request's arrival to its answer, by route.", bounds,
                        MF_ARRAY_LEN(bounds));
    mf_metrics_register("meterflow_api_cache_total", MF_METRIC_COUNTER,
                        "Cache lookups: hit (a stored answer), miss (queried PostgreSQL), "
                        "coalesced (waited for another request's query of the same key).",
                        NULL, 0);
    for (int rt = 0; rt < RT_COUNT; rt++) {
        for (size_t i = 0; i < MF_ARRAY_LEN(known_codes); i++) {
            char code[8];
            snprintf(code, sizeof code, "%u", known_codes[i]);
            code_series[rt][i] = mf_metric2("meterflow_api_requests_total", "route", rt_name(rt),
                                            "code", code);
        }
        duration[rt] = mf_metric1("meterflow_api_request_duration_seconds", "route", rt_name(rt));
    }
    cache_result[API_CACHE_HIT] = mf_metric1("meterflow_api_cache_total", "result", "hit");
    cache_result[API_CACHE_MISS] = mf_metric1("meterflow_api_cache_total", "result", "miss");
    cache_result[API_CACHE_COALESCED] = mf_metric1("meterflow_api_cache_total", "result",
                                                   "coalesced");
}

static void count(int rt, unsigned code, int64_t start_us)
{
    struct mf_metric *m = NULL;
    for (size_t i = 0; i < MF_ARRAY_LEN(known_codes); i++)
        if (known_codes[i] == code)
            m = code_series[rt][i];
    if (!m) {
        char c[8];
        snprintf(c, sizeof c, "%u", code);
        m = mf_metric2("meterflow_api_requests_total", "route", rt_name(rt), "code", c);
    }
    mf_metric_inc(m);
    mf_metric_observe(duration[rt], (double)(mf_mono_us() - start_us) / 1e6);
}

/* ---------------------------------------------------------------- answers */

/* A request's context once it is an API answer (not an admin one): what
 * the completed callback's crash point looks for. */
static char api_request_mark;

struct reply {
    unsigned code;
    const char *ctype; /* NULL: application/json */
    const char *body;
    size_t len;
    const char *etag;  /* or NULL */
    int max_age;       /* Cache-Control: max-age, or -1 for no-store */
    int retry_after;   /* seconds, or 0 */
    const char *allow; /* for 405 */
};

/*
 * Queues r. held: the cache entry whose body r sends; the response keeps
 * it (given back when libmicrohttpd is done with the body) instead of
 * copying the body. The entry is given back here if queueing fails.
 */
static enum MHD_Result send_reply_held(struct MHD_Connection *c, const struct reply *r, int rt,
                                       int64_t start_us, const struct api_entry *held)
{
    struct MHD_Response *resp = held ? MHD_create_response_from_buffer_with_free_callback_cls(
                                           r->len, (void *)r->body, api_cache_release, (void *)held)
                                     : MHD_create_response_from_buffer(r->len, (void *)r->body,
                                                                       MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        if (held)
            api_cache_release((void *)held);
        return MHD_NO;
    }
    char buf[32];
    if (r->code != 304)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->ctype ? r->ctype : "application/json");
    if (r->etag)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
    if (r->max_age >= 0) {
        snprintf(buf, sizeof buf, "max-age=%d", r->max_age);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, buf);
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    }
    if (r->retry_after) {
        snprintf(buf, sizeof buf, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, buf);
    }
    if (r->code == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    enum MHD_Result ok = MHD_queue_response(c, r->code, resp);
    MHD_destroy_response(resp);
    MF_CRASH_POINT("api.answer.queued"); /* the answer queued, not a byte of it sent */
    count(rt, r->code, start_us);
    return ok;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, const struct reply *r, int rt,
                                  int64_t start_us)
{
    return send_reply_held(c, r, rt, start_us, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *msg,
                                  const char *param, int rt, int64_t start_us)
{
    struct api_answer a;
    api_error_body(&a, code, msg, param);
    struct reply r = {code, NULL, a.body, a.len, NULL, -1, 0, NULL};
    enum MHD_Result ok = send_reply(c, &r, rt, start_us);
    free(a.body);
    return ok;
}

/* 1 if the If-None-Match header lists etag (or is "*"). */
static int etag_matches(struct MHD_Connection *c, const char *etag)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (!inm)
        return 0;
    if (strcmp(inm, "*") == 0)
        return 1;
    size_t n = strlen(etag);
    for (const char *p = inm; (p = strstr(p, etag)) != NULL; p += n) {
        /* a whole list element: not a prefix of a longer tag */
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ')
            return 1;
    }
    return 0;
}

static const char *get_arg(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, name);
}

/*
 * Who may ask: 401 without a known token, 403 without the read scope or
 * when the token's glob does not cover the meter or vehicle asked for
 * (fleet, region, feeder and weather answers span many meters, so they need
 * a token whose glob is "*"). 0 when allowed.
 */
static unsigned authorize(const struct api_server *s, struct MHD_Connection *c,
                          const struct api_req *req, const char **why)
{
    if (!s->auth)
        return 0;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok;
    size_t n;
    if (!h || !mf_tokens_bearer(h, &tok, &n)) {
        *why = "missing bearer token";
        return 401;
    }
    const struct mf_token *t = mf_authz_lookup(s->auth, tok, n);
    if (!t) {
        *why = "unknown token";
        return 401;
    }
    if (!(t->scopes & MF_SCOPE_READ)) {
        *why = "the token lacks the read scope";
        return 403;
    }
    int per_key = api_route_per_key(req->route);
    if (per_key ? !mf_token_allows(t, MF_SCOPE_READ, req->id) : strcmp(t->glob, "*") != 0) {
        *why = per_key ? "the token may not read this meter or vehicle"
                       : "answers over many meters need a token for every meter ('*')";
        return 403;
    }
    return 0;
}

static int ready(void *opaque, char *why, size_t whylen)
{
    const struct api_server *s = opaque;
    return api_pool_ready(s->env->pool, why, whylen);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_size, void **con_cls)
{
    struct api_server *s = cls;
    (void)version;
    (void)upload_data;
    int64_t start_us = mf_mono_us();

    /* First call: headers only. A body (none is expected) is read and dropped. */
    if (!*con_cls) {
        *con_cls = s;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (mf_admin_answer(c, method, url, ready, s))
        return MHD_YES;
    *con_cls = &api_request_mark;
    if (!is_get) {
        struct reply r = {405, NULL,       "{\"error\":\"method not allowed\"}\n", 31, NULL, -1,
                          0,   "GET, HEAD"};
        return send_reply(c, &r, RT_OTHER, start_us);
    }

    /* The page and its chart library: public, like any static file. */
    if (strcmp(url, "/") == 0) {
        struct reply r = {
            200, "text/html; charset=utf-8", api_page_html, api_page_html_len, NULL, 300, 0, NULL};
        return send_reply(c, &r, RT_PAGE, start_us);
    }
    if (strcmp(url, "/chart.js") == 0) {
        if (!s->o.chartjs)
            return send_error(c, 404, "the chart library is not installed (API_CHARTJS_PATH)", NULL,
                              RT_PAGE, start_us);
        struct reply r = {
            200, "application/javascript", s->o.chartjs, s->o.chartjs_len, NULL, 86400, 0, NULL};
        return send_reply(c, &r, RT_PAGE, start_us);
    }

    struct api_req req;
    struct api_bad bad;
    enum api_parse pr = api_route_parse(url, get_arg, c, mf_now_ms(), s->env->cursor_key,
                                        s->env->cursor_keylen, &req, &bad);
    if (pr == API_PARSE_NOT_FOUND)
        return send_error(c, 404, "no such endpoint", NULL, RT_OTHER, start_us);
    int rt = (int)req.route;
    const char *why = NULL;
    unsigned deny = authorize(s, c, &req, &why);
    if (deny)
        return send_error(c, deny, why, NULL, rt, start_us);
    if (pr == API_PARSE_BAD)
        return send_error(c, 400, bad.why, bad.param, rt, start_us);

    struct api_query q = {s->env, &req, mf_now_ms()};
    enum api_cache_result res;
    const struct api_entry *e = api_cache_get(s->cache, req.key, api_query_fill, &q, &res);
    MF_CRASH_POINT("api.answer.made"); /* the answer in hand (queried or cached), not queued */
    mf_metric_inc(cache_result[res]);
    const struct api_answer *a = &e->a;
    struct reply r = {a->status, NULL, a->body, a->len, NULL, -1, 0, NULL};
    if (a->status == 200 || a->status == 404) {
        r.etag = e->etag;
        r.max_age = a->ttl_s > 0 ? api_cache_max_age(e) : -1;
        if (a->status == 200 && etag_matches(c, e->etag)) {
            r.code = 304;
            r.body = "";
            r.len = 0;
        }
    }
    if (a->status == 503)
        r.retry_after = (int)s->o.retry_after_s;
    if (r.code == 304) {
        enum MHD_Result ok = send_reply(c, &r, rt, start_us);
        api_cache_put(s->cache, e);
        return ok;
    }
    return send_reply_held(c, &r, rt, start_us, e);
}

/*
 * A request is over: the guard's deadline goes back to between-requests.
 * The crash point is an API answer written whole to the socket (the
 * client may have it; the walk checks it is complete and right).
 */
static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct api_server *s = cls;
    mf_http_guard_request_done(s->guard, c);
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK && *req_cls == &api_request_mark)
        MF_CRASH_POINT("api.answer.sent");
}

struct api_server *api_server_start(const struct api_server_opts *o,
                                    const struct api_query_env *env, struct api_cache *cache,
                                    struct mf_authz *auth, char *errbuf, size_t errlen)
{
    struct api_server *s = mf_xcalloc(1, sizeof *s);
    s->o = *o;
    s->env = env;
    s->cache = cache;
    s->auth = auth;
    s->guard = mf_http_guard_new("analytics-api", o->idle_timeout_s, o->request_timeout_s, errbuf,
                                 errlen);
    if (!s->guard)
        goto fail;
    struct MHD_OptionItem guard_opts[3];
    mf_http_guard_options(s->guard, guard_opts);
    int fd = mf_http_listen(o->addr, 1024, &s->port, errbuf, errlen);
    if (fd < 0)
        goto fail;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (o->tls ? MHD_USE_TLS : 0);
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        o->threads, MHD_OPTION_CONNECTION_LIMIT, o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        /* Idle connections are closed after API_IDLE_TIMEOUT_S: at
         * API_MAX_CONNECTIONS new ones wait in the backlog for a slot, at
         * most about that long. */
        o->idle_timeout_s,
        /* The request line and headers live in this pool: 16 KiB holds any
         * sane one; a longer URL gets 414 from libmicrohttpd. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_ARRAY,
        mf_http_tls_options(o->tls), MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_ARRAY,
        guard_opts, MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        snprintf(errbuf, errlen, "cannot start the HTTP%s server on %s", o->tls ? "S" : "",
                 o->addr);
        goto fail;
    }
    return s;
fail:
    mf_http_guard_destroy(s->guard);
    free(s);
    return NULL;
}

unsigned api_server_port(const struct api_server *s)
{
    return s->port;
}

void api_server_destroy(struct api_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    mf_http_guard_destroy(s->guard);
    free(s);
}
