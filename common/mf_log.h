/*
 * mf_log: one JSON object per line on stderr.
 *
 *   {"ts":"2024-03-15T14:00:00.000Z","level":"info","prog":"ingest-gw",
 *    "comp":"http","msg":"listening on 0.0.0.0:8080"}
 *
 * The level is checked before the arguments are evaluated, and each line is
 * one write(2), so lines from several threads never interleave. Never pass a
 * token, a password or a DSN. Thread: any.
 */
#ifndef MF_LOG_H
#define MF_LOG_H

enum mf_log_level {
    MF_LEVEL_DEBUG = 0,
    MF_LEVEL_INFO,
    MF_LEVEL_WARN,
    MF_LEVEL_ERROR,
    MF_LEVEL_FATAL,
};

extern int mf_log_min_level;

/* Sets the program name (a static string) and the lowest level written. */
void mf_log_init(const char *prog, int min_level);

/* "debug", "info", "warn", "error" to a level; -1 if none of them. */
int mf_log_level_parse(const char *s);

void mf_log_write(int level, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For signal handlers: writes a fixed message with write(2) only. */
void mf_log_raw_from_handler(const char *msg);

#define MF_LOG_AT(lvl, comp, ...)                                                                  \
    do {                                                                                           \
        if ((lvl) >= mf_log_min_level)                                                             \
            mf_log_write((lvl), (comp), __VA_ARGS__);                                              \
    } while (0)

#define MF_LOG_DEBUG(comp, ...) MF_LOG_AT(MF_LEVEL_DEBUG, comp, __VA_ARGS__)
#define MF_LOG_INFO(comp, ...)  MF_LOG_AT(MF_LEVEL_INFO, comp, __VA_ARGS__)
#define MF_LOG_WARN(comp, ...)  MF_LOG_AT(MF_LEVEL_WARN, comp, __VA_ARGS__)
#define MF_LOG_ERROR(comp, ...) MF_LOG_AT(MF_LEVEL_ERROR, comp, __VA_ARGS__)
#define MF_LOG_FATAL(comp, ...) MF_LOG_AT(MF_LEVEL_FATAL, comp, __VA_ARGS__)

#endif
