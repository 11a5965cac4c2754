/* mf_tls: a TLS listener's certificate and key, from files. */
#include "mf_tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_common.h"

#define PEM_MAX (1u << 20)

/* The whole file as a NUL-terminated string; NULL with errbuf naming var. */
static char *read_pem(const char *path, const char *var, const char *want, char *errbuf,
                      size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errbuf, errlen, "invalid %s '%s': %s", var, path, strerror(errno));
        return NULL;
    }
    char *buf = mf_xcalloc(1, PEM_MAX + 1);
    size_t n = fread(buf, 1, PEM_MAX + 1, f);
    int err = ferror(f);
    fclose(f);
    const char *why = err                  ? "cannot read it"
                      : n == 0             ? "the file is empty"
                      : n > PEM_MAX        ? "larger than 1 MiB: not a PEM file"
                      : !strstr(buf, want) ? NULL
                                           : "";
    if (!why) {
        snprintf(errbuf, errlen, "invalid %s '%s': no '%s' block (want PEM)", var, path, want);
    } else if (*why) {
        snprintf(errbuf, errlen, "invalid %s '%s': %s", var, path, why);
    } else {
        buf[n] = '\0';
        return buf;
    }
    memset(buf, 0, n < PEM_MAX ? n : PEM_MAX);
    free(buf);
    return NULL;
}

int mf_tls_load(struct mf_tls *tls, const char *cert_path, const char *cert_var,
                const char *key_path, const char *key_var, char *errbuf, size_t errlen)
{
    tls->cert_pem = tls->key_pem = NULL;
    int has_cert = cert_path && *cert_path, has_key = key_path && *key_path;
    if (!has_cert && !has_key)
        return MF_OK;
    if (!has_cert || !has_key) {
        snprintf(errbuf, errlen, "missing %s: TLS needs both %s and %s",
                 has_cert ? key_var : cert_var, cert_var, key_var);
        return MF_EDATA;
    }
    tls->cert_pem = read_pem(cert_path, cert_var, "-----BEGIN CERTIFICATE-----", errbuf, errlen);
    if (!tls->cert_pem)
        return MF_EDATA;
    /* "-----BEGIN PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----", "... EC ...". */
    tls->key_pem = read_pem(key_path, key_var, "PRIVATE KEY-----", errbuf, errlen);
    if (!tls->key_pem) {
        mf_tls_release(tls);
        return MF_EDATA;
    }
    return MF_OK;
}

void mf_tls_release(struct mf_tls *tls)
{
    if (tls->key_pem) {
        memset(tls->key_pem, 0, strlen(tls->key_pem));
        free(tls->key_pem);
    }
    free(tls->cert_pem);
    tls->cert_pem = tls->key_pem = NULL;
}
