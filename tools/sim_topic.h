/*
 * sim_topic: reads a whole topic back, for the simulator's reports
 * (sim_score, sim_hourly): every partition from its start to its end as
 * it was when the read began, by a consumer of its own that never joins a
 * group, commits or subscribes. Thread: main.
 */
#ifndef SIM_TOPIC_H
#define SIM_TOPIC_H

#include <stddef.h>

/* Called once per record, with its value (not NUL-terminated). */
typedef void (*sim_topic_fn)(void *ctx, const char *data, size_t len);

/*
 * Calls fn for every record of topic at brokers, giving up after
 * timeout_s. 0, or 2 for a set-up error or the timeout (message on stderr).
 */
int sim_topic_read(const char *brokers, const char *topic, int timeout_s, sim_topic_fn fn,
                   void *ctx);

#endif
