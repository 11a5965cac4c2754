/*
 * bench_cpu.h: where the CPU of a benchmark phase went, from /proc (Linux).
 *
 * Each watched process's CPU time (utime + stime of /proc/PID/stat, all its
 * threads; with its children for a process tree such as PostgreSQL's) is
 * sampled at the phase's start and end, and so is the machine's total from
 * /proc/stat. Shares are of the whole machine (every core), so on 2 cores
 * "kafka 50%" is one core busy in the broker. "other work" is CPU spent by
 * processes nobody asked us to watch (on a shared machine: someone else's).
 *
 * The broker JVM's time is also split by thread: the full Java thread names
 * come from `jcmd PID Thread.print` (JDK; run after the phase's end sample,
 * so it costs the phase nothing), or, without jcmd, from the kernel's
 * 15-character thread names (then network threads and request handlers are
 * both "data-plane-kafk"). Threads are grouped by role (request handlers,
 * network threads, GC, ...) by the prefixes in bench_cpu_role(); the KRaft
 * controller's own request handlers carry the broker's handler names, so
 * "request handlers" holds both (the controller's are nearly idle).
 *
 * Static helpers in a header, so each bench stays one file and one binary.
 */
#ifndef BENCH_CPU_H
#define BENCH_CPU_H

#include <ctype.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_CPU_PROCS   16
#define BENCH_CPU_THREADS 1024
#define BENCH_CPU_ROLES   24

enum { BENCH_CPU_PLAIN = 0, BENCH_CPU_TREE = 1, BENCH_CPU_JVM = 2 };

struct bench_cpu_thr {
    int tid;
    unsigned long long ticks;
    char comm[32];
};

struct bench_cpu {
    int n;
    struct {
        char name[40];
        int pid, kind;
        unsigned long long t0;
        int has_fixed;            /* its CPU over the phase is `fixed` (set by the caller) */
        unsigned long long fixed; /* ticks */
    } p[BENCH_CPU_PROCS];
    unsigned long long total0, idle0;
    int64_t wall0_ms;
    struct bench_cpu_thr *thr0;
    size_t nthr0;
};

__attribute__((unused)) static int64_t bench_cpu_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* utime + stime of a /proc/.../stat file, and its comm; 0 when unreadable. */
__attribute__((unused)) static unsigned long long bench_cpu_stat(const char *path, char *comm,
                                                                 size_t commlen, int *ppid)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) state ppid ..." where comm may hold spaces and parentheses */
    char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    if (!open || !close || close < open)
        return 0;
    if (comm) {
        size_t len = (size_t)(close - open - 1);
        if (len >= commlen)
            len = commlen - 1;
        memcpy(comm, open + 1, len);
        comm[len] = '\0';
    }
    char state;
    int pp;
    unsigned long long ut, st;
    /* fields 3..15: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime */
    if (sscanf(close + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &pp, &ut,
               &st) != 4)
        return 0;
    if (ppid)
        *ppid = pp;
    return ut + st;
}

/* CPU ticks of pid, with its direct children's when tree (a postmaster and its backends). */
__attribute__((unused)) static unsigned long long bench_cpu_proc_ticks(int pid, int tree)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    unsigned long long t = bench_cpu_stat(path, NULL, 0, NULL);
    if (!tree)
        return t;
    DIR *d = opendir("/proc");
    struct dirent *e;
    /* cppcheck-suppress readdirCalled ; one thread reads /proc here */
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int ppid = 0;
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        unsigned long long c = bench_cpu_stat(path, NULL, 0, &ppid);
        if (ppid == pid)
            t += c;
    }
    if (d)
        closedir(d);
    return t;
}

/* The machine's total and idle (idle + iowait) ticks over every core. */
__attribute__((unused)) static void bench_cpu_machine(unsigned long long *total,
                                                      unsigned long long *idle)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    *total = *idle = 0;
    if (!f)
        return;
    /* user nice system idle iowait irq softirq steal (guest time is inside user) */
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            *total += v[i];
        *idle = v[3] + v[4];
    }
    fclose(f);
}

/* Every thread of pid with its ticks; returns the count (at most max). */
__attribute__((unused)) static size_t bench_cpu_threads(int pid, struct bench_cpu_thr *out,
                                                        size_t max)
{
    char path[96];
    size_t n = 0;
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    struct dirent *e;
    /* cppcheck-suppress readdirCalled ; one thread reads /proc here */
    while (d && n < max && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof path, "/proc/%d/task/%.20s/stat", pid, e->d_name);
        out[n].tid = (int)strtol(e->d_name, NULL, 10);
        out[n].ticks = bench_cpu_stat(path, out[n].comm, sizeof out[n].comm, NULL);
        n++;
    }
    if (d)
        closedir(d);
    return n;
}

/*
 * Adds a process to watch: kind BENCH_CPU_PLAIN, BENCH_CPU_TREE (with its
 * children) or BENCH_CPU_JVM (the broker: its threads are named in the report).
 */
__attribute__((unused)) static void bench_cpu_watch(struct bench_cpu *c, const char *name, int pid,
                                                    int kind)
{
    if (c->n >= BENCH_CPU_PROCS || pid <= 0)
        return;
    snprintf(c->p[c->n].name, sizeof c->p[c->n].name, "%s", name);
    c->p[c->n].pid = pid;
    c->p[c->n].kind = kind;
    c->n++;
}

/*
 * Adds processes from a spec "NAME=PID,NAME=PID+,NAME=jvm:PID" (PID+: with
 * its children; jvm: the broker). Returns 0, or -1 on a malformed entry.
 */
__attribute__((unused)) static int bench_cpu_watch_spec(struct bench_cpu *c, const char *spec)
{
    char *s = strdup(spec), *save = NULL;
    int rc = 0;
    for (char *e = strtok_r(s, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(e, '=');
        if (!eq) {
            rc = -1;
            continue;
        }
        *eq = '\0';
        const char *v = eq + 1;
        int kind = BENCH_CPU_PLAIN;
        if (strncmp(v, "jvm:", 4) == 0) {
            kind = BENCH_CPU_JVM;
            v += 4;
        }
        char *end;
        long pid = strtol(v, &end, 10);
        if (*end == '+') {
            kind = BENCH_CPU_TREE;
            end++;
        }
        if (end == v || *end || pid <= 0)
            rc = -1;
        else
            bench_cpu_watch(c, e, (int)pid, kind);
    }
    free(s);
    return rc;
}

/* The phase starts now. */
__attribute__((unused)) static void bench_cpu_begin(struct bench_cpu *c)
{
    free(c->thr0);
    c->thr0 = NULL;
    c->nthr0 = 0;
    for (int i = 0; i < c->n; i++) {
        c->p[i].t0 = c->p[i].has_fixed
                         ? 0
                         : bench_cpu_proc_ticks(c->p[i].pid, c->p[i].kind == BENCH_CPU_TREE);
        if (c->p[i].kind == BENCH_CPU_JVM && !c->thr0) {
            c->thr0 = calloc(BENCH_CPU_THREADS, sizeof *c->thr0);
            if (c->thr0)
                c->nthr0 = bench_cpu_threads(c->p[i].pid, c->thr0, BENCH_CPU_THREADS);
        }
    }
    bench_cpu_machine(&c->total0, &c->idle0);
    c->wall0_ms = bench_cpu_now_ms();
}

/* A Kafka broker thread's role, by the prefix of its Java (or kernel) name. */
__attribute__((unused)) static const char *bench_cpu_role(const char *name)
{
    static const struct {
        const char *prefix, *role;
    } roles[] = {
        {"data-plane-kafka-request-handler", "request handlers"},
        {"data-plane-kafka-network-thread-1-ListenerName(PLAINTEXT)", "network threads"},
        {"data-plane-kafka-network-thread-1-ListenerName(CONTROLLER)", "KRaft controller"},
        {"data-plane-kafka-socket-acceptor", "socket acceptors"},
        {"data-plane-kafk", "network threads + request handlers"}, /* kernel name only */
        {"kafka-scheduler", "scheduler (segments, retention, flush)"},
        {"kafka-log-clean", "log cleaner (compaction)"},
        {"GC Thread", "GC"},
        {"G1 ", "GC"},
        {"C1 CompilerThre", "JIT compiler"},
        {"C2 CompilerThre", "JIT compiler"},
        {"ExpirationReape", "purgatories (acks, fetch waits)"},
        {"kafka-1-raft", "KRaft controller"},
        {"raft-expiration", "KRaft controller"},
        {"quorum-controll", "KRaft controller"},
        {"controller-1", "KRaft controller"},
        {"kafka-1-metadat", "KRaft controller"},
        {"kafka-1-snapsho", "KRaft controller"},
        {"broker-1-to-con", "KRaft controller"},
        {"group-coordinat", "group coordinator"},
        {"group-metadata-", "group coordinator"},
        {"transaction-log", "transaction coordinator"},
        {"TxnMarkerSender", "transaction coordinator"},
        {"AddPartitionsTo", "transaction coordinator"},
        {"VM Thread", "JVM (VM thread)"},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strncmp(name, roles[i].prefix, strlen(roles[i].prefix)) == 0)
            return roles[i].role;
    return "other threads";
}

/* Java thread names by native id (nid) from jcmd; returns the count filled. */
__attribute__((unused)) static size_t bench_cpu_jcmd_names(int pid, int *tids, char (*names)[96],
                                                           size_t max)
{
    char cmd[96], line[1024];
    const char *off = getenv("BENCH_CPU_JCMD");
    if (off && strcmp(off, "off") == 0)
        return 0;
    snprintf(cmd, sizeof cmd, "jcmd %d Thread.print 2>/dev/null", pid);
    FILE *f = popen(cmd, "r");
    size_t n = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (line[0] != '"' || n >= max)
            continue;
        char *q = strchr(line + 1, '"'), *nid = strstr(line, " nid=0x");
        if (!q || !nid)
            continue;
        size_t len = (size_t)(q - line - 1);
        if (len >= sizeof names[0])
            len = sizeof names[0] - 1;
        memcpy(names[n], line + 1, len);
        names[n][len] = '\0';
        tids[n] = (int)strtol(nid + 7, NULL, 16);
        n++;
    }
    if (f)
        pclose(f);
    return n;
}

/*
 * The phase ends now: prints one line of shares of the machine, and for the
 * broker JVM one line of its threads by role (the largest first).
 */
/*
 * CPU time per unit of work (a reading, a record) since bench_cpu_begin:
 * each watched process's over units, in microseconds, and their sum,
 * leaving out the processes named in skip (the load generator). Unlike
 * the shares, it does not move when someone else's work shares the
 * machine, so runs at different loads compare. Takes its own sample.
 */
__attribute__((unused)) static void bench_cpu_per_unit(struct bench_cpu *c, const char *what,
                                                       double units, const char *skip, FILE *out)
{
    double us_per_tick = 1e6 / (double)sysconf(_SC_CLK_TCK), sum = 0;
    char line[1024];
    size_t len = 0;
    if (units <= 0)
        return;
    for (int i = 0; i < c->n && len < sizeof line; i++) {
        if (skip && strcmp(c->p[i].name, skip) == 0)
            continue;
        unsigned long long t1 = c->p[i].has_fixed
                                    ? c->p[i].t0 + c->p[i].fixed
                                    : bench_cpu_proc_ticks(c->p[i].pid,
                                                           c->p[i].kind == BENCH_CPU_TREE);
        double us = (double)(t1 >= c->p[i].t0 ? t1 - c->p[i].t0 : 0) * us_per_tick / units;
        sum += us;
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %.1f", len ? ", " : "",
                                c->p[i].name, us);
    }
    fprintf(out, "cpu a %s: %.1f us (%s)\n", what, sum, line);
}

__attribute__((unused)) static void bench_cpu_report(struct bench_cpu *c, const char *phase,
                                                     FILE *out)
{
    unsigned long long t1[BENCH_CPU_PROCS] = {0}, total1, idle1, ours = 0;
    for (int i = 0; i < c->n; i++)
        t1[i] = c->p[i].has_fixed
                    ? c->p[i].t0 + c->p[i].fixed
                    : bench_cpu_proc_ticks(c->p[i].pid, c->p[i].kind == BENCH_CPU_TREE);
    struct bench_cpu_thr *thr1 = calloc(BENCH_CPU_THREADS, sizeof *thr1);
    size_t nthr1 = 0;
    int jvm = -1;
    for (int i = 0; i < c->n; i++)
        if (c->p[i].kind == BENCH_CPU_JVM && jvm < 0)
            jvm = i;
    if (jvm >= 0 && thr1)
        nthr1 = bench_cpu_threads(c->p[jvm].pid, thr1, BENCH_CPU_THREADS);
    bench_cpu_machine(&total1, &idle1);
    double secs = (double)(bench_cpu_now_ms() - c->wall0_ms) / 1000.0;
    double total = (double)(total1 - c->total0);
    if (total <= 0)
        total = 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    fprintf(out, "cpu, %s (%.1f s, %ld cores, shares of the machine):", phase, secs, cores);
    for (int i = 0; i < c->n; i++) {
        unsigned long long d = t1[i] >= c->p[i].t0 ? t1[i] - c->p[i].t0 : 0;
        ours += d;
        fprintf(out, " %s %.0f%%,", c->p[i].name, 100.0 * (double)d / total);
    }
    double idle = (double)(idle1 - c->idle0), other = total - idle - (double)ours;
    fprintf(out, " other work %.0f%%, idle %.0f%%\n", 100.0 * (other > 0 ? other : 0) / total,
            100.0 * idle / total);

    if (jvm >= 0 && thr1) {
        static int tids[BENCH_CPU_THREADS];
        static char names[BENCH_CPU_THREADS][96];
        size_t nnames = bench_cpu_jcmd_names(c->p[jvm].pid, tids, names, BENCH_CPU_THREADS);
        const char *role[BENCH_CPU_ROLES];
        double ticks[BENCH_CPU_ROLES];
        size_t nroles = 0;
        double jvm_total = (double)(t1[jvm] - c->p[jvm].t0), seen = 0;
        for (size_t k = 0; k < nthr1; k++) {
            unsigned long long before = 0;
            for (size_t j = 0; j < c->nthr0; j++)
                if (c->thr0[j].tid == thr1[k].tid) {
                    before = c->thr0[j].ticks;
                    break;
                }
            double d = thr1[k].ticks > before ? (double)(thr1[k].ticks - before) : 0;
            if (d <= 0)
                continue;
            const char *name = thr1[k].comm;
            for (size_t j = 0; j < nnames; j++)
                if (tids[j] == thr1[k].tid) {
                    name = names[j];
                    break;
                }
            const char *r = bench_cpu_role(name);
            size_t j = 0;
            while (j < nroles && strcmp(role[j], r) != 0)
                j++;
            if (j == nroles && nroles < BENCH_CPU_ROLES) {
                role[nroles] = r;
                ticks[nroles++] = 0;
            }
            if (j < nroles)
                ticks[j] += d;
            seen += d;
        }
        /* threads that ended during the phase took their time with them */
        if (jvm_total > seen && nroles < BENCH_CPU_ROLES) {
            role[nroles] = "threads gone by the end";
            ticks[nroles++] = jvm_total - seen;
        }
        fprintf(out, "cpu, %s, %s %.0f%% by thread role (%s thread names):", phase, c->p[jvm].name,
                100.0 * jvm_total / total, nnames ? "Java" : "kernel");
        double rest = 0;
        int printed = 0;
        for (size_t shown = 0; shown < nroles; shown++) {
            size_t best = 0;
            for (size_t j = 1; j < nroles; j++)
                if (ticks[j] > ticks[best])
                    best = j;
            if (printed >= 8 || ticks[best] / total < 0.005)
                rest += ticks[best];
            else
                fprintf(out, "%s %s %.1f%%", printed++ ? "," : "", role[best],
                        100.0 * ticks[best] / total);
            ticks[best] = -1;
        }
        if (rest > 0)
            fprintf(out, "%s the rest %.1f%%", printed ? "," : "", 100.0 * rest / total);
        fprintf(out, "\n");
    }
    free(thr1);
    free(c->thr0);
    c->thr0 = NULL;
    c->nthr0 = 0;
}

/*
 * One line naming the broker behind a JVM pid, from its command line and
 * Java home: "Apache Kafka 3.9.1, KRaft single node (broker+controller),
 * heap 512m, OpenJDK 17.0.15". Unknown parts are left out.
 */
__attribute__((unused)) static void bench_broker_desc(int pid, char *out, size_t len)
{
    char path[64], cmd[8192], version[32] = "", heap[32] = "", props[512] = "", roles[128] = "";
    char java[64] = "", exe[512];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(cmd, 1, sizeof cmd - 1, f) : 0;
    if (f)
        fclose(f);
    cmd[n] = '\0';
    for (const char *a = cmd; a < cmd + n; a += strlen(a) + 1) {
        const char *k = strstr(a, "/kafka-");
        if (strncmp(a, "-Xmx", 4) == 0)
            snprintf(heap, sizeof heap, "%s", a + 4);
        else if (k && !version[0])
            sscanf(k + 7, "%31[0-9.]", version);
        if (strstr(a, ".properties") && a[0] == '/')
            snprintf(props, sizeof props, "%.500s", a); /* a path; longer ones are not ours */
    }
    f = props[0] ? fopen(props, "r") : NULL;
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "process.roles=", 14) == 0) {
            snprintf(roles, sizeof roles, "%.100s", line + 14);
            roles[strcspn(roles, "\n")] = '\0';
        }
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t el = readlink(path, exe, sizeof exe - 1);
    if (el > 0) {
        exe[el] = '\0';
        char *bin = strstr(exe, "/bin/java");
        if (bin) {
            memcpy(bin, "/release", sizeof "/release");
            f = fopen(exe, "r");
            while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "JAVA_VERSION=\"%31[^\"]\"", java) == 1)
                    break;
            if (f)
                fclose(f);
        }
    }
    for (char *p = roles; *p; p++)
        if (*p == ',')
            *p = '+';
    snprintf(out, len, "Apache Kafka %s, KRaft single node%s%s%s, JVM heap %s%s%s",
             version[0] ? version : "(version unknown)", roles[0] ? " (" : "", roles,
             roles[0] ? ")" : "", heap[0] ? heap : "default", java[0] ? ", OpenJDK " : "", java);
}

#endif
