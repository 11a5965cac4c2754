/*
 * bench_cpu: bench_cpu.h for the shell benchmarks.
 *
 *   bench_cpu describe PID
 *       one line naming the broker JVM PID (Kafka version, KRaft roles,
 *       heap, Java)
 *   bench_cpu run -o FILE PHASE NAME [NAME=PID|NAME=PID+|NAME=jvm:PID]... -- CMD [ARG]...
 *       runs CMD (stdin, stdout and stderr are ours) and, when it has
 *       exited, appends to FILE where the machine's CPU went meanwhile: CMD
 *       itself as NAME (its own and its threads' time, from wait4) and every
 *       process listed (PID+: with its children; jvm:PID: the broker, its
 *       threads by role). Exits with CMD's status.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "bench_cpu.h"

static int usage(void)
{
    fprintf(stderr, "usage: bench_cpu describe PID\n"
                    "       bench_cpu run -o FILE PHASE NAME [NAME=PID[+]|NAME=jvm:PID]... -- "
                    "CMD [ARG]...\n");
    return 2;
}

int main(int argc, char **argv)
{
    char desc[512];
    if (argc == 3 && strcmp(argv[1], "describe") == 0) {
        bench_broker_desc((int)strtol(argv[2], NULL, 10), desc, sizeof desc);
        printf("%s\n", desc);
        return 0;
    }
    if (argc < 7 || strcmp(argv[1], "run") != 0 || strcmp(argv[2], "-o") != 0)
        return usage();
    const char *file = argv[3], *phase = argv[4], *name = argv[5];
    static struct bench_cpu c;
    int i = 6;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (bench_cpu_watch_spec(&c, argv[i]) != 0) {
            fprintf(stderr,
                    "bench_cpu: bad process '%s' (want NAME=PID, NAME=PID+ or NAME=jvm:PID)\n",
                    argv[i]);
            return 2;
        }
    if (i + 1 >= argc)
        return usage();
    char **cmd = &argv[i + 1];
    FILE *out = fopen(file, "a");
    if (!out) {
        perror(file);
        return 1;
    }

    /* The command comes first in the report; its CPU comes from wait4 once it is gone. */
    if (c.n == BENCH_CPU_PROCS)
        c.n--;
    memmove(&c.p[1], &c.p[0], sizeof c.p[0] * (size_t)c.n);
    c.n++;
    memset(&c.p[0], 0, sizeof c.p[0]);
    snprintf(c.p[0].name, sizeof c.p[0].name, "%s", name);
    c.p[0].has_fixed = 1;
    bench_cpu_begin(&c);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execvp(cmd[0], cmd);
        perror(cmd[0]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        ;
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long usecs = (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
                                   1000000ULL +
                               (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    c.p[0].fixed = usecs * (unsigned long long)hz / 1000000ULL;
    c.p[0].has_fixed = 1;
    bench_cpu_report(&c, phase, out);
    fclose(out);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
