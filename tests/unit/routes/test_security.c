/* test_security.c: issue 7's pure logic: identity sources, authorizer outputs and verdicts, IAM
 * policies and CIDRs, token buckets and quota windows, JWT decoding (routes/authz.c, policy.c,
 * throttle.c, jwt.c). */
#include "routes_test.h"
#include "routes/security.h"

#include <jansson.h>

/* ---- identity sources ----------------------------------------------------------------------- */

static void test_identity_sources(void **state)
{
    (void)state;
    route_idsrc_kind_t k;
    const char *name;
    assert_int_equal(route_idsrc_parse("route.request.header.Auth", false, &k, &name), PT_OK);
    assert_int_equal(k, ROUTE_IDSRC_HEADER);
    assert_string_equal(name, "Auth");
    assert_int_equal(route_idsrc_parse("$request.querystring.token", true, &k, &name), PT_OK);
    assert_int_equal(k, ROUTE_IDSRC_QUERY);
    /* The WebSocket form is not the HTTP form, and the other way round. */
    assert_int_equal(route_idsrc_parse("$request.header.Auth", false, &k, &name), PT_EINVAL);
    assert_int_equal(route_idsrc_parse("route.request.header.Auth", true, &k, &name), PT_EINVAL);
    assert_int_equal(route_idsrc_parse("route.request.header.", false, &k, &name), PT_EINVAL);
    assert_int_equal(route_idsrc_parse("route.request.header.a b", false, &k, &name), PT_EINVAL);

    route_idsrc_t src[2] = {{ROUTE_IDSRC_HEADER, "auth"}, {ROUTE_IDSRC_QUERY, "token"}};
    http_header_t h[2] = {{"Auth", 4, "first", 5}, {"AUTH", 4, "last", 4}};
    static const char q[] = "a=1&token=x%20y&token=z%2Bw";
    route_idreq_t r = {.headers = h, .nheaders = 2, .query = q, .query_len = sizeof q - 1};
    route_identity_t id;
    assert_int_equal(route_identity_get(src, 2, &r, &id), PT_OK);
    assert_int_equal(id.n, 2);
    assert_string_equal(id.v[0], "last"); /* the last value, as the event's single-value map */
    assert_string_equal(id.v[1], "z+w");
    buf_t key = BUF_INIT;
    route_identity_key("az", "api", "dev", &id, &key);
    assert_int_equal(key.len, strlen("az") + 1 + 3 + 1 + 3 + 1 + 4 + 1 + 3);
    buf_free(&key);
    route_identity_free(&id);

    r.query = "token=";
    r.query_len = 6;
    assert_int_equal(route_identity_get(src, 2, &r, &id), PT_ENOTFOUND); /* empty: missing */
    route_identity_free(&id);
    r.nheaders = 0;
    assert_int_equal(route_identity_get(src, 2, &r, &id), PT_ENOTFOUND);
    route_identity_free(&id);
}

/* ---- authorizer outputs ---------------------------------------------------------------------- */

#define ARN "arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/$connect"

static int decide(const char *body, bool simple)
{
    route_az_result_t r;
    route_az_result_parse(body, strlen(body), simple, &r);
    int st = route_az_decide(&r, ARN);
    route_az_result_free(&r);
    return st;
}

static void test_authorizer_verdicts(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        bool simple;
        int status;
    } C[] = {
        {"{\"principalId\":\"u\",\"policyDocument\":{\"Version\":\"2012-10-17\",\"Statement\":[{"
         "\"Action\":\"execute-api:Invoke\",\"Effect\":\"Allow\",\"Resource\":\"" ARN "\"}]}}",
         false, 200},
        /* wildcards, a single statement object, Action "*" */
        {"{\"policyDocument\":{\"Statement\":{\"Action\":\"*\",\"Effect\":\"Allow\",\"Resource\":"
         "\"arn:aws:execute-api:*:*:abcdef1234/*\"}}}",
         false, 200},
        /* an explicit deny wins over an allow */
        {"{\"policyDocument\":{\"Statement\":[{\"Action\":\"execute-api:Invoke\",\"Effect\":"
         "\"Allow\",\"Resource\":\"*\"},{\"Action\":\"execute-api:Invoke\",\"Effect\":\"Deny\","
         "\"Resource\":\"" ARN "\"}]}}",
         false, 403},
        /* a policy that does not cover the method ARN */
        {"{\"policyDocument\":{\"Statement\":[{\"Action\":\"execute-api:Invoke\",\"Effect\":"
         "\"Allow\",\"Resource\":\"arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/"
         "sendmessage\"}]}}",
         false, 403},
        {"{\"principalId\":\"u\"}", false, 500}, /* no policy */
        {"[1]", false, 500},                     /* not an object */
        {"{\"policyDocument\":{\"Statement\":[]},\"context\":{\"a\":{\"b\":1}}}", false, 500},
        {"{\"isAuthorized\":true,\"context\":{\"a\":{\"b\":1}}}", true, 200},
        {"{\"isAuthorized\":false}", true, 403},
        {"{\"isAuthorized\":\"yes\"}", true, 500},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(C); i++) {
        int st = decide(C[i].body, C[i].simple);
        if (st != C[i].status)
            fail_msg("case %zu: %d, wanted %d", i, st, C[i].status);
    }
    /* Over 8 KB: an error whatever it says. */
    char *big = pt_xmalloc(9000);
    memset(big, ' ', 8999);
    big[8999] = '\0';
    memcpy(big, "{\"isAuthorized\":true}", 21);
    assert_int_equal(decide(big, true), 500);
    free(big);
}

static void test_authorizer_transport_results(void **state)
{
    (void)state;
    route_az_result_t r;
    static const char unauth[] = "{\"errorMessage\":\"Unauthorized\",\"errorType\":\"Error\"}";
    route_integ_result_t res = {
        .status = 200, .body = unauth, .body_len = sizeof unauth - 1, .function_error = true};
    route_az_result_from(&res, false, &r);
    assert_int_equal(route_az_decide(&r, ARN), 401);
    route_az_result_free(&r);
    static const char other[] = "{\"errorMessage\":\"unauthorized\"}"; /* case matters */
    res.body = other;
    res.body_len = sizeof other - 1;
    route_az_result_from(&res, false, &r);
    assert_int_equal(route_az_decide(&r, ARN), 500);
    route_az_result_free(&r);
    res.function_error = false;
    res.status = 403;
    route_az_result_from(&res, false, &r);
    assert_int_equal(route_az_decide(&r, ARN), 403);
    route_az_result_free(&r);
    res.error = PT_ETIMEOUT;
    route_az_result_from(&res, false, &r);
    assert_int_equal(route_az_decide(&r, ARN), 500);
    route_az_result_free(&r);
}

static void test_authorizer_context(void **state)
{
    (void)state;
    static const char body[] =
        "{\"principalId\":\"me\",\"context\":{\"n\":5,\"b\":true,\"s\":\"x\"},\"policyDocument\":"
        "{\"Statement\":[{\"Action\":\"execute-api:Invoke\",\"Effect\":\"Allow\",\"Resource\":"
        "\"*\"}]},\"usageIdentifierKey\":\"key-1\"}";
    route_az_result_t r;
    route_az_result_parse(body, sizeof body - 1, false, &r);
    assert_int_equal(route_az_decide(&r, ARN), 200);
    assert_string_equal(r.usage_identifier_key, "key-1");
    json_t *c = route_az_context_ws(&r);
    assert_string_equal(json_string_value(json_object_get(c, "principalId")), "me");
    assert_int_equal(json_integer_value(json_object_get(c, "n")), 5);
    assert_true(json_is_true(json_object_get(c, "b")));
    json_decref(c);
    route_az_result_free(&r);
}

/* ---- policies and CIDRs ---------------------------------------------------------------------- */

static void test_cidr(void **state)
{
    (void)state;
    route_cidr_t c;
    assert_int_equal(route_cidr_parse("192.0.2.0/24", 12, &c), PT_OK);
    assert_true(route_cidr_match(&c, "192.0.2.200"));
    assert_false(route_cidr_match(&c, "192.0.3.1"));
    assert_true(route_cidr_match(&c, "::ffff:192.0.2.9")); /* IPv4-mapped counts as IPv4 */
    assert_false(route_cidr_match(&c, "garbage"));
    assert_int_equal(route_cidr_parse("2001:db8::/32", 13, &c), PT_OK);
    assert_true(route_cidr_match(&c, "2001:db8:1::5"));
    assert_false(route_cidr_match(&c, "2001:db9::1"));
    assert_int_equal(route_cidr_parse("10.0.0.0/33", 11, &c), PT_EINVAL);
    assert_int_equal(route_cidr_parse("10.0.0/8", 8, &c), PT_EINVAL);
}

static route_effect_t eval(const char *doc, const char *res, const char *ip)
{
    json_t *j = json_loads(doc, 0, NULL);
    assert_non_null(j);
    route_policy_t *p = NULL;
    buf_t why = BUF_INIT;
    if (route_policy_parse(j, &p, &why) != PT_OK)
        fail_msg("policy refused: %s", why.p);
    route_effect_t e = route_policy_eval(
        p, "execute-api:Invoke", res, "arn:aws:execute-api:us-east-1:000000000000:abcdef1234", ip);
    route_policy_free(p);
    json_decref(j);
    buf_free(&why);
    return e;
}

static void test_policies(void **state)
{
    (void)state;
    static const char deny_ip[] =
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"execute-api:Invoke\",\"Resource\":"
        "\"execute-api:/*\"},{\"Effect\":\"Deny\",\"Action\":\"execute-api:Invoke\","
        "\"Resource\":\"execute-api:/*/GET/admin\",\"Condition\":{\"NotIpAddress\":{"
        "\"aws:SourceIp\":[\"10.0.0.0/8\"]}}}]}";
    assert_int_equal(eval(deny_ip, ARN, "192.0.2.1"), ROUTE_EFFECT_ALLOW);
    assert_int_equal(eval(deny_ip,
                          "arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/GET/admin",
                          "192.0.2.1"),
                     ROUTE_EFFECT_DENY);
    assert_int_equal(eval(deny_ip,
                          "arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/GET/admin",
                          "10.1.2.3"),
                     ROUTE_EFFECT_ALLOW);
    /* Another API's resource is not this API's shorthand. */
    assert_int_equal(
        eval(deny_ip, "arn:aws:execute-api:us-east-1:000000000000:zzzzzz9999/dev/x", "10.1.2.3"),
        ROUTE_EFFECT_NONE);
    /* An IP condition never matches without an address. */
    static const char allow_ip[] =
        "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\","
        "\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"127.0.0.1\"}}}]}";
    assert_int_equal(eval(allow_ip, ARN, "127.0.0.1"), ROUTE_EFFECT_ALLOW);
    assert_int_equal(eval(allow_ip, ARN, NULL), ROUTE_EFFECT_NONE);
    /* Unknown conditions are refused, not ignored. */
    json_t *j = json_loads("{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":"
                           "\"*\",\"Condition\":{\"StringEquals\":{\"aws:SourceVpc\":\"v\"}}}]}",
                           0, NULL);
    route_policy_t *p = NULL;
    assert_int_equal(route_policy_parse(j, &p, NULL), PT_EINVAL);
    assert_null(p);
    json_decref(j);
}

static void test_wildcards(void **state)
{
    (void)state;
    assert_true(route_wildcard_match("a*c", "abbbc"));
    assert_true(route_wildcard_match("a?c", "abc"));
    assert_false(route_wildcard_match("a?c", "ac"));
    assert_true(route_wildcard_match("*", ""));
    assert_false(route_wildcard_match("A*", "abc")); /* case-sensitive */
    assert_true(route_wildcard_match("*/$connect", "arn:x/dev/$connect"));
}

/* ---- token buckets and quotas ---------------------------------------------------------------- */

static void test_buckets(void **state)
{
    (void)state;
    route_bucket_t b;
    route_bucket_init(&b, 10, 5, 0);
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += route_bucket_take(&b, 0);
    assert_int_equal(ok, 5);                    /* the burst */
    assert_false(route_bucket_take(&b, 50000)); /* 0.5 token after 50 ms */
    assert_true(route_bucket_take(&b, 100000)); /* 1 token after 100 ms */
    route_bucket_give(&b);
    assert_true(route_bucket_take(&b, 100000));
    ok = 0;
    for (int i = 0; i < 100; i++) /* never more than the burst, however long it waited */
        ok += route_bucket_take(&b, 3600000000LL);
    assert_int_equal(ok, 5);
    route_bucket_init(&b, 100, 0, 0);
    assert_false(route_bucket_take(&b, 1000000)); /* a burst of 0 refuses everything */
}

static void test_quota_windows(void **state)
{
    (void)state;
    /* 2024-03-13 (a Wednesday) 15:30:00 UTC */
    int64_t t = 1710343800;
    assert_int_equal(route_quota_window(ROUTE_QUOTA_DAY, 0, t), 1710288000);   /* 00:00 */
    assert_int_equal(route_quota_window(ROUTE_QUOTA_WEEK, 0, t), 1710028800);  /* Sun 10th */
    assert_int_equal(route_quota_window(ROUTE_QUOTA_WEEK, 1, t), 1710115200);  /* Mon 11th */
    assert_int_equal(route_quota_window(ROUTE_QUOTA_MONTH, 0, t), 1709251200); /* Mar 1st */
    route_quota_counter_t c = {0, 0};
    for (int i = 0; i < 3; i++)
        assert_true(route_quota_take(ROUTE_QUOTA_DAY, 0, 3, &c, t));
    assert_false(route_quota_take(ROUTE_QUOTA_DAY, 0, 3, &c, t));
    assert_int_equal(c.used, 3);
    assert_true(route_quota_take(ROUTE_QUOTA_DAY, 0, 3, &c, t + 86400)); /* a new day */
    assert_int_equal(c.used, 1);
}

/* ---- JWTs ----------------------------------------------------------------------------------- */

static void test_jwt_decode_refusals(void **state)
{
    (void)state;
    route_jwt_t t;
    const char *why = NULL;
    /* {"alg":"none"} . {"sub":"a"} . "" */
    static const char none[] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.";
    assert_int_not_equal(route_jwt_decode(none, sizeof none - 1, &t, &why), PT_OK);
    assert_non_null(why);
    route_jwt_free(&t);
    /* {"alg":"HS256"} */
    static const char hs[] = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
    assert_int_not_equal(route_jwt_decode(hs, sizeof hs - 1, &t, &why), PT_OK);
    route_jwt_free(&t);
    static const char two[] = "abc.def";
    assert_int_not_equal(route_jwt_decode(two, sizeof two - 1, &t, &why), PT_OK);
    route_jwt_free(&t);
    /* {"alg":"RS256","kid":"k1"} . {"sub":"a"} . "sig": decodes (verification is later) */
    static const char rs[] = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIn0.c2ln";
    assert_int_equal(route_jwt_decode(rs, sizeof rs - 1, &t, &why), PT_OK);
    assert_string_equal(t.alg, "RS256");
    assert_string_equal(t.kid, "k1");
    route_jwt_free(&t);
}

static void test_jwt_claims(void **state)
{
    (void)state;
    const char *why;
    char *aud[] = {"app"};
    json_t *c = json_pack("{s:s,s:s,s:I,s:s}", "iss", "https://i", "aud", "app", "exp",
                          (json_int_t)2000, "scope", "read write");
    assert_int_equal(route_jwt_check_claims(c, "https://i", aud, 1, 1000, 0, &why), PT_OK);
    assert_int_equal(route_jwt_check_claims(c, "https://i", aud, 1, 2000, 0, &why), PT_EAUTH);
    assert_int_equal(route_jwt_check_claims(c, "https://j", aud, 1, 1000, 0, &why), PT_EAUTH);
    char *other[] = {"other"};
    assert_int_equal(route_jwt_check_claims(c, "https://i", other, 1, 1000, 0, &why), PT_EAUTH);
    char *want[] = {"admin", "write"};
    assert_int_equal(route_jwt_check_scopes(c, want, 2, &why), PT_OK);
    assert_int_equal(route_jwt_check_scopes(c, want, 1, &why), PT_EAUTH);
    json_t *ctx = route_jwt_context(c, true);
    json_t *sc = json_object_get(json_object_get(ctx, "jwt"), "scopes");
    assert_int_equal(json_array_size(sc), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(ctx, "jwt"), "claims"), "exp")),
                        "2000");
    json_decref(ctx);
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_sources),
        cmocka_unit_test(test_authorizer_verdicts),
        cmocka_unit_test(test_authorizer_transport_results),
        cmocka_unit_test(test_authorizer_context),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_quota_windows),
        cmocka_unit_test(test_jwt_decode_refusals),
        cmocka_unit_test(test_jwt_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
