/* map.c: a small chained hash map from C strings to pointers (FNV-1a, doubling at load 1). */
#include "demo-chat/chat.h"

#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

void chat_map_init(chat_map_t *m)
{
    m->nb = 16;
    m->n = 0;
    m->b = pt_xcalloc(m->nb, sizeof *m->b);
}

void chat_map_dispose(chat_map_t *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        chat_map_node_t *n = m->b[i];
        while (n) {
            chat_map_node_t *next = n->next;
            free(n);
            n = next;
        }
    }
    free(m->b);
    m->b = NULL;
    m->nb = m->n = 0;
}

static void grow(chat_map_t *m)
{
    size_t nb = m->nb * 2;
    chat_map_node_t **b = pt_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < m->nb; i++) {
        chat_map_node_t *n = m->b[i];
        while (n) {
            chat_map_node_t *next = n->next;
            size_t j = fnv1a(n->key) & (nb - 1);
            n->next = b[j];
            b[j] = n;
            n = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

int chat_map_put(chat_map_t *m, const char *key, void *val)
{
    if (chat_map_get(m, key))
        return PT_EEXISTS;
    if (m->n >= m->nb)
        grow(m);
    size_t i = fnv1a(key) & (m->nb - 1);
    chat_map_node_t *n = pt_xmalloc(sizeof *n);
    n->key = key;
    n->val = val;
    n->next = m->b[i];
    m->b[i] = n;
    m->n++;
    return PT_OK;
}

void *chat_map_get(const chat_map_t *m, const char *key)
{
    for (chat_map_node_t *n = m->b[fnv1a(key) & (m->nb - 1)]; n; n = n->next)
        if (strcmp(n->key, key) == 0)
            return n->val;
    return NULL;
}

void *chat_map_del(chat_map_t *m, const char *key)
{
    chat_map_node_t **pp = &m->b[fnv1a(key) & (m->nb - 1)];
    for (; *pp; pp = &(*pp)->next) {
        chat_map_node_t *n = *pp;
        if (strcmp(n->key, key) == 0) {
            void *val = n->val;
            *pp = n->next;
            free(n);
            m->n--;
            return val;
        }
    }
    return NULL;
}

void *chat_map_next(const chat_map_t *m, size_t *pos, chat_map_node_t **node)
{
    if (*node && (*node)->next) {
        *node = (*node)->next;
        return (*node)->val;
    }
    size_t i = *node ? *pos + 1 : *pos;
    for (; i < m->nb; i++) {
        if (m->b[i]) {
            *pos = i;
            *node = m->b[i];
            return m->b[i]->val;
        }
    }
    *pos = m->nb;
    *node = NULL;
    return NULL;
}
