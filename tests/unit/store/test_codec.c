/* test_codec.c: unit tests of the registry record codec (round trips, limits, hostile bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "common/mem.h"
#include "store/store.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static store_conn_t sample(void)
{
    store_conn_t r = {
        .id = "L0SM9cOFvHcCIhw=",
        .node = 3,
        .worker = 1,
        .epoch = 0xfedcba9876543210ull,
        .connected_at_ms = 1717171717171,
        .last_active_at_ms = 1717171799999,
        .api_id = (char *)"abcde12345",
        .stage = (char *)"prod",
        .source_ip = (char *)"2001:db8::1",
        .user_agent = (char *)"Mozilla/5.0 (X11; Linux x86_64)",
        .domain_name = (char *)"ws.example.com",
        .authorizer_json = (char *)"{\"principalId\":\"u1\",\"n\":1}",
        .extra_json = (char *)"{}",
    };
    return r;
}

static void assert_str_eq_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_conn_eq(const store_conn_t *a, const store_conn_t *b)
{
    assert_int_equal(a->node, b->node);
    assert_int_equal(a->worker, b->worker);
    assert_true(a->epoch == b->epoch);
    assert_true(a->connected_at_ms == b->connected_at_ms);
    assert_true(a->last_active_at_ms == b->last_active_at_ms);
    assert_str_eq_or_null(a->api_id, b->api_id);
    assert_str_eq_or_null(a->stage, b->stage);
    assert_str_eq_or_null(a->source_ip, b->source_ip);
    assert_str_eq_or_null(a->user_agent, b->user_agent);
    assert_str_eq_or_null(a->domain_name, b->domain_name);
    assert_str_eq_or_null(a->authorizer_json, b->authorizer_json);
    assert_str_eq_or_null(a->extra_json, b->extra_json);
}

static void roundtrip(const store_conn_t *in)
{
    char *enc = NULL;
    size_t len = 0;
    store_conn_t out;
    assert_int_equal(store_conn_encode(in, &enc, &len), PT_OK);
    assert_int_equal(store_conn_decode(in->id, enc, len, &out), PT_OK);
    assert_string_equal(out.id, in->id);
    assert_conn_eq(in, &out);
    store_conn_clear(&out);
    free(enc);
}

static void test_roundtrip_full(void **state)
{
    (void)state;
    store_conn_t r = sample();
    roundtrip(&r);
}

static void test_roundtrip_null_optionals(void **state)
{
    (void)state;
    store_conn_t r = sample();
    r.user_agent = NULL;
    r.authorizer_json = NULL;
    r.extra_json = NULL;
    roundtrip(&r);
    /* empty strings stay empty, not NULL */
    r.user_agent = (char *)"";
    r.api_id = (char *)"";
    roundtrip(&r);
}

static void test_roundtrip_extremes(void **state)
{
    (void)state;
    store_conn_t r = sample();
    char *big = malloc(STORE_STR_MAX + 1);
    memset(big, 'x', STORE_STR_MAX);
    big[STORE_STR_MAX] = '\0';
    r.node = 255;
    r.worker = 0;
    r.epoch = UINT64_MAX;
    r.connected_at_ms = INT64_MIN;
    r.last_active_at_ms = INT64_MAX;
    r.user_agent = big; /* exactly at the limit */
    r.authorizer_json = big;
    roundtrip(&r);
    r.epoch = 0;
    r.connected_at_ms = -1;
    r.last_active_at_ms = 0;
    roundtrip(&r);
    free(big);
}

static void test_encode_refuses_bad_records(void **state)
{
    (void)state;
    char *enc = NULL;
    size_t len = 0;
    char *big = malloc(STORE_STR_MAX + 2);
    memset(big, 'y', STORE_STR_MAX + 1);
    big[STORE_STR_MAX + 1] = '\0';
    store_conn_t r = sample();
    r.api_id = NULL;
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_EINVAL);
    r = sample();
    r.domain_name = NULL;
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_EINVAL);
    r = sample();
    r.user_agent = big;
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_EINVAL);
    r = sample();
    big[STORE_API_ID_MAX + 1] = '\0';
    r.api_id = big;
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_EINVAL);
    big[STORE_API_ID_MAX] = '\0';
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_OK);
    free(enc);
    free(big);
}

static void test_decode_id(void **state)
{
    (void)state;
    store_conn_t r = sample(), out;
    char *enc;
    size_t len;
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_OK);
    assert_int_equal(store_conn_decode(NULL, enc, len, &out), PT_OK);
    assert_string_equal(out.id, "");
    store_conn_clear(&out);
    assert_int_equal(store_conn_decode("0123456789abcdefX", enc, len, &out), PT_EPARSE);
    assert_null(out.api_id);
    store_conn_clear(&out); /* harmless on a zeroed record */
    free(enc);
}

/* Every strict prefix of a valid record, and the record with a byte appended, is refused. */
static void test_decode_truncated_and_trailing(void **state)
{
    (void)state;
    store_conn_t r = sample(), out;
    char *enc;
    size_t len;
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_OK);
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n ? n : 1); /* exact size: ASan sees any overread */
        memcpy(copy, enc, n);
        assert_int_equal(store_conn_decode(r.id, copy, n, &out), PT_EPARSE);
        assert_null(out.api_id);
        free(copy);
    }
    char *longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = (char)0xc0;
    assert_int_equal(store_conn_decode(r.id, longer, len + 1, &out), PT_EPARSE);
    assert_int_equal(store_conn_decode(r.id, NULL, 0, &out), PT_EPARSE);
    free(longer);
    free(enc);
}

/* --- hand-built records -------------------------------------------------------------------- */

/* One array element: its msgpack kind and value. */
typedef struct el {
    char kind; /* u uint, i int, s str, n nil, b bin, f float, t true, a empty array, m map */
    uint64_t u;
    int64_t i;
    const char *s;
    size_t slen;
} el_t;

#define U(v)                                                                                       \
    {                                                                                              \
        'u', (v), 0, NULL, 0                                                                       \
    }
#define I(v)                                                                                       \
    {                                                                                              \
        'i', 0, (v), NULL, 0                                                                       \
    }
#define S(v)                                                                                       \
    {                                                                                              \
        's', 0, 0, (v), sizeof(v) - 1                                                              \
    }
#define NIL                                                                                        \
    {                                                                                              \
        'n', 0, 0, NULL, 0                                                                         \
    }

static const el_t std_els[13] = {
    U(1),      U(3),      U(1),          U(42), I(1000),          I(2000),
    S("api1"), S("prod"), S("10.0.0.1"), NIL,   S("example.com"), NIL,
    NIL,
};

static void pack_els(msgpack_sbuffer *sb, const el_t *els, size_t n)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, n);
    for (size_t k = 0; k < n; k++) {
        const el_t *e = &els[k];
        switch (e->kind) {
        case 'u':
            msgpack_pack_uint64(&pk, e->u);
            break;
        case 'i':
            msgpack_pack_int64(&pk, e->i);
            break;
        case 's':
            msgpack_pack_str_with_body(&pk, e->s, e->slen);
            break;
        case 'n':
            msgpack_pack_nil(&pk);
            break;
        case 'b':
            msgpack_pack_bin_with_body(&pk, "ab", 2);
            break;
        case 'f':
            msgpack_pack_double(&pk, 1.5);
            break;
        case 't':
            msgpack_pack_true(&pk);
            break;
        case 'a':
            msgpack_pack_array(&pk, 0);
            break;
        case 'm':
            msgpack_pack_map(&pk, 0);
            break;
        }
    }
}

static int decode_els(const el_t *els, size_t n)
{
    msgpack_sbuffer sb;
    store_conn_t out;
    msgpack_sbuffer_init(&sb);
    pack_els(&sb, els, n);
    int rc = store_conn_decode("id", sb.data, sb.size, &out);
    if (rc == PT_OK)
        store_conn_clear(&out);
    else
        assert_null(out.api_id);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void test_decode_std_ok(void **state)
{
    (void)state;
    assert_int_equal(decode_els(std_els, 13), PT_OK);
}

/* Each case replaces element `at` of the standard record. */
static void test_decode_type_confusion(void **state)
{
    (void)state;
    static const char s65[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    static const struct {
        int at;
        el_t el;
        int want;
    } cases[] = {
        {0, U(0), PT_EPARSE},      /* unknown version */
        {0, U(2), PT_EPARSE},      /* a later version */
        {0, I(-1), PT_EPARSE},     /* negative version */
        {0, S("1"), PT_EPARSE},    /* version as a string */
        {1, U(256), PT_EPARSE},    /* node past uint8 */
        {1, I(-1), PT_EPARSE},     /* negative node */
        {2, NIL, PT_EPARSE},       /* worker nil */
        {3, S("42"), PT_EPARSE},   /* epoch as a string */
        {3, U(UINT64_MAX), PT_OK}, /* largest epoch */
        {3, {'f', 0, 0, 0, 0}, PT_EPARSE},
        {4, U(UINT64_MAX), PT_EPARSE}, /* connected_at past int64 */
        {4, I(INT64_MIN), PT_OK},
        {5, {'t', 0, 0, 0, 0}, PT_EPARSE},
        {6, NIL, PT_EPARSE},                  /* api_id is required */
        {6, {'b', 0, 0, 0, 0}, PT_EPARSE},    /* bin is not str */
        {6, {'s', 0, 0, s65, 65}, PT_EPARSE}, /* api_id over its limit */
        {6, {'s', 0, 0, s65, 64}, PT_OK},
        {6, {'s', 0, 0, "a\0b", 3}, PT_EPARSE}, /* NUL inside a string */
        {7, {'a', 0, 0, 0, 0}, PT_EPARSE},
        {8, {'m', 0, 0, 0, 0}, PT_EPARSE},
        {9, S("curl/8"), PT_OK}, /* user_agent present */
        {9, U(7), PT_EPARSE},
        {10, NIL, PT_EPARSE}, /* domain_name is required */
        {11, S("{}"), PT_OK},
        {12, {'b', 0, 0, 0, 0}, PT_EPARSE},
    };
    for (size_t c = 0; c < PT_ARRAY_LEN(cases); c++) {
        el_t els[13];
        memcpy(els, std_els, sizeof els);
        els[cases[c].at] = cases[c].el;
        if (decode_els(els, 13) != cases[c].want)
            fail_msg("case %zu (element %d): expected %d", c, cases[c].at, cases[c].want);
    }
}

static void test_decode_wrong_lengths(void **state)
{
    (void)state;
    el_t els[14];
    memcpy(els, std_els, sizeof std_els);
    els[13] = (el_t)NIL;
    assert_int_equal(decode_els(els, 12), PT_EPARSE);
    assert_int_equal(decode_els(els, 14), PT_EPARSE);
    assert_int_equal(decode_els(els, 1), PT_EPARSE);
    assert_int_equal(decode_els(els, 0), PT_EPARSE);
}

static int decode_bytes(const void *p, size_t n)
{
    store_conn_t out;
    void *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    int rc = store_conn_decode("id", copy, n, &out);
    store_conn_clear(&out);
    free(copy);
    return rc;
}

/* Raw byte strings: other encodings of the same values are fine, hostile headers are not. */
static void test_decode_raw_bytes(void **state)
{
    (void)state;
    /* array16 and array32 of 13, wide ints, str8/16/32 encodings */
    static const uint8_t wide[] = {
        0xdd, 0,    0,    0,   13,                    /* array32 (13) */
        0xd0, 1,                                      /* version as int8 */
        0xcd, 0,    3,                                /* node as uint16 */
        0xd3, 0,    0,    0,   0,   0,   0,   0,   1, /* worker as int64 */
        0xce, 0,    0,    0,   42,                    /* epoch as uint32 */
        0xff,                                         /* connected_at: negative fixint -1 */
        0xd1, 0xff, 0x00,                             /* last_active: int16 -256 */
        0xd9, 4,    'a',  'p', 'i', '1',              /* str8 */
        0xda, 0,    4,    'p', 'r', 'o', 'd',         /* str16 */
        0xdb, 0,    0,    0,   3,   '1', '.', '1',    /* str32 */
        0xc0,                                         /* user_agent nil */
        0xa1, 'h',                                    /* fixstr */
        0xc0, 0xc0,
    };
    assert_int_equal(decode_bytes(wide, sizeof wide), PT_OK);
    static const uint8_t arr16[] = {0xdc, 0,    13,  1,    3,   1,    42,   0,   0,    0xa1,
                                    'a',  0xa1, 'p', 0xa1, 'i', 0xc0, 0xa1, 'd', 0xc0, 0xc0};
    assert_int_equal(decode_bytes(arr16, sizeof arr16), PT_OK);

    const struct {
        const char *name;
        const uint8_t *p;
        size_t n;
    } bad[] = {
        /* array32 announcing 268M elements: msgpack-c would allocate 6.4 GB here */
        {"huge array", (const uint8_t[]){0xdd, 0x0f, 0xff, 0xff, 0xff}, 5},
        {"huge array16", (const uint8_t[]){0xdc, 0xff, 0xff, 1}, 4},
        {"map", (const uint8_t[]){0x8d, 1, 1}, 3},
        {"not a container", (const uint8_t[]){0x01}, 1},
        {"empty array", (const uint8_t[]){0x90}, 1},
        {"nil", (const uint8_t[]){0xc0}, 1},
        {"reserved byte", (const uint8_t[]){0xc1}, 1},
        {"truncated uint64", (const uint8_t[]){0x9d, 0xcf, 0, 0}, 4},
        {"truncated array16", (const uint8_t[]){0xdc, 0}, 2},
        /* str32 header claiming 4 GiB with three bytes behind it */
        {"huge str",
         (const uint8_t[]){0x9d, 1, 3, 1, 42, 0, 0, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c'},
         15},
        {"str8 past end", (const uint8_t[]){0x9d, 1, 3, 1, 42, 0, 0, 0xd9, 200, 'a'}, 10},
        {"ext in place of int", (const uint8_t[]){0x9d, 1, 0xd4, 1, 1}, 5},
        {"float32 node", (const uint8_t[]){0x9d, 1, 0xca, 0, 0, 0, 0}, 7},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        if (decode_bytes(bad[i].p, bad[i].n) != PT_EPARSE)
            fail_msg("%s: accepted", bad[i].name);
    }
}

/* Flips every bit of a valid record and stomps every byte with interesting values: the decoder
 * must not crash, and whatever it accepts must round-trip. */
static void test_decode_mutations(void **state)
{
    (void)state;
    static const uint8_t stomp[] = {0x00, 0x7f, 0x80, 0x90, 0x9d, 0xa0, 0xbf, 0xc0, 0xc1, 0xcc,
                                    0xcf, 0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xff};
    store_conn_t r = sample();
    char *enc;
    size_t len;
    int accepted = 0;
    assert_int_equal(store_conn_encode(&r, &enc, &len), PT_OK);
    char *m = malloc(len);
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t k = 0; k < 8 + PT_ARRAY_LEN(stomp); k++) {
            store_conn_t out, again;
            char *enc2;
            size_t len2;
            memcpy(m, enc, len);
            if (k < 8)
                m[pos] ^= (char)(1u << k);
            else
                m[pos] = (char)stomp[k - 8];
            if (store_conn_decode(r.id, m, len, &out) != PT_OK) {
                assert_null(out.api_id);
                continue;
            }
            accepted++;
            assert_int_equal(store_conn_encode(&out, &enc2, &len2), PT_OK);
            assert_int_equal(store_conn_decode(out.id, enc2, len2, &again), PT_OK);
            assert_conn_eq(&out, &again);
            store_conn_clear(&again);
            store_conn_clear(&out);
            free(enc2);
        }
    }
    assert_true(accepted > 0); /* e.g. flips inside string bodies */
    free(m);
    free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_full),
        cmocka_unit_test(test_roundtrip_null_optionals),
        cmocka_unit_test(test_roundtrip_extremes),
        cmocka_unit_test(test_encode_refuses_bad_records),
        cmocka_unit_test(test_decode_id),
        cmocka_unit_test(test_decode_truncated_and_trailing),
        cmocka_unit_test(test_decode_std_ok),
        cmocka_unit_test(test_decode_type_confusion),
        cmocka_unit_test(test_decode_wrong_lengths),
        cmocka_unit_test(test_decode_raw_bytes),
        cmocka_unit_test(test_decode_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
