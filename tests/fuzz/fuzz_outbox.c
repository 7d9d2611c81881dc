/* fuzz_outbox.c: libFuzzer target for the $disconnect outbox entry decoder, with round trips. */
#include "common/err.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * For every input (the bytes of an outbox value as LMDB would hand them back after a crash):
 * store_outbox_decode must not crash; when it accepts, encode(decode(x)) succeeds, decodes to
 * the same fields, and is byte-identical to x (the layout has one encoding per entry).
 *
 * Seed corpus: tests/fuzz/corpus/outbox/, written by the generator at the end of this file:
 *   cc -std=gnu11 -D_GNU_SOURCE -DFUZZ_OUTBOX_GEN -I. tests/fuzz/fuzz_outbox.c store/outbox.c \
 *      store/codec.c store/store.c store/batch.c common/buf.c common/mem.c common/err.c -llmdb \
 *      -o /tmp/gen && /tmp/gen tests/fuzz/corpus/outbox
 */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* An empty reason and no reason are the same entry. */
static bool reason_eq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static bool entry_eq(const store_outbox_t *a, const store_outbox_t *b)
{
    const store_conn_t *x = &a->conn, *y = &b->conn;
    return !strcmp(x->id, y->id) && x->node == y->node && x->worker == y->worker &&
           x->epoch == y->epoch && x->connected_at_ms == y->connected_at_ms &&
           x->last_active_at_ms == y->last_active_at_ms && str_eq(x->api_id, y->api_id) &&
           str_eq(x->stage, y->stage) && str_eq(x->source_ip, y->source_ip) &&
           str_eq(x->user_agent, y->user_agent) && str_eq(x->domain_name, y->domain_name) &&
           str_eq(x->authorizer_json, y->authorizer_json) && str_eq(x->extra_json, y->extra_json) &&
           a->close_code == b->close_code && reason_eq(a->close_reason, b->close_reason) &&
           str_eq(a->request_id, b->request_id) && a->closed_at_ms == b->closed_at_ms &&
           a->attempts == b->attempts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_outbox_t a, b;
    char *enc = NULL;
    size_t len = 0;

    if (store_outbox_decode("L0SM9cOFvHcCIhw=", data, size, &a) != PT_OK) {
        CHECK(a.conn.api_id == NULL && a.close_reason == NULL); /* zeroed on failure */
        return 0;
    }
    CHECK(a.close_code >= 0 && a.close_code <= 65535 && a.attempts <= 255);
    CHECK(store_outbox_encode(&a, &enc, &len) == PT_OK);
    CHECK(store_outbox_decode(a.conn.id, enc, len, &b) == PT_OK);
    CHECK(entry_eq(&a, &b));
    CHECK(len <= size);
    store_outbox_clear(&a);
    store_outbox_clear(&b);
    free(enc);
    return 0;
}

#ifdef FUZZ_OUTBOX_GEN
/* --- seed generator (not part of the fuzz build) ------------------------------------------ */

static void seed(const char *dir, const char *name, const store_outbox_t *e)
{
    char path[512], *enc;
    size_t len;
    CHECK(store_outbox_encode(e, &enc, &len) == PT_OK);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(enc, 1, len, f) == len && fclose(f) == 0);
    free(enc);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    store_outbox_t e = {
        .conn = {.node = 1,
                 .worker = 2,
                 .epoch = 0x5f3e2a1b00c0ffeeull,
                 .connected_at_ms = 1717171717171,
                 .last_active_at_ms = 1717171720000,
                 .api_id = "a1b2c3d4e5",
                 .stage = "prod",
                 .source_ip = "203.0.113.9",
                 .user_agent = "python-websockets/10.4",
                 .domain_name = "127.0.0.1:8080"},
        .close_code = 1001,
        .close_reason = "Going away",
        .request_id = "L0SM9cOFvHcCIhw=",
        .closed_at_ms = 1717171730000,
        .attempts = 0,
    };
    seed(dir, "going_away", &e);
    e.close_code = 1006, e.close_reason = "", e.request_id = NULL, e.attempts = 2;
    seed(dir, "swept_1006", &e);
    e.conn.user_agent = NULL, e.conn.authorizer_json = "{\"principalId\":\"u\"}";
    e.conn.extra_json = "{}", e.close_code = 65535, e.attempts = 255, e.closed_at_ms = -1;
    seed(dir, "extremes", &e);
    return 0;
}
#endif
