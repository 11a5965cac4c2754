/*
 * it_gw_tokens: the gateway's tokens file at run time (issue 17), on the
 * real broker. A token's rate (the fifth column) answers 429 with
 * Retry-After past it; SIGHUP reloads the file without dropping a request
 * in flight (a client posting all along gets only 202s), a token added to
 * the file works after it, and a file that no longer loads leaves the
 * tokens in force as they were.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf_harness.h"
#include "mf_time.h"
#include "mf_common.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            mf_die(__VA_ARGS__);                                                                   \
    } while (0)

static char tokens_path[64] = "/tmp/mf-it-gw-tokens.XXXXXX";
static unsigned port;

/* Rewrites the tokens file: lines "<token> <name> <glob> [scopes [rate]]" with the digest. */
static void write_tokens(const char *const *lines)
{
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.new", tokens_path);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL, "cannot write %s", tmp);
    for (size_t i = 0; lines[i]; i++) {
        char tok[64], hex[65];
        const char *sp = strchr(lines[i], ' ');
        if (!sp) { /* not a token line: written as it is (a broken file) */
            fprintf(f, "%s\n", lines[i]);
            continue;
        }
        snprintf(tok, sizeof tok, "%.*s", (int)(sp - lines[i]), lines[i]);
        mf_sha256_hex(tok, hex);
        fprintf(f, "%s%s\n", hex, sp);
    }
    fclose(f);
    CHECK(rename(tmp, tokens_path) == 0, "rename %s", tmp);
}

static long post_as(const char *token, char *retry_after, size_t ralen, char **body)
{
    static atomic_int seq;
    char url[96], auth[96], reading[160];
    struct mf_http_resp r;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/readings", port);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    int n = atomic_fetch_add(&seq, 1);
    snprintf(reading, sizeof reading, "{\"meter_id\":\"TOK-%d\",\"ts\":%d,\"value\":1}", n % 10,
             n * 60);
    if (mf_http("POST", url, h, reading, strlen(reading), &r) != 0)
        return -1;
    long code = r.code;
    if (retry_after)
        snprintf(retry_after, ralen, "%s", r.retry_after);
    if (body)
        *body = strdup(r.body ? r.body : "");
    mf_http_resp_release(&r);
    return code;
}

static atomic_int stop_client;
static atomic_int client_ok, client_bad;

/* A client posting with the unlimited token all through the reloads. */
static void *client_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_client)) {
        long code = post_as("tok-steady", NULL, 0, NULL);
        if (code == 202)
            atomic_fetch_add(&client_ok, 1);
        else
            atomic_fetch_add(&client_bad, 1);
    }
    return NULL;
}

int main(void)
{
    int fd = mkstemp(tokens_path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    const char *v1[] = {"tok-steady steady * readings", "tok-rated rated * readings 5/s", NULL};
    write_tokens(v1);

    struct mf_broker *b = mf_broker_start(1);
    port = mf_free_port();
    char e_brokers[300], e_addr[64], e_tokens[96];
    snprintf(e_brokers, sizeof e_brokers, "KAFKA_BROKERS=%s", b->bootstrap);
    snprintf(e_addr, sizeof e_addr, "HTTP_ADDR=127.0.0.1:%u", port);
    snprintf(e_tokens, sizeof e_tokens, "GW_TOKENS_FILE=%s", tokens_path);
    const char *env[] = {e_brokers, e_addr, e_tokens, NULL};
    struct mf_proc *g = mf_proc_start("ingest-gw", NULL, env);
    CHECK(mf_wait_http_ok(port, "/healthz", 20000) == 0, "ingest-gw did not come up");
    CHECK(post_as("tok-steady", NULL, 0, NULL) == 202, "first post");

    /* The rate: 5/s, a burst of 5; twenty at once get at most ~6 through. */
    int ok = 0, limited = 0;
    char ra[32] = "", *body = NULL, limited_body[256] = "";
    for (int i = 0; i < 20; i++) {
        long code = post_as("tok-rated", ra, sizeof ra, &body);
        if (code == 202) {
            ok++;
        } else {
            CHECK(code == 429, "answer %ld for a rated token, want 202 or 429", code);
            CHECK(strtol(ra, NULL, 10) >= 1, "429 without Retry-After (got '%s')", ra);
            snprintf(limited_body, sizeof limited_body, "%s", body);
            limited++;
        }
        free(body);
    }
    CHECK(ok >= 5 && ok <= 10 && limited >= 10, "%d admitted, %d limited of 20 at 5/s", ok,
          limited);
    CHECK(strstr(limited_body, "rated") && strstr(limited_body, "rate"), "429 body: %s",
          limited_body);
    sleep(2); /* the bucket refills */
    CHECK(post_as("tok-rated", NULL, 0, NULL) == 202, "the rated token again after a pause");
    printf("rate 5/s: %d of 20 admitted at once, %d answered 429 with Retry-After\n", ok, limited);

    /* Reload under load: a new token works, the steady client never fails. */
    pthread_t client;
    pthread_create(&client, NULL, client_main, NULL);
    CHECK(post_as("tok-new", NULL, 0, NULL) == 401, "an unknown token before the reload");
    const char *v2[] = {"tok-steady steady * readings", "tok-rated rated * readings 5/s",
                        "tok-new new * readings", NULL};
    write_tokens(v2);
    mf_proc_signal(g, SIGHUP);
    int64_t deadline = mf_mono_ms() + 5000;
    long code;
    while ((code = post_as("tok-new", NULL, 0, NULL)) != 202 && mf_mono_ms() < deadline)
        usleep(50000);
    CHECK(code == 202, "the new token after SIGHUP: %ld", code);

    /* A broken file: refused, the tokens in force stay. */
    const char *broken[] = {"this is not a tokens file", NULL};
    write_tokens(broken);
    mf_proc_signal(g, SIGHUP);
    usleep(500000);
    CHECK(mf_proc_alive(g), "the gateway died on a broken tokens file");
    CHECK(post_as("tok-new", NULL, 0, NULL) == 202, "tokens in force after a failed reload");
    atomic_store(&stop_client, 1);
    pthread_join(client, NULL);
    CHECK(atomic_load(&client_bad) == 0, "%d of the steady client's requests failed across reloads",
          atomic_load(&client_bad));
    CHECK(atomic_load(&client_ok) > 0, "the steady client got nothing through");

    CHECK(mf_proc_stop(g, 30000) == 0, "SIGTERM exit status");
    printf("it_gw_tokens: 429 past the rate, SIGHUP reloads without dropping a request (%d "
           "steady requests, 0 failed), a broken file leaves the tokens in force\n",
           atomic_load(&client_ok));
    unlink(tokens_path);
    mf_broker_stop(b);
    return 0;
}
