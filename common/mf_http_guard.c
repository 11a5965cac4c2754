#include "mf_http_guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mf_alloc.h"
#include "mf_metrics.h"
#include "mf_time.h"

#define CHECK_EVERY_MS 200

struct conn {
    int fd;
    int64_t deadline_ms; /* mf_mono_ms */
    bool shut;
    struct conn *prev, *next;
};

struct mf_http_guard {
    int64_t idle_ms, request_ms;
    pthread_mutex_t lock; /* the list, and every conn's fields */
    struct conn head;     /* sentinel of a circular list */
    pthread_t checker;
    atomic_int stop;
    atomic_uint_fast64_t expired;
    struct mf_metric *m_expired;
};

static void set_deadline(struct mf_http_guard *g, struct conn *k, int64_t after_ms)
{
    pthread_mutex_lock(&g->lock);
    k->deadline_ms = mf_mono_ms() + after_ms;
    pthread_mutex_unlock(&g->lock);
}

/* MHD_NotifyConnectionCallback: a connection opened or is about to be closed. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct mf_http_guard *g = cls;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
            c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn *k = mf_xcalloc(1, sizeof *k);
        k->fd = ci ? ci->connect_fd : -1;
        pthread_mutex_lock(&g->lock);
        k->deadline_ms = mf_mono_ms() + g->idle_ms;
        k->next = g->head.next;
        k->prev = &g->head;
        g->head.next->prev = k;
        g->head.next = k;
        pthread_mutex_unlock(&g->lock);
        *socket_context = k;
        return;
    }
    /* Closed: called before libmicrohttpd closes the socket, so under the
     * lock the checker never shuts a descriptor that was reused. */
    struct conn *k = *socket_context;
    if (!k)
        return;
    pthread_mutex_lock(&g->lock);
    k->prev->next = k->next;
    k->next->prev = k->prev;
    pthread_mutex_unlock(&g->lock);
    *socket_context = NULL;
    free(k);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request line is in; the request's clock starts. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct mf_http_guard *g = cls;
    struct conn *k = conn_of(c);
    (void)uri;
    if (k)
        set_deadline(g, k, g->request_ms);
    return NULL; /* the request's context starts NULL, as without this callback */
}

void mf_http_guard_request_done(struct mf_http_guard *g, struct MHD_Connection *c)
{
    struct conn *k = g ? conn_of(c) : NULL;
    if (k)
        set_deadline(g, k, g->idle_ms);
}

void mf_http_guard_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                             enum MHD_RequestTerminationCode toe)
{
    (void)req_cls;
    (void)toe;
    mf_http_guard_request_done(cls, c);
}

static void *checker_main(void *arg)
{
    struct mf_http_guard *g = arg;
    while (!atomic_load(&g->stop)) {
        usleep(CHECK_EVERY_MS * 1000);
        int64_t now = mf_mono_ms();
        pthread_mutex_lock(&g->lock);
        for (struct conn *k = g->head.next; k != &g->head; k = k->next) {
            if (k->shut || k->fd < 0 || now < k->deadline_ms)
                continue;
            /* The peer sees the connection end; libmicrohttpd sees EOF or
             * EPIPE on its next read or write and closes it. */
            shutdown(k->fd, SHUT_RDWR);
            k->shut = true;
            atomic_fetch_add(&g->expired, 1);
            mf_metric_inc(g->m_expired);
        }
        pthread_mutex_unlock(&g->lock);
    }
    return NULL;
}

struct mf_http_guard *mf_http_guard_new(const char *server, unsigned idle_s, unsigned request_s,
                                        char *errbuf, size_t errlen)
{
    struct mf_http_guard *g = mf_xcalloc(1, sizeof *g);
    g->idle_ms = (int64_t)idle_s * 1000;
    g->request_ms = (int64_t)request_s * 1000;
    g->head.next = g->head.prev = &g->head;
    pthread_mutex_init(&g->lock, NULL);
    mf_metrics_register("meterflow_http_connections_expired_total", MF_METRIC_COUNTER,
                        "Client connections shut down for taking too long: the next request "
                        "line not in within the idle timeout, or a request (headers, body, "
                        "answer) not done within the request timeout.",
                        NULL, 0);
    g->m_expired = mf_metric1("meterflow_http_connections_expired_total", "server", server);
    if (pthread_create(&g->checker, NULL, checker_main, g) != 0) {
        snprintf(errbuf, errlen, "cannot start the %s connection-deadline thread", server);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
    }
    return g;
}

void mf_http_guard_destroy(struct mf_http_guard *g)
{
    if (!g)
        return;
    atomic_store(&g->stop, 1);
    pthread_join(g->checker, NULL);
    /* After MHD_stop_daemon every connection was notified closed; free any left. */
    for (struct conn *k = g->head.next, *n; k != &g->head; k = n) {
        n = k->next;
        free(k);
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

void mf_http_guard_options(struct mf_http_guard *g, struct MHD_OptionItem opts[3])
{
    opts[0] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, g};
    opts[1] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, g};
    opts[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

uint64_t mf_http_guard_expired(const struct mf_http_guard *g)
{
    return atomic_load(&g->expired);
}
