/*
 * sim_send: the two ways readings leave the simulator.
 *
 * sim_gw: one keep-alive HTTP connection to ingest-gw per sending thread
 * (libcurl easy handle), POST /v1/readings with a bearer token; the answer
 * is read for accepted/rejected counts and Retry-After.
 * sim_kafka: an idempotent producer (acks=all, murmur2_random: the same
 * partition the gateway picks), key = meter_id, for meters with their own
 * Kafka clients and for the malformed records the gateway would refuse.
 * Thread: a sim_gw belongs to one thread; the producer is shared (librdkafka
 * is thread-safe) and its delivery reports count into atomics.
 */
#ifndef SIM_SEND_H
#define SIM_SEND_H

#include <stdatomic.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

struct sim_gw;

struct sim_gw_answer {
    long code; /* HTTP status; 0 when the request failed on the way */
    long accepted, rejected;
    int retry_after_s; /* from Retry-After, or 0 */
    char error[300];   /* the first item error of the answer, or the transport error */
};

/* url: "http://host:port" (POSTs to /v1/readings) or a full URL. token may be NULL. */
struct sim_gw *sim_gw_new(const char *url, const char *token);
void sim_gw_destroy(struct sim_gw *g);

/*
 * POSTs body (len bytes) as ctype ("application/json", "text/csv") and
 * fills *a. Returns a->code (0: transport error, see a->error).
 */
long sim_gw_post(struct sim_gw *g, const char *ctype, const char *body, size_t len,
                 struct sim_gw_answer *a);

/* Delivery counters a producer updates from its delivery reports. */
struct sim_kcount {
    atomic_ullong acked, failed;
};

/* A producer; NULL with one line in errbuf. */
rd_kafka_t *sim_kafka_new(const char *brokers, char *errbuf, size_t errlen);

/*
 * Queues one record (copied); its delivery report counts into *c, which
 * must outlive the producer. Waits while the local queue is full. MF_OK,
 * or MF_EFATAL with the reason logged.
 */
int sim_kafka_send(rd_kafka_t *rk, const char *topic, const char *key, size_t keylen,
                   const void *value, size_t len, struct sim_kcount *c);

/* Waits up to timeout_ms for every queued record; MF_OK when none is left. */
int sim_kafka_flush(rd_kafka_t *rk, int timeout_ms);

#endif
