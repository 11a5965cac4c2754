/*
 * ctl_cli: the dispatcher. Arguments are parsed before the environment is
 * read, so `meterctl ... --help` works without PG_DSN; the environment is
 * then loaded with the daemons' rows and refused in one line (exit 2).
 */
#include "ctl_cli.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "ctl_import.h"
#include "ctl_maint.h"
#include "ctl_review.h"
#include "mf_buf.h"
#include "mf_json.h"
#include "mf_log.h"
#include "mf_time.h"
#include "mf_common.h"
#include "mf_crash.h"

#define PROG "meterctl"

/* ---------------------------------------------------------------- the commands */

static const char *const import_opts[] = {"kind=", "dry-run", NULL};
static const char *const export_opts[] = {"kind=", NULL};
static const char *const holidays_opts[] = {"dry-run", NULL};
static const char *const maint_add_opts[] = {"region=", "from=", "to=", "note=", NULL};
static const char *const maint_list_opts[] = {"region=", "from=", "to=", NULL};
static const char *const no_opts[] = {NULL};
static const char *const q_list_opts[] = {
    "meter=", "reason=", "from=", "to=", "status=", "limit=", NULL};
static const char *const q_approve_opts[] = {"meter=", "reason=", "from=", "to=", "unit=", NULL};
static const char *const q_reject_opts[] = {"meter=", "reason=", "from=", "to=", NULL};
static const char *const dlq_list_opts[] = {"code=", "since=", "status=", "limit=", NULL};
static const char *const dlq_replay_opts[] = {"code=", "since=", "value=", NULL};
static const char *const dlq_dismiss_opts[] = {"code=", "since=", NULL};
static const char *const alerts_list_opts[] = {"meter=", "state=", "unacked", "limit=", NULL};

static const struct ctl_cmd cmds[] = {
    {"registry", "import", "FILE.csv --kind meters|feeders|stations|vehicles [--dry-run]",
     "Adds or updates the registry rows of FILE.csv. Its header line names the\n"
     "table's columns in any order; an empty field is null (the column's default\n"
     "where it has one). Every row is checked first (ids, numbers, booleans, time\n"
     "zones, UTF-8, duplicate ids); any error refuses the whole file with its line\n"
     "and column, and nothing is imported. Otherwise all rows are applied in one\n"
     "transaction with the audit row, and added / changed / unchanged / refused\n"
     "are printed. --dry-run checks and counts, then changes nothing.",
     import_opts, 1, 1, ctl_registry_import},
    {"registry", "export", "--kind meters|feeders|stations|vehicles",
     "Writes the registry as CSV on stdout (every column; null as an empty field),\n"
     "in the form registry import reads; with --json, one JSON array of objects.",
     export_opts, 0, 0, ctl_registry_export},
    {"holidays", "import", "FILE.csv [--dry-run]",
     "Adds or renames public holidays (columns day, region, name; day as\n"
     "YYYY-MM-DD; region empty = everywhere, else a region some meter, feeder or\n"
     "weather station has). Checked and applied like registry import: a bad date\n"
     "or an unknown region refuses the file with its line, nothing imported.",
     holidays_opts, 1, 1, ctl_holidays_import},
    {"maintenance", "add", "--region REGION --from TIME --to TIME [--note TEXT]",
     "Records a grid maintenance window [from, to) of a known region (times as\n"
     "RFC 3339); prints its id.",
     maint_add_opts, 0, 0, ctl_maintenance_add},
    {"maintenance", "list", "[--region REGION] [--from TIME] [--to TIME]",
     "Lists the maintenance windows (of a region, overlapping [from, to)).", maint_list_opts, 0, 0,
     ctl_maintenance_list},
    {"maintenance", "remove", "ID...",
     "Removes maintenance windows by id; an id that does not exist refuses them all.", no_opts, 1,
     CTL_MAX_POS, ctl_maintenance_remove},
    {"quarantine", "list",
     "[--meter ID] [--reason R] [--from TIME] [--to TIME] [--status S|all] [--limit N]",
     "Lists quarantined readings (quarantine_readings), oldest first: by meter,\n"
     "by reason, by the reading's time [from, to), by status (pending, approved,\n"
     "rejected or all; default pending), at most --limit (default 100).",
     q_list_opts, 0, 0, ctl_quarantine_list},
    {"quarantine", "approve",
     "ID...|[--meter ID] [--reason R] [--from TIME] [--to TIME] [--unit UNIT] --why TEXT",
     "Approves pending quarantined readings (by id, or every pending one the\n"
     "filters match): each is published again to the raw topic, with its own\n"
     "unit (--unit for a reading sent without one, e.g. unit_ambiguous), and\n"
     "headers meter.override=approve and meter.review.id; the worker passes it\n"
     "to validated (flag manual_override, quality 70, standard). A reading is\n"
     "published once however often the command is killed and run again. An id\n"
     "that is not pending refuses them all, nothing published.",
     q_approve_opts, 0, CTL_MAX_POS, ctl_quarantine_approve},
    {"quarantine", "reject", "ID...|[--meter ID] [--reason R] [--from TIME] [--to TIME] --why TEXT",
     "Rejects pending quarantined readings for good (nothing published). An id\n"
     "that is not pending refuses them all.",
     q_reject_opts, 0, CTL_MAX_POS, ctl_quarantine_reject},
    {"dlq", "list",
     "[--code CODE] [--since TIME] [--status pending|replayed|rejected|all] [--limit N]",
     "Lists DLQ records (dlq_records), oldest first: by error.code, received\n"
     "since TIME, by status (default pending), at most --limit (default 100).",
     dlq_list_opts, 0, 0, ctl_dlq_list},
    {"dlq", "replay", "ID...|--code CODE [--since TIME] [--value TEXT] --why TEXT",
     "Publishes DLQ records' original key and bytes again to the topic they came\n"
     "from (source.topic: raw, grid, weather or vehicles; raw when none), with\n"
     "header meter.replay.id: once however often the command is killed and run\n"
     "again. An id that is not pending refuses them all, nothing published.\n"
     "--value TEXT (one id) publishes TEXT instead: the record fixed by hand; the\n"
     "audit row keeps the original and the fix.",
     dlq_replay_opts, 0, CTL_MAX_POS, ctl_dlq_replay},
    {"dlq", "dismiss", "ID...|--code CODE [--since TIME] --why TEXT",
     "Gives pending DLQ records not worth replaying the final status rejected\n"
     "(nothing published), with an audit row each: they no longer count as\n"
     "pending for the review SLA (meterflow_review_oldest_pending_seconds). An id\n"
     "that is not pending, or one a replay was started on, refuses them all.",
     dlq_dismiss_opts, 0, CTL_MAX_POS, ctl_dlq_dismiss},
    {"alerts", "list", "[--meter ID] [--state raised|cleared] [--unacked] [--limit N]",
     "Lists alerts (from meter.alerts), newest first, at most --limit (default 100).",
     alerts_list_opts, 0, 0, ctl_alerts_list},
    {"alerts", "ack", "ID... [--why TEXT]",
     "Acknowledges alerts by id. An id that does not exist or is acknowledged\n"
     "already refuses them all.",
     no_opts, 1, CTL_MAX_POS, ctl_alerts_ack},
};

/* Options every subcommand takes. */
static const char common_help[] =
    "Options of every subcommand:\n"
    "  --json         print the result as one JSON document\n"
    "  --actor NAME   who acts, for the audit log (default: the OS user)\n"
    "  --why TEXT     why, for the audit log\n"
    "  --help         this subcommand's help\n";

/* ---------------------------------------------------------------- messages */

static void vreport(struct ctl_ctx *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vreport(struct ctl_ctx *ctx, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "%s %s: %s\n", PROG, ctx->cmd ? ctx->cmd : "", msg);
    if (ctx->json) {
        struct mf_buf b = MF_BUF_INIT;
        mf_buf_appends(&b, "{\"ok\":false,\"error\":");
        mf_json_str(&b, msg, strlen(msg));
        mf_buf_appends(&b, "}\n");
        fputs(b.data, stdout);
        mf_buf_release(&b);
    }
}

int ctl_fail(struct ctl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ctx, fmt, ap);
    va_end(ap);
    return CTL_EXIT_FAIL;
}

int ctl_usage(struct ctl_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(ctx, fmt, ap);
    va_end(ap);
    fprintf(stderr, "(try: %s %s --help)\n", PROG, ctx->cmd ? ctx->cmd : "");
    return CTL_EXIT_USAGE;
}

/* ---------------------------------------------------------------- help */

static void print_main_help(void)
{
    printf("%s %s: the operators' command line: registries, holidays, grid maintenance, "
           "quarantine review, DLQ replay, alerts, each change in the audit log\n\n",
           PROG, MF_VERSION);
    printf("Usage: %s [--help | --version] | %s GROUP VERB [ARGS] [--json] [--actor NAME] "
           "[--why TEXT]\n\nSubcommands (each has --help):\n",
           PROG, PROG);
    for (size_t i = 0; i < MF_ARRAY_LEN(cmds); i++)
        printf("  %s %s %s\n", cmds[i].group, cmds[i].verb, cmds[i].synopsis);
    printf("\nExit status: 0 done, 1 failed (nothing changed), 2 bad usage or configuration.\n\n");
    mf_config_print_help(stdout, ctl_config_rows, ctl_config_nrows);
}

static void print_cmd_help(const struct ctl_cmd *c)
{
    printf("Usage: %s %s %s %s [--json] [--actor NAME] [--why TEXT]\n\n%s\n\n%s", PROG, c->group,
           c->verb, c->synopsis, c->help, common_help);
}

/* ---------------------------------------------------------------- parsing */

const char *ctl_opt(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; cmd->opts[i]; i++)
        if (strncmp(cmd->opts[i], name, n) == 0 &&
            (cmd->opts[i][n] == '\0' || cmd->opts[i][n] == '='))
            return a->val[i];
    return NULL;
}

/* The index of option `name` (n bytes) in cmd->opts, or -1; *takes: it has a value. */
static int find_opt(const struct ctl_cmd *cmd, const char *name, size_t n, int *takes)
{
    for (int i = 0; cmd->opts[i]; i++) {
        const char *o = cmd->opts[i];
        size_t on = strcspn(o, "=");
        if (on == n && strncmp(o, name, n) == 0) {
            *takes = o[on] == '=';
            return i;
        }
    }
    return -1;
}

/*
 * Parses argv[i..] of cmd into a and the common options into ctx; returns
 * -1 after printing the usage error, 1 for --help, 0 otherwise.
 */
static int parse_args(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, int argc, char **argv, int i,
                      struct ctl_args *a)
{
    int only_pos = 0;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (a->npos >= CTL_MAX_POS || a->npos >= cmd->max_pos) {
                ctl_usage(ctx, "unexpected argument '%s'", arg);
                return -1;
            }
            a->pos[a->npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strcmp(arg, "--json") == 0) {
            ctx->json = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            ctl_usage(ctx, "unknown option '%s'", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        int takes = 1, idx = -1;
        const char **slot = NULL;
        if (n == 5 && strncmp(name, "actor", 5) == 0) {
            slot = &ctx->actor;
        } else if (n == 3 && strncmp(name, "why", 3) == 0) {
            slot = &ctx->why;
        } else if ((idx = find_opt(cmd, name, n, &takes)) >= 0) {
            slot = &a->val[idx];
        } else {
            ctl_usage(ctx, "unknown option '--%.*s'", (int)n, name);
            return -1;
        }
        if (!takes) {
            if (value) {
                ctl_usage(ctx, "option '--%.*s' takes no value", (int)n, name);
                return -1;
            }
            *slot = "";
            continue;
        }
        if (!value) {
            if (i + 1 >= argc) {
                ctl_usage(ctx, "option '--%.*s' needs a value", (int)n, name);
                return -1;
            }
            value = argv[++i];
        }
        *slot = value;
    }
    if (a->npos < cmd->min_pos) {
        ctl_usage(ctx, "missing argument (%s)", cmd->synopsis);
        return -1;
    }
    return 0;
}

int ctl_parse_ids(struct ctl_ctx *ctx, const struct ctl_args *a, const char *what,
                  struct mf_buf *out)
{
    mf_buf_reset(out);
    for (size_t i = 0; i < a->npos; i++) {
        char *end;
        errno = 0;
        long long id = strtoll(a->pos[i], &end, 10);
        if (end == a->pos[i] || *end || errno || id <= 0) {
            ctl_usage(ctx, "'%s' is not %s", a->pos[i], what);
            return MF_EDATA;
        }
        mf_buf_appendf(out, "%s%lld", i ? "," : "{", id);
    }
    if (!a->npos)
        mf_buf_appendc(out, '{');
    mf_buf_appendc(out, '}');
    return MF_OK;
}

int ctl_time_opt(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a,
                 const char *name, char *out)
{
    const char *v = ctl_opt(cmd, a, name);
    char err[128];
    int64_t ms;
    if (!v)
        return 0;
    if (mf_time_parse_rfc3339(v, strlen(v), &ms, err, sizeof err) != MF_OK) {
        ctl_usage(ctx, "--%s '%s': %s", name, v, err);
        return -1;
    }
    mf_time_format(ms, out);
    return 1;
}

/* The OS user who runs us: the audit log's actor without --actor. */
static const char *os_user(char *buf, size_t len)
{
    struct passwd pw, *found = NULL;
    char tmp[1024];
    const char *user = getenv("USER");
    if (getpwuid_r(geteuid(), &pw, tmp, sizeof tmp, &found) == 0 && found && pw.pw_name[0])
        snprintf(buf, len, "%s", pw.pw_name);
    else if (user && user[0])
        snprintf(buf, len, "%s", user);
    else
        snprintf(buf, len, "uid:%u", (unsigned)geteuid());
    return buf;
}

/* ---------------------------------------------------------------- main */

int ctl_main(int argc, char **argv)
{
    struct ctl_config cfg = {0};
    struct ctl_ctx ctx = {0};
    struct ctl_args a = {0};
    const struct ctl_cmd *cmd = NULL;
    char err[512], cmdname[64], user[128];
    int status;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_main_help();
        return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    /* A fault build lists its crash points (the kill tests read the list). */
    if (argc == 2 && strcmp(argv[1], "--crash-points") == 0) {
        if (mf_crash_list(stdout) == 0)
            return CTL_EXIT_OK;
        fprintf(stderr, "%s: --crash-points: not a crash build (make crash-build)\n", PROG);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", PROG, MF_VERSION);
        return CTL_EXIT_OK;
    }
    int group_known = 0;
    for (size_t i = 0; i < MF_ARRAY_LEN(cmds); i++) {
        if (strcmp(cmds[i].group, argv[1]) != 0)
            continue;
        group_known = 1;
        if (argc > 2 && strcmp(cmds[i].verb, argv[2]) == 0)
            cmd = &cmds[i];
    }
    if (!cmd) {
        if (group_known && (argc == 2 || strcmp(argv[2], "--help") == 0)) {
            printf("Usage:\n");
            for (size_t i = 0; i < MF_ARRAY_LEN(cmds); i++)
                if (strcmp(cmds[i].group, argv[1]) == 0)
                    printf("  %s %s %s %s\n", PROG, cmds[i].group, cmds[i].verb, cmds[i].synopsis);
            return argc == 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
        }
        fprintf(stderr, "%s: unknown subcommand '%s%s%s' (try %s --help)\n", PROG, argv[1],
                group_known ? " " : "", group_known ? argv[2] : "", PROG);
        return CTL_EXIT_USAGE;
    }
    snprintf(cmdname, sizeof cmdname, "%s %s", cmd->group, cmd->verb);
    ctx.cmd = cmdname;
    int rc = parse_args(&ctx, cmd, argc, argv, 3, &a);
    if (rc != 0) {
        if (rc > 0)
            print_cmd_help(cmd);
        return rc > 0 ? CTL_EXIT_OK : CTL_EXIT_USAGE;
    }
    if (mf_config_load(ctl_config_rows, ctl_config_nrows, &cfg, err, sizeof err) != MF_OK ||
        mf_crash_check_env(err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", PROG, err);
        mf_config_release(ctl_config_rows, ctl_config_nrows, &cfg);
        return CTL_EXIT_USAGE;
    }
    mf_log_init(PROG, cfg.log_level);
    ctx.cfg = &cfg;
    if (!ctx.actor || !ctx.actor[0])
        ctx.actor = os_user(user, sizeof user);
    status = cmd->run(&ctx, cmd, &a);
    if (ctx.conn)
        PQfinish(ctx.conn);
    mf_config_release(ctl_config_rows, ctl_config_nrows, &cfg);
    return status;
}
