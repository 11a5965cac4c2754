/*
 * Integration tests for meterctl against a throw-away PostgreSQL: each
 * subcommand's happy path (registry import, re-import, dry run, export and
 * its round trip, every registry kind, holidays, maintenance add, list
 * and remove) and every refusal (a missing column, a duplicate id, a
 * negative max_kw, an unknown time zone, a non-UTF-8 byte, a bad date, an
 * unknown region, an unknown window id, bad usage, PostgreSQL unreachable),
 * each refusal leaving the tables and the audit log as they were; then
 * the audit log against the list of actions that changed something.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "mf_alloc.h"
#include "mf_buf.h"
#include "mf_harness.h"
#include "mf_common.h"

static struct mf_pgtmp *pg;
static char dir[64] = "/tmp/mf-it-ctl.XXXXXX";
static char dsn_env[300];
/* "action target why actor" of every action that changed something, in order. */
static struct mf_buf audit_want = MF_BUF_INIT;

struct run {
    int status;
    char out[65536]; /* stdout */
    cJSON *json;     /* stdout parsed, when it is JSON */
};

/* Runs meterctl with args (NULL-terminated) and env (or the test's PG_DSN). */
static void ctl_env(struct run *r, const char *const *env, const char *const *args)
{
    struct mf_proc *p = mf_proc_start("meterctl", args, env);
    char line[16384];
    size_t n = 0;
    r->out[0] = '\0';
    while (mf_proc_readline(p, line, sizeof line, 30000) == 0)
        n += (size_t)snprintf(r->out + n, sizeof r->out - n, "%s\n", line);
    r->status = mf_proc_stop(p, 30000);
    r->json = cJSON_Parse(r->out);
}

#define CTL(r, ...)                                                                                \
    do {                                                                                           \
        const char *args_[] = {__VA_ARGS__, NULL};                                                 \
        const char *env_[] = {dsn_env, NULL};                                                      \
        ctl_env((r), env_, args_);                                                                 \
    } while (0)

static void run_release(struct run *r)
{
    cJSON_Delete(r->json);
    r->json = NULL;
}

static double num(const struct run *r, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);
    if (!cJSON_IsNumber(v))
        fail_msg("no number '%s' in: %s", name, r->out);
    return v->valuedouble;
}

static void expect_counts(const struct run *r, int added, int changed, int unchanged)
{
    if (r->status != 0)
        fail_msg("exit %d: %s", r->status, r->out);
    assert_int_equal((int)num(r, "added"), added);
    assert_int_equal((int)num(r, "changed"), changed);
    assert_int_equal((int)num(r, "unchanged"), unchanged);
    assert_int_equal((int)num(r, "refused"), 0);
}

static const char *file(const char *name, const char *content, size_t len)
{
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(content, 1, len, f) != len || fclose(f) != 0)
        mf_die("cannot write %s", p);
    return p;
}
#define FILE_S(name, s) file(name, s, strlen(s))

static char *query(const char *sql)
{
    static char out[4096];
    const char *v = mf_pgtmp_query(pg, sql);
    if (!v)
        mf_die("query failed: %s", sql);
    snprintf(out, sizeof out, "%s", v);
    return out;
}

static void want_audit(const char *action, const char *target, const char *why, const char *actor)
{
    mf_buf_appendf(&audit_want, "%s %s %s %s\n", action, target, why ? why : "-",
                   actor ? actor : "-");
}

/* A fingerprint of every table meterctl writes, and the audit log's length. */
static char *state(void)
{
    static char out[4096];
    snprintf(
        out, sizeof out, "%s",
        query(
            "SELECT md5(coalesce((SELECT string_agg(m::text, ';' ORDER BY meter_id) "
            "FROM (SELECT meter_id, class, max_kw, interval_s, vacant, neighborhood, "
            "region, active, feeder_id, tz FROM meters) m), '')"
            " || coalesce((SELECT string_agg(h::text, ';' ORDER BY day, region) FROM holidays h), "
            "'')"
            " || coalesce((SELECT string_agg(g::text, ';' ORDER BY id) FROM grid_maintenance g), "
            "'')"
            " || coalesce((SELECT string_agg(f::text, ';' ORDER BY feeder_id) FROM feeders f), ''))"
            " || ' ' || (SELECT count(*) FROM audit_log)"));
    return out;
}

/* A refusal: exit status want, and nothing changed anywhere. */
static void expect_refused(struct run *r, int want, const char *before)
{
    if (r->status != want)
        fail_msg("exit %d, want %d: %s", r->status, want, r->out);
    assert_string_equal(state(), before);
}

/* The first error of a refused import: its line, column and a word of its message. */
static void expect_error(const struct run *r, int line, int column, const char *what)
{
    const cJSON *errs = cJSON_GetObjectItemCaseSensitive(r->json, "errors");
    const cJSON *e = cJSON_GetArrayItem(errs, 0);
    if (!e)
        fail_msg("no errors in: %s", r->out);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "error");
    if ((int)cJSON_GetObjectItemCaseSensitive(e, "line")->valuedouble != line ||
        (int)cJSON_GetObjectItemCaseSensitive(e, "column")->valuedouble != column ||
        !strstr(msg->valuestring, what))
        fail_msg("want %d:%d '%s', got: %s", line, column, what, r->out);
}

static int setup(void **state_)
{
    (void)state_;
    pg = mf_pgtmp_start();
    if (!mkdtemp(dir))
        mf_die("mkdtemp failed");
    snprintf(dsn_env, sizeof dsn_env, "PG_DSN=%s", pg->dsn);
    return 0;
}

static int teardown(void **state_)
{
    (void)state_;
    mf_pgtmp_do(pg, "destroy");
    /* The files the tests wrote, then the directory. */
    static const char *const names[] = {"m1.csv", "m2.csv", "export.csv", "f.csv",
                                        "s.csv",  "v.csv",  "bad.csv",    "ok.csv",
                                        "h.csv",  "h2.csv", "hb.csv"};
    char path[128];
    for (size_t i = 0; i < MF_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    mf_buf_release(&audit_want);
    return 0;
}

/* ---------------------------------------------------------------- registry */

static void test_registry_import(void **state_)
{
    (void)state_;
    struct run r;
    const char *v1 = FILE_S("m1.csv", "region,meter_id,max_kw,tz,vacant,neighborhood\n"
                                      "north,M-1,5,Europe/London,no,\"Hill, east\"\n"
                                      "north,M-2,,,yes,\n"
                                      "south,M-3,7.5,Asia/Kolkata,,\n");
    CTL(&r, "registry", "import", v1, "--kind", "meters", "--json", "--actor", "alice", "--why",
        "initial load");
    expect_counts(&r, 3, 0, 0);
    run_release(&r);
    want_audit("registry.import", "meters", "initial load", "alice");
    assert_string_equal(
        query("SELECT string_agg(meter_id || '/' || max_kw || '/' || vacant || '/' "
              "|| coalesce(tz, '-') || '/' || coalesce(neighborhood, '-'), ' ' "
              "ORDER BY meter_id) FROM meters"),
        "M-1/5/false/Europe/London/Hill, east M-2/20/true/-/- M-3/7.5/false/Asia/Kolkata/-");

    /* The same file again: nothing to do, but the import is still on record. */
    CTL(&r, "registry", "import", v1, "--kind", "meters", "--json");
    expect_counts(&r, 0, 0, 3);
    run_release(&r);
    want_audit("registry.import", "meters", NULL, NULL);
    const char *stamp = mf_xstrdup(
        query("SELECT string_agg(updated_at::text, ',' ORDER BY meter_id) FROM meters"));

    /* One changed, one new; a dry run counts them and changes nothing. */
    const char *v2 = FILE_S("m2.csv", "meter_id,max_kw\nM-1,5\nM-2,9\nM-3,7.5\nM-4,3\n");
    char before[4096];
    snprintf(before, sizeof before, "%s", state());
    CTL(&r, "registry", "import", v2, "--kind", "meters", "--dry-run", "--json");
    expect_counts(&r, 1, 1, 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r.json, "dry_run")));
    run_release(&r);
    assert_string_equal(state(), before);
    CTL(&r, "registry", "import", v2, "--kind", "meters", "--json");
    expect_counts(&r, 1, 1, 2);
    run_release(&r);
    want_audit("registry.import", "meters", NULL, NULL);
    /* Columns the file does not name keep their values; unchanged rows are not touched. */
    assert_string_equal(
        query("SELECT max_kw || ' ' || region || ' ' || vacant FROM meters WHERE meter_id = 'M-2'"),
        "9 north true");
    assert_string_equal(query("SELECT (detail->>'added_keys') || (detail->>'changed_keys') FROM "
                              "audit_log ORDER BY id DESC LIMIT 1"),
                        "[\"M-4\"][\"M-2\"]");
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT split_part('%s', ',', 1) = (SELECT updated_at::text FROM meters WHERE "
             "meter_id = 'M-1')",
             stamp);
    assert_string_equal(query(sql), "t");
    free((void *)stamp);

    /* Export, then import what it wrote: every row unchanged. */
    CTL(&r, "registry", "export", "--kind", "meters");
    assert_int_equal(r.status, 0);
    assert_true(strncmp(r.out,
                        "meter_id,class,max_kw,interval_s,vacant,neighborhood,region,active,"
                        "feeder_id,tz\nM-1,,5,60,false,\"Hill, east\",north,true,,Europe/London\n",
                        strlen("meter_id,class,max_kw")) == 0);
    assert_non_null(strstr(r.out, "M-1,,5,60,false,\"Hill, east\",north,true,,Europe/London\n"));
    const char *exported = file("export.csv", r.out, strlen(r.out));
    run_release(&r);
    CTL(&r, "registry", "import", exported, "--kind", "meters", "--json");
    expect_counts(&r, 0, 0, 4);
    run_release(&r);
    want_audit("registry.import", "meters", NULL, NULL);
    CTL(&r, "registry", "export", "--kind", "meters", "--json");
    assert_int_equal(r.status, 0);
    assert_int_equal(cJSON_GetArraySize(r.json), 4);
    const cJSON *m1 = cJSON_GetArrayItem(r.json, 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(m1, "vacant")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(m1, "class")));
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(m1, "max_kw")->valuedouble, 5);
    run_release(&r);

    /* The other registries. */
    CTL(&r, "registry", "import", FILE_S("f.csv", "feeder_id,region,rated_kw\nF-1,north,1500\n"),
        "--kind", "feeders", "--json");
    expect_counts(&r, 1, 0, 0);
    run_release(&r);
    want_audit("registry.import", "feeders", NULL, NULL);
    CTL(&r, "registry", "import",
        FILE_S("s.csv", "station_id,region,lat,lon\nLHR,west,51.47,-0.45\n"), "--kind", "stations",
        "--json");
    expect_counts(&r, 1, 0, 0);
    run_release(&r);
    want_audit("registry.import", "weather_stations", NULL, NULL);
    CTL(&r, "registry", "import",
        FILE_S("v.csv", "vehicle_id,meter_id,battery_kwh,model\nEV-7,M-1,75,\"Model \"\"3\"\"\"\n"),
        "--kind", "vehicles", "--json");
    expect_counts(&r, 1, 0, 0);
    run_release(&r);
    want_audit("registry.import", "vehicles", NULL, NULL);
    assert_string_equal(query("SELECT model FROM vehicles"), "Model \"3\"");
}

static void test_registry_refusals(void **state_)
{
    (void)state_;
    struct run r;
    char before[4096];
    snprintf(before, sizeof before, "%s", state());
    static const struct {
        const char *csv;
        int line, column;
        const char *what;
    } bad[] = {
        {"max_kw,region\n5,north\n", 1, 0, "missing column 'meter_id'"},
        {"meter_id,max_kw\nM-9,5\nM-1,6\nM-9,7\n", 4, 1, "duplicate key 'M-9' (also on line 2)"},
        {"meter_id,max_kw\nM-9,5\nM-1,-6\n", 3, 2, "must be above 0"},
        {"meter_id,tz\nM-9,Europe/London\nM-1,Mars/Olympus_Mons\n", 3, 2, "unknown time zone"},
        {"meter_id,region\nM-9,north\nM-1,s\xfc"
         "d\n",
         3, 2, "not UTF-8"},
        {"meter_id,region\nM-9,north\nM-1\n", 3, 2, "missing field"},
    };
    for (size_t i = 0; i < MF_ARRAY_LEN(bad); i++) {
        CTL(&r, "registry", "import", FILE_S("bad.csv", bad[i].csv), "--kind", "meters", "--json");
        expect_refused(&r, 1, before);
        expect_error(&r, bad[i].line, bad[i].column, bad[i].what);
        run_release(&r);
    }
    /* Also refused on a dry run, with the same exit status. */
    CTL(&r, "registry", "import", FILE_S("bad.csv", "meter_id,max_kw\nM-1,-1\n"), "--kind",
        "meters", "--dry-run");
    expect_refused(&r, 1, before);
    run_release(&r);

    /* Bad usage: exit 2. */
    const char *ok = FILE_S("ok.csv", "meter_id\nM-1\n");
    CTL(&r, "registry", "import", ok);
    expect_refused(&r, 2, before);
    run_release(&r);
    CTL(&r, "registry", "import", ok, "--kind", "holidays");
    expect_refused(&r, 2, before);
    run_release(&r);
    CTL(&r, "registry", "import", ok, "--kind", "meters", "--force");
    expect_refused(&r, 2, before);
    run_release(&r);
    CTL(&r, "registry", "import", "--kind", "meters");
    expect_refused(&r, 2, before);
    run_release(&r);
    CTL(&r, "registry", "frobnicate");
    expect_refused(&r, 2, before);
    run_release(&r);
    const char *no_dsn[] = {"PG_DSN=", NULL};
    const char *args[] = {"registry", "export", "--kind", "meters", NULL};
    ctl_env(&r, no_dsn, args);
    expect_refused(&r, 2, before);
    run_release(&r);
    /* --help of a subcommand needs no database. */
    const char *help[] = {"registry", "import", "--help", NULL};
    ctl_env(&r, no_dsn, help);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--dry-run"));
    run_release(&r);

    /* A file that cannot be read, PostgreSQL unreachable: exit 1, a clear error. */
    CTL(&r, "registry", "import", "/nonexistent/m.csv", "--kind", "meters", "--json");
    expect_refused(&r, 1, before);
    assert_non_null(strstr(r.out, "cannot open"));
    run_release(&r);
    char down[128];
    snprintf(down, sizeof down, "PG_DSN=host=127.0.0.1 port=%u dbname=x connect_timeout=2",
             mf_free_port());
    const char *down_env[] = {down, NULL};
    const char *imp[] = {"registry", "import", ok, "--kind", "meters", "--json", NULL};
    ctl_env(&r, down_env, imp);
    expect_refused(&r, 1, before);
    assert_non_null(strstr(r.out, "cannot connect to PostgreSQL"));
    run_release(&r);
}

/* ---------------------------------------------------------------- holidays */

static void test_holidays(void **state_)
{
    (void)state_;
    struct run r;
    CTL(&r, "holidays", "import",
        FILE_S("h.csv", "day,region,name\n2026-12-25,,Christmas\n2026-12-26,north,Boxing Day\n"
                        "2024-02-29,south,Leap\n"),
        "--json", "--why", "calendar 2026");
    expect_counts(&r, 3, 0, 0);
    run_release(&r);
    want_audit("holidays.import", "holidays", "calendar 2026", NULL);
    /* Renaming one: changed; the null region is one key, not a new row. */
    CTL(&r, "holidays", "import", FILE_S("h2.csv", "name,day,region\nXmas,2026-12-25,\n"),
        "--json");
    expect_counts(&r, 0, 1, 0);
    run_release(&r);
    want_audit("holidays.import", "holidays", NULL, NULL);
    assert_string_equal(
        query("SELECT count(*) || ' ' || string_agg(name, ',' ORDER BY day) FROM holidays"),
        "3 Leap,Xmas,Boxing Day");

    char before[4096];
    snprintf(before, sizeof before, "%s", state());
    CTL(&r, "holidays", "import",
        FILE_S("hb.csv", "day,region,name\n2027-01-01,,New Year\n2027-02-29,,No\n"), "--json");
    expect_refused(&r, 1, before);
    expect_error(&r, 3, 1, "not a date");
    run_release(&r);
    CTL(&r, "holidays", "import",
        FILE_S("hb.csv", "day,region,name\n2027-01-01,,New Year\n2027-01-02,atlantis,x\n"),
        "--json");
    expect_refused(&r, 1, before);
    expect_error(&r, 3, 2, "unknown region");
    run_release(&r);
}

/* ---------------------------------------------------------------- maintenance */

static void test_maintenance(void **state_)
{
    (void)state_;
    struct run r;
    CTL(&r, "maintenance", "add", "--region", "north", "--from", "2026-12-01T00:00:00Z", "--to",
        "2026-12-01T06:00:00+02:00", "--note", "feeder F-1 swap", "--json", "--actor", "bob");
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.out);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(r.json, "window");
    int id1 = (int)cJSON_GetObjectItemCaseSensitive(w, "id")->valuedouble;
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(w, "to")->valuestring,
                        "2026-12-01T04:00:00.000Z");
    run_release(&r);
    char target[64];
    snprintf(target, sizeof target, "grid_maintenance/%d", id1);
    want_audit("maintenance.add", target, NULL, "bob");
    CTL(&r, "maintenance", "add", "--region", "south", "--from", "2026-12-05T00:00:00Z", "--to",
        "2026-12-06T00:00:00Z");
    assert_int_equal(r.status, 0);
    run_release(&r);
    int id2 = (int)strtol(query("SELECT max(id) FROM grid_maintenance"), NULL, 10);
    char target2[64];
    snprintf(target2, sizeof target2, "grid_maintenance/%d", id2);
    want_audit("maintenance.add", target2, NULL, NULL);

    /* list: all, by region, by overlap with [from, to). */
    CTL(&r, "maintenance", "list", "--json");
    assert_int_equal(cJSON_GetArraySize(r.json), 2);
    run_release(&r);
    CTL(&r, "maintenance", "list", "--json", "--region", "south");
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    run_release(&r);
    CTL(&r, "maintenance", "list", "--json", "--from", "2026-12-01T04:00:00Z", "--to",
        "2026-12-05T00:00:00Z");
    assert_int_equal(cJSON_GetArraySize(r.json), 0); /* both windows only touch it */
    run_release(&r);
    CTL(&r, "maintenance", "list");
    assert_non_null(strstr(r.out, "feeder F-1 swap"));
    run_release(&r);

    char before[4096], id_s[32], missing[32];
    snprintf(before, sizeof before, "%s", state());
    CTL(&r, "maintenance", "add", "--region", "atlantis", "--from", "2026-12-01T00:00:00Z", "--to",
        "2026-12-02T00:00:00Z");
    expect_refused(&r, 1, before);
    run_release(&r);
    CTL(&r, "maintenance", "add", "--region", "north", "--from", "2026-12-02T00:00:00Z", "--to",
        "2026-12-02T00:00:00Z");
    expect_refused(&r, 2, before);
    run_release(&r);
    CTL(&r, "maintenance", "add", "--region", "north", "--from", "tomorrow", "--to",
        "2026-12-02T00:00:00Z");
    expect_refused(&r, 2, before);
    run_release(&r);
    CTL(&r, "maintenance", "add", "--region", "north");
    expect_refused(&r, 2, before);
    run_release(&r);
    /* remove: an id that does not exist refuses the others too. */
    snprintf(id_s, sizeof id_s, "%d", id1);
    snprintf(missing, sizeof missing, "%d", id2 + 100);
    CTL(&r, "maintenance", "remove", id_s, missing, "--json");
    expect_refused(&r, 1, before);
    run_release(&r);
    CTL(&r, "maintenance", "remove", "x1");
    expect_refused(&r, 2, before);
    run_release(&r);
    CTL(&r, "maintenance", "remove", id_s, "--why", "done early", "--json");
    assert_int_equal(r.status, 0);
    assert_int_equal((int)num(&r, "removed"), 1);
    run_release(&r);
    want_audit("maintenance.remove", target, "done early", NULL);
    assert_string_equal(query("SELECT count(*) FROM grid_maintenance"), "1");
}

/* ---------------------------------------------------------------- audit */

static void test_audit_matches_actions(void **state_)
{
    (void)state_;
    char *got = query("SELECT string_agg(action || ' ' || coalesce(target, '-') || ' ' || "
                      "coalesce(why, '-') || ' ' || CASE WHEN actor IN ('alice', 'bob') THEN actor "
                      "ELSE '-' END, E'\\n' ORDER BY id) FROM audit_log");
    MF_ASSERT(audit_want.len > 0);
    audit_want.data[--audit_want.len] = '\0'; /* psql's output loses the last newline */
    assert_string_equal(got, audit_want.data);
    /* Without --actor the OS user acts. */
    struct passwd pwbuf, *pw = NULL;
    char pwtmp[1024], sql[256];
    assert_int_equal(getpwuid_r(geteuid(), &pwbuf, pwtmp, sizeof pwtmp, &pw), 0);
    assert_non_null(pw);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FILTER (WHERE actor = '%s') || ' ' || "
             "count(*) FILTER (WHERE actor NOT IN ('alice', 'bob')) FROM audit_log",
             pw->pw_name);
    const char *counts = query(sql);
    char a[32], b[32];
    assert_int_equal(sscanf(counts, "%31s %31s", a, b), 2);
    assert_string_equal(a, b);
    assert_true(strtol(a, NULL, 10) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_import),
        cmocka_unit_test(test_registry_refusals),
        cmocka_unit_test(test_holidays),
        cmocka_unit_test(test_maintenance),
        cmocka_unit_test(test_audit_matches_actions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
