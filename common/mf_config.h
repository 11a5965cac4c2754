/*
 * mf_config: configuration from the environment, driven by a table.
 *
 * Each program describes its variables as rows {name, type, default, min,
 * max, offset, help}; the same rows parse the environment, produce the
 * one-line errors (`invalid GW_MAX_READINGS '0': below the minimum 1`),
 * print --help and the docs table. Values land in the program's own config
 * struct at the row's offset:
 *
 *   MF_CFG_STR  -> char *      (owned by the struct; mf_config_release frees it)
 *   MF_CFG_INT  -> int64_t     (min/max enforced)
 *   MF_CFG_DBL  -> double      (finite; min/max enforced)
 *   MF_CFG_BOOL -> bool        (on/off, true/false, yes/no, 1/0)
 *   MF_CFG_ENUM -> int         (index into `choices`, "a|b|c")
 *   MF_CFG_ADDR -> char *      ("host:port", "[v6]:port" or ":port")
 *
 * Thread: main, at start-up.
 */
#ifndef MF_CONFIG_H
#define MF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mf_topics.h"

enum mf_cfg_type { MF_CFG_STR, MF_CFG_INT, MF_CFG_DBL, MF_CFG_BOOL, MF_CFG_ENUM, MF_CFG_ADDR };

enum {
    MF_CFG_REQUIRED = 1 << 0, /* no default: must be set */
    MF_CFG_SECRET = 1 << 1,   /* never echoed in an error or a log line */
};

struct mf_cfg_row {
    const char *name;
    enum mf_cfg_type type;
    const char *def; /* default as text; NULL = none (empty string for STR) */
    double min, max; /* for INT and DBL; min > max means unbounded */
    size_t offset;   /* offsetof(struct <program>_config, field) */
    unsigned flags;
    const char *choices; /* for ENUM: "debug|info|warn|error" */
    const char *help;
};

/*
 * Reads every row's variable (or its default) into cfg. MF_OK, or MF_EDATA
 * with one line in errbuf naming the variable. On failure cfg may hold some
 * values already: call mf_config_release either way.
 */
int mf_config_load(const struct mf_cfg_row *rows, size_t n, void *cfg, char *errbuf, size_t errlen);

/* Frees the strings mf_config_load stored in cfg. */
void mf_config_release(const struct mf_cfg_row *rows, size_t n, void *cfg);

/*
 * Prints the "Environment:" section of --help: each variable on a line of
 * its own starting with two spaces, its default in brackets, then the help.
 */
void mf_config_print_help(FILE *out, const struct mf_cfg_row *rows, size_t n);

/* Splits "host:port" (host may be empty or [v6]); MF_OK or MF_EDATA. */
int mf_config_split_addr(const char *addr, char *host, size_t hostlen, unsigned *port);

/*
 * The common start of every main(): handles --help and --version (prints,
 * returns 1 so main exits 0), refuses unknown arguments (returns -1 after
 * printing usage), and otherwise loads the config (returns -1 after printing
 * the one-line error, 0 on success). `subcommands` lists the ones the
 * program accepts ("migrate"), or NULL; the one given, if any, is stored in
 * *subcommand (NULL otherwise; subcommand may be NULL when subcommands is).
 */
int mf_config_main(int argc, char **argv, const char *prog, const char *summary,
                   const struct mf_cfg_row *rows, size_t n, void *cfg, const char *subcommands,
                   const char **subcommand);

/*
 * The variables several programs share, defined once: name, type, default
 * and help, with the field in the program's own struct T. Topic rows take
 * their default from mf_topics.h (MF_TOPIC_<ENV>) and a word on the role
 * the topic plays for this program.
 */
/* Initializer macros: clang-format 14 takes their brace for a block. */
/* clang-format off */
#define MF_CFG_UNBOUNDED 1, 0 /* min > max: no bounds */
#define MF_CFG_ROW_KAFKA_BROKERS(T, f)                                                             \
    {"KAFKA_BROKERS", MF_CFG_STR, "localhost:9092", MF_CFG_UNBOUNDED, offsetof(T, f), 0, NULL,     \
     "Kafka bootstrap servers, host:port[,host:port...]; any librdkafka property as "             \
     "KAFKA_<PROP> ('_' for '.')"}
#define MF_CFG_ROW_LOG_LEVEL(T, f)                                                                 \
    {"LOG_LEVEL", MF_CFG_ENUM, "info", MF_CFG_UNBOUNDED, offsetof(T, f), 0,                       \
     "debug|info|warn|error", "lowest level logged (JSON lines on stderr)"}
#define MF_CFG_ROW_PG_DSN(T, f, use)                                                               \
    {"PG_DSN", MF_CFG_STR, NULL, MF_CFG_UNBOUNDED, offsetof(T, f),                                 \
     MF_CFG_REQUIRED | MF_CFG_SECRET, NULL,                                                        \
     "PostgreSQL connection string (libpq DSN or URI; never logged): " use}
#define MF_CFG_ROW_METRICS_ADDR(T, f)                                                              \
    {"METRICS_ADDR", MF_CFG_ADDR, "0.0.0.0:9100", MF_CFG_UNBOUNDED, offsetof(T, f), 0, NULL,       \
     "host:port of /metrics, /healthz and /readyz"}
#define MF_CFG_ROW_GROUP_ID(T, f, def)                                                             \
    {"GROUP_ID", MF_CFG_STR, def, MF_CFG_UNBOUNDED, offsetof(T, f), 0, NULL,                       \
     "Kafka consumer group of this program's replicas"}
#define MF_CFG_ROW_TOPIC(T, f, ENV, role)                                                          \
    {"TOPIC_" #ENV, MF_CFG_STR, MF_TOPIC_##ENV, MF_CFG_UNBOUNDED, offsetof(T, f), 0, NULL, role}
/* clang-format on */

#endif
