/*
 * mf_tls: the certificate and key of a TLS listener (ingest-gw,
 * analytics-api), read from the files its settings name, for
 * libmicrohttpd's in-memory options (MHD_USE_TLS with GnuTLS). Both set or
 * neither (plain HTTP); each refusal is one line naming the variable.
 * libmicrohttpd checks that the two belong together when it starts.
 */
#ifndef MF_TLS_H
#define MF_TLS_H

#include <stddef.h>

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

#endif
