/* test_result.c: Lambda proxy results (spec 6.5): accepted shapes, malformed ones, headers. */
#include "routes_test.h"

static int parse(const char *text, route_proxy_result_t *r)
{
    return route_proxy_result_parse(text, strlen(text), r);
}

static void test_full_result(void **state)
{
    (void)state;
    route_proxy_result_t r;
    assert_int_equal(parse("{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\","
                           "\"X-N\":5,\"X-B\":true},\"multiValueHeaders\":{\"Set-Cookie\":"
                           "[\"a=1\",\"b=2\"],\"X-R\":[1.5,null]},\"body\":\"hello\","
                           "\"isBase64Encoded\":false}",
                           &r),
                     PT_OK);
    assert_int_equal(r.status_code, 201);
    assert_string_equal(r.body, "hello");
    assert_int_equal(r.body_len, 5);
    assert_false(r.is_base64);
    assert_string_equal(route_proxy_result_header(&r, "content-type"), "text/plain");
    assert_string_equal(route_proxy_result_header(&r, "X-N"), "5");
    assert_string_equal(route_proxy_result_header(&r, "x-b"), "true");
    assert_string_equal(route_proxy_result_header(&r, "set-cookie"), "a=1"); /* first value */
    assert_string_equal(route_proxy_result_header(&r, "X-R"), "1.5");
    assert_null(route_proxy_result_header(&r, "X-Missing"));
    assert_int_equal(json_array_size(json_object_get(r.multi_value_headers, "Set-Cookie")), 2);
    route_proxy_result_free(&r);
    assert_int_equal(r.status_code, -1);
    assert_null(r.body);
}

static void test_minimal_results(void **state)
{
    (void)state;
    route_proxy_result_t r;
    assert_int_equal(parse("{}", &r), PT_OK);
    assert_int_equal(r.status_code, -1); /* absent */
    assert_null(r.body);
    assert_null(r.headers);
    assert_null(r.multi_value_headers);
    assert_null(route_proxy_result_header(&r, "x"));
    route_proxy_result_free(&r);

    assert_int_equal(parse("{\"statusCode\":200}", &r), PT_OK);
    assert_int_equal(r.status_code, 200);
    route_proxy_result_free(&r);

    /* The chat sample's answer. */
    assert_int_equal(parse("{\"statusCode\": 200, \"body\": \"Connected.\"}", &r), PT_OK);
    assert_string_equal(r.body, "Connected.");
    route_proxy_result_free(&r);

    /* Explicit nulls are absent values. */
    assert_int_equal(parse("{\"statusCode\":null,\"body\":null,\"headers\":null,"
                           "\"multiValueHeaders\":null,\"isBase64Encoded\":null}",
                           &r),
                     PT_OK);
    assert_int_equal(r.status_code, -1);
    assert_null(r.body);
    route_proxy_result_free(&r);
}

static void test_status_forms(void **state)
{
    (void)state;
    route_proxy_result_t r;
    static const struct {
        const char *json;
        int want; /* -2: malformed */
    } cases[] = {
        {"{\"statusCode\":\"201\"}", 201}, /* numeric strings are accepted, as AWS does */
        {"{\"statusCode\":404.0}", 404},   {"{\"statusCode\":100}", 100},
        {"{\"statusCode\":599}", 599},     {"{\"statusCode\":99}", -2},
        {"{\"statusCode\":600}", -2},      {"{\"statusCode\":0}", -2},
        {"{\"statusCode\":-200}", -2},     {"{\"statusCode\":200.5}", -2},
        {"{\"statusCode\":\"20x\"}", -2},  {"{\"statusCode\":\" 200\"}", -2},
        {"{\"statusCode\":\"\"}", -2},     {"{\"statusCode\":\"2000\"}", -2},
        {"{\"statusCode\":true}", -2},     {"{\"statusCode\":[200]}", -2},
        {"{\"statusCode\":1e300}", -2},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(cases); i++) {
        int rc = parse(cases[i].json, &r);
        if (cases[i].want == -2) {
            if (rc != PT_EPARSE)
                fail_msg("accepted %s", cases[i].json);
        } else {
            if (rc != PT_OK || r.status_code != cases[i].want)
                fail_msg("%s: rc %d status %d", cases[i].json, rc, r.status_code);
        }
        route_proxy_result_free(&r);
    }
}

static void test_body_forms(void **state)
{
    (void)state;
    route_proxy_result_t r;
    /* Scalars become their JSON text (Jackson's coercion). */
    assert_int_equal(parse("{\"body\":42}", &r), PT_OK);
    assert_string_equal(r.body, "42");
    route_proxy_result_free(&r);
    assert_int_equal(parse("{\"body\":true}", &r), PT_OK);
    assert_string_equal(r.body, "true");
    route_proxy_result_free(&r);
    assert_int_equal(parse("{\"body\":\"\"}", &r), PT_OK);
    assert_string_equal(r.body, "");
    assert_int_equal(r.body_len, 0);
    route_proxy_result_free(&r);
    /* An object or array body is "Malformed Lambda proxy response". */
    assert_int_equal(parse("{\"statusCode\":200,\"body\":{\"a\":1}}", &r), PT_EPARSE);
    assert_int_equal(parse("{\"statusCode\":200,\"body\":[1]}", &r), PT_EPARSE);
    /* Escapes and non-ASCII survive. */
    assert_int_equal(parse("{\"body\":\"a\\nb\\u00e9\\\"\"}", &r), PT_OK);
    assert_string_equal(r.body, "a\nb\xc3\xa9\"");
    route_proxy_result_free(&r);
}

static void test_base64(void **state)
{
    (void)state;
    route_proxy_result_t r;
    assert_int_equal(parse("{\"body\":\"aGVsbG8=\",\"isBase64Encoded\":true}", &r), PT_OK);
    assert_true(r.is_base64);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, "hello", 5);
    route_proxy_result_free(&r);
    /* Binary bytes, NUL included, and the URL-safe alphabet. */
    assert_int_equal(parse("{\"body\":\"AP8A_w\",\"isBase64Encoded\":\"true\"}", &r), PT_OK);
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "\x00\xff\x00\xff", 4);
    route_proxy_result_free(&r);
    /* Order of keys does not matter: isBase64Encoded after body. */
    assert_int_equal(parse("{\"isBase64Encoded\":false,\"body\":\"aGVsbG8=\"}", &r), PT_OK);
    assert_string_equal(r.body, "aGVsbG8=");
    route_proxy_result_free(&r);
    assert_int_equal(parse("{\"body\":\"aGVsbG8=\",\"isBase64Encoded\":true}", &r), PT_OK);
    route_proxy_result_free(&r);
    assert_int_equal(parse("{\"body\":\"not base64!\",\"isBase64Encoded\":true}", &r), PT_EPARSE);
    assert_int_equal(parse("{\"body\":\"a\",\"isBase64Encoded\":1}", &r), PT_EPARSE);
    assert_int_equal(parse("{\"body\":\"a\",\"isBase64Encoded\":\"yes\"}", &r), PT_EPARSE);
    /* No body with isBase64Encoded is fine. */
    assert_int_equal(parse("{\"isBase64Encoded\":true}", &r), PT_OK);
    assert_null(r.body);
    route_proxy_result_free(&r);
}

static void test_malformed(void **state)
{
    (void)state;
    route_proxy_result_t r;
    static const char *bad[] = {
        "",
        "null", /* a handler that returned nothing */
        "\"hello\"",
        "42",
        "[{\"statusCode\":200}]",
        "{\"statusCode\":200",
        "{\"statusCode\":200,\"statusDescription\":\"OK\"}", /* unknown key */
        "{\"errorMessage\":\"boom\",\"errorType\":\"Error\",\"trace\":[]}",
        "{\"statusCode\":200,\"cookies\":[\"a=1\"]}", /* v2 only */
        "{\"headers\":[]}",
        "{\"headers\":\"x\"}",
        "{\"headers\":{\"a\":{\"b\":1}}}",
        "{\"headers\":{\"a\":[\"x\"]}}",
        "{\"multiValueHeaders\":{\"a\":\"x\"}}",
        "{\"multiValueHeaders\":{\"a\":[{\"b\":1}]}}",
        "{\"multiValueHeaders\":[]}",
        "{\"body\":\"a\"} trailing",
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        memset(&r, 0x5a, sizeof r);
        if (parse(bad[i], &r) != PT_EPARSE)
            fail_msg("accepted %s", bad[i]);
        /* A failed parse leaves nothing to free and a usable (empty) result. */
        assert_null(r.body);
        assert_null(r.headers);
        assert_null(r.multi_value_headers);
        route_proxy_result_free(&r);
    }
    /* Counted input: bytes past len are not read. */
    assert_int_equal(route_proxy_result_parse("{}garbage", 2, &r), PT_OK);
    route_proxy_result_free(&r);
}

static void test_header_lookup_order(void **state)
{
    (void)state;
    route_proxy_result_t r;
    assert_int_equal(parse("{\"multiValueHeaders\":{\"Sec-WebSocket-Protocol\":[\"mv\"]},"
                           "\"headers\":{\"sec-websocket-protocol\":\"single\",\"X-Null\":null}}",
                           &r),
                     PT_OK);
    /* headers first, then multiValueHeaders; null values dropped. */
    assert_string_equal(route_proxy_result_header(&r, "Sec-WebSocket-Protocol"), "single");
    assert_null(route_proxy_result_header(&r, "X-Null"));
    route_proxy_result_free(&r);
    assert_int_equal(parse("{\"multiValueHeaders\":{\"Sec-WebSocket-Protocol\":[\"mv\",\"x\"],"
                           "\"Empty\":[]}}",
                           &r),
                     PT_OK);
    assert_string_equal(route_proxy_result_header(&r, "sec-websocket-protocol"), "mv");
    assert_null(route_proxy_result_header(&r, "Empty"));
    route_proxy_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_result),
        cmocka_unit_test(test_minimal_results),
        cmocka_unit_test(test_status_forms),
        cmocka_unit_test(test_body_forms),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_header_lookup_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
