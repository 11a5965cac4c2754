/*
 * mf_harness: process, stack, HTTP and Kafka helpers for integration tests.
 */
#include "mf_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>

#include "mf_pg.h"
#include "mf_time.h"
#include "mf_common.h"

extern char **environ;

void mf_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "harness: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static const char *bin_dir(void)
{
    const char *d = getenv("MF_BIN_DIR");
    return d && *d ? d : "build/bin";
}

static const char *top_dir(void)
{
    const char *d = getenv("MF_TOP");
    return d && *d ? d : ".";
}

/* ---------------------------------------------------------------- processes */

struct mf_proc *mf_proc_start(const char *prog, const char *const *args, const char *const *env)
{
    char path[512];
    int in[2], out[2];
    const char *argv[32];
    size_t argc = 0;

    if (strchr(prog, '/'))
        snprintf(path, sizeof path, "%s", prog);
    else
        snprintf(path, sizeof path, "%s/%s", bin_dir(), prog);
    argv[argc++] = path;
    for (size_t i = 0; args && args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;

    if (pipe(in) < 0 || pipe(out) < 0)
        mf_die("pipe: %s", strerror(errno));
    for (int i = 0; i < 2; i++) {
        fcntl(in[i], F_SETFD, FD_CLOEXEC);
        fcntl(out[i], F_SETFD, FD_CLOEXEC);
    }
    struct mf_proc *p = mf_xcalloc(1, sizeof *p);
    const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
    snprintf(p->name, sizeof p->name, "%s", base);
    p->pid = fork();
    if (p->pid < 0)
        mf_die("fork: %s", strerror(errno));
    if (p->pid == 0) {
        /* A child outlives no test: it is killed when the test dies. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(in[0], STDIN_FILENO);
        dup2(out[1], STDOUT_FILENO);
        const char *logdir = getenv("MF_TEST_LOGDIR");
        if (logdir) {
            char log[512];
            snprintf(log, sizeof log, "%s/%s.%d.log", logdir, base, (int)getpid());
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0)
                dup2(fd, STDERR_FILENO);
        }
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        /* Our own signal mask (the harness may block some) is not inherited. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(path, (char *const *)argv);
        fprintf(stderr, "harness: cannot exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->in_fd = in[1];
    p->out_fd = out[0];
    return p;
}

int mf_proc_readline(struct mf_proc *p, char *buf, size_t len, int timeout_ms)
{
    size_t n = 0;
    int64_t deadline = mf_mono_ms() + timeout_ms;
    while (n + 1 < len) {
        struct pollfd pfd = {p->out_fd, POLLIN, 0};
        int left = (int)(deadline - mf_mono_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            return -1;
        char c;
        if (read(p->out_fd, &c, 1) != 1)
            return -1;
        if (c == '\n')
            break;
        buf[n++] = c;
    }
    buf[n] = '\0';
    return 0;
}

void mf_proc_signal(struct mf_proc *p, int sig)
{
    if (p->pid > 0)
        kill(p->pid, sig);
}

int mf_proc_wait(struct mf_proc *p, int timeout_ms)
{
    int64_t deadline = mf_mono_ms() + timeout_ms;
    int status;
    if (p->pid <= 0)
        return -1;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (mf_mono_ms() >= deadline)
            return -1;
        usleep(10000);
    }
}

int mf_proc_alive(struct mf_proc *p)
{
    int status;
    if (p->pid <= 0)
        return 0;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
        p->pid = 0;
        return 0;
    }
    return 1;
}

int mf_proc_stop(struct mf_proc *p, int timeout_ms)
{
    int rc = -1;
    if (!p)
        return -1;
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        rc = mf_proc_wait(p, timeout_ms);
        if (rc < 0) {
            kill(p->pid, SIGKILL);
            mf_proc_wait(p, 5000);
            rc = -1;
        }
    }
    close(p->in_fd);
    close(p->out_fd);
    free(p);
    return rc;
}

/* ---------------------------------------------------------------- broker, PG */

/* The real broker: tools/kafka-local in control mode, a free port, its own
 * temporary log directory; EOF on its stdin (this test gone) stops it. */
struct mf_broker *mf_broker_start_with(const char *const *topic_configs)
{
    char kafka_local[512];
    const char *args[40] = {"--port", "0", "--control"};
    size_t n = 3;
    for (size_t i = 0; topic_configs && topic_configs[i] && n + 2 < MF_ARRAY_LEN(args); i++) {
        args[n++] = "--topic-config";
        args[n++] = topic_configs[i];
    }
    args[n] = NULL;
    snprintf(kafka_local, sizeof kafka_local, "%s/tools/kafka-local", top_dir());
    static char server_log[600];
    const char *logdir = getenv("MF_TEST_LOGDIR");
    snprintf(server_log, sizeof server_log, "KAFKA_LOCAL_SERVER_LOG=%s/kafka-server.%d.log",
             logdir ? logdir : "/tmp", (int)getpid());
    const char *env[] = {server_log, NULL};
    struct mf_broker *b = mf_xcalloc(1, sizeof *b);
    b->proc = mf_proc_start(kafka_local, args, logdir ? env : NULL);
    if (mf_proc_readline(b->proc, b->bootstrap, sizeof b->bootstrap, 90000) < 0)
        mf_die("tools/kafka-local printed no bootstrap address within 90 s "
               "(its log is in $MF_TEST_LOGDIR/kafka-local.*.log)");
    return b;
}

struct mf_broker *mf_broker_start(int nbrokers)
{
    (void)nbrokers;
    return mf_broker_start_with(NULL);
}

struct mf_broker *mf_mockbroker_start(int nbrokers)
{
    char n[8];
    snprintf(n, sizeof n, "%d", nbrokers);
    const char *args[] = {"--brokers", n, NULL};
    struct mf_broker *b = mf_xcalloc(1, sizeof *b);
    b->mock = 1;
    b->proc = mf_proc_start("mf-localbroker", args, NULL);
    if (mf_proc_readline(b->proc, b->bootstrap, sizeof b->bootstrap, 10000) < 0)
        mf_die("mf-localbroker printed no bootstrap address");
    return b;
}

int mf_broker_cmd(struct mf_broker *b, const char *cmd)
{
    char line[256];
    size_t n = strlen(cmd);
    if (write(b->proc->in_fd, cmd, n) != (ssize_t)n || write(b->proc->in_fd, "\n", 1) != 1)
        return -1;
    /* A real broker's restart waits for it to answer (up to 60 s). */
    if (mf_proc_readline(b->proc, line, sizeof line, b->mock ? 5000 : 90000) < 0)
        return -1;
    return strcmp(line, "ok") == 0 ? 0 : -1;
}

void mf_broker_stop(struct mf_broker *b)
{
    if (!b)
        return;
    mf_proc_stop(b->proc, 10000);
    free(b);
}

static int run_capture(const char *cmd, char *out, size_t len)
{
    /* NOLINTNEXTLINE(cert-env33-c): the caller's command line, run on purpose */
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    return pclose(f);
}

/*
 * Clusters not destroyed yet: a test that fails (exit through mf_die or a
 * CHECK) before its own cleanup must not leave a PostgreSQL running.
 */
static struct mf_pgtmp *live_pg[8];

static void destroy_live_pg(void)
{
    for (size_t i = 0; i < MF_ARRAY_LEN(live_pg); i++)
        if (live_pg[i])
            mf_pgtmp_do(live_pg[i], "destroy");
}

struct mf_pgtmp *mf_pgtmp_start(void)
{
    static int registered;
    char cmd[1024];
    if (access("/usr/lib/postgresql", F_OK) != 0) {
        printf("skip: PostgreSQL server binaries are not installed\n");
        exit(77);
    }
    struct mf_pgtmp *pg = mf_xcalloc(1, sizeof *pg);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/mf-pg.XXXXXX");
    if (!mkdtemp(pg->dir))
        mf_die("mkdtemp: %s", strerror(errno));
    snprintf(cmd, sizeof cmd, "%s/tests/lib/pgtmp.sh start %s", top_dir(), pg->dir);
    if (!registered++)
        atexit(destroy_live_pg);
    for (size_t i = 0; i < MF_ARRAY_LEN(live_pg); i++)
        if (!live_pg[i]) {
            live_pg[i] = pg;
            break;
        }
    if (run_capture(cmd, pg->dsn, sizeof pg->dsn) != 0)
        mf_die("pgtmp.sh start failed");
    return pg;
}

int mf_pgtmp_do(struct mf_pgtmp *pg, const char *verb)
{
    char cmd[1024], out[512];
    if (!pg)
        return 0;
    snprintf(cmd, sizeof cmd, "%s/tests/lib/pgtmp.sh %s %s >/dev/null", top_dir(), verb, pg->dir);
    int rc = run_capture(cmd, out, sizeof out);
    if (strcmp(verb, "destroy") == 0) {
        for (size_t i = 0; i < MF_ARRAY_LEN(live_pg); i++)
            if (live_pg[i] == pg)
                live_pg[i] = NULL;
        free(pg);
    }
    return rc;
}

const char *mf_pgtmp_query(struct mf_pgtmp *pg, const char *sql)
{
    static char out[4096];
    char cmd[8192];
    /* The SQL is the test's own text; single quotes are escaped for the shell. */
    size_t o = 0;
    o += (size_t)snprintf(cmd, sizeof cmd, "psql -X -A -t -q -v ON_ERROR_STOP=1 '%s' -c '",
                          pg->dsn);
    for (const char *s = sql; *s && o + 5 < sizeof cmd; s++) {
        if (*s == '\'') {
            memcpy(cmd + o, "'\\''", 4);
            o += 4;
        } else {
            cmd[o++] = *s;
        }
    }
    snprintf(cmd + o, sizeof cmd - o, "' 2>&1");
    if (run_capture(cmd, out, sizeof out) != 0) {
        fprintf(stderr, "harness: psql failed: %s\n", out);
        return NULL;
    }
    return out;
}

void mf_pgtmp_load(struct mf_pgtmp *pg, const char *relpath, const char *vars)
{
    char err[512], cmd[2048], out[4096];
    PGconn *c = mf_pg_connect(pg->dsn, "mf_harness", err, sizeof err);
    if (!c)
        mf_die("%s", err);
    int rc = mf_pg_migrate(c, err, sizeof err);
    PQfinish(c);
    if (rc < 0)
        mf_die("migrations: %s", err);
    const char *top = getenv("MF_TOP") ? getenv("MF_TOP") : ".";
    snprintf(cmd, sizeof cmd, "psql -X -q -v ON_ERROR_STOP=1 '%s' %s -f '%s/%s' 2>&1 >/dev/null",
             pg->dsn, vars ? vars : "", top, relpath);
    if (run_capture(cmd, out, sizeof out) != 0)
        mf_die("%s failed: %s", relpath, out);
}

unsigned mf_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        mf_die("cannot find a free port");
    close(fd);
    return ntohs(a.sin_port);
}

int mf_wait_http_ok(unsigned port, const char *path, int timeout_ms)
{
    char url[256];
    int64_t deadline = mf_mono_ms() + timeout_ms;
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    while (mf_mono_ms() < deadline) {
        struct mf_http_resp r;
        if (mf_http("GET", url, NULL, NULL, 0, &r) == 0 && r.code == 200) {
            mf_http_resp_release(&r);
            return 0;
        }
        mf_http_resp_release(&r);
        usleep(50000);
    }
    return -1;
}

/* ---------------------------------------------------------------- HTTP */

struct sink {
    char *data;
    size_t len;
};

static void sink_add(struct sink *s, const void *p, size_t n)
{
    s->data = mf_xrealloc(s->data, s->len + n + 1);
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_add(ud, ptr, size * nmemb);
    return size * nmemb;
}

/* Copies the value of header `name` (with its colon) from a header line into out. */
static void header_value(const char *buf, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(buf, name, nl) != 0)
        return;
    size_t k = n - nl;
    const char *v = buf + nl;
    while (k && (*v == ' '))
        v++, k--;
    while (k && (v[k - 1] == '\r' || v[k - 1] == '\n'))
        k--;
    snprintf(out, outlen, "%.*s", (int)k, v);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct mf_http_resp *r = ud;
    size_t n = size * nitems;
    header_value(buf, n, "Retry-After:", r->retry_after, sizeof r->retry_after);
    header_value(buf, n, "ETag:", r->etag, sizeof r->etag);
    header_value(buf, n, "Cache-Control:", r->cache_control, sizeof r->cache_control);
    return n;
}

int mf_http(const char *method, const char *url, const char *const *headers, const char *body,
            size_t len, struct mf_http_resp *resp)
{
    struct sink s = {NULL, 0};
    struct curl_slist *hl = NULL;
    memset(resp, 0, sizeof *resp);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->code);
    resp->body = s.data ? s.data : mf_xstrdup("");
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

void mf_http_resp_release(struct mf_http_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
}

/* ---------------------------------------------------------------- Kafka */

/* read_committed unless a test asks to see aborted and open transactions too. */
static const char *read_isolation = "read_committed";

void mf_kafka_read_uncommitted(int on)
{
    read_isolation = on ? "read_uncommitted" : "read_committed";
}

static rd_kafka_t *new_client(rd_kafka_type_t type, const char *bootstrap)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    if (type == RD_KAFKA_PRODUCER) {
        rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(conf, "partitioner", "murmur2_random", NULL, 0);
    } else {
        rd_kafka_conf_set(conf, "group.id", "mf-harness-reader", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(conf, "queued.min.messages", "200000", NULL, 0);
        rd_kafka_conf_set(conf, "isolation.level", read_isolation, NULL, 0);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk)
        mf_die("rd_kafka_new: %s", err);
    return rk;
}

/* How long a read of a topic that holds records waits for the first one. */
#define FIRST_FETCH_MS 6000

void mf_kafka_read_topic(const char *bootstrap, const char *topic, long want, int idle_ms,
                         int timeout_ms, struct mf_recs *out)
{
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, bootstrap);
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != 0 || md->topic_cnt != 1)
        mf_die("no metadata for %s", topic);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
    /*
     * Whether the topic holds any record. Reading all of it (want < 0)
     * ends after idle_ms without a record; before the first record of a
     * topic that holds some, after FIRST_FETCH_MS at least: the consumer's
     * first fetch can take longer than idle_ms on a loaded machine (a read
     * of it_gw under ASan ended then, finding none of what was there). Not
     * until the timeout: under read_committed a topic may hold only
     * aborted records, which never arrive.
     */
    bool empty = true;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        rd_kafka_topic_partition_list_add(parts, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi > lo)
            empty = false;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    long got = 0;
    int first_wait_ms = idle_ms > FIRST_FETCH_MS ? idle_ms : FIRST_FETCH_MS;
    int64_t deadline = mf_mono_ms() + timeout_ms, last = mf_mono_ms();
    while (mf_mono_ms() < deadline) {
        if (want >= 0 && got >= want)
            break;
        if (want < 0 && mf_mono_ms() - last > (got > 0 || empty ? idle_ms : first_wait_ms))
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        last = mf_mono_ms();
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 256;
            out->v = mf_xrealloc(out->v, out->cap * sizeof *out->v);
        }
        struct mf_rec *r = &out->v[out->n++];
        r->partition = m->partition;
        r->offset = m->offset;
        r->key = mf_xstrndup(m->key ? m->key : "", m->key ? m->key_len : 0);
        r->value = mf_xstrndup(m->payload ? m->payload : "", m->payload ? m->len : 0);
        r->value_len = m->len;
        struct sink hs = {NULL, 0};
        rd_kafka_headers_t *hdrs;
        if (rd_kafka_message_headers(m, &hdrs) == 0) {
            const char *name;
            const void *val;
            size_t vlen;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) == 0; i++) {
                sink_add(&hs, name, strlen(name));
                sink_add(&hs, "=", 1);
                if (val)
                    sink_add(&hs, val, vlen);
                sink_add(&hs, "\n", 1);
            }
        }
        r->headers = hs.data ? hs.data : mf_xstrdup("");
        got++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

const char *mf_rec_header(const struct mf_rec *r, const char *name)
{
    static char val[512];
    size_t n = strlen(name);
    for (const char *p = r->headers; *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            break;
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            snprintf(val, sizeof val, "%.*s", (int)(nl - p - (long)n - 1), p + n + 1);
            return val;
        }
        p = nl + 1;
    }
    return NULL;
}

void mf_recs_release(struct mf_recs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].key);
        free(r->v[i].value);
        free(r->v[i].headers);
    }
    free(r->v);
    memset(r, 0, sizeof *r);
}

void mf_kafka_produce_with_headers(const char *bootstrap, const char *topic, const char *key,
                                   const char *value, const char *const *headers)
{
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, bootstrap);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
    for (size_t i = 0; headers && headers[i]; i++) {
        const char *eq = strchr(headers[i], '=');
        if (!eq)
            mf_die("header '%s' is not name=value", headers[i]);
        rd_kafka_header_add(hdrs, headers[i], eq - headers[i], eq + 1, (ssize_t)strlen(eq + 1));
    }
    /* On success the record owns hdrs; on failure they are still ours. */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        mf_die("produce: %s", rd_kafka_err2str(err));
    }
    if (rd_kafka_flush(rk, 30000) != 0)
        mf_die("produce: flush timed out");
    rd_kafka_destroy(rk);
}

void mf_kafka_produce(const char *bootstrap, const char *topic, const char *const *keys,
                      const char *const *values, size_t n)
{
    rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, bootstrap);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_KEY(keys ? keys[i] : NULL, keys && keys[i] ? strlen(keys[i]) : 0),
                    RD_KAFKA_V_VALUE((void *)values[i], strlen(values[i])),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (err)
            mf_die("produce: %s", rd_kafka_err2str(err));
    }
    if (rd_kafka_flush(rk, 30000) != 0)
        mf_die("produce: flush timed out");
    rd_kafka_destroy(rk);
}

/* ---------------------------------------------------------------- tokens */

void mf_sha256_hex(const char *token, char out[65])
{
    unsigned char d[32];
    unsigned int n;
    EVP_Digest(token, strlen(token), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---------------------------------------------------------------- crash walks */

int mf_crash_walk_points(const char *prog, char *bin, size_t binlen,
                         char points[][MF_CRASH_POINT_MAX], int max)
{
    const char *sanitized = getenv("MF_SANITIZED");
    if (sanitized && strcmp(sanitized, "1") == 0) {
        printf("skip: the crash walk runs the fault build (make crash-build), which the release "
               "run covers\n");
        exit(77);
    }
    const char *dir = getenv("MF_CRASH_BIN_DIR");
    if (dir && *dir)
        snprintf(bin, binlen, "%s/%s", dir, prog);
    else
        snprintf(bin, binlen, "%s/build/crash/bin/%s", top_dir(), prog);
    if (access(bin, X_OK) != 0)
        mf_die("%s missing: run make crash-build first", bin);
    const char *args[] = {"--crash-points", NULL};
    struct mf_proc *p = mf_proc_start(bin, args, NULL);
    int n = 0;
    while (n < max && mf_proc_readline(p, points[n], MF_CRASH_POINT_MAX, 10000) == 0)
        n++;
    if (mf_proc_stop(p, 5000) != 0 || n == 0)
        mf_die("%s --crash-points failed or listed no point", bin);
    return n;
}
