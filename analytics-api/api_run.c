/* api_run: the API's start, wait and stop. */
#include "api_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_cache.h"
#include "api_http.h"
#include "api_page.h"
#include "api_pool.h"
#include "api_query.h"
#include "mf_crash.h"
#include "mf_log.h"
#include "mf_metrics.h"
#include "mf_signal.h"
#include "mf_tls.h"
#include "mf_authz.h"
#include "mf_tokens.h"
#include "mf_common.h"

/* The cursor MAC's key when API_CURSOR_KEY is empty: a checksum, not a secret. */
static const char default_cursor_key[] = "meterflow-analytics-api-cursor";

int api_run(const struct api_config *cfg)
{
    char err[512];
    int status = 1;
    struct mf_authz *auth = NULL;
    struct mf_tokens *tokens = NULL;

    int tls = cfg->tls_cert_file[0] || cfg->tls_key_file[0];
    if (tls && mf_tls_install(cfg->tls_cert_file, "API_TLS_CERT_FILE", cfg->tls_key_file,
                              "API_TLS_KEY_FILE", err, sizeof err) != MF_OK) {
        fprintf(stderr, "analytics-api: %s\n", err);
        return 2;
    }
    if (cfg->auth &&
        !(tokens = mf_tokens_load(cfg->tokens_file, "API_TOKENS_FILE", err, sizeof err))) {
        fprintf(stderr, "analytics-api: %s\n", err);
        mf_tls_uninstall();
        return 2;
    }
    if (tokens)
        auth = mf_authz_new(tokens);
    mf_metrics_init();
    api_http_metrics_init();

    int replica = cfg->pg_dsn_read[0] != '\0';
    struct api_pool_opts po = {replica ? cfg->pg_dsn_read : cfg->pg_dsn,
                               "analytics-api",
                               (int)cfg->pool,
                               (int)cfg->statement_timeout_ms,
                               (int)cfg->statement_timeout_ms,
                               api_stmts,
                               api_nstmts};
    struct api_pool *pool = api_pool_new(&po);
    struct api_query_env env = {pool,
                                (int)cfg->cache_realtime_s,
                                (int)cfg->cache_hourly_s,
                                (int)cfg->cache_daily_s,
                                cfg->cursor_key[0] ? cfg->cursor_key : default_cursor_key,
                                strlen(cfg->cursor_key[0] ? cfg->cursor_key : default_cursor_key)};
    struct api_cache *cache = api_cache_new((size_t)cfg->cache_max_bytes, cfg->cache);
    /* Without the library the API serves on; the page says what is missing. */
    char *chartjs = NULL;
    size_t chartjs_len = 0;
    if (api_page_read(cfg->chartjs_path, &chartjs, &chartjs_len, err, sizeof err) != MF_OK)
        MF_LOG_WARN("main", "API_CHARTJS_PATH: %s: the page at / draws no charts", err);
    struct api_server_opts so = {cfg->addr,
                                 (unsigned)cfg->threads,
                                 (unsigned)cfg->max_connections,
                                 (unsigned)cfg->idle_timeout_s,
                                 (unsigned)cfg->request_timeout_s,
                                 (unsigned)cfg->retry_after_s,
                                 chartjs,
                                 chartjs_len,
                                 tls};
    struct api_server *srv = api_server_start(&so, &env, cache, auth, err, sizeof err);
    if (!srv) {
        MF_LOG_FATAL("main", "%s", err);
        goto out;
    }
    mf_signal_install();
    MF_LOG_INFO("main", "listening on %s (port %u, %s), reading %s, cache %s, auth %s", cfg->addr,
                api_server_port(srv), tls ? "HTTPS" : "plain HTTP",
                replica ? "PG_DSN_READ (replica)" : "PG_DSN", cfg->cache ? "on" : "OFF",
                auth ? "on" : "OFF (API_AUTH=off: anyone may read)");
    while (!mf_stop_requested) {
        if (mf_reload_requested) {
            mf_reload_requested = 0;
            /* The tokens file again (a broken one leaves the old tokens in force;
             * requests in flight keep their entry), and a renewed certificate. */
            char terr[512] = "";
            struct mf_tokens *t = auth ? mf_tokens_load(cfg->tokens_file, "API_TOKENS_FILE", terr,
                                                        sizeof terr)
                                       : NULL;
            MF_CRASH_POINT("api.reload.read"); /* the new tokens read, the old in force */
            mf_authz_reloaded(auth, t, "API_TOKENS_FILE", terr);
            if (tls)
                mf_tls_reload(cfg->tls_cert_file, "API_TLS_CERT_FILE", cfg->tls_key_file,
                              "API_TLS_KEY_FILE");
            MF_CRASH_POINT("api.reload.done"); /* the new tokens (and certificate) in force */
        }
        usleep(100 * 1000);
    }
    MF_LOG_INFO("main", "shutting down");
    status = 0;
out:
    /* Stopping the server waits for the requests being answered (each bounded
     * by the pool's wait and the statement timeout). */
    api_server_destroy(srv);
    api_cache_destroy(cache);
    api_pool_destroy(pool);
    mf_authz_destroy(auth); /* after the server: no request holds an entry now */
    mf_tls_uninstall();     /* after the server: no handshake holds a pair now */
    free(chartjs);
    return status;
}

static int check(void *cfg, char *errbuf, size_t errlen)
{
    return api_config_check(cfg, errbuf, errlen);
}

static int run(const void *cfg)
{
    return api_run(cfg);
}

const struct mf_program api_program = {
    "analytics-api",
    "HTTP API over the fleet's tables: meter status and rollups, fleet load (cached)",
    api_config_rows,
    &api_config_nrows,
    sizeof(struct api_config),
    offsetof(struct api_config, log_level),
    check,
    run,
    NULL, /* no migrate: the API only reads (the aggregator applies the migrations) */
};
