/*
 * ctl_review: the review commands (see ctl_review.h for the publish
 * protocol). The two publishing commands share one engine over `struct
 * store` (the table, the id header, the done status) and `struct item`
 * (one row and the record it publishes).
 */
#include "ctl_review.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ctl_db.h"
#include "ctl_kafka.h"
#include "mf_buf.h"
#include "mf_json.h"
#include "mf_reading.h"
#include "mf_time.h"
#include "mf_common.h"
#include "mf_crash.h"

#define UTC_MS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define LIMIT_MAX   100000

/* One publishing meterctl at a time (a session lock: a killed one's goes with its connection). */
static const char lock_sql[] = "SELECT pg_try_advisory_lock(hashtext('meterctl.review.publish'))";

struct store {
    const char *table;  /* quarantine_readings */
    const char *header; /* the id header: meter.review.id */
    const char *done;   /* approved */
    const char *action; /* audit: quarantine.approve */
    const char *verb;   /* approved */
    const char *noun;   /* reading */
    int extra_header;   /* meter.override=approve too */
};

static const struct store quarantine = {"quarantine_readings",
                                        "meter.review.id",
                                        "approved",
                                        "quarantine.approve",
                                        "approved",
                                        "reading",
                                        1};
static const struct store dlq = {"dlq_records", "meter.replay.id", "replayed", "dlq.replay",
                                 "replayed",    "DLQ record",      0};

struct item {
    char id[24];
    char status[16];
    int inflight; /* publish_* set by an earlier run */
    char ptopic[256];
    int32_t ppart;
    int64_t pfrom;
    const char *topic; /* where it goes (a config string) */
    int32_t part;
    unsigned char *key, *value; /* malloc'd */
    size_t keylen, vlen;
    char unit[16];      /* quarantine: the unit published */
    int novalue;        /* quarantine: no source value to publish */
    struct mf_buf desc; /* what it is, a JSON object's members, for the audit row */
    int64_t offset;     /* where it is in its topic */
    int recovered;      /* published by an earlier run, found by the scan */
};

static void items_release(struct item *it, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(it[i].key);
        free(it[i].value);
        mf_buf_release(&it[i].desc);
    }
    free(it);
}

/* A number option in [1, max] (default def); -1 after ctl_usage. */
static long long num_opt(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a,
                         const char *name, long long def, long long max)
{
    const char *v = ctl_opt(cmd, a, name);
    if (!v)
        return def;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || n < 1 || n > max) {
        ctl_usage(ctx, "--%s '%s': not a number in 1..%lld", name, v, max);
        return -1;
    }
    return n;
}

/* --status: one of the allowed or "all" (NULL in *out); the default def. 0 or -1 after ctl_usage.
 */
static int status_opt(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a,
                      const char *const *allowed, const char **out)
{
    const char *v = ctl_opt(cmd, a, "status");
    *out = allowed[0];
    if (!v)
        return 0;
    if (strcmp(v, "all") == 0) {
        *out = NULL;
        return 0;
    }
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0) {
            *out = allowed[i];
            return 0;
        }
    ctl_usage(ctx, "--status '%s': not one of the store's statuses or all", v);
    return -1;
}

static void json_field(struct mf_buf *b, const char *name, const char *v, int is_null)
{
    mf_buf_appendf(b, "\"%s\":", name);
    if (is_null)
        mf_buf_appends(b, "null");
    else
        mf_json_str(b, v, strlen(v));
}

/* Prints a result as a table or a JSON array: cols[i] names column i; nums marks numbers. */
static void print_rows(struct ctl_ctx *ctx, PGresult *res, const char *const *cols,
                       const int *widths, const char *nums, const char *none)
{
    struct mf_buf b = MF_BUF_INIT;
    int n = PQntuples(res), nc = PQnfields(res);
    if (ctx->json) {
        mf_buf_appendc(&b, '[');
        for (int i = 0; i < n; i++) {
            mf_buf_appends(&b, i ? ",{" : "{");
            for (int c = 0; c < nc; c++) {
                if (c)
                    mf_buf_appendc(&b, ',');
                /* 'n' a number, 'j' JSON: as they are; the rest as strings */
                if ((nums[c] == 'n' || nums[c] == 'j') && !PQgetisnull(res, i, c))
                    mf_buf_appendf(&b, "\"%s\":%s", cols[c], PQgetvalue(res, i, c));
                else
                    json_field(&b, cols[c], PQgetvalue(res, i, c), PQgetisnull(res, i, c));
            }
            mf_buf_appendc(&b, '}');
        }
        mf_buf_appends(&b, "]\n");
    } else if (!n) {
        mf_buf_appendf(&b, "%s\n", none);
    } else {
        for (int c = 0; c < nc; c++)
            mf_buf_appendf(&b, "%-*s%s", widths[c], cols[c], c + 1 < nc ? " " : "\n");
        for (int i = 0; i < n; i++)
            for (int c = 0; c < nc; c++)
                mf_buf_appendf(&b, "%-*s%s", widths[c],
                               PQgetisnull(res, i, c) ? "-" : PQgetvalue(res, i, c),
                               c + 1 < nc ? " " : "\n");
    }
    fputs(b.data, stdout);
    mf_buf_release(&b);
}

/* ---------------------------------------------------------------- lists */

int ctl_quarantine_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    static const char *const statuses[] = {"pending", "approved", "rejected", NULL};
    static const char *const cols[] = {"id",           "received_at", "meter_id", "ts",
                                       "source_value", "source_unit", "value_kw", "reasons",
                                       "status",       "decided_by",  "why"};
    static const int widths[] = {6, 24, 14, 24, 12, 6, 10, 24, 9, 10, 0};
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN], lim[24];
    const char *status;
    int hf = ctl_time_opt(ctx, cmd, a, "from", from), ht = ctl_time_opt(ctx, cmd, a, "to", to);
    long long limit = num_opt(ctx, cmd, a, "limit", 100, LIMIT_MAX);
    if (hf < 0 || ht < 0 || limit < 0 || status_opt(ctx, cmd, a, statuses, &status) < 0)
        return CTL_EXIT_USAGE;
    snprintf(lim, sizeof lim, "%lld", limit);
    const char *p[] = {ctl_opt(cmd, a, "meter"),
                       ctl_opt(cmd, a, "reason"),
                       hf ? from : NULL,
                       ht ? to : NULL,
                       status,
                       lim};
    PGresult *res = ctl_db_run(
        ctx, "listing quarantined readings",
        "SELECT id, " UTC_MS("received_at") ", meter_id, " UTC_MS(
            "ts") ", source_value, "
                  "source_unit, value_kw, array_to_string(reasons, ','), status, decided_by, why"
                  "  FROM quarantine_readings"
                  " WHERE ($1::text IS NULL OR meter_id = $1) AND ($2::text IS NULL OR $2 = "
                  "ANY(reasons))"
                  "   AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts "
                  "< $4)"
                  "   AND ($5::text IS NULL OR status = $5)"
                  " ORDER BY id LIMIT $6::int",
        6, p);
    if (!res)
        return CTL_EXIT_FAIL;
    print_rows(ctx, res, cols, widths, "nsssnsnssss", "no quarantined readings");
    PQclear(res);
    return CTL_EXIT_OK;
}

int ctl_dlq_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    static const char *const statuses[] = {"pending", "replayed", "rejected", NULL};
    static const char *const cols[] = {"id",           "received_at", "error_code",
                                       "source_topic", "key",         "value_encoding",
                                       "value",        "status",      "error_message"};
    static const int widths[] = {6, 24, 18, 22, 12, 6, 40, 9, 0};
    char since[MF_TIME_STRLEN], lim[24];
    const char *status;
    int hs = ctl_time_opt(ctx, cmd, a, "since", since);
    long long limit = num_opt(ctx, cmd, a, "limit", 100, LIMIT_MAX);
    if (hs < 0 || limit < 0 || status_opt(ctx, cmd, a, statuses, &status) < 0)
        return CTL_EXIT_USAGE;
    snprintf(lim, sizeof lim, "%lld", limit);
    const char *p[] = {ctl_opt(cmd, a, "code"), hs ? since : NULL, status, lim};
    PGresult *res = ctl_db_run(
        ctx, "listing DLQ records",
        "SELECT id, " UTC_MS("received_at") ", error_code, source_topic, key, value_encoding, "
                                            "value, status, headers->>'error.message'"
                                            "  FROM dlq_records"
                                            " WHERE ($1::text IS NULL OR error_code = $1)"
                                            "   AND ($2::timestamptz IS NULL OR received_at >= $2)"
                                            "   AND ($3::text IS NULL OR status = $3)"
                                            " ORDER BY id LIMIT $4::int",
        4, p);
    if (!res)
        return CTL_EXIT_FAIL;
    print_rows(ctx, res, cols, widths, "nssssssss", "no DLQ records");
    PQclear(res);
    return CTL_EXIT_OK;
}

int ctl_alerts_list(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    static const char *const cols[] = {"id",    "meter_id",  "type",       "severity", "state",
                                       "since", "raised_at", "cleared_at", "acked_by", "detail"};
    static const int widths[] = {6, 14, 16, 8, 7, 24, 24, 24, 10, 0};
    char lim[24];
    const char *state = ctl_opt(cmd, a, "state");
    long long limit = num_opt(ctx, cmd, a, "limit", 100, LIMIT_MAX);
    if (limit < 0)
        return CTL_EXIT_USAGE;
    if (state && strcmp(state, "raised") != 0 && strcmp(state, "cleared") != 0)
        return ctl_usage(ctx, "--state '%s': raised or cleared", state);
    snprintf(lim, sizeof lim, "%lld", limit);
    const char *p[] = {ctl_opt(cmd, a, "meter"), state, ctl_opt(cmd, a, "unacked") ? "t" : "f",
                       lim};
    PGresult *res = ctl_db_run(
        ctx, "listing alerts",
        "SELECT id, meter_id, type, severity, state, " UTC_MS("since") ", " UTC_MS(
            "raised_at") ", " UTC_MS("cleared_at") ", acked_by, detail::text"
                                                   "  FROM alerts"
                                                   " WHERE ($1::text IS NULL OR meter_id = $1)"
                                                   "   AND ($2::text IS NULL OR state = $2)"
                                                   "   AND (NOT $3::bool OR acked_at IS NULL)"
                                                   " ORDER BY since DESC, id DESC LIMIT $4::int",
        4, p);
    if (!res)
        return CTL_EXIT_FAIL;
    print_rows(ctx, res, cols, widths, "nssssssssj", "no alerts");
    PQclear(res);
    return CTL_EXIT_OK;
}

/* ---------------------------------------------------------------- alerts ack */

int ctl_alerts_ack(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    struct mf_buf ids = MF_BUF_INIT, target = MF_BUF_INIT, detail = MF_BUF_INIT;
    PGresult *res = NULL;
    int status = CTL_EXIT_FAIL;
    (void)cmd;

    if (ctl_parse_ids(ctx, a, "an alert id", &ids) != MF_OK) {
        mf_buf_release(&ids);
        return CTL_EXIT_USAGE;
    }
    if (ctl_db_begin(ctx) != MF_OK)
        goto out;
    const char *p[] = {ids.data, ctx->actor, ctx->why};
    res = ctl_db_run(
        ctx, "acknowledging alerts",
        "WITH w AS (SELECT DISTINCT unnest($1::bigint[]) AS id),"
        " a AS (SELECT id, acked_by FROM alerts WHERE id = ANY($1::bigint[]) FOR UPDATE),"
        " done AS (UPDATE alerts SET acked_at = now(), acked_by = $2, ack_why = $3"
        "   WHERE id = ANY($1::bigint[]) AND acked_at IS NULL"
        "   RETURNING id, meter_id, type, state, " UTC_MS(
            "since") ")"
                     " SELECT w.id, a.id IS NOT NULL, a.acked_by, d.meter_id, d.type, d.state,"
                     "  d.to_char FROM w LEFT JOIN a USING (id) LEFT JOIN done d USING (id)"
                     " ORDER BY w.id",
        3, p);
    if (!res)
        goto rollback;
    for (int i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 1), "t") != 0) {
            ctl_fail(ctx, "no alert %s: nothing acknowledged", PQgetvalue(res, i, 0));
            goto rollback;
        }
        if (PQgetisnull(res, i, 3)) {
            ctl_fail(ctx, "alert %s is acknowledged already (by %s): nothing acknowledged",
                     PQgetvalue(res, i, 0), PQgetvalue(res, i, 2));
            goto rollback;
        }
    }
    for (int i = 0; i < PQntuples(res); i++) {
        mf_buf_reset(&target);
        mf_buf_reset(&detail);
        mf_buf_appendf(&target, "alerts/%s", PQgetvalue(res, i, 0));
        mf_buf_appendf(&detail, "{\"id\":%s,", PQgetvalue(res, i, 0));
        json_field(&detail, "meter_id", PQgetvalue(res, i, 3), 0);
        mf_buf_appendc(&detail, ',');
        json_field(&detail, "type", PQgetvalue(res, i, 4), 0);
        mf_buf_appendc(&detail, ',');
        json_field(&detail, "state", PQgetvalue(res, i, 5), 0);
        mf_buf_appendc(&detail, ',');
        json_field(&detail, "since", PQgetvalue(res, i, 6), 0);
        mf_buf_appendc(&detail, '}');
        if (ctl_audit(ctx, "alerts.ack", target.data, detail.data) != MF_OK)
            goto rollback;
    }
    if (ctl_db_commit(ctx) != MF_OK)
        goto rollback;
    if (ctx->json)
        printf("{\"ok\":true,\"acknowledged\":%d}\n", PQntuples(res));
    else
        printf("acknowledged %d alert%s\n", PQntuples(res), PQntuples(res) == 1 ? "" : "s");
    status = CTL_EXIT_OK;
    goto out;
rollback:
    ctl_db_rollback(ctx);
out:
    PQclear(res);
    mf_buf_release(&ids);
    mf_buf_release(&target);
    mf_buf_release(&detail);
    return status;
}

/* ---------------------------------------------------------------- selection */

/*
 * The rows of ids (when given) or of the filters (pending ones), locked
 * by the caller. Fills *out (n rows) with what every row needs; the
 * store-specific columns start at column 5: id, status, publish_topic,
 * publish_partition, publish_from, ...
 */
static void item_base(struct item *it, PGresult *res, int i)
{
    snprintf(it->id, sizeof it->id, "%s", PQgetvalue(res, i, 0));
    snprintf(it->status, sizeof it->status, "%s", PQgetvalue(res, i, 1));
    it->inflight = !PQgetisnull(res, i, 3);
    snprintf(it->ptopic, sizeof it->ptopic, "%s", PQgetvalue(res, i, 2));
    it->ppart = (int32_t)strtol(PQgetvalue(res, i, 3), NULL, 10);
    it->pfrom = strtoll(PQgetvalue(res, i, 4), NULL, 10);
    it->offset = -1;
    mf_buf_init(&it->desc, SIZE_MAX);
}

/* Refuses (ctl_fail) when no row was selected, an id is missing, or a row is not pending. */
static int check_pending(struct ctl_ctx *ctx, const struct store *s, const struct ctl_args *a,
                         const struct item *it, size_t n, const char *what)
{
    if (!n) {
        ctl_fail(ctx, "no pending %s matches: nothing %s", s->noun, what);
        return -1;
    }
    if (a->npos) {
        for (size_t p = 0; p < a->npos; p++) {
            long long want = strtoll(a->pos[p], NULL, 10);
            int seen = 0;
            for (size_t i = 0; i < n && !seen; i++)
                seen = strtoll(it[i].id, NULL, 10) == want;
            if (!seen) {
                ctl_fail(ctx, "no %s %lld: nothing %s", s->noun, want, what);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(it[i].status, "pending") != 0) {
            ctl_fail(ctx, "%s %s is %s, not pending: nothing %s", s->noun, it[i].id, it[i].status,
                     what);
            return -1;
        }
    return 0;
}

static int take_lock(struct ctl_ctx *ctx)
{
    PGresult *res = ctl_db_run(ctx, "locking the review", lock_sql, 0, NULL);
    if (!res)
        return -1;
    int ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!ok)
        ctl_fail(ctx, "another meterctl is approving or replaying: try again when it is done");
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------- the publish engine */

static int mark(struct ctl_ctx *ctx, const struct store *s, struct item *it, size_t n)
{
    char sql[256], part[16], from[24];
    snprintf(sql, sizeof sql,
             "UPDATE %s SET publish_topic = $2, publish_partition = $3, publish_from = $4 "
             "WHERE id = $1 AND status = 'pending'",
             s->table);
    if (ctl_db_begin(ctx) != MF_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (it[i].offset >= 0)
            continue;
        snprintf(part, sizeof part, "%d", (int)it[i].part);
        snprintf(from, sizeof from, "%lld", (long long)it[i].pfrom);
        const char *p[] = {it[i].id, it[i].topic, part, from};
        PGresult *res = ctl_db_run(ctx, "marking the rows being published", sql, 4, p);
        if (!res) {
            ctl_db_rollback(ctx);
            return -1;
        }
        PQclear(res);
    }
    return ctl_db_commit(ctx) == MF_OK ? 0 : -1;
}

static int record(struct ctl_ctx *ctx, const struct store *s, struct item *it, size_t n)
{
    char sql[512], part[16], off[24];
    struct mf_buf target = MF_BUF_INIT, detail = MF_BUF_INIT;
    int rc = -1;
    snprintf(sql, sizeof sql,
             "UPDATE %s SET status = '%s', decided_at = now(), decided_by = $2, why = $3, "
             "publish_topic = $4, publish_partition = $5, publish_offset = $6%s "
             "WHERE id = $1 AND status = 'pending'",
             s->table, s->done, s == &quarantine ? ", approved_unit = $7" : "");
    if (ctl_db_begin(ctx) != MF_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        snprintf(part, sizeof part, "%d", (int)it[i].part);
        snprintf(off, sizeof off, "%lld", (long long)it[i].offset);
        const char *p[] = {it[i].id, ctx->actor, ctx->why, it[i].topic, part, off, it[i].unit};
        PGresult *res = ctl_db_run(ctx, "recording the review", sql, s == &quarantine ? 7 : 6, p);
        if (!res)
            goto rollback;
        int changed = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (!changed) {
            ctl_fail(ctx, "%s %s changed meanwhile: nothing recorded", s->noun, it[i].id);
            goto rollback;
        }
        mf_buf_reset(&target);
        mf_buf_reset(&detail);
        mf_buf_appendf(&target, "%s/%s", s->table, it[i].id);
        mf_buf_appendf(&detail, "{\"id\":%s,%s", it[i].id, it[i].desc.data ? it[i].desc.data : "");
        json_field(&detail, "topic", it[i].topic, 0);
        mf_buf_appendf(&detail, ",\"partition\":%d,\"offset\":%lld,\"recovered\":%s}",
                       (int)it[i].part, (long long)it[i].offset,
                       it[i].recovered ? "true" : "false");
        if (ctl_audit(ctx, s->action, target.data, detail.data) != MF_OK)
            goto rollback;
    }
    if (ctl_db_commit(ctx) != MF_OK)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    ctl_db_rollback(ctx);
out:
    mf_buf_release(&target);
    mf_buf_release(&detail);
    return rc;
}

/* Steps 1-4 of ctl_review.h for it[0..n), all pending and locked. */
static int publish(struct ctl_ctx *ctx, const struct store *s, struct item *it, size_t n)
{
    struct ctl_kafka *k = ctl_kafka_open(ctx);
    struct ctl_pub *pub = NULL;
    size_t npub = 0;
    int rc = CTL_EXIT_FAIL;
    if (!k)
        return CTL_EXIT_FAIL;
    /* 1. An earlier run's records: published or not, the scan says for certain now. */
    for (size_t i = 0; i < n; i++) {
        if (!it[i].inflight)
            continue;
        const char *id = it[i].id;
        int64_t found = -1;
        if (ctl_kafka_find(k, it[i].ptopic, it[i].ppart, it[i].pfrom, s->header, &id, 1, &found) !=
            MF_OK)
            goto out;
        if (found >= 0 && strcmp(it[i].ptopic, it[i].topic) == 0) {
            it[i].offset = found;
            it[i].part = it[i].ppart;
            it[i].recovered = 1;
        }
    }
    /* 2. Where the others go, and the end they will be after. */
    pub = mf_xcalloc(n, sizeof *pub);
    for (size_t i = 0; i < n; i++) {
        if (it[i].offset >= 0)
            continue;
        it[i].part = ctl_kafka_partition(k, it[i].topic, it[i].key, it[i].keylen);
        if (it[i].part < 0 || ctl_kafka_end(k, it[i].topic, it[i].part, &it[i].pfrom) != MF_OK)
            goto out;
        struct ctl_pub *p = &pub[npub++];
        *p = (struct ctl_pub){it[i].topic, it[i].part, it[i].key,    it[i].keylen,
                              it[i].value, it[i].vlen, {NULL, NULL}, {NULL, NULL},
                              0,           -1};
        if (s->extra_header) {
            p->hname[p->nh] = "meter.override";
            p->hval[p->nh++] = "approve";
        }
        p->hname[p->nh] = s->header;
        p->hval[p->nh++] = it[i].id;
    }
    if (npub) {
        if (mark(ctx, s, it, n) != 0)
            goto out;
        MF_CRASH_POINT("meterctl.publish.marked"); /* where to look, recorded; nothing sent */
        /* 3. One transaction. */
        if (ctl_kafka_publish(k, pub, npub) != MF_OK)
            goto out;
        MF_CRASH_POINT("meterctl.publish.committed"); /* published, not recorded */
        for (size_t i = 0, j = 0; i < n; i++)
            if (!it[i].recovered)
                it[i].offset = pub[j++].offset;
    }
    /* 4. Status and audit together. */
    if (record(ctx, s, it, n) != 0)
        goto out;
    MF_CRASH_POINT("meterctl.publish.recorded"); /* all done, nothing printed */
    if (ctx->json) {
        struct mf_buf b = MF_BUF_INIT;
        mf_buf_appendf(&b, "{\"ok\":true,\"%s\":[", s->verb);
        for (size_t i = 0; i < n; i++) {
            mf_buf_appendf(&b, "%s{\"id\":%s,", i ? "," : "", it[i].id);
            json_field(&b, "topic", it[i].topic, 0);
            mf_buf_appendf(&b, ",\"partition\":%d,\"offset\":%lld,\"recovered\":%s}",
                           (int)it[i].part, (long long)it[i].offset,
                           it[i].recovered ? "true" : "false");
        }
        mf_buf_appends(&b, "]}\n");
        fputs(b.data, stdout);
        mf_buf_release(&b);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s %s %s: %s/%d@%lld%s\n", s->verb, s->noun, it[i].id, it[i].topic,
                   (int)it[i].part, (long long)it[i].offset,
                   it[i].recovered ? " (published by an earlier run)" : "");
    }
    rc = CTL_EXIT_OK;
out:
    free(pub);
    ctl_kafka_close(k);
    return rc;
}

/* ---------------------------------------------------------------- quarantine */

/* The filters of approve / reject as parameters $2..$5; -1 after ctl_usage. */
static int q_filters(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a,
                     char *from, char *to, const char **p)
{
    int hf = ctl_time_opt(ctx, cmd, a, "from", from), ht = ctl_time_opt(ctx, cmd, a, "to", to);
    if (hf < 0 || ht < 0)
        return -1;
    p[1] = ctl_opt(cmd, a, "meter");
    p[2] = ctl_opt(cmd, a, "reason");
    p[3] = hf ? from : NULL;
    p[4] = ht ? to : NULL;
    if (a->npos && (p[1] || p[2] || p[3] || p[4])) {
        ctl_usage(ctx, "give ids or filters, not both");
        return -1;
    }
    if (!a->npos && !p[1] && !p[2] && !p[3] && !p[4]) {
        ctl_usage(ctx, "give ids, or at least one of --meter --reason --from --to");
        return -1;
    }
    return 0;
}

static const char q_select[] =
    "SELECT id, status, publish_topic, publish_partition, publish_from, meter_id, " UTC_MS(
        "ts") ", source_value, source_unit, interval_s, array_to_string(reasons, ',')"
              "  FROM quarantine_readings"
              " WHERE CASE WHEN cardinality($1::bigint[]) > 0 THEN id = ANY($1::bigint[])"
              "  ELSE status = 'pending' AND ($2::text IS NULL OR meter_id = $2)"
              "   AND ($3::text IS NULL OR $3 = ANY(reasons))"
              "   AND ($4::timestamptz IS NULL OR ts >= $4)"
              "   AND ($5::timestamptz IS NULL OR ts < $5) END"
              " ORDER BY id";

/* Loads the selected quarantined readings; NULL after ctl_fail / ctl_usage (*usage set). */
static struct item *q_load(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a,
                           struct mf_buf *ids, size_t *n, int *usage)
{
    char from[MF_TIME_STRLEN], to[MF_TIME_STRLEN];
    const char *p[5];
    *usage = 1;
    if (ctl_parse_ids(ctx, a, "a quarantined reading's id", ids) != MF_OK ||
        q_filters(ctx, cmd, a, from, to, p) != 0)
        return NULL;
    *usage = 0;
    p[0] = ids->data;
    PGresult *res = ctl_db_run(ctx, "reading the quarantined readings", q_select, 5, p);
    if (!res)
        return NULL;
    *n = (size_t)PQntuples(res);
    struct item *it = mf_xcalloc(*n ? *n : 1, sizeof *it);
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        item_base(&it[i], res, r);
        struct mf_buf *d = &it[i].desc;
        json_field(d, "meter_id", PQgetvalue(res, r, 5), 0);
        mf_buf_appendc(d, ',');
        json_field(d, "ts", PQgetvalue(res, r, 6), 0);
        mf_buf_appendf(d, ",\"source_value\":%s,",
                       PQgetisnull(res, r, 7) ? "null" : PQgetvalue(res, r, 7));
        json_field(d, "reasons", PQgetvalue(res, r, 10), 0);
        mf_buf_appendc(d, ',');
        /* What approve publishes: the reading as the meter sent it (value, unit, interval). */
        it[i].key = (unsigned char *)mf_xstrdup(PQgetvalue(res, r, 5));
        it[i].keylen = strlen((char *)it[i].key);
        snprintf(it[i].unit, sizeof it[i].unit, "%s", PQgetvalue(res, r, 8));
        struct mf_buf v = MF_BUF_INIT;
        mf_buf_appends(&v, "{\"meter_id\":");
        mf_json_str(&v, (char *)it[i].key, it[i].keylen);
        mf_buf_appendf(&v, ",\"ts\":\"%s\",\"value\":%s", PQgetvalue(res, r, 6),
                       PQgetisnull(res, r, 7) ? "null" : PQgetvalue(res, r, 7));
        if (!PQgetisnull(res, r, 9))
            mf_buf_appendf(&v, ",\"interval_s\":%s", PQgetvalue(res, r, 9));
        it[i].novalue = PQgetisnull(res, r, 7);
        it[i].value = (unsigned char *)v.data; /* unfinished: approve adds the unit */
        it[i].vlen = v.len;
    }
    PQclear(res);
    return it;
}

/*
 * What approve and reject start with: --why, the lock, the selected rows
 * (into *it, *n), all pending. CTL_EXIT_OK, or the exit status after the
 * message.
 */
static int q_select_pending(struct ctl_ctx *ctx, const struct ctl_cmd *cmd,
                            const struct ctl_args *a, struct mf_buf *ids, struct item **it,
                            size_t *n, const char *what)
{
    int usage = 0;
    if (!ctx->why || !ctx->why[0])
        return ctl_usage(ctx, "--why is required: the audit log says why");
    if (!ctl_db(ctx) || take_lock(ctx) != 0)
        return CTL_EXIT_FAIL;
    *it = q_load(ctx, cmd, a, ids, n, &usage);
    if (!*it)
        return usage ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
    if (check_pending(ctx, &quarantine, a, *it, *n, what) != 0)
        return CTL_EXIT_FAIL;
    return CTL_EXIT_OK;
}

int ctl_quarantine_approve(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    struct mf_buf ids = MF_BUF_INIT;
    struct item *it = NULL;
    size_t n = 0;
    int rc = CTL_EXIT_FAIL;
    const char *unit = ctl_opt(cmd, a, "unit");
    enum mf_unit u = unit ? mf_unit_parse(unit, strlen(unit)) : MF_UNIT_NONE;

    if (unit && (strlen(unit) >= sizeof it->unit || u == MF_UNIT_OTHER || u == MF_UNIT_NONE)) {
        mf_buf_release(&ids);
        return ctl_usage(ctx, "--unit '%s': not a unit of DESIGN 3.1 (W, kW, MW, Wh, kWh, MWh)",
                         unit);
    }
    if ((rc = q_select_pending(ctx, cmd, a, &ids, &it, &n, "published")) != CTL_EXIT_OK)
        goto out;
    rc = CTL_EXIT_FAIL;
    for (size_t i = 0; i < n; i++) {
        struct item *t = &it[i];
        if (t->novalue) {
            ctl_fail(ctx, "reading %s has no value to approve: nothing published", t->id);
            goto out;
        }
        /* The reading keeps its unit; --unit only says the unit of one sent without. */
        if (t->unit[0] && unit && strcmp(t->unit, unit) != 0) {
            ctl_fail(ctx,
                     "reading %s was sent in %s; --unit %s is for readings sent without a "
                     "unit: nothing published",
                     t->id, t->unit, unit);
            goto out;
        }
        if (!t->unit[0] && !unit) {
            ctl_fail(ctx,
                     "reading %s was sent without a unit: say which with --unit: nothing "
                     "published",
                     t->id);
            goto out;
        }
        if (!t->unit[0])
            snprintf(t->unit, sizeof t->unit, "%s", unit);
        struct mf_buf v = MF_BUF_INIT;
        mf_buf_append(&v, t->value, t->vlen);
        free(t->value);
        mf_buf_appends(&v, ",\"unit\":");
        mf_json_str(&v, t->unit, strlen(t->unit));
        mf_buf_appendc(&v, '}');
        t->value = (unsigned char *)v.data;
        t->vlen = v.len;
        t->topic = ctx->cfg->topic_raw;
        mf_buf_appends(&t->desc, "\"unit\":");
        mf_json_str(&t->desc, t->unit, strlen(t->unit));
        mf_buf_appendc(&t->desc, ',');
    }
    rc = publish(ctx, &quarantine, it, n);
out:
    if (it)
        items_release(it, n);
    mf_buf_release(&ids);
    return rc;
}

/*
 * Sets it[0..n) (pending, selected by the caller under the lock) to the
 * final status `rejected` with who and why, one audit row each (action),
 * in one transaction: quarantine reject and dlq dismiss. A row an approval
 * or replay was started on (publish_* set) is refused: its record may be
 * in its topic already, and only rerunning that command can tell.
 */
static int set_rejected(struct ctl_ctx *ctx, const struct store *s, const struct item *it, size_t n,
                        const char *action, const char *verb)
{
    struct mf_buf target = MF_BUF_INIT, detail = MF_BUF_INIT;
    char sql[256];
    int rc = CTL_EXIT_FAIL;
    const char *group = s == &quarantine ? "quarantine approve" : "dlq replay";
    for (size_t i = 0; i < n; i++)
        if (it[i].inflight) {
            ctl_fail(ctx,
                     "%s %s: a %s was started and not finished; run %s %s again first: "
                     "nothing %s",
                     s->noun, it[i].id, s == &quarantine ? "approval" : "replay", group, it[i].id,
                     verb);
            return CTL_EXIT_FAIL;
        }
    snprintf(sql, sizeof sql,
             "UPDATE %s SET status = 'rejected', decided_at = now(), decided_by = $2, why = $3 "
             "WHERE id = $1 AND status = 'pending' AND publish_from IS NULL",
             s->table);
    if (ctl_db_begin(ctx) != MF_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *p[] = {it[i].id, ctx->actor, ctx->why};
        PGresult *res = ctl_db_run(ctx, "setting the final status", sql, 3, p);
        if (!res)
            goto rollback;
        int changed = strcmp(PQcmdTuples(res), "1") == 0;
        PQclear(res);
        if (!changed) {
            ctl_fail(ctx, "%s %s changed meanwhile: nothing %s", s->noun, it[i].id, verb);
            goto rollback;
        }
        mf_buf_reset(&target);
        mf_buf_reset(&detail);
        mf_buf_appendf(&target, "%s/%s", s->table, it[i].id);
        /* desc ends with a comma: close it with the id. */
        mf_buf_appendf(&detail, "{%s\"id\":%s}", it[i].desc.data ? it[i].desc.data : "", it[i].id);
        if (ctl_audit(ctx, action, target.data, detail.data) != MF_OK)
            goto rollback;
    }
    if (ctl_db_commit(ctx) != MF_OK)
        goto rollback;
    if (ctx->json)
        printf("{\"ok\":true,\"%s\":%zu}\n", verb, n);
    else
        printf("%s %zu %s%s\n", verb, n, s->noun, n == 1 ? "" : "s");
    rc = CTL_EXIT_OK;
    goto out;
rollback:
    ctl_db_rollback(ctx);
out:
    mf_buf_release(&target);
    mf_buf_release(&detail);
    return rc;
}

int ctl_quarantine_reject(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    struct mf_buf ids = MF_BUF_INIT;
    struct item *it = NULL;
    size_t n = 0;
    int rc = q_select_pending(ctx, cmd, a, &ids, &it, &n, "rejected");
    if (rc == CTL_EXIT_OK)
        rc = set_rejected(ctx, &quarantine, it, n, "quarantine.reject", "rejected");
    if (it)
        items_release(it, n);
    mf_buf_release(&ids);
    return rc;
}

/* ---------------------------------------------------------------- DLQ */

static const char dlq_select[] =
    "SELECT id, status, publish_topic, publish_partition, publish_from, "
    " CASE key_encoding WHEN 'base64' THEN decode(key, 'base64') ELSE convert_to(key, 'UTF8') END,"
    " CASE value_encoding WHEN 'base64' THEN decode(value, 'base64')"
    "  ELSE convert_to(value, 'UTF8') END,"
    " source_topic, error_code, key IS NULL"
    "  FROM dlq_records"
    " WHERE CASE WHEN cardinality($1::bigint[]) > 0 THEN id = ANY($1::bigint[])"
    "  ELSE status = 'pending' AND error_code = $2"
    "   AND ($3::timestamptz IS NULL OR received_at >= $3) END"
    " ORDER BY id";

/* The topic a DLQ record goes back to: its source.topic if an input topic, raw when none. */
static const char *replay_topic(const struct ctl_config *cfg, PGresult *res, int r)
{
    if (PQgetisnull(res, r, 7))
        return cfg->topic_raw;
    const char *t = PQgetvalue(res, r, 7);
    const char *const inputs[] = {cfg->topic_raw, cfg->topic_grid, cfg->topic_weather,
                                  cfg->topic_vehicles};
    for (size_t i = 0; i < MF_ARRAY_LEN(inputs); i++)
        if (strcmp(t, inputs[i]) == 0)
            return inputs[i];
    return NULL;
}

static unsigned char *unescape(PGresult *res, int r, int c, size_t *len)
{
    size_t n = 0;
    unsigned char *u = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, c), &n);
    unsigned char *copy = mf_xcalloc(1, n + 1);
    if (u) {
        memcpy(copy, u, n);
        PQfreemem(u);
    }
    *len = n;
    return copy;
}

/*
 * What replay and dismiss start with: ids or --code [--since], --why, the
 * lock, the selected rows (into *it, *n; *res keeps them for messages),
 * all pending. CTL_EXIT_OK, or the exit status after the message.
 */
static int dlq_select_pending(struct ctl_ctx *ctx, const struct ctl_cmd *cmd,
                              const struct ctl_args *a, struct mf_buf *ids, struct item **it,
                              size_t *n, PGresult **res, const char *what)
{
    char since[MF_TIME_STRLEN];
    int hs = ctl_time_opt(ctx, cmd, a, "since", since);
    const char *code = ctl_opt(cmd, a, "code");

    if (hs < 0 || ctl_parse_ids(ctx, a, "a DLQ record's id", ids) != MF_OK)
        return CTL_EXIT_USAGE;
    if (a->npos ? (code || hs) : !code)
        return ctl_usage(ctx, "give ids, or --code (and --since), not both");
    if (ctl_opt(cmd, a, "value") && a->npos != 1)
        return ctl_usage(ctx, "--value replaces one record's bytes: give exactly one id");
    if (!ctx->why || !ctx->why[0])
        return ctl_usage(ctx, "--why is required: the audit log says why");
    if (!ctl_db(ctx) || take_lock(ctx) != 0)
        return CTL_EXIT_FAIL;
    const char *p[] = {ids->data, code, hs ? since : NULL};
    *res = ctl_db_run(ctx, "reading the DLQ records", dlq_select, 3, p);
    if (!*res)
        return CTL_EXIT_FAIL;
    *n = (size_t)PQntuples(*res);
    *it = mf_xcalloc(*n ? *n : 1, sizeof **it);
    for (size_t i = 0; i < *n; i++) {
        int r = (int)i;
        struct item *t = &(*it)[i];
        item_base(t, *res, r);
        if (strcmp(PQgetvalue(*res, r, 9), "t") != 0)
            t->key = unescape(*res, r, 5, &t->keylen);
        t->value = unescape(*res, r, 6, &t->vlen);
        t->topic = replay_topic(ctx->cfg, *res, r);
        json_field(&t->desc, "error_code", PQgetvalue(*res, r, 8), PQgetisnull(*res, r, 8));
        mf_buf_appendc(&t->desc, ',');
        json_field(&t->desc, "source_topic", PQgetvalue(*res, r, 7), PQgetisnull(*res, r, 7));
        mf_buf_appendc(&t->desc, ',');
    }
    return check_pending(ctx, &dlq, a, *it, *n, what) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

/* replay after the selection: --value applied, then published if every topic is an input. */
static int dlq_replay_items(struct ctl_ctx *ctx, const struct ctl_cmd *cmd,
                            const struct ctl_args *a, struct item *it, size_t n, PGresult *res)
{
    /* --value: the record as fixed by hand replaces its bytes (the audit row keeps both). */
    const char *fixed = ctl_opt(cmd, a, "value");
    if (fixed && n == 1) {
        mf_buf_appends(&it[0].desc, "\"original\":");
        if (mf_utf8_valid((const char *)it[0].value, it[0].vlen))
            mf_json_str(&it[0].desc, (const char *)it[0].value, it[0].vlen);
        else
            mf_buf_appends(&it[0].desc, "\"(not UTF-8)\"");
        mf_buf_appends(&it[0].desc, ",\"fixed\":");
        mf_json_str(&it[0].desc, fixed, strlen(fixed));
        mf_buf_appendc(&it[0].desc, ',');
        free(it[0].value);
        it[0].value = (unsigned char *)mf_xstrdup(fixed);
        it[0].vlen = strlen(fixed);
    }
    for (size_t i = 0; i < n; i++)
        if (!it[i].topic) {
            ctl_fail(ctx, "DLQ record %s came from %s, which is no input topic: nothing published",
                     it[i].id, PQgetvalue(res, (int)i, 7));
            return CTL_EXIT_FAIL;
        }
    return publish(ctx, &dlq, it, n);
}

/* dlq replay (publish) and dismiss (final status rejected), over the same selection. */
static int dlq_run(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a,
                   int dismiss)
{
    struct mf_buf ids = MF_BUF_INIT;
    struct item *it = NULL;
    PGresult *res = NULL;
    size_t n = 0;
    int rc = dlq_select_pending(ctx, cmd, a, &ids, &it, &n, &res,
                                dismiss ? "dismissed" : "published");
    if (rc == CTL_EXIT_OK)
        rc = dismiss ? set_rejected(ctx, &dlq, it, n, "dlq.dismiss", "dismissed")
                     : dlq_replay_items(ctx, cmd, a, it, n, res);
    PQclear(res);
    if (it)
        items_release(it, n);
    mf_buf_release(&ids);
    return rc;
}

int ctl_dlq_replay(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    return dlq_run(ctx, cmd, a, 0);
}

int ctl_dlq_dismiss(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    return dlq_run(ctx, cmd, a, 1);
}
