/* mf_crash: named crash points for the crash-point walk. */
#include "mf_crash.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf_common.h"

#ifdef MF_CRASH_POINTS
/* The linker's bounds of the section every MF_CRASH_POINT adds its name to. */
/* NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): the GNU linker's names */
extern const char *const __start_mf_crash_points[] __attribute__((weak));
extern const char *const __stop_mf_crash_points[] __attribute__((weak));
/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

static size_t point_count(void)
{
    if (!__start_mf_crash_points || !__stop_mf_crash_points)
        return 0;
    return (size_t)(__stop_mf_crash_points - __start_mf_crash_points);
}

static const char *point_at(size_t i)
{
    return __start_mf_crash_points[i];
}
#else
static size_t point_count(void)
{
    return 0;
}

static const char *point_at(size_t i)
{
    (void)i;
    return NULL;
}
#endif

int mf_crash_build(void)
{
#ifdef MF_CRASH_POINTS
    return 1;
#else
    return 0;
#endif
}

static int known(const char *name, size_t len)
{
    for (size_t i = 0; i < point_count(); i++)
        if (strlen(point_at(i)) == len && strncmp(point_at(i), name, len) == 0)
            return 1;
    return 0;
}

/* Splits "<name>:<n>": the name's length and n >= 1; -1 when malformed. */
static int parse_at(const char *v, size_t *name_len, long *n)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v)
        return -1;
    char *end;
    *n = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || *n < 1)
        return -1;
    *name_len = (size_t)(colon - v);
    return 0;
}

int mf_crash_check_env(char *errbuf, size_t errlen)
{
    const char *v = getenv("MF_CRASH_AT");
    if (!v || !*v)
        return 0;
    size_t len;
    long n;
    if (!mf_crash_build()) {
        snprintf(errbuf, errlen,
                 "MF_CRASH_AT: set, but this is not a crash build "
                 "(make crash-build)");
        return -1;
    }
    if (parse_at(v, &len, &n) != 0) {
        snprintf(errbuf, errlen, "MF_CRASH_AT: want <point>:<n> with n >= 1, got '%s'", v);
        return -1;
    }
    if (!known(v, len)) {
        snprintf(errbuf, errlen,
                 "MF_CRASH_AT: no crash point '%.*s' in this program "
                 "(--crash-points lists them)",
                 (int)len, v);
        return -1;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mf_crash_list(FILE *out)
{
    size_t n = point_count();
    if (!mf_crash_build())
        return -1;
    const char **names = mf_xcalloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = point_at(i);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) /* a point in an inlined copy */
            fprintf(out, "%s\n", names[i]);
    free(names);
    return 0;
}

#ifdef MF_CRASH_POINTS
/* The chosen point and reach, parsed once; checked at start by mf_crash_check_env. */
static struct {
    atomic_int state; /* 0 not parsed, 1 parsing, 2 ready */
    char name[128];
    long n;
    atomic_long reached;
} chosen;

static void parse_chosen(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&chosen.state, &expect, 1)) {
        const char *v = getenv("MF_CRASH_AT");
        size_t len;
        if (v && parse_at(v, &len, &chosen.n) == 0 && len < sizeof chosen.name)
            memcpy(chosen.name, v, len);
        atomic_store(&chosen.state, 2);
    }
    while (atomic_load(&chosen.state) != 2)
        ; /* another thread is parsing: a few instructions */
}

void mf_crash_reach(const char *name)
{
    parse_chosen();
    if (chosen.name[0] == '\0' || strcmp(chosen.name, name) != 0)
        return;
    if (atomic_fetch_add(&chosen.reached, 1) + 1 != chosen.n)
        return;
    /* One line for the test's log, unbuffered, then the kill. */
    char line[200];
    int len = snprintf(line, sizeof line, "crash point %s reached (%ld): SIGKILL\n", name,
                       chosen.n);
    if (len > 0)
        (void)!write(STDERR_FILENO, line, (size_t)len < sizeof line ? (size_t)len : sizeof line);
    raise(SIGKILL);
}
#endif
