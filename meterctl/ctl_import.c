/*
 * ctl_import: registry and holidays imports, registry export. The file is
 * checked whole before the database sees a row; the database then gets
 * one transaction: the rows, the changes they make and the audit row, or
 * nothing.
 */
#include "ctl_import.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "ctl_db.h"
#include "ctl_rows.h"
#include "mf_buf.h"
#include "mf_json.h"
#include "mf_common.h"

#define FILE_MAX    ((size_t)256 << 20) /* a registry of millions of meters fits */
#define KEYS_LISTED 100                 /* keys named in the audit row, per outcome */

struct counts {
    size_t added, changed, unchanged;
    struct mf_buf added_keys, changed_keys; /* JSON arrays' members, for the audit row */
};

/* ---------------------------------------------------------------- the file */

static int read_file(struct ctl_ctx *ctx, const char *path, struct mf_buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int status = CTL_EXIT_OK;

    if (!f)
        return ctl_fail(ctx, "cannot open '%s': %s", path, strerror(errno));
    mf_buf_init(out, FILE_MAX);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (mf_buf_append(out, chunk, n) != MF_OK) {
            status = ctl_fail(ctx, "'%s' is larger than %zu MiB", path, FILE_MAX >> 20);
            break;
        }
    }
    if (status == CTL_EXIT_OK && ferror(f))
        status = ctl_fail(ctx, "cannot read '%s': %s", path, strerror(errno));
    if (f != stdin)
        fclose(f);
    return status;
}

/* Every error of the file: "FILE:LINE: column N (name): reason" on stderr, or JSON. */
static int refuse(struct ctl_ctx *ctx, const char *path, const struct ctl_rows *r)
{
    size_t kept = r->nerrs < CTL_MAX_ERRORS ? r->nerrs : CTL_MAX_ERRORS;
    struct mf_buf b = MF_BUF_INIT;
    for (size_t i = 0; i < kept; i++) {
        const struct ctl_error *e = &r->errs[i];
        if (e->column)
            fprintf(stderr, "%s:%zu: column %zu%s%s%s: %s\n", path, e->line, e->column,
                    e->name[0] ? " (" : "", e->name, e->name[0] ? ")" : "", e->msg);
        else
            fprintf(stderr, "%s:%zu: %s%s%s\n", path, e->line, e->name[0] ? e->name : "",
                    e->name[0] ? ": " : "", e->msg);
    }
    if (r->nerrs > kept)
        fprintf(stderr, "%s: and %zu more errors\n", path, r->nerrs - kept);
    fprintf(stderr, "meterctl %s: %s: %zu error%s, %zu row%s refused: nothing imported\n", ctx->cmd,
            path, r->nerrs, r->nerrs == 1 ? "" : "s", r->bad_rows, r->bad_rows == 1 ? "" : "s");
    if (ctx->json) {
        mf_buf_appends(&b, "{\"ok\":false,\"kind\":");
        mf_json_str(&b, r->kind->name, strlen(r->kind->name));
        mf_buf_appends(&b, ",\"file\":");
        mf_json_str(&b, path, strlen(path));
        mf_buf_appendf(&b,
                       ",\"added\":0,\"changed\":0,\"unchanged\":0,\"refused\":%zu,\"errors\":[",
                       r->bad_rows);
        for (size_t i = 0; i < kept; i++) {
            const struct ctl_error *e = &r->errs[i];
            mf_buf_appendf(&b, "%s{\"line\":%zu,\"column\":%zu,\"name\":", i ? "," : "", e->line,
                           e->column);
            mf_json_str(&b, e->name, strlen(e->name));
            mf_buf_appends(&b, ",\"error\":");
            mf_json_str(&b, e->msg, strlen(e->msg));
            mf_buf_appendc(&b, '}');
        }
        mf_buf_appendf(&b, "],\"errors_total\":%zu}\n", r->nerrs);
        fputs(b.data, stdout);
        mf_buf_release(&b);
    }
    return CTL_EXIT_FAIL;
}

/* ---------------------------------------------------------------- applying */

/* COPY's text format: backslash, tab, newline and carriage return escaped; \N is null. */
static void copy_field(struct mf_buf *b, const char *v)
{
    if (!v) {
        mf_buf_appends(b, "\\N");
        return;
    }
    for (; *v; v++) {
        switch (*v) {
        case '\\':
            mf_buf_appends(b, "\\\\");
            break;
        case '\t':
            mf_buf_appends(b, "\\t");
            break;
        case '\n':
            mf_buf_appends(b, "\\n");
            break;
        case '\r':
            mf_buf_appends(b, "\\r");
            break;
        default:
            mf_buf_appendc(b, *v);
        }
    }
}

/* Sends every row to the temporary table ctl_import. */
static int copy_rows(struct ctl_ctx *ctx, const struct ctl_rows *r)
{
    const struct ctl_kind *k = r->kind;
    struct mf_buf sql = MF_BUF_INIT, data = MF_BUF_INIT;
    int status = CTL_EXIT_FAIL;

    mf_buf_appends(&sql, "CREATE TEMP TABLE ctl_import (");
    for (size_t j = 0; j < r->ncols; j++)
        mf_buf_appendf(&sql, "%s%s text", j ? ", " : "", k->cols[r->col[j]].name);
    mf_buf_appends(&sql, ") ON COMMIT DROP");
    PGresult *res = ctl_db_run(ctx, "temporary table", sql.data, 0, NULL);
    if (!res)
        goto out;
    PQclear(res);
    if (!(res = ctl_db_run(ctx, "copy", "COPY ctl_import FROM STDIN", 0, NULL)))
        goto out;
    PQclear(res);
    for (size_t i = 0; i < r->nrows; i++) {
        for (size_t j = 0; j < r->ncols; j++) {
            if (j)
                mf_buf_appendc(&data, '\t');
            copy_field(&data, ctl_rows_val(r, i, j));
        }
        mf_buf_appendc(&data, '\n');
        if (data.len >= 1 << 20 || i + 1 == r->nrows) {
            if (PQputCopyData(ctx->conn, data.data, (int)data.len) != 1) {
                ctl_fail(ctx, "copy: %s", PQerrorMessage(ctx->conn));
                goto out;
            }
            mf_buf_reset(&data);
        }
    }
    if (PQputCopyEnd(ctx->conn, NULL) != 1) {
        ctl_fail(ctx, "copy: %s", PQerrorMessage(ctx->conn));
        goto out;
    }
    res = PQgetResult(ctx->conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *msg = PQresultErrorMessage(res);
        ctl_fail(ctx, "copy: %.*s", (int)strcspn(msg, "\n"), msg);
    } else {
        status = CTL_EXIT_OK;
    }
    PQclear(res);
    while ((res = PQgetResult(ctx->conn)))
        PQclear(res);
out:
    mf_buf_release(&sql);
    mf_buf_release(&data);
    return status;
}

/*
 * The upsert: only the file's columns are written; a row whose values are
 * all equal already is not touched (no updated_at change, counted
 * unchanged); RETURNING tells an insert (xmax = 0) from an update.
 */
static void upsert_sql(const struct ctl_rows *r, struct mf_buf *sql)
{
    const struct ctl_kind *k = r->kind;
    size_t nset = 0;
    mf_buf_appendf(sql, "INSERT INTO %s AS t (", k->table);
    for (size_t j = 0; j < r->ncols; j++)
        mf_buf_appendf(sql, "%s%s", j ? ", " : "", k->cols[r->col[j]].name);
    mf_buf_appends(sql, ") SELECT ");
    for (size_t j = 0; j < r->ncols; j++) {
        const struct ctl_column *c = &k->cols[r->col[j]];
        mf_buf_appendf(sql, "%s%s::%s", j ? ", " : "", c->name, c->sqltype);
    }
    mf_buf_appendf(sql, " FROM ctl_import ON CONFLICT %s DO ", k->conflict);
    for (size_t j = 0; j < r->ncols; j++) {
        const struct ctl_column *c = &k->cols[r->col[j]];
        if (c->flags & CTL_COL_KEY)
            continue;
        mf_buf_appendf(sql, "%s%s = EXCLUDED.%s", nset++ ? ", " : "UPDATE SET ", c->name, c->name);
    }
    if (nset == 0) {
        mf_buf_appends(sql, "NOTHING");
    } else {
        mf_buf_appends(sql, " WHERE (");
        for (size_t j = 0, n = 0; j < r->ncols; j++)
            if (!(k->cols[r->col[j]].flags & CTL_COL_KEY))
                mf_buf_appendf(sql, "%st.%s", n++ ? ", " : "", k->cols[r->col[j]].name);
        mf_buf_appends(sql, ") IS DISTINCT FROM (");
        for (size_t j = 0, n = 0; j < r->ncols; j++)
            if (!(k->cols[r->col[j]].flags & CTL_COL_KEY))
                mf_buf_appendf(sql, "%sEXCLUDED.%s", n++ ? ", " : "", k->cols[r->col[j]].name);
        mf_buf_appendc(sql, ')');
    }
    mf_buf_appends(sql, " RETURNING t.xmax = 0, ");
    for (size_t j = 0, n = 0; j < k->ncols; j++)
        if (k->cols[j].flags & CTL_COL_KEY)
            mf_buf_appendf(sql, "%scoalesce(t.%s::text, '*')", n++ ? " || ' ' || " : "",
                           k->cols[j].name);
}

static void list_key(struct mf_buf *b, size_t n, const char *key)
{
    if (n > KEYS_LISTED)
        return;
    if (b->len)
        mf_buf_appendc(b, ',');
    mf_json_str(b, key, strlen(key));
}

/* Writes the rows in the caller's transaction and counts what they did. */
static int apply(struct ctl_ctx *ctx, const struct ctl_rows *r, struct counts *n)
{
    struct mf_buf sql = MF_BUF_INIT;
    if (copy_rows(ctx, r) != CTL_EXIT_OK)
        return CTL_EXIT_FAIL;
    upsert_sql(r, &sql);
    PGresult *res = ctl_db_run(ctx, "applying the rows", sql.data, 0, NULL);
    mf_buf_release(&sql);
    if (!res)
        return CTL_EXIT_FAIL;
    for (int i = 0; i < PQntuples(res); i++) {
        if (strcmp(PQgetvalue(res, i, 0), "t") == 0)
            list_key(&n->added_keys, ++n->added, PQgetvalue(res, i, 1));
        else
            list_key(&n->changed_keys, ++n->changed, PQgetvalue(res, i, 1));
    }
    n->unchanged = r->nrows - n->added - n->changed;
    PQclear(res);
    return CTL_EXIT_OK;
}

static void print_counts(struct ctl_ctx *ctx, const char *path, const struct ctl_kind *k,
                         const struct counts *n, int dry_run)
{
    if (!ctx->json) {
        printf("%s: added %zu, changed %zu, unchanged %zu, refused 0%s\n", k->name, n->added,
               n->changed, n->unchanged, dry_run ? " (dry run: nothing changed)" : "");
        return;
    }
    struct mf_buf b = MF_BUF_INIT;
    mf_buf_appends(&b, "{\"ok\":true,\"kind\":");
    mf_json_str(&b, k->name, strlen(k->name));
    mf_buf_appends(&b, ",\"file\":");
    mf_json_str(&b, path, strlen(path));
    mf_buf_appendf(&b,
                   ",\"dry_run\":%s,\"added\":%zu,\"changed\":%zu,\"unchanged\":%zu,"
                   "\"refused\":0}\n",
                   dry_run ? "true" : "false", n->added, n->changed, n->unchanged);
    fputs(b.data, stdout);
    mf_buf_release(&b);
}

/* The shared import: check, then one transaction with the audit row (none on a dry run). */
static int import(struct ctl_ctx *ctx, const struct ctl_kind *k, const char *path, int dry_run,
                  const char *action)
{
    struct mf_buf file = MF_BUF_INIT, detail = MF_BUF_INIT;
    struct ctl_rows rows;
    struct ctl_known known = {ctx, {NULL, NULL}, {0, 0}, {0, 0}, 0};
    struct counts n = {0, 0, 0, MF_BUF_INIT, MF_BUF_INIT};
    int status = read_file(ctx, path, &file);

    memset(&rows, 0, sizeof rows);
    if (status != CTL_EXIT_OK)
        goto out;
    status = CTL_EXIT_FAIL;
    if (!ctl_db(ctx))
        goto out;
    size_t nerrs = ctl_rows_load(&rows, k, file.data ? file.data : "", file.len, ctl_known, &known);
    if (known.failed)
        goto out;
    if (nerrs) {
        status = refuse(ctx, path, &rows);
        goto out;
    }
    if (ctl_db_begin(ctx) != MF_OK)
        goto out;
    if (apply(ctx, &rows, &n) != CTL_EXIT_OK)
        goto rollback;
    if (dry_run) {
        ctl_db_rollback(ctx);
    } else {
        mf_buf_appends(&detail, "{\"file\":");
        mf_json_str(&detail, path, strlen(path));
        mf_buf_appendf(&detail,
                       ",\"rows\":%zu,\"added\":%zu,\"changed\":%zu,\"unchanged\":%zu,"
                       "\"added_keys\":[%s],\"changed_keys\":[%s]}",
                       rows.nrows, n.added, n.changed, n.unchanged,
                       n.added_keys.data ? n.added_keys.data : "",
                       n.changed_keys.data ? n.changed_keys.data : "");
        if (ctl_audit(ctx, action, k->table, detail.data) != MF_OK)
            goto rollback;
        if (ctl_db_commit(ctx) != MF_OK)
            goto rollback;
    }
    print_counts(ctx, path, k, &n, dry_run);
    status = CTL_EXIT_OK;
    goto out;
rollback:
    ctl_db_rollback(ctx);
out:
    ctl_rows_release(&rows);
    ctl_known_release(&known);
    mf_buf_release(&file);
    mf_buf_release(&detail);
    mf_buf_release(&n.added_keys);
    mf_buf_release(&n.changed_keys);
    return status;
}

/* --kind, one of the four registries (holidays have their own subcommand). */
static const struct ctl_kind *registry_kind(struct ctl_ctx *ctx, const struct ctl_cmd *cmd,
                                            const struct ctl_args *a)
{
    const char *name = ctl_opt(cmd, a, "kind");
    const struct ctl_kind *k = name ? ctl_kind_find(name) : NULL;
    if (!name)
        ctl_usage(ctx, "--kind is required (meters, feeders, stations or vehicles)");
    else if (!k || strcmp(k->name, "holidays") == 0)
        ctl_usage(ctx, "unknown --kind '%s' (meters, feeders, stations or vehicles)", name);
    else
        return k;
    return NULL;
}

int ctl_registry_import(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    const struct ctl_kind *k = registry_kind(ctx, cmd, a);
    if (!k)
        return CTL_EXIT_USAGE;
    return import(ctx, k, a->pos[0], ctl_opt(cmd, a, "dry-run") != NULL, "registry.import");
}

int ctl_holidays_import(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    return import(ctx, ctl_kind_find("holidays"), a->pos[0], ctl_opt(cmd, a, "dry-run") != NULL,
                  "holidays.import");
}

/* ---------------------------------------------------------------- export */

/* A CSV field, quoted when it holds what would otherwise split or trim it. */
static void csv_field(struct mf_buf *b, const char *v, size_t n)
{
    int quote = n && (strpbrk(v, ",\"\r\n") || v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' ||
                      v[n - 1] == '\t');
    if (!quote) {
        mf_buf_append(b, v, n);
        return;
    }
    mf_buf_appendc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '"')
            mf_buf_appendc(b, '"');
        mf_buf_appendc(b, v[i]);
    }
    mf_buf_appendc(b, '"');
}

int ctl_registry_export(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a)
{
    const struct ctl_kind *k = registry_kind(ctx, cmd, a);
    struct mf_buf sql = MF_BUF_INIT, out = MF_BUF_INIT;
    if (!k)
        return CTL_EXIT_USAGE;
    mf_buf_appends(&sql, "SELECT ");
    for (size_t j = 0; j < k->ncols; j++)
        mf_buf_appendf(&sql, "%s%s::text", j ? ", " : "", k->cols[j].name);
    mf_buf_appendf(&sql, " FROM %s ORDER BY %s", k->table, k->cols[0].name);
    PGresult *res = ctl_db_run(ctx, "reading the registry", sql.data, 0, NULL);
    mf_buf_release(&sql);
    if (!res)
        return CTL_EXIT_FAIL;
    int nrows = PQntuples(res);
    if (ctx->json)
        mf_buf_appendc(&out, '[');
    else
        for (size_t j = 0; j < k->ncols; j++)
            mf_buf_appendf(&out, "%s%s", j ? "," : "", k->cols[j].name);
    if (!ctx->json)
        mf_buf_appendc(&out, '\n');
    for (int i = 0; i < nrows; i++) {
        if (ctx->json)
            mf_buf_appends(&out, i ? ",{" : "{");
        for (size_t j = 0; j < k->ncols; j++) {
            const struct ctl_column *c = &k->cols[j];
            const char *v = PQgetvalue(res, i, (int)j);
            int null = PQgetisnull(res, i, (int)j);
            if (!ctx->json) {
                if (j)
                    mf_buf_appendc(&out, ',');
                if (!null)
                    csv_field(&out, v, strlen(v));
                continue;
            }
            mf_buf_appendf(&out, "%s\"%s\":", j ? "," : "", c->name);
            if (null)
                mf_buf_appends(&out, "null");
            else if (c->type == CTL_NUM || c->type == CTL_INT || c->type == CTL_BOOL)
                mf_buf_appends(&out, v); /* PostgreSQL's text of these is JSON's */
            else
                mf_json_str(&out, v, strlen(v));
        }
        mf_buf_appends(&out, ctx->json ? "}" : "\n");
        if (out.len >= 1 << 20) {
            fwrite(out.data, 1, out.len, stdout);
            mf_buf_reset(&out);
        }
    }
    if (ctx->json)
        mf_buf_appends(&out, "]\n");
    if (out.len)
        fwrite(out.data, 1, out.len, stdout);
    mf_buf_release(&out);
    PQclear(res);
    return CTL_EXIT_OK;
}
