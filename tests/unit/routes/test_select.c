/* test_select.c: WebSocket route selection (spec 1.3), route lookup and the error frame (4.3). */
#include "routes_test.h"

static tapi_t T;

static int setup(void **state)
{
    (void)state;
    tapi_init(&T, "$request.body.action");
    route_integration_t *in = tapi_integ(&T, ROUTE_INTEG_MOCK, NULL);
    tapi_route(&T, "$connect", in);
    tapi_route(&T, "$disconnect", in);
    tapi_route(&T, "$default", in);
    tapi_route(&T, "sendmessage", in);
    tapi_route(&T, "join", in);
    tapi_route(&T, "Join", in);
    tapi_route(&T, "42", in);
    tapi_route(&T, "true", in);
    tapi_route(&T, "chat/join", in);
    tapi_index(&T);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tapi_free(&T);
    return 0;
}

static const char *sel(const route_api_t *api, const char *msg, bool *json)
{
    json_t *body = (json_t *)1;
    const route_route_t *r = route_ws_select(api, msg, strlen(msg), &body);
    if (json)
        *json = body != NULL;
    if (body)
        json_decref(body);
    return r ? r->key : NULL;
}

static void test_exact_match(void **state)
{
    (void)state;
    bool json;
    assert_string_equal(sel(&T.api, "{\"action\":\"sendmessage\",\"data\":\"hi\"}", &json),
                        "sendmessage");
    assert_true(json);
    assert_string_equal(sel(&T.api, "{\"action\":\"join\"}", NULL), "join");
    /* Case-sensitive, no prefixes, no patterns. */
    assert_string_equal(sel(&T.api, "{\"action\":\"Join\"}", NULL), "Join");
    assert_string_equal(sel(&T.api, "{\"action\":\"JOIN\"}", NULL), "$default");
    assert_string_equal(sel(&T.api, "{\"action\":\"joi\"}", NULL), "$default");
    assert_string_equal(sel(&T.api, "{\"action\":\"join \"}", NULL), "$default");
    /* Numbers and booleans select by their JSON text. */
    assert_string_equal(sel(&T.api, "{\"action\":42}", NULL), "42");
    assert_string_equal(sel(&T.api, "{\"action\":true}", NULL), "true");
    /* Whitespace and key order do not matter to JSON. */
    assert_string_equal(sel(&T.api, " { \"data\" : 1 , \"action\" : \"join\" } ", NULL), "join");
}

static void test_fallback_to_default(void **state)
{
    (void)state;
    bool json;
    assert_string_equal(sel(&T.api, "{\"action\":\"nope\"}", &json), "$default");
    assert_true(json);
    assert_string_equal(sel(&T.api, "{\"other\":1}", NULL), "$default"); /* missing path */
    assert_string_equal(sel(&T.api, "{\"action\":null}", NULL), "$default");
    assert_string_equal(sel(&T.api, "{\"action\":\"\"}", NULL), "$default");
    assert_string_equal(sel(&T.api, "[1,2]", NULL), "$default");
    assert_string_equal(sel(&T.api, "{\"action\":[\"join\"]}", NULL), "$default"); /* "[join]" */
}

static void test_not_json(void **state)
{
    (void)state;
    bool json = true;
    assert_string_equal(sel(&T.api, "hello", &json), "$default");
    assert_false(json);
    assert_string_equal(sel(&T.api, "", &json), "$default");
    assert_false(json);
    assert_string_equal(sel(&T.api, "{\"action\":\"join\"", &json), "$default"); /* truncated */
    assert_false(json);
    assert_string_equal(sel(&T.api, "\"join\"", &json), "$default"); /* a bare string */
    assert_false(json);
}

static void test_lifecycle_never_selected(void **state)
{
    (void)state;
    assert_string_equal(sel(&T.api, "{\"action\":\"$connect\"}", NULL), "$default");
    assert_string_equal(sel(&T.api, "{\"action\":\"$disconnect\"}", NULL), "$default");
    assert_string_equal(sel(&T.api, "{\"action\":\"$default\"}", NULL), "$default");
}

static void test_no_default(void **state)
{
    (void)state;
    tapi_t t;
    tapi_init(&t, "$request.body.action");
    route_integration_t *in = tapi_integ(&t, ROUTE_INTEG_MOCK, NULL);
    tapi_route(&t, "$connect", in);
    tapi_route(&t, "sendmessage", in);
    tapi_index(&t);
    assert_string_equal(sel(&t.api, "{\"action\":\"sendmessage\"}", NULL), "sendmessage");
    assert_null(sel(&t.api, "{\"action\":\"other\"}", NULL));
    assert_null(sel(&t.api, "not json", NULL));
    assert_null(sel(&t.api, "{\"action\":\"$connect\"}", NULL));
    tapi_free(&t);
}

static void test_other_expressions(void **state)
{
    (void)state;
    tapi_t t;
    bool json;
    tapi_init(&t, "${request.body.service}/${request.body.action}");
    route_integration_t *in = tapi_integ(&t, ROUTE_INTEG_MOCK, NULL);
    tapi_route(&t, "chat/join", in);
    tapi_route(&t, "$default", in);
    tapi_index(&t);
    assert_string_equal(sel(&t.api, "{\"service\":\"chat\",\"action\":\"join\"}", NULL),
                        "chat/join");
    assert_string_equal(sel(&t.api, "{\"service\":\"chat\"}", NULL), "$default"); /* "chat/" */
    tapi_free(&t);

    /* An expression that does not read the body: the body is not parsed. */
    tapi_init(&t, "\\$default");
    in = tapi_integ(&t, ROUTE_INTEG_MOCK, NULL);
    tapi_route(&t, "$default", in);
    tapi_index(&t);
    assert_string_equal(sel(&t.api, "{\"action\":\"x\"}", &json), "$default");
    assert_false(json);
    tapi_free(&t);

    /* A static expression naming a custom route always selects it. */
    tapi_init(&t, "always");
    in = tapi_integ(&t, ROUTE_INTEG_MOCK, NULL);
    tapi_route(&t, "always", in);
    tapi_index(&t);
    assert_string_equal(sel(&t.api, "anything", NULL), "always");
    tapi_free(&t);
}

static void test_route_find(void **state)
{
    (void)state;
    assert_string_equal(route_find(&T.api, "join", 4)->key, "join");
    assert_string_equal(route_find(&T.api, "joinXX", 4)->key, "join"); /* counted */
    assert_null(route_find(&T.api, "joi", 3));
    assert_null(route_find(&T.api, "join\0x", 6));
    assert_string_equal(route_find(&T.api, "$connect", 8)->key, "$connect");
    assert_ptr_equal(T.api.r_connect, route_find(&T.api, "$connect", 8));
    assert_ptr_equal(T.api.r_disconnect, route_find(&T.api, "$disconnect", 11));
    assert_ptr_equal(T.api.r_default, route_find(&T.api, "$default", 8));
    /* Without the index (linear scan): same answers. */
    void *ix = T.api._index;
    T.api._index = NULL;
    assert_string_equal(route_find(&T.api, "chat/join", 9)->key, "chat/join");
    assert_null(route_find(&T.api, "chat", 4));
    T.api._index = ix;
}

static void test_error_frame(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    route_error_frame("Forbidden", "XDmENcnwIE0CFEQ=", "XDmGEE2RoE0FRdQ=", &b);
    assert_string_equal(b.p, "{\"message\": \"Forbidden\", \"connectionId\":\"XDmENcnwIE0CFEQ=\", "
                             "\"requestId\":\"XDmGEE2RoE0FRdQ=\"}");
    buf_reset(&b);
    route_error_frame("Internal server error", "L0SM9cOFvHcCIhw=", "R1knPH17NjMFftw=", &b);
    assert_string_equal(b.p, "{\"message\": \"Internal server error\", "
                             "\"connectionId\":\"L0SM9cOFvHcCIhw=\", "
                             "\"requestId\":\"R1knPH17NjMFftw=\"}");
    /* Appends, and escapes what JSON needs. */
    route_error_frame("a\"b", "c", "d", &b);
    assert_non_null(strstr(b.p, "{\"message\": \"a\\\"b\", \"connectionId\":\"c\", "
                                "\"requestId\":\"d\"}"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_match), cmocka_unit_test(test_fallback_to_default),
        cmocka_unit_test(test_not_json),    cmocka_unit_test(test_lifecycle_never_selected),
        cmocka_unit_test(test_no_default),  cmocka_unit_test(test_other_expressions),
        cmocka_unit_test(test_route_find),  cmocka_unit_test(test_error_frame),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
