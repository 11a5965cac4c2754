/*
 * mf_signal: graceful shutdown on SIGTERM/SIGINT; SIGHUP asks a program to
 * reload what it reads from files (ingest-gw: its tokens), never to stop.
 *
 * The first signal sets mf_stop_requested and arms a SIGALRM deadline
 * (MF_SHUTDOWN_DEADLINE_S); the program drains and exits 0 before it, or
 * the alarm ends it. A second signal exits at once with status 130 (the operator
 * insists). SIGPIPE is ignored (a client hanging up is not fatal).
 *
 * librdkafka and libmicrohttpd start threads that inherit the signal mask,
 * and a signal landing on one of them is delivered there. So the order is:
 * mf_signal_block() before creating any thread, then mf_signal_install()
 * in the main thread once the threads exist, which unblocks there only.
 */
#ifndef MF_SIGNAL_H
#define MF_SIGNAL_H

#include <signal.h>

extern volatile sig_atomic_t mf_stop_requested;
/* Set by SIGHUP; the program's main loop clears it and reloads. */
extern volatile sig_atomic_t mf_reload_requested;

/* DESIGN §1: a program exits within 30 s of SIGTERM. */
#define MF_SHUTDOWN_DEADLINE_S 30

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and its future threads). */
void mf_signal_block(void);
/*
 * Seconds after the first signal at which the process is terminated by
 * SIGALRM if it has not exited by itself (0: no deadline). Call before
 * mf_signal_install.
 */
void mf_signal_set_deadline(int seconds);

/* Installs the handlers and unblocks the signals in the calling thread. */
void mf_signal_install(void);

#endif
