/*
 * it_wk_stream: a crafted stream through the real stream-worker, the local
 * broker and a throw-away PostgreSQL; every output is checked: topic, key,
 * outcome, flags, src, DLQ headers, alerts, the changelog, the metrics,
 * and a clean SIGTERM exit.
 */
#include "mf_wktest.h"

struct in {
    const char *key, *value;
    /* expectations for its scored output (NULL topic: DLQ) */
    const char *topic, *tier, *flags, *reasons;
    int n_interp, n_alerts;
};

static const struct in stream[] = {
    {"A", "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":1.25,\"unit\":\"kW\"}",
     T_VAL, "premium", "[]", "[]", 0, 0},
    {"A", "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:01:00Z\",\"value\":1250,\"unit\":\"W\"}",
     T_VAL, "premium", "[\"unit_converted\"]", "[]", 0, 0},
    {"A", "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T16:04:00+02:00\",\"value\":1.5,\"unit\":\"kW\"}",
     T_VAL, "premium", "[]", "[]", 2, 0},
    {"junk", "not json at all", NULL, NULL, NULL, NULL, 0, 0},
    {"B", "{\"meter_id\":\"B\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":1,\"unit\":\"kW\"}",
     T_QUAR, "quarantine", "[\"inactive_meter\"]", "[\"inactive_meter\"]", 0, 0},
    {"X", "{\"meter_id\":\"X\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":1,\"unit\":\"kW\"}",
     T_QUAR, "quarantine", "[\"unknown_meter\"]", "[\"unknown_meter\"]", 0, 0},
    {"A", "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:04:00Z\",\"value\":1.5,\"unit\":\"kW\"}",
     T_QUAR, "quarantine", "[\"duplicate\"]", "[\"duplicate\"]", 0, 0},
    {"A", "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T18:05:00Z\",\"value\":1.6,\"unit\":\"kW\"}",
     T_VAL, "premium", "[\"missing_short\"]", "[]", 0, 2},
    {"A", "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T18:06:00Z\",\"value\":\"x\"}", NULL, NULL, NULL,
     NULL, 0, 0},
    {"A", "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T18:07:00Z\",\"value\":-1,\"unit\":\"kW\"}",
     T_QUAR, "quarantine", "[\"negative_value\"]", "[\"negative_value\"]", 0, 0},
    {"A",
     "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T18:08:00Z\",\"value\":1.7,\"unit\":\"kW\","
     "\"site\":\"roof\"}",
     T_VAL, "premium", "[]", "[]", 0, 0},
};
#define N MF_ARRAY_LEN(stream)

int main(void)
{
    struct wk_stack s;
    stack_start(&s);
    sql(&s, "INSERT INTO meters (meter_id, max_kw, interval_s, active) VALUES "
            "('A', 20, 60, true), ('B', 20, 60, false)");

    const char *keys[N], *vals[N];
    for (size_t i = 0; i < N; i++) {
        keys[i] = stream[i].key;
        vals[i] = stream[i].value;
    }
    struct wk_proc_h *w = worker_start(&s, "w1", NULL, 1);
    produce_keyed(&s, keys, vals, N);

    /* The raw topic tells each input's (partition, offset). */
    struct mf_recs raw = {0}, val = {0}, quar = {0}, dlq = {0}, alerts = {0}, state = {0};
    read_all(&s, T_RAW, N, &raw);
    CHECK(raw.n == N, "raw has %zu records", raw.n);
    long want_val = 0, want_quar = 0, want_alerts = 0;
    for (size_t i = 0; i < N; i++) {
        if (stream[i].topic && strcmp(stream[i].topic, T_VAL) == 0)
            want_val += 1 + stream[i].n_interp;
        else if (stream[i].topic && strcmp(stream[i].topic, T_QUAR) == 0)
            want_quar++;
        want_alerts += stream[i].n_alerts;
    }
    read_all(&s, T_VAL, want_val, &val);
    read_all(&s, T_QUAR, want_quar, &quar);
    read_all(&s, T_DLQ, 2, &dlq);
    read_all(&s, T_ALERT, want_alerts, &alerts);
    CHECK(val.n == (size_t)want_val, "validated: %zu records, want %ld", val.n, want_val);
    CHECK(quar.n == (size_t)want_quar, "quarantine: %zu, want %ld", quar.n, want_quar);
    CHECK(dlq.n == 2, "dlq: %zu, want 2", dlq.n);
    CHECK(alerts.n == (size_t)want_alerts, "alerts: %zu, want %ld", alerts.n, want_alerts);

    for (size_t r = 0; r < raw.n; r++) {
        const struct in *in = NULL;
        for (size_t i = 0; i < N; i++)
            if (strcmp(raw.v[r].value, stream[i].value) == 0)
                in = &stream[i];
        CHECK(in, "unknown raw record %s", raw.v[r].value);
        int p = raw.v[r].partition;
        long long o = raw.v[r].offset;
        if (!in->topic) {
            /* DLQ: original key and bytes, the six headers */
            int found = 0;
            for (size_t d = 0; d < dlq.n; d++) {
                /* mf_rec_header answers in one static buffer: read one at a time */
                const char *h = mf_rec_header(&dlq.v[d], "source.offset");
                if (!h || strtoll(h, NULL, 10) != o)
                    continue;
                h = mf_rec_header(&dlq.v[d], "source.partition");
                if (!h || strtol(h, NULL, 10) != p)
                    continue;
                found = 1;
                CHECK(strcmp(dlq.v[d].value, in->value) == 0, "dlq bytes changed");
                CHECK(strcmp(dlq.v[d].key, in->key) == 0, "dlq key changed");
                CHECK(strcmp(mf_rec_header(&dlq.v[d], "error.code"), "parse_error") == 0,
                      "error.code");
                CHECK(mf_rec_header(&dlq.v[d], "error.message") != NULL, "error.message");
                CHECK(strcmp(mf_rec_header(&dlq.v[d], "source.topic"), T_RAW) == 0, "topic");
                CHECK(strcmp(mf_rec_header(&dlq.v[d], "worker.id"), "w1") == 0, "worker.id");
            }
            CHECK(found, "no DLQ record for %s", in->value);
            continue;
        }
        struct mf_recs *out = strcmp(in->topic, T_VAL) == 0 ? &val : &quar;
        int seen_scored = 0, seen_interp = 0;
        for (size_t k = 0; k < out->n; k++) {
            int sp, si;
            long long so;
            CHECK(src_of(out->v[k].value, &sp, &so, &si) == 0, "no src: %s", out->v[k].value);
            if (sp != p || so != o)
                continue;
            CHECK(strcmp(out->v[k].key, in->key) == 0, "key %s, want %s", out->v[k].key, in->key);
            if (strcmp(jstr(out->v[k].value, "interpolated"), "true") == 0) {
                CHECK(si < in->n_interp, "interpolated index %d", si);
                seen_interp++;
                continue;
            }
            seen_scored++;
            CHECK(si == in->n_interp, "scored index %d, want %d", si, in->n_interp);
            CHECK(strcmp(jstr(out->v[k].value, "tier"), in->tier) == 0, "tier of %s",
                  out->v[k].value);
            CHECK(strcmp(jstr(out->v[k].value, "flags"), in->flags) == 0, "flags of %s",
                  out->v[k].value);
            CHECK(strcmp(jstr(out->v[k].value, "reasons"), in->reasons) == 0, "reasons of %s",
                  out->v[k].value);
            CHECK(strstr(out->v[k].value, "\"ts\":\"2024-03-15T") &&
                      strstr(out->v[k].value, ".000Z\""),
                  "output time not UTC with ms: %s", out->v[k].value);
            if (strstr(in->value, "roof"))
                CHECK(strcmp(jstr(out->v[k].value, "site"), "roof") == 0, "extra field lost");
        }
        CHECK(seen_scored == 1, "%d scored outputs for %s", seen_scored, in->value);
        CHECK(seen_interp == in->n_interp, "%d interpolated for %s", seen_interp, in->value);
        if (in->n_alerts) {
            int na = 0;
            for (size_t a = 0; a < alerts.n; a++) {
                int sp, si;
                long long so;
                CHECK(src_of(alerts.v[a].value, &sp, &so, &si) == 0, "alert without src");
                if (sp != p || so != o)
                    continue;
                CHECK(si == in->n_interp + 1 + na, "alert index %d", si);
                CHECK(strcmp(jstr(alerts.v[a].value, "type"), "missing_short") == 0, "type");
                CHECK(strcmp(jstr(alerts.v[a].value, "state"), na ? "cleared" : "raised") == 0,
                      "state");
                CHECK(strcmp(jstr(alerts.v[a].value, "since"), "2024-03-15T14:04:00.000Z") == 0,
                      "since %s", jstr(alerts.v[a].value, "since"));
                na++;
            }
            CHECK(na == in->n_alerts, "%d alerts for %s", na, in->value);
        }
    }
    /* The interpolated readings: 14:02 and 14:03 on the line 1.25 -> 1.5. */
    int interp_ok = 0;
    for (size_t k = 0; k < val.n; k++)
        if (strstr(val.v[k].value,
                   "\"ts\":\"2024-03-15T14:02:00.000Z\",\"value_kw\":1.3333333333333333") ||
            strstr(val.v[k].value,
                   "\"ts\":\"2024-03-15T14:03:00.000Z\",\"value_kw\":1.4166666666666667"))
            interp_ok++;
    CHECK(interp_ok == 2, "interpolated values wrong");

    /* The changelog holds A's state, in A's raw partition; B and X have none. */
    read_all(&s, T_STATE, -1, &state);
    int a_states = 0;
    for (size_t k = 0; k < state.n; k++) {
        CHECK(strcmp(state.v[k].key, "A") == 0, "state of %s", state.v[k].key);
        CHECK(state.v[k].value_len == 188, "state of %zu bytes", state.v[k].value_len);
        a_states++;
    }
    CHECK(a_states >= 1, "no state for A");

    /* Metrics (counted after the commit). */
    CHECK(worker_metric_wait(w, "meterflow_worker_records_total{outcome=\"validated\"}", 5,
                             20000) == 5,
          "validated metric");
    CHECK(worker_metric_wait(w, "meterflow_worker_records_total{outcome=\"interpolated\"}", 2,
                             20000) == 2,
          "interpolated metric");
    CHECK(worker_metric_wait(w, "meterflow_worker_records_total{outcome=\"dlq\"}", 2, 20000) == 2,
          "dlq metric");
    CHECK(worker_metric_wait(w, "meterflow_worker_records_total{outcome=\"quarantine\"}", 4,
                             20000) == 4,
          "quarantine metric");
    CHECK(worker_metric_wait(w, "meterflow_worker_registry_meters", 2, 20000) == 2,
          "registry metric");
    CHECK(worker_metric_wait(
              w, "meterflow_worker_alerts_total{type=\"missing_short\",state=\"raised\"}", 1,
              20000) == 1,
          "alerts metric");

    int st = worker_stop(w);
    CHECK(st == 0, "SIGTERM exit status %d", st);
    mf_recs_release(&raw);
    mf_recs_release(&val);
    mf_recs_release(&quar);
    mf_recs_release(&dlq);
    mf_recs_release(&alerts);
    mf_recs_release(&state);
    stack_stop(&s);
    printf("it_wk_stream: %zu inputs, every output checked\n", N);
    return 0;
}
