/* api_config: the rows; the shared ones come from mf_config.h's MF_CFG_ROW_*. */
#include "api_config.h"

#include <stdio.h>

#include "mf_common.h"

#define OFF(f) offsetof(struct api_config, f)

const struct mf_cfg_row api_config_rows[] = {
    MF_CFG_ROW_LOG_LEVEL(struct api_config, log_level),
    MF_CFG_ROW_PG_DSN(struct api_config, pg_dsn,
                      "the tables it reads (registry, rollups, status, region load)"),
    {"PG_DSN_READ", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(pg_dsn_read), MF_CFG_SECRET, NULL,
     "a read replica to query instead of PG_DSN (the API only reads; never logged)"},
    {"API_ADDR", MF_CFG_ADDR, "0.0.0.0:8090", MF_CFG_UNBOUNDED, OFF(addr), 0, NULL,
     "address of the API, its page at / and /metrics, /healthz, /readyz"},
    {"API_TLS_CERT_FILE", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(tls_cert_file), 0, NULL,
     "PEM certificate (chain) for HTTPS on API_ADDR; with API_TLS_KEY_FILE; unset: plain HTTP; "
     "both reloaded on SIGHUP"},
    {"API_TLS_KEY_FILE", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(tls_key_file), 0, NULL,
     "PEM private key of API_TLS_CERT_FILE"},
    {"API_AUTH", MF_CFG_BOOL, "on", MF_CFG_UNBOUNDED, OFF(auth), 0, NULL,
     "require bearer tokens with the read scope (off only for trusted networks and tests)"},
    {"API_TOKENS_FILE", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(tokens_file), 0, NULL,
     "the tokens file (the format of GW_TOKENS_FILE; the read scope and the glob on the meter "
     "id are honoured; the rate column is not); required with API_AUTH=on; reloaded on SIGHUP"},
    {"API_THREADS", MF_CFG_INT, "4", 1, 256, OFF(threads), 0, NULL,
     "HTTP threads (each serves many connections; a cache miss holds one while it queries)"},
    {"API_MAX_CONNECTIONS", MF_CFG_INT, "4096", 1, 1000000, OFF(max_connections), 0, NULL,
     "most concurrent client connections; more are refused at accept"},
    {"API_IDLE_TIMEOUT_S", MF_CFG_INT, "10", 1, 3600, OFF(idle_timeout_s), 0, NULL,
     "an idle client connection is closed after this long (at API_MAX_CONNECTIONS, new ones "
     "wait for that)"},
    {"API_REQUEST_TIMEOUT_S", MF_CFG_INT, "30", 1, 3600, OFF(request_timeout_s), 0, NULL,
     "a request's headers and answer must be done this long after its request line, else the "
     "connection is closed (a slow client; more than twice API_STATEMENT_TIMEOUT_MS)"},
    {"API_PG_POOL", MF_CFG_INT, "4", 1, 256, OFF(pool), 0, NULL,
     "PostgreSQL connections (a request waits for a free one up to API_STATEMENT_TIMEOUT_MS)"},
    {"API_STATEMENT_TIMEOUT_MS", MF_CFG_INT, "2000", 50, 60000, OFF(statement_timeout_ms), 0, NULL,
     "longest a query may run (PostgreSQL's statement_timeout) before the answer is 503"},
    {"API_RETRY_AFTER_S", MF_CFG_INT, "5", 1, 3600, OFF(retry_after_s), 0, NULL,
     "Retry-After seconds sent with 503"},
    {"API_CACHE", MF_CFG_BOOL, "on", MF_CFG_UNBOUNDED, OFF(cache), 0, NULL,
     "the answer cache (off: every request queries PostgreSQL; for benchmarks)"},
    {"API_CACHE_REALTIME_S", MF_CFG_INT, "30", 1, 86400, OFF(cache_realtime_s), 0, NULL,
     "TTL of real-time answers: meter status, 1m rollups that include open windows, 404s"},
    {"API_CACHE_HOURLY_S", MF_CFG_INT, "300", 1, 86400, OFF(cache_hourly_s), 0, NULL,
     "TTL of hourly answers: 1h rollups and fleet load that include open windows"},
    {"API_CACHE_DAILY_S", MF_CFG_INT, "3600", 1, 604800, OFF(cache_daily_s), 0, NULL,
     "TTL of answers over closed windows only (they change only by late data)"},
    {"API_CACHE_MAX_BYTES", MF_CFG_INT, "67108864", 65536, 68719476736, OFF(cache_max_bytes), 0,
     NULL, "memory the cached answers may hold; the least recently used go first"},
    {"API_CURSOR_KEY", MF_CFG_STR, "", MF_CFG_UNBOUNDED, OFF(cursor_key), MF_CFG_SECRET, NULL,
     "secret that signs list cursors (HMAC-SHA256); the same on every replica. Empty: a "
     "checksum that still refuses altered cursors"},
    {"API_CHARTJS_PATH", MF_CFG_STR, "/usr/share/javascript/chart.js/chart.min.js",
     MF_CFG_UNBOUNDED, OFF(chartjs_path), 0, NULL,
     "Chart.js as installed (Debian's libjs-chart.js), served at /chart.js for the page at /"},
};
const size_t api_config_nrows = MF_ARRAY_LEN(api_config_rows);

int api_config_check(struct api_config *cfg, char *errbuf, size_t errlen)
{
    if (cfg->auth && !cfg->tokens_file[0]) {
        snprintf(errbuf, errlen, "missing API_TOKENS_FILE: required with API_AUTH=on");
        return MF_EDATA;
    }
    /* A request may wait a statement timeout for a pool connection, then run one. */
    if (cfg->request_timeout_s * 1000 <= 2 * cfg->statement_timeout_ms) {
        snprintf(errbuf, errlen,
                 "invalid API_REQUEST_TIMEOUT_S: %lld s must be longer than twice "
                 "API_STATEMENT_TIMEOUT_MS (%lld ms), or a slow query loses its 503",
                 (long long)cfg->request_timeout_s, (long long)cfg->statement_timeout_ms);
        return MF_EDATA;
    }
    return MF_OK;
}
