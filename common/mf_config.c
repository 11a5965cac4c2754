/*
 * mf_config: table-driven parsing of environment variables, --help and
 * --version. Strict: trailing junk, out-of-range numbers and unknown enum
 * values are refused at start with one line naming the variable.
 */
#include "mf_config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mf_common.h"

/* The field of type `type` at row->offset in cfg. Through void *: offsetof
 * gives a properly aligned offset, which -Wcast-align (clang) cannot know. */
#define FIELD(cfg, row, type) ((type *)(void *)((char *)(cfg) + (row)->offset))

static int bounded(const struct mf_cfg_row *r)
{
    return r->min <= r->max;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "on", "true", "yes"};
    static const char *const no[] = {"0", "off", "false", "no"};
    for (size_t i = 0; i < MF_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return MF_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return MF_OK;
        }
    }
    return MF_EDATA;
}

/* Index of v in "a|b|c", or -1. */
static int parse_choice(const char *choices, const char *v)
{
    size_t vlen = strlen(v);
    int idx = 0;
    for (const char *p = choices; *p; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncasecmp(p, v, len) == 0)
            return idx;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

int mf_config_split_addr(const char *addr, char *host, size_t hostlen, unsigned *port)
{
    const char *colon;
    const char *h = addr;
    size_t hlen;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return MF_EDATA;
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return MF_EDATA;
        hlen = (size_t)(colon - addr);
        if (memchr(addr, ':', hlen)) /* an unbracketed v6 address */
            return MF_EDATA;
    }
    if (hlen >= hostlen)
        return MF_EDATA;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || errno || p < 0 || p > 65535)
        return MF_EDATA;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned)p;
    return MF_OK;
}

/* Parses one value v of row r into cfg; on error writes the reason. */
static int parse_value(const struct mf_cfg_row *r, const char *v, void *cfg, char *why,
                       size_t whylen)
{
    char *end;

    switch (r->type) {
    case MF_CFG_STR:
        free(*FIELD(cfg, r, char *));
        *FIELD(cfg, r, char *) = mf_xstrdup(v);
        return MF_OK;
    case MF_CFG_ADDR: {
        char host[256];
        unsigned port;
        if (mf_config_split_addr(v, host, sizeof host, &port) != MF_OK) {
            snprintf(why, whylen, "want host:port");
            return MF_EDATA;
        }
        free(*FIELD(cfg, r, char *));
        *FIELD(cfg, r, char *) = mf_xstrdup(v);
        return MF_OK;
    }
    case MF_CFG_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (*v != '\0' && (*end == 'e' || *end == 'E' || *end == '.')) {
            /* 1e6 or 2.0: fine when it is a whole number in range */
            errno = 0;
            double d = strtod(v, &end);
            if (*end || errno || !isfinite(d) || d != floor(d) || fabs(d) > 9.0e15) {
                snprintf(why, whylen, "not an integer");
                return MF_EDATA;
            }
            x = (long long)d;
        } else if (*v == '\0' || *end || errno) {
            snprintf(why, whylen, "not an integer");
            return MF_EDATA;
        }
        if (bounded(r) && ((double)x < r->min || (double)x > r->max)) {
            snprintf(why, whylen, "out of range %.0f..%.0f", r->min, r->max);
            return MF_EDATA;
        }
        *FIELD(cfg, r, int64_t) = x;
        return MF_OK;
    }
    case MF_CFG_DBL: {
        errno = 0;
        double x = strtod(v, &end);
        if (*v == '\0' || *end || errno || !isfinite(x)) {
            snprintf(why, whylen, "not a finite number");
            return MF_EDATA;
        }
        if (bounded(r) && (x < r->min || x > r->max)) {
            snprintf(why, whylen, "out of range %g..%g", r->min, r->max);
            return MF_EDATA;
        }
        *FIELD(cfg, r, double) = x;
        return MF_OK;
    }
    case MF_CFG_BOOL:
        if (parse_bool(v, FIELD(cfg, r, bool)) != MF_OK) {
            snprintf(why, whylen, "want on or off");
            return MF_EDATA;
        }
        return MF_OK;
    case MF_CFG_ENUM: {
        int idx = parse_choice(r->choices, v);
        if (idx < 0) {
            snprintf(why, whylen, "want one of %s", r->choices);
            return MF_EDATA;
        }
        *FIELD(cfg, r, int) = idx;
        return MF_OK;
    }
    }
    return MF_EDATA;
}

int mf_config_load(const struct mf_cfg_row *rows, size_t n, void *cfg, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct mf_cfg_row *r = &rows[i];
        const char *v = getenv(r->name);
        char why[160];
        int from_env = v != NULL;

        /* Set but empty is a mistake (an unfilled template, a missing
         * secret), unless empty is what the variable defaults to anyway. */
        if (v && *v == '\0' && !(r->def && r->def[0] == '\0')) {
            if (r->def)
                snprintf(errbuf, errlen, "invalid %s '': empty (unset it for the default '%s')",
                         r->name, r->def);
            else
                snprintf(errbuf, errlen, "invalid %s '': empty: %s", r->name, r->help);
            return MF_EDATA;
        }
        if (!v)
            v = r->def;
        if (!v) {
            if (r->flags & MF_CFG_REQUIRED) {
                snprintf(errbuf, errlen, "missing %s: %s", r->name, r->help);
                return MF_EDATA;
            }
            v = "";
        }
        if ((r->flags & MF_CFG_REQUIRED) && *v == '\0') {
            snprintf(errbuf, errlen, "missing %s: %s", r->name, r->help);
            return MF_EDATA;
        }
        if (parse_value(r, v, cfg, why, sizeof why) != MF_OK) {
            if (r->flags & MF_CFG_SECRET)
                snprintf(errbuf, errlen, "invalid %s: %s", r->name, why);
            else
                snprintf(errbuf, errlen, "invalid %s '%s': %s%s", r->name, v, why,
                         from_env ? "" : " (the default)");
            return MF_EDATA;
        }
    }
    return MF_OK;
}

void mf_config_release(const struct mf_cfg_row *rows, size_t n, void *cfg)
{
    for (size_t i = 0; i < n; i++) {
        if (rows[i].type == MF_CFG_STR || rows[i].type == MF_CFG_ADDR) {
            free(*FIELD(cfg, &rows[i], char *));
            *FIELD(cfg, &rows[i], char *) = NULL;
        }
    }
}

void mf_config_print_help(FILE *out, const struct mf_cfg_row *rows, size_t n)
{
    fprintf(out, "Environment (default in brackets):\n");
    for (size_t i = 0; i < n; i++) {
        const struct mf_cfg_row *r = &rows[i];
        const char *def = r->flags & MF_CFG_REQUIRED ? "required" : r->def ? r->def : "";
        fprintf(out, "  %-22s [%s]\n", r->name, def);
        fprintf(out, "        %s", r->help);
        if (r->type == MF_CFG_ENUM)
            fprintf(out, " (%s)", r->choices);
        else if (r->type == MF_CFG_INT && bounded(r))
            fprintf(out, " (%.0f..%.0f)", r->min, r->max);
        else if (r->type == MF_CFG_DBL && bounded(r))
            fprintf(out, " (%g..%g)", r->min, r->max);
        fprintf(out, "\n");
    }
    fprintf(out,
            "  %-22s [-]\n        any librdkafka property, '_' for '.', e.g. "
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL\n",
            "KAFKA_<PROP>");
}

int mf_config_main(int argc, char **argv, const char *prog, const char *summary,
                   const struct mf_cfg_row *rows, size_t n, void *cfg, const char *subcommands,
                   const char **subcommand)
{
    char err[512];
    const char *extra_args = subcommands;

    if (subcommand)
        *subcommand = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s %s: %s\n\nUsage: %s [--help | --version%s%s]\n\n", prog, MF_VERSION, summary,
                   prog, extra_args ? " | " : "", extra_args ? extra_args : "");
            mf_config_print_help(stdout, rows, n);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog, MF_VERSION);
            return 1;
        }
        if (!extra_args || parse_choice(extra_args, argv[i]) < 0 || !subcommand || *subcommand) {
            fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", prog, argv[i]);
            return -1;
        }
        *subcommand = argv[i];
    }
    if (mf_config_load(rows, n, cfg, err, sizeof err) != MF_OK) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    return 0;
}
