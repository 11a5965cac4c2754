/* ss_registry: sorted arrays and bsearch. */
#include "ss_registry.h"

#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

void ss_registry_clear(struct ss_registry *r, enum mf_source_kind k)
{
    r->n[k] = 0;
}

void ss_registry_add(struct ss_registry *r, enum mf_source_kind k, const char *id, int interval_s)
{
    size_t len = strlen(id);
    if (len == 0 || len > MF_METER_ID_MAX)
        return;
    if (r->n[k] == r->cap[k]) {
        r->cap[k] = r->cap[k] ? r->cap[k] * 2 : 64;
        r->v[k] = mf_xrealloc(r->v[k], r->cap[k] * sizeof *r->v[k]);
    }
    struct ss_reg_entry *e = &r->v[k][r->n[k]++];
    memcpy(e->id, id, len + 1);
    e->interval_s = interval_s;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct ss_reg_entry *)a)->id, ((const struct ss_reg_entry *)b)->id);
}

void ss_registry_sort(struct ss_registry *r, enum mf_source_kind k)
{
    if (r->n[k])
        qsort(r->v[k], r->n[k], sizeof *r->v[k], by_id);
}

int ss_registry_lookup(void *registry, enum mf_source_kind k, const char *id, int *interval_s)
{
    struct ss_registry *r = registry;
    struct ss_reg_entry key = {.interval_s = 0};
    size_t len = strlen(id);

    if (len > MF_METER_ID_MAX || !r->n[k])
        return 0;
    memcpy(key.id, id, len + 1);
    const struct ss_reg_entry *e = bsearch(&key, r->v[k], r->n[k], sizeof key, by_id);
    if (!e)
        return 0;
    *interval_s = e->interval_s;
    return 1;
}

void ss_registry_release(struct ss_registry *r)
{
    for (int k = 0; k < MF_SRC_COUNT; k++)
        free(r->v[k]);
    memset(r, 0, sizeof *r);
}
