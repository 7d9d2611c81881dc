/* test_http_match.c: HTTP API route keys and AWS's route precedence (http_match.c). */
#include "routes_test.h"

/* An HTTP API with the given route keys (NULL-terminated); every route gets an integration. */
static void build(tapi_t *t, const char *const *keys)
{
    tapi_init(t, NULL);
    t->api.protocol = ROUTE_PROTO_HTTP;
    route_integration_t *in = tapi_integ(t, ROUTE_INTEG_MOCK, NULL);
    for (size_t i = 0; keys[i]; i++) {
        route_route_t *r = tapi_route(t, keys[i], in);
        r->id = (char *)keys[i];
    }
    tapi_index(t);
    buf_t err = BUF_INIT;
    if (route__http_compile(&t->api, &err) != PT_OK)
        fail_msg("compile: %s", err.p);
    buf_free(&err);
}

static void done(tapi_t *t)
{
    route__http_free(&t->api);
    tapi_free(t);
}

static const char *pick(tapi_t *t, const char *method, const char *path, route_http_match_t *m)
{
    route_http_match(&t->api, method, strlen(method), path, strlen(path), m);
    return m->route ? m->route->key : NULL;
}

/* AWS's own example ("Routing API requests", http-api-develop-routes). */
static void test_aws_example(void **state)
{
    (void)state;
    static const char *const keys[] = {"GET /pets/dog/1",    "GET /pets/dog/{id}",
                                       "GET /pets/{proxy+}", "ANY /{proxy+}",
                                       "$default",           NULL};
    static const struct {
        const char *method, *path, *want;
    } rows[] = {
        {"GET", "/pets/dog/1", "GET /pets/dog/1"},
        {"GET", "/pets/dog/2", "GET /pets/dog/{id}"},
        {"GET", "/pets/cat/1", "GET /pets/{proxy+}"},
        {"POST", "/test/5", "ANY /{proxy+}"},
        {"POST", "/pets/dog/1", "ANY /{proxy+}"},
        {"GET", "/pets", "ANY /{proxy+}"}, /* {proxy+} needs at least one segment */
        {"GET", "/", "$default"},
        {"DELETE", "", "$default"},
    };
    tapi_t t;
    route_http_match_t m;
    build(&t, keys);
    for (size_t i = 0; i < PT_ARRAY_LEN(rows); i++) {
        const char *got = pick(&t, rows[i].method, rows[i].path, &m);
        if (!got || strcmp(got, rows[i].want) != 0)
            fail_msg("%s %s: got %s, want %s", rows[i].method, rows[i].path, got ? got : "(none)",
                     rows[i].want);
    }
    done(&t);
}

/* Literal over parameter over greedy, segment by segment from the left; method over ANY only
 * between paths of the same shape. */
static void test_precedence_table(void **state)
{
    (void)state;
    static const char *const keys[] = {"GET /a/b/c",      "GET /a/{x}/c",   "GET /{y}/b/c",
                                       "ANY /a/b/c",      "ANY /a/b/{z}",   "GET /a/{x+}",
                                       "POST /a/{p}/{q}", "GET /{all+}",    "ANY /{any+}",
                                       "PUT /",           "GET /a/{x}/{w}", NULL};
    static const struct {
        const char *method, *path, *want;
    } rows[] = {
        {"GET", "/a/b/c", "GET /a/b/c"},     /* exact beats everything */
        {"POST", "/a/b/c", "ANY /a/b/c"},    /* ANY with literals beats POST /a/{p}/{q} */
        {"GET", "/a/z/c", "GET /a/{x}/c"},   /* literal 3rd segment beats {w} */
        {"GET", "/a/z/d", "GET /a/{x}/{w}"}, /* a param beats greedy */
        {"GET", "/q/b/c", "GET /{y}/b/c"},   /* first segment param, rest literal */
        {"GET", "/a/b/d", "ANY /a/b/{z}"},   /* literal 2nd segment beats GET /a/{x}/{w} */
        {"GET", "/a/z/d/e", "GET /a/{x+}"},  /* greedy under a literal */
        {"GET", "/x/y/z/w", "GET /{all+}"},  /* method beats ANY at the same shape */
        {"DELETE", "/x/y", "ANY /{any+}"},
        {"POST", "/a/1/2", "POST /a/{p}/{q}"}, /* only POST route of that shape */
        {"PUT", "/", "PUT /"},
        {"GET", "/", NULL},              /* no $default: nothing */
        {"get", "/a/b/c", "ANY /a/b/c"}, /* methods are case-sensitive */
    };
    tapi_t t;
    route_http_match_t m;
    build(&t, keys);
    for (size_t i = 0; i < PT_ARRAY_LEN(rows); i++) {
        const char *got = pick(&t, rows[i].method, rows[i].path, &m);
        if ((got == NULL) != (rows[i].want == NULL) || (got && strcmp(got, rows[i].want) != 0))
            fail_msg("%s %s: got %s, want %s", rows[i].method, rows[i].path, got ? got : "(none)",
                     rows[i].want ? rows[i].want : "(none)");
    }
    done(&t);
}

static void test_parameters(void **state)
{
    (void)state;
    static const char *const keys[] = {"GET /users/{userId}/books/{bookId}", "GET /files/{path+}",
                                       NULL};
    tapi_t t;
    route_http_match_t m;
    build(&t, keys);
    assert_string_equal(pick(&t, "GET", "/users/u%201/books/42", &m),
                        "GET /users/{userId}/books/{bookId}");
    assert_int_equal(m.nparams, 2);
    assert_string_equal(m.params[0].name, "userId");
    assert_int_equal(m.params[0].raw_len, 5);
    assert_memory_equal(m.params[0].raw, "u%201", 5); /* raw: decoded for events only */
    assert_string_equal(m.params[1].name, "bookId");
    assert_memory_equal(m.params[1].raw, "42", 2);

    assert_string_equal(pick(&t, "GET", "/files/a/b/c.txt", &m), "GET /files/{path+}");
    assert_int_equal(m.nparams, 1);
    assert_string_equal(m.params[0].name, "path");
    assert_int_equal(m.params[0].raw_len, 9);
    assert_memory_equal(m.params[0].raw, "a/b/c.txt", 9);

    /* A trailing slash is part of the greedy value; an empty param segment matches nothing. */
    assert_string_equal(pick(&t, "GET", "/files/dir/", &m), "GET /files/{path+}");
    assert_memory_equal(m.params[0].raw, "dir/", 4);
    assert_null(pick(&t, "GET", "/users//books/1", &m));
    assert_null(pick(&t, "GET", "/files/", &m));
    assert_null(pick(&t, "GET", "/files", &m));
    done(&t);
}

static void test_literals_and_slashes(void **state)
{
    (void)state;
    static const char *const keys[] = {"GET /pets", "GET /a%20b/c", "GET /caf%C3%A9", "GET /",
                                       NULL};
    tapi_t t;
    route_http_match_t m;
    build(&t, keys);
    assert_string_equal(pick(&t, "GET", "/pets", &m), "GET /pets");
    assert_null(pick(&t, "GET", "/pets/", &m)); /* trailing slashes count */
    assert_null(pick(&t, "GET", "/Pets", &m));  /* paths are case-sensitive */
    assert_string_equal(pick(&t, "GET", "/a%20b/c", &m), "GET /a%20b/c");
    assert_string_equal(pick(&t, "GET", "/a%20b/c", &m), "GET /a%20b/c");
    assert_string_equal(pick(&t, "GET", "/caf\xc3\xa9", &m), "GET /caf%C3%A9"); /* decoded */
    assert_string_equal(pick(&t, "GET", "/caf%c3%a9", &m), "GET /caf%C3%A9");
    assert_null(pick(&t, "GET", "/caf%", &m));
    assert_string_equal(pick(&t, "GET", "/", &m), "GET /");
    assert_string_equal(pick(&t, "GET", "", &m), "GET /");
    assert_null(pick(&t, "GET", "//", &m));
    done(&t);
}

static void test_many_segments(void **state)
{
    (void)state;
    static const char *const keys[] = {"GET /{proxy+}", "GET /a/{x}", "$default", NULL};
    tapi_t t;
    route_http_match_t m;
    buf_t p = BUF_INIT;
    build(&t, keys);
    for (int i = 0; i < 200; i++)
        buf_puts(&p, "/s");
    assert_string_equal(pick(&t, "GET", p.p, &m), "GET /{proxy+}");
    assert_int_equal(m.params[0].raw_len, p.len - 1);
    assert_string_equal(pick(&t, "POST", p.p, &m), "$default");
    buf_free(&p);
    done(&t);
}

static void test_key_check(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        bool ok;
    } rows[] = {
        {"$default", true},
        {"GET /", true},
        {"ANY /{proxy+}", true},
        {"OPTIONS /a/{b}/c", true},
        {"PATCH /a.b/~c/d-e_f/g:h@i", true},
        {"GET /a%20b", true},
        {"HEAD /x", true},
        {"$connect", false},
        {"$disconnect", false},
        {"GET", false},
        {"GET pets", false},
        {"FETCH /x", false},
        {"get /x", false},
        {"GET  /x", false},
        {"GET /a//b", false},
        {"GET /a/", false},
        {"GET /{proxy+}/x", false},
        {"GET /{}", false},
        {"GET /{+}", false},
        {"GET /{a b}", false},
        {"GET /x{a}", false},
        {"GET /{a}x", false},
        {"GET /{a}/{a}", false},
        {"GET /{a}/{a+}", false},
        {"GET /a?b", false},
        {"GET /a#b", false},
        {"GET /a%2", false},
        {"GET /a b", false},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(rows); i++) {
        buf_t why = BUF_INIT;
        int rc = route_http_key_check(rows[i].key, &why);
        if ((rc == PT_OK) != rows[i].ok)
            fail_msg("%s: got %s (%s)", rows[i].key, rc == PT_OK ? "ok" : "refused",
                     why.p ? why.p : "");
        if (!rows[i].ok)
            assert_non_null(why.p);
        buf_free(&why);
    }
    assert_int_equal(route_http_key_check("GET /{a}", NULL), PT_OK);
    assert_int_equal(route_http_key_check("GET /{", NULL), PT_EINVAL);
}

static void test_overlaps_refused(void **state)
{
    (void)state;
    tapi_t t;
    buf_t err = BUF_INIT;
    tapi_init(&t, NULL);
    t.api.protocol = ROUTE_PROTO_HTTP;
    route_integration_t *in = tapi_integ(&t, ROUTE_INTEG_MOCK, NULL);
    tapi_route(&t, "GET /pets/{id}", in);
    tapi_route(&t, "GET /pets/{name}", in);
    tapi_index(&t);
    assert_int_equal(route__http_compile(&t.api, &err), PT_EINVAL);
    assert_non_null(strstr(err.p, "overlaps"));
    buf_free(&err);
    route__http_free(&t.api);
    tapi_free(&t);

    /* Same path, different methods, and ANY beside GET: fine. */
    static const char *const ok[] = {"GET /pets/{id}", "POST /pets/{id}", "ANY /pets/{id}",
                                     "GET /pets/{id+}", NULL};
    build(&t, ok);
    done(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_example),      cmocka_unit_test(test_precedence_table),
        cmocka_unit_test(test_parameters),       cmocka_unit_test(test_literals_and_slashes),
        cmocka_unit_test(test_many_segments),    cmocka_unit_test(test_key_check),
        cmocka_unit_test(test_overlaps_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
