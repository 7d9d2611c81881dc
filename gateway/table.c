/* table.c: a worker's WebSocket connections by id, and its parked HTTP requests by token. */
#include "gateway/gw.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

/* Ids are random in 9 of their 11 bytes, so a few characters make a good hash. */
static size_t id_hash(const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < ID_LEN; i++) {
        h ^= (unsigned char)id[i];
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

/* Chained buckets: the chain link lives in gw_ws_t, so an entry costs one pointer slot. */
static void table_grow(gw_conn_table_t *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 1024;
    gw_conn_t **slots = pt_xcalloc(cap, sizeof *slots);
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        gw_conn_t *c = t->slots[i];
        while (c) {
            gw_conn_t *next = c->ws->hnext;
            size_t s = id_hash(c->ws->id) & (cap - 1);
            c->ws->hnext = slots[s];
            slots[s] = c;
            c = next;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
}

void gw_table_put(gw_conn_table_t *t, gw_conn_t *c)
{
    if (!t->slots || t->count >= t->mask + 1)
        table_grow(t);
    size_t s = id_hash(c->ws->id) & t->mask;
    c->ws->hnext = t->slots[s];
    t->slots[s] = c;
    t->count++;
}

void gw_table_del(gw_conn_table_t *t, gw_conn_t *c)
{
    if (!t->slots)
        return;
    size_t s = id_hash(c->ws->id) & t->mask;
    for (gw_conn_t **pp = &t->slots[s]; *pp; pp = &(*pp)->ws->hnext) {
        if (*pp == c) {
            *pp = c->ws->hnext;
            c->ws->hnext = NULL;
            t->count--;
            return;
        }
    }
}

gw_conn_t *gw_table_get(const gw_conn_table_t *t, const char *id)
{
    if (!t->slots)
        return NULL;
    for (gw_conn_t *c = t->slots[id_hash(id) & t->mask]; c; c = c->ws->hnext)
        if (memcmp(c->ws->id, id, ID_LEN) == 0)
            return c;
    return NULL;
}

/* Parked requests: open addressing on the token (tokens are sequential per worker). */
uint64_t gw_park(gw_conn_t *c)
{
    gw_worker_t *w = c->w;
    if (!w->parked) {
        w->parked_mask = 255;
        w->parked = pt_xcalloc(w->parked_mask + 1, sizeof *w->parked);
    }
    if (w->nparked * 2 >= w->parked_mask + 1) {
        size_t cap = (w->parked_mask + 1) * 2;
        gw_conn_t **n = pt_xcalloc(cap, sizeof *n);
        for (size_t i = 0; i <= w->parked_mask; i++) {
            gw_conn_t *p = w->parked[i];
            if (!p)
                continue;
            size_t s = p->park_token & (cap - 1);
            while (n[s])
                s = (s + 1) & (cap - 1);
            n[s] = p;
        }
        free(w->parked);
        w->parked = n;
        w->parked_mask = cap - 1;
    }
    uint64_t tok = ++w->next_park_token;
    size_t s = tok & w->parked_mask;
    while (w->parked[s])
        s = (s + 1) & w->parked_mask;
    w->parked[s] = c;
    w->nparked++;
    c->park_token = tok;
    c->state = GW_CS_PARKED;
    return tok;
}

static size_t park_slot(gw_worker_t *w, uint64_t token)
{
    if (!w->parked || token == 0)
        return SIZE_MAX;
    size_t s = token & w->parked_mask;
    for (size_t i = 0; i <= w->parked_mask; i++, s = (s + 1) & w->parked_mask) {
        if (!w->parked[s])
            return SIZE_MAX;
        if (w->parked[s]->park_token == token)
            return s;
    }
    return SIZE_MAX;
}

/* Removes slot s and re-inserts the rest of its cluster (linear-probing deletion). */
static void park_remove_slot(gw_worker_t *w, size_t s)
{
    w->parked[s] = NULL;
    w->nparked--;
    for (size_t j = (s + 1) & w->parked_mask; w->parked[j]; j = (j + 1) & w->parked_mask) {
        gw_conn_t *p = w->parked[j];
        w->parked[j] = NULL;
        size_t k = p->park_token & w->parked_mask;
        while (w->parked[k])
            k = (k + 1) & w->parked_mask;
        w->parked[k] = p;
    }
}

gw_conn_t *gw_unpark(gw_worker_t *w, uint64_t token)
{
    size_t s = park_slot(w, token);
    if (s == SIZE_MAX)
        return NULL;
    gw_conn_t *c = w->parked[s];
    park_remove_slot(w, s);
    c->park_token = 0;
    return c;
}

void gw_park_drop(gw_conn_t *c)
{
    if (!c->park_token)
        return;
    size_t s = park_slot(c->w, c->park_token);
    if (s != SIZE_MAX)
        park_remove_slot(c->w, s);
    c->park_token = 0;
}
