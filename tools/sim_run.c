/*
 * sim_run: sender threads over shards of the fleet, and a main loop that
 * scrapes the fleet's metrics for the progress line and, on request, waits
 * for the fleet to drain.
 */
#include "sim_run.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_gen.h"
#include "sim_prom.h"
#include "sim_rng.h"
#include "sim_send.h"

#include "mf_buf.h"
#include "mf_log.h"
#include "mf_signal.h"
#include "mf_time.h"

#include "mf_common.h"

#define MAX_THREADS 32
#define SLICE_MS    (5 * 60 * 1000LL)  /* simulated time a thread walks per step */
#define AHEAD_MS    (60 * 60 * 1000LL) /* how far a thread may run ahead of the slowest */
#define RETRY_MAX   120                /* attempts of one batch before giving up */
#define DONE_SLICE  INT64_MAX

struct shared {
    const struct sim_fleet *f;
    const struct sim_run_opts *o;
    rd_kafka_t *rk;
    struct sim_kcount kc_readings, kc_malformed;
    atomic_int failed, threads_done;
    atomic_ullong generated, accepted, rejected, retried;
    _Atomic int64_t slice[MAX_THREADS];
    int64_t first_ms; /* the earliest reading (history included): where the slices start */
    int nthreads;
};

struct sender {
    struct shared *sh;
    int id;
    pthread_t tid;
    uint32_t *meters, nm;
    struct sim_gw *gw;
    struct mf_buf body;
    int nbody;
};

void sim_run_opts_default(struct sim_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->topic_raw = "meter.readings.raw";
    o->threads = 4;
    o->batch = 500;
    o->drain_timeout_s = 120;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool stopping(const struct shared *sh)
{
    return mf_stop_requested || atomic_load(&sh->failed);
}

/* ---------------------------------------------------------------- malformed records */

const char *sim_malformed_record(uint32_t i, char *buf, size_t len)
{
    /* What broken meter firmware sends: each one fails the worker's parse (rule 1). */
    switch (i % 6) {
    case 0:
        snprintf(buf, len, "not json at all %u", i);
        break;
    case 1:
        snprintf(buf, len, "{\"meter_id\":\"MTR-%05u\",\"value\":1.5,\"unit\":\"kW\"}", i + 1);
        break;
    case 2:
        snprintf(buf, len, "{\"meter_id\":\"MTR-%05u\",\"ts\":\"yesterday\",\"value\":1}", i + 1);
        break;
    case 3:
        snprintf(buf, len,
                 "{\"meter_id\":\"MTR-%05u\",\"ts\":\"2024-03-11T00:00:00Z\",\"value\":\"1,5\"}",
                 i + 1);
        break;
    case 4:
        snprintf(buf, len, "{\"meter_id\":\"MTR-%05u\",\"ts\":\"2024-03-11T00:00:00Z\",\"val",
                 i + 1);
        break;
    default:
        snprintf(buf, len, "[{\"meter_id\":\"MTR-%05u\"}]", i + 1);
        break;
    }
    return buf;
}

/* ---------------------------------------------------------------- sending a batch */

static void batch_begin(struct sender *s)
{
    mf_buf_reset(&s->body);
    s->nbody = 0;
    if (s->sh->o->gw_url)
        mf_buf_appends(&s->body, s->sh->o->csv ? sim_csv_header : "[");
}

/* Posts the batch to the gateway until it is answered for good. */
static void flush_gw(struct sender *s)
{
    struct shared *sh = s->sh;
    const struct sim_run_opts *o = sh->o;
    struct sim_gw_answer a;

    if (!o->csv)
        mf_buf_appendc(&s->body, ']');
    for (int attempt = 0; !stopping(sh); attempt++) {
        long code = sim_gw_post(s->gw, o->csv ? "text/csv" : "application/json", s->body.data,
                                s->body.len, &a);
        if (code == 200 || code == 202) {
            atomic_fetch_add(&sh->accepted, (unsigned long long)a.accepted);
            atomic_fetch_add(&sh->rejected, (unsigned long long)a.rejected);
            if (a.rejected)
                MF_LOG_WARN("send", "gateway rejected %ld of %d readings (%s)", a.rejected,
                            s->nbody, a.error);
            return;
        }
        if (code == 400) {
            atomic_fetch_add(&sh->rejected, (unsigned long long)s->nbody);
            MF_LOG_WARN("send", "gateway refused a batch of %d: %s", s->nbody, a.error);
            return;
        }
        if ((code != 0 && code != 503) || attempt >= RETRY_MAX) {
            MF_LOG_ERROR("send", "gateway answered %ld: %s", code, a.error);
            atomic_store(&sh->failed, 1);
            return;
        }
        /* 503 or a broken connection: the batch again (a partial write becomes duplicates). */
        atomic_fetch_add(&sh->retried, (unsigned long long)s->nbody);
        long wait = code == 503 && a.retry_after_s > 0 ? a.retry_after_s * 1000L : 200L;
        MF_LOG_INFO("send", "gateway %s; retrying in %ld ms", code ? "answered 503" : a.error,
                    wait > 5000 ? 5000 : wait);
        sleep_ms(wait > 5000 ? 5000 : wait);
    }
}

static void flush(struct sender *s)
{
    if (s->nbody == 0)
        return;
    if (s->sh->o->gw_url)
        flush_gw(s);
    batch_begin(s);
}

static void add(struct sender *s, const struct sim_reading *r)
{
    struct shared *sh = s->sh;
    const struct sim_run_opts *o = sh->o;

    atomic_fetch_add(&sh->generated, 1);
    if (!o->gw_url) {
        /* Straight to Kafka: one record per reading, keyed by meter (a full
         * producer queue makes sim_kafka_send wait for deliveries). */
        mf_buf_reset(&s->body);
        sim_reading_json(r, &s->body);
        if (sim_kafka_send(sh->rk, o->topic_raw, r->m->id, strlen(r->m->id), s->body.data,
                           s->body.len, &sh->kc_readings) != MF_OK)
            atomic_store(&sh->failed, 1);
        return;
    }
    if (o->csv) {
        sim_reading_csv(r, &s->body);
    } else {
        if (s->nbody)
            mf_buf_appendc(&s->body, ',');
        sim_reading_json(r, &s->body);
    }
    if (++s->nbody >= o->batch)
        flush(s);
}

/* ---------------------------------------------------------------- a sender thread */

static int64_t slowest_other(const struct shared *sh, int self)
{
    int64_t min = DONE_SLICE;
    for (int i = 0; i < sh->nthreads; i++) {
        int64_t v = atomic_load(&sh->slice[i]);
        if (i != self && v < min)
            min = v;
    }
    return min;
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    struct shared *sh = s->sh;
    const struct sim_params *p = &sh->f->p;
    struct sim_gen *gens = mf_xcalloc(s->nm ? s->nm : 1, sizeof *gens);
    struct sim_reading *next = mf_xcalloc(s->nm ? s->nm : 1, sizeof *next);
    bool *has = mf_xcalloc(s->nm ? s->nm : 1, sizeof *has);
    uint32_t live = 0;

    mf_buf_init(&s->body, 64u << 20);
    if (sh->o->gw_url)
        s->gw = sim_gw_new(sh->o->gw_url, sh->o->token);
    batch_begin(s);
    for (uint32_t i = 0; i < s->nm; i++) {
        sim_gen_init(&gens[i], p, &sh->f->m[s->meters[i]]);
        has[i] = sim_gen_next(&gens[i], &next[i]);
        live += has[i];
    }
    for (int64_t slice = sh->first_ms; live && !stopping(sh); slice += SLICE_MS) {
        atomic_store(&sh->slice[s->id], slice);
        /* Subtract rather than add: a finished thread's slice is INT64_MAX. */
        while (slice - AHEAD_MS > slowest_other(sh, s->id) && !stopping(sh))
            sleep_ms(5);
        for (uint32_t i = 0; i < s->nm && !stopping(sh); i++) {
            while (has[i] && next[i].ts_ms < slice + SLICE_MS) {
                add(s, &next[i]);
                has[i] = sim_gen_next(&gens[i], &next[i]);
                live -= !has[i];
            }
        }
    }
    if (!stopping(sh))
        flush(s);
    atomic_store(&sh->slice[s->id], DONE_SLICE);
    atomic_fetch_add(&sh->threads_done, 1);
    sim_gw_destroy(s->gw);
    s->gw = NULL;
    mf_buf_release(&s->body);
    free(gens);
    free(next);
    free(has);
    return NULL;
}

/* ---------------------------------------------------------------- the fleet's state */

struct fleet_view {
    double validated, quarantine, dlq, interpolated;
    double raw_lag, agg_lag, agg_records;
    bool have_workers, have_raw_lag, have_agg_lag, have_agg_records;
};

static void view(struct sim_prom *pr, const char *topic_raw, struct fleet_view *v)
{
    memset(v, 0, sizeof *v);
    const char *fam = "meterflow_worker_records_total";
    v->validated = sim_prom_sum(pr, fam, "outcome", "validated", false, &v->have_workers);
    v->quarantine = sim_prom_sum(pr, fam, "outcome", "quarantine", false, NULL);
    v->dlq = sim_prom_sum(pr, fam, "outcome", "dlq", false, NULL);
    v->interpolated = sim_prom_sum(pr, fam, "outcome", "interpolated", false, NULL);
    v->raw_lag = sim_prom_sum(pr, "meterflow_kafka_consumer_lag", "topic", topic_raw, false,
                              &v->have_raw_lag);
    v->agg_lag = sim_prom_sum(pr, "meterflow_kafka_consumer_lag", "topic", topic_raw, true,
                              &v->have_agg_lag);
    v->agg_records = sim_prom_sum(pr, "meterflow_agg_records_total", NULL, NULL, false,
                                  &v->have_agg_records);
}

static double finished(const struct fleet_view *v)
{
    return v->validated + v->quarantine + v->dlq;
}

static uint64_t acked_total(struct shared *sh)
{
    return atomic_load(&sh->accepted) + atomic_load(&sh->kc_readings.acked) +
           atomic_load(&sh->kc_malformed.acked);
}

/* Readings sent but not yet processed by the workers, by their own counters. */
static double backlog(struct shared *sh, const struct fleet_view *v)
{
    double b = (double)acked_total(sh) - finished(v);
    /* A restarted worker starts its counters at 0; the broker's own lag still tells. */
    if (v->have_raw_lag && v->raw_lag < b)
        b = v->raw_lag;
    return b < 0 ? 0 : b;
}

/*
 * Validated readings the aggregator has not consumed yet, by the counters:
 * as fresh as its last commit, where the consumer-lag gauge is up to a
 * statistics interval old. Interpolated readings count as validated ones
 * (those under quality 70 go to quarantine: a slight overestimate, for
 * the progress line only).
 */
static double agg_backlog(const struct fleet_view *v)
{
    if (!v->have_agg_records)
        return v->agg_lag;
    double b = v->validated + v->interpolated - v->agg_records;
    return b < 0 ? 0 : b;
}

static void progress(struct shared *sh, const struct fleet_view *v, double secs, double rate,
                     const char *state)
{
    fprintf(stderr,
            "sim: %5.1fs %-8s sent %10llu (%7.0f/s) | validated %llu quarantine %llu dlq %llu "
            "interpolated %llu | lag workers %.0f aggregator %.0f\n",
            secs, state, (unsigned long long)acked_total(sh), rate,
            (unsigned long long)v->validated, (unsigned long long)v->quarantine,
            (unsigned long long)v->dlq, (unsigned long long)v->interpolated, backlog(sh, v),
            agg_backlog(v));
}

/*
 * Waits until the workers finished every acked record and the aggregator's
 * lag stays 0. With nothing paced, the aggregator may have most of the run
 * still to do when sending ends, at its own speed: the run gives up only
 * after drain_timeout_s without progress (no counter or lag moved).
 */
static int drain(struct shared *sh, struct sim_prom *pr, int64_t t0)
{
    const struct sim_run_opts *o = sh->o;
    const int64_t timeout_ms = (int64_t)o->drain_timeout_s * 1000;
    int64_t deadline = mf_mono_ms() + timeout_ms;
    struct fleet_view v, prev = {0};
    int calm = 0;

    while (!mf_stop_requested) {
        sim_prom_scrape(pr);
        view(pr, o->topic_raw, &v);
        bool workers_done = finished(&v) >= (double)acked_total(sh);
        bool agg_done = !v.have_agg_lag || (v.agg_lag == 0 && v.agg_records == prev.agg_records);
        calm = workers_done && agg_done && finished(&v) == finished(&prev) ? calm + 1 : 0;
        if (o->progress)
            progress(sh, &v, (double)(mf_mono_ms() - t0) / 1000.0, 0, "draining");
        if (calm >= 3)
            return MF_OK;
        if (finished(&v) != finished(&prev) || v.agg_records != prev.agg_records ||
            v.agg_lag != prev.agg_lag || v.raw_lag != prev.raw_lag)
            deadline = mf_mono_ms() + timeout_ms;
        if (mf_mono_ms() > deadline) {
            fprintf(stderr, "sim: the fleet made no progress for %d s and has not caught up\n",
                    o->drain_timeout_s);
            return MF_ERETRY;
        }
        prev = v;
        sleep_ms(1000);
    }
    return MF_ERETRY;
}

/* ---------------------------------------------------------------- the run */

int sim_run(const struct sim_fleet *f, const struct sim_run_opts *o, struct sim_run_stats *st)
{
    struct shared *sh = mf_xcalloc(1, sizeof *sh);
    struct sender *snd = NULL;
    struct sim_prom *pr = sim_prom_new(o->lag_metrics);
    char err[512];
    int rc = 2, started = 0;
    int64_t t0 = mf_mono_ms();

    memset(st, 0, sizeof *st);
    sh->f = f;
    sh->first_ms = sim_fleet_first_ms(f);
    sh->o = o;
    sh->nthreads = o->threads < 1 ? 1 : o->threads > MAX_THREADS ? MAX_THREADS : o->threads;
    if (o->brokers) {
        sh->rk = sim_kafka_new(o->brokers, err, sizeof err);
        if (!sh->rk) {
            fprintf(stderr, "meter-sim: %s\n", err);
            goto out;
        }
        /* Firmware gone wrong: records only a client of its own can send. */
        for (uint32_t i = 0; i < f->p.malformed; i++) {
            char rec[256], key[16];
            snprintf(key, sizeof key, "MTR-%05u", i + 1);
            sim_malformed_record(i, rec, sizeof rec);
            if (sim_kafka_send(sh->rk, o->topic_raw, key, strlen(key), rec, strlen(rec),
                               &sh->kc_malformed) != MF_OK)
                goto out;
        }
    }

    /* Shards: a meter always goes through the same thread, hence in order. */
    snd = mf_xcalloc((size_t)sh->nthreads, sizeof *snd);
    for (int t = 0; t < sh->nthreads; t++) {
        snd[t].sh = sh;
        snd[t].id = t;
        snd[t].meters = mf_xcalloc(f->n ? f->n : 1, sizeof(uint32_t));
        atomic_store(&sh->slice[t], sh->first_ms);
    }
    for (uint32_t i = 0; i < f->n; i++) {
        struct sender *s = &snd[sim_hash(0, i, 0, 0) % (uint64_t)sh->nthreads];
        s->meters[s->nm++] = i;
    }
    for (; started < sh->nthreads; started++) {
        if (pthread_create(&snd[started].tid, NULL, sender_main, &snd[started]) != 0) {
            fprintf(stderr, "meter-sim: cannot start a sender thread\n");
            atomic_store(&sh->failed, 1);
            goto out;
        }
    }

    /*
     * No pacing by the consumers: the senders go as fast as the gateway (or
     * the producer queue) takes their readings, as meters do, and Kafka
     * holds what the workers and the aggregator have not read yet. The only
     * backpressure is the one a deployment has too: the gateway's 503 +
     * Retry-After (Kafka slow to ack, its producer queue full), answered
     * by waiting and resending (flush_gw), and a full producer queue when
     * sending straight to Kafka.
     */
    int64_t last_print = t0;
    uint64_t last_acked = 0;
    struct fleet_view v = {0};
    while (atomic_load(&sh->threads_done) < sh->nthreads) {
        if (sh->rk)
            rd_kafka_poll(sh->rk, 50);
        else
            sleep_ms(50);
        int64_t now = mf_mono_ms();
        if (o->progress && now - last_print >= 1000) {
            if (sim_prom_count(pr)) {
                sim_prom_scrape(pr);
                view(pr, o->topic_raw, &v);
            }
            uint64_t acked = acked_total(sh);
            progress(sh, &v, (double)(now - t0) / 1000.0,
                     (double)(acked - last_acked) * 1000.0 / (double)(now - last_print), "sending");
            last_acked = acked;
            last_print = now;
        }
    }
    rc = 0;

out:
    for (int t = 0; t < started; t++)
        pthread_join(snd[t].tid, NULL);
    if (sh->rk && sim_kafka_flush(sh->rk, 30000) != MF_OK) {
        fprintf(stderr, "meter-sim: records still unacknowledged after 30 s\n");
        rc = rc ? rc : 1;
    }
    if (rc == 0 && (atomic_load(&sh->failed) || mf_stop_requested))
        rc = 1;
    st->generated = atomic_load(&sh->generated);
    st->accepted = atomic_load(&sh->accepted) + atomic_load(&sh->kc_readings.acked);
    st->rejected = atomic_load(&sh->rejected);
    st->retried = atomic_load(&sh->retried);
    st->malformed = atomic_load(&sh->kc_malformed.acked);
    st->seconds = (double)(mf_mono_ms() - t0) / 1000.0;
    if (rc == 0 &&
        (atomic_load(&sh->kc_readings.failed) || atomic_load(&sh->kc_malformed.failed))) {
        fprintf(stderr, "meter-sim: %llu records were not delivered to Kafka\n",
                (unsigned long long)(atomic_load(&sh->kc_readings.failed) +
                                     atomic_load(&sh->kc_malformed.failed)));
        rc = 1;
    }
    fprintf(stderr,
            "sim: sent %" PRIu64 " readings in %.1f s (%.0f/s): accepted %" PRIu64
            ", rejected %" PRIu64 ", resent after 503 %" PRIu64 ", malformed to Kafka %" PRIu64
            "\n",
            st->generated, st->seconds, st->seconds > 0 ? (double)st->generated / st->seconds : 0,
            st->accepted, st->rejected, st->retried, st->malformed);
    if (rc == 0 && o->drain && sim_prom_count(pr) && drain(sh, pr, t0) != MF_OK)
        rc = 1;
    if (snd)
        for (int t = 0; t < sh->nthreads; t++)
            free(snd[t].meters);
    free(snd);
    if (sh->rk)
        rd_kafka_destroy(sh->rk);
    sim_prom_destroy(pr);
    free(sh);
    return rc;
}
