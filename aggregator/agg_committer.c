/*
 * agg_committer: one worker thread, one job at a time, handed over under
 * a mutex (which also orders the connection's and the batch's memory
 * between the two threads).
 */
#include "agg_committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "mf_log.h"
#include "mf_time.h"
#include "mf_common.h"

enum job_state { IDLE, QUEUED, DONE };

struct agg_committer {
    struct agg_commit *cm;        /* borrowed */
    struct agg_partitions *parts; /* borrowed */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* state changed (either way) */
    enum job_state state;
    bool stop;
    bool started; /* the caller's own record of a job in hand (only its thread touches it) */

    /* The job, set by start, read by the thread. */
    const struct agg_batch *b;
    bool clear_owned;
    const int32_t *owned;
    size_t nowned;
    struct agg_rows *out;

    /* Its outcome, written by the thread before DONE. */
    int rc;
    int64_t commit_us;
    char err[512];
};

static void run_job(struct agg_committer *c)
{
    c->commit_us = 0;
    c->err[0] = '\0';
    c->rc = agg_partitions_ensure_for_batch(c->parts, c->b, c->err, sizeof c->err);
    if (c->rc != MF_OK)
        return;
    int64_t t0 = mf_mono_us();
    c->rc = agg_commit_write(c->cm, c->b, c->clear_owned, c->owned, c->nowned, c->out, c->err,
                             sizeof c->err);
    c->commit_us = mf_mono_us() - t0;
}

static void *committer_main(void *arg)
{
    struct agg_committer *c = arg;
    prctl(PR_SET_NAME, "agg-commit"); /* this thread's name, for top -H and perf */
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->stop && c->state != QUEUED)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->state != QUEUED)
            break; /* stop, nothing in hand */
        pthread_mutex_unlock(&c->lock);
        run_job(c);
        pthread_mutex_lock(&c->lock);
        c->state = DONE;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

struct agg_committer *agg_committer_new(struct agg_commit *cm, struct agg_partitions *parts)
{
    struct agg_committer *c = mf_xcalloc(1, sizeof *c);
    c->cm = cm;
    c->parts = parts;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* timed waits immune to clock steps */
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->lock, NULL);
    if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
        MF_LOG_FATAL("agg", "cannot start the commit thread");
        abort();
    }
    return c;
}

void agg_committer_destroy(struct agg_committer *c)
{
    if (!c)
        return;
    char err[512];
    int64_t ms;
    (void)agg_committer_finish(c, &ms, err, sizeof err);
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void agg_committer_start(struct agg_committer *c, const struct agg_batch *b, bool clear_owned,
                         const int32_t *owned, size_t nowned, struct agg_rows *out)
{
    pthread_mutex_lock(&c->lock);
    MF_ASSERT(c->state == IDLE);
    c->b = b;
    c->clear_owned = clear_owned;
    c->owned = owned;
    c->nowned = nowned;
    c->out = out;
    c->state = QUEUED;
    c->started = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

bool agg_committer_busy(const struct agg_committer *c)
{
    return c->started;
}

bool agg_committer_done(struct agg_committer *c, int timeout_ms)
{
    struct timespec until = mf_clock_after(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&c->lock);
    while (c->state == QUEUED && timeout_ms > 0 &&
           pthread_cond_timedwait(&c->cond, &c->lock, &until) != ETIMEDOUT)
        ;
    bool done = c->state != QUEUED;
    pthread_mutex_unlock(&c->lock);
    return done;
}

int agg_committer_finish(struct agg_committer *c, int64_t *commit_us, char *errbuf, size_t errlen)
{
    pthread_mutex_lock(&c->lock);
    while (c->state == QUEUED)
        pthread_cond_wait(&c->cond, &c->lock);
    int rc = MF_OK;
    *commit_us = 0;
    if (c->state == DONE) {
        rc = c->rc;
        *commit_us = c->commit_us;
        if (rc != MF_OK)
            snprintf(errbuf, errlen, "%s", c->err);
        c->state = IDLE;
    }
    c->started = false;
    pthread_mutex_unlock(&c->lock);
    return rc;
}
