/*
 * mf_err: the error codes every meterflow function returns.
 *
 * The code says what the caller does next, not what went wrong: the detail
 * goes into an errbuf (see mf_config, mf_reading) or the log.
 */
#ifndef MF_ERR_H
#define MF_ERR_H

enum mf_err {
    MF_OK = 0,
    MF_EDATA = -1,  /* the input is bad: quarantine, DLQ or a 4xx */
    MF_ERETRY = -2, /* a dependency is down (broker, PostgreSQL): back off, retry */
    MF_EFATAL = -3, /* cannot go on: exit non-zero and let Kubernetes restart us */
};

/* A static, lower-case name of the code ("bad data", ...). Never NULL. */
const char *mf_strerror(int err);

#endif
