/* id.h: connection and request ids in API Gateway's shape (16 chars, base64url, one '='). */
#ifndef PORTICO_COMMON_ID_H
#define PORTICO_COMMON_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ID_LEN 16

/*
 * An id is 11 bytes base64url-encoded with one '=' pad, like AWS's "L0SM9cOFvHcCIhw=".
 * Connection ids: bytes 0-5 and 8-10 random (72 bits, less the few first characters that would
 * be '-': command lines take those for options), byte 6 the node, byte 7 the worker, so a push
 * finds its owner without a store lookup. Request and message ids: 11 random bytes.
 *
 * Random bytes come from a per-generator pool refilled with one getrandom() per 512 bytes
 * (one syscall costs 3-6 us here; ids are made at connect rate). One generator per thread.
 */
typedef struct id_gen {
    uint8_t pool[512];
    size_t pos;
    uint8_t node;
    uint8_t worker;
} id_gen_t;

void id_gen_init(id_gen_t *g, uint8_t node, uint8_t worker);
/* out receives ID_LEN chars and a NUL. */
void id_conn_new(id_gen_t *g, char out[ID_LEN + 1]);
void id_request_new(id_gen_t *g, char out[ID_LEN + 1]);
/* Random bytes from the pool. */
void id_random(id_gen_t *g, void *out, size_t n);

/* Checks the shape of a connection id and returns its owner. False when malformed. */
bool id_conn_owner(const char *s, size_t n, uint8_t *node, uint8_t *worker);

#endif
