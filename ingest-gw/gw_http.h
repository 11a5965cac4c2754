/*
 * gw_http: ingest-gw's HTTP API on libmicrohttpd (DESIGN §7).
 *
 *   POST /v1/readings   JSON, NDJSON or CSV -> 202/400/401/403/413/415/503
 *   GET  /metrics /healthz /readyz
 *
 * A request is read into a bounded buffer, authenticated, parsed item by
 * item, and every valid reading is queued to Kafka; then the connection is
 * suspended (no thread waits) until the last delivery report resumes it,
 * and only then is it answered; or until GW_ACK_TIMEOUT_MS since its first
 * byte has passed, when a watchdog thread resumes it to answer 503
 * (librdkafka's own message timeout does not bound an idempotent
 * producer's in-flight records when the broker dies: they wait for the
 * request timeout, and an answer came after twice GW_ACK_TIMEOUT_MS). Threads: libmicrohttpd's pool
 * for requests, the publisher's delivery thread and the watchdog for resumes.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct gw_publisher;
struct mf_authz;

struct gw_server_opts {
    const char *addr;           /* HTTP_ADDR */
    size_t max_body_bytes;      /* GW_MAX_BODY_BYTES */
    size_t max_readings;        /* GW_MAX_READINGS */
    size_t max_inflight_bytes;  /* GW_MAX_INFLIGHT_BYTES: held bodies past it: 503 at once */
    unsigned retry_after_s;     /* GW_RETRY_AFTER_S */
    unsigned threads;           /* GW_THREADS */
    unsigned max_connections;   /* GW_MAX_CONNECTIONS */
    unsigned idle_timeout_s;    /* GW_IDLE_TIMEOUT_S: between requests (mf_http_guard) */
    unsigned request_timeout_s; /* GW_REQUEST_TIMEOUT_S: request line to answer */
    int ack_timeout_ms;         /* GW_ACK_TIMEOUT_MS: the longest wait for Kafka, then 503 */
    int tls;                    /* HTTPS with mf_tls_install's pair (GW_TLS_*), or plain HTTP */
};

struct gw_server;

/* Registers the gateway's metric families. */
void gw_http_metrics_init(void);

/*
 * Starts serving. auth NULL means GW_AUTH=off (every reading allowed,
 * ingest.source "anonymous"). NULL with errbuf on failure. The server
 * borrows pub and auth; they must outlive it. A token over its rate (the
 * tokens file's fifth column) is answered 429 with Retry-After.
 */
struct gw_server *gw_server_start(const struct gw_server_opts *o, struct gw_publisher *pub,
                                  struct mf_authz *auth, char *errbuf, size_t errlen);
unsigned gw_server_port(const struct gw_server *s);

/* From now on new requests get 503 with Retry-After and Connection: close. */
void gw_server_drain(struct gw_server *s);
/* Requests received and not yet answered. */
size_t gw_server_inflight(struct gw_server *s);
/* Stops serving and frees (call once inflight is 0); NULL is a no-op. */
void gw_server_destroy(struct gw_server *s);

#endif
