/*
 * api_http: the analytics API's HTTP server on libmicrohttpd: routing,
 * bearer tokens with the read scope, the cache in front of the queries,
 * ETag / If-None-Match, Cache-Control, Retry-After, the metrics of DESIGN
 * §9, and /metrics, /healthz, /readyz on the same port.
 *
 * Requests are answered on libmicrohttpd's thread pool (epoll); a cache
 * miss holds its thread for the query, which the pool's wait and the
 * statement timeout bound. Thread: the handlers run on libmicrohttpd's
 * threads.
 */
#ifndef API_HTTP_H
#define API_HTTP_H

#include <stddef.h>

#include "api_cache.h"
#include "api_query.h"

struct mf_authz;

struct api_server_opts {
    const char *addr;
    unsigned threads;
    unsigned max_connections;
    unsigned idle_timeout_s;
    unsigned request_timeout_s; /* API_REQUEST_TIMEOUT_S: request line to answer (mf_http_guard) */
    unsigned retry_after_s;
    const char *chartjs; /* the chart library's bytes for /chart.js, or NULL */
    size_t chartjs_len;
    int tls; /* HTTPS with mf_tls_install's pair (API_TLS_*), or plain HTTP */
};

struct api_server;

/* Registers the API's metric families (before the first request). */
void api_http_metrics_init(void);

/*
 * Starts serving. auth NULL: no tokens asked (API_AUTH=off); else the tokens
 * in force, which SIGHUP may replace meanwhile. The env and
 * cache must outlive the server. NULL with errbuf on failure.
 */
struct api_server *api_server_start(const struct api_server_opts *o,
                                    const struct api_query_env *env, struct api_cache *cache,
                                    struct mf_authz *auth, char *errbuf, size_t errlen);
unsigned api_server_port(const struct api_server *s);
/* Stops accepting, lets the requests being answered finish, frees. */
void api_server_destroy(struct api_server *s);

#endif
