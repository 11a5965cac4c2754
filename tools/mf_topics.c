/*
 * mf-topics: creates the DESIGN §2 topics, with their real policies, on a
 * real Kafka cluster, and waits for the cluster to answer first. Used by
 * tools/kafka-local; usable against any cluster an operator points it at.
 *
 *   mf-topics --bootstrap HOST:PORT [--wait-s N] [--config TOPIC:KEY=VALUE]...
 *   mf-topics --list
 *
 * A topic that exists already is left as it is. --config adds a topic
 * setting at creation (tests force compaction with a small segment.ms).
 * Then it waits until the group and transaction coordinators serve (see
 * warm_up). Exits 0 when every topic exists and both coordinators answer,
 * 1 with one line naming what failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "mf_topics.h"

#include "mf_common.h"

#define MAX_OVERRIDES 32

struct override {
    char topic[256], key[128], value[128];
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mf-topics --bootstrap HOST:PORT [--wait-s N] [--config TOPIC:KEY=VALUE]...\n"
            "       mf-topics --list\n"
            "Creates the meterflow topics (DESIGN §2; names from TOPIC_*) with their\n"
            "partitions, cleanup policy and retention; waits up to --wait-s (default 60)\n"
            "for the cluster to answer. Existing topics are left as they are.\n");
}

static int parse_override(const char *s, struct override *o)
{
    const char *colon = strrchr(s, ':');
    const char *eq = colon ? strchr(colon, '=') : NULL;
    if (!colon || !eq || colon == s || eq == colon + 1 || !eq[1])
        return -1;
    if ((size_t)(colon - s) >= sizeof o->topic || (size_t)(eq - colon - 1) >= sizeof o->key ||
        strlen(eq + 1) >= sizeof o->value)
        return -1;
    memcpy(o->topic, s, (size_t)(colon - s));
    o->topic[colon - s] = '\0';
    memcpy(o->key, colon + 1, (size_t)(eq - colon - 1));
    o->key[eq - colon - 1] = '\0';
    memcpy(o->value, eq + 1, strlen(eq + 1) + 1);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Creates the topics that do not exist yet; returns 0, or -1 with errbuf set. */
static int create_all(rd_kafka_t *rk, const struct override *ov, int nov, int timeout_ms,
                      char *errbuf, size_t errlen)
{
    size_t nt;
    const struct mf_topic_spec *topics = mf_topics(&nt);
    rd_kafka_NewTopic_t *nts[16];
    MF_ASSERT(nt <= MF_ARRAY_LEN(nts));
    for (size_t i = 0; i < nt; i++) {
        const char *name = mf_topic_name(&topics[i]);
        nts[i] = rd_kafka_NewTopic_new(name, topics[i].partitions, 1, errbuf, errlen);
        MF_ASSERT(nts[i]);
        rd_kafka_NewTopic_set_config(nts[i], "cleanup.policy", topics[i].cleanup);
        if (topics[i].retention_ms > 0) {
            char ms[32];
            snprintf(ms, sizeof ms, "%lld", topics[i].retention_ms);
            rd_kafka_NewTopic_set_config(nts[i], "retention.ms", ms);
        }
        for (int o = 0; o < nov; o++)
            if (strcmp(ov[o].topic, name) == 0)
                rd_kafka_NewTopic_set_config(nts[i], ov[o].key, ov[o].value);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, nts, nt, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    int rc = 0;
    if (!ev) {
        snprintf(errbuf, errlen, "no answer to CreateTopics within %d ms", timeout_ms);
        rc = -1;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errbuf, errlen, "%s", rd_kafka_event_error_string(ev));
        rc = -1;
    } else {
        size_t nres;
        const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &nres);
        for (size_t i = 0; i < nres; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errbuf, errlen, "cannot create topic '%s': %s",
                         rd_kafka_topic_result_name(res[i]),
                         rd_kafka_topic_result_error_string(res[i]));
                rc = -1;
                break;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < nt; i++)
        rd_kafka_NewTopic_destroy(nts[i]);
    return rc;
}

/*
 * Makes the broker's coordinators ready before anyone depends on them: the
 * first idempotent or transactional producer waits for __transaction_state
 * and the first group for __consumer_offsets, both created lazily, which on
 * a fresh broker takes seconds and made first requests time out. A
 * transactional init and a group offset fetch create and load both.
 */
static int warm_up(const char *bootstrap, double deadline, char *errbuf, size_t errlen)
{
    char errstr[512];
    int ok = 0;
    while (!ok && now_s() < deadline) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
        rd_kafka_conf_set(conf, "transactional.id", "mf-topics.warm-up", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!rk) {
            snprintf(errbuf, errlen, "%s", errstr);
            return -1;
        }
        rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 10000);
        ok = e == NULL;
        if (e) {
            snprintf(errbuf, errlen, "transaction coordinator: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        rd_kafka_destroy(rk);
    }
    if (!ok)
        return -1;
    size_t nt;
    const struct mf_topic_spec *topics = mf_topics(&nt);
    for (ok = 0; !ok && now_s() < deadline;) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
        rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
        rd_kafka_conf_set(conf, "group.id", "mf-topics.warm-up", NULL, 0);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
        if (!rk) {
            snprintf(errbuf, errlen, "%s", errstr);
            return -1;
        }
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, mf_topic_name(&topics[0]), 0);
        rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, 10000);
        ok = err == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!ok)
            snprintf(errbuf, errlen, "group coordinator: %s",
                     rd_kafka_err2str(err ? err : l->elems[0].err));
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL;
    long wait_s = 60;
    struct override ov[MAX_OVERRIDES];
    int nov = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc) {
            bootstrap = argv[++i];
        } else if (strcmp(argv[i], "--wait-s") == 0 && i + 1 < argc) {
            char *end;
            wait_s = strtol(argv[++i], &end, 10);
            if (*end || wait_s < 1 || wait_s > 3600) {
                fprintf(stderr, "mf-topics: invalid --wait-s '%s': want 1..3600\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            if (nov == MAX_OVERRIDES || parse_override(argv[++i], &ov[nov]) < 0) {
                fprintf(stderr, "mf-topics: invalid --config '%s': want TOPIC:KEY=VALUE\n",
                        argv[i]);
                return 2;
            }
            nov++;
        } else if (strcmp(argv[i], "--list") == 0) {
            size_t nt;
            const struct mf_topic_spec *topics = mf_topics(&nt);
            for (size_t t = 0; t < nt; t++)
                printf("%s %d %s %lld\n", mf_topic_name(&topics[t]), topics[t].partitions,
                       topics[t].cleanup, topics[t].retention_ms);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!bootstrap) {
        usage(stderr);
        return 2;
    }

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr)) {
        fprintf(stderr, "mf-topics: invalid --bootstrap '%s': %s\n", bootstrap, errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "mf-topics: %s\n", errstr);
        return 1;
    }

    /* Wait until the cluster answers metadata, then create; a controller
     * that is still electing itself answers CreateTopics with a retriable
     * error, so creation is retried until the deadline too. */
    double deadline = now_s() + (double)wait_s;
    int rc = 1;
    char err[512] = "the cluster did not answer";
    while (now_s() < deadline) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, NULL, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int brokers = md->broker_cnt;
            rd_kafka_metadata_destroy(md);
            if (brokers > 0 && create_all(rk, ov, nov, 10000, err, sizeof err) == 0) {
                rc = 0;
                break;
            }
        }
        struct timespec pause = {0, 250 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    rd_kafka_destroy(rk);
    if (rc == 0 && warm_up(bootstrap, deadline, err, sizeof err) != 0)
        rc = 1;
    if (rc)
        fprintf(stderr, "mf-topics: %s at %s within %ld s\n", err, bootstrap, wait_s);
    return rc;
}
