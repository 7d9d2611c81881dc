/* test_http_cors.c: CORS of HTTP APIs: origins, preflights, headers on actual responses. */
#include "routes_test.h"

static const char *hget(const route_http_response_t *r, const char *name)
{
    return route_http_response_get(r, name);
}

static route_cors_t cors(char **origins, size_t no)
{
    route_cors_t c;
    memset(&c, 0, sizeof c);
    c.allow_origins = origins;
    c.nallow_origins = no;
    return c;
}

static void test_origins(void **state)
{
    (void)state;
    char *list[] = {(char *)"https://app.example.com", (char *)"http://*"};
    route_cors_t c = cors(list, 2);
    static const struct {
        const char *origin;
        bool ok;
    } rows[] = {
        {"https://app.example.com", true},
        {"HTTPS://APP.EXAMPLE.COM", true}, /* scheme and host are case-insensitive */
        {"https://app.example.com:443", false},
        {"https://evil.example.com", false},
        {"https://app.example.com.evil", false},
        {"http://anything:8080", true},
        {"http://", false},
        {"null", false},
        {"", false},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(rows); i++)
        if (route_cors_origin_allowed(&c, rows[i].origin, strlen(rows[i].origin)) != rows[i].ok)
            fail_msg("%s", rows[i].origin);
    assert_false(route_cors_origin_allowed(NULL, "http://a", 8));
    assert_false(route_cors_origin_allowed(&c, NULL, 0));
    char *star[] = {(char *)"*"};
    c = cors(star, 1);
    assert_true(route_cors_origin_allowed(&c, "https://x.y", 11));
}

static void test_preflight(void **state)
{
    (void)state;
    char *o[] = {(char *)"https://app.example.com"};
    char *m[] = {(char *)"GET", (char *)"POST"};
    char *h[] = {(char *)"content-type", (char *)"x-api-key"};
    route_cors_t c = cors(o, 1);
    c.allow_methods = m;
    c.nallow_methods = 2;
    c.allow_headers = h;
    c.nallow_headers = 2;
    c.max_age = 300;
    c.has_max_age = true;
    route_http_response_t r;
    memset(&r, 0, sizeof r);
    route_cors_preflight(&c, "https://app.example.com", 23, "POST", 4, "content-type", 12, &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(hget(&r, "access-control-allow-origin"), "https://app.example.com");
    assert_string_equal(hget(&r, "vary"), "Origin");
    assert_string_equal(hget(&r, "access-control-allow-methods"), "GET,POST");
    assert_string_equal(hget(&r, "access-control-allow-headers"), "content-type,x-api-key");
    assert_string_equal(hget(&r, "access-control-max-age"), "300");
    assert_null(hget(&r, "access-control-allow-credentials"));
    assert_null(hget(&r, "access-control-expose-headers"));
    assert_int_equal(r.body_len, 0);
    route_http_response_free(&r);

    /* Another origin: 204 with nothing, so the browser refuses. */
    route_cors_preflight(&c, "https://evil.example", 20, "POST", 4, NULL, 0, &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.nheaders, 0);
    route_http_response_free(&r);
}

static void test_preflight_wildcards(void **state)
{
    (void)state;
    char *o[] = {(char *)"*"};
    char *star[] = {(char *)"*"};
    route_cors_t c = cors(o, 1);
    c.allow_methods = star;
    c.nallow_methods = 1;
    c.allow_headers = star;
    c.nallow_headers = 1;
    route_http_response_t r;
    memset(&r, 0, sizeof r);
    route_cors_preflight(&c, "https://a.b", 11, "DELETE", 6, "x-a,x-b", 7, &r);
    assert_string_equal(hget(&r, "access-control-allow-origin"), "*");
    assert_null(hget(&r, "vary"));
    assert_string_equal(hget(&r, "access-control-allow-methods"), "*");
    assert_string_equal(hget(&r, "access-control-allow-headers"), "*");
    assert_null(hget(&r, "access-control-max-age"));
    route_http_response_free(&r);

    /* With credentials, "*" is taken literally by browsers: the request is echoed. */
    char *o2[] = {(char *)"https://*"};
    c.allow_origins = o2;
    c.allow_credentials = true;
    route_cors_preflight(&c, "https://a.b", 11, "DELETE", 6, "x-a,x-b", 7, &r);
    assert_string_equal(hget(&r, "access-control-allow-origin"), "https://a.b");
    assert_string_equal(hget(&r, "access-control-allow-credentials"), "true");
    assert_string_equal(hget(&r, "access-control-allow-methods"), "DELETE");
    assert_string_equal(hget(&r, "access-control-allow-headers"), "x-a,x-b");
    route_http_response_free(&r);
}

static void test_actual_responses(void **state)
{
    (void)state;
    char *o[] = {(char *)"https://app.example.com"};
    char *e[] = {(char *)"x-request-id", (char *)"date"};
    route_cors_t c = cors(o, 1);
    c.expose_headers = e;
    c.nexpose_headers = 2;
    c.allow_credentials = true;
    route_http_response_t r;
    memset(&r, 0, sizeof r);
    route_http_response_header(&r, "Content-Type", "text/plain", 10);
    route_http_response_header(&r, "Access-Control-Allow-Origin", "*", 1); /* the backend's */
    route_http_response_header(&r, "access-control-max-age", "9", 1);
    route_cors_apply(&c, "https://app.example.com", 23, &r);
    assert_string_equal(hget(&r, "content-type"), "text/plain");
    assert_string_equal(hget(&r, "access-control-allow-origin"), "https://app.example.com");
    assert_string_equal(hget(&r, "access-control-allow-credentials"), "true");
    assert_string_equal(hget(&r, "access-control-expose-headers"), "x-request-id,date");
    assert_null(hget(&r, "access-control-max-age"));
    size_t n = 0;
    for (size_t i = 0; i < r.nheaders; i++)
        n += strcasecmp(r.headers[i].key, "access-control-allow-origin") == 0;
    assert_int_equal(n, 1);
    route_http_response_free(&r);

    /* No Origin, or a foreign one: the backend's CORS headers still go, none are added. */
    route_http_response_header(&r, "Access-Control-Allow-Origin", "*", 1);
    route_cors_apply(&c, NULL, 0, &r);
    assert_int_equal(r.nheaders, 0);
    route_http_response_header(&r, "X-Other", "1", 1);
    route_cors_apply(&c, "https://evil.example", 20, &r);
    assert_int_equal(r.nheaders, 1);
    route_http_response_free(&r);

    /* Without corsConfiguration nothing changes. */
    route_http_response_header(&r, "Access-Control-Allow-Origin", "*", 1);
    route_cors_apply(NULL, "https://app.example.com", 23, &r);
    assert_string_equal(hget(&r, "access-control-allow-origin"), "*");
    route_http_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origins),
        cmocka_unit_test(test_preflight),
        cmocka_unit_test(test_preflight_wildcards),
        cmocka_unit_test(test_actual_responses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
