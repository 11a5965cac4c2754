/*
 * mf_signal: graceful shutdown on SIGTERM/SIGINT.
 *
 * The first signal sets mf_stop_requested; the program drains to a deadline
 * and exits 0. A second signal exits at once with status 130 (the operator
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

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and its future threads). */
void mf_signal_block(void);
/* Installs the handlers and unblocks the signals in the calling thread. */
void mf_signal_install(void);

#endif
