/*
 * sim_replay: pushes a CSV file of real readings through ingest-gw.
 *
 * A column mapping says where each reading field comes from:
 *   meter_id=LCLid,ts=tstp,value=energy(kWh/hh),unit=const:kWh,interval_s=const:1800
 * A source is a header name, a 1-based column number (#3), "const:TEXT",
 * or for ts two columns joined by a space (ts=Date+Time). Files may be
 * gzip-compressed (read with zlib's gzopen/gzgets either way), use another
 * separator (--sep ';'), a decimal comma, and a time format of their own
 * (%Y %m %d %H %M %S and literal characters, read as UTC; numbers need not
 * be zero-padded). Values are trimmed. A row whose value is empty, "?",
 * "NA" or not a number is skipped and counted as missing, never sent: the
 * gateway would answer it with a 400 item, and an absent reading is what a
 * gap is. Rows go out in file order on one connection, so each meter's
 * readings keep their order. Wide files (one column per meter, e.g.
 * LD2011_2014) are not supported. The only backpressure is the gateway's:
 * a 503 (Kafka slow to ack, its producer queue full) waits and resends.
 * Thread: main.
 */
#ifndef SIM_REPLAY_H
#define SIM_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sim_map_field { SIM_M_METER, SIM_M_TS, SIM_M_VALUE, SIM_M_UNIT, SIM_M_INTERVAL, SIM_M_COUNT };

struct sim_map_src {
    bool set;
    char konst[64]; /* "const:" text, when is_const */
    bool is_const;
    char name[2][64]; /* header names (two for ts=A+B), or "" */
    int col[2];       /* resolved 0-based columns; -1 when unused */
};

struct sim_map {
    struct sim_map_src f[SIM_M_COUNT];
};

/* Parses a --map list. MF_OK, or MF_EDATA with one line in errbuf. */
int sim_map_parse(struct sim_map *m, const char *spec, char *errbuf, size_t errlen);

/* Resolves header names to columns against a header row. MF_OK or MF_EDATA. */
int sim_map_resolve(struct sim_map *m, char **fields, int nfields, char *errbuf, size_t errlen);

/*
 * Splits a line (NUL-ended; trailing CR/LF removed here) on sep, honouring
 * double quotes ("" inside is a quote). Modifies line; fields point into it.
 * Returns the number of fields (at most max).
 */
int sim_csv_split(char *line, char sep, char **fields, int max);

/*
 * Parses s as a time in fmt (%Y %m %d %H %M %S, literals), UTC. fmt NULL:
 * RFC 3339 or epoch ms, else "%Y-%m-%d %H:%M:%S". MF_OK and *ms, or MF_EDATA.
 */
int sim_parse_time(const char *s, const char *fmt, int64_t *ms);

/*
 * Parses a value: trims spaces, turns a decimal comma into a point when
 * asked, refuses empty, "?", "NA" and non-numbers. MF_OK with *v and the
 * cleaned text in out (for the JSON body), or MF_EDATA.
 */
int sim_parse_value(const char *s, bool decimal_comma, double *v, char *out, size_t outlen);

struct sim_replay_opts {
    const char *file;
    const char *map;
    char sep;
    const char *time_format;
    bool decimal_comma;
    bool registry_only; /* print a registry CSV of the file's meters instead of sending */
    const char *gw_url, *token;
    int batch;
    bool progress;
};

/* Runs the replay. 0, 1 (something refused or lost), 2 (set-up error). */
int sim_replay(const struct sim_replay_opts *o, FILE *out);

#endif
