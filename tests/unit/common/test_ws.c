/* test_ws.c: WebSocket frame headers, masking, the accept key and UTF-8 validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/ws.h"

#include <string.h>

static void test_accept_key_rfc_example(void **state)
{
    (void)state;
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_header_lengths_round_trip(void **state)
{
    (void)state;
    uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 1u << 20};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t h[14];
        size_t n = ws_write_header(h, WS_OP_TEXT, true, lens[i]);
        ws_frame_t f;
        assert_int_equal(ws_parse_header(h, n, &f), PT_OK);
        assert_int_equal(f.payload_len, lens[i]);
        assert_int_equal(f.header_len, n);
        assert_true(f.fin);
        assert_false(f.masked);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(ws_parse_header(h, k, &f), PT_EAGAIN);
    }
}

static void test_masked_client_frame(void **state)
{
    (void)state;
    /* RFC 6455 5.7: a masked "Hello". */
    uint8_t fr[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_frame_t f;
    assert_int_equal(ws_parse_header(fr, sizeof fr, &f), PT_OK);
    assert_true(f.masked);
    assert_int_equal(f.header_len, 6);
    assert_int_equal(f.payload_len, 5);
    ws_unmask(fr + 6, 5, f.mask, 0);
    assert_memory_equal(fr + 6, "Hello", 5);
}

static void test_unmask_offsets(void **state)
{
    (void)state;
    uint8_t mask[4] = {1, 2, 3, 4};
    uint8_t a[100], b[100];
    for (int i = 0; i < 100; i++)
        a[i] = b[i] = (uint8_t)(i * 7);
    ws_unmask(a, 100, mask, 0);
    /* in pieces at odd offsets must equal one pass */
    ws_unmask(b, 3, mask, 0);
    ws_unmask(b + 3, 50, mask, 3);
    ws_unmask(b + 53, 47, mask, 53);
    assert_memory_equal(a, b, 100);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    ws_frame_t f;
    uint8_t rsv[] = {0xC1, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_parse_header(rsv, sizeof rsv, &f), PT_EPARSE);
    uint8_t op3[] = {0x83, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_parse_header(op3, sizeof op3, &f), PT_EPARSE);
    uint8_t frag_ping[] = {0x09, 0x80, 0, 0, 0, 0};
    assert_int_equal(ws_parse_header(frag_ping, sizeof frag_ping, &f), PT_EPARSE);
    uint8_t big_ping[] = {0x89, 0xFE, 0, 126, 0, 0, 0, 0};
    assert_int_equal(ws_parse_header(big_ping, sizeof big_ping, &f), PT_EPARSE);
    uint8_t huge[] = {0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ws_parse_header(huge, sizeof huge, &f), PT_EPARSE);
}

static void test_close_codes(void **state)
{
    (void)state;
    assert_true(ws_close_code_valid(1000));
    assert_true(ws_close_code_valid(1003));
    assert_false(ws_close_code_valid(1004));
    assert_false(ws_close_code_valid(1005));
    assert_false(ws_close_code_valid(1006));
    assert_true(ws_close_code_valid(1011));
    assert_false(ws_close_code_valid(1015));
    assert_false(ws_close_code_valid(2999));
    assert_true(ws_close_code_valid(3000));
    assert_true(ws_close_code_valid(4999));
    assert_false(ws_close_code_valid(5000));
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"plain ascii", true},
        {"caf\xc3\xa9", true},
        {"\xe2\x82\xac euro", true},
        {"\xf0\x9f\x98\x80 emoji", true},
        {"\xf4\x8f\xbf\xbf", true},      /* U+10FFFF */
        {"\xc3\x28", false},             /* bad continuation */
        {"\xc0\xaf", false},             /* overlong */
        {"\xe0\x80\xaf", false},         /* overlong */
        {"\xed\xa0\x80", false},         /* surrogate */
        {"\xf4\x90\x80\x80", false},     /* above U+10FFFF */
        {"\xf8\x88\x80\x80\x80", false}, /* 5-byte form */
        {"\xff", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ok = ws_utf8_valid((const uint8_t *)cases[i].s, strlen(cases[i].s));
        if (ok != cases[i].ok)
            fail_msg("case %zu", i);
    }
    /* split inside a character across feeds */
    ws_utf8_t u = {0};
    const uint8_t e[] = {0xe2, 0x82, 0xac};
    assert_true(ws_utf8_feed(&u, e, 1));
    assert_false(ws_utf8_complete(&u));
    assert_true(ws_utf8_feed(&u, e + 1, 2));
    assert_true(ws_utf8_complete(&u));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_header_lengths_round_trip),
        cmocka_unit_test(test_masked_client_frame),
        cmocka_unit_test(test_unmask_offsets),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
