/* mf_topics: the DESIGN §2 topic table. */
#include <stdlib.h>

#include "mf_topics.h"

#include "mf_common.h"

#define DAY_MS (24LL * 3600 * 1000)

static const struct mf_topic_spec topics[] = {
    {"TOPIC_RAW", MF_TOPIC_RAW, 12, "delete", 7 * DAY_MS},
    {"TOPIC_VALIDATED", MF_TOPIC_VALIDATED, 12, "delete", 7 * DAY_MS},
    {"TOPIC_QUARANTINE", MF_TOPIC_QUARANTINE, 12, "delete", 30 * DAY_MS},
    {"TOPIC_DLQ", MF_TOPIC_DLQ, 3, "delete", 30 * DAY_MS},
    {"TOPIC_ALERTS", MF_TOPIC_ALERTS, 3, "delete", 30 * DAY_MS},
    {"TOPIC_STATE", MF_TOPIC_STATE, 12, "compact", -1},
    {"TOPIC_ROLLUPS_1M", MF_TOPIC_ROLLUPS_1M, 12, "delete", 7 * DAY_MS},
    {"TOPIC_ROLLUPS_1H", MF_TOPIC_ROLLUPS_1H, 12, "delete", 7 * DAY_MS},
    {"TOPIC_GRID", MF_TOPIC_GRID, 3, "delete", 30 * DAY_MS},
    {"TOPIC_WEATHER", MF_TOPIC_WEATHER, 3, "delete", 30 * DAY_MS},
    {"TOPIC_VEHICLES", MF_TOPIC_VEHICLES, 6, "delete", 7 * DAY_MS},
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
