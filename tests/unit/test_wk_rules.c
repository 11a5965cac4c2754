/*
 * test_wk_rules: the table-driven rule tests (STYLE rule 22). One driver
 * runs every case of tests/data/rules/ *.cases through wk_rules and wk_emit,
 * each case a cmocka test of its own. The format is described in
 * tests/data/rules/README.
 */
#include <glob.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mf_buf.h"
#include "mf_reading.h"
#include "mf_time.h"
#include "wk_config.h"
#include "wk_emit.h"
#include "wk_registry.h"
#include "wk_rules.h"
#include "wk_state.h"
#include "mf_common.h"

struct rcase {
    char name[160];
    char file[256];
    int line;     /* of the "case" line */
    char **lines; /* the case body */
    int *lineno;
    int n;
};

/* The state one case runs against. */
struct run {
    const struct rcase *c;
    int line;
    struct wk_config cfg;
    struct wk_rules_cfg rc;
    struct wk_registry *reg;
    struct wk_store store;
    int64_t now;
    struct wk_result last;
    struct mf_reading last_r;
    struct wk_alert alerts[256];
    int nalerts;
    int nset;
    char *set_names[32];
};

#define FAILC(run, ...)                                                                            \
    do {                                                                                           \
        char m_[4096];                                                                             \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        fail_msg("%s:%d: case '%s': %s", (run)->c->file, (run)->line, (run)->c->name, m_);         \
    } while (0)

static int64_t parse_ts(struct run *run, const char *s)
{
    int64_t ms;
    char err[128];
    if (mf_time_parse_text(s, strlen(s), &ms, err, sizeof err) != MF_OK)
        FAILC(run, "bad time '%s': %s", s, err);
    return ms;
}

static void load_config(struct run *run)
{
    char err[256];
    wk_config_release(&run->cfg);
    memset(&run->cfg, 0, sizeof run->cfg);
    if (wk_config_load(&run->cfg, err, sizeof err) != MF_OK)
        FAILC(run, "config: %s", err);
    wk_rules_cfg_from(&run->rc, &run->cfg);
}

/* Runs one reading through the rules as wk_proc does, and checks it serializes. */
static void process(struct run *run, const char *json)
{
    cJSON *root = NULL;
    char err[256];
    struct mf_reading r;
    if (mf_reading_parse(json, strlen(json), &root, &r, err, sizeof err) != MF_OK)
        FAILC(run, "reading does not parse: %s", err);
    size_t idlen = strlen(r.meter_id);
    const struct wk_meter *m = wk_registry_get(run->reg, r.meter_id, idlen);
    struct wk_state *st = m && m->active
                              ? wk_store_get_or_add(&run->store, r.meter_id, idlen, 0, NULL)
                              : wk_store_get(&run->store, r.meter_id, idlen);
    wk_rules_apply(&run->rc, &r, m, st, run->now, &run->last);

    /* Every result must serialize to JSON that parses back. */
    struct mf_buf b = MF_BUF_INIT;
    struct mf_src src = {0, 0, 0};
    if (wk_emit_scored(&b, &r, &run->last, src) != MF_OK)
        FAILC(run, "scored reading does not serialize");
    for (uint32_t k = 1; k <= run->last.n_interp; k++)
        if (wk_emit_interp(&b, &r, &run->last, k, src) != MF_OK)
            FAILC(run, "interpolated reading does not serialize");
    cJSON *back = cJSON_Parse(b.data);
    if (!back && run->last.n_interp == 0)
        FAILC(run, "output is not JSON: %s", b.data);
    cJSON_Delete(back);
    mf_buf_release(&b);
    for (int a = 0; a < run->last.n_alerts && run->nalerts < 256; a++)
        run->alerts[run->nalerts++] = run->last.alerts[a];
    run->last_r = r;
    run->last_r.object = NULL;
    cJSON_Delete(root);
}

static const char *kv(const char *tok, const char *key)
{
    size_t n = strlen(key);
    return strncmp(tok, key, n) == 0 && tok[n] == '=' ? tok + n + 1 : NULL;
}

/* "a,b,c" of the set bits, in table order. */
static void names_of(uint32_t flags, int reasons_only, char *out, size_t len)
{
    out[0] = '\0';
    for (int f = 0; f < WK_F_COUNT; f++) {
        if (!(flags & (1u << f)) || (reasons_only && !wk_flags[f].reject))
            continue;
        size_t o = strlen(out);
        snprintf(out + o, len - o, "%s%s", o ? "," : "", wk_flags[f].name);
    }
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fmax(fabs(a), fabs(b)));
}

static void check_expect(struct run *run, char *args)
{
    const struct wk_result *res = &run->last;
    char have[400];
    for (char *save = NULL, *tok = strtok_r(args, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        const char *v;
        if (strcmp(tok, "validated") == 0 || strcmp(tok, "quarantine") == 0) {
            int want = tok[0] == 'v' ? WK_VALIDATED : WK_QUARANTINE;
            if ((int)res->outcome != want) {
                names_of(res->flags, 0, have, sizeof have);
                FAILC(run, "outcome %s, want %s (flags %s)",
                      res->outcome == WK_VALIDATED ? "validated" : "quarantine", tok, have);
            }
        } else if ((v = kv(tok, "quality"))) {
            if (res->quality != (int)strtol(v, NULL, 10)) {
                names_of(res->flags, 0, have, sizeof have);
                FAILC(run, "quality %d, want %s (flags %s)", res->quality, v, have);
            }
        } else if ((v = kv(tok, "flags"))) {
            names_of(res->flags, 0, have, sizeof have);
            if (strcmp(have, v) != 0)
                FAILC(run, "flags '%s', want '%s'", have, v);
        } else if ((v = kv(tok, "reasons"))) {
            names_of(res->flags, 1, have, sizeof have);
            if (strcmp(have, v) != 0)
                FAILC(run, "reasons '%s', want '%s'", have, v);
        } else if ((v = kv(tok, "kw"))) {
            if (strcmp(v, "null") == 0 ? res->has_kw
                                       : (!res->has_kw || !near(res->value_kw, strtod(v, NULL))))
                FAILC(run, "value_kw %.17g, want %s", res->has_kw ? res->value_kw : NAN, v);
        } else if ((v = kv(tok, "energy"))) {
            if (!near(res->energy_kwh, strtod(v, NULL)))
                FAILC(run, "energy_kwh %.17g, want %s", res->energy_kwh, v);
        } else if ((v = kv(tok, "tier"))) {
            const char *t = mf_tier_name(res->tier);
            if (strcmp(t, v) != 0)
                FAILC(run, "tier %s, want %s", t, v);
        } else if ((v = kv(tok, "unit"))) {
            if (strcmp(mf_unit_name(res->unit), v) != 0)
                FAILC(run, "unit %s, want %s", mf_unit_name(res->unit), v);
        } else {
            FAILC(run, "unknown expectation '%s'", tok);
        }
    }
}

static void check_alerts(struct run *run, const char *want)
{
    char have[1024] = "";
    for (int i = 0; i < run->nalerts; i++) {
        size_t o = strlen(have);
        snprintf(have + o, sizeof have - o, "%s%s:%s", o ? "," : "",
                 wk_alert_types[run->alerts[i].type].type,
                 run->alerts[i].cleared ? "cleared" : "raised");
    }
    if (strcmp(want, "none") == 0 ? have[0] != '\0' : strcmp(have, want) != 0)
        FAILC(run, "alerts '%s', want '%s'", have, want);
}

static void check_interp(struct run *run, char *args)
{
    const struct wk_result *res = &run->last;
    char *save = NULL, *tok = strtok_r(args, " ", &save);
    if (!tok || (uint32_t)(int)strtol(tok, NULL, 10) != res->n_interp)
        FAILC(run, "%u interpolated readings, want %s", res->n_interp, tok ? tok : "?");
    while ((tok = strtok_r(NULL, " ", &save))) {
        const char *v;
        if ((v = kv(tok, "quality"))) {
            if (res->interp_quality != (int)strtol(v, NULL, 10))
                FAILC(run, "interpolated quality %d, want %s", res->interp_quality, v);
        } else if ((v = kv(tok, "first_kw"))) {
            if (!near(wk_interp_kw(res, 1), strtod(v, NULL)))
                FAILC(run, "first interpolated kW %.17g, want %s", wk_interp_kw(res, 1), v);
        } else if ((v = kv(tok, "first_ts"))) {
            if (wk_interp_ts(res, 1) != parse_ts(run, v))
                FAILC(run, "first interpolated ts differs from %s", v);
        } else if ((v = kv(tok, "last_ts"))) {
            if (wk_interp_ts(res, res->n_interp) != parse_ts(run, v))
                FAILC(run, "last interpolated ts differs from %s", v);
        } else {
            FAILC(run, "unknown interp expectation '%s'", tok);
        }
    }
}

static void cmd_meter(struct run *run, char *args)
{
    struct wk_meter m;
    char *save = NULL, *tok = strtok_r(args, " ", &save);
    memset(&m, 0, sizeof m);
    if (!tok || strlen(tok) > MF_METER_ID_MAX)
        FAILC(run, "meter needs an id");
    memcpy(m.meter_id, tok, strlen(tok));
    m.id_len = (uint8_t)strlen(tok);
    m.max_kw = run->cfg.default_max_kw;
    m.active = true;
    while ((tok = strtok_r(NULL, " ", &save))) {
        const char *v;
        if ((v = kv(tok, "max_kw")))
            m.max_kw = strtod(v, NULL);
        else if ((v = kv(tok, "interval_s")))
            m.interval_s = (int)strtol(v, NULL, 10);
        else if (strcmp(tok, "vacant") == 0)
            m.vacant = true;
        else if (strcmp(tok, "inactive") == 0)
            m.active = false;
        else
            FAILC(run, "unknown meter attribute '%s'", tok);
    }
    wk_registry_put(run->reg, &m);
}

/* gen <id> <start> <step_s> <count> <value[,value...]> [unit]: values cycle */
static void cmd_gen(struct run *run, char *args)
{
    char *save = NULL;
    char *id = strtok_r(args, " ", &save), *start = strtok_r(NULL, " ", &save);
    char *step = strtok_r(NULL, " ", &save), *count = strtok_r(NULL, " ", &save);
    char *value = strtok_r(NULL, " ", &save), *unit = strtok_r(NULL, " ", &save);
    if (!value)
        FAILC(run, "gen wants <id> <start> <step_s> <count> <value> [unit]");
    int64_t t = parse_ts(run, start), dt = (long long)strtol(step, NULL, 10) * 1000;
    char *vals[16];
    int nvals = 0;
    for (char *vs = NULL, *v = strtok_r(value, ",", &vs); v && nvals < 16;
         v = strtok_r(NULL, ",", &vs))
        vals[nvals++] = v;
    if (nvals == 0)
        FAILC(run, "gen wants at least one value");
    for (long i = 0; i < strtol(count, NULL, 10); i++, t += dt) {
        char json[512];
        snprintf(json, sizeof json, "{\"meter_id\":\"%s\",\"ts\":%lld,\"value\":%s%s%s%s}", id,
                 (long long)t, vals[i % nvals], unit ? ",\"unit\":\"" : "", unit ? unit : "",
                 unit ? "\"" : "");
        process(run, json);
    }
}

static void run_case(void **state)
{
    const struct rcase *c = *state;
    struct run *run = mf_xcalloc(1, sizeof *run);
    run->c = c;
    run->line = c->line;

    /* A failed case leaves its `set`s behind (cmocka jumps out): start from none. */
    for (size_t i = 0; i < wk_config_nrows; i++)
        unsetenv(wk_config_rows[i].name);
    setenv("PG_DSN", "host=unused", 1);
    load_config(run);
    run->reg = wk_registry_new();
    wk_store_init(&run->store);
    run->now = parse_ts(run, "2024-03-15T14:30:00Z");

    for (int i = 0; i < c->n; i++) {
        char *line = c->lines[i];
        run->line = c->lineno[i];
        char *sp = strchr(line, ' ');
        char *args = sp ? sp + 1 : line + strlen(line);
        size_t cmdlen = sp ? (size_t)(sp - line) : strlen(line);
#define IS(w) (cmdlen == strlen(w) && strncmp(line, w, cmdlen) == 0)
        if (IS("set")) {
            char *eq = strchr(args, '=');
            if (!eq)
                FAILC(run, "set wants VAR=value");
            *eq = '\0';
            setenv(args, eq + 1, 1);
            run->set_names[run->nset++] = mf_xstrdup(args);
            *eq = '=';
            load_config(run);
        } else if (IS("meter")) {
            cmd_meter(run, args);
        } else if (IS("now")) {
            run->now = parse_ts(run, args);
        } else if (IS("in")) {
            run->nalerts = 0;
            process(run, args);
        } else if (IS("gen")) {
            run->nalerts = 0;
            cmd_gen(run, args);
        } else if (IS("expect")) {
            check_expect(run, args);
        } else if (IS("alerts")) {
            check_alerts(run, args);
        } else if (IS("interp")) {
            check_interp(run, args);
        } else {
            FAILC(run, "unknown command '%.*s'", (int)cmdlen, line);
        }
#undef IS
    }
    for (int i = 0; i < run->nset; i++) {
        unsetenv(run->set_names[i]);
        free(run->set_names[i]);
    }
    wk_store_release(&run->store);
    wk_registry_destroy(run->reg);
    wk_config_release(&run->cfg);
    free(run);
}

/* Reads every case of one file. */
static void load_file(const char *path, struct rcase **cases, size_t *n, size_t *cap)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int lineno = 0;
    struct rcase *cur = NULL;
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, "case ", 5) == 0) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 64;
                *cases = mf_xrealloc(*cases, *cap * sizeof **cases);
            }
            cur = &(*cases)[(*n)++];
            memset(cur, 0, sizeof *cur);
            snprintf(cur->name, sizeof cur->name, "%s", s + 5);
            snprintf(cur->file, sizeof cur->file, "%s", strrchr(path, '/') + 1);
            cur->line = lineno;
            continue;
        }
        if (strcmp(s, "end") == 0) {
            cur = NULL;
            continue;
        }
        if (!cur) {
            fprintf(stderr, "%s:%d: line outside a case\n", path, lineno);
            exit(1);
        }
        cur->lines = mf_xrealloc(cur->lines, (size_t)(cur->n + 1) * sizeof *cur->lines);
        cur->lineno = mf_xrealloc(cur->lineno, (size_t)(cur->n + 1) * sizeof *cur->lineno);
        cur->lines[cur->n] = mf_xstrdup(s);
        cur->lineno[cur->n++] = lineno;
    }
    fclose(f);
}

int main(void)
{
    const char *top = getenv("MF_TOP");
    char pattern[1024];
    glob_t g;
    struct rcase *cases = NULL;
    size_t n = 0, cap = 0;

    snprintf(pattern, sizeof pattern, "%s/tests/data/rules/*.cases", top ? top : ".");
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        fprintf(stderr, "no rule cases at %s\n", pattern);
        return 1;
    }
    for (size_t i = 0; i < g.gl_pathc; i++)
        load_file(g.gl_pathv[i], &cases, &n, &cap);
    globfree(&g);

    struct CMUnitTest *tests = mf_xcalloc(n, sizeof *tests);
    for (size_t i = 0; i < n; i++) {
        tests[i].name = cases[i].name;
        tests[i].test_func = run_case;
        tests[i].initial_state = &cases[i];
    }
    int rc = _cmocka_run_group_tests("wk_rules", tests, n, NULL, NULL);
    free(tests);
    for (size_t i = 0; i < n; i++) {
        for (int l = 0; l < cases[i].n; l++)
            free(cases[i].lines[l]);
        free(cases[i].lines);
        free(cases[i].lineno);
    }
    free(cases);
    return rc;
}
