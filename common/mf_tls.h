/*
 * mf_tls: the certificate and key of a TLS listener (ingest-gw,
 * analytics-api), read from the files its settings name, for
 * libmicrohttpd's in-memory options (MHD_USE_TLS with GnuTLS). Both set or
 * neither (plain HTTP); each refusal is one line naming the variable.
 * mf_tls_install checks that the two belong together and keeps the pair
 * GnuTLS hands out, replaceable while the server runs.
 */
#ifndef MF_TLS_H
#define MF_TLS_H

#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

struct mf_tls {
    char *cert_pem; /* NULL: plain HTTP */
    char *key_pem;
};

/*
 * Reads cert_path and key_path ("" for unset; cert_var and key_var name the
 * settings in errors). MF_OK with tls->cert_pem NULL when neither is set;
 * MF_EDATA with errbuf when only one is, a file cannot be read, is empty,
 * larger than 1 MiB, or holds no PEM block of the right kind.
 */
int mf_tls_load(struct mf_tls *tls, const char *cert_path, const char *cert_var,
                const char *key_path, const char *key_var, char *errbuf, size_t errlen);
/* Frees the PEM texts (the key's bytes are cleared first). */
void mf_tls_release(struct mf_tls *tls);

/*
 * The pair in force for the process's TLS listener, handed to GnuTLS at
 * each handshake (mf_tls_cert_cb, libmicrohttpd's
 * MHD_OPTION_HTTPS_CERT_CALLBACK), so that a renewed certificate is put in
 * force on SIGHUP without restarting the server: connections already open
 * keep the pair they shook hands with, new ones get the new pair.
 *
 * mf_tls_install reads the two files as mf_tls_load does, parses them and
 * checks that the key is the certificate's (a pair that does not match
 * would fail every handshake), then puts the pair in force. On any
 * refusal (one line naming the variable) the pair in force stays. Pairs
 * replaced are kept until mf_tls_uninstall, called after the server has
 * stopped (a handshake may still be using one): a few kB per reload.
 * One listener per process (the callback has no context of its own).
 * Thread: install/uninstall from one thread; the callback from any.
 */
int mf_tls_install(const char *cert_path, const char *cert_var, const char *key_path,
                   const char *key_var, char *errbuf, size_t errlen);
/* SIGHUP: mf_tls_install again, and a log line saying what happened. */
void mf_tls_reload(const char *cert_path, const char *cert_var, const char *key_path,
                   const char *key_var);
/* Frees every pair installed. */
void mf_tls_uninstall(void);

/* A gnutls_certificate_retrieve_function2: the pair in force. */
int mf_tls_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                   const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                   gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey);

#endif
