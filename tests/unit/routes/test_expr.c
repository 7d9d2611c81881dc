/* test_expr.c: selection expressions (spec 1.2): compile, evaluate, render, reject. */
#include "routes_test.h"

static const char *BODY =
    "{\"service\":\"chat\",\"action\":\"join\",\"data\":{\"room\":\"room1234\"}}";

/* Evaluates expr against body (NULL: no body) and returns the text (static buffer). */
static const char *ev(const char *expr, const char *body)
{
    static char res[1024];
    route_expr_t *e = NULL;
    buf_t err = BUF_INIT, out = BUF_INIT;
    json_t *j = body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
    int rc = route_expr_compile(expr, &e, &err);
    if (rc != PT_OK)
        fail_msg("compile %s: %s", expr, err.p);
    route_expr_eval(e, j, &out);
    snprintf(res, sizeof res, "%s", out.p ? out.p : "");
    route_expr_free(e);
    buf_free(&err);
    buf_free(&out);
    if (j)
        json_decref(j);
    return res;
}

/* The evaluation table of spec 1.2, exactly. */
static void test_spec_table(void **state)
{
    (void)state;
    assert_string_equal(ev("$request.body.action", BODY), "join");
    assert_string_equal(ev("${request.body.action}", BODY), "join");
    assert_string_equal(ev("${request.body.service}/${request.body.action}", BODY), "chat/join");
    assert_string_equal(ev("${request.body.action}-${request.body.invalidPath}", BODY), "join-");
    assert_string_equal(ev("action", BODY), "action");
    assert_string_equal(ev("\\$default", BODY), "$default");
}

static void test_wrapped_and_unwrapped(void **state)
{
    (void)state;
    assert_string_equal(ev("$request.body.data.room", BODY), "room1234");
    assert_string_equal(ev("${request.body.data.room}", BODY), "room1234");
    assert_string_equal(ev("${request.body.version}-beta", "{\"version\":\"v2\"}"), "v2-beta");
    assert_string_equal(ev("pre-${request.body.action}-post", BODY), "pre-join-post");
    /* Unwrapped variables end where variable characters end. */
    assert_string_equal(ev("$request.body.action/x", BODY), "join/x");
    assert_string_equal(ev("$request.body.action $request.body.service", BODY), "join chat");
    /* Bracket forms and array indices. */
    assert_string_equal(ev("$request.body['action']", BODY), "join");
    assert_string_equal(ev("${request.body[\"data\"]['room']}", BODY), "room1234");
    assert_string_equal(ev("$request.body.a[1]", "{\"a\":[\"x\",\"y\"]}"), "y");
    assert_string_equal(ev("$request.body.a[1].b", "{\"a\":[{},{\"b\":\"c\"}]}"), "c");
    /* A trailing '.' ends the sentence, not the path. */
    assert_string_equal(ev("$request.body.action.", BODY), "join.");
    assert_string_equal(ev("is $request.body.action...", BODY), "is join...");
    /* Single pass: evaluated text is never read again as an expression. */
    assert_string_equal(ev("$request.body.x", "{\"x\":\"${request.body.y}\",\"y\":\"no\"}"),
                        "${request.body.y}");
}

static void test_escapes(void **state)
{
    (void)state;
    assert_string_equal(ev("\\$default", NULL), "$default");
    assert_string_equal(ev("a\\$b", NULL), "a$b");
    assert_string_equal(ev("\\$connect", NULL), "$connect");
    /* A backslash not before '$' is literal. */
    assert_string_equal(ev("a\\b", NULL), "a\\b");
    assert_string_equal(ev("", NULL), "");
}

static void test_value_rendering(void **state)
{
    (void)state;
    const char *b =
        "{\"i\":42,\"neg\":-7,\"r\":0.1,\"r2\":2.5,\"big\":1e300,\"t\":true,\"f\":false,"
        "\"n\":null,\"arr\":[1,\"two\",true,null,[3,4]],\"empty\":[],"
        "\"obj\":{\"k\":\"v\",\"n\":1},\"s\":\"\"}";
    assert_string_equal(ev("$request.body.i", b), "42");
    assert_string_equal(ev("$request.body.neg", b), "-7");
    assert_string_equal(ev("$request.body.r", b), "0.1");
    assert_string_equal(ev("$request.body.r2", b), "2.5");
    assert_string_equal(ev("$request.body.big", b), "1e+300");
    assert_string_equal(ev("$request.body.t", b), "true");
    assert_string_equal(ev("$request.body.f", b), "false");
    assert_string_equal(ev("[${request.body.n}]", b), "[]");
    /* Arrays render as "[a, b]" (spec 1.2), nulls inside as nothing. */
    assert_string_equal(ev("$request.body.arr", b), "[1, two, true, , [3, 4]]");
    assert_string_equal(ev("$request.body.empty", b), "[]");
    /* Objects as compact JSON. */
    assert_string_equal(ev("$request.body.obj", b), "{\"k\":\"v\",\"n\":1}");
    assert_string_equal(ev("x${request.body.s}y", b), "xy");
    /* The whole body. */
    assert_string_equal(ev("$request.body", "{\"a\":1}"), "{\"a\":1}");
}

static void test_missing_paths(void **state)
{
    (void)state;
    assert_string_equal(ev("$request.body.nope", BODY), "");
    assert_string_equal(ev("$request.body.data.nope.deeper", BODY), "");
    assert_string_equal(ev("$request.body.action.sub", BODY), ""); /* through a string */
    assert_string_equal(ev("$request.body.a[5]", "{\"a\":[1]}"), "");
    assert_string_equal(ev("$request.body.a[0]", "{\"a\":{\"0\":1}}"), ""); /* index on object */
    assert_string_equal(ev("$request.body.a", "[1,2]"), "");
    /* No body (not JSON): body paths are "", literals stay. */
    assert_string_equal(ev("k-$request.body.action", NULL), "k-");
}

static void test_bad_expressions(void **state)
{
    (void)state;
    static const char *bad[] = {
        "$",                     /* '$' alone */
        "a $ b",                 /* '$' before a space */
        "${request.body.action", /* unclosed */
        "$request.nope",         /* unknown source */
        "$foo",                  /* unknown variable */
        "${request.body..a}",    /* empty step */
        "$request.body['a]",     /* unterminated quote */
        "$request.body[x]",      /* index must be digits */
        "$request.body[1",       /* unclosed index */
        "$request.header.",      /* name missing */
        "${}",
        "$context.",
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        route_expr_t *e = (route_expr_t *)1;
        buf_t err = BUF_INIT;
        int rc = route_expr_compile(bad[i], &e, &err);
        if (rc != PT_EPARSE)
            fail_msg("accepted: %s", bad[i]);
        assert_null(e);
        assert_non_null(err.p);
        buf_free(&err);
    }
    /* err may be NULL. */
    route_expr_t *e = NULL;
    assert_int_equal(route_expr_compile("$", &e, NULL), PT_EPARSE);
}

static void test_needs_body(void **state)
{
    (void)state;
    route_expr_t *e;
    assert_int_equal(route_expr_compile("$request.body.action", &e, NULL), PT_OK);
    assert_true(route_expr_needs_body(e));
    route_expr_free(e);
    assert_int_equal(route_expr_compile("\\$default", &e, NULL), PT_OK);
    assert_false(route_expr_needs_body(e));
    route_expr_free(e);
    assert_int_equal(route_expr_compile("${context.routeKey}", &e, NULL), PT_OK);
    assert_false(route_expr_needs_body(e));
    route_expr_free(e);
    route_expr_free(NULL);
}

/* Sources other than the body, through the env evaluator (template selection expressions). */
static void test_env_sources(void **state)
{
    (void)state;
    tapi_t t;
    route_ctx_t c;
    tapi_init(&t, NULL);
    tmap_add(&t.stage.variables, "env", "beta");
    route_route_t *r = tapi_route(&t, "sendmessage", NULL);
    tctx_init(&c, &t, r, ROUTE_EV_CONNECT);
    http_header_t h[] = {thdr("Content-Type", "application/json"), thdr("X-Ver", "2")};
    c.headers = h;
    c.nheaders = 2;
    c.query = "token=a%20b&x=1&x=2";
    c.query_len = strlen(c.query);
    http_header_t ih[] = {thdr("Content-Type", "text/plain")};
    json_t *ib = json_loads("{\"errorMessage\":\"boom\"}", 0, NULL);

    static const struct {
        const char *expr, *want;
    } cases[] = {
        {"${context.routeKey}", "sendmessage"},
        {"$context.connectionId", T_CONN_ID},
        {"${stageVariables.env}", "beta"},
        {"${stageVariables.missing}x", "x"},
        {"$request.header.content-type", "application/json"}, /* case-insensitive */
        {"${request.header.X-Ver}", "2"},
        {"${request.querystring.token}", "a b"},
        {"${request.querystring.x}", "2"}, /* the last value wins */
        {"${integration.response.statuscode}", "404"},
        {"${response.statuscode}", "404"},
        {"${integration.response.header.content-type}", "text/plain"},
        {"${integration.response.body.errorMessage}", "boom"},
        {"$request.method", ""}, /* HTTP API sources: nothing on WebSocket */
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(cases); i++) {
        route_expr_t *e;
        buf_t out = BUF_INIT;
        route_expr_env_t env = {0};
        env.ctx = &c;
        env.integ_status = 404;
        env.integ_headers = ih;
        env.integ_nheaders = 1;
        env.integ_body = ib;
        assert_int_equal(route_expr_compile(cases[i].expr, &e, NULL), PT_OK);
        route__expr_eval_env(e, &env, &out);
        if (strcmp(out.p ? out.p : "", cases[i].want) != 0)
            fail_msg("%s: got '%s', want '%s'", cases[i].expr, out.p, cases[i].want);
        route_expr_free(e);
        buf_free(&out);
    }
    json_decref(ib);
    tapi_free(&t);
}

static void test_path_helpers(void **state)
{
    (void)state;
    route_path_step_t *s;
    size_t n;
    assert_int_equal(route__path_compile("$", 1, &s, &n), PT_OK);
    assert_int_equal(n, 0);
    route__path_free(s, n);
    assert_int_equal(route__path_compile("$.a['b c'][2]", 13, &s, &n), PT_OK);
    assert_int_equal(n, 3);
    assert_string_equal(s[0].name, "a");
    assert_string_equal(s[1].name, "b c");
    assert_null(s[2].name);
    assert_int_equal(s[2].index, 2);
    json_t *j = json_loads("{\"a\":{\"b c\":[0,1,\"hit\"]}}", 0, NULL);
    const json_t *v = route__path_get(j, s, n);
    assert_string_equal(json_string_value(v), "hit");
    assert_null(route__path_get(NULL, s, n));
    route__path_free(s, n);
    json_decref(j);
    assert_int_equal(route__path_compile("$.", 2, &s, &n), PT_EPARSE);
    assert_int_equal(route__path_compile("a", 1, &s, &n), PT_EPARSE);
    assert_int_equal(route__path_compile("[1234567890]", 12, &s, &n), PT_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_table),    cmocka_unit_test(test_wrapped_and_unwrapped),
        cmocka_unit_test(test_escapes),       cmocka_unit_test(test_value_rendering),
        cmocka_unit_test(test_missing_paths), cmocka_unit_test(test_bad_expressions),
        cmocka_unit_test(test_needs_body),    cmocka_unit_test(test_env_sources),
        cmocka_unit_test(test_path_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
