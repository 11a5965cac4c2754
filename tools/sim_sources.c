/*
 * sim_sources: feeders, weather stations and vehicles for the simulated
 * fleet. Random choices are hashes of (seed, thing, purpose, index), as
 * everywhere in the simulator, so a rerun sends the same records.
 */
#include "sim_sources.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <zlib.h>

#include "mf_buf.h"
#include "mf_log.h"
#include "mf_time.h"
#include "sim_gen.h"
#include "sim_load.h"
#include "sim_rng.h"
#include "sim_send.h"
#include "mf_common.h"

#define SLOT_MS       (15 * 60000LL)
#define HOUR_MS       3600000LL
#define DAY_MS        86400000LL
#define NEIGHBORHOODS 50
#define REGIONS       5
#define NEV           6
#define THEFT_FEEDER  7   /* the feeder with an unregistered load */
#define THEFT_SHARE   0.6 /* of its registered load: an illegal connection */
#define BATCH         500
/* Purposes of our hashes, apart from sim_rng's own. */
#define R_LOSS 0x5301
#define R_EFF  0x5302
#define R_WX   0x5303
#define R_EV   0x5304

static double loss_of(const struct sim_fleet *f, int nb)
{
    return sim_range(f->p.seed, (uint64_t)nb, R_LOSS, 0, 0.02, 0.06);
}

/* ---------------------------------------------------------------- registry */

int sim_sources_registry(const struct sim_fleet *f, FILE *out)
{
    fprintf(out, "INSERT INTO feeders (feeder_id, region, rated_kw, interval_s) VALUES\n");
    for (int nb = 1; nb <= NEIGHBORHOODS; nb++)
        fprintf(out, "  ('FDR-%02d', 'R-%d', 2000, 900)%s\n", nb, 1 + (nb - 1) / 10,
                nb < NEIGHBORHOODS ? "," : ";");
    /* The registry's neighborhoods are N-01..N-50 (sim_fleet): one feeder each. */
    fprintf(out, "UPDATE meters SET feeder_id = 'FDR-' || substr(neighborhood, 3)"
                 " WHERE neighborhood ~ '^N-[0-9]{2}$';\n");
    fprintf(out, "INSERT INTO weather_stations (station_id, region, lat, lon) VALUES\n");
    for (int r = 1; r <= REGIONS; r++)
        fprintf(out, "  ('WX-R%d', 'R-%d', %.2f, %.2f),\n", r, r, 51 + r * 0.3, -1.5 + r * 0.2);
    fprintf(out, "  ('LHR-DS', 'london', 51.47, -0.45);\n");
    for (int v = 1; v <= NEV; v++) {
        fprintf(out,
                "INSERT INTO meters (meter_id, class, max_kw, interval_s, region, active)"
                " VALUES ('EVC-%03d', 'ev_charger', 22, 900, 'R-%d', true);\n",
                v, 1 + (v - 1) % REGIONS);
        fprintf(out,
                "INSERT INTO vehicles (vehicle_id, meter_id, battery_kwh, model) VALUES"
                " ('EV-%03d', 'EVC-%03d', 60, 'sim-60');\n",
                v, v);
    }
    (void)f;
    return ferror(out) ? MF_EFATAL : MF_OK;
}

/* ---------------------------------------------------------------- posting */

struct poster {
    struct sim_gw *gw;
    const char *ctype;
    const char *header; /* CSV: the header line; NULL otherwise */
    int array;          /* JSON: items in [ ] */
    struct mf_buf body;
    size_t items;
    long sent, accepted;
    int failed;
};

static void poster_init(struct poster *p, const struct sim_sources_opts *o, const char *path,
                        const char *ctype, const char *header, int array)
{
    char url[512];
    memset(p, 0, sizeof *p);
    snprintf(url, sizeof url, "%s%s", o->gw_url, path);
    p->gw = sim_gw_new(url, o->token);
    p->ctype = ctype;
    p->header = header;
    p->array = array;
    mf_buf_init(&p->body, SIZE_MAX);
}

/* Posts what is held, retrying 503s after their Retry-After. */
static void poster_flush(struct poster *p)
{
    struct sim_gw_answer a;
    if (!p->items)
        return;
    if (p->array)
        mf_buf_appendc(&p->body, ']');
    for (int tries = 0; tries < 20; tries++) {
        long code = sim_gw_post(p->gw, p->ctype, p->body.data, p->body.len, &a);
        if (code == 202 || code == 400) {
            p->accepted += a.accepted;
            if ((a.rejected || code == 400) && !p->failed) {
                MF_LOG_WARN("sources", "gateway refused %ld items: %s", a.rejected, a.error);
                p->failed = 1;
            }
            break;
        }
        if (code != 503) {
            MF_LOG_ERROR("sources", "gateway answered %ld: %s", code, a.error);
            p->failed = 1;
            break;
        }
        sleep(a.retry_after_s > 0 ? (unsigned)a.retry_after_s : 1);
    }
    p->sent += (long)p->items;
    p->items = 0;
    mf_buf_reset(&p->body);
}

/* Starts an item: the separator or header the format wants. */
static struct mf_buf *poster_item(struct poster *p)
{
    if (p->items == BATCH)
        poster_flush(p);
    if (p->items == 0 && p->header)
        mf_buf_appends(&p->body, p->header);
    if (p->array)
        mf_buf_appendc(&p->body, p->items ? ',' : '[');
    p->items++;
    return &p->body;
}

static int poster_done(struct poster *p)
{
    poster_flush(p);
    sim_gw_destroy(p->gw);
    mf_buf_release(&p->body);
    return p->failed;
}

/* ---------------------------------------------------------------- feeders */

/*
 * Each registered meter's true load, as energy per 15-minute slot the way
 * it reports it (its interval's value; an hourly meter's spread over its
 * four slots), summed per neighborhood.
 */
static int send_feeders(const struct sim_fleet *f, const struct sim_sources_opts *o, FILE *out)
{
    const struct sim_params *p = &f->p;
    int64_t nslots = (p->end_ms - p->start_ms) / SLOT_MS + 1;
    double *kwh = mf_xcalloc((size_t)(NEIGHBORHOODS + 1) * (size_t)nslots, sizeof *kwh);
    char ts[MF_TIME_STRLEN];
    struct poster g;

    for (uint32_t i = 0; i < f->n; i++) {
        const struct sim_meter *m = &f->m[i];
        if (!m->registered || !m->active)
            continue;
        int64_t step = (int64_t)m->interval_s * 1000, last_k = -1;
        struct sim_gen gen;
        struct sim_reading rd;
        sim_gen_init(&gen, p, m);
        while (sim_gen_next(&gen, &rd)) {
            /*
             * The readings the meter sends and the worker keeps: a resend or
             * an older one overtaken (duplicate, out_of_order) and the values
             * it quarantines (negative, over max_kw) are not in the rollups,
             * so the feeder and its meters differ only by losses and the
             * unregistered load.
             */
            if (rd.k < 0 || rd.k <= last_k || rd.kw < 0 || rd.kw > m->max_kw)
                continue; /* history (before the feeders' range) too */
            last_k = rd.k;
            int64_t t = rd.ts_ms;
            double e = rd.kw * m->interval_s / 3600.0;
            int64_t spread = step > SLOT_MS ? step / SLOT_MS : 1;
            for (int64_t s = 0; s < spread; s++) {
                int64_t slot = (t - p->start_ms) / SLOT_MS + s;
                if (slot < nslots)
                    kwh[(size_t)m->neighborhood * (size_t)nslots + (size_t)slot] += e /
                                                                                    (double)spread;
            }
        }
    }
    poster_init(&g, o, "/v1/grid", "application/json", NULL, 1);
    double theft_kwh = 0, theft_feeder_kwh = 0;
    for (int nb = 1; nb <= NEIGHBORHOODS; nb++) {
        double loss = loss_of(f, nb);
        for (int64_t s = 0; s + 1 < nslots; s++) {
            double e = kwh[(size_t)nb * (size_t)nslots + (size_t)s];
            double extra = nb == THEFT_FEEDER ? e * THEFT_SHARE : 0;
            double kw = (e * (1 + loss) + extra) / 0.25;
            theft_kwh += extra;
            theft_feeder_kwh += nb == THEFT_FEEDER ? e * (1 + loss) + extra : 0;
            mf_time_format(p->start_ms + s * SLOT_MS, ts);
            /* kW from most feeds; every fifth in MW, as some operators send. */
            int mw = nb % 5 == 0;
            mf_buf_appendf(
                poster_item(&g),
                "{\"feeder_id\":\"FDR-%02d\",\"ts\":\"%s\",\"value\":%.6f,"
                "\"unit\":\"%s\",\"interval_s\":900,\"voltage_v\":%.0f,"
                "\"frequency_hz\":%.3f}",
                nb, ts, mw ? kw / 1000 : kw, mw ? "MW" : "kW",
                11000 + sim_range(p->seed, (uint64_t)nb, R_LOSS, (uint64_t)s + 1, -150, 150),
                50 + sim_range(p->seed, (uint64_t)nb, R_LOSS, (uint64_t)s + 7, -0.05, 0.05));
        }
        fprintf(out, "truth_feeder_loss_pct_FDR-%02d=%.2f\n", nb, loss * 100);
    }
    int failed = poster_done(&g);
    fprintf(out, "truth_unregistered_feeder=FDR-%02d\n", THEFT_FEEDER);
    fprintf(out, "truth_unregistered_kwh=%.1f\n", theft_kwh);
    fprintf(out, "truth_unregistered_pct=%.1f\n",
            theft_feeder_kwh > 0 ? 100 * theft_kwh / theft_feeder_kwh : 0);
    fprintf(out, "grid_sent=%ld\ngrid_accepted=%ld\n", g.sent, g.accepted);
    free(kwh);
    return failed;
}

/* ---------------------------------------------------------------- weather */

/* A region's temperature: seasons, the day, a little noise; WX-R1's heat wave. */
static double temp_at(const struct sim_params *p, int r, int64_t t)
{
    double day = (double)t / DAY_MS;
    double doy = fmod(day, 365.25) - 10; /* days since ~Jan 1 (epoch is Jan 1) */
    double season = 11 - 8 * cos(2 * M_PI * (doy - 15) / 365.25);
    double hour = fmod((double)t / HOUR_MS, 24);
    double daily = 4 * cos(2 * M_PI * (hour - 15) / 24);
    double v = season + daily + (r - 3) * 0.8 +
               sim_range(p->seed, (uint64_t)r, R_WX, (uint64_t)(t / HOUR_MS), -0.7, 0.7);
    /* The heat wave: 37 °C at its peak, three quarters into the range, 5 h wide. */
    double peak = ((double)p->start_ms + (double)(p->end_ms - p->start_ms) * 0.75) / HOUR_MS;
    if (r == 1) {
        double g = exp(-pow(((double)t / HOUR_MS - peak) / 5, 2));
        v = g * 37 + (1 - g) * v;
    }
    return v;
}

/* London's 2013 hours by (month, day, hour), from the Dark Sky file. */
struct london {
    double temp[12][31][24], hum[12][31][24], wind[12][31][24];
    unsigned char have[12][31][24];
    size_t rows;
};

static int load_london(const char *path, struct london *l)
{
    gzFile z = gzopen(path, "rb");
    char line[1024];
    if (!z)
        return MF_EDATA;
    memset(l, 0, sizeof *l);
    while (gzgets(z, line, sizeof line)) {
        /* visibility,windBearing,temperature,"time",dewPoint,pressure,apparent,windSpeed,
         * precipType,icon,humidity,summary */
        char *f[12] = {NULL};
        int n = 0;
        for (char *s = line; n < 12 && s; n++) {
            f[n] = s;
            s = strchr(s, ',');
            if (s)
                *s++ = '\0';
        }
        /* "2013-03-11 14:00:00": fixed positions after the quote */
        if (n < 11)
            continue;
        const char *ts = f[3];
        if (strlen(ts) < 15 || ts[0] != '"' || strncmp(ts + 1, "2013-", 5) != 0)
            continue; /* the header, other years */
        long mo = strtol(ts + 6, NULL, 10), d = strtol(ts + 9, NULL, 10);
        long h = strtol(ts + 12, NULL, 10);
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23)
            continue;
        l->temp[mo - 1][d - 1][h] = strtod(f[2], NULL);
        l->wind[mo - 1][d - 1][h] = strtod(f[7], NULL);
        l->hum[mo - 1][d - 1][h] = strtod(f[10], NULL) * 100;
        l->have[mo - 1][d - 1][h] = 1;
        l->rows++;
    }
    gzclose(z);
    return l->rows ? MF_OK : MF_EDATA;
}

static int send_weather(const struct sim_fleet *f, const struct sim_sources_opts *o, FILE *out)
{
    const struct sim_params *p = &f->p;
    char ts[MF_TIME_STRLEN];
    struct poster w;
    double hottest = -100;
    long london = 0, london_missing = 0;

    poster_init(&w, o, "/v1/weather", "text/csv",
                "station_id,ts,temp_c,humidity_pct,wind_ms,ghi_wm2\n", 0);
    for (int64_t t = p->start_ms; t <= p->end_ms; t += HOUR_MS) {
        mf_time_format(t, ts);
        double hour = fmod((double)t / HOUR_MS, 24);
        double sun = hour > 6 && hour < 18 ? 600 * sin(M_PI * (hour - 6) / 12) : 0;
        for (int r = 1; r <= REGIONS; r++) {
            double v = temp_at(p, r, t);
            if (v > hottest)
                hottest = v;
            mf_buf_appendf(poster_item(&w), "WX-R%d,%s,%.2f,%.0f,%.1f,%.0f\n", r, ts, v,
                           70 + sim_range(p->seed, (uint64_t)r, R_WX, (uint64_t)t, -15, 15),
                           sim_range(p->seed, (uint64_t)r, R_WX, (uint64_t)t + 1, 0, 9), sun);
        }
    }
    if (o->weather_file) {
        struct london *l = mf_xmalloc(sizeof *l);
        if (load_london(o->weather_file, l) != MF_OK) {
            MF_LOG_WARN("sources", "no 2013 rows in '%s': no London station", o->weather_file);
        } else {
            for (int64_t t = p->start_ms; t <= p->end_ms; t += HOUR_MS) {
                int64_t y;
                unsigned mo, d;
                mf_civil_from_days(t / DAY_MS, &y, &mo, &d);
                int h = (int)((t % DAY_MS) / HOUR_MS);
                if (d > 31 || !l->have[mo - 1][d - 1][h]) {
                    london_missing++;
                    continue;
                }
                mf_time_format(t, ts);
                mf_buf_appendf(poster_item(&w), "LHR-DS,%s,%.2f,%.0f,%.2f,\n", ts,
                               l->temp[mo - 1][d - 1][h], l->hum[mo - 1][d - 1][h],
                               l->wind[mo - 1][d - 1][h]);
                london++;
            }
        }
        free(l);
    }
    int failed = poster_done(&w);
    fprintf(out, "truth_hottest_c=%.1f\ntruth_heatwave_station=WX-R1\n", hottest);
    fprintf(out, "london_hours=%ld\nlondon_missing=%ld\n", london, london_missing);
    fprintf(out, "weather_sent=%ld\nweather_accepted=%ld\n", w.sent, w.accepted);
    return failed;
}

/* ---------------------------------------------------------------- vehicles */

/* Charging efficiency (DC/AC) of vehicle v at time t: 85-95 %, EV-006 fading 80 -> 70 %. */
static double efficiency(const struct sim_params *p, int v, int64_t t)
{
    if (v == NEV) {
        double x = (double)(t - p->start_ms) / (double)(p->end_ms - p->start_ms + 1);
        return 0.80 - 0.10 * x;
    }
    return sim_range(p->seed, (uint64_t)v, R_EFF, 0, 0.85, 0.95);
}

static int send_vehicles(const struct sim_fleet *f, const struct sim_sources_opts *o, FILE *out)
{
    const struct sim_params *p = &f->p;
    char ts[MF_TIME_STRLEN];
    struct poster t;

    poster_init(&t, o, "/v1/telemetry", "application/json", NULL, 1);
    for (int v = 1; v <= NEV; v++) {
        double soc = sim_range(p->seed, (uint64_t)v, R_EV, 0, 30, 60);
        double ac_last = 0, dc_last = 0;
        int64_t last_day_start = p->end_ms - DAY_MS;
        for (int64_t s = p->start_ms; s <= p->end_ms; s += SLOT_MS) {
            double hour = fmod((double)s / HOUR_MS, 24);
            int night = hour >= 22 || hour < 6;
            double ac = 0, dc = 0;
            if (night && soc < 95) {
                double kw = sim_range(p->seed, (uint64_t)v, R_EV, (uint64_t)s, 6.5, 7.4);
                ac = kw * 0.25;
                dc = ac * efficiency(p, v, s);
                soc += dc / 60 * 100;
            } else if (!night && hour >= 7 && hour < 19) {
                soc -= 1.2 * 0.25; /* driving */
            }
            if (soc < 5)
                soc = 5;
            if (soc > 100)
                soc = 100;
            if (s >= last_day_start) {
                ac_last += ac;
                dc_last += dc;
            }
            mf_time_format(s, ts);
            mf_buf_appendf(poster_item(&t),
                           "{\"meterId\":\"EVC-%03d\",\"kwhConsumedAc\":%.5f,\"voltage\":%.1f,"
                           "\"timestamp\":\"%s\"}",
                           v, ac,
                           229 + sim_range(p->seed, (uint64_t)v, R_EV, (uint64_t)s + 3, 0, 3), ts);
            mf_buf_appendf(poster_item(&t),
                           "{\"vehicleId\":\"EV-%03d\",\"soc\":%.2f,\"kwhDeliveredDc\":%.5f,"
                           "\"batteryTemp\":%.1f,\"timestamp\":\"%s\"}",
                           v, soc, dc, ac > 0 ? 27.0 : 18.0, ts);
        }
        fprintf(out, "truth_efficiency_last24h_EV-%03d=%.1f\n", v,
                ac_last > 0 ? 100 * dc_last / ac_last : 0);
    }
    int failed = poster_done(&t);
    fprintf(out, "telemetry_sent=%ld\ntelemetry_accepted=%ld\n", t.sent, t.accepted);
    return failed;
}

int sim_sources_run(const struct sim_fleet *f, const struct sim_sources_opts *o, FILE *out)
{
    int failed = send_feeders(f, o, out);
    failed |= send_weather(f, o, out);
    failed |= send_vehicles(f, o, out);
    return failed ? 1 : 0;
}
