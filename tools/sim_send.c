/*
 * sim_send: libcurl and librdkafka plumbing. The gateway's answer body is
 * small JSON ({"accepted":N,"rejected":M,"errors":[...]}), parsed with
 * cJSON; only the first error is kept, for the log line.
 */
#include "sim_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "mf_buf.h"
#include "mf_kafka.h"
#include "mf_log.h"

#include "mf_common.h"

struct sim_gw {
    CURL *h;
    struct curl_slist *hdr_json, *hdr_csv;
    struct mf_buf resp;
    int retry_after;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct sim_gw *g = opaque;
    return mf_buf_append(&g->resp, data, size * nmemb) == MF_OK ? size * nmemb : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct sim_gw *g = opaque;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0)
        g->retry_after = (int)strtol(data + 12, NULL, 10);
    return n;
}

static struct curl_slist *headers(const char *ctype, const char *token)
{
    char line[512];
    struct curl_slist *l = NULL;
    snprintf(line, sizeof line, "Content-Type: %s", ctype);
    l = curl_slist_append(l, line);
    if (token && *token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        l = curl_slist_append(l, line);
    }
    return curl_slist_append(l, "Expect:"); /* no 100-continue round trip per batch */
}

struct sim_gw *sim_gw_new(const char *url, const char *token)
{
    struct sim_gw *g = mf_xcalloc(1, sizeof *g);
    struct mf_buf u = MF_BUF_INIT;
    const char *path = strstr(url, "://");
    path = strchr(path ? path + 3 : url, '/');

    mf_buf_init(&g->resp, 1 << 20);
    mf_buf_appends(&u, url);
    if (!path)
        mf_buf_appends(&u, "/v1/readings");
    g->h = curl_easy_init();
    MF_ASSERT(g->h != NULL);
    g->hdr_json = headers("application/json", token);
    g->hdr_csv = headers("text/csv", token);
    curl_easy_setopt(g->h, CURLOPT_URL, u.data);
    curl_easy_setopt(g->h, CURLOPT_POST, 1L);
    curl_easy_setopt(g->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(g->h, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(g->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(g->h, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(g->h, CURLOPT_ERRORBUFFER, g->errbuf);
    curl_easy_setopt(g->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(g->h, CURLOPT_TCP_NODELAY, 1L);
    /* Longer than the gateway's ack timeout (10 s), so its 503 arrives first. */
    curl_easy_setopt(g->h, CURLOPT_TIMEOUT_MS, 30000L);
    mf_buf_release(&u); /* libcurl copied the URL */
    return g;
}

void sim_gw_destroy(struct sim_gw *g)
{
    if (!g)
        return;
    curl_easy_cleanup(g->h);
    curl_slist_free_all(g->hdr_json);
    curl_slist_free_all(g->hdr_csv);
    mf_buf_release(&g->resp);
    free(g);
}

long sim_gw_post(struct sim_gw *g, const char *ctype, const char *body, size_t len,
                 struct sim_gw_answer *a)
{
    memset(a, 0, sizeof *a);
    mf_buf_reset(&g->resp);
    g->retry_after = 0;
    g->errbuf[0] = '\0';
    curl_easy_setopt(g->h, CURLOPT_HTTPHEADER,
                     strcmp(ctype, "text/csv") == 0 ? g->hdr_csv : g->hdr_json);
    curl_easy_setopt(g->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(g->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    CURLcode rc = curl_easy_perform(g->h);
    if (rc != CURLE_OK) {
        snprintf(a->error, sizeof a->error, "%s",
                 g->errbuf[0] ? g->errbuf : curl_easy_strerror(rc));
        return 0;
    }
    curl_easy_getinfo(g->h, CURLINFO_RESPONSE_CODE, &a->code);
    a->retry_after_s = g->retry_after;
    cJSON *root = g->resp.data ? cJSON_ParseWithLength(g->resp.data, g->resp.len) : NULL;
    if (root) {
        const cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepted");
        const cJSON *rej = cJSON_GetObjectItemCaseSensitive(root, "rejected");
        const cJSON *errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
        const cJSON *e0 = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
        const cJSON *msg = e0 ? cJSON_GetObjectItemCaseSensitive(e0, "error") : NULL;
        const cJSON *idx = e0 ? cJSON_GetObjectItemCaseSensitive(e0, "index") : NULL;
        if (cJSON_IsNumber(acc))
            a->accepted = (long)acc->valuedouble;
        if (cJSON_IsNumber(rej))
            a->rejected = (long)rej->valuedouble;
        /* cJSON_IsString(NULL) and cJSON_IsNumber(NULL) are false */
        /* NOLINTBEGIN(clang-analyzer-core.NullDereference) */
        if (cJSON_IsString(msg))
            snprintf(a->error, sizeof a->error, "item %d: %s",
                     cJSON_IsNumber(idx) ? (int)idx->valuedouble : -1, msg->valuestring);
        /* NOLINTEND(clang-analyzer-core.NullDereference) */
        else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "error")))
            snprintf(a->error, sizeof a->error, "%s",
                     cJSON_GetObjectItemCaseSensitive(root, "error")->valuestring);
        cJSON_Delete(root);
    } else if (g->resp.data) {
        snprintf(a->error, sizeof a->error, "%.*s", (int)(g->resp.len < 150 ? g->resp.len : 150),
                 g->resp.data);
    }
    return a->code;
}

/* ---------------------------------------------------------------- Kafka */

/* Delivery reports. Thread: whichever thread polls the producer. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct sim_kcount *c = m->_private;
    (void)rk;
    (void)opaque;
    if (m->err) {
        atomic_fetch_add(&c->failed, 1);
        MF_LOG_WARN("kafka", "delivery failed: %s", rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add(&c->acked, 1);
    }
}

rd_kafka_t *sim_kafka_new(const char *brokers, char *errbuf, size_t errlen)
{
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, brokers, "meter-sim", NULL, errbuf,
                                              errlen);
    if (!conf)
        return NULL;
    if (mf_kafka_conf_set(conf, "linger.ms", "20", "linger.ms", errbuf, errlen) != MF_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf); /* rd_kafka_new took nothing */
    return rk;
}

int sim_kafka_send(rd_kafka_t *rk, const char *topic, const char *key, size_t keylen,
                   const void *value, size_t len, struct sim_kcount *c)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE(c), RD_KAFKA_V_END);
        if (!err)
            return MF_OK;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            MF_LOG_ERROR("kafka", "produce to '%s' failed: %s", topic, rd_kafka_err2str(err));
            return MF_EFATAL;
        }
        rd_kafka_poll(rk, 50); /* serve delivery reports until there is room */
    }
}

int sim_kafka_flush(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_flush(rk, timeout_ms);
    return rd_kafka_outq_len(rk) == 0 ? MF_OK : MF_ERETRY;
}
