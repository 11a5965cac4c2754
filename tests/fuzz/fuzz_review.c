/*
 * libFuzzer target: records of the review topics (quarantine, DLQ,
 * alerts) as rows of the review stores (source-sink's ss_review). The
 * first byte picks the store and how many headers follow; the rest is
 * split at 0xff bytes into header values and the record's value. Whatever
 * the bytes, a record is either stored or DLQ-bound, and every stored row
 * is a JSON object whose strings PostgreSQL's text and jsonb accept (valid
 * UTF-8, no NUL), so the sink's SQL casts can never fail on content and
 * stop the sink on one record.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mf_buf.h"
#include "mf_reading.h"
#include "ss_batch.h"
#include "mf_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const header_names[] = {"error.code",    "error.message", "source.topic",
                                           "source.offset", "worker.id",     "quarantine.reasons"};

/* Whether JSON text holds the escape \u0000 (jsonb refuses it), escapes read in order. */
static int nul_escape(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\')
            continue;
        if (i + 5 < n && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
            return 1;
        i++; /* the escaped character, e.g. a second backslash */
    }
    return 0;
}

/*
 * Every string in j is valid UTF-8. Depth first without recursion: each
 * stack slot holds the next sibling still to visit at its depth, so the
 * stack grows with the nesting (cJSON's limit), never with an array's length.
 */
static void check_strings(const cJSON *j)
{
    static const cJSON *stack[CJSON_NESTING_LIMIT + 2];
    size_t n = 0;
    stack[n++] = j;
    while (n) {
        const cJSON *v = stack[n - 1];
        if (!v) {
            n--;
            continue;
        }
        stack[n - 1] = v->next;
        if (cJSON_IsString(v))
            MF_ASSERT(mf_utf8_valid(v->valuestring, strlen(v->valuestring)));
        if (v->child) {
            MF_ASSERT(n < MF_ARRAY_LEN(stack));
            stack[n++] = v->child;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    enum ss_review_kind k = (enum ss_review_kind)(data[0] % SS_REV_COUNT);
    size_t nh = (size_t)(data[0] / SS_REV_COUNT) % (MF_ARRAY_LEN(header_names) + 1);
    struct ss_header h[MF_ARRAY_LEN(header_names)];
    const uint8_t *p = data + 1, *end = data + size;
    for (size_t i = 0; i < nh; i++) {
        const uint8_t *cut = memchr(p, 0xff, (size_t)(end - p));
        if (!cut)
            cut = end;
        h[i] = (struct ss_header){header_names[i], p, (size_t)(cut - p)};
        p = cut < end ? cut + 1 : end;
    }
    struct ss_batch b;
    ss_batch_init(&b);
    int stored = ss_batch_add_review(&b, k, 3, 42, 1710511200000LL, "MTR-1", 5, h, nh, p,
                                     (size_t)(end - p));
    MF_ASSERT(stored == 0 || stored == 1);
    MF_ASSERT(b.nreview[k] == (size_t)stored);
    MF_ASSERT(b.ndlq == (size_t)!stored);
    if (stored) {
        struct mf_buf arr = MF_BUF_INIT;
        mf_buf_appendc(&arr, '[');
        mf_buf_append(&arr, b.review[k].data, b.review[k].len);
        mf_buf_appendc(&arr, ']');
        /* No NUL, escaped or not, reaches jsonb. */
        MF_ASSERT(!memchr(arr.data, '\0', arr.len));
        MF_ASSERT(!nul_escape(arr.data, arr.len));
        cJSON *j = cJSON_ParseWithLength(arr.data, arr.len);
        MF_ASSERT(j && cJSON_IsArray(j) && cJSON_GetArraySize(j) == 1);
        MF_ASSERT(cJSON_IsObject(cJSON_GetArrayItem(j, 0)));
        check_strings(j);
        cJSON_Delete(j);
        mf_buf_release(&arr);
    }
    ss_batch_release(&b);
    return 0;
}
