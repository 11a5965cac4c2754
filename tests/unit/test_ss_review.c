/*
 * Unit tests for ss_review (the review stores' rows): a quarantined
 * reading's typed fields, a DLQ record's bytes as text or base64 and its
 * headers, an alert's fields; every malformed quarantine or alert record
 * to the DLQ with parse_error and nothing half-written; the days the
 * stores' partitions need; the offsets advanced for every record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "ss_batch.h"
#include "mf_common.h"

#define TS 1710511200000LL /* 2024-03-15T14:00:00Z */

/* The store's rows as a parsed JSON array (the SQL's input). */
static cJSON *rows(const struct ss_batch *b, enum ss_review_kind k)
{
    char *s = malloc(b->review[k].len + 3);
    s[0] = '[';
    memcpy(s + 1, b->review[k].data, b->review[k].len);
    s[b->review[k].len + 1] = ']';
    s[b->review[k].len + 2] = '\0';
    cJSON *a = cJSON_Parse(s);
    assert_non_null(a);
    free(s);
    assert_int_equal(cJSON_GetArraySize(a), (int)b->nreview[k]);
    return a;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int isnull(const cJSON *o, const char *name)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, name));
}

static double numv(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static int add(struct ss_batch *b, enum ss_review_kind k, int64_t off, const char *value)
{
    return ss_batch_add_review(b, k, 2, off, TS, "MTR-1", 5, NULL, 0, value, strlen(value));
}

static void test_quarantine_row(void **state)
{
    (void)state;
    struct ss_batch b;
    ss_batch_init(&b);
    const char *rec = "{\"meter_id\":\"MTR-1\",\"ts\":\"2024-03-15T14:00:00.000Z\",\"value_kw\":"
                      "null,\"source_value\":50,\"interval_s\":60,\"quality\":0,\"tier\":"
                      "\"quarantine\",\"flags\":[\"unit_inferred\"],\"reasons\":["
                      "\"unit_ambiguous\",7],\"interpolated\":false,\"src\":{\"p\":3,\"o\":12345,"
                      "\"i\":0},\"extra\":\"kept\"}";
    assert_int_equal(add(&b, SS_REV_QUARANTINE, 10, rec), 1);
    /* A quality that is no integer and a src without o: null, never a failing cast. */
    assert_int_equal(add(&b, SS_REV_QUARANTINE, 11,
                         "{\"meter_id\":\"MTR-2\",\"ts\":\"2024-03-15T14:01:00+02:00\","
                         "\"quality\":70.5,\"source_unit\":\"W\",\"src\":{\"p\":1}}"),
                     1);
    cJSON *a = rows(&b, SS_REV_QUARANTINE);
    const cJSON *r = cJSON_GetArrayItem(a, 0);
    assert_string_equal(str(r, "meter_id"), "MTR-1");
    assert_string_equal(str(r, "ts"), "2024-03-15T14:00:00.000Z");
    assert_string_equal(str(r, "received_at"), "2024-03-15T14:00:00.000Z");
    assert_true(isnull(r, "value_kw"));
    assert_true(numv(r, "source_value") == 50);
    assert_true(isnull(r, "source_unit"));
    assert_true(numv(r, "quality") == 0);
    assert_true(numv(r, "sp") == 3 && numv(r, "so") == 12345 && numv(r, "si") == 0);
    assert_true(numv(r, "p") == 2 && numv(r, "o") == 10);
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(r, "reasons");
    assert_int_equal(cJSON_GetArraySize(reasons), 1); /* the 7 is no reason */
    assert_string_equal(cJSON_GetArrayItem(reasons, 0)->valuestring, "unit_ambiguous");
    assert_string_equal(str(cJSON_GetObjectItemCaseSensitive(r, "record"), "extra"), "kept");
    r = cJSON_GetArrayItem(a, 1);
    assert_string_equal(str(r, "ts"), "2024-03-15T12:01:00.000Z");
    assert_true(isnull(r, "quality"));
    assert_string_equal(str(r, "source_unit"), "W");
    assert_true(isnull(r, "so") && isnull(r, "si") && numv(r, "sp") == 1);
    assert_int_equal(b.ndlq, 0);
    assert_int_equal(b.ndays, 1);
    assert_int_equal(b.days[0], TS / 86400000LL);
    assert_int_equal(b.npos, 1);
    assert_int_equal(b.pos[0].kind, SS_TOPIC_OF_REVIEW(SS_REV_QUARANTINE));
    assert_int_equal(b.pos[0].next_offset, 12);
    cJSON_Delete(a);
    ss_batch_release(&b);
}

static void test_bad_records_to_dlq(void **state)
{
    (void)state;
    static const struct {
        enum ss_review_kind k;
        const char *value;
        const char *msg;
    } bad[] = {
        {SS_REV_QUARANTINE, "not json", "not a JSON object"},
        {SS_REV_QUARANTINE, "[1]", "not a JSON object"},
        /* Found by fuzz_review: cJSON stops after the object, but the row keeps the bytes
         * as jsonb, whose cast would then fail the batch for ever. */
        {SS_REV_QUARANTINE, "{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\"}<<<",
         "not a JSON object"},
        {SS_REV_QUARANTINE, "{\"ts\":\"2024-03-15T14:00:00Z\"}", "meter_id"},
        {SS_REV_QUARANTINE, "{\"meter_id\":\"a b\",\"ts\":\"2024-03-15T14:00:00Z\"}", "meter_id"},
        {SS_REV_QUARANTINE, "{\"meter_id\":\"M\",\"ts\":\"yesterday\"}", "ts"},
        {SS_REV_QUARANTINE,
         "{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\",\"x\":\"\\u0000\"}", "\\u0000"},
        {SS_REV_QUARANTINE, "{\"meter_id\":\"M\xff\",\"ts\":\"2024-03-15T14:00:00Z\"}", "UTF-8"},
        {SS_REV_ALERTS,
         "{\"meter_id\":\"M\",\"type\":\"zero_value\",\"severity\":\"warning\",\"state\":"
         "\"open\",\"since\":\"2024-03-15T14:00:00Z\",\"ts\":\"2024-03-15T14:00:00Z\"}",
         "state"},
        {SS_REV_ALERTS,
         "{\"meter_id\":\"M\",\"severity\":\"warning\",\"state\":\"raised\",\"since\":"
         "\"2024-03-15T14:00:00Z\",\"ts\":\"2024-03-15T14:00:00Z\"}",
         "type"},
        {SS_REV_ALERTS,
         "{\"meter_id\":\"M\",\"type\":\"zero_value\",\"severity\":\"warning\",\"state\":"
         "\"raised\",\"ts\":\"2024-03-15T14:00:00Z\"}",
         "since"},
    };
    struct ss_batch b;
    ss_batch_init(&b);
    /* A good one first: a refused record must not leave a half row or a stray comma. */
    assert_int_equal(
        add(&b, SS_REV_QUARANTINE, 0, "{\"meter_id\":\"M\",\"ts\":\"2024-03-15T14:00:00Z\"}"), 1);
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        assert_int_equal(add(&b, bad[i].k, (int64_t)i + 1, bad[i].value), 0);
        const struct ss_dlq *d = &b.dlq[b.ndlq - 1];
        assert_int_equal(b.ndlq, i + 1);
        assert_string_equal(d->code, "parse_error");
        if (!strstr(d->msg, bad[i].msg))
            fail_msg("record %zu: message '%s' lacks '%s'", i, d->msg, bad[i].msg);
        assert_int_equal(d->kind, SS_TOPIC_OF_REVIEW(bad[i].k));
        assert_int_equal(d->offset, (int64_t)i + 1);
        assert_memory_equal(b.bytes.data + d->val_off, bad[i].value, strlen(bad[i].value));
    }
    cJSON_Delete(rows(&b, SS_REV_QUARANTINE));
    assert_int_equal(b.nreview[SS_REV_ALERTS], 0);
    assert_int_equal(b.review[SS_REV_ALERTS].len, 0);
    assert_int_equal(b.count, MF_ARRAY_LEN(bad) + 1);
    ss_batch_release(&b);
}

static void test_dlq_row(void **state)
{
    (void)state;
    struct ss_batch b;
    ss_batch_init(&b);
    const struct ss_header h[] = {
        {"error.code", "parse_error", 11},
        {"error.message", "line 1: \"x\"\n", 12},
        {"source.topic", "meter.readings.raw", 18},
        {"source.partition", "4", 1},
        {"source.offset", "99x", 3}, /* not a number: null, not a failing cast */
        {"worker.id", "\xff\x01", 2},
        {"empty", NULL, 0},
    };
    const char bin[] = {'a', '\0', 'b', '\xfe'};
    assert_int_equal(
        ss_batch_add_review(&b, SS_REV_DLQ, 0, 5, TS, NULL, 0, h, MF_ARRAY_LEN(h), bin, sizeof bin),
        1);
    assert_int_equal(ss_batch_add_review(&b, SS_REV_DLQ, 0, 6, -1, "K\xc3\xa9", 3, NULL, 0,
                                         "{\"meter_id\":", 12),
                     1);
    cJSON *a = rows(&b, SS_REV_DLQ);
    const cJSON *r = cJSON_GetArrayItem(a, 0);
    assert_true(isnull(r, "key") && isnull(r, "key_encoding"));
    assert_string_equal(str(r, "value"), "YQBi/g==");
    assert_string_equal(str(r, "value_encoding"), "base64");
    assert_string_equal(str(r, "error_code"), "parse_error");
    assert_string_equal(str(r, "source_topic"), "meter.readings.raw");
    assert_true(numv(r, "source_partition") == 4);
    assert_true(isnull(r, "source_offset"));
    const cJSON *hj = cJSON_GetObjectItemCaseSensitive(r, "headers");
    assert_string_equal(str(hj, "error.message"), "line 1: \"x\"\n");
    assert_string_equal(str(hj, "worker.id"), "base64:/wE=");
    assert_true(isnull(hj, "empty"));
    r = cJSON_GetArrayItem(a, 1);
    assert_string_equal(str(r, "key"), "K\xc3\xa9");
    assert_string_equal(str(r, "key_encoding"), "utf8");
    assert_string_equal(str(r, "value"), "{\"meter_id\":");
    assert_string_equal(str(r, "value_encoding"), "utf8");
    assert_true(isnull(r, "error_code") && isnull(r, "source_topic"));
    cJSON_Delete(a);
    assert_int_equal(b.ndlq, 0);
    assert_int_equal(b.ndays, 2); /* TS's day and today's (no timestamp: the clock's) */
    ss_batch_release(&b);
}

static void test_alert_row(void **state)
{
    (void)state;
    struct ss_batch b;
    ss_batch_init(&b);
    assert_int_equal(add(&b, SS_REV_ALERTS, 0,
                         "{\"meter_id\":\"MTR-1\",\"type\":\"stuck_value\",\"severity\":"
                         "\"warning\",\"state\":\"cleared\",\"since\":\"2024-03-14T14:00:00Z\","
                         "\"ts\":\"2024-03-15T14:00:00.000Z\",\"detail\":{\"hours\":24.0},"
                         "\"src\":{\"p\":3,\"o\":1,\"i\":1}}"),
                     1);
    assert_int_equal(add(&b, SS_REV_ALERTS, 1,
                         "{\"meter_id\":\"MTR-1\",\"type\":\"overload\",\"severity\":"
                         "\"critical\",\"state\":\"raised\",\"since\":\"2024-03-14T14:00:00Z\","
                         "\"ts\":\"2024-03-15T14:00:00.000Z\",\"detail\":[1]}"),
                     1);
    cJSON *a = rows(&b, SS_REV_ALERTS);
    const cJSON *r = cJSON_GetArrayItem(a, 0);
    assert_string_equal(str(r, "state"), "cleared");
    assert_string_equal(str(r, "since"), "2024-03-14T14:00:00.000Z");
    assert_true(numv(cJSON_GetObjectItemCaseSensitive(r, "detail"), "hours") == 24);
    assert_true(numv(r, "si") == 1);
    r = cJSON_GetArrayItem(a, 1);
    assert_true(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r, "detail")));
    assert_true(isnull(r, "sp"));
    cJSON_Delete(a);
    assert_int_equal(b.ndays, 0); /* alerts is not partitioned */
    ss_batch_reset(&b);
    assert_int_equal(b.nreview[SS_REV_ALERTS], 0);
    assert_int_equal(b.review[SS_REV_ALERTS].len, 0);
    ss_batch_release(&b);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(ss_topic_kind_name(SS_TOPIC_OF_REVIEW(SS_REV_QUARANTINE)), "quarantine");
    assert_string_equal(ss_topic_kind_name(SS_TOPIC_OF_REVIEW(SS_REV_DLQ)), "dlq");
    assert_string_equal(ss_topic_kind_name(SS_TOPIC_OF_REVIEW(SS_REV_ALERTS)), "alerts");
    assert_string_equal(ss_topic_kind_name(MF_SRC_GRID), mf_source_kind_name(MF_SRC_GRID));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quarantine_row), cmocka_unit_test(test_bad_records_to_dlq),
        cmocka_unit_test(test_dlq_row),        cmocka_unit_test(test_alert_row),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
