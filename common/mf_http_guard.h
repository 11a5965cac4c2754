/*
 * mf_http_guard: a deadline on every client connection of a libmicrohttpd
 * server, so slow clients cannot hold connections for ever.
 *
 * libmicrohttpd's own timeout is an idle timeout: any byte resets it, so a
 * header trickled one byte a second, or a body that never ends, keeps a
 * connection (and a slot of the connection limit) for as long as the client
 * likes. The guard gives each connection two deadlines in turn:
 *   between requests  idle_s from the connection's start or the last answer
 *                     until the next request line is in;
 *   in a request      request_s from the request line until the answer is
 *                     sent (headers, body, and our own processing).
 * A connection past its deadline is shut down (shutdown(2) on its socket,
 * under the same lock libmicrohttpd's close notification takes, so a
 * reused descriptor is never touched); libmicrohttpd then closes it.
 * Counted in meterflow_http_connections_expired_total{server}.
 *
 * Use: pass the three callbacks to MHD_start_daemon (mf_http_guard_options
 * fills them in), call mf_http_guard_request_done from the server's own
 * request-completed callback, destroy after MHD_stop_daemon.
 * Thread-safe; one checker thread per guard.
 */
#ifndef MF_HTTP_GUARD_H
#define MF_HTTP_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

struct mf_http_guard;

/* server names the metric's label ("ingest-gw"). NULL with errbuf if the thread cannot start. */
struct mf_http_guard *mf_http_guard_new(const char *server, unsigned idle_s, unsigned request_s,
                                        char *errbuf, size_t errlen);
/* Stops the checker; NULL is a no-op. Call after MHD_stop_daemon. */
void mf_http_guard_destroy(struct mf_http_guard *g);

/*
 * The guard's MHD options, to hand to MHD_start_daemon with
 * MHD_OPTION_ARRAY: the connection notifier and the URI callback (which
 * leaves the request's context NULL, as libmicrohttpd does without one).
 * opts must hold 3 items.
 */
void mf_http_guard_options(struct mf_http_guard *g, struct MHD_OptionItem opts[3]);

/* A request on c was answered (or abandoned): back to the between-requests deadline. */
void mf_http_guard_request_done(struct mf_http_guard *g, struct MHD_Connection *c);

/* The same as an MHD_OPTION_NOTIFY_COMPLETED callback (cls: the guard), for
 * a server that has no completed callback of its own. */
void mf_http_guard_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                             enum MHD_RequestTerminationCode toe);

/* Connections shut down for passing a deadline so far. */
uint64_t mf_http_guard_expired(const struct mf_http_guard *g);

#endif
