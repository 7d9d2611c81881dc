/* test_alog.c: access-log formats (spec 10.2): compile errors, rendering, escaping, destinations.
 */
#include "routes_test.h"

static tapi_t T;

static int setup(void **state)
{
    (void)state;
    tapi_init(&T, "$request.body.action");
    tapi_route(&T, "sendmessage", NULL);
    tapi_index(&T);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tapi_free(&T);
    return 0;
}

/* Renders fmt for ctx; returns a static copy of the line (without its '\n'). */
static const char *render(const char *fmt, const route_ctx_t *ctx, route_alog_var_fn extra,
                          void *ud)
{
    static char line[2048];
    route_alog_t *f = NULL;
    buf_t err = BUF_INIT, out = BUF_INIT, scratch = BUF_INIT;
    int rc = route_alog_compile(fmt, strlen(fmt), &f, &err);
    if (rc != PT_OK)
        fail_msg("compile %s: %s", fmt, err.p ? err.p : "?");
    route_alog_render(f, ctx, extra, ud, &out, &scratch);
    assert_true(out.len > 0);
    assert_int_equal(out.p[out.len - 1], '\n');
    assert_null(memchr(out.p, '\n', out.len - 1)); /* one event, one line */
    snprintf(line, sizeof line, "%.*s", (int)out.len - 1, out.p);
    route_alog_free(f);
    buf_free(&err);
    buf_free(&out);
    buf_free(&scratch);
    return line;
}

static const char *compile_error(const char *fmt)
{
    static char msg[256];
    route_alog_t *f = NULL;
    buf_t err = BUF_INIT;
    int rc = route_alog_compile(fmt, strlen(fmt), &f, &err);
    assert_int_not_equal(rc, PT_OK);
    assert_null(f);
    snprintf(msg, sizeof msg, "%s", err.p ? err.p : "");
    buf_free(&err);
    return msg;
}

static void test_clf_style_line(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, &T.routes[0], ROUTE_EV_MESSAGE);
    c.status = 200;
    c.integration_latency_ms = 12;
    assert_string_equal(render("$context.identity.sourceIp - - [$context.requestTime] "
                               "\"$context.eventType $context.routeKey\" $context.status "
                               "$context.requestId $context.integrationLatency",
                               &c, NULL, NULL),
                        T_SOURCE_IP " - - [20/Jan/2024:11:55:00 +0000] \"MESSAGE sendmessage\" "
                                    "200 " T_REQ_ID " 12");
}

/* AWS's own example line (spec 10.2): what does not apply prints "-", even unquoted. */
static void test_not_applicable_is_dash(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, NULL, ROUTE_EV_CONNECT);
    c.status = 400;
    assert_string_equal(
        render(
            "{\"requestId\":\"$context.requestId\",\"httpMethod\":\"$context.httpMethod\","
            "\"routeKey\":\"$context.routeKey\",\"status\":$context.status,"
            "\"responseLatency\":$context.responseLatency,\"ua\":\"$context.identity.userAgent\","
            "\"caller\":\"$context.identity.caller\",\"msg\":\"$context.messageId\"}",
            &c, NULL, NULL),
        "{\"requestId\":\"" T_REQ_ID "\",\"httpMethod\":\"-\",\"routeKey\":\"-\",\"status\":400,"
        "\"responseLatency\":-,\"ua\":\"-\",\"caller\":\"-\",\"msg\":\"-\"}");
}

static void test_json_format_escapes_values(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, &T.routes[0], ROUTE_EV_MESSAGE);
    c.user_agent = "evil\"agent\\\n\x01";
    assert_string_equal(
        render("  {\"id\":\"$context.requestId\",\"ua\":\"$context.identity.userAgent\"}", &c, NULL,
               NULL),
        "  {\"id\":\"" T_REQ_ID "\",\"ua\":\"evil\\\"agent\\\\\\n\\u0001\"}");
}

static void test_text_format_escapes_quotes_and_controls(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, &T.routes[0], ROUTE_EV_MESSAGE);
    c.user_agent = "a \"b\"\\c\nd\x7f";
    assert_string_equal(
        render("$context.requestId \"$context.identity.userAgent\"", &c, NULL, NULL),
        T_REQ_ID " \"a \\x22b\\x22\\x5cc\\x0ad\\x7f\"");
}

static void test_disconnect_vars(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, NULL, ROUTE_EV_DISCONNECT);
    c.disconnect_status_code = 1001;
    c.disconnect_reason = "Going away";
    c.error_message = "boom";
    assert_string_equal(
        render("$context.requestId $context.eventType $context.disconnectStatusCode "
               "[$context.disconnectReason] $context.error.messageString.",
               &c, NULL, NULL),
        T_REQ_ID " DISCONNECT 1001 [Going away] \\x22boom\\x22.");
}

static bool extra(void *ud, const char *name, size_t n, buf_t *out)
{
    (void)ud;
    if (n == 10 && memcmp(name, "httpMethod", 10) == 0) {
        buf_puts(out, "POST");
        return true;
    }
    if (n == 6 && memcmp(name, "status", 6) == 0) {
        buf_puts(out, "201"); /* asked before the context */
        return true;
    }
    if (n == 4 && memcmp(name, "path", 4) == 0)
        return true; /* empty: still "-" */
    return false;
}

static void test_extra_variables_first(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, &T.routes[0], ROUTE_EV_MESSAGE);
    c.status = 200;
    assert_string_equal(
        render("$context.requestId $context.httpMethod $context.path $context.status "
               "$context.stage",
               &c, extra, NULL),
        T_REQ_ID " POST - 201 prod");
}

static void test_names_and_literals(void **state)
{
    (void)state;
    route_ctx_t c;
    tctx_init(&c, &T, &T.routes[0], ROUTE_EV_MESSAGE);
    /* Trailing dots end the name; "$contextx" and a lone "$" are literal text. */
    assert_string_equal(render("$context.extendedRequestId... $contextx $ $context_stage "
                               "$$context.stage$context.apiId",
                               &c, NULL, NULL),
                        T_REQ_ID "... $contextx $ $context_stage $prodabcd123456");
}

static void test_compile_errors(void **state)
{
    (void)state;
    assert_string_equal(compile_error(""), "must not be empty");
    assert_string_equal(compile_error("$context.status"),
                        "must contain $context.requestId or $context.extendedRequestId");
    assert_string_equal(compile_error("$context.requestId\n$context.status"),
                        "must be one line (one log line per event): no line breaks");
    assert_string_equal(compile_error("$context.requestId $context."),
                        "expected a variable name after $context. at offset 19");
    char big[ROUTE_ALOG_FORMAT_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "$context.requestId", 18);
    assert_string_equal(compile_error(big), "is 4097 bytes long; the limit is 4096");
    route_alog_t *f = NULL;
    assert_int_equal(
        route_alog_compile(route_alog_default_format, strlen(route_alog_default_format), &f, NULL),
        PT_OK);
    assert_true(route_alog_is_json(f));
    route_alog_free(f);
}

static void dest_ok(const char *d, route_alog_dest_kind_t want, const char *path)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    route_alog_dest_kind_t k = 0;
    if (route_alog_dest(d, &k, &out, &err) != PT_OK)
        fail_msg("%s: %s", d, err.p ? err.p : "?");
    assert_int_equal(k, want);
    assert_string_equal(out.p ? out.p : "", path);
    buf_free(&out);
    buf_free(&err);
}

static void dest_bad(const char *d)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    route_alog_dest_kind_t k = 0;
    assert_int_equal(route_alog_dest(d, &k, &out, &err), PT_EINVAL);
    assert_non_null(err.p);
    buf_free(&out);
    buf_free(&err);
}

static void test_destinations(void **state)
{
    (void)state;
    dest_ok("stdout", ROUTE_ALOG_DEST_STDOUT, "");
    dest_ok("/var/log/portico/access.log", ROUTE_ALOG_DEST_FILE, "/var/log/portico/access.log");
    dest_ok("logs/a.log", ROUTE_ALOG_DEST_FILE, "logs/a.log");
    dest_ok("arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/chat",
            ROUTE_ALOG_DEST_ARN, "aws_apigateway_chat.log");
    dest_ok("arn:aws:logs:eu-west-1:123456789012:log-group:my-group:*", ROUTE_ALOG_DEST_ARN,
            "my-group.log");
    dest_ok("arn:aws-cn:logs:cn-north-1:123456789012:log-group:a#b..c", ROUTE_ALOG_DEST_ARN,
            "a_b..c.log");
    dest_ok("arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-x",
            ROUTE_ALOG_DEST_ARN, "amazon-apigateway-x.log");
    dest_bad("");
    dest_bad("logs/");
    dest_bad("a\tb");
    dest_bad("arn:aws:s3:::bucket");
    dest_bad("arn:aws:logs:us-east-1:123456789012:log-group:");
    dest_bad("arn:aws:logs:us-east-1:123456789012:log-group:///");
    dest_bad("arn:aws:logs:us-east-1:123456789012:log-group:x:y");
    dest_bad("arn:aws:logs:us-east-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clf_style_line),
        cmocka_unit_test(test_not_applicable_is_dash),
        cmocka_unit_test(test_json_format_escapes_values),
        cmocka_unit_test(test_text_format_escapes_quotes_and_controls),
        cmocka_unit_test(test_disconnect_vars),
        cmocka_unit_test(test_extra_variables_first),
        cmocka_unit_test(test_names_and_literals),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_destinations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
