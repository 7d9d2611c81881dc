/* test_timerq.c: the gateway's fixed-duration timer queues and its connection/park tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/gw.h"

#include <stdlib.h>
#include <string.h>

static void test_queue_orders_by_deadline_and_touch_moves_to_tail(void **state)
{
    (void)state;
    gw_tqueue_t q;
    gw_tq_init(&q, 1000);
    gw_tnode_t a = {0}, b = {0}, c = {0};
    assert_int_equal(gw_tq_next(&q, 0), -1);
    gw_tq_push(&q, &a, 0);
    gw_tq_push(&q, &b, 100);
    gw_tq_push(&q, &c, 200);
    assert_ptr_equal(a.q, &q);
    assert_int_equal(gw_tq_next(&q, 500), 500);
    gw_tq_push(&q, &a, 300); /* activity: a moves behind c */
    assert_null(gw_tq_pop_expired(&q, 1099));
    assert_ptr_equal(gw_tq_pop_expired(&q, 1100), &b);
    assert_null(b.q);
    assert_false(gw_tq_linked(&b));
    assert_ptr_equal(gw_tq_pop_expired(&q, 5000), &c);
    assert_ptr_equal(gw_tq_pop_expired(&q, 5000), &a);
    assert_null(gw_tq_pop_expired(&q, 5000));
    gw_tq_push(&q, &a, 0);
    gw_tq_remove(&a);
    gw_tq_remove(&a); /* idempotent */
    assert_int_equal(gw_tq_next(&q, 0), -1);
}

static gw_conn_t *mk(gw_worker_t *w, const char *id)
{
    gw_conn_t *c = calloc(1, sizeof *c);
    c->ws = calloc(1, sizeof *c->ws);
    c->w = w;
    memcpy(c->ws->id, id, ID_LEN);
    return c;
}

static void test_conn_table_grows_and_finds(void **state)
{
    (void)state;
    gw_worker_t w;
    memset(&w, 0, sizeof w);
    id_gen_t g;
    id_gen_init(&g, 0, 1);
    enum { N = 5000 };
    gw_conn_t **all = calloc(N, sizeof *all);
    for (int i = 0; i < N; i++) {
        char id[ID_LEN + 1];
        id_conn_new(&g, id);
        all[i] = mk(&w, id);
        gw_table_put(&w.table, all[i]);
    }
    assert_int_equal(w.table.count, N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(gw_table_get(&w.table, all[i]->ws->id), all[i]);
    for (int i = 0; i < N; i += 2)
        gw_table_del(&w.table, all[i]);
    assert_int_equal(w.table.count, N / 2);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(gw_table_get(&w.table, all[i]->ws->id), i % 2 ? all[i] : NULL);
    assert_null(gw_table_get(&w.table, "AAAAAAAAAAAAAAA="));
    for (int i = 0; i < N; i++) {
        free(all[i]->ws);
        free(all[i]);
    }
    free(all);
    free(w.table.slots);
}

static void test_parked_requests(void **state)
{
    (void)state;
    gw_worker_t w;
    memset(&w, 0, sizeof w);
    enum { N = 1000 };
    gw_conn_t *cs = calloc(N, sizeof *cs);
    uint64_t tok[N];
    for (int i = 0; i < N; i++) {
        cs[i].w = &w;
        tok[i] = gw_park(&cs[i]);
        assert_int_equal(cs[i].state, GW_CS_PARKED);
    }
    assert_int_equal(w.nparked, N);
    for (int i = 0; i < N; i += 3)
        gw_park_drop(&cs[i]); /* the client went away */
    for (int i = 0; i < N; i++) {
        gw_conn_t *c = gw_unpark(&w, tok[i]);
        assert_ptr_equal(c, i % 3 ? &cs[i] : NULL);
    }
    assert_int_equal(w.nparked, 0);
    assert_null(gw_unpark(&w, tok[1])); /* a reply never finds a conn twice */
    free(cs);
    free(w.parked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_orders_by_deadline_and_touch_moves_to_tail),
        cmocka_unit_test(test_conn_table_grows_and_finds),
        cmocka_unit_test(test_parked_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
