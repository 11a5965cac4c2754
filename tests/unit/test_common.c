/*
 * Unit tests for mf_config (the table, one-line errors, --help),
 * mf_metrics (exposition format), mf_buf limits, mf_kafka's env mapping
 * and partitioner. (The gateway's tokens are tested in test_gw_auth.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "mf_buf.h"
#include "mf_config.h"
#include "mf_kafka.h"
#include "mf_metrics.h"
#include "mf_common.h"

struct cfg {
    char *s;
    int64_t i;
    double d;
    bool b;
    int e;
    char *addr;
    char *secret;
};

static const struct mf_cfg_row rows[] = {
    {"T_STR", MF_CFG_STR, "dflt", 0, -1, offsetof(struct cfg, s), 0, NULL, "a string"},
    {"T_INT", MF_CFG_INT, "5", 1, 10, offsetof(struct cfg, i), 0, NULL, "an int"},
    {"T_DBL", MF_CFG_DBL, "0.5", 0, 1, offsetof(struct cfg, d), 0, NULL, "a double"},
    {"T_BOOL", MF_CFG_BOOL, "on", 0, -1, offsetof(struct cfg, b), 0, NULL, "a bool"},
    {"T_ENUM", MF_CFG_ENUM, "info", 0, -1, offsetof(struct cfg, e), 0, "debug|info|warn",
     "an enum"},
    {"T_ADDR", MF_CFG_ADDR, "0.0.0.0:9100", 0, -1, offsetof(struct cfg, addr), 0, NULL, "addr"},
    {"T_SECRET", MF_CFG_STR, NULL, 0, -1, offsetof(struct cfg, secret),
     MF_CFG_REQUIRED | MF_CFG_SECRET, NULL, "a DSN"},
};

static int load(struct cfg *c, char *err)
{
    memset(c, 0, sizeof *c);
    int rc = mf_config_load(rows, MF_ARRAY_LEN(rows), c, err, 256);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    struct cfg c;
    char err[256];
    setenv("T_SECRET", "host=db password=hunter2", 1);
    assert_int_equal(load(&c, err), MF_OK);
    assert_string_equal(c.s, "dflt");
    assert_int_equal(c.i, 5);
    assert_true(c.b);
    assert_int_equal(c.e, 1);
    mf_config_release(rows, MF_ARRAY_LEN(rows), &c);

    static const struct {
        const char *var, *val, *want;
    } bad[] = {
        {"T_INT", "11", "invalid T_INT '11': out of range 1..10"},
        {"T_INT", "0", "invalid T_INT '0': out of range 1..10"},
        {"T_INT", "5x", "invalid T_INT '5x': not an integer"},
        {"T_DBL", "nan", "invalid T_DBL 'nan': not a finite number"},
        {"T_DBL", "1.5", "invalid T_DBL '1.5': out of range 0..1"},
        {"T_BOOL", "maybe", "invalid T_BOOL 'maybe': want on or off"},
        {"T_ENUM", "loud", "invalid T_ENUM 'loud': want one of debug|info|warn"},
        {"T_ADDR", "9100", "invalid T_ADDR '9100': want host:port"},
        {"T_ADDR", "host:99999", "invalid T_ADDR 'host:99999': want host:port"},
    };
    for (size_t k = 0; k < MF_ARRAY_LEN(bad); k++) {
        setenv(bad[k].var, bad[k].val, 1);
        assert_int_equal(load(&c, err), MF_EDATA);
        assert_string_equal(err, bad[k].want);
        mf_config_release(rows, MF_ARRAY_LEN(rows), &c);
        unsetenv(bad[k].var);
    }
    /* A secret is named, never echoed. */
    unsetenv("T_SECRET");
    assert_int_equal(load(&c, err), MF_EDATA);
    assert_string_equal(err, "missing T_SECRET: a DSN");
    mf_config_release(rows, MF_ARRAY_LEN(rows), &c);
    /* Set but empty: refused, naming the variable and the default. */
    setenv("T_INT", "", 1);
    assert_int_equal(load(&c, err), MF_EDATA);
    assert_string_equal(err, "invalid T_INT '': empty (unset it for the default '5')");
    mf_config_release(rows, MF_ARRAY_LEN(rows), &c);
    unsetenv("T_INT");
    setenv("T_SECRET", "", 1);
    assert_int_equal(load(&c, err), MF_EDATA);
    assert_string_equal(err, "invalid T_SECRET '': empty: a DSN");
    mf_config_release(rows, MF_ARRAY_LEN(rows), &c);
    setenv("T_BOOL", "OFF", 1);
    setenv("T_ADDR", "[::1]:80", 1);
    setenv("T_SECRET", "x", 1);
    assert_int_equal(load(&c, err), MF_OK);
    assert_false(c.b);
    mf_config_release(rows, MF_ARRAY_LEN(rows), &c);
}

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    mf_config_print_help(f, rows, MF_ARRAY_LEN(rows));
    fclose(f);
    /* Every variable on a line of its own starting with two spaces. */
    assert_non_null(strstr(text, "\n  T_INT "));
    assert_non_null(strstr(text, "\n  T_SECRET "));
    assert_non_null(strstr(text, "[required]"));
    assert_non_null(strstr(text, "\n  KAFKA_<PROP> "));
    free(text);
}

static void test_metrics(void **state)
{
    (void)state;
    static const double bounds[] = {0.1, 1};
    struct mf_buf b = MF_BUF_INIT;
    mf_metrics_register("t_requests_total", MF_METRIC_COUNTER, "Requests.", NULL, 0);
    mf_metrics_register("t_empty", MF_METRIC_GAUGE, "Never set.", NULL, 0);
    mf_metrics_register("t_seconds", MF_METRIC_HISTOGRAM, "Latency.", bounds, 2);
    struct mf_metric *m = mf_metric1("t_requests_total", "code", "2\"0\\2");
    mf_metric_inc(m);
    mf_metric_add(m, 2);
    assert_ptr_equal(m, mf_metric1("t_requests_total", "code", "2\"0\\2"));
    struct mf_metric *h = mf_metric("t_seconds", NULL);
    mf_metric_observe(h, 0.05);
    mf_metric_observe(h, 0.5);
    mf_metric_observe(h, 5);
    mf_metrics_render(&b);
    assert_non_null(strstr(b.data, "# TYPE t_requests_total counter\n"));
    assert_non_null(strstr(b.data, "t_requests_total{code=\"2\\\"0\\\\2\"} 3\n"));
    assert_non_null(strstr(b.data, "# HELP t_empty Never set.\n# TYPE t_empty gauge\n"));
    assert_non_null(strstr(b.data, "t_seconds_bucket{le=\"0.1\"} 1\n"));
    assert_non_null(strstr(b.data, "t_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(b.data, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(b.data, "t_seconds_sum 5.55\n"));
    assert_non_null(strstr(b.data, "t_seconds_count 3\n"));
    mf_buf_release(&b);
}

static void test_buf_limit(void **state)
{
    (void)state;
    struct mf_buf b;
    mf_buf_init(&b, 8);
    assert_int_equal(mf_buf_appends(&b, "12345678"), MF_OK);
    assert_int_equal(mf_buf_appends(&b, "9"), MF_EDATA);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    mf_buf_release(&b);
}

static void test_kafka_conf(void **state)
{
    (void)state;
    char err[256], val[64];
    size_t sz = sizeof val;
    setenv("KAFKA_SOCKET_KEEPALIVE_ENABLE", "true", 1);
    rd_kafka_conf_t *conf = mf_kafka_conf_new(MF_KAFKA_PRODUCER, "h:1", "t", NULL, err, sizeof err);
    assert_non_null(conf);
    assert_int_equal(rd_kafka_conf_get(conf, "socket.keepalive.enable", val, &sz),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(val, "true");
    rd_kafka_conf_destroy(conf);
    unsetenv("KAFKA_SOCKET_KEEPALIVE_ENABLE");

    setenv("KAFKA_SASL_PASSWORD_TYPO", "hunter2", 1);
    assert_null(mf_kafka_conf_new(MF_KAFKA_PRODUCER, "h:1", "t", NULL, err, sizeof err));
    assert_non_null(strstr(err, "invalid KAFKA_SASL_PASSWORD_TYPO: "));
    assert_null(strstr(err, "hunter2"));
    unsetenv("KAFKA_SASL_PASSWORD_TYPO");

    setenv("KAFKA_ACKS", "1", 1);
    assert_null(mf_kafka_conf_new(MF_KAFKA_PRODUCER, "h:1", "t", NULL, err, sizeof err));
    assert_string_equal(err, "invalid KAFKA_ACKS '1': meterflow needs acks=all");
    unsetenv("KAFKA_ACKS");
    setenv("KAFKA_PARTITION_ASSIGNMENT_STRATEGY", "cooperative-sticky", 1);
    assert_null(mf_kafka_conf_new(MF_KAFKA_CONSUMER, "h:1", "t", "g", err, sizeof err));
    assert_non_null(strstr(err, "invalid KAFKA_PARTITION_ASSIGNMENT_STRATEGY"));
    unsetenv("KAFKA_PARTITION_ASSIGNMENT_STRATEGY");
}

static void test_partitioner(void **state)
{
    (void)state;
    /* Values the Java client computes (murmur2 & 0x7fffffff) % n for these keys. */
    assert_int_equal(mf_kafka_partition_of("", 0, 12) >= 0, 1);
    for (int i = 0; i < 1000; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "MTR-%d", i);
        int32_t p = mf_kafka_partition_of(key, (size_t)n, 12);
        assert_true(p >= 0 && p < 12);
        assert_int_equal(p, mf_kafka_partition_of(key, (size_t)n, 12));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),     cmocka_unit_test(test_help),
        cmocka_unit_test(test_metrics),    cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_kafka_conf), cmocka_unit_test(test_partitioner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
