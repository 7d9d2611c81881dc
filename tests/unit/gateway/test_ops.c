/* test_ops.c: histogram buckets and quantiles, the exposition writer, the access-log ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/ops.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

static void test_bucket_edges(void **state)
{
    (void)state;
    /* A value equal to a bound belongs to that bound's bucket (Prometheus "le"). */
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 0), 0);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 1000), 0);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 1001), 1);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 2500), 1);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 999999), 9);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 1000000), 9);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 30000000), GW_HIST_N - 2);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, 30000001), GW_HIST_N - 1);
    assert_int_equal(gw_hist_bucket(gw_hist_latency_us, INT64_MAX), GW_HIST_N - 1);
    /* Every bound, against a linear scan. */
    for (int64_t v = 0; v < 1100000; v += 37) {
        size_t want = 0;
        while (want < GW_HIST_N - 1 && v > gw_hist_lag_us[want])
            want++;
        assert_int_equal(gw_hist_bucket(gw_hist_lag_us, v), want);
    }
    for (size_t i = 1; i < GW_HIST_N - 1; i++) {
        assert_true(gw_hist_latency_us[i] > gw_hist_latency_us[i - 1]);
        assert_true(gw_hist_lag_us[i] > gw_hist_lag_us[i - 1]);
    }
}

static void test_observe_and_quantile(void **state)
{
    (void)state;
    gw_hist_t h;
    memset(&h, 0, sizeof h);
    for (int i = 0; i < 90; i++)
        gw_hist_observe(&h, gw_hist_latency_us, 4000); /* (2.5, 5] ms */
    for (int i = 0; i < 10; i++)
        gw_hist_observe(&h, gw_hist_latency_us, 40000); /* (25, 50] ms */
    gw_hist_observe(&h, gw_hist_latency_us, -5);        /* clamped to 0 */
    gw_hist_snap_t s;
    for (size_t i = 0; i < GW_HIST_N; i++)
        s.b[i] = gw_ctr_get(&h.b[i]);
    s.sum_us = gw_ctr_get(&h.sum_us);
    assert_int_equal(gw_hist_count(&s), 101);
    assert_int_equal(s.b[0], 1);
    assert_int_equal(s.b[2], 90);
    assert_int_equal(s.b[5], 10);
    assert_int_equal(s.sum_us, 90 * 4000 + 10 * 40000);
    /* p50: the 50.5th of 101 lies in (2500, 5000]: 49.5 of 90 into it. */
    assert_float_equal(gw_hist_quantile(&s, gw_hist_latency_us, 0.5), 2500 + 2500 * (50.5 - 1) / 90,
                       0.01);
    /* p99: the 99.99th lies in (25000, 50000]: 8.99 of 10 into it. */
    assert_float_equal(gw_hist_quantile(&s, gw_hist_latency_us, 0.99), 25000 + 25000 * 0.899, 1);
    gw_hist_snap_t inf;
    memset(&inf, 0, sizeof inf);
    inf.b[GW_HIST_N - 1] = 3;
    assert_float_equal(gw_hist_quantile(&inf, gw_hist_latency_us, 0.5), 30000000, 0.1);
    memset(&inf, 0, sizeof inf);
    assert_float_equal(gw_hist_quantile(&inf, gw_hist_latency_us, 0.5), 0, 0);
}

static void test_exposition(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    gw_expo_family(&b, "portico_x_total", "counter", "A help\\text\nover lines.");
    const char *lab[] = {"api_id", "abc", "stage", "", "route", "say \"hi\"\\\n", NULL};
    gw_expo_u64(&b, "portico_x_total", lab, 42);
    gw_expo_u64(&b, "portico_x_total", NULL, 18446744073709551615ULL);
    const char *none[] = {"route", NULL, NULL};
    gw_expo_f64(&b, "portico_y", none, 1.5);
    assert_string_equal(b.p, "# HELP portico_x_total A help\\\\text\\nover lines.\n"
                             "# TYPE portico_x_total counter\n"
                             "portico_x_total{api_id=\"abc\",route=\"say \\\"hi\\\"\\\\\\n\"} 42\n"
                             "portico_x_total 18446744073709551615\n"
                             "portico_y 1.5\n");
    buf_reset(&b);
    gw_hist_snap_t h;
    memset(&h, 0, sizeof h);
    h.b[0] = 2;
    h.b[3] = 1;
    h.b[GW_HIST_N - 1] = 1;
    h.sum_us = 2500000;
    const char *l2[] = {"worker", "0", NULL};
    gw_expo_hist(&b, "lag_seconds", l2, &h, gw_hist_latency_us);
    assert_non_null(strstr(b.p, "lag_seconds_bucket{worker=\"0\",le=\"0.001\"} 2\n"
                                "lag_seconds_bucket{worker=\"0\",le=\"0.0025\"} 2\n"
                                "lag_seconds_bucket{worker=\"0\",le=\"0.005\"} 2\n"
                                "lag_seconds_bucket{worker=\"0\",le=\"0.01\"} 3\n"));
    assert_non_null(strstr(b.p, "lag_seconds_bucket{worker=\"0\",le=\"30\"} 3\n"
                                "lag_seconds_bucket{worker=\"0\",le=\"+Inf\"} 4\n"
                                "lag_seconds_sum{worker=\"0\"} 2.5\n"
                                "lag_seconds_count{worker=\"0\"} 4\n"));
    buf_free(&b);
}

static void test_ring_wraps_and_refuses_when_full(void **state)
{
    (void)state;
    struct gw_alog_ring *r = gw_alog_ring_new(256);
    uint16_t dest;
    const char *line;
    size_t len;
    char msg[64];
    assert_false(gw_alog_ring_peek(r, &dest, &line, &len));
    /* Too big for half the ring: refused outright. */
    char big[200];
    memset(big, 'x', sizeof big);
    assert_false(gw_alog_ring_put(r, 1, big, sizeof big));
    /* Many rounds of 3 puts / 3 gets: positions wrap around the buffer many times, with
     * padding records whenever a line does not fit at the end. */
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 3; k++) {
            int n = snprintf(msg, sizeof msg, "line %d.%d%.*s\n", round, k, (round + k) % 23,
                             "abcdefghijklmnopqrstuvwxyz");
            assert_true(gw_alog_ring_put(r, (uint16_t)k, msg, (size_t)n));
        }
        for (int k = 0; k < 3; k++) {
            int n = snprintf(msg, sizeof msg, "line %d.%d%.*s\n", round, k, (round + k) % 23,
                             "abcdefghijklmnopqrstuvwxyz");
            assert_true(gw_alog_ring_peek(r, &dest, &line, &len));
            assert_int_equal(dest, k);
            assert_int_equal(len, (size_t)n);
            assert_memory_equal(line, msg, len);
            gw_alog_ring_pop(r);
        }
        assert_false(gw_alog_ring_peek(r, &dest, &line, &len));
        assert_int_equal(gw_alog_ring_used(r), 0);
    }
    /* Fill it: puts fail once full and succeed again after a pop. */
    int put = 0;
    while (gw_alog_ring_put(r, 7, "0123456789abcdef\n", 17))
        put++;
    assert_true(put >= 256 / 32 - 1 && put <= 256 / 32);
    assert_true(gw_alog_ring_peek(r, &dest, &line, &len));
    gw_alog_ring_pop(r);
    assert_true(gw_alog_ring_put(r, 7, "0123456789abcdef\n", 17));
    gw_alog_ring_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_edges),
        cmocka_unit_test(test_observe_and_quantile),
        cmocka_unit_test(test_exposition),
        cmocka_unit_test(test_ring_wraps_and_refuses_when_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
