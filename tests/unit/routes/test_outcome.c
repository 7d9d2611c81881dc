/* test_outcome.c: what integration results mean for the client (spec 2.3, 4.2, 4.3, 6.5), MOCK. */
#include "routes_test.h"

#define ISE_FRAME                                                                                  \
    "{\"message\": \"Internal server error\", \"connectionId\":\"" T_CONN_ID "\", "                \
    "\"requestId\":\"" T_REQ_ID "\"}"

typedef struct fx {
    tapi_t t;
    route_integration_t *in;
    route_route_t *r;
    route_ctx_t c;
    route_integ_result_t res;
    route_outcome_t out;
} fx_t;

static void fx_init(fx_t *f, route_integ_type_t type, route_event_kind_t kind, bool two_way)
{
    memset(f, 0, sizeof *f);
    tapi_init(&f->t, "$request.body.action");
    f->in = tapi_integ(&f->t, type, type == ROUTE_INTEG_MOCK ? NULL : "http://127.0.0.1:9/x");
    f->r = tapi_route(&f->t,
                      kind == ROUTE_EV_CONNECT      ? "$connect"
                      : kind == ROUTE_EV_DISCONNECT ? "$disconnect"
                                                    : "sendmessage",
                      f->in);
    f->r->two_way = two_way;
    tapi_index(&f->t);
    tctx_init(&f->c, &f->t, f->r, kind);
    if (kind == ROUTE_EV_MESSAGE)
        tctx_body(&f->c, "{\"action\":\"sendmessage\",\"data\":\"hello\"}");
}

/* Runs route_integ_outcome on a result with the given status, body and headers. */
static route_outcome_t *run(fx_t *f, int error, int status, const char *body,
                            const http_header_t *h, size_t nh)
{
    route_outcome_free(&f->out);
    memset(&f->res, 0, sizeof f->res);
    f->res.error = error;
    f->res.status = status;
    f->res.body = body;
    f->res.body_len = body ? strlen(body) : 0;
    f->res.headers = h;
    f->res.nheaders = nh;
    memset(&f->out, 0x5a, sizeof f->out); /* the outcome is fully written */
    route_integ_outcome(f->in, &f->c, &f->res, &f->out);
    return &f->out;
}

static route_outcome_t *lambda(fx_t *f, const char *body)
{
    return run(f, PT_OK, 200, body, NULL, 0);
}

static route_outcome_t *run_mock(fx_t *f)
{
    route_outcome_free(&f->out);
    memset(&f->out, 0x5a, sizeof f->out);
    route_mock_run(f->in, &f->c, &f->out);
    return &f->out;
}

static void fx_free(fx_t *f)
{
    route_outcome_free(&f->out);
    tapi_free(&f->t);
}

static void assert_accept(const route_outcome_t *o, int status, const char *subprotocol)
{
    assert_int_equal(o->status, status);
    assert_null(o->body);
    assert_null(o->frame);
    assert_false(o->integration_error);
    if (subprotocol)
        assert_string_equal(o->subprotocol, subprotocol);
    else
        assert_null(o->subprotocol);
}

static void assert_reject(const route_outcome_t *o, int status, const char *body, const char *ctype,
                          bool integ_error)
{
    assert_int_equal(o->status, status);
    assert_non_null(o->body);
    assert_int_equal(o->body_len, strlen(body));
    assert_string_equal(o->body, body);
    assert_string_equal(o->content_type, ctype);
    assert_null(o->subprotocol);
    assert_null(o->frame);
    assert_int_equal(o->integration_error, integ_error);
}

static void assert_frame_n(const route_outcome_t *o, const char *frame, size_t len, bool binary,
                           bool error)
{
    assert_non_null(o->frame);
    assert_int_equal(o->frame_len, len);
    assert_memory_equal(o->frame, frame, len);
    assert_int_equal(o->frame_binary, binary);
    assert_int_equal(o->integration_error, error);
}

static void assert_frame(const route_outcome_t *o, const char *frame, bool binary, bool error)
{
    assert_non_null(o->frame);
    assert_int_equal(o->frame_len, strlen(frame));
    assert_memory_equal(o->frame, frame, o->frame_len);
    assert_int_equal(o->frame_binary, binary);
    assert_int_equal(o->integration_error, error);
    assert_null(o->body);
    assert_null(o->subprotocol);
}

static void assert_nothing(const route_outcome_t *o)
{
    assert_null(o->frame);
    assert_null(o->body);
    assert_null(o->subprotocol);
    assert_null(o->content_type);
    assert_false(o->integration_error);
}

static void test_connect_lambda(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_AWS_PROXY, ROUTE_EV_CONNECT, false);
    assert_accept(lambda(&f, "{\"statusCode\":200}"), 200, NULL);
    assert_accept(lambda(&f, "{\"statusCode\": 200, \"body\": \"Connected.\"}"), 200, NULL);
    assert_accept(lambda(&f, "{}"), 200, NULL); /* absent statusCode: 200 */
    assert_accept(lambda(&f, "{\"statusCode\":\"204\"}"), 204, NULL);
    assert_accept(lambda(&f, "{\"statusCode\":200,\"headers\":{\"Sec-WebSocket-Protocol\":"
                             "\"myprotocol\"}}"),
                  200, "myprotocol");
    assert_accept(lambda(&f, "{\"statusCode\":201,\"multiValueHeaders\":"
                             "{\"sec-websocket-protocol\":[\"p2\"]}}"),
                  201, "p2");
    /* Any other code rejects the upgrade with that status and the result's body (spec 2.3). */
    assert_reject(lambda(&f, "{\"statusCode\":400}"), 400, "", "application/json", false);
    assert_reject(lambda(&f, "{\"statusCode\":401,\"body\":\"nope\",\"headers\":"
                             "{\"Content-Type\":\"text/plain\"}}"),
                  401, "nope", "text/plain", false);
    assert_reject(lambda(&f, "{\"statusCode\":500,\"body\":\"{\\\"e\\\":1}\",\"multiValueHeaders\":"
                             "{\"content-type\":[\"text/html\"]},\"headers\":"
                             "{\"Sec-WebSocket-Protocol\":\"p\"}}"),
                  500, "{\"e\":1}", "text/html", false);
    assert_reject(lambda(&f, "{\"statusCode\":301,\"body\":\"bW92ZWQ=\",\"isBase64Encoded\":true}"),
                  301, "moved", "application/json", false);
    fx_free(&f);
}

static void test_connect_failures(void **state)
{
    (void)state;
    fx_t f;
    static const char ise[] = "{\"message\": \"Internal server error\"}";
    static const char tmo[] = "{\"message\": \"Endpoint request timed out\"}";
    fx_init(&f, ROUTE_INTEG_AWS_PROXY, ROUTE_EV_CONNECT, false);
    assert_reject(run(&f, PT_EIO, 0, NULL, NULL, 0), 502, ise, "application/json", true);
    assert_reject(run(&f, PT_ECLOSED, 0, NULL, NULL, 0), 502, ise, "application/json", true);
    assert_reject(run(&f, PT_ETOOBIG, 200, "{", NULL, 0), 502, ise, "application/json", true);
    assert_reject(run(&f, PT_ETIMEOUT, 0, NULL, NULL, 0), 504, tmo, "application/json", true);
    /* A function error, whatever it returned. */
    f.res.function_error = true;
    route_outcome_free(&f.out);
    f.res.error = PT_OK;
    f.res.body = "{\"statusCode\":200}";
    f.res.body_len = strlen(f.res.body);
    route_integ_outcome(f.in, &f.c, &f.res, &f.out);
    assert_reject(&f.out, 502, ise, "application/json", true);
    /* The Invoke API refusing the call (issue 5): 500, whatever its own status and body. */
    static const http_header_t throttled[] = {
        {"x-amzn-ErrorType", 16, "TooManyRequestsException", 24}};
    assert_reject(run(&f, PT_OK, 429, "{\"message\":\"Rate Exceeded.\"}", throttled, 1), 500, ise,
                  "application/json", true);
    assert_reject(run(&f, PT_OK, 404, "{\"statusCode\":200}", NULL, 0), 500, ise,
                  "application/json", true);
    assert_reject(run(&f, PT_OK, 502, "", NULL, 0), 500, ise, "application/json", true);
    /* Malformed results. */
    static const char *bad[] = {"null",
                                "",
                                "garbage",
                                "{\"statusCode\":200,\"body\":{}}",
                                "{\"errorMessage\":\"boom\",\"errorType\":\"Error\"}",
                                "{\"statusCode\":99}"};
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++)
        assert_reject(lambda(&f, bad[i]), 502, ise, "application/json", true);
    fx_free(&f);
}

static void test_connect_http(void **state)
{
    (void)state;
    fx_t f;
    http_header_t h[] = {thdr("Content-Type", "text/plain"),
                         thdr("Sec-WebSocket-Protocol", "chat")};
    fx_init(&f, ROUTE_INTEG_HTTP_PROXY, ROUTE_EV_CONNECT, false);
    assert_accept(run(&f, PT_OK, 200, "ignored", h, 2), 200, "chat");
    assert_accept(run(&f, PT_OK, 204, "", NULL, 0), 204, NULL);
    assert_reject(run(&f, PT_OK, 400, "bad", h, 2), 400, "bad", "text/plain", false);
    assert_reject(run(&f, PT_OK, 403, NULL, NULL, 0), 403, "", "application/json", false);
    assert_reject(run(&f, PT_OK, 302, "", NULL, 0), 302, "", "application/json", false);
    /* Bodies are counted, not NUL-terminated (regression: found by fuzz_proxy_result). */
    route_outcome_free(&f.out);
    char *unterminated = pt_xmemdup("nope", 4);
    f.res.body = unterminated;
    f.res.body_len = 4;
    f.res.status = 400;
    f.res.nheaders = 0;
    route_integ_outcome(f.in, &f.c, &f.res, &f.out);
    assert_reject(&f.out, 400, "nope", "application/json", false);
    free(unterminated);
    assert_reject(run(&f, PT_ETIMEOUT, 0, NULL, NULL, 0), 504,
                  "{\"message\": \"Endpoint request timed out\"}", "application/json", true);
    fx_free(&f);
    /* HTTP (non-proxy): the call succeeding is enough (spec 2.3). */
    fx_init(&f, ROUTE_INTEG_HTTP, ROUTE_EV_CONNECT, false);
    assert_accept(run(&f, PT_OK, 404, "x", h, 2), 200, NULL);
    assert_accept(run(&f, PT_OK, 500, "x", NULL, 0), 200, NULL);
    assert_reject(run(&f, PT_EIO, 0, NULL, NULL, 0), 502,
                  "{\"message\": \"Internal server error\"}", "application/json", true);
    fx_free(&f);
}

static void test_message_lambda(void **state)
{
    (void)state;
    fx_t f;
    /* One-way: nothing is sent, and the result is not read (a null result is no error). */
    fx_init(&f, ROUTE_INTEG_AWS_PROXY, ROUTE_EV_MESSAGE, false);
    assert_nothing(lambda(&f, "{\"statusCode\":200,\"body\":\"dropped\"}"));
    assert_nothing(lambda(&f, "null"));
    assert_nothing(lambda(&f, "{\"body\":{}}"));
    /* Failures send the error frame on any route (spec 4.3). */
    assert_frame(run(&f, PT_EIO, 0, NULL, NULL, 0), ISE_FRAME, false, true);
    assert_frame(run(&f, PT_ETIMEOUT, 0, NULL, NULL, 0), ISE_FRAME, false, true);
    f.res.function_error = true;
    route_outcome_free(&f.out);
    f.res.error = PT_OK;
    f.res.body = "{\"errorMessage\":\"boom\"}";
    f.res.body_len = strlen(f.res.body);
    route_integ_outcome(f.in, &f.c, &f.res, &f.out);
    assert_frame(&f.out, ISE_FRAME, false, true);
    assert_frame(run(&f, PT_OK, 429, "{}", NULL, 0), ISE_FRAME, false, true); /* Invoke error */
    fx_free(&f);

    /* Two-way: the body as a frame, for any statusCode (spec 15.7). */
    fx_init(&f, ROUTE_INTEG_AWS_PROXY, ROUTE_EV_MESSAGE, true);
    assert_frame(lambda(&f, "{\"statusCode\":200,\"body\":\"hello\"}"), "hello", false, false);
    assert_int_equal(f.out.status, 200);
    assert_frame(lambda(&f, "{\"statusCode\":500,\"body\":\"err\"}"), "err", false, false);
    assert_int_equal(f.out.status, 500);
    assert_frame_n(lambda(&f, "{\"body\":\"AP8=\",\"isBase64Encoded\":true}"), "\x00\xff", 2, true,
                   false);
    assert_nothing(lambda(&f, "{\"statusCode\":200}"));
    assert_nothing(lambda(&f, "{\"statusCode\":200,\"body\":\"\"}"));
    assert_nothing(lambda(&f, " null\n"));
    assert_nothing(lambda(&f, ""));
    assert_frame(lambda(&f, "{\"statusCode\":200,\"body\":{\"a\":1}}"), ISE_FRAME, false, true);
    assert_frame(lambda(&f, "[1]"), ISE_FRAME, false, true);
    fx_free(&f);
}

static void test_message_http_proxy(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_HTTP_PROXY, ROUTE_EV_MESSAGE, true);
    assert_frame(run(&f, PT_OK, 200, "{\"ok\":true}", NULL, 0), "{\"ok\":true}", false, false);
    assert_frame(run(&f, PT_OK, 404, "not found", NULL, 0), "not found", false, false);
    assert_nothing(run(&f, PT_OK, 204, "", NULL, 0));
    /* A text frame is valid UTF-8. */
    assert_frame(run(&f, PT_OK, 200, "caf\xe9", NULL, 0), "caf\xef\xbf\xbd", false, false);
    assert_frame(run(&f, PT_EIO, 0, NULL, NULL, 0), ISE_FRAME, false, true);
    f.r->two_way = false;
    assert_nothing(run(&f, PT_OK, 200, "dropped", NULL, 0));
    assert_frame(run(&f, PT_ETIMEOUT, 0, NULL, NULL, 0), ISE_FRAME, false, true);
    /* The error frame with unknown ids still is the frame. */
    f.c.connection_id = NULL;
    f.c.request_id = NULL;
    assert_frame(
        run(&f, PT_EIO, 0, NULL, NULL, 0),
        "{\"message\": \"Internal server error\", \"connectionId\":\"\", \"requestId\":\"\"}",
        false, true);
    fx_free(&f);
}

static void test_message_http_responses(void **state)
{
    (void)state;
    fx_t f;
    http_header_t ha[] = {thdr("X-Kind", "a")};
    fx_init(&f, ROUTE_INTEG_HTTP, ROUTE_EV_MESSAGE, true);
    route_integ_response_t *r4 = tapi_response(&f.t, f.in, "/4\\d\\d/");
    tmap_add(&r4->response_templates, "$default", "{\"error\": \"$input.path('$.msg')\"}");
    route_integ_response_t *r2 = tapi_response(&f.t, f.in, "/2\\d\\d/");
    r2->template_selection_expression = (char *)"${integration.response.header.X-Kind}";
    tmap_add(&r2->response_templates, "a", "A:$input.body");
    tmap_add(&r2->response_templates, "application/json", "J:$input.json('$.n')");
    route_integ_response_t *rb = tapi_response(&f.t, f.in, "/3\\d\\d/");
    rb->template_selection_expression = (char *)"${integration.response.body.kind}";
    tmap_add(&rb->response_templates, "b", "B");
    tmap_add(&rb->response_templates, "$default", "#if(");
    route_integ_response_t *rd = tapi_response(&f.t, f.in, "$default");

    assert_frame(run(&f, PT_OK, 404, "{\"msg\":\"missing\"}", NULL, 0), "{\"error\": \"missing\"}",
                 false, false);
    assert_frame(run(&f, PT_OK, 201, "{\"n\":5}", ha, 1), "A:{\"n\":5}", false, false);
    assert_frame(run(&f, PT_OK, 200, "{\"n\":5}", NULL, 0), "J:5", false, false);
    assert_frame(run(&f, PT_OK, 301, "{\"kind\":\"b\"}", NULL, 0), "B", false, false);
    /* A template that does not parse is a failure. */
    assert_frame(run(&f, PT_OK, 302, "{\"kind\":\"z\"}", NULL, 0), ISE_FRAME, false, true);
    /* $default without a template passes the body through. */
    assert_frame(run(&f, PT_OK, 500, "raw body", NULL, 0), "raw body", false, false);
    assert_frame(run(&f, PT_OK, 4040, "x", NULL, 0), "x", false, false); /* anchored */
    /* CONVERT_TO_BINARY / CONVERT_TO_TEXT on the integration response. */
    rd->content_handling_strategy = (char *)"CONVERT_TO_BINARY";
    assert_frame_n(run(&f, PT_OK, 500, "AAEC", NULL, 0), "\x00\x01\x02", 3, true, false);
    assert_frame(run(&f, PT_OK, 500, "not base64!", NULL, 0), ISE_FRAME, false, true);
    rd->content_handling_strategy = (char *)"CONVERT_TO_TEXT";
    assert_frame(run(&f, PT_OK, 500, "hi", NULL, 0), "aGk=", false, false);
    /* No match and no $default: REST's "No match for output mapping" failure. */
    f.in->nresponses = 3;
    assert_frame(run(&f, PT_OK, 500, "x", NULL, 0), ISE_FRAME, false, true);
    /* Integration response keys compiled as patterns; a bad one never matches. */
    r4->key = (char *)"/4(\\d\\d/";
    assert_frame(run(&f, PT_OK, 404, "x", NULL, 0), ISE_FRAME, false, true);
    f.r->two_way = false;
    assert_nothing(run(&f, PT_OK, 200, "x", NULL, 0));
    fx_free(&f);
}

static void test_disconnect_ignored(void **state)
{
    (void)state;
    static const route_integ_type_t types[] = {ROUTE_INTEG_AWS_PROXY, ROUTE_INTEG_HTTP_PROXY,
                                               ROUTE_INTEG_HTTP, ROUTE_INTEG_MOCK};
    for (size_t i = 0; i < PT_ARRAY_LEN(types); i++) {
        fx_t f;
        fx_init(&f, types[i], ROUTE_EV_DISCONNECT, true);
        route_outcome_t *o = run(&f, PT_EIO, 0, NULL, NULL, 0);
        assert_nothing(o);
        assert_int_equal(o->status, 0);
        assert_nothing(lambda(&f, "garbage"));
        assert_nothing(run_mock(&f));
        fx_free(&f);
    }
}

static void test_mock_connect(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_MOCK, ROUTE_EV_CONNECT, false);
    assert_accept(run_mock(&f), 200, NULL); /* no template: 200 */
    tmap_add(&f.in->request_templates, "application/json", "{\"statusCode\": 200}");
    assert_accept(run_mock(&f), 200, NULL);
    f.in->request_templates.items[0].val = (char *)"{\"statusCode\": 403}";
    route_outcome_t *o = run_mock(&f);
    assert_int_equal(o->status, 403);
    assert_null(o->body); /* the gateway answers with its own body */
    assert_false(o->integration_error);
    /* A template can decide from the handshake. */
    f.in->request_templates.items[0].val =
        (char *)"#if($input.params('token') == 'ok'){\"statusCode\":200}"
                "#{else}{\"statusCode\":401}#end";
    f.c.query = "token=ok";
    f.c.query_len = 8;
    assert_accept(run_mock(&f), 200, NULL);
    f.c.query = "token=no";
    assert_int_equal(run_mock(&f)->status, 401);
    /* Output that is not {"statusCode": <int>} is a failure: 500. */
    static const char *bad[] = {
        "not json", "{}", "{\"statusCode\":\"200\"}", "[200]", "{\"statusCode\": 99}", "#if("};
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        f.in->request_templates.items[0].val = (char *)bad[i];
        assert_reject(run_mock(&f), 500, "{\"message\": \"Internal server error\"}",
                      "application/json", true);
    }
    fx_free(&f);
}

static void test_mock_message(void **state)
{
    (void)state;
    fx_t f;
    fx_init(&f, ROUTE_INTEG_MOCK, ROUTE_EV_MESSAGE, true);
    /* Two-way with a $default response and no template: $input is the message, so it echoes. */
    tapi_response(&f.t, f.in, "$default");
    assert_frame(run_mock(&f), "{\"action\":\"sendmessage\",\"data\":\"hello\"}", false, false);
    assert_int_equal(f.out.status, 200);
    tmap_add(&f.in->responses[0].response_templates, "$default", "echo: $input.path('$.data')");
    assert_frame(run_mock(&f), "echo: hello", false, false);
    /* The request template's status selects the integration response. */
    route_integ_response_t *r4 = tapi_response(&f.t, f.in, "/4\\d\\d/");
    tmap_add(&r4->response_templates, "$default", "nope $context.routeKey");
    tmap_add(&f.in->request_templates, "$default",
             "{\"statusCode\": #if($input.path('$.data') == 'hello')404#{else}200#end}");
    assert_frame(run_mock(&f), "nope sendmessage", false, false);
    assert_int_equal(f.out.status, 404);
    tctx_body(&f.c, "{\"data\":\"other\"}");
    assert_frame(run_mock(&f), "echo: other", false, false);
    /* A broken mock fails even on one-way routes. */
    f.in->request_templates.items[0].val = (char *)"nope";
    assert_frame(run_mock(&f), ISE_FRAME, false, true);
    f.r->two_way = false;
    assert_frame(run_mock(&f), ISE_FRAME, false, true);
    f.in->request_templates.items[0].val = (char *)"{\"statusCode\":200}";
    assert_nothing(run_mock(&f));
    fx_free(&f);
}

static void test_outcome_free(void **state)
{
    (void)state;
    route_outcome_t o;
    memset(&o, 0, sizeof o);
    route_outcome_free(&o);
    o.body = pt_xstrdup("a");
    o.content_type = pt_xstrdup("b");
    o.subprotocol = pt_xstrdup("c");
    o.frame = pt_xstrdup("d");
    route_outcome_free(&o);
    assert_null(o.body);
    assert_null(o.frame);
    route_http_req_t r;
    memset(&r, 0, sizeof r);
    route_http_req_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_lambda),     cmocka_unit_test(test_connect_failures),
        cmocka_unit_test(test_connect_http),       cmocka_unit_test(test_message_lambda),
        cmocka_unit_test(test_message_http_proxy), cmocka_unit_test(test_message_http_responses),
        cmocka_unit_test(test_disconnect_ignored), cmocka_unit_test(test_mock_connect),
        cmocka_unit_test(test_mock_message),       cmocka_unit_test(test_outcome_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
