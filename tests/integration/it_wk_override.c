/*
 * it_wk_override: a reading a human approved (DESIGN §4's last paragraph,
 * §14) through the real stream-worker and broker: a raw record with the
 * header meter.override=approve skips rules 3-8 and the meter's state and
 * reaches validated with flag manual_override, quality 70, tier standard;
 * the meter's next reading is judged against its own last one, as if the
 * approval had not happened; a header of another value approves nothing.
 */
#include "mf_wktest.h"

static const char r1[] =
    "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":1,\"unit\":\"kW\"}";
/* Over A's 20 kW, an hour out of order, a spike: each a rejection or a flag without approval. */
static const char approved[] =
    "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T13:00:00Z\",\"value\":50000,\"unit\":\"W\"}";
static const char unknown[] = "{\"meter_id\":\"X\",\"ts\":\"2024-03-15T14:00:00Z\",\"value\":3}";
static const char other[] =
    "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T13:30:00Z\",\"value\":2,\"unit\":\"kW\"}";
static const char r2[] =
    "{\"meter_id\":\"A\",\"ts\":\"2024-03-15T14:01:00Z\",\"value\":1.1,\"unit\":\"kW\"}";

/* The output of the raw record whose value is v (its src names the raw offset). */
static const char *output_of(const struct mf_recs *raw, const struct mf_recs *out, const char *v)
{
    for (size_t r = 0; r < raw->n; r++) {
        if (strcmp(raw->v[r].value, v) != 0)
            continue;
        for (size_t k = 0; k < out->n; k++) {
            int p, i;
            long long o;
            if (src_of(out->v[k].value, &p, &o, &i) == 0 && p == raw->v[r].partition &&
                o == raw->v[r].offset)
                return out->v[k].value;
        }
    }
    return NULL;
}

int main(void)
{
    struct wk_stack s;
    stack_start(&s);
    sql(&s, "INSERT INTO meters (meter_id, max_kw, interval_s, active) VALUES ('A', 20, 60, true)");
    struct wk_proc_h *w = worker_start(&s, "w1", NULL, 1);

    const char *bs = s.broker->bootstrap;
    const char *approve[] = {"meter.override=approve", "meter.review.id=41", NULL};
    const char *not_approve[] = {"meter.override=maybe", "meter.review.id=42", NULL};
    mf_kafka_produce_with_headers(bs, T_RAW, "A", r1, NULL);
    mf_kafka_produce_with_headers(bs, T_RAW, "A", approved, approve);
    mf_kafka_produce_with_headers(bs, T_RAW, "X", unknown, approve);
    mf_kafka_produce_with_headers(bs, T_RAW, "A", other, not_approve);
    mf_kafka_produce_with_headers(bs, T_RAW, "A", r2, NULL);

    struct mf_recs raw = {0}, val = {0}, quar = {0};
    read_all(&s, T_RAW, 5, &raw);
    CHECK(raw.n == 5, "raw has %zu records", raw.n);
    read_all(&s, T_VAL, 4, &val);
    read_all(&s, T_QUAR, 1, &quar);
    CHECK(val.n == 4, "validated: %zu records, want 4", val.n);
    CHECK(quar.n == 1, "quarantine: %zu records, want 1", quar.n);

    const char *o = output_of(&raw, &val, approved);
    CHECK(o, "the approved reading is not in validated");
    CHECK(strstr(o, "\"value_kw\":50,") && strstr(o, "\"quality\":70,") &&
              strcmp(jstr(o, "tier"), "standard") == 0 &&
              strcmp(jstr(o, "flags"), "[\"unit_converted\",\"manual_override\"]") == 0 &&
              strcmp(jstr(o, "reasons"), "[]") == 0,
          "approved output: %s", o);
    o = output_of(&raw, &val, unknown);
    CHECK(o && strstr(o, "\"quality\":70,") && strstr(o, "manual_override"),
          "an unregistered meter's approved reading: %s", o ? o : "(none)");
    /* Another header value approves nothing: out of order against A's 14:00. */
    o = output_of(&raw, &quar, other);
    CHECK(o && strcmp(jstr(o, "reasons"), "[\"out_of_order\"]") == 0, "not approved: %s",
          o ? o : "(none)");
    /* A's state never saw 50 kW at 13:00: 1 -> 1.1 kW a minute later, premium, no flag. */
    o = output_of(&raw, &val, r2);
    CHECK(o && strstr(o, "\"quality\":100,") && strcmp(jstr(o, "flags"), "[]") == 0,
          "the next reading: %s", o ? o : "(none)");
    CHECK(worker_metric_wait(w, "meterflow_worker_flags_total{flag=\"manual_override\"}", 2,
                             20000) == 2,
          "manual_override metric");

    int st = worker_stop(w);
    CHECK(st == 0, "SIGTERM exit status %d", st);
    mf_recs_release(&raw);
    mf_recs_release(&val);
    mf_recs_release(&quar);
    stack_stop(&s);
    printf("it_wk_override: 5 inputs, 2 approved, every output checked\n");
    return 0;
}
