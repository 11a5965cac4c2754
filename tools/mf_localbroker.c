/*
 * mf-localbroker: librdkafka's mock cluster as a standalone Kafka broker for
 * tests and the demo. Never used in production.
 *
 * It creates the DESIGN §2 topics (names from the TOPIC_* variables), prints
 * its bootstrap address as the first line of stdout, then serves until
 * SIGTERM/SIGINT or "quit" on stdin. Tests inject faults with one command a
 * line on stdin, each answered "ok" or "error: ..." on stdout:
 *
 *   down <broker>            broker stops answering (connections refused)
 *   up <broker>              broker is back
 *   rtt <broker> <ms>        adds round-trip latency
 *   err <apikey> <code> <n>  the next n requests of that API fail with code
 *   topic-err <topic> <code> topic metadata/produce errors (0 clears)
 *   quit
 *
 * The mock's traps (DESIGN §10): its threads die on a signal, so every
 * signal is blocked before the cluster starts and the main thread takes
 * them with sigtimedwait; it keeps no transactions and only the newest
 * ~5 MiB of a partition.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "mf_topics.h"

#include "mf_common.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: mf-localbroker [--brokers N] [--list-topics] [--help]\n"
                 "Runs librdkafka's mock cluster with the meterflow topics; prints the\n"
                 "bootstrap address on the first line; fault commands on stdin (see source).\n");
}

static int parse_int(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* Runs one stdin command; writes the answer line. */
static void command(rd_kafka_mock_cluster_t *mc, char *line, int *quit)
{
    char *argv[5] = {NULL};
    int argc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r\n", &save); tok && argc < 5;
         tok = strtok_r(NULL, " \t\r\n", &save))
        argv[argc++] = tok;
    if (argc == 0)
        return;

    long a = 0, b = 0, c = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (strcmp(argv[0], "quit") == 0) {
        *quit = 1;
    } else if (strcmp(argv[0], "down") == 0 && argc == 2 && !parse_int(argv[1], &a)) {
        err = rd_kafka_mock_broker_set_down(mc, (int32_t)a);
    } else if (strcmp(argv[0], "up") == 0 && argc == 2 && !parse_int(argv[1], &a)) {
        err = rd_kafka_mock_broker_set_up(mc, (int32_t)a);
    } else if (strcmp(argv[0], "rtt") == 0 && argc == 3 && !parse_int(argv[1], &a) &&
               !parse_int(argv[2], &b)) {
        err = rd_kafka_mock_broker_set_rtt(mc, (int32_t)a, (int)b);
    } else if (strcmp(argv[0], "err") == 0 && argc == 4 && !parse_int(argv[1], &a) &&
               !parse_int(argv[2], &b) && !parse_int(argv[3], &c)) {
        for (long i = 0; i < c; i++)
            rd_kafka_mock_push_request_errors(mc, (int16_t)a, 1, (rd_kafka_resp_err_t)b);
    } else if (strcmp(argv[0], "topic-err") == 0 && argc == 3 && !parse_int(argv[2], &b)) {
        rd_kafka_mock_topic_set_error(mc, argv[1], (rd_kafka_resp_err_t)b);
    } else {
        printf("error: unknown command '%s'\n", argv[0]);
        fflush(stdout);
        return;
    }
    if (err)
        printf("error: %s\n", rd_kafka_err2str(err));
    else
        printf("ok\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long nbrokers = 1;
    char errstr[512];
    sigset_t sigs;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc &&
            !parse_int(argv[i + 1], &nbrokers) && nbrokers >= 1 && nbrokers <= 9) {
            i++;
        } else if (strcmp(argv[i], "--list-topics") == 0) {
            size_t nt;
            const struct mf_topic_spec *topics = mf_topics(&nt);
            for (size_t t = 0; t < nt; t++)
                printf("%s %d\n", mf_topic_name(&topics[t]), topics[t].partitions);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    /* Before any librdkafka thread exists: signals go to this thread only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "mf-localbroker: %s\n", errstr);
        return 1;
    }
    conf = NULL; /* rk owns it */
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)nbrokers);
    if (!mc) {
        fprintf(stderr, "mf-localbroker: cannot create the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    size_t nt;
    const struct mf_topic_spec *topics = mf_topics(&nt);
    for (size_t t = 0; t < nt; t++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, mf_topic_name(&topics[t]),
                                                             topics[t].partitions, (int)nbrokers);
        if (err) {
            fprintf(stderr, "mf-localbroker: cannot create topic %s: %s\n",
                    mf_topic_name(&topics[t]), rd_kafka_err2str(err));
            return 1;
        }
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    int quit = 0, stdin_open = 1;
    char line[512];
    size_t have = 0;
    while (!quit) {
        struct timespec zero = {0, 0};
        if (sigtimedwait(&sigs, NULL, &zero) > 0)
            break; /* SIGPIPE included: our reader went away */
        struct pollfd pfd = {STDIN_FILENO, POLLIN, 0};
        if (!stdin_open || poll(&pfd, 1, 100) <= 0) {
            if (!stdin_open)
                poll(NULL, 0, 100);
            continue;
        }
        ssize_t n = read(STDIN_FILENO, line + have, sizeof line - 1 - have);
        if (n <= 0) {
            stdin_open = 0; /* EOF: keep serving until a signal */
            continue;
        }
        have += (size_t)n;
        line[have] = '\0';
        char *nl;
        while (!quit && (nl = strchr(line, '\n'))) {
            *nl = '\0';
            command(mc, line, &quit);
            have -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, have + 1);
        }
        if (have == sizeof line - 1)
            have = 0; /* an overlong line: dropped */
    }

    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
