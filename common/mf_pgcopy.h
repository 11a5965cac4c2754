/*
 * mf_pgcopy: PostgreSQL's binary COPY stream (COPY ... FROM STDIN (FORMAT
 * binary)) written into an mf_buf and sent, and binary values read back
 * (resultFormat 1). Shared by the aggregator (rollups, its staging tables)
 * and source-sink (vehicle telemetry).
 *
 * Binary, not text: no number or time is printed here nor parsed by the
 * server (float8in, array_in and the datetime parser were a good part of
 * both programs' commits in text form).
 *
 * The format is PostgreSQL's "PGCOPY" file format and its typsend/typrecv
 * encodings: every field is a big-endian int32 length (-1: NULL) and then
 * the value; integers (int2/int4/int8) and float8 (the IEEE 754 bits) are
 * big-endian; timestamptz is int8 microseconds since 2000-01-01T00:00:00Z
 * (integer_datetimes, the only build since PostgreSQL 10); bool is one
 * byte; text is its bytes.
 *
 * Invariants: a NaN or an infinity is never written (MF_EDATA: no column
 * of ours may hold one) and never accepted back. Text written is at most
 * 65535 bytes (ids are at most 64, checked at parse).
 * Ownership: the writers append to a caller's mf_buf. Thread: any (no state).
 */
#ifndef MF_PGCOPY_H
#define MF_PGCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_buf.h"

/* 2000-01-01T00:00:00Z in epoch milliseconds: timestamptz's binary zero. */
#define MF_PGCOPY_EPOCH_MS 946684800000LL

/* Resets b to the stream's header (signature, flags, no extension). */
void mf_pgcopy_begin(struct mf_buf *b);
/* Starts a tuple of nfields fields; exactly that many field writers follow. */
void mf_pgcopy_put_tuple(struct mf_buf *b, int16_t nfields);
/* Appends the trailer; b is then a complete stream for mf_pgcopy_send. */
void mf_pgcopy_end(struct mf_buf *b);

/* Field writers: the length, then the value. MF_OK, or MF_EDATA from mf_pgcopy_put_f64 for a
 * value no float8 column may hold (NaN, infinity). */
int mf_pgcopy_put_i16(struct mf_buf *b, int16_t v);
int mf_pgcopy_put_i32(struct mf_buf *b, int32_t v);
int mf_pgcopy_put_i64(struct mf_buf *b, int64_t v);
int mf_pgcopy_put_f64(struct mf_buf *b, double v);
/* s (NUL-terminated, at most 65535 bytes) as text. */
void mf_pgcopy_put_text(struct mf_buf *b, const char *s);
/* Epoch milliseconds as timestamptz. */
void mf_pgcopy_put_ts(struct mf_buf *b, int64_t ms);
void mf_pgcopy_put_bool(struct mf_buf *b, bool v);
/* SQL NULL (any column type). */
void mf_pgcopy_put_null(struct mf_buf *b);

/* An integer sent as int2, int4 or int8 (len 2, 4 or 8 bytes). MF_OK or MF_EDATA. */
int mf_pgcopy_get_int(const char *v, int len, int64_t *out);
/* A float8 (len 8), finite. MF_OK or MF_EDATA. */
int mf_pgcopy_get_f64(const char *v, int len, double *out);

/*
 * Runs sql (a COPY ... FROM STDIN (FORMAT binary)) with the stream b as its
 * data. Returns the COPY's result: PGRES_COMMAND_OK when every row went in,
 * else the server's error (or NULL when the data could not be sent: the
 * connection's error says why; PQresultStatus(NULL) is PGRES_FATAL_ERROR).
 * The caller PQclears it. The connection is idle again afterwards.
 */
PGresult *mf_pgcopy_send(PGconn *conn, const char *sql, const struct mf_buf *b);

/*
 * mf_pgcopy_send in two halves, so the caller can work while the server
 * takes the rows in: mf_pgcopy_start runs sql and hands b to the
 * connection (it returns once the kernel holds all but the last bytes,
 * typically well before the server has written the rows). MF_OK: the COPY
 * is under way and mf_pgcopy_result, called next on this connection, gives
 * its result as mf_pgcopy_send does. MF_EDATA: *res is the server's error
 * (NULL when the data could not be sent: the connection's error says why).
 */
int mf_pgcopy_start(PGconn *conn, const char *sql, const struct mf_buf *b, PGresult **res);
PGresult *mf_pgcopy_result(PGconn *conn);

#endif
