/*
 * mf_harness: what integration and fault tests need to run the real
 * programs: child processes, a real Kafka broker (or librdkafka's mock
 * cluster, for its fault injection), a throw-away PostgreSQL, HTTP calls
 * (libcurl) and reading topics back.
 *
 * Tests find the binaries in $MF_BIN_DIR (set by run-tests.sh; default
 * build/bin) and the repo in $MF_TOP. Helpers abort the test (exit 1 with
 * a message) on set-up failures: a test that cannot set up is a failure,
 * never a pass. Thread: main.
 */
#ifndef MF_HARNESS_H
#define MF_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---------------------------------------------------------------- processes */

struct mf_proc {
    pid_t pid;
    int in_fd;  /* its stdin (write end), or -1 */
    int out_fd; /* its stdout (read end), or -1 */
    char name[64];
};

/*
 * Starts $MF_BIN_DIR/<prog> (or a path with '/') with argv[1..] = args
 * (NULL-terminated, may be NULL) and the extra environment env ("K=V",
 * NULL-terminated). stdin/stdout are pipes; stderr goes to
 * $MF_TEST_LOGDIR/<name>.log or is inherited.
 */
struct mf_proc *mf_proc_start(const char *prog, const char *const *args, const char *const *env);
/* Reads one line of its stdout into buf (without the newline); 0 or -1 on timeout/EOF. */
int mf_proc_readline(struct mf_proc *p, char *buf, size_t len, int timeout_ms);
/* Sends a signal. */
void mf_proc_signal(struct mf_proc *p, int sig);
/* Waits up to timeout_ms; returns the exit status (0..255), 128+signal, or -1 on timeout. */
int mf_proc_wait(struct mf_proc *p, int timeout_ms);
/* SIGTERM, wait up to timeout_ms, then SIGKILL; returns the status; frees p. */
int mf_proc_stop(struct mf_proc *p, int timeout_ms);
/* 1 while running. */
int mf_proc_alive(struct mf_proc *p);

/* ---------------------------------------------------------------- the stack */

struct mf_broker {
    struct mf_proc *proc;
    char bootstrap[256];
    int mock; /* 1: librdkafka's mock cluster (mf-localbroker) */
};

/*
 * Starts a real Apache Kafka broker (tools/kafka-local) on a free port with
 * the DESIGN §2 topics; nbrokers is ignored (one KRaft node). Commands
 * (mf_broker_cmd): "kill" (SIGKILL the JVM), "start" (again, same log
 * directory and port; answers once the broker serves).
 */
struct mf_broker *mf_broker_start(int nbrokers);
/* The same with topic settings at creation, "TOPIC:KEY=VALUE" (NULL-terminated). */
struct mf_broker *mf_broker_start_with(const char *const *topic_configs);
/*
 * librdkafka's mock cluster (mf-localbroker), only for the faults only it
 * can inject; commands: "down 1", "up 1", "rtt", "err", "topic-err".
 */
struct mf_broker *mf_mockbroker_start(int nbrokers);
/* Sends a command; returns 0 when it answered ok. */
int mf_broker_cmd(struct mf_broker *b, const char *cmd);
void mf_broker_stop(struct mf_broker *b);

struct mf_pgtmp {
    char dir[256];
    char dsn[256];
};

/* A throw-away PostgreSQL (tests/lib/pgtmp.sh); NULL and exit 77 if none. */
struct mf_pgtmp *mf_pgtmp_start(void);
/* "stop", "kill", "restart" or "destroy" (destroy also frees). */
int mf_pgtmp_do(struct mf_pgtmp *pg, const char *verb);
/* Runs SQL through psql; returns the first column of the first row (static buffer) or NULL. */
const char *mf_pgtmp_query(struct mf_pgtmp *pg, const char *sql);

/*
 * Applies the compiled-in migrations (as a program's start would), then
 * runs the SQL file $MF_TOP/<relpath> through psql with the variables
 * `vars` ("-v a=1 -v b=2", the test's own text). Aborts the test on failure.
 */
void mf_pgtmp_load(struct mf_pgtmp *pg, const char *relpath, const char *vars);

/* A free TCP port on 127.0.0.1. */
unsigned mf_free_port(void);
/* Polls http://127.0.0.1:<port><path> until it answers 200; 0 or -1 on timeout. */
int mf_wait_http_ok(unsigned port, const char *path, int timeout_ms);

/* ---------------------------------------------------------------- HTTP */

struct mf_http_resp {
    long code;
    char *body; /* NUL-terminated; free with mf_http_resp_release */
    char retry_after[32];
    char etag[64];          /* the ETag header, if any */
    char cache_control[64]; /* the Cache-Control header, if any */
};

/* Performs a request (body may be NULL for GET); headers is NULL-terminated "K: V". */
int mf_http(const char *method, const char *url, const char *const *headers, const char *body,
            size_t len, struct mf_http_resp *resp);
void mf_http_resp_release(struct mf_http_resp *resp);

/* ---------------------------------------------------------------- Kafka */

struct mf_rec {
    int32_t partition;
    int64_t offset;
    char *key; /* NUL-terminated copies */
    char *value;
    size_t value_len;
    char *headers; /* "k=v\n" per header */
};

struct mf_recs {
    struct mf_rec *v;
    size_t n, cap;
};

/*
 * Reads a topic from the beginning of every partition (no group) until
 * `want` records arrived (want < 0: until idle_ms passes with nothing new;
 * a topic that holds records gets a few seconds for its first) or
 * timeout_ms. Records are appended to out.
 */
void mf_kafka_read_topic(const char *bootstrap, const char *topic, long want, int idle_ms,
                         int timeout_ms, struct mf_recs *out);
void mf_recs_release(struct mf_recs *r);
/* Readers see only committed records (read_committed), or with on = 1 every record. */
void mf_kafka_read_uncommitted(int on);
/* The value of header `name` of a record (static buffer), or NULL. */
const char *mf_rec_header(const struct mf_rec *r, const char *name);

/* Produces records synchronously (acks=all); keys/values NUL-terminated. */
void mf_kafka_produce(const char *bootstrap, const char *topic, const char *const *keys,
                      const char *const *values, size_t n);

/*
 * Produces one record synchronously with headers "name=value"
 * (NULL-terminated): what meterctl's re-published records carry.
 */
void mf_kafka_produce_with_headers(const char *bootstrap, const char *topic, const char *key,
                                   const char *value, const char *const *headers);

/* The tokens file's digest of a token: 64 lowercase hex digits and a NUL into out. */
void mf_sha256_hex(const char *token, char out[65]);

/* Aborts the test with a message. */
void mf_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* ---------------------------------------------------------------- crash walks */

#define MF_CRASH_POINT_MAX 96 /* longest point name a walk handles, with its NUL */

/*
 * The start of every crash-point walk (issue 17): under the sanitizers
 * (MF_SANITIZED=1) prints why and exits 77, since the walk runs the fault
 * build that the release run covers; otherwise sets bin to prog's fault
 * build ($MF_CRASH_BIN_DIR, else build/crash/bin under $MF_TOP) and fills
 * points with the names `bin --crash-points` lists. Returns how many (at
 * least 1); dies when the binary is missing or lists none.
 */
int mf_crash_walk_points(const char *prog, char *bin, size_t binlen,
                         char points[][MF_CRASH_POINT_MAX], int max);

#endif
