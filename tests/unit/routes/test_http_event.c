/* test_http_event.c: Lambda proxy events of HTTP APIs, payload formats 1.0 and 2.0 (spec 14). */
#include "routes_test.h"

typedef struct fixture {
    tapi_t t;
    route_http_match_t m;
    route_http_ctx_t c;
    http_header_t h[16];
} fixture_t;

static void fx_init(fixture_t *f, const char *key, const char *method, const char *path,
                    const char *rel)
{
    memset(f, 0, sizeof *f);
    tapi_init(&f->t, NULL);
    f->t.api.protocol = ROUTE_PROTO_HTTP;
    f->t.stage.name = (char *)"prod";
    route_integration_t *in = tapi_integ(&f->t, ROUTE_INTEG_AWS_PROXY, "http://127.0.0.1:1/fn");
    tapi_route(&f->t, key, in);
    tapi_index(&f->t);
    assert_int_equal(route__http_compile(&f->t.api, NULL), PT_OK);
    route_http_match(&f->t.api, method, strlen(method), rel, strlen(rel), &f->m);
    assert_non_null(f->m.route);
    route_http_ctx_t *c = &f->c;
    c->api = &f->t.api;
    c->stage = &f->t.stage;
    c->match = &f->m;
    c->request_id = T_REQ_ID;
    c->domain_name = T_DOMAIN;
    c->account_id = "123456789012";
    c->region = "us-east-1";
    c->request_time_ms = T_REQUEST_TIME;
    c->source_ip = T_SOURCE_IP;
    c->server_port = 443;
    c->tls = true;
    c->trace_id = T_TRACE;
    c->method = method;
    c->method_len = strlen(method);
    c->path = path;
    c->path_len = strlen(path);
    c->rel_path = rel;
    c->rel_path_len = strlen(rel);
    c->raw_path = path;
    c->raw_path_len = strlen(path);
    c->minor_version = 1;
    c->headers = f->h;
}

static void fx_header(fixture_t *f, const char *name, const char *value)
{
    f->h[f->c.nheaders++] = thdr(name, value);
}

static void fx_free(fixture_t *f)
{
    route__http_free(&f->t.api);
    tapi_free(&f->t);
}

static json_t *event(fixture_t *f, bool v2)
{
    buf_t b = BUF_INIT;
    route_http_event(&f->c, v2, &b);
    json_t *j = tjson(b.p, b.len);
    buf_free(&b);
    return j;
}

static const char *sget(const json_t *o, const char *path)
{
    /* "a.b.c" */
    char k[64];
    const json_t *v = o;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        memcpy(k, path, n);
        k[n] = '\0';
        v = json_object_get(v, k);
        path += n + (path[n] == '.');
    }
    if (!v)
        fail_msg("missing %s", path);
    if (json_is_null(v))
        return NULL;
    if (!json_is_string(v))
        fail_msg("not a string");
    return json_string_value(v);
}

static void keys_are(const json_t *o, const char *want)
{
    buf_t k = BUF_INIT;
    tkeys(o, &k);
    assert_string_equal(k.p, want);
    buf_free(&k);
}

static void test_v2_full(void **state)
{
    (void)state;
    fixture_t f;
    fx_init(&f, "POST /items/{id}", "POST", "/prod/items/a%20b", "/items/a%20b");
    f.c.query = "x=1&x=2&y=%C3%A9&z";
    f.c.query_len = strlen(f.c.query);
    fx_header(&f, "Host", "abcd123456.execute-api.us-east-1.amazonaws.com");
    fx_header(&f, "User-Agent", "curl/8.0");
    fx_header(&f, "Content-Type", "application/json; charset=utf-8");
    fx_header(&f, "Content-Length", "9");
    fx_header(&f, "Cookie", "a=1; b=2");
    fx_header(&f, "cookie", "c=3");
    fx_header(&f, "X-Multi", "one");
    fx_header(&f, "x-multi", "two");
    fx_header(&f, "Connection", "keep-alive, X-Hop");
    fx_header(&f, "X-Hop", "dropped");
    fx_header(&f, "X-Forwarded-For", "203.0.113.9");
    f.c.body = "{\"a\": 1}\n";
    f.c.body_len = 9;
    tmap_add(&f.t.stage.variables, "env", "test");

    json_t *e = event(&f, true);
    keys_are(e, "version,routeKey,rawPath,rawQueryString,cookies,headers,queryStringParameters,"
                "requestContext,body,pathParameters,isBase64Encoded,stageVariables");
    assert_string_equal(sget(e, "version"), "2.0");
    assert_string_equal(sget(e, "routeKey"), "POST /items/{id}");
    assert_string_equal(sget(e, "rawPath"), "/prod/items/a%20b");
    assert_string_equal(sget(e, "rawQueryString"), "x=1&x=2&y=%C3%A9&z");
    json_t *ck = json_object_get(e, "cookies");
    assert_int_equal(json_array_size(ck), 3);
    assert_string_equal(json_string_value(json_array_get(ck, 0)), "a=1");
    assert_string_equal(json_string_value(json_array_get(ck, 1)), "b=2");
    assert_string_equal(json_string_value(json_array_get(ck, 2)), "c=3");
    json_t *h = json_object_get(e, "headers");
    keys_are(h, "content-length,content-type,host,user-agent,x-amzn-trace-id,x-forwarded-for,"
                "x-forwarded-port,x-forwarded-proto,x-multi");
    assert_string_equal(sget(h, "x-multi"), "one,two");
    assert_string_equal(sget(h, "x-forwarded-for"), "203.0.113.9, " T_SOURCE_IP);
    assert_string_equal(sget(h, "x-forwarded-port"), "443");
    assert_string_equal(sget(h, "x-forwarded-proto"), "https");
    assert_string_equal(sget(h, "x-amzn-trace-id"), T_TRACE);
    assert_string_equal(sget(h, "content-length"), "9");
    json_t *q = json_object_get(e, "queryStringParameters");
    keys_are(q, "x,y,z");
    assert_string_equal(sget(q, "x"), "1,2");
    assert_string_equal(sget(q, "y"), "\xc3\xa9");
    assert_string_equal(sget(q, "z"), "");
    json_t *rc = json_object_get(e, "requestContext");
    keys_are(rc, "accountId,apiId,domainName,domainPrefix,http,requestId,routeKey,stage,time,"
                 "timeEpoch");
    assert_string_equal(sget(rc, "accountId"), "123456789012");
    assert_string_equal(sget(rc, "apiId"), "abcd123456");
    assert_string_equal(sget(rc, "domainName"), T_DOMAIN);
    assert_string_equal(sget(rc, "domainPrefix"), "abcd123456");
    keys_are(json_object_get(rc, "http"), "method,path,protocol,sourceIp,userAgent");
    assert_string_equal(sget(rc, "http.method"), "POST");
    assert_string_equal(sget(rc, "http.path"), "/prod/items/a%20b");
    assert_string_equal(sget(rc, "http.protocol"), "HTTP/1.1");
    assert_string_equal(sget(rc, "http.sourceIp"), T_SOURCE_IP);
    assert_string_equal(sget(rc, "http.userAgent"), "curl/8.0");
    assert_string_equal(sget(rc, "requestId"), T_REQ_ID);
    assert_string_equal(sget(rc, "routeKey"), "POST /items/{id}");
    assert_string_equal(sget(rc, "stage"), "prod");
    assert_string_equal(sget(rc, "time"), "20/Jan/2024:11:55:00 +0000");
    assert_int_equal(json_integer_value(json_object_get(rc, "timeEpoch")), T_REQUEST_TIME);
    assert_string_equal(sget(e, "body"), "{\"a\": 1}\n");
    assert_true(json_is_false(json_object_get(e, "isBase64Encoded")));
    assert_string_equal(sget(e, "pathParameters.id"), "a b"); /* decoded */
    assert_string_equal(sget(e, "stageVariables.env"), "test");
    json_decref(e);
    fx_free(&f);
}

/* A GET with nothing: the optional keys are left out, as in AWS's captures. */
static void test_v2_minimal(void **state)
{
    (void)state;
    fixture_t f;
    fx_init(&f, "$default", "GET", "/", "/");
    json_t *e = event(&f, true);
    keys_are(e, "version,routeKey,rawPath,rawQueryString,headers,requestContext,isBase64Encoded");
    assert_string_equal(sget(e, "routeKey"), "$default");
    assert_string_equal(sget(e, "rawQueryString"), "");
    assert_string_equal(sget(e, "headers.content-length"), "0");
    assert_string_equal(sget(e, "requestContext.http.userAgent"), "");
    json_decref(e);

    /* HTTP/1.0 and an empty query string. */
    f.c.minor_version = 0;
    f.c.query = "";
    f.c.query_len = 0;
    e = event(&f, true);
    assert_string_equal(sget(e, "requestContext.http.protocol"), "HTTP/1.0");
    assert_null(json_object_get(e, "queryStringParameters"));
    json_decref(e);
    fx_free(&f);
}

/* Binary bodies travel base64 (everything but text/(any), application/json, xml, javascript). */
static void test_body_encoding(void **state)
{
    (void)state;
    static const struct {
        const char *ctype; /* NULL: no Content-Type */
        bool b64;
    } rows[] = {
        {"text/plain", false},
        {"text/html; charset=utf-8", false},
        {"TEXT/CSV", false},
        {"application/json", false},
        {"Application/JSON;charset=UTF-8", false},
        {"application/xml", false},
        {"application/javascript", false},
        {"application/x-www-form-urlencoded", true},
        {"application/octet-stream", true},
        {"image/png", true},
        {"application/vnd.api+json", true},
        {"multipart/form-data; boundary=x", true},
        {NULL, true},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(rows); i++) {
        for (int v2 = 0; v2 <= 1; v2++) {
            fixture_t f;
            fx_init(&f, "POST /b", "POST", "/prod/b", "/b");
            if (rows[i].ctype)
                fx_header(&f, "Content-Type", rows[i].ctype);
            f.c.body = "hi\x00\xff";
            f.c.body_len = 4;
            json_t *e = event(&f, v2);
            bool b64 = json_is_true(json_object_get(e, "isBase64Encoded"));
            if (b64 != rows[i].b64)
                fail_msg("%s (v%d): base64 %d", rows[i].ctype ? rows[i].ctype : "none", v2 ? 2 : 1,
                         b64);
            if (b64)
                assert_string_equal(sget(e, "body"), "aGkA/w==");
            else /* text: the invalid byte becomes U+FFFD */
                assert_memory_equal(json_string_value(json_object_get(e, "body")),
                                    "hi\x00\xef\xbf\xbd", 6);
            json_decref(e);
            fx_free(&f);
        }
    }
}

/* Under an API mapping, rawPath leaves the mapping key out (1.0 path keeps it). */
static void test_mapping_paths(void **state)
{
    (void)state;
    fixture_t f;
    fx_init(&f, "GET /{proxy+}", "GET", "/api/v1/x", "/v1/x");
    f.c.raw_path = f.c.rel_path;
    f.c.raw_path_len = f.c.rel_path_len;
    json_t *e = event(&f, true);
    assert_string_equal(sget(e, "rawPath"), "/v1/x");
    assert_string_equal(sget(e, "requestContext.http.path"), "/v1/x");
    assert_string_equal(sget(e, "pathParameters.proxy"), "v1/x");
    json_decref(e);
    e = event(&f, false);
    assert_string_equal(sget(e, "path"), "/api/v1/x");
    assert_string_equal(sget(e, "requestContext.path"), "/api/v1/x");
    assert_string_equal(sget(e, "pathParameters.proxy"), "v1/x");
    json_decref(e);
    fx_free(&f);
}

static void test_v1_full(void **state)
{
    (void)state;
    fixture_t f;
    fx_init(&f, "GET /users/{id}", "GET", "/prod/users/42", "/users/42");
    f.c.query = "a=1&a=2&b=x+y";
    f.c.query_len = strlen(f.c.query);
    fx_header(&f, "Host", "h.example");
    fx_header(&f, "User-Agent", "ua/1");
    fx_header(&f, "Accept", "a/b");
    fx_header(&f, "accept", "c/d");
    fx_header(&f, "Cookie", "k=v");
    fx_header(&f, "Keep-Alive", "timeout=5");
    fx_header(&f, "Content-Type", "text/plain");
    f.c.body = "hello";
    f.c.body_len = 5;

    json_t *e = event(&f, false);
    keys_are(e, "version,resource,path,httpMethod,headers,multiValueHeaders,"
                "queryStringParameters,multiValueQueryStringParameters,requestContext,"
                "pathParameters,stageVariables,body,isBase64Encoded");
    assert_string_equal(sget(e, "version"), "1.0");
    assert_string_equal(sget(e, "resource"), "/users/{id}");
    assert_string_equal(sget(e, "path"), "/prod/users/42");
    assert_string_equal(sget(e, "httpMethod"), "GET");
    json_t *h = json_object_get(e, "headers");
    keys_are(h, "Accept,Content-Length,Content-Type,Cookie,Host,User-Agent,X-Amzn-Trace-Id,"
                "X-Forwarded-For,X-Forwarded-Port,X-Forwarded-Proto");
    assert_string_equal(sget(h, "Accept"), "c/d"); /* the last value */
    assert_string_equal(sget(h, "Content-Length"), "5");
    assert_string_equal(sget(h, "Cookie"), "k=v"); /* 1.0 keeps Cookie in headers */
    json_t *mh = json_object_get(e, "multiValueHeaders");
    assert_int_equal(json_array_size(json_object_get(mh, "Accept")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(mh, "Accept"), 1)), "c/d");
    assert_string_equal(sget(e, "queryStringParameters.a"), "2");
    assert_string_equal(sget(e, "queryStringParameters.b"), "x y");
    json_t *mq = json_object_get(e, "multiValueQueryStringParameters");
    assert_int_equal(json_array_size(json_object_get(mq, "a")), 2);
    json_t *rc = json_object_get(e, "requestContext");
    keys_are(rc, "accountId,apiId,domainName,domainPrefix,extendedRequestId,httpMethod,identity,"
                 "path,protocol,requestId,requestTime,requestTimeEpoch,resourceId,resourcePath,"
                 "stage");
    assert_string_equal(sget(rc, "domainPrefix"), "abcd123456");
    assert_string_equal(sget(rc, "extendedRequestId"), T_REQ_ID);
    assert_string_equal(sget(rc, "requestId"), T_REQ_ID);
    assert_string_equal(sget(rc, "httpMethod"), "GET");
    json_t *id = json_object_get(rc, "identity");
    keys_are(id, "accessKey,accountId,caller,cognitoAmr,cognitoAuthenticationProvider,"
                 "cognitoAuthenticationType,cognitoIdentityId,cognitoIdentityPoolId,"
                 "principalOrgId,sourceIp,user,userAgent,userArn");
    assert_null(sget(id, "accessKey"));
    assert_null(sget(id, "userArn"));
    assert_string_equal(sget(id, "sourceIp"), T_SOURCE_IP);
    assert_string_equal(sget(id, "userAgent"), "ua/1");
    assert_string_equal(sget(rc, "path"), "/prod/users/42");
    assert_string_equal(sget(rc, "protocol"), "HTTP/1.1");
    assert_string_equal(sget(rc, "requestTime"), "20/Jan/2024:11:55:00 +0000");
    assert_int_equal(json_integer_value(json_object_get(rc, "requestTimeEpoch")), T_REQUEST_TIME);
    assert_string_equal(sget(rc, "resourceId"), "GET /users/{id}");
    assert_string_equal(sget(rc, "resourcePath"), "/users/{id}");
    assert_string_equal(sget(rc, "stage"), "prod");
    assert_string_equal(sget(e, "pathParameters.id"), "42");
    assert_null(sget(e, "stageVariables"));
    assert_string_equal(sget(e, "body"), "hello");
    assert_true(json_is_false(json_object_get(e, "isBase64Encoded")));
    json_decref(e);
    fx_free(&f);
}

/* Nulls where 1.0 has nothing. */
static void test_v1_minimal(void **state)
{
    (void)state;
    fixture_t f;
    fx_init(&f, "$default", "DELETE", "/anything", "/anything");
    json_t *e = event(&f, false);
    assert_string_equal(sget(e, "resource"), "$default");
    assert_string_equal(sget(e, "requestContext.resourceId"), "$default");
    assert_null(sget(e, "queryStringParameters"));
    assert_null(sget(e, "multiValueQueryStringParameters"));
    assert_null(sget(e, "pathParameters"));
    assert_null(sget(e, "stageVariables"));
    assert_null(sget(e, "body"));
    assert_null(sget(e, "requestContext.identity.userAgent"));
    assert_string_equal(sget(e, "headers.Content-Length"), "0");
    json_decref(e);
    fx_free(&f);
}

/* Whatever bytes arrive, the event is valid JSON. */
static void test_hostile_bytes(void **state)
{
    (void)state;
    fixture_t f;
    fx_init(&f, "GET /{p}", "GET", "/prod/%00%ff\"", "/%00%ff\"");
    f.c.query = "\"=\\&%zz=%00";
    f.c.query_len = strlen(f.c.query);
    fx_header(&f, "X-\xff", "\x01\"\\\xc0");
    fx_header(&f, "Cookie", ";;; ;");
    for (int v2 = 0; v2 <= 1; v2++) {
        json_t *e = event(&f, v2);
        json_decref(e);
    }
    fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v2_full),       cmocka_unit_test(test_v2_minimal),
        cmocka_unit_test(test_body_encoding), cmocka_unit_test(test_mapping_paths),
        cmocka_unit_test(test_v1_full),       cmocka_unit_test(test_v1_minimal),
        cmocka_unit_test(test_hostile_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
