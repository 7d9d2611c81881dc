/* id.c: connection and request ids. */
#include "common/id.h"
#include "common/b64.h"

#include <sodium.h>
#include <string.h>

void id_gen_init(id_gen_t *g, uint8_t node, uint8_t worker)
{
    memset(g, 0, sizeof *g);
    g->pos = sizeof g->pool;
    g->node = node;
    g->worker = worker;
}

void id_random(id_gen_t *g, void *out, size_t n)
{
    uint8_t *o = out;
    while (n > 0) {
        if (g->pos == sizeof g->pool) {
            randombytes_buf(g->pool, sizeof g->pool);
            g->pos = 0;
        }
        size_t k = sizeof g->pool - g->pos;
        if (k > n)
            k = n;
        memcpy(o, g->pool + g->pos, k);
        /* Used bytes are wiped so a memory dump never reveals ids not yet handed out. */
        sodium_memzero(g->pool + g->pos, k);
        g->pos += k;
        o += k;
        n -= k;
    }
}

void id_conn_new(id_gen_t *g, char out[ID_LEN + 1])
{
    uint8_t b[11];
    id_random(g, b, sizeof b);
    /* Never a leading '-' (62 in base64url): awscli and other CLIs would take the id for an
     * option ("--connection-id: expected one argument"). */
    while ((b[0] >> 2) == 62)
        id_random(g, b, 1);
    b[6] = g->node;
    b[7] = g->worker;
    b64_encode(b, sizeof b, out, true);
}

void id_request_new(id_gen_t *g, char out[ID_LEN + 1])
{
    uint8_t b[11];
    id_random(g, b, sizeof b);
    b64_encode(b, sizeof b, out, true);
}

bool id_conn_owner(const char *s, size_t n, uint8_t *node, uint8_t *worker)
{
    if (n != ID_LEN || s[ID_LEN - 1] != '=')
        return false;
    for (size_t i = 0; i < ID_LEN - 1; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    /* 15 chars carry 90 bits; the last one must hold only 2 significant bits (11 bytes). */
    uint8_t b[12];
    if (b64_decode(s, n, b) != 11)
        return false;
    *node = b[6];
    *worker = b[7];
    return true;
}
