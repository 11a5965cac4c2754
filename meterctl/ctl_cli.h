/*
 * ctl_cli: meterctl's subcommands as rows, and what they share: the
 * option parser, --help per subcommand, --json, the actor, and the exit
 * codes (0 done, 1 failed: nothing changed, 2 bad usage or configuration).
 * A subcommand's run gets the parsed arguments and prints its own result;
 * errors go through ctl_fail / ctl_usage so they read the same everywhere
 * (one line on stderr, and {"ok":false,"error":...} on stdout with --json).
 * Thread: main.
 */
#ifndef CTL_CLI_H
#define CTL_CLI_H

#include <stddef.h>

#include "ctl_config.h"
#include "mf_buf.h"

enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2 };

#define CTL_MAX_OPTS 8
#define CTL_MAX_POS  256

struct pg_conn;

/* What every subcommand runs with. */
struct ctl_ctx {
    const struct ctl_config *cfg;
    const char *cmd;      /* "registry import": the prefix of its messages */
    int json;             /* --json: one JSON document on stdout */
    const char *actor;    /* --actor, else the OS user */
    const char *why;      /* --why, or NULL */
    struct pg_conn *conn; /* ctl_db's connection, once opened */
};

struct ctl_cmd;

/* The arguments after "<group> <verb>". */
struct ctl_args {
    const char *val[CTL_MAX_OPTS]; /* cmd->opts[i]'s value ("" for a flag), NULL when absent */
    const char *pos[CTL_MAX_POS];  /* the positional arguments */
    size_t npos;
};

struct ctl_cmd {
    const char *group, *verb;
    const char *synopsis; /* "FILE.csv --kind KIND [--dry-run]" */
    const char *help;     /* what it does, a few lines */
    /* Its own options, NULL-terminated: "kind=" takes a value, "dry-run" is a flag. */
    const char *const *opts;
    size_t min_pos, max_pos;
    int (*run)(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a);
};

/* Runs meterctl; returns main()'s exit status. */
int ctl_main(int argc, char **argv);

/* The value of cmd's option name ("kind"), or NULL when not given. */
const char *ctl_opt(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name);

/*
 * The positional arguments as ids (positive integers) in a PostgreSQL
 * array literal "{1,2}" in out; MF_OK, or MF_EDATA after ctl_usage naming
 * `what` ("a window id").
 */
int ctl_parse_ids(struct ctl_ctx *ctx, const struct ctl_args *a, const char *what,
                  struct mf_buf *out);

/*
 * Option `name` as an RFC 3339 time, written in DESIGN §3's UTC form into
 * out (MF_TIME_STRLEN): 0 absent, 1 set, -1 after ctl_usage.
 */
int ctl_time_opt(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, const struct ctl_args *a,
                 const char *name, char *out);

/* Reports a failure (exit 1): "meterctl <cmd>: <msg>". Returns CTL_EXIT_FAIL. */
int ctl_fail(struct ctl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports bad usage (exit 2) with a hint to --help. Returns CTL_EXIT_USAGE. */
int ctl_usage(struct ctl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
