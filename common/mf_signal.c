/*
 * mf_signal: handlers that only set a flag, and the thread-mask dance that
 * keeps signals off library threads.
 */
#include "mf_signal.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "mf_log.h"
#include "mf_common.h"

volatile sig_atomic_t mf_stop_requested = 0;
volatile sig_atomic_t mf_reload_requested = 0;
static volatile sig_atomic_t deadline_s = MF_SHUTDOWN_DEADLINE_S;

static void on_signal(int sig)
{
    (void)sig;
    if (mf_stop_requested) {
        mf_log_raw_from_handler("second signal: exiting now");
        _exit(130);
    }
    mf_stop_requested = 1;
    /*
     * Whatever a library does with an unreachable broker or database, the
     * process ends within the deadline: SIGALRM's default action terminates
     * it (non-zero, which is safe: offsets and the changelog make a restart
     * lose and repeat nothing).
     */
    if (deadline_s > 0)
        alarm((unsigned)deadline_s);
}

static void on_reload(int sig)
{
    (void)sig;
    mf_reload_requested = 1;
}

void mf_signal_set_deadline(int seconds)
{
    deadline_s = seconds;
}

static void shutdown_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void mf_signal_block(void)
{
    sigset_t set;
    shutdown_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void mf_signal_install(void)
{
    struct sigaction sa;
    sigset_t set;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_reload;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    shutdown_set(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
