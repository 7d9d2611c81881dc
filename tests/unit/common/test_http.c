/* test_http.c: the HTTP/1.1 request-head parser and HTTP text helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static http_request_t req;

static int parse(const char *s)
{
    return http_parse_request(s, strlen(s), &req);
}

static void test_simple_get(void **state)
{
    (void)state;
    const char *s = "GET /prod/@connections/abc%3D?x=1&y HTTP/1.1\r\nHost: a.b:8080\r\n"
                    "X-Trim:   spaced value  \r\nEmpty:\r\n\r\nTRAILING";
    assert_int_equal(parse(s), PT_OK);
    assert_int_equal(req.head_len, strlen(s) - strlen("TRAILING"));
    assert_int_equal(req.method_len, 3);
    assert_memory_equal(req.method, "GET", 3);
    assert_int_equal(req.target_len, strlen("/prod/@connections/abc%3D?x=1&y"));
    assert_int_equal(req.path_len, strlen("/prod/@connections/abc%3D"));
    assert_int_equal(req.query_len, 5);
    assert_memory_equal(req.query, "x=1&y", 5);
    assert_int_equal(req.minor_version, 1);
    assert_int_equal(req.nheaders, 3);
    const http_header_t *h = http_find_header(&req, "x-trim");
    assert_non_null(h);
    assert_int_equal(h->value_len, strlen("spaced value"));
    assert_memory_equal(h->value, "spaced value", h->value_len);
    h = http_find_header(&req, "EMPTY");
    assert_non_null(h);
    assert_int_equal(h->value_len, 0);
    assert_null(http_find_header(&req, "missing"));
}

static void test_incomplete_heads_ask_for_more(void **state)
{
    (void)state;
    const char *full = "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\n";
    for (size_t n = 0; n < strlen(full); n++)
        assert_int_equal(http_parse_request(full, n, &req), PT_EAGAIN);
    assert_int_equal(http_parse_request(full, strlen(full), &req), PT_OK);
}

static void test_bare_lf_and_leading_blank_lines(void **state)
{
    (void)state;
    assert_int_equal(parse("\r\n\nGET / HTTP/1.0\nHost: x\n\n"), PT_OK);
    assert_int_equal(req.minor_version, 0);
    assert_int_equal(req.nheaders, 1);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "GET  / HTTP/1.1\r\n\r\n", /* double space */
        "GET / HTTP/2.0\r\n\r\n",  /* not HTTP/1.x */
        "GET / HTTP/1.1 \r\n\r\n", /* trailing space */
        "GET x HTTP/1.1\r\n\r\n",  /* not origin-form */
        "G(T / HTTP/1.1\r\n\r\n",  /* bad method byte */
        "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
        "GET / HTTP/1.1\r\n folded: x\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", /* obsolete folding */
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\nA: x\001y\r\n\r\n", /* control byte in a value */
        "\x16\x03\x01\x02\x00",                /* a TLS ClientHello: garbage at once */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i]);
        if (rc != PT_EPARSE)
            fail_msg("case %zu parsed as %d", i, rc);
    }
}

static void test_too_many_headers(void **state)
{
    (void)state;
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "H%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "\r\n");
    assert_int_equal(http_parse_request(buf, n, &req), PT_ETOOBIG);
}

static void test_tokens(void **state)
{
    (void)state;
    const char *v = "keep-alive, Upgrade";
    assert_true(http_value_has_token(v, strlen(v), "upgrade"));
    assert_true(http_value_has_token(v, strlen(v), "keep-alive"));
    assert_false(http_value_has_token(v, strlen(v), "close"));
    assert_false(http_value_has_token("upgraded", 8, "upgrade"));
}

static void test_pct_decode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(http_pct_decode("abc%3D", 6, out, false), 4);
    assert_string_equal(out, "abc=");
    assert_int_equal(http_pct_decode("a+b%20c", 7, out, true), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(http_pct_decode("a+b", 3, out, false), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(http_pct_decode("%4", 2, out, false), -1);
    assert_int_equal(http_pct_decode("%zz", 3, out, false), -1);
    assert_int_equal(http_pct_decode("a%00b", 5, out, false), -1);
}

static void test_query_iteration(void **state)
{
    (void)state;
    const char *q = "a=1&&b=&c&d=x%20y";
    size_t pos = 0, kl, vl;
    const char *k, *v;
    const char *want[][2] = {{"a", "1"}, {"b", ""}, {"c", ""}, {"d", "x%20y"}};
    for (int i = 0; i < 4; i++) {
        assert_true(http_query_next(q, strlen(q), &pos, &k, &kl, &v, &vl));
        assert_int_equal(kl, strlen(want[i][0]));
        assert_memory_equal(k, want[i][0], kl);
        assert_int_equal(vl, strlen(want[i][1]));
        assert_memory_equal(v, want[i][1], vl);
    }
    assert_false(http_query_next(q, strlen(q), &pos, &k, &kl, &v, &vl));
}

static void test_u64_and_reasons(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(http_parse_u64("131072", 6, &v), PT_OK);
    assert_int_equal(v, 131072);
    assert_int_equal(http_parse_u64("-1", 2, &v), PT_EPARSE);
    assert_int_equal(http_parse_u64("1 2", 3, &v), PT_EPARSE);
    assert_int_equal(http_parse_u64("", 0, &v), PT_EPARSE);
    assert_int_equal(http_parse_u64("9999999999999999999", 19, &v), PT_EPARSE);
    assert_string_equal(http_reason(410), "Gone");
    assert_string_equal(http_reason(426), "Upgrade Required");
    assert_string_equal(http_reason(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_incomplete_heads_ask_for_more),
        cmocka_unit_test(test_bare_lf_and_leading_blank_lines),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_pct_decode),
        cmocka_unit_test(test_query_iteration),
        cmocka_unit_test(test_u64_and_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
