/*
 * mf_crash: named crash points for the crash-point walk (issue 17).
 *
 * A fault build (`make crash-build`, -DMF_CRASH_POINTS, into build/crash/)
 * compiles MF_CRASH_POINT("prog.step") into a check: when the environment
 * says MF_CRASH_AT=<name>:<n>, the n-th time the named point is reached the
 * process sends itself SIGKILL: no atexit handler, no flush, no goodbye to
 * the broker, exactly what a node failure does between two writes. The
 * release build compiles every point to nothing.
 *
 * Each point also leaves its name in the binary's `mf_crash_points`
 * section, so a fault-build binary can list every point it has
 * (`<program> --crash-points`) without having reached one: the walk test
 * takes its list from the binary, and a new point is walked without
 * editing the test. Thread-safe: points may sit on librdkafka's threads.
 */
#ifndef MF_CRASH_H
#define MF_CRASH_H

#include <stdio.h>

#ifdef MF_CRASH_POINTS
/* Counts a reach of the point; SIGKILLs the process on the chosen one. */
void mf_crash_reach(const char *name);
/* NOLINTBEGIN(bugprone-macro-parentheses): name is a string literal, pasted as one */
#define MF_CRASH_POINT(name)                                                                       \
    do {                                                                                           \
        __attribute__((section("mf_crash_points"),                                                 \
                       used)) static const char *const mf_point_ = name;                           \
        mf_crash_reach(mf_point_);                                                                 \
    } while (0)
/* NOLINTEND(bugprone-macro-parentheses) */
#else
#define MF_CRASH_POINT(name) ((void)0)
#endif

/* 1 in a fault build, 0 in a release build. */
int mf_crash_build(void);
/* Prints the binary's points, one per line, sorted; 0, or -1 in a release build. */
int mf_crash_list(FILE *out);
/*
 * Checks MF_CRASH_AT against the binary's points: 0 when unset or valid,
 * -1 with a one-line reason in errbuf (a malformed value, an unknown point,
 * or any value at all in a release build, which would silently never crash).
 */
int mf_crash_check_env(char *errbuf, size_t errlen);

#endif
