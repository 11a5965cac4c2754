/*
 * meter-sim: the meter simulator. Thin: options to parameters, then one of
 * the library's verbs (tools/sim_*.c).
 *
 *   meter-sim registry [fleet options]            registry CSV on stdout
 *   meter-sim run [fleet options] [send options]  simulate and send
 *   meter-sim run --replay FILE --map ... [--gw URL --token T]   replay a CSV
 *   meter-sim truth [fleet options]               the truth file on stdout
 *   meter-sim score --truth FILE --brokers B [--metrics URLs]
 *   meter-sim hourly --brokers B                  what the fleet did, per hour
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sim_fleet.h"
#include "sim_hourly.h"
#include "sim_replay.h"
#include "sim_run.h"
#include "sim_score.h"
#include "sim_sources.h"
#include "sim_truth.h"

#include "mf_log.h"
#include "mf_signal.h"
#include "mf_time.h"
#include "mf_topics.h"

#include "mf_common.h"

static const char usage_text[] =
    "usage: meter-sim registry|truth|run|score|hourly|sources-registry|sources [options]\n"
    "\n"
    "Fleet (registry, truth, run; give the same ones to each):\n"
    "  --meters N            registered meters [5000]\n"
    "  --seed S              [42]\n"
    "  --start TIME          first reading, RFC 3339 [2024-03-11T00:00:00Z]\n"
    "  --hours H | --days D  length of the range; its end is a reading time too [48 h]\n"
    "  --cadence LIST        seconds=fraction,... [60=0.02,900=0.48,3600=0.5]\n"
    "  --units LIST          kW|W|kWh|Wh|none=fraction,... "
    "[kW=0.7,W=0.1,kWh=0.08,Wh=0.07,none=0.05]\n"
    "  --trouble LIST        kind=rate,... (fractions of meters; unknown=a count of meters)\n"
    "                        kinds: stuck zero vacant_zero overload spike drop gap_short gap_5h\n"
    "                        gap_25h negative duplicate out_of_order glitch unit_slip dropout\n"
    "                        ct_reversal night_shift wrong_premises inactive unknown\n"
    "  --stuck-hours H       length of an injected stuck run [26]\n"
    "  --malformed N         malformed records sent straight to Kafka (needs --brokers) [20]\n"
    "  --vacant F  --low-max F  --commercial F   registry fractions [0.01 0.1 0.1]\n"
    "  --history-hours H     first H hourly energies before --start (kWh, interval_s 3600) for\n"
    "                        the active, non-vacant meters of the history neighborhoods [0]\n"
    "  --history-hoods K     those are N-01..N-K (0: all) [0]; the correlation needs 168 hours\n"
    "  The truth follows the worker's thresholds: RULE_ZERO_S, RULE_STUCK_S, RULE_GAP_SHORT_S,\n"
    "  RULE_GAP_LONG_S and RULE_OVERLOAD_N are read from the environment like the worker does.\n"
    "\n"
    "Sending (run):\n"
    "  --gw URL --token T    through ingest-gw (keep-alive, batches)\n"
    "  --format json|csv     gateway body [json]\n"
    "  --batch N             readings per request [500]\n"
    "  --brokers B           straight to Kafka (all readings without --gw; malformed ones always)\n"
    "  --topic T             raw topic [meter.readings.raw]\n"
    "  --threads K           sender threads [4]\n"
    "  --lag-metrics URLS    the workers' and aggregator's /metrics, comma-separated: how far\n"
    "                        behind they are (--progress) and when they caught up (--drain)\n"
    "  --truth FILE          write the truth file (what was injected, what to expect)\n"
    "  --progress            one progress line a second on stderr\n"
    "  --drain [--drain-timeout S]  after sending, wait until the fleet caught up;\n"
    "                        give up after S s without progress [120]\n"
    "\n"
    "Replay a CSV of real readings (run --replay):\n"
    "  --replay FILE[.gz] --map meter_id=COL,ts=COL,value=COL[,unit=COL][,interval_s=COL]\n"
    "                        COL: header name, #N (1-based), const:TEXT; ts=DATE+TIME joins two\n"
    "  --sep C  --time-format FMT (%Y %m %d %H %M %S, UTC)  --decimal-comma\n"
    "  --registry-only       print a registry CSV of the file's meters, send nothing\n"
    "\n"
    "Scoring (score):\n"
    "  --truth FILE --brokers B [--metrics URLS] [--topic-alerts T] [--kv]\n"
    "  --agg-metrics URL     the aggregator's /metrics: meters its correlation judged\n"
    "\n"
    "Per hour of event time (hourly): quarantined readings by reason, flags on validated\n"
    "readings (not the unit ones), alerts raised and cleared; lines \"HOUR SERIES COUNT\"\n"
    "  --brokers B [--topic-alerts T]\n";

enum {
    O_METERS = 256,
    O_SEED,
    O_START,
    O_HOURS,
    O_DAYS,
    O_CADENCE,
    O_UNITS,
    O_TROUBLE,
    O_STUCK_HOURS,
    O_MALFORMED,
    O_VACANT,
    O_LOWMAX,
    O_COMMERCIAL,
    O_HISTORY_HOURS,
    O_HISTORY_HOODS,
    O_AGG_METRICS,
    O_GW,
    O_TOKEN,
    O_FORMAT,
    O_BATCH,
    O_BROKERS,
    O_TOPIC,
    O_THREADS,
    O_LAG_METRICS,
    O_TRUTH,
    O_PROGRESS,
    O_DRAIN,
    O_DRAIN_TIMEOUT,
    O_REPLAY,
    O_MAP,
    O_SEP,
    O_TIME_FORMAT,
    O_DECIMAL_COMMA,
    O_REGISTRY_ONLY,
    O_METRICS,
    O_TOPIC_ALERTS,
    O_KV,
    O_HELP,
};

static const struct option long_opts[] = {
    {"meters", required_argument, NULL, O_METERS},
    {"seed", required_argument, NULL, O_SEED},
    {"start", required_argument, NULL, O_START},
    {"hours", required_argument, NULL, O_HOURS},
    {"days", required_argument, NULL, O_DAYS},
    {"cadence", required_argument, NULL, O_CADENCE},
    {"units", required_argument, NULL, O_UNITS},
    {"trouble", required_argument, NULL, O_TROUBLE},
    {"stuck-hours", required_argument, NULL, O_STUCK_HOURS},
    {"malformed", required_argument, NULL, O_MALFORMED},
    {"vacant", required_argument, NULL, O_VACANT},
    {"low-max", required_argument, NULL, O_LOWMAX},
    {"commercial", required_argument, NULL, O_COMMERCIAL},
    {"history-hours", required_argument, NULL, O_HISTORY_HOURS},
    {"history-hoods", required_argument, NULL, O_HISTORY_HOODS},
    {"agg-metrics", required_argument, NULL, O_AGG_METRICS},
    {"gw", required_argument, NULL, O_GW},
    {"token", required_argument, NULL, O_TOKEN},
    {"format", required_argument, NULL, O_FORMAT},
    {"batch", required_argument, NULL, O_BATCH},
    {"brokers", required_argument, NULL, O_BROKERS},
    {"topic", required_argument, NULL, O_TOPIC},
    {"threads", required_argument, NULL, O_THREADS},
    {"lag-metrics", required_argument, NULL, O_LAG_METRICS},
    {"truth", required_argument, NULL, O_TRUTH},
    {"progress", no_argument, NULL, O_PROGRESS},
    {"drain", no_argument, NULL, O_DRAIN},
    {"drain-timeout", required_argument, NULL, O_DRAIN_TIMEOUT},
    {"replay", required_argument, NULL, O_REPLAY},
    {"map", required_argument, NULL, O_MAP},
    {"sep", required_argument, NULL, O_SEP},
    {"time-format", required_argument, NULL, O_TIME_FORMAT},
    {"decimal-comma", no_argument, NULL, O_DECIMAL_COMMA},
    {"registry-only", no_argument, NULL, O_REGISTRY_ONLY},
    {"metrics", required_argument, NULL, O_METRICS},
    {"topic-alerts", required_argument, NULL, O_TOPIC_ALERTS},
    {"kv", no_argument, NULL, O_KV},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* A number option in [lo, hi]; exits 2 with one line naming it otherwise. */
static double num(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "meter-sim: invalid --%s '%s': want a number in %g..%g\n", opt, s, lo, hi);
        exit(2);
    }
    return v;
}

/* The worker's own threshold variables, so the truth agrees with the worker's config. */
static void rules_from_env(struct sim_params *p)
{
    static const struct {
        const char *var;
        int64_t *ms;
    } rows[] = {{"RULE_ZERO_S", NULL},
                {"RULE_STUCK_S", NULL},
                {"RULE_GAP_SHORT_S", NULL},
                {"RULE_GAP_LONG_S", NULL}};
    int64_t *targets[] = {&p->zero_ms, &p->stuck_ms, &p->gap_short_ms, &p->gap_long_ms};
    for (size_t i = 0; i < MF_ARRAY_LEN(rows); i++) {
        const char *v = getenv(rows[i].var);
        if (v && *v)
            *targets[i] = (int64_t)num(rows[i].var, v, 1, 1e9) * 1000;
    }
    const char *v = getenv("RULE_OVERLOAD_N");
    if (v && *v)
        p->overload_n = (uint32_t)num("RULE_OVERLOAD_N", v, 1, 1e9);
}

int main(int argc, char **argv)
{
    struct sim_params p;
    struct sim_run_opts ro;
    struct sim_replay_opts rp = {0};
    struct sim_score_opts so = {0};
    const char *truth_path = NULL;
    char err[512];
    double hours = 48;
    int status = 2;
    struct sim_fleet *f = NULL;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("meter-sim %s\n", MF_VERSION);
        return 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "registry") != 0 && strcmp(verb, "truth") != 0 && strcmp(verb, "run") != 0 &&
        strcmp(verb, "score") != 0 && strcmp(verb, "hourly") != 0 && strcmp(verb, "sources") != 0 &&
        strcmp(verb, "sources-registry") != 0) {
        fprintf(stderr, "meter-sim: unknown command '%s'\n%s", verb, usage_text);
        return 2;
    }
    sim_params_default(&p);
    sim_run_opts_default(&ro);
    rp.sep = ',';
    rp.batch = 500;
    so.topic_alerts = MF_TOPIC_ALERTS;
    so.topic_validated = MF_TOPIC_VALIDATED;
    so.topic_quarantine = MF_TOPIC_QUARANTINE;
    so.timeout_s = 60;
    mf_log_init("meter-sim", MF_LEVEL_INFO);

    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case O_METERS:
            p.meters = (uint32_t)num("meters", optarg, 0, 10000000);
            break;
        case O_SEED:
            p.seed = (uint64_t)num("seed", optarg, 0, 1e15);
            break;
        case O_START:
            if (mf_time_parse_text(optarg, strlen(optarg), &p.start_ms, err, sizeof err)) {
                fprintf(stderr, "meter-sim: invalid --start '%s': %s\n", optarg, err);
                return 2;
            }
            break;
        case O_HOURS:
            hours = num("hours", optarg, 0, 24 * 3660);
            break;
        case O_DAYS:
            hours = 24 * num("days", optarg, 0, 3660);
            break;
        case O_CADENCE:
        case O_UNITS:
        case O_TROUBLE: {
            int rc = c == O_CADENCE ? sim_params_cadences(&p, optarg, err, sizeof err)
                     : c == O_UNITS ? sim_params_units(&p, optarg, err, sizeof err)
                                    : sim_params_troubles(&p, optarg, err, sizeof err);
            if (rc != MF_OK) {
                fprintf(stderr, "meter-sim: %s\n", err);
                return 2;
            }
            break;
        }
        case O_STUCK_HOURS:
            p.stuck_hours = num("stuck-hours", optarg, 0.1, 1e5);
            break;
        case O_MALFORMED:
            p.malformed = (uint32_t)num("malformed", optarg, 0, 1e7);
            break;
        case O_VACANT:
            p.vacant_frac = num("vacant", optarg, 0, 1);
            break;
        case O_LOWMAX:
            p.low_max_frac = num("low-max", optarg, 0, 1);
            break;
        case O_COMMERCIAL:
            p.commercial_frac = num("commercial", optarg, 0, 1);
            break;
        case O_HISTORY_HOURS:
            p.history_h = (int)num("history-hours", optarg, 0, 24 * 366);
            break;
        case O_HISTORY_HOODS:
            p.history_hoods = (int)num("history-hoods", optarg, 0, 50);
            break;
        case O_AGG_METRICS:
            so.agg_metrics = optarg;
            break;
        case O_GW:
            ro.gw_url = rp.gw_url = optarg;
            break;
        case O_TOKEN:
            ro.token = rp.token = optarg;
            break;
        case O_FORMAT:
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "csv") != 0) {
                fprintf(stderr, "meter-sim: invalid --format '%s': want json or csv\n", optarg);
                return 2;
            }
            ro.csv = strcmp(optarg, "csv") == 0;
            break;
        case O_BATCH:
            ro.batch = rp.batch = (int)num("batch", optarg, 1, 100000);
            break;
        case O_BROKERS:
            ro.brokers = so.brokers = optarg;
            break;
        case O_TOPIC:
            ro.topic_raw = optarg;
            break;
        case O_THREADS:
            ro.threads = (int)num("threads", optarg, 1, 32);
            break;
        case O_LAG_METRICS:
            ro.lag_metrics = optarg;
            break;
        case O_TRUTH:
            truth_path = so.truth = optarg;
            break;
        case O_PROGRESS:
            ro.progress = rp.progress = true;
            break;
        case O_DRAIN:
            ro.drain = true;
            break;
        case O_DRAIN_TIMEOUT:
            ro.drain_timeout_s = (int)num("drain-timeout", optarg, 1, 86400);
            break;
        case O_REPLAY:
            rp.file = optarg;
            break;
        case O_MAP:
            rp.map = optarg;
            break;
        case O_SEP:
            if (strlen(optarg) != 1 && strcmp(optarg, "\\t") != 0) {
                fprintf(stderr, "meter-sim: invalid --sep '%s': want one character\n", optarg);
                return 2;
            }
            rp.sep = (char)(strcmp(optarg, "\\t") == 0 ? '\t' : optarg[0]);
            break;
        case O_TIME_FORMAT:
            rp.time_format = optarg;
            break;
        case O_DECIMAL_COMMA:
            rp.decimal_comma = true;
            break;
        case O_REGISTRY_ONLY:
            rp.registry_only = true;
            break;
        case O_METRICS:
            so.metrics = optarg;
            break;
        case O_TOPIC_ALERTS:
            so.topic_alerts = optarg;
            break;
        case O_KV:
            so.kv = true;
            break;
        case O_HELP:
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "%s", usage_text);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meter-sim: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    p.end_ms = p.start_ms + (int64_t)llround(hours * 3600000.0);
    rules_from_env(&p);

    mf_signal_block();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mf_signal_install();

    if (strcmp(verb, "score") == 0) {
        if (!so.truth || !so.brokers) {
            fprintf(stderr, "meter-sim: score needs --truth and --brokers\n");
            goto out;
        }
        status = sim_score(&so, stdout);
        goto out;
    }
    if (strcmp(verb, "hourly") == 0) {
        struct sim_hourly_opts ho = {.brokers = so.brokers,
                                     .topic_validated = MF_TOPIC_VALIDATED,
                                     .topic_quarantine = MF_TOPIC_QUARANTINE,
                                     .topic_alerts = so.topic_alerts,
                                     .timeout_s = so.timeout_s};
        if (!ho.brokers) {
            fprintf(stderr, "meter-sim: hourly needs --brokers\n");
            goto out;
        }
        status = sim_hourly(&ho, stdout);
        goto out;
    }
    if (strcmp(verb, "run") == 0 && rp.file) {
        if (!rp.registry_only && !rp.gw_url) {
            fprintf(stderr, "meter-sim: --replay needs --gw (or --registry-only)\n");
            goto out;
        }
        status = sim_replay(&rp, stdout);
        goto out;
    }
    if (strcmp(verb, "run") == 0 && !ro.brokers)
        p.malformed = 0; /* only a Kafka client can send them: none this run */
    f = sim_fleet_new(&p);
    /* The other sources (tools/sim_sources.c): the same fleet's feeders, stations, vehicles. */
    if (strcmp(verb, "sources-registry") == 0) {
        status = sim_sources_registry(f, stdout) == MF_OK ? 0 : 1;
        goto out;
    }
    if (strcmp(verb, "sources") == 0) {
        struct sim_sources_opts sso = {ro.gw_url, ro.token, getenv("SIM_WEATHER_FILE")};
        if (!sso.gw_url) {
            fprintf(stderr, "meter-sim: sources needs --gw URL\n");
            goto out;
        }
        status = sim_sources_run(f, &sso, stdout);
        goto out;
    }
    if (strcmp(verb, "registry") == 0) {
        status = sim_fleet_write_registry(f, stdout) == MF_OK ? 0 : 1;
        goto out;
    }
    if (strcmp(verb, "truth") == 0) {
        status = sim_truth_write(f, stdout) == MF_OK ? 0 : 1;
        goto out;
    }
    if (!ro.gw_url && !ro.brokers) {
        fprintf(stderr, "meter-sim: run needs --gw URL or --brokers B\n");
        goto out;
    }
    if (truth_path) {
        FILE *tf = fopen(truth_path, "w");
        if (!tf || sim_truth_write(f, tf) != MF_OK) {
            fprintf(stderr, "meter-sim: cannot write truth file '%s'\n", truth_path);
            if (tf)
                fclose(tf);
            goto out;
        }
        fclose(tf);
    }
    struct sim_run_stats st;
    status = sim_run(f, &ro, &st);
out:
    sim_fleet_destroy(f);
    curl_global_cleanup();
    return status;
}
