/*
 * mf_alloc: allocation that never returns NULL.
 *
 * Out of memory logs one line and aborts: a pod is replaceable and Kafka
 * offsets make a restart safe, so no caller carries an OOM branch.
 * Input-driven growth is bounded elsewhere (mf_buf's max), never here.
 */
#ifndef MF_ALLOC_H
#define MF_ALLOC_H

#include <stddef.h>

void *mf_xmalloc(size_t n);
void *mf_xcalloc(size_t count, size_t size);
void *mf_xrealloc(void *p, size_t n);
char *mf_xstrdup(const char *s);
char *mf_xstrndup(const char *s, size_t n);

#endif
