/* test_basics.c: base64, ids, time formats, buffers and the inbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/id.h"
#include "common/inbox.h"
#include "common/timefmt.h"

#include <pthread.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void test_b64(void **state)
{
    (void)state;
    char out[64];
    uint8_t back[64];
    const char *cases[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 5; i++) {
        b64_encode((const uint8_t *)cases[i][0], strlen(cases[i][0]), out, false);
        assert_string_equal(out, cases[i][1]);
        long n = b64_decode(out, strlen(out), back);
        assert_int_equal(n, (long)strlen(cases[i][0]));
        assert_memory_equal(back, cases[i][0], (size_t)n);
    }
    uint8_t bin[] = {0xfb, 0xff};
    b64_encode(bin, 2, out, true);
    assert_string_equal(out, "-_8=");
    b64_encode(bin, 2, out, false);
    assert_string_equal(out, "+/8=");
    assert_int_equal(b64_decode("a", 1, back), -1);
    assert_int_equal(b64_decode("ab$d", 4, back), -1);
}

static void test_ids_have_aws_shape_and_owner(void **state)
{
    (void)state;
    id_gen_t g;
    id_gen_init(&g, 7, 3);
    char seen[200][ID_LEN + 1];
    for (int i = 0; i < 200; i++) {
        id_conn_new(&g, seen[i]);
        assert_int_equal(strlen(seen[i]), 16);
        assert_int_equal(seen[i][15], '=');
        uint8_t node, worker;
        assert_true(id_conn_owner(seen[i], 16, &node, &worker));
        assert_int_equal(node, 7);
        assert_int_equal(worker, 3);
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[i], seen[k]);
    }
    /* No id starts with '-' (1 in 64 would): awscli reads "--connection-id -x..." as options. */
    for (int i = 0; i < 20000; i++) {
        char id[ID_LEN + 1];
        id_conn_new(&g, id);
        assert_true(id[0] != '-');
    }
    char rid[ID_LEN + 1];
    id_request_new(&g, rid);
    assert_int_equal(strlen(rid), 16);
    uint8_t n, w;
    assert_false(id_conn_owner("L0SM9cOFvHcCIhw", 15, &n, &w));
    assert_false(id_conn_owner("L0SM9cOFvHcCIh/=", 16, &n, &w));
    assert_false(id_conn_owner("L0SM9cOFvHcCIhwA", 16, &n, &w));
    assert_true(id_conn_owner("L0SM9cOFvHcCIhw=", 16, &n, &w)); /* AWS's own example */
}

static void test_time_formats(void **state)
{
    (void)state;
    char out[32];
    int64_t ms = 1707502303419; /* 2024-02-09T18:11:43.419Z */
    time_clf(ms, out);
    assert_string_equal(out, "09/Feb/2024:18:11:43 +0000");
    time_iso_ms(ms, out);
    assert_string_equal(out, "2024-02-09T18:11:43.419Z");
    time_iso_ms(1643136604007, out);
    assert_string_equal(out, "2022-01-25T18:50:04.007Z");
    time_http_date(784111777, out);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
}

static void test_buf(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_puts(&b, "ab");
    buf_printf(&b, "%d-%s", 42, "x");
    assert_string_equal(b.p, "ab42-x");
    buf_consume(&b, 2);
    assert_string_equal(b.p, "42-x");
    buf_reset(&b);
    buf_json_str(&b, "q\"\\\n\x01", 5);
    assert_string_equal(b.p, "\"q\\\"\\\\\\n\\u0001\"");
    for (int i = 0; i < 10000; i++)
        buf_putc(&b, 'z');
    assert_int_equal(b.len, 15 + 10000);
    size_t n;
    char *p = buf_steal(&b, &n);
    assert_int_equal(n, 10015);
    assert_null(b.p);
    free(p);
}

typedef struct msg {
    inbox_msg_t m;
    int v;
} msg_t;

static inbox_t ib;

static void *producer(void *arg)
{
    int base = *(int *)arg;
    for (int i = 0; i < 5000; i++) {
        msg_t *m = calloc(1, sizeof *m);
        m->v = base + i;
        inbox_push(&ib, &m->m);
    }
    return NULL;
}

static void test_inbox_many_producers(void **state)
{
    (void)state;
    assert_int_equal(inbox_init(&ib), PT_OK);
    pthread_t t[4];
    int bases[4] = {0, 100000, 200000, 300000};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, producer, &bases[i]);
    int got = 0, last[4] = {-1, -1, -1, -1};
    while (got < 20000) {
        /* The owner's loop (inbox.h): announce the sleep; a push must then wake it. */
        if (inbox_sleep(&ib)) {
            struct pollfd p = {.fd = inbox_fd(&ib), .events = POLLIN};
            assert_true(poll(&p, 1, 5000) == 1); /* a push always wakes a sleeping owner */
            inbox_awake(&ib);
            inbox_clear_fd(&ib);
        } else {
            inbox_awake(&ib);
        }
        for (inbox_msg_t *m = inbox_take(&ib), *n; m; m = n) {
            n = m->next;
            msg_t *mm = (msg_t *)m;
            int who = mm->v / 100000;
            assert_true(mm->v > last[who]); /* FIFO per producer */
            last[who] = mm->v;
            free(mm);
            got++;
        }
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_null(inbox_take(&ib));
    inbox_close(&ib);
    msg_t extra = {0};
    assert_false(inbox_push(&ib, &extra.m));
    inbox_dispose(&ib, NULL);
}

static void test_inbox_signals_only_a_sleeper(void **state)
{
    (void)state;
    inbox_t b;
    assert_int_equal(inbox_init(&b), PT_OK);
    struct pollfd p = {.fd = inbox_fd(&b), .events = POLLIN};
    msg_t one = {0}, two = {0};
    /* Owner awake: the message is queued, the eventfd stays quiet. */
    assert_true(inbox_push(&b, &one.m));
    assert_int_equal(poll(&p, 1, 0), 0);
    /* Messages waiting: the owner must not sleep. */
    assert_false(inbox_sleep(&b));
    inbox_awake(&b);
    assert_ptr_equal(inbox_take(&b), &one.m);
    assert_null(inbox_take(&b));
    /* Owner asleep: a push writes the eventfd once; clearing it re-arms. */
    assert_true(inbox_sleep(&b));
    assert_true(inbox_push(&b, &two.m));
    assert_int_equal(poll(&p, 1, 0), 1);
    inbox_awake(&b);
    inbox_clear_fd(&b);
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_ptr_equal(inbox_take(&b), &two.m);
    assert_null(two.m.next);
    inbox_dispose(&b, NULL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_ids_have_aws_shape_and_owner),
        cmocka_unit_test(test_time_formats),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_inbox_many_producers),
        cmocka_unit_test(test_inbox_signals_only_a_sleeper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
