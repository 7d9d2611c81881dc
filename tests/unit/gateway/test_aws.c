/* test_aws.c: Portico's AWS identity: resolution order and Lambda Invoke signing (gateway/aws.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gateway/gw.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AKID   "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T2015  1440938160 /* 20150830T123600Z */

static const char *const VARS[] = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
};

static void clean_env(void)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(VARS); i++)
        unsetenv(VARS[i]);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
}

/* A one-API config whose $default invokes `uri`, plus `server` keys. */
static route_config_t *config(const char *uri, const char *server)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"server\": {%s}, \"apis\": [{\"name\": \"t\", \"protocolType\": \"WEBSOCKET\", "
             "\"routeSelectionExpression\": \"$request.body.action\", "
             "\"integrations\": [{\"integrationId\": \"l\", \"integrationType\": \"AWS_PROXY\", "
             "\"integrationUri\": \"%s\"}], \"routes\": [{\"routeKey\": \"$default\", \"target\": "
             "\"integrations/l\"}], \"stages\": [{\"stageName\": \"dev\"}]}]}",
             server, uri);
    route_config_t *cfg = NULL;
    buf_t err = BUF_INIT;
    if (route_config_parse(text, strlen(text), "t.json", &cfg, &err) != PT_OK)
        fail_msg("%s", err.p);
    buf_free(&err);
    return cfg;
}

static int init(gw_aws_t *a, route_config_t *cfg, buf_t *err)
{
    buf_reset(err);
    return gw_aws_init(a, cfg, err);
}

static void test_resolution_order(void **state)
{
    (void)state;
    gw_aws_t a;
    buf_t err = BUF_INIT;
    char dir[] = "/tmp/portico-aws-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char creds[64], conf[64];
    snprintf(creds, sizeof creds, "%s/credentials", dir);
    snprintf(conf, sizeof conf, "%s/config", dir);
    FILE *f = fopen(creds, "w");
    fputs("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = filesecret\n"
          "[p2]\naws_access_key_id = AKIDP2\naws_secret_access_key = p2\naws_session_token = t2\n"
          "[sso]\nsso_session = x\n",
          f);
    fclose(f);
    f = fopen(conf, "w");
    fputs("[default]\nregion = eu-north-1\n[profile p2]\nregion = ap-east-1\n", f);
    fclose(f);

    clean_env();
    route_config_t *cfg = config("chat-dev-echo", "\"region\": \"sa-east-1\"");

    /* Nothing found, AWS endpoint: refused. */
    assert_int_equal(init(&a, cfg, &err), PT_ENOTFOUND);
    assert_non_null(strstr(err.p, "no AWS credentials were found"));

    /* The profile files: default profile, region from the config file. */
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
    setenv("AWS_CONFIG_FILE", conf, 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_true(a.needed);
    assert_string_equal(a.access_key_id, "AKIDFILE");
    assert_string_equal(a.secret_access_key, "filesecret");
    assert_null(a.session_token);
    assert_string_equal(a.region, "eu-north-1");
    assert_string_equal(a.profile, "default");
    assert_null(a.endpoint);
    assert_ptr_equal(a.lambda.region, a.region);
    gw_aws_dispose(&a);

    /* AWS_PROFILE picks another; AWS_DEFAULT_REGION beats the file, AWS_REGION beats both. */
    setenv("AWS_PROFILE", "p2", 1);
    setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_string_equal(a.access_key_id, "AKIDP2");
    assert_string_equal(a.session_token, "t2");
    assert_string_equal(a.region, "us-west-1");
    gw_aws_dispose(&a);
    setenv("AWS_REGION", "us-west-2", 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_string_equal(a.region, "us-west-2");
    gw_aws_dispose(&a);

    /* The environment beats the profile. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_string_equal(a.access_key_id, "AKIDENV");
    assert_null(a.session_token);
    assert_string_equal(a.profile, "");
    gw_aws_dispose(&a);

    /* Endpoints: AWS_ENDPOINT_URL_LAMBDA beats AWS_ENDPOINT_URL; both can be ignored. */
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/", 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_string_equal(a.endpoint, "http://127.0.0.1:1");
    gw_aws_dispose(&a);
    setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:2", 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_string_equal(a.endpoint, "http://127.0.0.1:2");
    assert_ptr_equal(a.lambda.endpoint, a.endpoint);
    gw_aws_dispose(&a);
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_null(a.endpoint);
    gw_aws_dispose(&a);
    unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    route_config_free(cfg);

    /* server.aws beats everything. */
    cfg = config("chat-dev-echo",
                 "\"aws\": {\"accessKeyId\": \"AKIDCFG\", \"secretAccessKey\": \"c\", "
                 "\"sessionToken\": \"ct\", \"region\": \"me-south-1\", \"lambdaEndpoint\": "
                 "\"http://127.0.0.1:3/\"}");
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_string_equal(a.access_key_id, "AKIDCFG");
    assert_string_equal(a.session_token, "ct");
    assert_string_equal(a.region, "me-south-1");
    assert_string_equal(a.endpoint, "http://127.0.0.1:3");
    gw_aws_dispose(&a);
    route_config_free(cfg);

    /* Refusals. */
    cfg = config("chat-dev-echo", "");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(init(&a, cfg, &err), PT_EINVAL);
    assert_non_null(strstr(err.p, "must be set together"));
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_PROFILE", "nope", 1);
    assert_int_equal(init(&a, cfg, &err), PT_ENOTFOUND);
    assert_non_null(strstr(err.p, "AWS_PROFILE=nope"));
    setenv("AWS_PROFILE", "sso", 1);
    assert_int_equal(init(&a, cfg, &err), PT_EUNSUPPORTED);
    assert_non_null(strstr(err.p, "not supported"));
    unsetenv("AWS_PROFILE");
    setenv("AWS_ENDPOINT_URL_LAMBDA", "ftp://x", 1);
    assert_int_equal(init(&a, cfg, &err), PT_EINVAL);
    assert_non_null(strstr(err.p, "Lambda endpoint ftp://x"));
    f = fopen(creds, "w");
    fputs("[default]\naws_secret_access_key = hidden\ngarbage line\n", f);
    fclose(f);
    setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:2", 1);
    assert_int_equal(init(&a, cfg, &err), PT_EPARSE);
    assert_non_null(strstr(err.p, ":3: malformed line"));
    assert_null(strstr(err.p, "hidden"));
    assert_null(strstr(err.p, "garbage"));
    /* An endpoint override without credentials: allowed, unsigned. */
    unlink(creds);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_null(a.access_key_id);
    route_http_req_t r;
    assert_int_equal(route_lambda_request("f", NULL, &a.lambda, &r, NULL), PT_OK);
    assert_int_equal(gw_aws_sign(&a, NULL, &r, T2015, &err), PT_OK);
    assert_null(strstr(r.headers.p, "Authorization"));
    route_http_req_free(&r);
    gw_aws_dispose(&a);
    route_config_free(cfg);

    /* No function invoked: nothing is required, the environment is not judged. */
    cfg = config("http://127.0.0.1:9/x", "");
    setenv("AWS_ACCESS_KEY_ID", "half", 1);
    setenv("AWS_ENDPOINT_URL", "nonsense", 1);
    assert_int_equal(init(&a, cfg, &err), PT_OK);
    assert_false(a.needed);
    assert_null(a.access_key_id);
    gw_aws_dispose(&a);
    route_config_free(cfg);

    unlink(conf);
    rmdir(dir);
    clean_env();
    buf_free(&err);
}

/* botocore 1.29's SigV4Auth(Credentials(AKID, SECRET, token), "lambda", region).add_auth() on
 * AWSRequest(POST, url, data=b'{"a":1}', headers={"Content-Type": "application/json"}) at
 * 20150830T123600Z. */
static void test_sign_matches_botocore(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *endpoint, *region, *token, *authorization;
    } V[] = {
        {"arn:aws:lambda:us-east-1:123456789012:function:chat-dev-echo:$LATEST",
         "http://127.0.0.1:3002", "us-east-1", "tok/en==",
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
         "Signature=d221478dd5b14c7d73e74f7ca44fb8580b59e78090c36395062cd81e4a31f12c"},
        {"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
         "arn:aws:lambda:eu-west-1:123456789012:function:chat-dev-echo:live/invocations",
         NULL, "us-east-1", NULL,
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/lambda/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date, "
         "Signature=7c78f44d3041af70c5f12d8b411ad3396fe3c4574271111f246f8ce6b2f0cae3"},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(V); i++) {
        gw_aws_t a;
        memset(&a, 0, sizeof a);
        a.access_key_id = (char *)AKID;
        a.secret_access_key = (char *)SECRET;
        a.session_token = (char *)V[i].token;
        a.region = (char *)V[i].region;
        route_lambda_env_t env = {V[i].region, V[i].endpoint};
        route_http_req_t r;
        buf_t err = BUF_INIT, want = BUF_INIT;
        sigv4_cache_t cache;
        memset(&cache, 0, sizeof cache);
        assert_int_equal(route_lambda_request(V[i].uri, NULL, &env, &r, &err), PT_OK);
        r.body = strdup("{\"a\":1}");
        r.body_len = 7;
        for (int round = 0; round < 2; round++) { /* the second from the key cache */
            buf_t saved = BUF_INIT;
            buf_append(&saved, r.headers.p, r.headers.len);
            assert_int_equal(gw_aws_sign(&a, &cache, &r, T2015, &err), PT_OK);
            buf_reset(&want);
            buf_printf(&want, "Authorization: %s\r\n", V[i].authorization);
            assert_non_null(strstr(r.headers.p, want.p));
            assert_non_null(strstr(r.headers.p, "X-Amz-Date: 20150830T123600Z\r\n"));
            if (V[i].token) {
                buf_reset(&want);
                buf_printf(&want, "X-Amz-Security-Token: %s\r\n", V[i].token);
                assert_non_null(strstr(r.headers.p, want.p));
            }
            buf_free(&r.headers);
            r.headers = saved;
        }
        /* Nothing to sign: untouched. */
        free(r.sign_service);
        r.sign_service = NULL;
        size_t len = r.headers.len;
        assert_int_equal(gw_aws_sign(&a, &cache, &r, T2015, &err), PT_OK);
        assert_int_equal(r.headers.len, len);
        route_http_req_free(&r);
        buf_free(&err);
        buf_free(&want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolution_order),
        cmocka_unit_test(test_sign_matches_botocore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
