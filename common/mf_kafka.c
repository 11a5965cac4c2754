/*
 * mf_kafka: configuration, callbacks and small helpers over librdkafka.
 */
#include "mf_kafka.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_common.h"

extern char **environ;

atomic_int mf_kafka_fatal;
atomic_int mf_kafka_all_brokers_down;

int mf_kafka_conf_set(rd_kafka_conf_t *conf, const char *prop, const char *value, const char *what,
                      char *errbuf, size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, prop, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(errbuf, errlen, "invalid %s: %s", what, why);
        return MF_EDATA;
    }
    return MF_OK;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug */
    int lvl = level <= 3   ? MF_LEVEL_ERROR
              : level == 4 ? MF_LEVEL_WARN
              : level <= 6 ? MF_LEVEL_INFO
                           : MF_LEVEL_DEBUG;
    MF_LOG_AT(lvl, "kafka", "%s: %s", fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        atomic_store(&mf_kafka_all_brokers_down, 1);
        MF_LOG_WARN("kafka", "all brokers down: %s", reason);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        MF_LOG_FATAL("kafka", "fatal error %s: %s", rd_kafka_err2name(orig), why);
        atomic_store(&mf_kafka_fatal, 1);
        return;
    }
    /* Transport errors are retried by librdkafka; they are worth a line. */
    MF_LOG_WARN("kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Statistics: consumer lag per assigned partition. Thread: the polling thread. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    (void)opaque;
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(root, "topics");

    /* Any successful stats round means brokers answered recently enough. */
    mf_metrics_clear_family("meterflow_kafka_consumer_lag");
    for (const cJSON *t = topics ? topics->child : NULL; t; t = t->next) {
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(t, "partitions");
        for (const cJSON *p = parts ? parts->child : NULL; p; p = p->next) {
            const cJSON *lag = cJSON_GetObjectItemCaseSensitive(p, "consumer_lag");
            if (strcmp(p->string, "-1") == 0 || !cJSON_IsNumber(lag) || lag->valuedouble < 0)
                continue;
            mf_metric_set(mf_metric2("meterflow_kafka_consumer_lag", "topic", t->string,
                                     "partition", p->string),
                          lag->valuedouble);
        }
    }
    cJSON_Delete(root);
    return 0; /* librdkafka frees json */
}

void mf_kafka_metrics_init(void)
{
    mf_metrics_register("meterflow_kafka_consumer_lag", MF_METRIC_GAUGE,
                        "Messages between the consumer position and the partition end.", NULL, 0);
    mf_metrics_register("meterflow_kafka_delivery_errors_total", MF_METRIC_COUNTER,
                        "Records Kafka failed to acknowledge, by topic.", NULL, 0);
}

/* KAFKA_SECURITY_PROTOCOL -> security.protocol */
static void env_to_prop(const char *name, size_t n, char *out, size_t outlen)
{
    size_t i;
    for (i = 0; i < n && i + 1 < outlen; i++)
        out[i] = (char)(name[i] == '_' ? '.' : tolower((unsigned char)name[i]));
    out[i] = '\0';
}

static int apply_env(rd_kafka_conf_t *conf, char *errbuf, size_t errlen)
{
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "KAFKA_", 6) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t namelen = (size_t)(eq - *e);
        char var[128], prop[128];
        if (namelen >= sizeof var)
            continue;
        memcpy(var, *e, namelen);
        var[namelen] = '\0';
        if (strcmp(var, "KAFKA_BROKERS") == 0)
            continue;
        env_to_prop(var + 6, namelen - 6, prop, sizeof prop);
        /* The value is never echoed: it may be a password. */
        if (mf_kafka_conf_set(conf, prop, eq + 1, var, errbuf, errlen) != MF_OK)
            return MF_EDATA;
    }
    return MF_OK;
}

/* Refuses a pass-through that would break the delivery guarantees. */
static int check_locked(rd_kafka_conf_t *conf, const char *prop, const char *const *allowed,
                        const char *why, char *errbuf, size_t errlen)
{
    char val[256];
    size_t sz = sizeof val;
    if (rd_kafka_conf_get(conf, prop, val, &sz) != RD_KAFKA_CONF_OK)
        return MF_OK;
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(val, allowed[i]) == 0)
            return MF_OK;
    char var[128] = "KAFKA_";
    for (size_t i = 0; prop[i] && i + 7 < sizeof var; i++)
        var[6 + i] = (char)(prop[i] == '.' ? '_' : toupper((unsigned char)prop[i]));
    snprintf(errbuf, errlen, "invalid %s '%s': %s", var, val, why);
    return MF_EDATA;
}

rd_kafka_conf_t *mf_kafka_conf_new(enum mf_kafka_role role, const char *brokers,
                                   const char *client_id, const char *group, char *errbuf,
                                   size_t errlen)
{
    static const char *const yes[] = {"true", NULL};
    static const char *const all[] = {"-1", "all", NULL};
    static const char *const no[] = {"false", NULL};
    static const char *const committed[] = {"read_committed", NULL};
    static const char *const eager[] = {"range", "roundrobin", "range,roundrobin",
                                        "roundrobin,range", NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct {
        const char *prop, *value;
    } producer[] =
        {
            {"enable.idempotence", "true"},    {"acks", "all"},
            {"partitioner", "murmur2_random"}, {"linger.ms", "5"},
            {"batch.num.messages", "10000"},   {"queue.buffering.max.messages", "200000"},
            {"message.timeout.ms", "30000"},
        },
      consumer[] = {
          {"partition.assignment.strategy", "range"},
          {"enable.auto.commit", "false"},
          {"enable.auto.offset.store", "false"},
          {"auto.offset.reset", "earliest"},
          {"statistics.interval.ms", "5000"},
          /* 2.0.2 stalls a partition for ~1 s when its prefetch queue fills */
          {"queued.min.messages", "200000"},
          {"session.timeout.ms", "10000"},
          {"heartbeat.interval.ms", "1000"},
          /* a worker's aborted or open transaction (WK_EOS) is never read */
          {"isolation.level", "read_committed"},
      };

    if (mf_kafka_conf_set(conf, "bootstrap.servers", brokers, "KAFKA_BROKERS", errbuf, errlen) ||
        mf_kafka_conf_set(conf, "client.id", client_id, "client id", errbuf, errlen))
        goto fail;
    if (role == MF_KAFKA_PRODUCER) {
        for (size_t i = 0; i < MF_ARRAY_LEN(producer); i++)
            if (mf_kafka_conf_set(conf, producer[i].prop, producer[i].value, producer[i].prop,
                                  errbuf, errlen))
                goto fail;
    } else {
        if (mf_kafka_conf_set(conf, "group.id", group, "GROUP_ID", errbuf, errlen))
            goto fail;
        for (size_t i = 0; i < MF_ARRAY_LEN(consumer); i++)
            if (mf_kafka_conf_set(conf, consumer[i].prop, consumer[i].value, consumer[i].prop,
                                  errbuf, errlen))
                goto fail;
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    if (apply_env(conf, errbuf, errlen) != MF_OK)
        goto fail;
    if (role == MF_KAFKA_PRODUCER) {
        if (check_locked(conf, "enable.idempotence", yes, "meterflow needs the idempotent producer",
                         errbuf, errlen) ||
            check_locked(conf, "acks", all, "meterflow needs acks=all", errbuf, errlen))
            goto fail;
    } else {
        if (check_locked(conf, "enable.auto.commit", no,
                         "meterflow commits offsets itself, after delivery", errbuf, errlen) ||
            check_locked(conf, "partition.assignment.strategy", eager,
                         "use an eager assignor (cooperative-sticky misbehaves in 2.0.2)", errbuf,
                         errlen) ||
            check_locked(conf, "isolation.level", committed,
                         "meterflow reads only committed records (a fenced worker's are not)",
                         errbuf, errlen))
            goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int32_t mf_kafka_partition_of(const char *key, size_t keylen, int32_t partitions)
{
    /* rkt is unused by the murmur2 partitioner for a non-NULL key. */
    return rd_kafka_msg_partitioner_murmur2_random(NULL, key, keylen, partitions, NULL, NULL);
}

int mf_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;

    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

void mf_kafka_hold(rd_kafka_t *rk)
{
    rd_kafka_assign(rk, NULL);
}

int mf_kafka_assign_stored(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, char *errbuf,
                           size_t errlen)
{
    rd_kafka_topic_partition_list_t *unknown = rd_kafka_topic_partition_list_new(4);
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset < 0) {
            l->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
            rd_kafka_topic_partition_list_add(unknown, l->elems[i].topic, l->elems[i].partition);
        }
    if (unknown->cnt && rd_kafka_committed(rk, unknown, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < unknown->cnt; i++) {
            rd_kafka_topic_partition_t *t = rd_kafka_topic_partition_list_find(
                l, unknown->elems[i].topic, unknown->elems[i].partition);
            if (t && unknown->elems[i].offset >= 0)
                t->offset = unknown->elems[i].offset;
        }
    rd_kafka_topic_partition_list_destroy(unknown);
    /*
     * An assignment carrying offsets, not a seek: librdkafka 2.0.2 refuses
     * a seek ("Erroneous state") while a just-assigned partition's fetcher
     * is not started yet, and that never cleared.
     */
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    if (err) {
        snprintf(errbuf, errlen, "assign at stored offsets: %s", rd_kafka_err2str(err));
        return MF_ERETRY;
    }
    return MF_OK;
}
