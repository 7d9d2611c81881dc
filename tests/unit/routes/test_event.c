/* test_event.c: Lambda proxy events (spec 6.1-6.3): every key, AWS's key order, odd inputs. */
#include "routes_test.h"

static tapi_t T;
static route_route_t *R_CONNECT, *R_DISCONNECT, *R_SEND;

static int setup(void **state)
{
    (void)state;
    tapi_init(&T, "$request.body.action");
    route_integration_t *in = tapi_integ(&T, ROUTE_INTEG_AWS_PROXY, "http://127.0.0.1:9/fn");
    R_CONNECT = tapi_route(&T, "$connect", in);
    R_DISCONNECT = tapi_route(&T, "$disconnect", in);
    R_SEND = tapi_route(&T, "sendmessage", in);
    tapi_index(&T);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tapi_free(&T);
    return 0;
}

/* The event as text, checked to be valid JSON; *j receives its parse (caller decrefs). */
static char *event(const route_ctx_t *c, json_t **j)
{
    buf_t b = BUF_INIT;
    route_event_ws(c, &b);
    json_t *p = tjson(b.p, b.len);
    if (j)
        *j = p;
    else
        json_decref(p);
    return buf_steal(&b, NULL);
}

static const char *keys(const json_t *o)
{
    static buf_t b = BUF_INIT;
    tkeys(o, &b);
    return b.p;
}

static const char *str_at(const json_t *j, const char *path)
{
    route_path_step_t *s;
    size_t n;
    assert_int_equal(route__path_compile(path, strlen(path), &s, &n), PT_OK);
    const json_t *v = route__path_get(j, s, n);
    route__path_free(s, n);
    if (!v || !json_is_string(v))
        fail_msg("%s: not a string", path);
    return json_string_value(v);
}

static http_header_t CHROME[] = {
    {"Host", 4, T_DOMAIN, 46},
    {"Connection", 10, "Upgrade", 7},
    {"Pragma", 6, "no-cache", 8},
    {"Upgrade", 7, "websocket", 9},
    {"User-Agent", 10, "Mozilla/5.0", 11},
    {"Sec-WebSocket-Version", 21, "13", 2},
    {"Sec-WebSocket-Key", 17, "ElxPGSkjS67JEzN6/32V1A==", 24},
    {"Sec-WebSocket-Extensions", 24, "permessage-deflate; client_max_window_bits", 42},
};

static void connect_ctx(route_ctx_t *c)
{
    tctx_init(c, &T, R_CONNECT, ROUTE_EV_CONNECT);
    c->headers = CHROME;
    c->nheaders = PT_ARRAY_LEN(CHROME);
    c->query = "token=abc";
    c->query_len = 9;
    c->user_agent = "Mozilla/5.0";
    c->trace_id = T_TRACE;
}

static void test_connect_exact(void **state)
{
    (void)state;
    route_ctx_t c;
    connect_ctx(&c);
    char *ev = event(&c, NULL);
    assert_string_equal(
        ev, "{\"headers\":{"
            "\"Host\":\"" T_DOMAIN "\","
            "\"Pragma\":\"no-cache\","
            "\"Sec-WebSocket-Extensions\":\"permessage-deflate; client_max_window_bits\","
            "\"Sec-WebSocket-Key\":\"ElxPGSkjS67JEzN6/32V1A==\","
            "\"Sec-WebSocket-Version\":\"13\","
            "\"User-Agent\":\"Mozilla/5.0\","
            "\"X-Amzn-Trace-Id\":\"" T_TRACE "\","
            "\"X-Forwarded-For\":\"192.0.2.1\","
            "\"X-Forwarded-Port\":\"443\","
            "\"X-Forwarded-Proto\":\"https\"},"
            "\"multiValueHeaders\":{"
            "\"Host\":[\"" T_DOMAIN "\"],"
            "\"Pragma\":[\"no-cache\"],"
            "\"Sec-WebSocket-Extensions\":[\"permessage-deflate; client_max_window_bits\"],"
            "\"Sec-WebSocket-Key\":[\"ElxPGSkjS67JEzN6/32V1A==\"],"
            "\"Sec-WebSocket-Version\":[\"13\"],"
            "\"User-Agent\":[\"Mozilla/5.0\"],"
            "\"X-Amzn-Trace-Id\":[\"" T_TRACE "\"],"
            "\"X-Forwarded-For\":[\"192.0.2.1\"],"
            "\"X-Forwarded-Port\":[\"443\"],"
            "\"X-Forwarded-Proto\":[\"https\"]},"
            "\"queryStringParameters\":{\"token\":\"abc\"},"
            "\"multiValueQueryStringParameters\":{\"token\":[\"abc\"]},"
            "\"requestContext\":{"
            "\"routeKey\":\"$connect\","
            "\"eventType\":\"CONNECT\","
            "\"extendedRequestId\":\"" T_REQ_ID "\","
            "\"requestTime\":\"20/Jan/2024:11:55:00 +0000\","
            "\"messageDirection\":\"IN\","
            "\"stage\":\"prod\","
            "\"connectedAt\":1705751697419,"
            "\"requestTimeEpoch\":1705751700453,"
            "\"identity\":{\"userAgent\":\"Mozilla/5.0\",\"sourceIp\":\"192.0.2.1\"},"
            "\"requestId\":\"" T_REQ_ID "\","
            "\"domainName\":\"" T_DOMAIN "\","
            "\"connectionId\":\"" T_CONN_ID "\","
            "\"apiId\":\"abcd123456\"},"
            "\"isBase64Encoded\":false}");
    free(ev);
}

static void test_connect_keys(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    connect_ctx(&c);
    free(event(&c, &j));
    assert_string_equal(keys(j), "headers,multiValueHeaders,queryStringParameters,"
                                 "multiValueQueryStringParameters,requestContext,isBase64Encoded");
    const json_t *rc = json_object_get(j, "requestContext");
    assert_string_equal(keys(rc), "routeKey,eventType,extendedRequestId,requestTime,"
                                  "messageDirection,stage,connectedAt,requestTimeEpoch,identity,"
                                  "requestId,domainName,connectionId,apiId");
    /* Numbers are JSON numbers, not strings. */
    assert_true(json_is_integer(json_object_get(rc, "connectedAt")));
    assert_int_equal(json_integer_value(json_object_get(rc, "connectedAt")), T_CONNECTED_AT);
    assert_int_equal(json_integer_value(json_object_get(rc, "requestTimeEpoch")), T_REQUEST_TIME);
    assert_true(json_is_false(json_object_get(j, "isBase64Encoded")));
    /* No body, path, httpMethod, resource or pathParameters (spec 6.1). */
    assert_null(json_object_get(j, "body"));
    assert_null(json_object_get(j, "pathParameters"));
    assert_null(json_object_get(rc, "messageId"));
    assert_null(json_object_get(rc, "disconnectStatusCode"));
    /* Hop-by-hop headers are gone. */
    assert_null(json_object_get(json_object_get(j, "headers"), "Connection"));
    assert_null(json_object_get(json_object_get(j, "headers"), "Upgrade"));
    /* Without a User-Agent, identity has sourceIp only. */
    json_decref(j);
    c.user_agent = NULL;
    free(event(&c, &j));
    assert_string_equal(keys(json_object_get(json_object_get(j, "requestContext"), "identity")),
                        "sourceIp");
    json_decref(j);
}

static void test_connect_no_query(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    connect_ctx(&c);
    c.query = NULL;
    c.query_len = 0;
    free(event(&c, &j));
    assert_string_equal(keys(j), "headers,multiValueHeaders,requestContext,isBase64Encoded");
    json_decref(j);
    /* "/prod?" (an empty query) and "/prod?&&": absent too. */
    c.query = "&&";
    c.query_len = 2;
    free(event(&c, &j));
    assert_null(json_object_get(j, "queryStringParameters"));
    assert_null(json_object_get(j, "multiValueQueryStringParameters"));
    json_decref(j);
}

static void test_connect_query_values(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    connect_ctx(&c);
    c.query = "a=1&b=x+y&a=2&c&d=%41%zz&e%20f=%E2%82%AC&g=%00&a=3";
    c.query_len = strlen(c.query);
    char *ev = event(&c, &j);
    /* Percent-decoded, '+' a space, first-appearance order, the last value in the single map;
     * a piece that cannot be decoded stays as sent. */
    assert_non_null(strstr(ev, "\"queryStringParameters\":{\"a\":\"3\",\"b\":\"x y\",\"c\":\"\","
                               "\"d\":\"%41%zz\",\"e f\":\"\xe2\x82\xac\",\"g\":\"%00\"},"
                               "\"multiValueQueryStringParameters\":{\"a\":[\"1\",\"2\",\"3\"],"
                               "\"b\":[\"x y\"],\"c\":[\"\"],\"d\":[\"%41%zz\"],"
                               "\"e f\":[\"\xe2\x82\xac\"],\"g\":[\"%00\"]}"));
    free(ev);
    json_decref(j);
}

static void test_connect_duplicate_headers(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    http_header_t h[] = {thdr("x-custom", "1"), thdr("Accept", "*/*"), thdr("X-Custom", "2"),
                         thdr("Cookie", "a=1"), thdr("X-CUSTOM", "3"), thdr("cookie", "b=2")};
    connect_ctx(&c);
    c.headers = h;
    c.nheaders = PT_ARRAY_LEN(h);
    c.trace_id = NULL;
    c.query = NULL;
    char *ev = event(&c, &j);
    /* One header per case-insensitive name, in case-insensitive order, spelled as first seen;
     * the last value in headers, all of them in multiValueHeaders. */
    assert_memory_equal(ev,
                        "{\"headers\":{\"Accept\":\"*/*\",\"Cookie\":\"b=2\",\"x-custom\":\"3\","
                        "\"X-Forwarded-For\":\"192.0.2.1\",\"X-Forwarded-Port\":\"443\","
                        "\"X-Forwarded-Proto\":\"https\"},"
                        "\"multiValueHeaders\":{\"Accept\":[\"*/*\"],"
                        "\"Cookie\":[\"a=1\",\"b=2\"],\"x-custom\":[\"1\",\"2\",\"3\"],"
                        "\"X-Forwarded-For\":[\"192.0.2.1\"],"
                        "\"X-Forwarded-Port\":[\"443\"],\"X-Forwarded-Proto\":[\"https\"]},"
                        "\"requestContext\":",
                        334);
    free(ev);
    json_decref(j);
}

static void test_connect_forwarded(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    http_header_t h[] = {thdr("X-Forwarded-For", "203.0.113.5"),
                         thdr("x-forwarded-for", "198.51.100.7"), thdr("X-Forwarded-Port", "8080"),
                         thdr("X-Forwarded-Proto", "ftp"), thdr("X-Amzn-Trace-Id", "Root=client")};
    connect_ctx(&c);
    c.headers = h;
    c.nheaders = PT_ARRAY_LEN(h);
    free(event(&c, &j));
    /* A proxy appends the address it saw; port, proto and trace are ours. */
    assert_string_equal(str_at(j, "$.headers['X-Forwarded-For']"),
                        "203.0.113.5, 198.51.100.7, 192.0.2.1");
    assert_string_equal(str_at(j, "$.multiValueHeaders['X-Forwarded-For'][0]"),
                        "203.0.113.5, 198.51.100.7, 192.0.2.1");
    assert_string_equal(str_at(j, "$.headers['X-Forwarded-Port']"), "443");
    assert_string_equal(str_at(j, "$.headers['X-Forwarded-Proto']"), "https");
    assert_string_equal(str_at(j, "$.headers['X-Amzn-Trace-Id']"), T_TRACE);
    json_decref(j);
    /* Plain ws on a custom port, no trace of ours: the client's trace stays. */
    c.tls = false;
    c.server_port = 8080;
    c.trace_id = NULL;
    free(event(&c, &j));
    assert_string_equal(str_at(j, "$.headers['X-Forwarded-Port']"), "8080");
    assert_string_equal(str_at(j, "$.headers['X-Forwarded-Proto']"), "http");
    assert_string_equal(str_at(j, "$.headers['X-Amzn-Trace-Id']"), "Root=client");
    json_decref(j);
    c.server_port = 0;
    free(event(&c, &j));
    assert_string_equal(str_at(j, "$.headers['X-Forwarded-Port']"), "80");
    json_decref(j);
}

static void test_connect_hop_by_hop(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    http_header_t h[] = {thdr("Connection", "Upgrade, X-Secret"),
                         thdr("Upgrade", "websocket"),
                         thdr("Keep-Alive", "timeout=5"),
                         thdr("TE", "trailers"),
                         thdr("Trailer", "X"),
                         thdr("Transfer-Encoding", "chunked"),
                         thdr("Proxy-Authorization", "Basic x"),
                         thdr("Proxy-Connection", "keep-alive"),
                         thdr("X-Secret", "named by Connection"),
                         thdr("Authorization", "Bearer t"),
                         thdr("Origin", "https://example.com")};
    connect_ctx(&c);
    c.headers = h;
    c.nheaders = PT_ARRAY_LEN(h);
    c.trace_id = NULL;
    free(event(&c, &j));
    assert_string_equal(keys(json_object_get(j, "headers")),
                        "Authorization,Origin,X-Forwarded-For,X-Forwarded-Port,X-Forwarded-Proto");
    assert_string_equal(keys(json_object_get(j, "multiValueHeaders")),
                        "Authorization,Origin,X-Forwarded-For,X-Forwarded-Port,X-Forwarded-Proto");
    json_decref(j);
}

static void test_stage_variables(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    tmap_add(&T.stage.variables, "url", "example.com");
    tmap_add(&T.stage.variables, "fn", "chat");
    connect_ctx(&c);
    free(event(&c, &j));
    assert_string_equal(keys(j), "headers,multiValueHeaders,queryStringParameters,"
                                 "multiValueQueryStringParameters,stageVariables,requestContext,"
                                 "isBase64Encoded");
    assert_string_equal(keys(json_object_get(j, "stageVariables")), "url,fn");
    assert_string_equal(str_at(j, "$.stageVariables.url"), "example.com");
    json_decref(j);
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    tctx_body(&c, "x");
    free(event(&c, &j));
    assert_string_equal(keys(j), "stageVariables,requestContext,body,isBase64Encoded");
    json_decref(j);
    free(T.stage.variables.items);
    T.stage.variables.items = NULL;
    T.stage.variables.n = 0;
}

static void test_message_exact(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    c.user_agent = "Mozilla/5.0";
    tctx_body(&c, "{\"action\":\"sendmessage\",\"data\":\"hello\"}");
    char *ev = event(&c, NULL);
    assert_string_equal(
        ev, "{\"requestContext\":{"
            "\"routeKey\":\"sendmessage\","
            "\"messageId\":\"" T_MSG_ID "\","
            "\"eventType\":\"MESSAGE\","
            "\"extendedRequestId\":\"" T_REQ_ID "\","
            "\"requestTime\":\"20/Jan/2024:11:55:00 +0000\","
            "\"messageDirection\":\"IN\","
            "\"stage\":\"prod\","
            "\"connectedAt\":1705751697419,"
            "\"requestTimeEpoch\":1705751700453,"
            "\"identity\":{\"userAgent\":\"Mozilla/5.0\",\"sourceIp\":\"192.0.2.1\"},"
            "\"requestId\":\"" T_REQ_ID "\","
            "\"domainName\":\"" T_DOMAIN "\","
            "\"connectionId\":\"" T_CONN_ID "\","
            "\"apiId\":\"abcd123456\"},"
            "\"body\":\"{\\\"action\\\":\\\"sendmessage\\\",\\\"data\\\":\\\"hello\\\"}\","
            "\"isBase64Encoded\":false}");
    free(ev);
    /* $default selected by fallback: routeKey is the selected key. */
    tctx_init(&c, &T, NULL, ROUTE_EV_MESSAGE);
    tctx_body(&c, "");
    json_t *j;
    free(event(&c, &j));
    assert_string_equal(str_at(j, "$.requestContext.routeKey"), "$default");
    assert_string_equal(str_at(j, "$.body"), "");
    json_decref(j);
}

static void test_disconnect_exact(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, R_DISCONNECT, ROUTE_EV_DISCONNECT);
    c.disconnect_status_code = 1005;
    c.disconnect_reason = "Client-side close frame status not set";
    char *ev = event(&c, NULL);
    assert_string_equal(ev, "{\"headers\":{\"Host\":\"" T_DOMAIN "\",\"x-api-key\":\"\","
                            "\"X-Forwarded-For\":\"\",\"x-restapi\":\"\"},"
                            "\"multiValueHeaders\":{\"Host\":[\"" T_DOMAIN "\"],"
                            "\"x-api-key\":[\"\"],\"X-Forwarded-For\":[\"\"],\"x-restapi\":[\"\"]},"
                            "\"requestContext\":{"
                            "\"routeKey\":\"$disconnect\","
                            "\"disconnectStatusCode\":1005,"
                            "\"eventType\":\"DISCONNECT\","
                            "\"extendedRequestId\":\"" T_REQ_ID "\","
                            "\"requestTime\":\"20/Jan/2024:11:55:00 +0000\","
                            "\"messageDirection\":\"IN\","
                            "\"disconnectReason\":\"Client-side close frame status not set\","
                            "\"stage\":\"prod\","
                            "\"connectedAt\":1705751697419,"
                            "\"requestTimeEpoch\":1705751700453,"
                            "\"identity\":{\"sourceIp\":\"192.0.2.1\"},"
                            "\"requestId\":\"" T_REQ_ID "\","
                            "\"domainName\":\"" T_DOMAIN "\","
                            "\"connectionId\":\"" T_CONN_ID "\","
                            "\"apiId\":\"abcd123456\"},"
                            "\"isBase64Encoded\":false}");
    free(ev);
    /* An empty reason stays a string; the status is a number. */
    c.disconnect_status_code = 1001;
    c.disconnect_reason = "";
    json_t *j;
    free(event(&c, &j));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "requestContext"),
                                                        "disconnectStatusCode")),
                     1001);
    assert_string_equal(str_at(j, "$.requestContext.disconnectReason"), "");
    json_decref(j);
}

static void test_authorizer_and_api_key(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    json_t *az = json_loads("{\"principalId\":\"user\",\"n\":1,\"b\":false,\"s\":\"x\"}", 0, NULL);

    connect_ctx(&c);
    c.authorizer = az;
    c.api_key = "k-123";
    free(event(&c, &j));
    const json_t *rc = json_object_get(j, "requestContext");
    assert_string_equal(keys(rc), "routeKey,authorizer,eventType,extendedRequestId,requestTime,"
                                  "messageDirection,stage,connectedAt,requestTimeEpoch,identity,"
                                  "requestId,domainName,connectionId,apiId");
    /* Every authorizer value stringified (spec 2.5). */
    assert_string_equal(keys(json_object_get(rc, "authorizer")), "principalId,n,b,s");
    assert_string_equal(str_at(j, "$.requestContext.authorizer.n"), "1");
    assert_string_equal(str_at(j, "$.requestContext.authorizer.b"), "false");
    assert_string_equal(keys(json_object_get(rc, "identity")), "userAgent,sourceIp,apiKey");
    assert_string_equal(str_at(j, "$.requestContext.identity.apiKey"), "k-123");
    json_decref(j);

    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    c.authorizer = az;
    tctx_body(&c, "{}");
    free(event(&c, &j));
    assert_string_equal(keys(json_object_get(j, "requestContext")),
                        "routeKey,authorizer,messageId,eventType,extendedRequestId,requestTime,"
                        "messageDirection,stage,connectedAt,requestTimeEpoch,identity,requestId,"
                        "domainName,connectionId,apiId");
    json_decref(j);

    tctx_init(&c, &T, R_DISCONNECT, ROUTE_EV_DISCONNECT);
    c.authorizer = az;
    c.disconnect_status_code = 1000;
    c.disconnect_reason = "Connection Closed Normally";
    free(event(&c, &j));
    assert_string_equal(keys(json_object_get(j, "requestContext")),
                        "routeKey,disconnectStatusCode,authorizer,eventType,extendedRequestId,"
                        "requestTime,messageDirection,disconnectReason,stage,connectedAt,"
                        "requestTimeEpoch,identity,requestId,domainName,connectionId,apiId");
    assert_string_equal(str_at(j, "$.requestContext.authorizer.principalId"), "user");
    json_decref(j);
    json_decref(az);
}

static void test_any_bytes_give_json(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *j;
    /* Invalid UTF-8 (a Latin-1 byte, a lone continuation byte, an overlong '/', a surrogate,
     * a truncated sequence) becomes U+FFFD; control characters are escaped; valid UTF-8 stays. */
    static const char body[] =
        "caf\xe9 \x80 \xc0\xaf \xed\xa0\x80 \xe2\x82 \x01\t\"\\ \xe2\x82\xac";
    static const char fffd[] = "\xef\xbf\xbd";
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    c.body = body;
    c.body_len = sizeof body - 1;
    char *ev = event(&c, &j);
    assert_non_null(strstr(ev, "\"body\":\"caf\xef\xbf\xbd \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
                               "\\u0001\\t\\\"\\\\ \xe2\x82\xac\""));
    assert_non_null(strstr(json_string_value(json_object_get(j, "body")), fffd));
    free(ev);
    json_decref(j);
    /* A NUL inside the body is escaped, not a terminator. */
    c.body = "a\0b";
    c.body_len = 3;
    ev = event(&c, &j);
    assert_non_null(strstr(ev, "\"body\":\"a\\u0000b\""));
    free(ev);
    json_decref(j);
    /* Header names and values with high bytes, identity strings too. */
    http_header_t h[] = {thdr("X-\xff", "v\xfe\x01")};
    connect_ctx(&c);
    c.headers = h;
    c.nheaders = 1;
    c.user_agent = "ua\xc3";
    ev = event(&c, &j);
    assert_non_null(strstr(ev, "\"X-\xef\xbf\xbd\":\"v\xef\xbf\xbd\\u0001\""));
    assert_string_equal(str_at(j, "$.requestContext.identity.userAgent"), "ua\xef\xbf\xbd");
    free(ev);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_exact),
        cmocka_unit_test(test_connect_keys),
        cmocka_unit_test(test_connect_no_query),
        cmocka_unit_test(test_connect_query_values),
        cmocka_unit_test(test_connect_duplicate_headers),
        cmocka_unit_test(test_connect_forwarded),
        cmocka_unit_test(test_connect_hop_by_hop),
        cmocka_unit_test(test_stage_variables),
        cmocka_unit_test(test_message_exact),
        cmocka_unit_test(test_disconnect_exact),
        cmocka_unit_test(test_authorizer_and_api_key),
        cmocka_unit_test(test_any_bytes_give_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
