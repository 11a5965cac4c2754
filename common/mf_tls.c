/* mf_tls: a TLS listener's certificate and key, from files. */
#include "mf_tls.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf_log.h"
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

/* ---------------------------------------------------------------- the pair in force */

#define CHAIN_MAX 8

struct pair {
    gnutls_pcert_st chain[CHAIN_MAX];
    unsigned n;
    gnutls_privkey_t key;
    struct pair *older; /* pairs replaced, freed by mf_tls_uninstall */
};

static _Atomic(struct pair *) in_force;

static void pair_free(struct pair *p)
{
    for (unsigned i = 0; i < p->n; i++)
        gnutls_pcert_deinit(&p->chain[i]);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    free(p);
}

/* 1 when the key's public half is the certificate's public key. */
static int key_matches(const struct pair *p)
{
    gnutls_pubkey_t pub;
    gnutls_datum_t a = {NULL, 0}, b = {NULL, 0};
    int same = 0;
    if (gnutls_pubkey_init(&pub) < 0)
        return 0;
    if (gnutls_pubkey_import_privkey(pub, p->key, 0, 0) >= 0 &&
        gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &a) >= 0 &&
        gnutls_pubkey_export2(p->chain[0].pubkey, GNUTLS_X509_FMT_DER, &b) >= 0)
        same = a.size == b.size && memcmp(a.data, b.data, a.size) == 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    gnutls_pubkey_deinit(pub);
    return same;
}

/* The PEM pair parsed for GnuTLS; NULL with errbuf naming the variable. */
static struct pair *pair_parse(const struct mf_tls *pem, const char *cert_var, const char *key_var,
                               char *errbuf, size_t errlen)
{
    struct pair *p = mf_xcalloc(1, sizeof *p);
    gnutls_datum_t cert = {(unsigned char *)pem->cert_pem, (unsigned)strlen(pem->cert_pem)};
    gnutls_datum_t key = {(unsigned char *)pem->key_pem, (unsigned)strlen(pem->key_pem)};
    unsigned n = CHAIN_MAX;
    int rc = gnutls_pcert_list_import_x509_raw(p->chain, &n, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0 || n == 0) {
        snprintf(errbuf, errlen, "invalid %s: %s", cert_var,
                 rc < 0 ? gnutls_strerror(rc) : "no certificate");
        free(p);
        return NULL;
    }
    p->n = n;
    if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        snprintf(errbuf, errlen, "invalid %s: %s", key_var, gnutls_strerror(rc));
        pair_free(p);
        return NULL;
    }
    if (!key_matches(p)) {
        snprintf(errbuf, errlen, "invalid %s: not the key of the certificate in %s", key_var,
                 cert_var);
        pair_free(p);
        return NULL;
    }
    return p;
}

int mf_tls_install(const char *cert_path, const char *cert_var, const char *key_path,
                   const char *key_var, char *errbuf, size_t errlen)
{
    struct mf_tls pem;
    if (mf_tls_load(&pem, cert_path, cert_var, key_path, key_var, errbuf, errlen) != MF_OK)
        return MF_EDATA;
    if (!pem.cert_pem) {
        snprintf(errbuf, errlen, "missing %s and %s", cert_var, key_var);
        return MF_EDATA;
    }
    struct pair *p = pair_parse(&pem, cert_var, key_var, errbuf, errlen);
    mf_tls_release(&pem);
    if (!p)
        return MF_EDATA;
    p->older = atomic_load(&in_force);
    atomic_store(&in_force, p);
    return MF_OK;
}

void mf_tls_reload(const char *cert_path, const char *cert_var, const char *key_path,
                   const char *key_var)
{
    char err[512];
    if (mf_tls_install(cert_path, cert_var, key_path, key_var, err, sizeof err) != MF_OK)
        MF_LOG_ERROR("tls", "SIGHUP: certificate not reloaded, the one in force stays: %s", err);
    else
        MF_LOG_INFO("tls", "SIGHUP: certificate and key reloaded from %s and %s", cert_var,
                    key_var);
}

void mf_tls_uninstall(void)
{
    struct pair *p = atomic_exchange(&in_force, NULL);
    while (p) {
        struct pair *older = p->older;
        pair_free(p);
        p = older;
    }
}

int mf_tls_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                   gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    (void)session;
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct pair *p = atomic_load(&in_force);
    if (!p)
        return -1; /* the handshake fails: no certificate */
    *pcert = p->chain;
    *pcert_length = p->n;
    *pkey = p->key;
    return 0;
}
