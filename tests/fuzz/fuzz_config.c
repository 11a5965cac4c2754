/*
 * libFuzzer target: configuration values (common/mf_config), the text an
 * operator's environment hands every program. The input is split at '\n'
 * into one value per row type (string, int, double, bool, enum, address,
 * a secret address); mf_config_load must accept or refuse each with a one-line
 * error, never crash, never echo a secret, and keep numbers in bounds.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_config.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A value longer than this is cut (the runs use -max_len=65536). */
enum { FZ_MAX_VALUE = 65536 };

struct fz_config {
    char *str, *addr, *secret;
    int64_t num;
    double dbl;
    bool flag;
    int level;
};

/* clang-format off */
static const struct mf_cfg_row rows[] = {
    {"FZ_STR", MF_CFG_STR, "", MF_CFG_UNBOUNDED, offsetof(struct fz_config, str), 0, NULL, "s"},
    {"FZ_INT", MF_CFG_INT, "1", 1, 1000000, offsetof(struct fz_config, num), 0, NULL, "i"},
    {"FZ_DBL", MF_CFG_DBL, "0.5", 0, 1e6, offsetof(struct fz_config, dbl), 0, NULL, "d"},
    {"FZ_BOOL", MF_CFG_BOOL, "off", MF_CFG_UNBOUNDED, offsetof(struct fz_config, flag), 0, NULL, "b"},
    {"FZ_ENUM", MF_CFG_ENUM, "info", MF_CFG_UNBOUNDED, offsetof(struct fz_config, level), 0,
     "debug|info|warn|error", "e"},
    {"FZ_ADDR", MF_CFG_ADDR, ":1", MF_CFG_UNBOUNDED, offsetof(struct fz_config, addr), 0, NULL, "a"},
    {"FZ_SECRET", MF_CFG_ADDR, NULL, MF_CFG_UNBOUNDED, offsetof(struct fz_config, secret),
     MF_CFG_REQUIRED | MF_CFG_SECRET, NULL, "p"},
};
/* clang-format on */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* putenv with storage of our own: setenv would keep a copy of every
     * value ever set (glibc never frees them), which an hour-long run
     * grows past the fuzzer's memory limit. */
    static char env[MF_ARRAY_LEN(rows)][FZ_MAX_VALUE + 32];
    const char *line = (const char *)data, *end = line + size;
    for (size_t r = 0; r < MF_ARRAY_LEN(rows); r++) {
        if (!line) {
            unsetenv(rows[r].name);
            continue;
        }
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = (size_t)((nl ? nl : end) - line);
        if (len > FZ_MAX_VALUE)
            len = FZ_MAX_VALUE;
        int n = snprintf(env[r], sizeof env[r], "%s=", rows[r].name);
        memcpy(env[r] + n, line, len);
        env[r][n + (int)len] = '\0';
        putenv(env[r]);
        line = nl ? nl + 1 : NULL;
    }
    struct fz_config cfg = {0};
    char err[512];
    if (mf_config_load(rows, MF_ARRAY_LEN(rows), &cfg, err, sizeof err) == MF_OK) {
        MF_ASSERT(cfg.num >= 1 && cfg.num <= 1000000);
        MF_ASSERT(isfinite(cfg.dbl) && cfg.dbl >= 0 && cfg.dbl <= 1e6);
        MF_ASSERT(cfg.level >= 0 && cfg.level <= 3);
        MF_ASSERT(cfg.secret != NULL);
    } else {
        MF_ASSERT(strchr(err, '\n') == NULL); /* one line */
        /* An error about the secret never shows its value: it is one of the
         * fixed texts below, which carry nothing of the input. (Looking for
         * the value in the text instead fails when the value is a word of
         * the text itself, e.g. "wan" in "want host:port".) */
        static const char *const secret_errors[] = {
            "invalid FZ_SECRET: want host:port",
            "invalid FZ_SECRET '': empty: p",
            "missing FZ_SECRET: p",
        };
        if (strncmp(err, "invalid FZ_SECRET", 17) == 0 ||
            strncmp(err, "missing FZ_SECRET", 17) == 0) {
            bool known = false;
            for (size_t i = 0; i < MF_ARRAY_LEN(secret_errors); i++)
                known = known || strcmp(err, secret_errors[i]) == 0;
            MF_ASSERT(known);
        }
    }
    mf_config_release(rows, MF_ARRAY_LEN(rows), &cfg);
    return 0;
}
