/*
 * mf_log: JSON-lines logging to stderr, and the assertion failure path.
 */
#include "mf_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf_buf.h"
#include "mf_json.h"
#include "mf_time.h"
#include "mf_common.h"

int mf_log_min_level = MF_LEVEL_INFO;
static const char *log_prog = "meterflow";

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};

void mf_log_init(const char *prog, int min_level)
{
    log_prog = prog;
    mf_log_min_level = min_level;
}

int mf_log_level_parse(const char *s)
{
    for (int i = MF_LEVEL_DEBUG; i <= MF_LEVEL_ERROR; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return MF_LEVEL_WARN;
    return -1;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

void mf_log_write(int level, const char *comp, const char *fmt, ...)
{
    char msg[1024];
    char ts[MF_TIME_STRLEN];
    char line[8192];
    struct mf_buf b;
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t msglen = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;

    /* A stack buffer: logging must not allocate on the hot path. */
    mf_time_format(mf_now_ms(), ts);
    b.data = line;
    b.len = 0;
    b.cap = sizeof line;
    b.max = sizeof line - 2;
    mf_buf_appends(&b, "{\"ts\":\"");
    mf_buf_appends(&b, ts);
    mf_buf_appends(&b, "\",\"level\":\"");
    mf_buf_appends(&b, level_names[level]);
    mf_buf_appends(&b, "\",\"prog\":\"");
    mf_buf_appends(&b, log_prog);
    mf_buf_appends(&b, "\",\"comp\":\"");
    mf_buf_appends(&b, comp);
    mf_buf_appends(&b, "\",\"msg\":");
    if (mf_json_str(&b, msg, msglen) != MF_OK)
        mf_json_str(&b, msg, 200); /* very long: truncated */
    mf_buf_appends(&b, "}\n");
    write_all(b.data, b.len);
}

void mf_log_raw_from_handler(const char *msg)
{
    static const char pre[] = "{\"level\":\"warn\",\"comp\":\"signal\",\"msg\":\"";
    static const char post[] = "\"}\n";
    write_all(pre, sizeof pre - 1);
    write_all(msg, strlen(msg));
    write_all(post, sizeof post - 1);
}

void mf_assert_fail(const char *cond, const char *file, int line)
{
    mf_log_write(MF_LEVEL_FATAL, "assert", "assertion failed: %s at %s:%d", cond, file, line);
    abort();
}
