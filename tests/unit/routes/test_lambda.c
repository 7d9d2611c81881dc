/* test_lambda.c: Lambda function references, Invoke URLs and endpoints (routes/lambda.c, issue 5).
 */
#include "routes_test.h"

/* ---- route_lambda_parse --------------------------------------------------------------------- */

typedef struct parse_case {
    const char *in;
    int rc;
    const char *name, *qualifier, *region, *account, *function;
    const char *why; /* a fragment of the message, for failures */
} parse_case_t;

#define FN_ARN "arn:aws:lambda:eu-west-1:123456789012:function:chat-dev-echo"
#define APIGW(arn)                                                                                 \
    "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/" arn "/invocations"

static const parse_case_t PARSE[] = {
    /* API Gateway invoke ARN: the function's region is in the inner ARN. */
    {APIGW(FN_ARN), PT_OK, "chat-dev-echo", NULL, "eu-west-1", "123456789012", FN_ARN, NULL},
    {APIGW(FN_ARN ":live"), PT_OK, "chat-dev-echo", "live", "eu-west-1", "123456789012",
     FN_ARN ":live", NULL},
    /* Function ARNs, with versions and aliases; other partitions. */
    {FN_ARN, PT_OK, "chat-dev-echo", NULL, "eu-west-1", "123456789012", FN_ARN, NULL},
    {FN_ARN ":$LATEST", PT_OK, "chat-dev-echo", "$LATEST", "eu-west-1", "123456789012",
     FN_ARN ":$LATEST", NULL},
    {FN_ARN ":7", PT_OK, "chat-dev-echo", "7", "eu-west-1", "123456789012", FN_ARN ":7", NULL},
    {"arn:aws-cn:lambda:cn-north-1:123456789012:function:f", PT_OK, "f", NULL, "cn-north-1",
     "123456789012", "arn:aws-cn:lambda:cn-north-1:123456789012:function:f", NULL},
    {"arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f_1", PT_OK, "f_1", NULL,
     "us-gov-west-1", "123456789012", NULL, NULL},
    /* Names. */
    {"chat-dev-echo", PT_OK, "chat-dev-echo", NULL, NULL, NULL, "chat-dev-echo", NULL},
    {"chat-dev-echo:prod", PT_OK, "chat-dev-echo", "prod", NULL, NULL, "chat-dev-echo:prod", NULL},
    {"a234567890123456789012345678901234567890123456789012345678901234", PT_OK, NULL, NULL, NULL,
     NULL, NULL, NULL},
    /* Refused. */
    {"", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "empty"},
    {"a2345678901234567890123456789012345678901234567890123456789012345", PT_EINVAL, NULL, NULL,
     NULL, NULL, NULL, "1 to 64"},
    {"chat fn", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "function name \"chat fn\""},
    {"chat/../x", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "function name"},
    {"chat:", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "qualifier \"\""},
    {"chat:a/b", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "qualifier \"a/b\""},
    {"chat:a:b", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "at most one"},
    {":live", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "function name \"\""},
    {"123456789012:function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "at most one"},
    {"arn:aws:lambda:us-east-1:123456789012:function:", PT_EINVAL, NULL, NULL, NULL, NULL, NULL,
     "function name \"\""},
    {"arn:aws:lambda:us-east-1:123456789012:layer:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL,
     "not a Lambda function ARN"},
    {"arn:aws:s3:us-east-1:123456789012:function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL,
     "not a Lambda function ARN"},
    {"arn:gcp:lambda:us-east-1:123456789012:function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL,
     "not a Lambda function ARN"},
    {"arn:awsX:lambda:us-east-1:123456789012:function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL,
     "partition"},
    {"arn:aws:lambda:US-EAST-1:123456789012:function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL,
     "region \"US-EAST-1\""},
    {"arn:aws:lambda::123456789012:function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "region"},
    {"arn:aws:lambda:us-east-1::function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "account"},
    {"arn:aws:lambda:us-east-1:1/2:function:f", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "account"},
    {"arn:aws:lambda:us-east-1:123456789012:function:f:a:b", PT_EINVAL, NULL, NULL, NULL, NULL,
     NULL, "not a Lambda function ARN"},
    {"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/chat/invocations", PT_EINVAL,
     NULL, NULL, NULL, NULL, NULL, "not a Lambda function ARN"},
    {"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions//invocations", PT_EINVAL, NULL,
     NULL, NULL, NULL, NULL, "names no function"},
    {"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/" FN_ARN, PT_EINVAL, NULL, NULL,
     NULL, NULL, NULL, "not an API Gateway invoke ARN"},
    {"arn:aws:apigateway:us-east-1:dynamodb:action/PutItem", PT_EINVAL, NULL, NULL, NULL, NULL,
     NULL, "not an API Gateway invoke ARN"},
    {"arn:", PT_EINVAL, NULL, NULL, NULL, NULL, NULL, "not a Lambda function ARN"},
};

static void expect_str(const char *want, const char *got, size_t i, const char *what)
{
    if (!want)
        return;
    if (!got || strcmp(want, got) != 0) {
        print_error("case %zu (%s): %s: wanted \"%s\", got \"%s\"\n", i, PARSE[i].in, what, want,
                    got ? got : "(null)");
        fail();
    }
}

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < PT_ARRAY_LEN(PARSE); i++) {
        const parse_case_t *c = &PARSE[i];
        route_lambda_ref_t r;
        buf_t err = BUF_INIT;
        int rc = route_lambda_parse(c->in, &r, &err);
        if (rc != c->rc) {
            print_error("case %zu (%s): rc %d, wanted %d: %s\n", i, c->in, rc, c->rc,
                        err.p ? err.p : "");
            fail();
        }
        if (rc == PT_OK) {
            assert_null(err.p);
            expect_str(c->name, r.name, i, "name");
            expect_str(c->function, r.function, i, "function");
            expect_str(c->region, r.region, i, "region");
            expect_str(c->account, r.account, i, "account");
            if (c->name && !c->qualifier)
                assert_null(r.qualifier);
            expect_str(c->qualifier, r.qualifier, i, "qualifier");
            if (!c->region)
                assert_null(r.region);
        } else {
            assert_null(r.name);
            assert_null(r.function);
            if (!err.p || !strstr(err.p, c->why)) {
                print_error("case %zu (%s): message \"%s\" lacks \"%s\"\n", i, c->in,
                            err.p ? err.p : "", c->why);
                fail();
            }
        }
        route_lambda_ref_free(&r);
        route_lambda_ref_free(&r); /* idempotent */
        buf_free(&err);
    }
    /* err may be NULL; NULL input is refused. */
    route_lambda_ref_t r;
    assert_int_equal(route_lambda_parse("a b", &r, NULL), PT_EINVAL);
    assert_int_equal(route_lambda_parse(NULL, &r, NULL), PT_EINVAL);
    assert_true(route_lambda_is_ref("chat"));
    assert_true(route_lambda_is_ref("arn:aws:lambda:x"));
    assert_false(route_lambda_is_ref("HTTP://h/x"));
    assert_false(route_lambda_is_ref("https://h/x"));
    assert_false(route_lambda_is_ref(NULL));
}

/* ---- route_lambda_endpoint_norm -------------------------------------------------------------- */

static void test_endpoint_norm(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = {
        {"http://127.0.0.1:3002", "http://127.0.0.1:3002"},
        {"http://127.0.0.1:3002/", "http://127.0.0.1:3002"},
        {"HTTPS://lambda.eu-west-1.amazonaws.com//", "https://lambda.eu-west-1.amazonaws.com"},
        {"http://[::1]:3002/base/", "http://[::1]:3002/base"},
        {"http://[::1]", "http://[::1]"},
        {"http://localstack:4566", "http://localstack:4566"},
    };
    static const char *const bad[] = {
        "ftp://h",
        "h:3002",
        "http://",
        "http:///x",
        "http://u@h",
        "http://h?x",
        "http://h/#f",
        "http://h x",
        "http://h:",
        "http://h:abc",
        "http://h:70000",
        "http://:80",
        "http://[::1",
        "http://[::1]x",
        "http://[]:1",
        "http://h\\x",
        "",
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(ok); i++) {
        buf_t out = BUF_INIT;
        assert_int_equal(route_lambda_endpoint_norm(ok[i].in, &out, NULL), PT_OK);
        assert_string_equal(out.p, ok[i].out);
        buf_free(&out);
    }
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        buf_t out = BUF_INIT, err = BUF_INIT;
        if (route_lambda_endpoint_norm(bad[i], &out, &err) != PT_EINVAL) {
            print_error("\"%s\" was accepted as \"%s\"\n", bad[i], out.p ? out.p : "");
            fail();
        }
        assert_null(out.p);
        assert_non_null(strstr(err.p, "Lambda endpoint"));
        buf_free(&err);
    }
    assert_int_equal(route_lambda_endpoint_norm(NULL, NULL, NULL), PT_EINVAL);
    /* Hosts up to 261 characters (name, ':' and port). */
    char longhost[300] = "http://";
    memset(longhost + 7, 'a', 261);
    longhost[268] = '\0';
    buf_t out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(route_lambda_endpoint_norm(longhost, &out, NULL), PT_OK);
    buf_free(&out);
    strcat(longhost, "a/x");
    assert_int_equal(route_lambda_endpoint_norm(longhost, &out, &err), PT_EINVAL);
    assert_non_null(strstr(err.p, "too long"));
    buf_free(&err);
}

/* ---- route_lambda_request -------------------------------------------------------------------- */

typedef struct req_case {
    const char *uri;
    const char *region;   /* env->region */
    const char *endpoint; /* env->endpoint */
    const char *url;      /* expected */
    const char *host;
    const char *sign_region;
} req_case_t;

/* The AWS-form paths are what botocore 1.29's lambda client sends for Invoke with the same
 * FunctionName (and Qualifier): ':' as %3A in the path, '$' as %24 in the query. */
static const req_case_t REQ[] = {
    {APIGW(FN_ARN ":live"), "us-east-1", NULL,
     "https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/"
     "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Achat-dev-echo%3Alive/invocations",
     "lambda.eu-west-1.amazonaws.com", "eu-west-1"},
    {"chat-dev-echo", "ap-south-1", NULL,
     "https://lambda.ap-south-1.amazonaws.com/2015-03-31/functions/chat-dev-echo/invocations",
     "lambda.ap-south-1.amazonaws.com", "ap-south-1"},
    {"chat-dev-echo:live", NULL, NULL,
     "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/chat-dev-echo%3Alive/invocations",
     "lambda.us-east-1.amazonaws.com", "us-east-1"},
    {"arn:aws-cn:lambda:cn-north-1:123456789012:function:f", "us-east-1", NULL,
     "https://lambda.cn-north-1.amazonaws.com.cn/2015-03-31/functions/"
     "arn%3Aaws-cn%3Alambda%3Acn-north-1%3A123456789012%3Afunction%3Af/invocations",
     "lambda.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    /* A local runtime: the bare name, and the qualifier as ?Qualifier= (serverless-offline 404s
     * on ARNs and on name:alias). */
    {APIGW(FN_ARN ":$LATEST"), "us-east-1", "http://127.0.0.1:3002",
     "http://127.0.0.1:3002/2015-03-31/functions/chat-dev-echo/invocations?Qualifier=%24LATEST",
     "127.0.0.1:3002", "eu-west-1"},
    {"chat-dev-echo", "us-east-1", "http://[::1]:3002/base",
     "http://[::1]:3002/base/2015-03-31/functions/chat-dev-echo/invocations", "[::1]:3002",
     "us-east-1"},
    /* An AWS endpoint given explicitly (FIPS, a VPC endpoint) keeps the full ARN. */
    {FN_ARN, "us-east-1", "https://lambda-fips.eu-west-1.amazonaws.com",
     "https://lambda-fips.eu-west-1.amazonaws.com/2015-03-31/functions/"
     "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Achat-dev-echo/invocations",
     "lambda-fips.eu-west-1.amazonaws.com", "eu-west-1"},
    {"f:x", "us-east-1", "http://lambda.amazonaws.com.evil.example",
     "http://lambda.amazonaws.com.evil.example/2015-03-31/functions/f/invocations?Qualifier=x",
     "lambda.amazonaws.com.evil.example", "us-east-1"},
};

static void test_request(void **state)
{
    (void)state;
    for (size_t i = 0; i < PT_ARRAY_LEN(REQ); i++) {
        const req_case_t *c = &REQ[i];
        route_lambda_env_t env = {c->region, c->endpoint};
        route_http_req_t r;
        buf_t err = BUF_INIT, hdr = BUF_INIT;
        int rc = route_lambda_request(c->uri, NULL, &env, &r, &err);
        if (rc != PT_OK) {
            print_error("case %zu: %s\n", i, err.p);
            fail();
        }
        assert_string_equal(r.method, "POST");
        assert_string_equal(r.url, c->url);
        buf_printf(&hdr, "Host: %s\r\nContent-Type: application/json\r\n", c->host);
        assert_string_equal(r.headers.p, hdr.p);
        assert_string_equal(r.sign_service, "lambda");
        assert_string_equal(r.sign_region, c->sign_region);
        assert_null(r.body);
        route_http_req_free(&r);
        buf_free(&hdr);
        buf_free(&err);
    }
    /* No env: us-east-1 and AWS. */
    route_http_req_t r;
    assert_int_equal(route_lambda_request("f", NULL, NULL, &r, NULL), PT_OK);
    assert_string_equal(
        r.url, "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations");
    route_http_req_free(&r);
    /* Not a function, or a bad one: nothing built. */
    buf_t err = BUF_INIT;
    assert_int_equal(route_lambda_request("http://h/x", NULL, NULL, &r, &err), PT_EINVAL);
    assert_non_null(strstr(err.p, "does not name a Lambda function"));
    assert_null(r.url);
    assert_null(r.headers.p);
    buf_reset(&err);
    assert_int_equal(route_lambda_request("a:b:c", NULL, NULL, &r, &err), PT_EINVAL);
    assert_null(r.url);
    assert_null(r.sign_service);
    assert_int_equal(route_lambda_request(NULL, NULL, NULL, &r, NULL), PT_EINVAL);
    buf_free(&err);
}

/* ---- stage variables, and through route_integ_request ---------------------------------------- */

static void test_stage_variables(void **state)
{
    (void)state;
    tapi_t t;
    tapi_init(&t, "$request.body.action");
    route_integration_t *in = tapi_integ(
        &t, ROUTE_INTEG_AWS_PROXY,
        APIGW("arn:aws:lambda:us-east-1:000000000000:function:chat-${stageVariables.env}-"
              "sendmessage:${stageVariables.alias}"));
    in->timeout_ms = 1234;
    tmap_add(&in->request_parameters, "integration.request.header.X-Mapped",
             "context.connectionId");
    route_route_t *rt = tapi_route(&t, "sendmessage", in);
    tmap_add(&t.stage.variables, "env", "dev");
    tmap_add(&t.stage.variables, "alias", "live");
    tapi_index(&t);
    route_ctx_t c;
    tctx_init(&c, &t, rt, ROUTE_EV_MESSAGE);
    tctx_body(&c, "{\"action\":\"sendmessage\",\"data\":\"hi\"}");
    route_lambda_env_t env = {"us-east-1", "http://127.0.0.1:3002"};
    c.lambda = &env;

    route_http_req_t r;
    buf_t err = BUF_INIT, ev = BUF_INIT;
    assert_int_equal(route_integ_request(in, &c, &r, &err), PT_OK);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.url, "http://127.0.0.1:3002/2015-03-31/functions/chat-dev-sendmessage/"
                               "invocations?Qualifier=live");
    /* The event is the body, byte for byte; requestParameters do not apply to a Lambda. */
    route_event_ws(&c, &ev);
    assert_int_equal(r.body_len, ev.len);
    assert_memory_equal(r.body, ev.p, ev.len);
    assert_string_equal(r.headers.p, "Host: 127.0.0.1:3002\r\nContent-Type: application/json\r\n");
    assert_int_equal(r.timeout_ms, 1234);
    assert_string_equal(r.sign_service, "lambda");
    assert_string_equal(r.sign_region, "us-east-1");
    route_http_req_free(&r);

    /* Another stage, another alias and function; to AWS the full ARN with the alias. */
    t.stage.variables.items[0].val = (char *)"prod";
    t.stage.variables.items[1].val = (char *)"v2";
    c.lambda = NULL; /* no env: ctx->region and AWS */
    assert_int_equal(route_integ_request(in, &c, &r, &err), PT_OK);
    assert_string_equal(r.url, "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/"
                               "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3A"
                               "chat-prod-sendmessage%3Av2/invocations");
    route_http_req_free(&r);

    /* A missing variable leaves an invalid qualifier: refused, with the reason. */
    t.stage.variables.n = 1;
    assert_int_equal(route_integ_request(in, &c, &r, &err), PT_EINVAL);
    assert_non_null(strstr(err.p, "qualifier \"\""));
    assert_null(r.url);

    /* A stage variable cannot smuggle a path or a query into the URL. */
    t.stage.variables.n = 2;
    t.stage.variables.items[1].val = (char *)"live/../../x?y";
    buf_reset(&err);
    assert_int_equal(route_integ_request(in, &c, &r, &err), PT_EINVAL);
    assert_null(r.url);
    /* A variable holding the whole URI may make it an http(s) URL: then no Lambda. */
    in->uri = (char *)"${stageVariables.env}";
    t.stage.variables.items[0].val = (char *)"http://127.0.0.1:9/x";
    assert_int_equal(route_integ_request(in, &c, &r, &err), PT_OK);
    assert_string_equal(r.url, "http://127.0.0.1:9/x");
    assert_null(r.sign_service);
    route_http_req_free(&r);
    t.stage.variables.items[0].val = (char *)"chat-dev-echo";
    assert_int_equal(route_integ_request(in, &c, &r, &err), PT_OK);
    assert_string_equal(r.sign_service, "lambda");
    route_http_req_free(&r);

    buf_free(&err);
    buf_free(&ev);
    tapi_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_endpoint_norm),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_stage_variables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
