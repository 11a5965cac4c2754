/*
 * mf_common: what every meterflow .c file includes last.
 *
 * Assertions that stay on in release builds, the error codes, the
 * allocation wrappers, and the banned-functions list (which must come after
 * every system header, so this file is included after them).
 */
#ifndef MF_COMMON_H
#define MF_COMMON_H

#include "mf_err.h"
#include "mf_alloc.h"

/* Logs file:line and the condition to stderr, then aborts. */
void mf_assert_fail(const char *cond, const char *file, int line) __attribute__((noreturn));

/* An internal invariant: a failure is a bug, in release builds too. */
#define MF_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            mf_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)

#define MF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#include "mf_banned.h"

#endif
