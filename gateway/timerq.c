/* timerq.c: fixed-duration timer queues (O(1) arm, touch and expire). */
#include "gateway/gw.h"

void gw_tq_init(gw_tqueue_t *q, int64_t duration_ms)
{
    q->head.prev = q->head.next = &q->head;
    q->head.deadline_ms = 0;
    q->duration_ms = duration_ms;
}

bool gw_tq_linked(const gw_tnode_t *n)
{
    return n->next != NULL;
}

void gw_tq_remove(gw_tnode_t *n)
{
    if (!n->next)
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
    n->q = NULL;
}

void gw_tq_push(gw_tqueue_t *q, gw_tnode_t *n, int64_t now_ms)
{
    gw_tq_remove(n);
    n->deadline_ms = now_ms + q->duration_ms;
    n->q = q;
    n->prev = q->head.prev;
    n->next = &q->head;
    q->head.prev->next = n;
    q->head.prev = n;
}

gw_tnode_t *gw_tq_pop_expired(gw_tqueue_t *q, int64_t now_ms)
{
    gw_tnode_t *n = q->head.next;
    if (n == &q->head || n->deadline_ms > now_ms)
        return NULL;
    gw_tq_remove(n);
    return n;
}

int64_t gw_tq_next(const gw_tqueue_t *q, int64_t now_ms)
{
    const gw_tnode_t *n = q->head.next;
    if (n == &q->head)
        return -1;
    return n->deadline_ms > now_ms ? n->deadline_ms - now_ms : 0;
}
