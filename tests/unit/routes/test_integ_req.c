/* test_integ_req.c: backend requests of HTTP, HTTP_PROXY and AWS_PROXY integrations (spec 2.3,
 * 5, 6.6). */
#include "routes_test.h"

static http_header_t CLIENT[] = {
    {"Host", 4, "h.example:8080", 14},
    {"Connection", 10, "Upgrade", 7},
    {"Upgrade", 7, "websocket", 9},
    {"User-Agent", 10, "wscat/5", 7},
    {"Sec-WebSocket-Version", 21, "13", 2},
    {"Sec-WebSocket-Key", 17, "k==", 3},
    {"Cookie", 6, "a=1", 3},
    {"cookie", 6, "b=2", 3},
};

typedef struct fx {
    tapi_t t;
    route_integration_t *in;
    route_route_t *r;
    route_ctx_t c;
    route_http_req_t req;
    buf_t err;
} fx_t;

static void fx_init(fx_t *f, route_integ_type_t type, const char *uri, route_event_kind_t kind)
{
    memset(f, 0, sizeof *f);
    tapi_init(&f->t, "$request.body.action");
    f->in = tapi_integ(&f->t, type, uri);
    f->r = tapi_route(&f->t,
                      kind == ROUTE_EV_CONNECT      ? "$connect"
                      : kind == ROUTE_EV_DISCONNECT ? "$disconnect"
                                                    : "sendmessage",
                      f->in);
    tmap_add(&f->t.stage.variables, "host", "backend.example:9000");
    tmap_add(&f->t.stage.variables, "fn", "chat fn");
    tapi_index(&f->t);
    tctx_init(&f->c, &f->t, f->r, kind);
    if (kind == ROUTE_EV_CONNECT) {
        f->c.headers = CLIENT;
        f->c.nheaders = PT_ARRAY_LEN(CLIENT);
        f->c.query = "token=a%2Bb&x=1&x=2";
        f->c.query_len = strlen(f->c.query);
        f->c.user_agent = "wscat/5";
        f->c.trace_id = T_TRACE;
    } else if (kind == ROUTE_EV_DISCONNECT) {
        f->c.disconnect_status_code = 1001;
        f->c.disconnect_reason = "";
    }
}

static int fx_build(fx_t *f)
{
    route_http_req_free(&f->req);
    buf_reset(&f->err);
    return route_integ_request(f->in, &f->c, &f->req, &f->err);
}

static void fx_free(fx_t *f)
{
    route_http_req_free(&f->req);
    buf_free(&f->err);
    tapi_free(&f->t);
}

static void test_aws_proxy(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_AWS_PROXY,
            "http://127.0.0.1:3902/2015-03-31/functions/chat-dev-${stageVariables.fn}/invocations",
            ROUTE_EV_CONNECT);
    f.in->timeout_ms = 5000;
    f.in->method = (char *)"GET"; /* a Lambda Invoke is a POST whatever the model says */
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.method, "POST");
    assert_string_equal(f.req.url,
                        "http://127.0.0.1:3902/2015-03-31/functions/chat-dev-chat fn/invocations");
    assert_string_equal(f.req.headers.p, "Content-Type: application/json\r\n");
    assert_int_equal(f.req.timeout_ms, 5000);
    /* The body is the Lambda proxy event, byte for byte. */
    buf_t ev = BUF_INIT;
    route_event_ws(&f.c, &ev);
    assert_int_equal(f.req.body_len, ev.len);
    assert_memory_equal(f.req.body, ev.p, ev.len);
    buf_free(&ev);
    /* MESSAGE and DISCONNECT too. */
    f.c.kind = ROUTE_EV_MESSAGE;
    tctx_body(&f.c, "{\"action\":\"x\"}");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_non_null(strstr(f.req.body, "\"body\":\"{\\\"action\\\":\\\"x\\\"}\""));
    f.c.kind = ROUTE_EV_DISCONNECT;
    assert_int_equal(fx_build(&f), PT_OK);
    assert_non_null(strstr(f.req.body, "\"eventType\":\"DISCONNECT\""));
    fx_free(&f);
}

static void test_refused(void **state)
{
    (void)state;
    fx_t f;
    /* A Lambda reference that does not parse (test_lambda.c has the rest). */
    fx_init(&f, ROUTE_INTEG_AWS_PROXY,
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            "arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}/invocations",
            ROUTE_EV_MESSAGE);
    assert_int_equal(fx_build(&f), PT_EINVAL);
    assert_non_null(strstr(f.err.p, "function name \"chat fn\""));
    assert_null(f.req.method);
    assert_null(f.req.url);
    assert_null(f.req.headers.p);
    assert_null(f.req.body);
    f.in->uri = (char *)"ftp://x/y";
    assert_int_equal(fx_build(&f), PT_EINVAL);
    f.in->uri = (char *)"${stageVariables.none}/x";
    assert_int_equal(fx_build(&f), PT_EINVAL);
    f.in->uri = NULL;
    assert_int_equal(fx_build(&f), PT_EINVAL);
    f.in->type = ROUTE_INTEG_MOCK;
    assert_int_equal(fx_build(&f), PT_EINVAL);
    f.in->type = ROUTE_INTEG_AWS;
    f.in->uri = (char *)"arn:aws:apigateway:us-east-1:dynamodb:action/PutItem";
    assert_int_equal(fx_build(&f), PT_EUNSUPPORTED);
    /* err may be NULL. */
    assert_int_equal(route_integ_request(f.in, &f.c, &f.req, NULL), PT_EUNSUPPORTED);
    /* Schemes are case-insensitive. */
    f.in->type = ROUTE_INTEG_HTTP_PROXY;
    f.in->uri = (char *)"HTTPS://x.example/";
    assert_int_equal(fx_build(&f), PT_OK);
    fx_free(&f);
}

static void test_http_proxy_connect(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_HTTP_PROXY, "http://${stageVariables.host}/connect", ROUTE_EV_CONNECT);
    f.in->method = (char *)"GET";
    f.in->timeout_ms = 0;
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.method, "GET");
    assert_string_equal(f.req.url, "http://backend.example:9000/connect");
    assert_int_equal(f.req.timeout_ms, 29000);
    /* The handshake headers minus hop-by-hop ones and Host, X-Forwarded-*, the trace, and API
     * Gateway's own User-Agent and api-id (spec 2.3's execution log); no body. */
    assert_string_equal(f.req.headers.p, "Sec-WebSocket-Version: 13\r\n"
                                         "Sec-WebSocket-Key: k==\r\n"
                                         "Cookie: a=1\r\n"
                                         "cookie: b=2\r\n"
                                         "X-Forwarded-For: 192.0.2.1\r\n"
                                         "X-Forwarded-Port: 443\r\n"
                                         "X-Forwarded-Proto: https\r\n"
                                         "X-Amzn-Trace-Id: " T_TRACE "\r\n"
                                         "User-Agent: AmazonAPIGateway_abcd123456\r\n"
                                         "x-amzn-apigateway-api-id: abcd123456\r\n");
    assert_null(f.req.body);
    assert_int_equal(f.req.body_len, 0);
    fx_free(&f);
}

static void test_request_parameters(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_HTTP_PROXY, "http://h/conn/{id}/{id}?fixed=1", ROUTE_EV_CONNECT);
    route_map_t *m = &f.in->request_parameters;
    /* The known workaround: a backend that sees Sec-WebSocket-Version tries to upgrade. */
    tmap_add(m, "integration.request.header.sec-websocket-version", "'0'");
    tmap_add(m, "integration.request.header.connectionId", "context.connectionId");
    tmap_add(m, "integration.request.header.X-Cookie", "route.request.header.cookie");
    tmap_add(m, "integration.request.header.X-Cookies", "route.request.multivalueheader.Cookie");
    tmap_add(m, "integration.request.header.X-Fn", "stageVariables.fn");
    tmap_add(m, "integration.request.header.X-Missing", "route.request.header.nope");
    tmap_add(m, "integration.request.header.X-None", "context.messageId");
    tmap_add(m, "integration.request.header.Bad Name", "'x'");
    tmap_add(m, "integration.request.header.X-Evil", "'a\r\nInjected: 1'");
    tmap_add(m, "integration.request.header.User-Agent", "'mine'");
    tmap_add(m, "integration.request.querystring.token", "route.request.querystring.token");
    tmap_add(m, "integration.request.querystring.xs", "route.request.multivaluequerystring.x");
    tmap_add(m, "integration.request.querystring.s p", "'a b&c=d'");
    tmap_add(m, "integration.request.path.id", "context.connectionId");
    tmap_add(m, "integration.request.body.x", "'ignored'");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.url, "http://h/conn/L0SM9cOFvHcCIhw%3D/L0SM9cOFvHcCIhw%3D?fixed=1"
                                   "&token=a%2Bb&xs=1%2C2&s%20p=a%20b%26c%3Dd");
    assert_string_equal(f.req.headers.p, "Sec-WebSocket-Key: k==\r\n"
                                         "Cookie: a=1\r\n"
                                         "cookie: b=2\r\n"
                                         "X-Forwarded-For: 192.0.2.1\r\n"
                                         "X-Forwarded-Port: 443\r\n"
                                         "X-Forwarded-Proto: https\r\n"
                                         "X-Amzn-Trace-Id: " T_TRACE "\r\n"
                                         "x-amzn-apigateway-api-id: abcd123456\r\n"
                                         "sec-websocket-version: 0\r\n"
                                         "connectionId: " T_CONN_ID "\r\n"
                                         "X-Cookie: b=2\r\n"
                                         "X-Cookies: a=1,b=2\r\n"
                                         "X-Fn: chat fn\r\n"
                                         "X-Evil: a  Injected: 1\r\n"
                                         "User-Agent: mine\r\n");
    fx_free(&f);
}

static void test_http_proxy_message(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_HTTP_PROXY, "https://h/msg", ROUTE_EV_MESSAGE);
    tmap_add(&f.in->request_parameters, "integration.request.header.connectionId",
             "context.connectionId");
    tmap_add(&f.in->request_parameters, "integration.request.header.X-Action",
             "route.request.body.action");
    tmap_add(&f.in->request_parameters, "integration.request.header.X-Data",
             "route.request.body.data.n");
    tmap_add(&f.in->request_parameters, "integration.request.querystring.room",
             "route.request.body['room']");
    tmap_add(&f.in->request_parameters, "integration.request.header.X-Hdr",
             "route.request.header.Host"); /* CONNECT only: skipped */
    tctx_body(&f.c, "{\"action\":\"sendmessage\",\"data\":{\"n\":1},\"room\":\"r 1\"}");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.method, "POST");
    assert_string_equal(f.req.url, "https://h/msg?room=r%201");
    assert_string_equal(f.req.headers.p, "User-Agent: AmazonAPIGateway_abcd123456\r\n"
                                         "x-amzn-apigateway-api-id: abcd123456\r\n"
                                         "Content-Type: application/json\r\n"
                                         "connectionId: " T_CONN_ID "\r\n"
                                         "X-Action: sendmessage\r\n"
                                         "X-Data: 1\r\n");
    assert_int_equal(f.req.body_len, f.c.body_len);
    assert_memory_equal(f.req.body, f.c.body, f.c.body_len);
    /* Not JSON: text/plain (spec 15.8); JSON scalars count as JSON. */
    tctx_body(&f.c, "hello");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_non_null(strstr(f.req.headers.p, "Content-Type: text/plain\r\n"));
    assert_null(strstr(f.req.headers.p, "X-Action"));
    tctx_body(&f.c, "\"hello\"");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_non_null(strstr(f.req.headers.p, "Content-Type: application/json\r\n"));
    /* Already parsed by route selection: the same answer. */
    json_t *j = json_loads("{\"action\":\"x\"}", 0, NULL);
    tctx_body(&f.c, "{\"action\":\"x\"}");
    f.c.body_json = j;
    assert_int_equal(fx_build(&f), PT_OK);
    assert_non_null(strstr(f.req.headers.p, "Content-Type: application/json\r\nconnectionId"));
    assert_non_null(strstr(f.req.headers.p, "X-Action: x\r\n"));
    json_decref(j);
    fx_free(&f);
}

static void test_http_templates(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_HTTP, "http://h/x", ROUTE_EV_MESSAGE);
    tctx_body(&f.c, "{\"action\":\"sendmessage\",\"v\":\"3\",\"text\":\"hi\"}");
    /* No template: WHEN_NO_MATCH (the default) passes the body through. */
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.body, f.c.body);
    f.in->passthrough_behavior = (char *)"NEVER";
    assert_int_equal(fx_build(&f), PT_EINVAL);
    assert_non_null(strstr(f.err.p, "NEVER"));
    f.in->passthrough_behavior = (char *)"WHEN_NO_TEMPLATES";
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.body, f.c.body);
    /* Templates exist but none matches. */
    f.in->template_selection_expression = (char *)"${request.body.v}";
    tmap_add(&f.in->request_templates, "2", "{\"v2\": \"$input.path('$.text')\"}");
    assert_int_equal(fx_build(&f), PT_EINVAL);
    f.in->passthrough_behavior = (char *)"WHEN_NO_MATCH";
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.body, f.c.body);
    /* A matching template renders the body. */
    tmap_add(&f.in->request_templates, "3",
             "{\"text\": \"$input.path('$.text')\", \"id\": \"$context.connectionId\"}");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.body, "{\"text\": \"hi\", \"id\": \"" T_CONN_ID "\"}");
    assert_int_equal(f.req.body_len, strlen(f.req.body));
    assert_non_null(strstr(f.req.headers.p, "Content-Type: application/json\r\n"));
    tmap_add(&f.in->request_templates, "4", "plain $input.path('$.text')");
    tctx_body(&f.c, "{\"v\":\"4\",\"text\":\"yo\"}");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.body, "plain yo");
    assert_non_null(strstr(f.req.headers.p, "Content-Type: text/plain\r\n"));
    /* A broken template is a failure with a reason. */
    tmap_add(&f.in->request_templates, "5", "#if(true)unclosed");
    tctx_body(&f.c, "{\"v\":\"5\"}");
    assert_int_equal(fx_build(&f), PT_EINVAL);
    assert_non_null(strstr(f.err.p, "#if without #end"));
    fx_free(&f);
}

static void test_http_connect_and_disconnect(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_HTTP, "http://h/c", ROUTE_EV_CONNECT);
    f.in->passthrough_behavior = (char *)"NEVER";
    assert_int_equal(fx_build(&f), PT_OK); /* no body on CONNECT without a template */
    assert_null(f.req.body);
    tmap_add(&f.in->request_templates, "$default",
             "{\"connectionId\": \"$context.connectionId\", \"t\": \"$input.params('token')\"}");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_string_equal(f.req.body, "{\"connectionId\": \"" T_CONN_ID "\", \"t\": \"a+b\"}");
    assert_non_null(strstr(f.req.headers.p, "Content-Type: application/json\r\n"));
    fx_free(&f);

    fx_init(&f, ROUTE_INTEG_HTTP_PROXY, "http://h/d", ROUTE_EV_DISCONNECT);
    f.c.trace_id = T_TRACE;
    tmap_add(&f.in->request_parameters, "integration.request.header.X-Code",
             "context.disconnectStatusCode");
    assert_int_equal(fx_build(&f), PT_OK);
    assert_null(f.req.body);
    assert_string_equal(f.req.headers.p, "X-Amzn-Trace-Id: " T_TRACE "\r\n"
                                         "User-Agent: AmazonAPIGateway_abcd123456\r\n"
                                         "x-amzn-apigateway-api-id: abcd123456\r\n"
                                         "X-Code: 1001\r\n");
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_proxy),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_http_proxy_connect),
        cmocka_unit_test(test_request_parameters),
        cmocka_unit_test(test_http_proxy_message),
        cmocka_unit_test(test_http_templates),
        cmocka_unit_test(test_http_connect_and_disconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
