/*
 * mf_http: the small HTTP endpoint every program serves (/metrics,
 * /healthz, /readyz), on libmicrohttpd, and the listening-socket helper the
 * gateway shares with it.
 *
 * /healthz answers 200 while the process runs its loop (liveness: a restart
 * would not help otherwise); /readyz asks the program's readiness callback
 * (503 with the reason when not ready: Kubernetes stops routing or scaling
 * onto it); /metrics renders the mf_metrics registry.
 * Thread: the callbacks run on libmicrohttpd's threads.
 */
#ifndef MF_HTTP_H
#define MF_HTTP_H

#include <stddef.h>

struct MHD_Connection;
struct MHD_OptionItem;

/* Returns 1 when ready; otherwise 0 with a short reason in why. Thread: any. */
typedef int mf_ready_fn(void *opaque, char *why, size_t whylen);

struct mf_admin;

/*
 * Binds addr ("host:port"; port 0 picks a free one) and serves the three
 * endpoints on a thread of its own. NULL with errbuf set on failure.
 * `ready` may be NULL (always ready).
 */
struct mf_admin *mf_admin_start(const char *addr, mf_ready_fn *ready, void *opaque, char *errbuf,
                                size_t errlen);
/* The port actually bound. */
unsigned mf_admin_port(const struct mf_admin *a);
/* Stops serving and frees; NULL is a no-op. */
void mf_admin_destroy(struct mf_admin *a);

/*
 * For a program with its own libmicrohttpd server: answers GET /metrics,
 * /healthz and /readyz on c and returns 1, or returns 0 if url is none of
 * them (the caller answers it). Thread: libmicrohttpd's.
 */
int mf_admin_answer(struct MHD_Connection *c, const char *method, const char *url,
                    mf_ready_fn *ready, void *opaque);

/* Queues a response with a copied body and content type. 1 on success. */
int mf_http_respond(struct MHD_Connection *c, unsigned code, const char *ctype, const char *body,
                    size_t len);

/*
 * Creates a listening TCP socket on addr ("host:port", "[v6]:port",
 * ":port"); backlog as given. Returns the fd and sets *port, or -1 with
 * errbuf set ("cannot bind 0.0.0.0:80: Permission denied").
 */
int mf_http_listen(const char *addr, int backlog, unsigned *port, char *errbuf, size_t errlen);

/*
 * A TLS listener's libmicrohttpd options, for MHD_OPTION_ARRAY: with tls,
 * the pair mf_tls_install put in force, handed out by mf_tls_cert_cb at
 * each handshake (replaceable on SIGHUP; the caller adds MHD_USE_TLS to
 * its flags); without, an empty list.
 */
const struct MHD_OptionItem *mf_http_tls_options(int tls);

#endif
