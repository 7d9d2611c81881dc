/* test_http_config.c: HTTP APIs in the configuration loader (routes/config.c, docs/rest.md). */
#include "routes_test.h"

static route_config_t *cfg;
static buf_t err;

static int teardown(void **state)
{
    (void)state;
    route_config_free(cfg);
    cfg = NULL;
    buf_free(&err);
    return 0;
}

/* An HTTP API whose "integrations", "routes" and extra API keys are given. */
static int parse_api(const char *integrations, const char *routes, const char *extra)
{
    buf_t t = BUF_INIT;
    route_config_free(cfg);
    cfg = NULL;
    buf_reset(&err);
    buf_printf(
        &t,
        "{\"apis\": [{\"name\": \"h\", \"apiId\": \"httpapi001\", \"protocolType\": \"HTTP\",\n"
        "\"integrations\": [%s],\n\"routes\": [%s],\n\"stages\": [{\"stageName\": "
        "\"$default\"}]%s}]}\n",
        integrations, routes, extra ? extra : "");
    int rc = route_config_parse(t.p, t.len, "h.json", &cfg, &err);
    buf_free(&t);
    return rc;
}

static void expect_error(const char *integrations, const char *routes, const char *extra,
                         const char *want)
{
    if (parse_api(integrations, routes, extra) == PT_OK)
        fail_msg("accepted; wanted: %s", want);
    if (!err.p || !strstr(err.p, want))
        fail_msg("wanted \"%s\" in:\n%s", want, err.p ? err.p : "");
}

#define PROXY                                                                                      \
    "{\"integrationId\": \"p\", \"integrationType\": \"HTTP_PROXY\", \"integrationUri\": "         \
    "\"http://b/{proxy}\"}"
#define LAMBDA2                                                                                    \
    "{\"integrationId\": \"l\", \"integrationType\": \"AWS_PROXY\", \"integrationUri\": "          \
    "\"http://127.0.0.1:1/\", \"payloadFormatVersion\": \"2.0\"}"
#define MOCK "{\"integrationId\": \"m\", \"integrationType\": \"MOCK\"}"

static void test_loads(void **state)
{
    (void)state;
    int rc = parse_api(PROXY "," LAMBDA2 "," MOCK,
                       "{\"routeKey\": \"ANY /{proxy+}\", \"target\": \"integrations/p\"},"
                       "{\"routeKey\": \"GET /items/{id}\", \"target\": \"integrations/l\"},"
                       "{\"routeKey\": \"$default\", \"target\": \"integrations/m\"}",
                       ", \"routeSelectionExpression\": \"${request.method} ${request.path}\","
                       "\"corsConfiguration\": {\"allowOrigins\": [\"https://app.example.com\", "
                       "\"http://*\"], \"allowMethods\": [\"GET\", \"*\"], \"allowHeaders\": "
                       "[\"content-type\"], \"exposeHeaders\": [\"x-id\"], \"maxAge\": -1, "
                       "\"allowCredentials\": true}");
    if (rc != PT_OK)
        fail_msg("%s", err.p);
    route_api_t *api = &cfg->apis[0];
    assert_int_equal(api->protocol, ROUTE_PROTO_HTTP);
    assert_int_equal(api->integrations[0].timeout_ms, 30000); /* HTTP APIs' default */
    assert_string_equal(api->integrations[0].method, "ANY");
    assert_string_equal(api->integrations[1].payload_format_version, "2.0");
    assert_non_null(api->cors);
    assert_int_equal(api->cors->nallow_origins, 2);
    assert_string_equal(api->cors->allow_origins[1], "http://*");
    assert_int_equal(api->cors->nallow_methods, 2);
    assert_int_equal(api->cors->nallow_headers, 1);
    assert_int_equal(api->cors->nexpose_headers, 1);
    assert_true(api->cors->has_max_age);
    assert_int_equal(api->cors->max_age, -1);
    assert_true(api->cors->allow_credentials);
    route_http_match_t m;
    route_http_match(api, "GET", 3, "/items/9", 8, &m);
    assert_string_equal(m.route->key, "GET /items/{id}");
    route_http_match(api, "PUT", 3, "/x", 2, &m);
    assert_string_equal(m.route->key, "ANY /{proxy+}");
    route_http_match(api, "PUT", 3, "/", 1, &m);
    assert_string_equal(m.route->key, "$default");

    /* 30000 is the HTTP API maximum. */
    rc = parse_api("{\"integrationType\": \"HTTP_PROXY\", \"integrationUri\": \"http://b\", "
                   "\"timeoutInMillis\": 30000, \"integrationMethod\": \"GET\"}",
                   "", NULL);
    if (rc != PT_OK)
        fail_msg("%s", err.p);
    assert_int_equal(cfg->apis[0].integrations[0].timeout_ms, 30000);
    assert_string_equal(cfg->apis[0].integrations[0].method, "GET");
    assert_int_equal(cfg->apis[0].nroutes, 0); /* no routes: everything is 404 */
}

static void test_refused(void **state)
{
    (void)state;
    expect_error(PROXY, "{\"routeKey\": \"GET /a\", \"target\": \"integrations/p\"}",
                 ", \"routeSelectionExpression\": \"$request.body.action\"",
                 "h.json:4: apis[0].routeSelectionExpression: HTTP APIs select routes by "
                 "\"${request.method} ${request.path}\"");
    expect_error(PROXY, "{\"routeKey\": \"$connect\"}", NULL,
                 "h.json:3: apis[0].routes[0].routeKey: \"$connect\": HTTP APIs have only one "
                 "special route key, \"$default\"");
    expect_error(PROXY, "{\"routeKey\": \"GET /a/{b+}/c\"}", NULL,
                 "h.json:3: apis[0].routes[0].routeKey: \"GET /a/{b+}/c\": a greedy path "
                 "variable {name+} must be the last segment");
    expect_error(PROXY, "{\"routeKey\": \"FETCH /a\"}", NULL, "method \"FETCH\" is not one of");
    expect_error(PROXY, "{\"routeKey\": \"GET /p/{a}\"}, {\"routeKey\": \"GET /p/{b}\"}", NULL,
                 "h.json:3: apis[0].routes: routeKey \"GET /p/{b}\" overlaps \"GET /p/{a}\"");
    expect_error(PROXY, "{\"routeKey\": \"GET /a\"}, {\"routeKey\": \"GET /a\"}", NULL,
                 "duplicate routeKey \"GET /a\"");
    expect_error("{\"integrationType\": \"HTTP_PROXY\", \"integrationUri\": \"http://b\", "
                 "\"timeoutInMillis\": 30001}",
                 "", NULL,
                 "h.json:2: apis[0].integrations[0].timeoutInMillis: 30001 is out of range [50, "
                 "30000]");
    expect_error("{\"integrationType\": \"AWS_PROXY\", \"integrationUri\": \"http://b\"}", "", NULL,
                 "h.json:2: apis[0].integrations[0]: missing required key "
                 "\"payloadFormatVersion\"");
    expect_error("{\"integrationType\": \"HTTP\", \"integrationUri\": \"http://b\"}", "", NULL,
                 "h.json:2: apis[0].integrations[0].integrationType: HTTP APIs use HTTP_PROXY, "
                 "AWS_PROXY or MOCK integrations");
    expect_error("{\"integrationType\": \"HTTP_PROXY\", \"integrationUri\": \"http://b\", "
                 "\"requestParameters\": {\"append:header.x\": \"y\"}}",
                 "", NULL, "requestParameters are not supported yet for HTTP APIs");
    expect_error(PROXY,
                 "{\"routeKey\": \"GET /a\", \"target\": \"integrations/p\", "
                 "\"routeResponseSelectionExpression\": \"$default\"}",
                 NULL, "route responses are for WebSocket APIs");
    expect_error("", "",
                 ", \"corsConfiguration\": {\"allowOrigins\": [\"*\"], "
                 "\"allowCredentials\": true}",
                 "allowCredentials true cannot be combined with the origin \"*\"");
    expect_error("", "", ", \"corsConfiguration\": {\"allowOrigins\": [\"https://a.b/path\"]}",
                 "\"https://a.b/path\" is not an origin");
    expect_error("", "", ", \"corsConfiguration\": {\"allowOrigins\": \"*\"}",
                 "corsConfiguration.allowOrigins: expected an array, got a string");
    expect_error("", "", ", \"corsConfiguration\": {\"maxAge\": 86401}",
                 "corsConfiguration.maxAge: 86401 is out of range [-1, 86400]");
    expect_error("", "", ", \"corsConfiguration\": {\"allowHeaders\": [\"a b\"]}",
                 "\"a b\" is not a header name");
    expect_error("", "", ", \"corsConfiguration\": {\"AllowOrigins\": []}",
                 "unknown key (did you mean \"allowOrigins\"?)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_loads, teardown),
        cmocka_unit_test_teardown(test_refused, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
