/* test_http_result.c: HTTP API results: 2.0 parsing, outcomes of every kind, MOCK, errors. */
#include "routes_test.h"

static int parse2(const char *text, route_http_result_t *r)
{
    return route_http_result_parse_v2(text, strlen(text), r);
}

/* ---- 2.0 parsing ---------------------------------------------------------------------------- */

/* AWS's table: a function output without statusCode is the body of a 200 JSON response. */
static void test_v2_inferred(void **state)
{
    (void)state;
    route_http_result_t r;
    assert_int_equal(parse2("\"Hello from Lambda!\"", &r), PT_OK);
    assert_true(r.inferred);
    assert_int_equal(r.status_code, 200);
    assert_string_equal(r.body, "Hello from Lambda!");
    route_http_result_free(&r);

    const char *obj = "{ \"message\": \"Hello from Lambda!\" }";
    assert_int_equal(parse2(obj, &r), PT_OK);
    assert_true(r.inferred);
    assert_string_equal(r.body, obj); /* byte for byte */
    route_http_result_free(&r);

    static const char *const others[] = {"42",
                                         "true",
                                         "null",
                                         "[1,2]",
                                         "{}",
                                         "{\"body\":\"x\",\"headers\":{\"a\":\"b\"}}",
                                         "{\"statusCode\":null,\"body\":\"y\"}"};
    for (size_t i = 0; i < PT_ARRAY_LEN(others); i++) {
        assert_int_equal(parse2(others[i], &r), PT_OK);
        assert_true(r.inferred);
        assert_int_equal(r.status_code, 200);
        assert_string_equal(r.body, others[i]);
        assert_null(r.headers);
        route_http_result_free(&r);
    }
}

static void test_v2_structured(void **state)
{
    (void)state;
    route_http_result_t r;
    assert_int_equal(parse2("{\"cookies\":[\"a=1; Path=/\",\"b=2\"],\"isBase64Encoded\":false,"
                            "\"statusCode\":201,\"headers\":{\"X-A\":\"1\",\"X-N\":7,"
                            "\"X-B\":false,\"X-Null\":null},\"body\":\"ok\","
                            "\"multiValueHeaders\":{\"X-M\":[\"ignored\"]},\"extra\":1}",
                            &r),
                     PT_OK);
    assert_false(r.inferred);
    assert_int_equal(r.status_code, 201);
    assert_string_equal(r.body, "ok");
    assert_int_equal(json_array_size(r.cookies), 2);
    assert_string_equal(json_string_value(json_array_get(r.cookies, 0)), "a=1; Path=/");
    assert_string_equal(json_string_value(json_object_get(r.headers, "X-N")), "7");
    assert_string_equal(json_string_value(json_object_get(r.headers, "X-B")), "false");
    assert_null(json_object_get(r.headers, "X-Null"));
    assert_null(json_object_get(r.headers, "X-M"));
    route_http_result_free(&r);

    assert_int_equal(
        parse2("{\"statusCode\":200,\"body\":\"aGkA/w==\",\"isBase64Encoded\":true}", &r), PT_OK);
    assert_int_equal(r.body_len, 4);
    assert_memory_equal(r.body, "hi\x00\xff", 4);
    route_http_result_free(&r);

    assert_int_equal(parse2("{\"statusCode\":\"404\"}", &r), PT_OK);
    assert_int_equal(r.status_code, 404);
    assert_null(r.body);
    route_http_result_free(&r);

    assert_int_equal(parse2("{\"statusCode\":204.0,\"body\":12}", &r), PT_OK);
    assert_int_equal(r.status_code, 204);
    assert_string_equal(r.body, "12");
    route_http_result_free(&r);
}

static void test_v2_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "{\"statusCode\":",
        "{\"statusCode\":99}",
        "{\"statusCode\":600}",
        "{\"statusCode\":200.5}",
        "{\"statusCode\":\"2x0\"}",
        "{\"statusCode\":true}",
        "{\"statusCode\":[200]}",
        "{\"statusCode\":200,\"headers\":[]}",
        "{\"statusCode\":200,\"headers\":\"x\"}",
        "{\"statusCode\":200,\"headers\":{\"a\":{}}}",
        "{\"statusCode\":200,\"headers\":{\"a\":[\"b\"]}}",
        "{\"statusCode\":200,\"cookies\":\"a=1\"}",
        "{\"statusCode\":200,\"cookies\":[1]}",
        "{\"statusCode\":200,\"body\":{}}",
        "{\"statusCode\":200,\"body\":[\"x\"]}",
        "{\"statusCode\":200,\"isBase64Encoded\":1}",
        "{\"statusCode\":200,\"isBase64Encoded\":\"yes\"}",
        "{\"statusCode\":200,\"isBase64Encoded\":true,\"body\":\"!!\"}",
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        route_http_result_t r;
        if (parse2(bad[i], &r) != PT_EPARSE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(r.body);
        assert_null(r.headers);
        assert_null(r.cookies);
    }
}

/* ---- outcomes ------------------------------------------------------------------------------- */

typedef struct ofx {
    tapi_t t;
    route_integration_t *in;
    route_http_ctx_t c;
} ofx_t;

static void ofx_init(ofx_t *f, route_integ_type_t type, const char *pfv)
{
    memset(f, 0, sizeof *f);
    tapi_init(&f->t, NULL);
    f->t.api.protocol = ROUTE_PROTO_HTTP;
    f->in = tapi_integ(&f->t, type, type == ROUTE_INTEG_MOCK ? NULL : "http://127.0.0.1:1/");
    f->in->payload_format_version = (char *)pfv;
    f->c.method = "GET";
    f->c.method_len = 3;
    f->c.request_id = T_REQ_ID;
}

static route_integ_result_t result(int error, int status, const char *body)
{
    route_integ_result_t r = {
        .error = error, .status = status, .body = body, .body_len = body ? strlen(body) : 0};
    return r;
}

static const char *hget(const route_http_response_t *r, const char *name)
{
    return route_http_response_get(r, name);
}

static size_t hcount(const route_http_response_t *r, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        n += strcasecmp(r->headers[i].key, name) == 0;
    return n;
}

static void test_failures(void **state)
{
    (void)state;
    static const struct {
        route_integ_type_t type;
        int error, status;
        bool fn_error;
        const char *body;
        int want;
        const char *message;
    } rows[] = {
        {ROUTE_INTEG_HTTP_PROXY, PT_ETIMEOUT, 0, false, NULL, 504, "Endpoint request timed out"},
        {ROUTE_INTEG_HTTP_PROXY, PT_EIO, 0, false, NULL, 503, "Service Unavailable"},
        {ROUTE_INTEG_HTTP_PROXY, PT_ECLOSED, 0, false, NULL, 503, "Service Unavailable"},
        {ROUTE_INTEG_HTTP_PROXY, PT_ETOOBIG, 0, false, NULL, 502, "Internal Server Error"},
        {ROUTE_INTEG_AWS_PROXY, PT_ETIMEOUT, 0, false, NULL, 504, "Endpoint request timed out"},
        {ROUTE_INTEG_AWS_PROXY, PT_EIO, 0, false, NULL, 503, "Service Unavailable"},
        {ROUTE_INTEG_AWS_PROXY, PT_OK, 200, true, "{\"errorMessage\":\"x\"}", 502,
         "Internal Server Error"},
        {ROUTE_INTEG_AWS_PROXY, PT_OK, 404, false, "{\"Message\":\"Function not found\"}", 500,
         "Internal Server Error"},
        {ROUTE_INTEG_AWS_PROXY, PT_OK, 429, false, "{}", 500, "Internal Server Error"},
        {ROUTE_INTEG_AWS_PROXY, PT_OK, 200, false, "not json", 502, "Internal Server Error"},
        {ROUTE_INTEG_AWS_PROXY, PT_OK, 200, false, "{\"statusCode\":200,\"nope\":1}", 502,
         "Internal Server Error"}, /* 1.0: REST's rules, unknown keys are malformed */
        {ROUTE_INTEG_AWS_PROXY, PT_OK, 200, false, "{\"statusCode\":101}", 502,
         "Internal Server Error"}, /* no final 1xx */
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(rows); i++) {
        ofx_t f;
        route_http_response_t out;
        ofx_init(&f, rows[i].type, "1.0");
        route_integ_result_t r = result(rows[i].error, rows[i].status, rows[i].body);
        r.function_error = rows[i].fn_error;
        route_http_outcome(f.in, &f.c, &r, &out);
        if (out.status != rows[i].want)
            fail_msg("row %zu: status %d, want %d", i, out.status, rows[i].want);
        char want[96];
        snprintf(want, sizeof want, "{\"message\":\"%s\"}", rows[i].message);
        assert_string_equal(out.body, want);
        assert_true(out.gateway);
        assert_non_null(out.error);
        assert_string_equal(hget(&out, "content-type"), "application/json");
        route_http_response_free(&out);
        tapi_free(&f.t);
    }
}

static void test_http_proxy_response(void **state)
{
    (void)state;
    ofx_t f;
    route_http_response_t out;
    ofx_init(&f, ROUTE_INTEG_HTTP_PROXY, "1.0");
    http_header_t h[] = {thdr("Content-Type", "text/html"),
                         thdr("Set-Cookie", "a=1"),
                         thdr("Set-Cookie", "b=2"),
                         thdr("Connection", "close"),
                         thdr("Transfer-Encoding", "chunked"),
                         thdr("Content-Length", "5"),
                         thdr("Date", "x"),
                         thdr("Keep-Alive", "timeout=5"),
                         thdr("X-Custom", "v")};
    route_integ_result_t r = result(PT_OK, 418, "teapot");
    r.headers = h;
    r.nheaders = PT_ARRAY_LEN(h);
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_int_equal(out.status, 418); /* any status passes through */
    assert_false(out.gateway);
    assert_string_equal(out.body, "teapot");
    assert_int_equal(hcount(&out, "set-cookie"), 2);
    assert_int_equal(hcount(&out, "connection") + hcount(&out, "transfer-encoding") +
                         hcount(&out, "content-length") + hcount(&out, "date") +
                         hcount(&out, "keep-alive"),
                     0);
    assert_string_equal(hget(&out, "X-Custom"), "v");
    assert_int_equal(out.head_length, -1);
    route_http_response_free(&out);

    /* HEAD: the backend's Content-Length is what the client is told. */
    f.c.method = "HEAD";
    f.c.method_len = 4;
    r = result(PT_OK, 200, "");
    r.headers = h;
    r.nheaders = PT_ARRAY_LEN(h);
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_int_equal(out.head_length, 5);
    route_http_response_free(&out);
    tapi_free(&f.t);
}

static void test_lambda_v1(void **state)
{
    (void)state;
    ofx_t f;
    route_http_response_t out;
    ofx_init(&f, ROUTE_INTEG_AWS_PROXY, "1.0");
    route_integ_result_t r =
        result(PT_OK, 200,
               "{\"statusCode\":302,\"headers\":{\"Location\":\"/x\",\"X-Both\":\"single\","
               "\"Content-Length\":\"99\"},\"multiValueHeaders\":{\"X-Both\":[\"m1\",\"m2\"],"
               "\"Set-Cookie\":[\"a=1\",\"b=2\"]},\"body\":\"moved\"}");
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_int_equal(out.status, 302);
    assert_false(out.gateway);
    assert_string_equal(hget(&out, "Location"), "/x");
    assert_int_equal(hcount(&out, "X-Both"), 2); /* multiValueHeaders wins */
    assert_string_equal(hget(&out, "X-Both"), "m1");
    assert_int_equal(hcount(&out, "Set-Cookie"), 2);
    assert_int_equal(hcount(&out, "Content-Length"), 0);
    assert_string_equal(hget(&out, "Content-Type"), "application/json"); /* default */
    assert_string_equal(out.body, "moved");
    route_http_response_free(&out);

    r = result(PT_OK, 200,
               "{\"statusCode\":200,\"body\":\"aGk=\",\"isBase64Encoded\":true,"
               "\"headers\":{\"Content-Type\":\"image/png\"}}");
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_string_equal(out.body, "hi");
    assert_string_equal(hget(&out, "content-type"), "image/png");
    route_http_response_free(&out);

    r = result(PT_OK, 200, "{}"); /* no statusCode: 200, no body, no Content-Type */
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_int_equal(out.status, 200);
    assert_int_equal(out.body_len, 0);
    assert_null(hget(&out, "content-type"));
    route_http_response_free(&out);
    tapi_free(&f.t);
}

static void test_lambda_v2(void **state)
{
    (void)state;
    ofx_t f;
    route_http_response_t out;
    ofx_init(&f, ROUTE_INTEG_AWS_PROXY, "2.0");
    route_integ_result_t r = result(PT_OK, 200, "{\"hello\": \"world\"}");
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_int_equal(out.status, 200);
    assert_string_equal(hget(&out, "content-type"), "application/json");
    assert_string_equal(out.body, "{\"hello\": \"world\"}");
    route_http_response_free(&out);

    r = result(PT_OK, 200,
               "{\"statusCode\":201,\"cookies\":[\"s=1; HttpOnly\",\"t=2\"],"
               "\"headers\":{\"Content-Type\":\"text/plain\",\"X-Evil\":\"a\\r\\n"
               "Injected: 1\",\"Bad Name\":\"x\"},\"body\":\"made\"}");
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_int_equal(out.status, 201);
    assert_int_equal(hcount(&out, "Set-Cookie"), 2);
    assert_string_equal(hget(&out, "content-type"), "text/plain");
    assert_string_equal(hget(&out, "X-Evil"), "a  Injected: 1"); /* no header injection */
    assert_null(hget(&out, "Bad Name"));
    assert_string_equal(out.body, "made");
    route_http_response_free(&out);

    r = result(PT_OK, 200, "{\"statusCode\":200,\"body\":{}}");
    route_http_outcome(f.in, &f.c, &r, &out);
    assert_int_equal(out.status, 502);
    assert_string_equal(out.body, "{\"message\":\"Internal Server Error\"}");
    route_http_response_free(&out);
    tapi_free(&f.t);
}

static void test_mock(void **state)
{
    (void)state;
    ofx_t f;
    route_http_response_t out;
    ofx_init(&f, ROUTE_INTEG_MOCK, "1.0");
    route_http_mock(f.in, &f.c, &out); /* nothing configured: 200, empty */
    assert_int_equal(out.status, 200);
    assert_int_equal(out.body_len, 0);
    route_http_response_free(&out);

    tmap_add(&f.in->request_templates, "$default", "{\"statusCode\": 201}");
    route_integ_response_t *ir = tapi_response(&f.t, f.in, "/2\\d\\d/");
    tmap_add(&ir->response_templates, "$default",
             "{\"route\":\"$context.routeKey\",\"in\":$input.body}");
    route_route_t *rt = tapi_route(&f.t, "POST /m", f.in);
    route_http_match_t m = {.route = rt};
    f.c.match = &m;
    f.c.body = "{\"a\":1}";
    f.c.body_len = 7;
    route_http_mock(f.in, &f.c, &out);
    assert_int_equal(out.status, 201);
    assert_string_equal(out.body, "{\"route\":\"POST /m\",\"in\":{\"a\":1}}");
    assert_string_equal(hget(&out, "content-type"), "application/json");
    route_http_response_free(&out);
    free(f.in->request_templates.items);
    f.in->request_templates.items = NULL;
    f.in->request_templates.n = 0;
    tmap_add(&f.in->request_templates, "$default", "no json here");
    route_http_mock(f.in, &f.c, &out);
    assert_int_equal(out.status, 500);
    route_http_response_free(&out);
    tapi_free(&f.t);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *body;
    } rows[] = {
        {404, "{\"message\":\"Not Found\"}"},
        {413, "{\"message\":\"Request Entity Too Large\"}"},
        {500, "{\"message\":\"Internal Server Error\"}"},
        {502, "{\"message\":\"Internal Server Error\"}"},
        {503, "{\"message\":\"Service Unavailable\"}"},
        {504, "{\"message\":\"Endpoint request timed out\"}"},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(rows); i++) {
        route_http_response_t r;
        memset(&r, 0, sizeof r);
        route_http_response_header(&r, "X-Old", "1", 1);
        route_http_error(rows[i].status, &r);
        assert_int_equal(r.status, rows[i].status);
        assert_string_equal(r.body, rows[i].body);
        assert_int_equal(r.nheaders, 1); /* replaced, not appended */
        route_http_response_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_inferred),
        cmocka_unit_test(test_v2_structured),
        cmocka_unit_test(test_v2_malformed),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_http_proxy_response),
        cmocka_unit_test(test_lambda_v1),
        cmocka_unit_test(test_lambda_v2),
        cmocka_unit_test(test_mock),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
