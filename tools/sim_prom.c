/*
 * sim_prom: libcurl GETs (one easy handle per URL, so connections are kept
 * alive between scrapes) and a line parser for the sample lines:
 *   name{k="v",k2="v2"} 123.5
 * Escapes inside label values (\" \\ \n) are honoured when comparing.
 */
#include "sim_prom.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "mf_common.h"

#define MAX_URLS 16

struct sim_prom {
    int n;
    CURL *h[MAX_URLS];
    char *url[MAX_URLS];
    struct mf_buf page[MAX_URLS];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    struct mf_buf *b = opaque;
    return mf_buf_append(b, data, size * nmemb) == MF_OK ? size * nmemb : 0;
}

struct sim_prom *sim_prom_new(const char *url_list)
{
    struct sim_prom *p = mf_xcalloc(1, sizeof *p);
    const char *s = url_list ? url_list : "";
    while (*s && p->n < MAX_URLS) {
        size_t len = strcspn(s, ",");
        if (len) {
            struct mf_buf u = MF_BUF_INIT;
            bool scheme = len > 7 && strncmp(s, "http", 4) == 0;
            if (!scheme)
                mf_buf_appends(&u, "http://");
            mf_buf_append(&u, s, len);
            if (!scheme && !memchr(s, '/', len))
                mf_buf_appends(&u, "/metrics");
            p->url[p->n] = u.data;
            p->page[p->n] = (struct mf_buf)MF_BUF_INIT;
            p->h[p->n] = curl_easy_init();
            MF_ASSERT(p->h[p->n] != NULL);
            p->n++;
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return p;
}

void sim_prom_destroy(struct sim_prom *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        curl_easy_cleanup(p->h[i]);
        free(p->url[i]);
        mf_buf_release(&p->page[i]);
    }
    free(p);
}

int sim_prom_count(const struct sim_prom *p)
{
    return p->n;
}

int sim_prom_scrape(struct sim_prom *p)
{
    int ok = 0;
    for (int i = 0; i < p->n; i++) {
        struct mf_buf body = MF_BUF_INIT;
        long code = 0;
        CURL *h = p->h[i];
        curl_easy_setopt(h, CURLOPT_URL, p->url[i]);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform(h) == CURLE_OK &&
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200 &&
            body.data) {
            mf_buf_release(&p->page[i]);
            p->page[i] = body; /* the page owns it now */
            ok++;
        } else {
            mf_buf_release(&body);
        }
    }
    return ok;
}

/* Does label `label` in the brace text [s, e) equal value? -1: no such label. */
static int label_is(const char *s, const char *e, const char *label, const char *value)
{
    size_t ll = strlen(label);
    while (s < e) {
        while (s < e && (*s == ',' || *s == ' '))
            s++;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq || eq + 1 >= e || eq[1] != '"')
            return -1;
        bool match_name = (size_t)(eq - s) == ll && memcmp(s, label, ll) == 0;
        const char *v = eq + 2, *vp = value;
        bool same = true;
        while (v < e && *v != '"') {
            char c = *v++;
            if (c == '\\' && v < e) {
                c = *v++;
                if (c == 'n')
                    c = '\n';
            }
            if (*vp && *vp == c)
                vp++;
            else
                same = false;
        }
        if (match_name)
            return same && *vp == '\0';
        s = v + 1;
    }
    return -1;
}

double sim_prom_sum_text(const char *text, const char *family, const char *label, const char *value,
                         bool negate, bool *found)
{
    double sum = 0;
    size_t fl = strlen(family);
    const char *p = text ? text : "";

    if (found)
        *found = false;
    while (*p) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        if (*p != '#' && (size_t)(end - p) > fl && memcmp(p, family, fl) == 0 &&
            (p[fl] == '{' || p[fl] == ' ')) {
            const char *q = p + fl;
            int match = 1;
            if (*q == '{') {
                const char *close = memchr(q, '}', (size_t)(end - q));
                if (!close) {
                    match = 0;
                    q = end;
                } else {
                    if (label) {
                        int is = label_is(q + 1, close, label, value);
                        match = negate ? is != 1 : is == 1;
                    }
                    q = close + 1;
                }
            } else if (label) {
                match = negate; /* no labels: never equal */
            }
            if (match && q < end) {
                char *num_end;
                double v = strtod(q, &num_end);
                if (num_end != q) {
                    sum += v;
                    if (found)
                        *found = true;
                }
            }
        }
        p = eol ? eol + 1 : end;
    }
    return sum;
}

double sim_prom_sum(const struct sim_prom *p, const char *family, const char *label,
                    const char *value, bool negate, bool *found)
{
    double sum = 0;
    if (found)
        *found = false;
    for (int i = 0; i < p->n; i++) {
        bool f = false;
        sum += sim_prom_sum_text(p->page[i].data, family, label, value, negate, &f);
        if (found && f)
            *found = true;
    }
    return sum;
}
