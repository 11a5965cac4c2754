/*
 * mf_buf: a growable byte buffer with a hard maximum.
 *
 * The maximum is how input-driven growth is bounded: an append that would
 * pass it fails with MF_EDATA and leaves the buffer as it was, so an HTTP
 * body or a batch can never grow without limit. The data is always
 * NUL-terminated (the NUL is not counted in len). Not thread-safe; a buffer
 * is kept on the stack or inside its owner:
 *
 *     struct mf_buf b = MF_BUF_INIT;
 *     mf_buf_appends(&b, "x");
 *     ...
 *     mf_buf_release(&b);
 */
#ifndef MF_BUF_H
#define MF_BUF_H

#include <stddef.h>
#include <stdint.h>

struct mf_buf {
    char *data; /* NULL until the first append; owned by the buffer */
    size_t len;
    size_t cap;
    size_t max; /* appends that would pass this fail with MF_EDATA */
};

/* An initializer macro: clang-format 14 takes its brace for a block. */
/* clang-format off */
#define MF_BUF_INIT {NULL, 0, 0, SIZE_MAX}
/* clang-format on */

/* Sets an empty buffer with a maximum size in bytes. */
void mf_buf_init(struct mf_buf *b, size_t max);
/* Frees the data; the buffer is empty and reusable afterwards. */
void mf_buf_release(struct mf_buf *b);
/* Empties the buffer but keeps its memory for reuse. */
void mf_buf_reset(struct mf_buf *b);

/* Makes room for n more bytes. MF_OK, or MF_EDATA past the maximum. */
int mf_buf_reserve(struct mf_buf *b, size_t n);
int mf_buf_append(struct mf_buf *b, const void *data, size_t n);
int mf_buf_appends(struct mf_buf *b, const char *s);
int mf_buf_appendc(struct mf_buf *b, char c);
int mf_buf_appendf(struct mf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * mf_json_str (mf_json.h) under its old name, for the callers in tools/
 * until they move; everything else calls mf_json_str.
 */
int mf_buf_append_json_str(struct mf_buf *b, const char *s, size_t n);

#endif
