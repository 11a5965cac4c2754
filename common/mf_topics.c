/* mf_topics: the DESIGN §2 topic table. */
#include <stdlib.h>

#include "mf_topics.h"

#include "mf_common.h"

#define DAY_MS (24LL * 3600 * 1000)

static const struct mf_topic_spec topics[] = {
    {"TOPIC_RAW", "meter.readings.raw", 12, "delete", 7 * DAY_MS},
    {"TOPIC_VALIDATED", "meter.readings.validated", 12, "delete", 7 * DAY_MS},
    {"TOPIC_QUARANTINE", "meter.readings.quarantine", 12, "delete", 30 * DAY_MS},
    {"TOPIC_DLQ", "meter.readings.dlq", 3, "delete", 30 * DAY_MS},
    {"TOPIC_ALERTS", "meter.alerts", 3, "delete", 30 * DAY_MS},
    {"TOPIC_STATE", "meter.state.changelog", 12, "compact", -1},
    {"TOPIC_ROLLUPS_1M", "meter.rollups.1m", 12, "delete", 7 * DAY_MS},
    {"TOPIC_ROLLUPS_1H", "meter.rollups.1h", 12, "delete", 7 * DAY_MS},
};

const struct mf_topic_spec *mf_topics(size_t *n)
{
    *n = MF_ARRAY_LEN(topics);
    return topics;
}

const char *mf_topic_name(const struct mf_topic_spec *t)
{
    const char *v = getenv(t->env);
    return v && *v ? v : t->name;
}
