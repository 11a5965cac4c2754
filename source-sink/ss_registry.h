/*
 * ss_registry: the feeders, weather stations and vehicles the sink knows
 * (DESIGN §11's registries), held in memory as sorted id arrays for the
 * per-record lookup, with each feeder's interval. Filled by ss_pg;
 * lookups are ss_lookup_fn's. Thread: the sink's main thread.
 */
#ifndef SS_REGISTRY_H
#define SS_REGISTRY_H

#include <stddef.h>

#include "mf_reading.h"
#include "mf_source.h"

struct ss_reg_entry {
    char id[MF_METER_ID_MAX + 1];
    int interval_s; /* feeders; 0 otherwise */
};

struct ss_registry {
    struct ss_reg_entry *v[MF_SRC_COUNT];
    size_t n[MF_SRC_COUNT], cap[MF_SRC_COUNT];
};

/* Empties kind k (before a reload). */
void ss_registry_clear(struct ss_registry *r, enum mf_source_kind k);
/* Adds an id (longer ones than an id may be are ignored: no record can name them). */
void ss_registry_add(struct ss_registry *r, enum mf_source_kind k, const char *id, int interval_s);
/* Sorts kind k for lookups; call after the adds of a reload. */
void ss_registry_sort(struct ss_registry *r, enum mf_source_kind k);
/* ss_lookup_fn over a struct ss_registry. */
int ss_registry_lookup(void *registry, enum mf_source_kind k, const char *id, int *interval_s);
void ss_registry_release(struct ss_registry *r);

#endif
