/*
 * agg_pg: the aggregator's connection to PostgreSQL, and what a newly
 * assigned partition reads from it.
 *
 *   - the handle: one connection for a (group, topic), reconnected on
 *     demand; the session is UTC with synchronous_commit forced on (a
 *     commit the aggregator acted on must survive a server crash);
 *   - migrations (mf_pg, advisory lock);
 *   - agg_pg_load: offsets, source positions, watermarks and open windows
 *     of the assigned partitions, in one snapshot;
 *   - the helpers the modules that talk over this connection share
 *     (agg_commit, agg_outbox, agg_partitions): running a statement,
 *     classifying a failure, rolling back.
 * The jobs themselves live in their modules: agg_commit (the batch
 * transaction), agg_outbox (windows committed but not yet published),
 * agg_partitions (created ahead and on demand, dropped for retention),
 * agg_copy (the binary wire codec).
 *
 * Every statement is PQexecParams or COPY; no value is ever spliced into
 * SQL text (statements are built from constant fragments). Returns follow
 * mf_err: MF_ERETRY when the connection is gone (reconnect, reload and go
 * on), MF_EFATAL for anything else. A failure that finds the connection
 * lost also closes it, so agg_pg_connected tells the caller to reconnect.
 * Thread: one at a time (one connection, not shared): main, or the commit
 * thread while a batch is in flight (agg_committer), never both.
 */
#ifndef AGG_PG_H
#define AGG_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mf_buf.h"
#include "agg_state.h"

struct agg_pg;

/*
 * A handle for group/topic (copied). Not connected yet. The dsn is kept
 * (copied) for reconnects and never logged. Never NULL.
 */
struct agg_pg *agg_pg_new(const char *dsn, const char *group, const char *topic);
/* Disconnects and frees; NULL is a no-op. */
void agg_pg_destroy(struct agg_pg *pg);

/* Connects (if not connected) and sets the session up. MF_OK, MF_ERETRY or MF_EFATAL. */
int agg_pg_connect(struct agg_pg *pg, char *errbuf, size_t errlen);
bool agg_pg_connected(const struct agg_pg *pg);
void agg_pg_disconnect(struct agg_pg *pg);

/* A round trip ("SELECT 1"), to notice a lost server while idle. */
int agg_pg_ping(struct agg_pg *pg, char *errbuf, size_t errlen);

/* Applies the migrations (advisory lock in mf_pg); returns how many, or an error. */
int agg_pg_migrate(struct agg_pg *pg, char *errbuf, size_t errlen);

/*
 * Loads the state of the assigned partitions parts[0..n) into st (which
 * the caller reset): offsets, watermarks, source positions, and the open
 * windows of the meters that hash (murmur2, as producers partition) to one
 * of them among `topic_partitions`.
 */
int agg_pg_load(struct agg_pg *pg, struct agg_state *st, const int32_t *parts, size_t n,
                int32_t topic_partitions, int64_t now_mono, char *errbuf, size_t errlen);

/* ---------------------------------------------------------------- for the modules over it */

/* The group and topic the handle was made for (its own copies). */
const char *agg_pg_group(const struct agg_pg *pg);
const char *agg_pg_topic(const struct agg_pg *pg);

/* The connection, for COPY; NULL when not connected. Owned by pg. */
PGconn *agg_pg_conn(struct agg_pg *pg);
/*
 * Changes with every new connection (0: never connected), so a module
 * that sets session objects up (temp tables) knows when to do it again.
 */
uint64_t agg_pg_session(const struct agg_pg *pg);

/* PQexecParams with text parameters, results in text (0) or binary (1). The caller clears. */
PGresult *agg_pg_exec(struct agg_pg *pg, const char *sql, int n, const char *const *v,
                      int result_format);
/* Runs a statement expecting command-ok or tuples; the result is freed. */
int agg_pg_run(struct agg_pg *pg, const char *sql, int n, const char *const *v, const char *what,
               char *errbuf, size_t errlen);
/*
 * Fills errbuf with "<what>: <PostgreSQL's first line>" from res (or the
 * connection's error when res is NULL), clears res, classifies the failure
 * (mf_pg_classify) and disconnects when the connection is gone.
 */
int agg_pg_fail(struct agg_pg *pg, PGresult *res, const char *what, char *errbuf, size_t errlen);
/* Rolls back the transaction in progress, if still connected; errors are moot. */
void agg_pg_rollback(struct agg_pg *pg);

/* "{1,2,3}" of v[0..n) into b (reset first), as an int[] parameter; returns b->data. */
const char *agg_pg_int_array(struct mf_buf *b, const int32_t *v, size_t n);

#endif
