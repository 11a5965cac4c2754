/*
 * mf_http: the admin endpoint on libmicrohttpd and a listening socket
 * helper. One internal polling thread is plenty for scrapes and probes.
 */
#include "mf_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mf_buf.h"
#include "mf_config.h"
#include "mf_metrics.h"
#include "mf_tls.h"
#include "mf_common.h"

struct mf_admin {
    struct MHD_Daemon *daemon;
    unsigned port;
    mf_ready_fn *ready;
    void *opaque;
};

int mf_http_respond(struct MHD_Connection *c, unsigned code, const char *ctype, const char *body,
                    size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return 0;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    int ok = MHD_queue_response(c, code, r) == MHD_YES;
    MHD_destroy_response(r);
    return ok;
}

int mf_admin_answer(struct MHD_Connection *c, const char *method, const char *url,
                    mf_ready_fn *ready, void *opaque)
{
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    if (strcmp(url, "/metrics") == 0) {
        if (!is_get)
            return mf_http_respond(c, 405, "text/plain", "method not allowed\n", 19), 1;
        struct mf_buf b = MF_BUF_INIT;
        mf_metrics_render(&b);
        mf_http_respond(c, 200, "text/plain; version=0.0.4", b.data ? b.data : "", b.len);
        mf_buf_release(&b);
        return 1;
    }
    if (strcmp(url, "/healthz") == 0) {
        mf_http_respond(c, 200, "text/plain", "ok\n", 3);
        return 1;
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[256] = "";
        if (!ready || ready(opaque, why, sizeof why)) {
            mf_http_respond(c, 200, "text/plain", "ready\n", 6);
        } else {
            char body[300];
            int n = snprintf(body, sizeof body, "not ready: %s\n", why);
            mf_http_respond(c, 503, "text/plain", body, (size_t)n < sizeof body ? (size_t)n : 0);
        }
        return 1;
    }
    return 0;
}

static enum MHD_Result admin_handler(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct mf_admin *a = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (*upload_size) { /* admin endpoints take no body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (mf_admin_answer(c, method, url, a->ready, a->opaque))
        return MHD_YES;
    return mf_http_respond(c, 404, "text/plain", "not found\n", 10) ? MHD_YES : MHD_NO;
}

int mf_http_listen(const char *addr, int backlog, unsigned *port, char *errbuf, size_t errlen)
{
    char host[256], portstr[8];
    struct addrinfo hints, *res = NULL;
    unsigned p;
    int fd = -1, one = 1;

    if (mf_config_split_addr(addr, host, sizeof host, &p) != MF_OK) {
        snprintf(errbuf, errlen, "bad address '%s': want host:port", addr);
        return -1;
    }
    snprintf(portstr, sizeof portstr, "%u", p);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot resolve '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, backlog) < 0)
        goto fail;

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    freeaddrinfo(res);
    return fd;

fail:
    snprintf(errbuf, errlen, "cannot listen on %s: %s", addr, strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return -1;
}

struct mf_admin *mf_admin_start(const char *addr, mf_ready_fn *ready, void *opaque, char *errbuf,
                                size_t errlen)
{
    struct mf_admin *a = mf_xcalloc(1, sizeof *a);
    int fd = mf_http_listen(addr, 64, &a->port, errbuf, errlen);
    if (fd < 0)
        goto fail;
    a->ready = ready;
    a->opaque = opaque;
    a->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                 admin_handler, a, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!a->daemon) {
        close(fd);
        snprintf(errbuf, errlen, "cannot start the HTTP server on %s", addr);
        goto fail;
    }
    return a;
fail:
    free(a);
    return NULL;
}

unsigned mf_admin_port(const struct mf_admin *a)
{
    return a->port;
}

void mf_admin_destroy(struct mf_admin *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->daemon);
    free(a);
}

const struct MHD_OptionItem *mf_http_tls_options(int tls)
{
    /* The callback travels as libmicrohttpd's option arrays carry pointers. */
    static const struct MHD_OptionItem opts[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)mf_tls_cert_cb},
        {MHD_OPTION_END, 0, NULL},
    };
    return tls ? opts : opts + 1;
}
