/* test_ctx.c: $context variables (spec 5.3, 10.2): every value, and what does not apply. */
#include "routes_test.h"

static tapi_t T;

static int setup(void **state)
{
    (void)state;
    tapi_init(&T, "$request.body.action");
    tapi_route(&T, "sendmessage", NULL);
    tapi_index(&T);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tapi_free(&T);
    return 0;
}

/* The value of a variable, or NULL when it does not apply. */
static const char *var(const route_ctx_t *c, const char *name)
{
    static char res[512];
    buf_t b = BUF_INIT;
    bool ok = route_ctx_var(c, name, strlen(name), &b);
    if (!ok && b.len)
        fail_msg("%s: returned false but wrote '%s'", name, b.p);
    snprintf(res, sizeof res, "%s", b.p ? b.p : "");
    buf_free(&b);
    return ok ? res : NULL;
}

static void test_message_vars(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, &T.routes[0], ROUTE_EV_MESSAGE);
    c.user_agent = "Mozilla/5.0";
    assert_string_equal(var(&c, "connectionId"), T_CONN_ID);
    assert_string_equal(var(&c, "connectedAt"), "1705751697419");
    assert_string_equal(var(&c, "domainName"), T_DOMAIN);
    assert_string_equal(var(&c, "eventType"), "MESSAGE");
    assert_string_equal(var(&c, "extendedRequestId"), T_REQ_ID);
    assert_string_equal(var(&c, "requestId"), T_REQ_ID);
    assert_string_equal(var(&c, "messageId"), T_MSG_ID);
    assert_string_equal(var(&c, "requestTime"), "20/Jan/2024:11:55:00 +0000");
    assert_string_equal(var(&c, "requestTimeEpoch"), "1705751700453");
    assert_string_equal(var(&c, "routeKey"), "sendmessage");
    assert_string_equal(var(&c, "stage"), "prod");
    assert_string_equal(var(&c, "apiId"), "abcd123456");
    assert_string_equal(var(&c, "messageDirection"), "IN");
    assert_string_equal(var(&c, "identity.sourceIp"), T_SOURCE_IP);
    assert_string_equal(var(&c, "identity.userAgent"), "Mozilla/5.0");
    /* Not applicable on MESSAGE. */
    assert_null(var(&c, "disconnectStatusCode"));
    assert_null(var(&c, "disconnectReason"));
}

static void test_not_applicable(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, NULL, ROUTE_EV_CONNECT);
    c.request_id = NULL;
    assert_string_equal(var(&c, "eventType"), "CONNECT");
    assert_null(var(&c, "messageId")); /* MESSAGE only */
    assert_null(var(&c, "routeKey"));  /* no route */
    assert_null(var(&c, "requestId")); /* not known */
    assert_null(var(&c, "identity.userAgent"));
    assert_null(var(&c, "identity.apiKey"));
    assert_null(var(&c, "authorizer.principalId"));
    assert_null(var(&c, "status"));
    assert_null(var(&c, "integration.status"));
    assert_null(var(&c, "integrationLatency")); /* -1: no integration ran */
    assert_null(var(&c, "integration.latency"));
    assert_null(var(&c, "error.message"));
    assert_null(var(&c, "error.messageString"));
    assert_null(var(&c, "error.responseType"));
    assert_null(var(&c, "identity.accountId"));
    assert_null(var(&c, "identity.caller"));
    assert_null(var(&c, "identity.userArn"));
    assert_null(var(&c, "waf.error"));
    assert_null(var(&c, "httpMethod"));
    assert_null(var(&c, "nope"));
    assert_null(var(&c, ""));
    c.api = NULL;
    c.stage = NULL;
    assert_null(var(&c, "apiId"));
    assert_null(var(&c, "stage"));
    /* Names are counted, not NUL-terminated. */
    buf_t b = BUF_INIT;
    assert_true(route_ctx_var(&c, "eventTypeXYZ", 9, &b));
    assert_string_equal(b.p, "CONNECT");
    buf_free(&b);
}

static void test_disconnect_vars(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, NULL, ROUTE_EV_DISCONNECT);
    c.disconnect_status_code = 1005;
    c.disconnect_reason = "Client-side close frame status not set";
    assert_string_equal(var(&c, "eventType"), "DISCONNECT");
    assert_string_equal(var(&c, "disconnectStatusCode"), "1005");
    assert_string_equal(var(&c, "disconnectReason"), "Client-side close frame status not set");
    c.disconnect_reason = NULL;
    assert_null(var(&c, "disconnectReason"));
}

static void test_outcome_vars(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, NULL, ROUTE_EV_CONNECT);
    c.status = 101;
    c.integration_status = 200;
    c.integration_latency_ms = 37;
    c.error_message = "Forbidden";
    c.error_response_type = "ACCESS_DENIED";
    c.api_key = "k-123";
    assert_string_equal(var(&c, "status"), "101");
    assert_string_equal(var(&c, "integration.status"), "200");
    assert_string_equal(var(&c, "integrationStatus"), "200");
    assert_string_equal(var(&c, "integration.integrationStatus"), "200");
    assert_string_equal(var(&c, "integrationLatency"), "37");
    assert_string_equal(var(&c, "integration.latency"), "37");
    assert_string_equal(var(&c, "error.message"), "Forbidden");
    assert_string_equal(var(&c, "error.messageString"), "\"Forbidden\"");
    assert_string_equal(var(&c, "error.responseType"), "ACCESS_DENIED");
    assert_string_equal(var(&c, "identity.apiKey"), "k-123");
    c.integration_latency_ms = 0;
    assert_string_equal(var(&c, "integrationLatency"), "0");
}

static void test_authorizer_vars(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *az = json_loads("{\"principalId\":\"user\",\"n\":1,\"r\":1.5,\"b\":true,\"s\":\"x y\","
                            "\"nul\":null,\"claims\":{\"sub\":\"abc\"},\"a.b\":\"flat\"}",
                            0, NULL);
    tctx_init(&c, &T, NULL, ROUTE_EV_MESSAGE);
    c.authorizer = az;
    /* Stringified per key (spec 2.5). */
    assert_string_equal(var(&c, "authorizer.principalId"), "user");
    assert_string_equal(var(&c, "authorizer.n"), "1");
    assert_string_equal(var(&c, "authorizer.r"), "1.5");
    assert_string_equal(var(&c, "authorizer.b"), "true");
    assert_string_equal(var(&c, "authorizer.s"), "x y");
    assert_null(var(&c, "authorizer.nul"));
    assert_null(var(&c, "authorizer.missing"));
    assert_null(var(&c, "authorizer."));
    /* Nested objects (JWT-style claims); a flat dotted key wins. */
    assert_string_equal(var(&c, "authorizer.claims.sub"), "abc");
    assert_string_equal(var(&c, "authorizer.a.b"), "flat");
    assert_string_equal(var(&c, "authorizer.claims"), "{\"sub\":\"abc\"}");
    json_decref(az);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_vars),    cmocka_unit_test(test_not_applicable),
        cmocka_unit_test(test_disconnect_vars), cmocka_unit_test(test_outcome_vars),
        cmocka_unit_test(test_authorizer_vars),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
