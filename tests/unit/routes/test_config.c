/* test_config.c: the configuration loader (routes/config.c, routes/config_tree.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/err.h"
#include "routes/route.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int parse_as(const char *text, const char *source)
{
    route_config_free(cfg);
    cfg = NULL;
    buf_reset(&err);
    return route_config_parse(text, strlen(text), source, &cfg, &err);
}

static int parse(const char *text)
{
    return parse_as(text, "t.json");
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* True when err holds want as one whole line. */
static bool has_line(const char *want)
{
    size_t n = strlen(want);
    for (const char *p = err.p; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, want, n) == 0)
            return true;
        p = e ? e + 1 : p + len;
    }
    return false;
}

static bool starts_with_line(const char *s, const char *pre)
{
    return s && strncmp(s, pre, strlen(pre)) == 0;
}

static void expect_ok(const char *text)
{
    int rc = parse(text);
    if (rc != PT_OK)
        fail_msg("expected a valid config, got:\n%s\n--- config:\n%s", err.p ? err.p : "", text);
    assert_non_null(cfg);
}

/* Expects a refusal whose message holds want as a line and, when nerr > 0, exactly nerr lines. */
static void expect_err_as(const char *text, const char *source, const char *want, size_t nerr)
{
    int rc = parse_as(text, source);
    assert_null(cfg);
    if (rc == PT_OK || !has_line(want) || (nerr && count_lines(err.p) != nerr))
        fail_msg("wanted line:\n%s\n(%zu error lines) got rc %d:\n%s--- config:\n%s", want, nerr,
                 rc, err.p ? err.p : "", text);
}

static void expect_err(const char *text, const char *want)
{
    expect_err_as(text, "t.json", want, 1);
}

/* ============================================================================================
 * A base config with one slot per place a mistake can go; each slot sits on a known line.
 * ========================================================================================== */

enum { SERVER, API, INTEG, INTEGS, ROUTE, ROUTES, STAGE, STAGES, APIEND, APIS, ROOT, NSLOTS };

#define BASE_FMT                                                                                      \
    "{\n"                 /* 1 */                                                                     \
    "\"server\": {%s},\n" /* 2: SERVER */                                                             \
    "\"apis\": [{\n"      /* 3 */                                                                     \
    "\"name\": \"t\", \"apiId\": \"testapi001\", \"protocolType\": \"WEBSOCKET\", "                   \
    "\"routeSelectionExpression\": \"$request.body.action\"%s,\n" /* 4: API */                        \
    "\"integrations\": [{\"integrationId\": \"i1\", \"integrationType\": \"MOCK\"%s}%s],\n" /* 5:     \
                                                                                               INTEG, \
                                                                                               INTEGS \
                                                                                             */       \
    "\"routes\": [{\"routeKey\": \"$default\", \"target\": \"integrations/i1\"%s}%s],\n"    /* 6:     \
                                                                                               ROUTE, \
                                                                                               ROUTES \
                                                                                             */       \
    "\"stages\": [{\"stageName\": \"dev\"%s}%s]%s\n" /* 7: STAGE, STAGES, APIEND */                   \
    "}%s]%s\n"                                       /* 8: APIS, ROOT */                              \
    "}\n"

static char *base_with(int slot, const char *text)
{
    const char *v[NSLOTS];
    for (int i = 0; i < NSLOTS; i++)
        v[i] = i == slot ? text : "";
    size_t n = sizeof BASE_FMT + strlen(text) + 1;
    char *out = malloc(n);
    snprintf(out, n, BASE_FMT, v[SERVER], v[API], v[INTEG], v[INTEGS], v[ROUTE], v[ROUTES],
             v[STAGE], v[STAGES], v[APIEND], v[APIS], v[ROOT]);
    return out;
}

typedef struct err_case {
    int slot;
    const char *text;
    const char *want; /* one whole line of the message; NULL: the config is valid */
} err_case_t;

static const err_case_t CASES[] = {
    /* ---- server (line 2) ---- */
    {SERVER, "\"lisen\": \"0.0.0.0:1\"",
     "t.json:2: server.lisen: unknown key (did you mean \"listen\"?)"},
    {SERVER, "\"listen\": \"0.0.0.0\"",
     "t.json:2: server.listen: \"0.0.0.0\" is not HOST:PORT (e.g. \"0.0.0.0:8080\", "
     "\"[::1]:8080\")"},
    {SERVER, "\"listen\": \"::1:80\"",
     "t.json:2: server.listen: \"::1:80\": write IPv6 addresses in brackets, e.g. "
     "\"[::1]:8080\""},
    {SERVER, "\"listen\": \"[::1\"",
     "t.json:2: server.listen: \"[::1\" is not HOST:PORT (e.g. \"0.0.0.0:8080\", "
     "\"[::1]:8080\")"},
    {SERVER, "\"listen\": \"300.1.1.1:80\"",
     "t.json:2: server.listen: \"300.1.1.1:80\" is not HOST:PORT (e.g. \"0.0.0.0:8080\", "
     "\"[::1]:8080\")"},
    {SERVER, "\"listen\": \"127.0.0.1:70000\"",
     "t.json:2: server.listen: port 70000 is out of range [0, 65535]"},
    {SERVER, "\"adminListen\": 9080",
     "t.json:2: server.adminListen: expected a string, got a number"},
    {SERVER, "\"listen\": \"0.0.0.0:9000\", \"adminListen\": \"127.0.0.1:9000\"",
     "t.json:2: server.adminListen: listen and adminListen must not share port 9000"},
    {SERVER, "\"workers\": \"4\"", "t.json:2: server.workers: expected an integer, got a string"},
    {SERVER, "\"workers\": 65", "t.json:2: server.workers: 65 is out of range [0, 64]"},
    {SERVER, "\"workers\": -1", "t.json:2: server.workers: -1 is out of range [0, 64]"},
    {SERVER, "\"nodeId\": 256", "t.json:2: server.nodeId: 256 is out of range [0, 255]"},
    {SERVER, "\"nodeId\": 99999999999999999999999",
     "t.json:2: server.nodeId: 99999999999999999999999 is out of range [0, 255]"},
    {SERVER, "\"accountId\": \"123\"", "t.json:2: server.accountId: \"123\" must be 12 digits"},
    {SERVER, "\"accountId\": 123456789012",
     "t.json:2: server.accountId: expected a string, got a number"},
    {SERVER, "\"region\": \"US East\"",
     "t.json:2: server.region: \"US East\" is not a region name (lowercase letters, digits and "
     "'-', e.g. us-east-1)"},
    {SERVER, "\"logLevel\": \"verbose\"",
     "t.json:2: server.logLevel: \"verbose\" is not one of: error, warn, info, debug"},
    {SERVER, "\"logLevel\": \"INFO\"",
     "t.json:2: server.logLevel: \"INFO\" is not one of: error, warn, info, debug (did you mean "
     "\"info\"?)"},
    {SERVER, "\"dataDir\": \"\"", "t.json:2: server.dataDir: must not be empty"},
    {SERVER, "\"dataDir\": null", "t.json:2: server.dataDir: expected a string, got null"},
    {SERVER, "\"limits\": {\"maxFrameBytes\": 8}",
     "t.json:2: server.limits.maxFrameBytes: 8 is out of range [16, 16777216]"},
    {SERVER, "\"limits\": {\"maxFrameByte\": 8}",
     "t.json:2: server.limits.maxFrameByte: unknown key (did you mean \"maxFrameBytes\"?)"},
    {SERVER, "\"limits\": {\"allowBinary\": \"yes\"}",
     "t.json:2: server.limits.allowBinary: expected a boolean, got a string"},
    {SERVER, "\"limits\": {\"idleTimeoutSeconds\": 1.5}",
     "t.json:2: server.limits.idleTimeoutSeconds: expected an integer, got 1.5"},
    {SERVER, "\"limits\": {\"maxRequestBodyBytes\": 2147483648}",
     "t.json:2: server.limits.maxRequestBodyBytes: 2147483648 is out of range [0, 1073741824]"},
    {SERVER, "\"limits\": {\"shutdownGraceMs\": 600001}",
     "t.json:2: server.limits.shutdownGraceMs: 600001 is out of range [0, 600000]"},
    {SERVER, "\"limits\": []", "t.json:2: server.limits: expected an object, got an array"},
    {SERVER, "\"credentials\": [{\"accessKeyId\": \"A\"}]",
     "t.json:2: server.credentials[0]: missing required key \"secretAccessKey\""},
    {SERVER, "\"credentials\": [{\"accessKeyId\": \"A/B\", \"secretAccessKey\": \"s\"}]",
     "t.json:2: server.credentials[0].accessKeyId: access key ids may only hold letters, digits, "
     "'.', '_' and '-'"},
    {SERVER, "\"credentials\": [{\"accessKeyId\": \"A\", \"secretAccessKey\": \"s t\"}]",
     "t.json:2: server.credentials[0].secretAccessKey: must not contain spaces or control "
     "characters"},
    {SERVER,
     "\"credentials\": [{\"accessKeyId\": \"A\", \"secretAccessKey\": \"s\", \"stages\": "
     "[\"deb\"]}]",
     "t.json:2: server.credentials[0].stages[0]: stage \"deb\" does not exist in any API (did you "
     "mean \"dev\"?)"},
    {SERVER,
     "\"credentials\": [{\"accessKeyId\": \"A\", \"secretAccessKey\": \"s\", \"stages\": []}]",
     "t.json:2: server.credentials[0].stages: must not be empty (leave stages out to allow every "
     "stage)"},
    {SERVER,
     "\"credentials\": [{\"accessKeyId\": \"A\", \"secretAccessKey\": \"s\"}, {\"accessKeyId\": "
     "\"A\", \"secretAccessKey\": \"t\"}]",
     "t.json:2: server.credentials[1].accessKeyId: duplicate accessKeyId \"A\" (first at line "
     "2)"},
    /* server.adminToken (issue 8) */
    {SERVER, "\"adminToken\": \"0123456789abcdef\"", NULL},
    {SERVER, "\"adminToken\": \"short\"",
     "t.json:2: server.adminToken: must be at least 16 characters long"},
    {SERVER, "\"adminToken\": \"0123456789abcdef;x\"",
     "t.json:2: server.adminToken: must be printable ASCII without spaces, quotes, commas, "
     "semicolons or backslashes"},
    /* server.aws (issue 5) */
    {SERVER,
     "\"aws\": {\"accessKeyId\": \"AKID\", \"secretAccessKey\": \"s\", \"sessionToken\": \"t\", "
     "\"region\": \"eu-west-1\", \"lambdaEndpoint\": \"http://127.0.0.1:3002/\"}",
     NULL},
    {SERVER, "\"aws\": {\"accessKeyId\": \"AKID\"}",
     "t.json:2: server.aws: accessKeyId and secretAccessKey must be given together"},
    {SERVER, "\"aws\": {\"sessionToken\": \"t\"}",
     "t.json:2: server.aws: sessionToken needs accessKeyId and secretAccessKey"},
    {SERVER, "\"aws\": {\"region\": \"EU\"}",
     "t.json:2: server.aws.region: \"EU\" is not a region name (lowercase letters, digits and "
     "'-', e.g. us-east-1)"},
    {SERVER, "\"aws\": {\"lambdaEndpoint\": \"ftp://x\"}",
     "t.json:2: server.aws.lambdaEndpoint: \"ftp://x\": the Lambda endpoint must be an http:// or "
     "https:// URL"},
    {SERVER, "\"aws\": {\"lambdaEndpoint\": \"http://h:3002/?q\"}",
     "t.json:2: server.aws.lambdaEndpoint: \"http://h:3002/?q\": the Lambda endpoint must not "
     "hold spaces, control characters, a query or a fragment"},
    {SERVER, "\"aws\": {\"lambdaEndpoint\": \"http://h:99999\"}",
     "t.json:2: server.aws.lambdaEndpoint: \"http://h:99999\": the Lambda endpoint's port is not "
     "a number in [0, 65535]"},
    {SERVER, "\"aws\": {\"secretKey\": \"s\"}", "t.json:2: server.aws.secretKey: unknown key"},
    {SERVER,
     "\"apiMappings\": [{\"domainName\": \"a.example.com\", \"apiId\": \"testapi002\", "
     "\"stage\": \"dev\"}]",
     "t.json:2: server.apiMappings[0].apiId: API \"testapi002\" does not exist (did you mean "
     "\"testapi001\"?)"},
    {SERVER,
     "\"apiMappings\": [{\"domainName\": \"a.example.com\", \"apiId\": \"testapi001\", "
     "\"stage\": \"prod\"}]",
     "t.json:2: server.apiMappings[0].stage: stage \"prod\" does not exist in API "
     "\"testapi001\""},
    {SERVER,
     "\"apiMappings\": [{\"domainName\": \"a b\", \"apiId\": \"testapi001\", \"stage\": "
     "\"dev\"}]",
     "t.json:2: server.apiMappings[0].domainName: \"a b\" is not a host name"},
    {SERVER,
     "\"apiMappings\": [{\"domainName\": \"a.example.com\", \"apiMappingKey\": \"/v1\", "
     "\"apiId\": \"testapi001\", \"stage\": \"dev\"}]",
     "t.json:2: server.apiMappings[0].apiMappingKey: \"/v1\" must be empty or path segments such "
     "as \"v1\" or \"chat/v1\""},
    {SERVER, "\"apiMappings\": [{\"domainName\": \"a.example.com\", \"apiId\": \"testapi001\"}]",
     "t.json:2: server.apiMappings[0]: missing required key \"stage\""},
    {SERVER,
     "\"apiMappings\": [{\"domainName\": \"a.example.com\", \"apiId\": \"testapi001\", "
     "\"stage\": \"dev\"}, {\"domainName\": \"A.example.com\", \"apiId\": \"testapi001\", "
     "\"stage\": \"dev\"}]",
     "t.json:2: server.apiMappings[1]: domainName \"A.example.com\" with apiMappingKey \"\" is "
     "already mapped (line 2)"},

    /* ---- the API (line 4) and more APIs (line 8) ---- */
    {API, ", \"apiKeySelectionExpression\": \"$request.header.key\"",
     "t.json:4: apis[0].apiKeySelectionExpression: \"$request.header.key\" is not one of: "
     "$request.header.x-api-key, $context.authorizer.usageIdentifierKey"},
    {API, ", \"authorizers\": [{\"name\": \"a\", \"authorizerType\": \"REQUEST\"}]",
     "t.json:4: apis[0].authorizers[0]: missing required key \"authorizerUri\" (REQUEST "
     "authorizers)"},
    {API,
     ", \"policy\": {\"Statement\": [{\"Effect\": \"Deny\", \"Action\": \"execute-api:Invoke\", "
     "\"Resource\": \"*\", \"Condition\": {\"StringEquals\": {\"aws:SourceVpc\": \"v\"}}}]}",
     "t.json:4: apis[0].policy: Condition operator StringEquals is not supported (IpAddress and "
     "NotIpAddress are)"},
    {API, ", \"corsConfiguration\": {}",
     "t.json:4: apis[0].corsConfiguration: corsConfiguration is for HTTP APIs"},
    {API, ", \"models\": []", "t.json:4: apis[0].models: not supported yet"},
    {API, ", \"Name\": \"x\"", "t.json:4: apis[0].Name: unknown key (did you mean \"name\"?)"},
    {API, ", \"RouteSelectionExpression\": \"x\"",
     "t.json:4: apis[0].RouteSelectionExpression: unknown key (did you mean "
     "\"routeSelectionExpression\"?)"},
    {API, ", \"description\": 5", "t.json:4: apis[0].description: expected a string, got a number"},
    {API, ", \"tags\": []", "t.json:4: apis[0].tags: expected an object, got an array"},
    {APIS,
     ", {\"name\": \"h\", \"protocolType\": \"HTTP\", \"routes\": [{\"routeKey\": "
     "\"$connect\"}], \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1].routes[0].routeKey: \"$connect\": HTTP APIs have only one special route "
     "key, \"$default\""},
    {APIS,
     ", {\"name\": \"h\", \"protocolType\": \"websocket\", \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1].protocolType: \"websocket\" is not one of: WEBSOCKET, HTTP (did you mean "
     "\"WEBSOCKET\"?)"},
    {APIS,
     ", {\"name\": \"w\", \"protocolType\": \"WEBSOCKET\", \"routes\": [{\"routeKey\": "
     "\"$default\"}], \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1]: missing required key \"routeSelectionExpression\" (WEBSOCKET APIs need "
     "one, e.g. \"$request.body.action\")"},
    {APIS,
     ", {\"name\": \"w\", \"protocolType\": \"WEBSOCKET\", \"routeSelectionExpression\": "
     "\"$foo\", \"routes\": [{\"routeKey\": \"$default\"}], \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1].routeSelectionExpression: invalid selection expression \"$foo\": "
     "unsupported variable '$foo'"},
    {APIS,
     ", {\"protocolType\": \"WEBSOCKET\", \"routeSelectionExpression\": \"$request.body.a\", "
     "\"routes\": [{\"routeKey\": \"$default\"}], \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1]: missing required key \"name\""},
    {APIS,
     ", {\"name\": \"w\", \"protocolType\": \"WEBSOCKET\", \"routeSelectionExpression\": "
     "\"$request.body.a\", \"routes\": [{\"routeKey\": \"$default\"}]}",
     "t.json:8: apis[1]: at least one stage is required (stages)"},
    {APIS,
     ", {\"name\": \"w\", \"protocolType\": \"WEBSOCKET\", \"routeSelectionExpression\": "
     "\"$request.body.a\", \"routes\": [], \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1]: a WEBSOCKET API needs at least one route (routes)"},
    {APIS,
     ", {\"name\": \"w\", \"apiId\": \"ABCDEFGHIJ\", \"protocolType\": \"WEBSOCKET\", "
     "\"routeSelectionExpression\": \"$request.body.a\", \"routes\": [{\"routeKey\": "
     "\"$default\"}], \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1].apiId: \"ABCDEFGHIJ\" must be exactly 10 lowercase letters or digits, as "
     "AWS API ids are"},
    {APIS,
     ", {\"name\": \"w\", \"apiId\": \"testapi001\", \"protocolType\": \"WEBSOCKET\", "
     "\"routeSelectionExpression\": \"$request.body.a\", \"routes\": [{\"routeKey\": "
     "\"$default\"}], \"stages\": [{\"stageName\": \"s\"}]}",
     "t.json:8: apis[1].apiId: duplicate apiId \"testapi001\" (first at line 4)"},
    {APIS, ", 5", "t.json:8: apis[1]: expected an object, got a number"},
    {ROOT, ", \"authorizers\": []", "t.json:8: authorizers: not supported yet"},
    {ROOT, ", \"apiKeys\": [{\"name\": \"k\", \"value\": \"short\"}]",
     "t.json:8: apiKeys[0].value: API key values are at least 20 characters long"},
    {ROOT, ", \"usagePlans\": [{\"name\": \"p\", \"apiKeys\": [\"nope\"]}]",
     "t.json:8: usagePlans[0].apiKeys[0]: API key \"nope\" does not exist (apiKeys[].id or "
     "name)"},
    {ROOT, ", \"api\": []", "t.json:8: api: unknown key (did you mean \"apis\"?)"},

    /* ---- integrations (line 5) ---- */
    {INTEGS, ", {\"integrationId\": \"i2\", \"integrationType\": \"AWS\"}",
     "t.json:5: apis[0].integrations[1].integrationType: integrationType AWS is not supported; "
     "use AWS_PROXY"},
    {INTEGS, ", {\"integrationId\": \"i2\", \"integrationType\": \"LAMBDA\"}",
     "t.json:5: apis[0].integrations[1].integrationType: \"LAMBDA\" is not one of: MOCK, HTTP, "
     "HTTP_PROXY, AWS_PROXY"},
    {INTEGS, ", {\"integrationId\": \"i2\"}",
     "t.json:5: apis[0].integrations[1]: missing required key \"integrationType\""},
    {INTEG, ", \"timeoutInMillis\": 10",
     "t.json:5: apis[0].integrations[0].timeoutInMillis: 10 is out of range [50, 29000]"},
    {INTEG, ", \"timeoutInMillis\": 29001",
     "t.json:5: apis[0].integrations[0].timeoutInMillis: 29001 is out of range [50, 29000]"},
    {INTEG, ", \"timeoutInMillis\": \"200\"",
     "t.json:5: apis[0].integrations[0].timeoutInMillis: expected an integer, got a string"},
    {INTEG, ", \"integrationUri\": \"http://x\"",
     "t.json:5: apis[0].integrations[0].integrationUri: MOCK integrations have no "
     "integrationUri"},
    {INTEG, ", \"IntegrationUri\": \"http://x\"",
     "t.json:5: apis[0].integrations[0].IntegrationUri: unknown key (did you mean "
     "\"integrationUri\"?)"},
    {INTEG, ", \"integrationType\": \"HTTP\"",
     "t.json:5: apis[0].integrations[0].integrationType: duplicate key (first at line 5)"},
    {INTEGS, ", {\"integrationId\": \"i2\", \"integrationType\": \"HTTP_PROXY\"}",
     "t.json:5: apis[0].integrations[1]: missing required key \"integrationUri\""},
    {INTEGS,
     ", {\"integrationId\": \"i2\", \"integrationType\": \"HTTP\", \"integrationUri\": "
     "\"ftp://x\"}",
     "t.json:5: apis[0].integrations[1].integrationUri: \"ftp://x\" is not an http:// or https:// "
     "URL"},
    {INTEGS,
     ", {\"integrationId\": \"i2\", \"integrationType\": \"HTTP\", \"integrationUri\": "
     "\"http:///x\"}",
     "t.json:5: apis[0].integrations[1].integrationUri: \"http:///x\" is not an http:// or "
     "https:// URL"},
    {INTEGS,
     ", {\"integrationId\": \"i2\", \"integrationType\": \"HTTP_PROXY\", \"integrationUri\": "
     "\"http://${foo}/x\"}",
     "t.json:5: apis[0].integrations[1].integrationUri: only ${stageVariables.NAME} may be "
     "substituted here"},
    {INTEGS,
     ", {\"integrationId\": \"i2\", \"integrationType\": \"HTTP_PROXY\", \"integrationUri\": "
     "\"http://a b/\"}",
     "t.json:5: apis[0].integrations[1].integrationUri: must not contain spaces or control "
     "characters"},
    {INTEGS,
     ", {\"integrationId\": \"i2\", \"integrationType\": \"AWS_PROXY\", \"integrationUri\": "
     "\"arn:aws:lambda:us-east-1:123456789012:function\"}",
     "t.json:5: apis[0].integrations[1].integrationUri: "
     "\"arn:aws:lambda:us-east-1:123456789012:function\" is not an http(s) URL, a Lambda function "
     "ARN (or API Gateway invoke ARN) or a function name"},
    {INTEGS,
     ", {\"integrationId\": \"i2\", \"integrationType\": \"AWS_PROXY\", \"integrationUri\": "
     "\"my function\"}",
     "t.json:5: apis[0].integrations[1].integrationUri: must not contain spaces or control "
     "characters"},
    {INTEGS, ", {\"integrationId\": \"i1\", \"integrationType\": \"MOCK\"}",
     "t.json:5: apis[0].integrations[1].integrationId: duplicate integrationId \"i1\" (first at "
     "line 5)"},
    {INTEGS, ", {\"integrationId\": \"a/b\", \"integrationType\": \"MOCK\"}",
     "t.json:5: apis[0].integrations[1].integrationId: \"a/b\" may only hold letters, digits, "
     "'.', '_' and '-'"},
    {INTEG, ", \"integrationMethod\": \"PO ST\"",
     "t.json:5: apis[0].integrations[0].integrationMethod: \"PO ST\" is not an HTTP method"},
    {INTEG, ", \"passthroughBehavior\": \"ALWAYS\"",
     "t.json:5: apis[0].integrations[0].passthroughBehavior: \"ALWAYS\" is not one of: "
     "WHEN_NO_MATCH, WHEN_NO_TEMPLATES, NEVER"},
    {INTEG, ", \"contentHandlingStrategy\": \"BINARY\"",
     "t.json:5: apis[0].integrations[0].contentHandlingStrategy: \"BINARY\" is not one of: "
     "CONVERT_TO_BINARY, CONVERT_TO_TEXT"},
    {INTEG, ", \"payloadFormatVersion\": \"2.0\"",
     "t.json:5: apis[0].integrations[0].payloadFormatVersion: payloadFormatVersion 2.0 is for "
     "HTTP APIs; WebSocket APIs use 1.0"},
    {INTEG, ", \"payloadFormatVersion\": 1.0",
     "t.json:5: apis[0].integrations[0].payloadFormatVersion: expected a string, got a number"},
    {INTEG, ", \"connectionType\": \"VPC_LINK\"",
     "t.json:5: apis[0].integrations[0].connectionType: VPC_LINK is not supported yet"},
    {INTEG, ", \"connectionId\": \"vpc\"",
     "t.json:5: apis[0].integrations[0].connectionId: not supported yet"},
    {INTEG, ", \"credentialsArn\": 5",
     "t.json:5: apis[0].integrations[0].credentialsArn: expected a string, got a number"},
    {INTEG, ", \"requestParameters\": {\"integration.request.body.x\": \"context.connectionId\"}",
     "t.json:5: apis[0].integrations[0].requestParameters[\"integration.request.body.x\"]: "
     "\"integration.request.body.x\" is not a mapping target: use "
     "integration.request.header.NAME, integration.request.querystring.NAME or "
     "integration.request.path.NAME (NAME matching ^[a-zA-Z0-9._$-]+$)"},
    {INTEG, ", \"requestParameters\": {\"integration.request.header.a b\": \"context.requestId\"}",
     "t.json:5: apis[0].integrations[0].requestParameters[\"integration.request.header.a b\"]: "
     "\"integration.request.header.a b\" is not a mapping target: use "
     "integration.request.header.NAME, integration.request.querystring.NAME or "
     "integration.request.path.NAME (NAME matching ^[a-zA-Z0-9._$-]+$)"},
    {INTEG,
     ", \"requestParameters\": {\"integration.request.header.x\": \"$context.connectionId\"}",
     "t.json:5: apis[0].integrations[0].requestParameters[\"integration.request.header.x\"]: "
     "\"$context.connectionId\": write mapping sources without '$' (\"context.connectionId\")"},
    {INTEG, ", \"requestParameters\": {\"integration.request.header.x\": \"request.header.y\"}",
     "t.json:5: apis[0].integrations[0].requestParameters[\"integration.request.header.x\"]: "
     "\"request.header.y\" is not a mapping source: use route.request.header.NAME, "
     "route.request.querystring.NAME, route.request.multivalueheader.NAME, "
     "route.request.multivaluequerystring.NAME, route.request.body.JSONPATH, context.NAME, "
     "stageVariables.NAME or a 'static value'"},
    {INTEG,
     ", \"requestParameters\": {\"integration.request.header.x\": \"route.request.body.a[\"}",
     "t.json:5: apis[0].integrations[0].requestParameters[\"integration.request.header.x\"]: "
     "\"route.request.body.a[\" is not a mapping source: use route.request.header.NAME, "
     "route.request.querystring.NAME, route.request.multivalueheader.NAME, "
     "route.request.multivaluequerystring.NAME, route.request.body.JSONPATH, context.NAME, "
     "stageVariables.NAME or a 'static value'"},
    {INTEG, ", \"requestParameters\": {\"integration.request.header.x\": 5}",
     "t.json:5: apis[0].integrations[0].requestParameters[\"integration.request.header.x\"]: "
     "expected a string, got a number"},
    {INTEG, ", \"requestTemplates\": {\"$default\": 5}",
     "t.json:5: apis[0].integrations[0].requestTemplates.$default: expected a string, got a "
     "number"},
    {INTEG, ", \"requestTemplates\": \"{}\"",
     "t.json:5: apis[0].integrations[0].requestTemplates: expected an object, got a string"},
    {INTEG, ", \"templateSelectionExpression\": \"${request.body.x\"",
     "t.json:5: apis[0].integrations[0].templateSelectionExpression: invalid selection "
     "expression \"${request.body.x\": '${' without a closing '}'"},
    /* A reason quoting the value keeps the message on one line (found by fuzzing). */
    {INTEG, ", \"templateSelectionExpression\": \"${a\\nb}\"",
     "t.json:5: apis[0].integrations[0].templateSelectionExpression: invalid selection "
     "expression \"${a\\nb}\": unsupported variable '$a\\nb'"},
    {INTEG, ", \"integrationResponses\": [{\"integrationResponseKey\": \"200\"}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0].integrationResponseKey: \"200\" "
     "must be \"$default\" or a /regex/"},
    /* Found by fuzzing: 3.5 s in regcomp. */
    {INTEG,
     ", \"integrationResponses\": [{\"integrationResponseKey\": \"/((a||||||||||){20}){20}/\"}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0].integrationResponseKey: the "
     "regular expression is too complex (its length times its counted repetitions exceeds "
     "2048)"},
    {INTEG,
     ", \"integrationResponses\": [{\"integrationResponseKey\": \"/5[0-9]{2}|4(0[0-9]|1[0-3])/\"}]",
     NULL},
    {INTEG, ", \"integrationResponses\": [{\"integrationResponseKey\": \"/[/\"}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0].integrationResponseKey: \"[\" is "
     "not a valid regular expression (POSIX extended, plus \\d \\s \\w)"},
    {INTEG, ", \"integrationResponses\": [{\"integrationResponseKey\": \"/((a{20}){20}){20}/\"}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0].integrationResponseKey: the "
     "regular expression is too complex (its length times its counted repetitions exceeds "
     "2048)"},
    {INTEG,
     ", \"integrationResponses\": [{\"integrationResponseKey\": \"$default\"}, "
     "{\"integrationResponseKey\": \"$default\"}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[1].integrationResponseKey: duplicate "
     "integrationResponseKey \"$default\" (first at line 5)"},
    {INTEG, ", \"integrationResponses\": [{\"responseTemplates\": {}}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0]: missing required key "
     "\"integrationResponseKey\""},
    {INTEG,
     ", \"integrationResponses\": [{\"integrationResponseKey\": \"$default\", "
     "\"responseTemplates\": {\"$default\": []}}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0].responseTemplates.$default: "
     "expected a string, got an array"},
    {INTEG,
     ", \"integrationResponses\": [{\"integrationResponseKey\": \"$default\", "
     "\"contentHandlingStrategy\": \"TEXT\"}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0].contentHandlingStrategy: \"TEXT\" "
     "is not one of: CONVERT_TO_BINARY, CONVERT_TO_TEXT"},
    {INTEG,
     ", \"integrationResponses\": [{\"integrationResponseKey\": \"$default\", "
     "\"templateSelectionExpression\": \"$\"}]",
     "t.json:5: apis[0].integrations[0].integrationResponses[0].templateSelectionExpression: "
     "invalid selection expression \"$\": '$' must start a variable (write '\\$' for a dollar "
     "sign)"},

    /* ---- routes (line 6) ---- */
    {ROUTES, ", {\"routeKey\": \"$foo\"}",
     "t.json:6: apis[0].routes[1].routeKey: \"$foo\": custom route keys must not start with '$' "
     "(only $connect, $disconnect and $default do)"},
    {ROUTES, ", {\"target\": \"integrations/i1\"}",
     "t.json:6: apis[0].routes[1]: missing required key \"routeKey\""},
    {ROUTES, ", {\"routeKey\": \"\"}", "t.json:6: apis[0].routes[1].routeKey: must not be empty"},
    {ROUTES, ", {\"routeKey\": \"$default\"}",
     "t.json:6: apis[0].routes[1].routeKey: duplicate routeKey \"$default\" (first at line 6)"},
    {ROUTES, ", {\"routeKey\": \"a\", \"target\": \"integrations/i2\"}",
     "t.json:6: apis[0].routes[1].target: integration \"i2\" does not exist (did you mean "
     "\"i1\"?)"},
    {ROUTES, ", {\"routeKey\": \"a\", \"target\": \"i1\"}",
     "t.json:6: apis[0].routes[1].target: must be \"integrations/{integrationId}\", got \"i1\""},
    {ROUTES,
     ", {\"routeKey\": \"a\", \"routeId\": \"r1\"}, {\"routeKey\": \"b\", \"routeId\": \"r1\"}",
     "t.json:6: apis[0].routes[2].routeId: duplicate routeId \"r1\" (first at line 6)"},
    {ROUTE, ", \"routeId\": \"bad id\"",
     "t.json:6: apis[0].routes[0].routeId: \"bad id\" may only hold letters, digits, '.', '_' and "
     "'-'"},
    {ROUTE, ", \"routeResponseSelectionExpression\": \"$request.body.x\"",
     "t.json:6: apis[0].routes[0].routeResponseSelectionExpression: only \"$default\" is "
     "supported (as in AWS), got \"$request.body.x\""},
    /* Issue 7: authorization lives on $connect (routes[1] here); what the gateway does not
     * enforce yet is refused, never accepted and ignored. */
    {ROUTE, ", \"authorizationType\": \"AWS_IAM\"",
     "t.json:6: apis[0].routes[0].authorizationType: authorization can only be configured on "
     "the $connect route"},
    {SERVER,
     "\"credentials\": [{\"accessKeyId\": \"AKID1\", \"secretAccessKey\": \"s\", "
     "\"invokeResources\": [\"abc/dev/*\"]}]",
     "t.json:2: server.credentials[0].invokeResources[0]: \"abc/dev/*\" is not an execute-api ARN "
     "(arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/...)"},
    {ROUTES, ", {\"routeKey\": \"$connect\", \"authorizationType\": \"CUSTOM\"}",
     "t.json:6: apis[0].routes[1]: missing required key \"authorizerId\" (authorizationType "
     "CUSTOM)"},
    {ROUTES, ", {\"routeKey\": \"$connect\", \"authorizationType\": \"JWT\"}",
     "t.json:6: apis[0].routes[1].authorizationType: JWT authorizers are for HTTP APIs"},
    {ROUTES,
     ", {\"routeKey\": \"$connect\", \"authorizationType\": \"CUSTOM\", \"authorizerId\": "
     "\"abc\"}",
     "t.json:6: apis[0].routes[1].authorizerId: authorizer \"abc\" does not exist"},
    {ROUTE, ", \"apiKeyRequired\": true",
     "t.json:6: apis[0].routes[0].apiKeyRequired: API keys can only be required on the $connect "
     "route"},
    {ROUTES, ", {\"routeKey\": \"$connect\", \"apiKeyRequired\": true}", NULL},
    {ROUTE, ", \"apiKeyRequired\": \"false\"",
     "t.json:6: apis[0].routes[0].apiKeyRequired: expected a boolean, got a string"},
    {ROUTE, ", \"requestParameters\": {\"route.request.body.x\": {\"required\": true}}",
     "t.json:6: apis[0].routes[0].requestParameters[\"route.request.body.x\"]: "
     "\"route.request.body.x\" is not a route parameter: use route.request.header.NAME or "
     "route.request.querystring.NAME"},
    {ROUTE, ", \"requestParameters\": {\"route.request.header.x\": {\"required\": \"yes\"}}",
     "t.json:6: apis[0].routes[0].requestParameters[\"route.request.header.x\"].required: "
     "expected a boolean, got a string"},
    {ROUTE, ", \"requestParameters\": {\"route.request.header.x\": {\"Required\": true}}",
     "t.json:6: apis[0].routes[0].requestParameters[\"route.request.header.x\"].Required: unknown "
     "key (did you mean \"required\"?)"},
    {ROUTE, ", \"requestParameters\": {\"route.request.header.x\": true}",
     "t.json:6: apis[0].routes[0].requestParameters[\"route.request.header.x\"]: expected an "
     "object, got a boolean"},
    {ROUTE, ", \"modelSelectionExpression\": \"$request.body.x\"",
     "t.json:6: apis[0].routes[0].modelSelectionExpression: not supported yet (only \"\" is "
     "accepted)"},
    {ROUTE, ", \"requestModels\": {\"$default\": \"M\"}",
     "t.json:6: apis[0].routes[0].requestModels: not supported yet (only {} is accepted)"},
    {ROUTE, ", \"routeResponses\": [{\"routeResponseKey\": \"200\"}]",
     "t.json:6: apis[0].routes[0].routeResponses[0].routeResponseKey: only \"$default\" is "
     "supported (as in AWS), got \"200\""},
    {ROUTE,
     ", \"routeResponses\": [{\"routeResponseKey\": \"$default\"}, {\"routeResponseKey\": "
     "\"$default\"}]",
     "t.json:6: apis[0].routes[0].routeResponses[1]: route \"$default\" already has a "
     "\"$default\" route response"},
    {ROUTE, ", \"routeResponses\": [{}]",
     "t.json:6: apis[0].routes[0].routeResponses[0]: missing required key \"routeResponseKey\""},
    {ROUTE, ", \"routeResponses\": [{\"routeResponseKey\": \"$default\", \"routeKey\": \"x\"}]",
     "t.json:6: apis[0].routes[0].routeResponses[0].routeKey: unknown key"},
    {ROUTE,
     ", \"routeResponses\": [{\"routeResponseKey\": \"$default\", "
     "\"modelSelectionExpression\": \"${x\"}]",
     "t.json:6: apis[0].routes[0].routeResponses[0].modelSelectionExpression: invalid selection "
     "expression \"${x\": '${' without a closing '}'"},

    /* ---- API-level lists (line 7) ---- */
    {APIEND, ", \"routeResponses\": [{\"routeKey\": \"nope\", \"routeResponseKey\": \"$default\"}]",
     "t.json:7: apis[0].routeResponses[0].routeKey: route \"nope\" does not exist"},
    {APIEND, ", \"routeResponses\": [{\"routeId\": \"nope\", \"routeResponseKey\": \"$default\"}]",
     "t.json:7: apis[0].routeResponses[0].routeId: route \"nope\" does not exist"},
    {APIEND, ", \"routeResponses\": [{\"routeResponseKey\": \"$default\"}]",
     "t.json:7: apis[0].routeResponses[0]: missing routeId or routeKey (which route this "
     "response is for)"},
    {APIEND, ", \"routeResponses\": [{\"routeKey\": \"$default\"}]",
     "t.json:7: apis[0].routeResponses[0]: missing required key \"routeResponseKey\""},
    {APIEND,
     ", \"integrationResponses\": [{\"integrationId\": \"i9\", \"integrationResponseKey\": "
     "\"$default\"}]",
     "t.json:7: apis[0].integrationResponses[0].integrationId: integration \"i9\" does not exist "
     "(did you mean \"i1\"?)"},
    {APIEND, ", \"integrationResponses\": [{\"integrationResponseKey\": \"$default\"}]",
     "t.json:7: apis[0].integrationResponses[0]: missing required key \"integrationId\""},
    {APIEND,
     ", \"integrationResponses\": [{\"integrationId\": \"i1\", \"integrationResponseKey\": "
     "\"$default\"}, {\"integrationId\": \"i1\", \"integrationResponseKey\": \"$default\"}]",
     "t.json:7: apis[0].integrationResponses[1]: duplicate integrationResponseKey \"$default\" "
     "for integration \"i1\" (first at line 7)"},

    /* ---- stages (line 7) ---- */
    {STAGES, ", {\"stageName\": \"dev\"}",
     "t.json:7: apis[0].stages[1].stageName: duplicate stageName \"dev\" (first at line 7)"},
    {STAGES, ", {\"stageName\": \"a b\"}",
     "t.json:7: apis[0].stages[1].stageName: \"a b\" must be 1 to 128 letters, digits, '_' or "
     "'-', or \"$default\""},
    {STAGES, ", {\"description\": \"x\"}",
     "t.json:7: apis[0].stages[1]: missing required key \"stageName\""},
    {STAGE, ", \"stageVariables\": {\"a-b\": \"x\"}",
     "t.json:7: apis[0].stages[0].stageVariables.a-b: stage variable names are 1 to 64 letters, "
     "digits or '_'"},
    {STAGE, ", \"stageVariables\": {\"a\": \"x y\"}",
     "t.json:7: apis[0].stages[0].stageVariables.a: \"x y\": stage variable values are 1 to 2048 "
     "characters among A-Z a-z 0-9 - . _ ~ : / ? # & = , (as AWS)"},
    {STAGE, ", \"stageVariables\": {\"a\": \"\"}",
     "t.json:7: apis[0].stages[0].stageVariables.a: \"\": stage variable values are 1 to 2048 "
     "characters among A-Z a-z 0-9 - . _ ~ : / ? # & = , (as AWS)"},
    {STAGE, ", \"stageVariables\": {\"port\": 8080}",
     "t.json:7: apis[0].stages[0].stageVariables.port: expected a string, got a number"},
    {STAGE, ", \"stageVariable\": {}",
     "t.json:7: apis[0].stages[0].stageVariable: unknown key (did you mean \"stageVariables\"?)"},
    /* accessLogSettings (issue 8) */
    {STAGE,
     ", \"accessLogSettings\": {\"destinationArn\": \"logs/a.log\", \"format\": "
     "\"$context.requestId $context.status\"}",
     NULL},
    {STAGE, ", \"accessLogSettings\": {}", NULL},
    {STAGE, ", \"accessLogSettings\": {\"destinationArn\": \"arn:aws:s3:::bucket\"}",
     "t.json:7: apis[0].stages[0].accessLogSettings.destinationArn: \"arn:aws:s3:::bucket\": "
     "expected a file path, \"stdout\", arn:aws:logs:REGION:ACCOUNT:log-group:NAME or "
     "arn:aws:firehose:REGION:ACCOUNT:deliverystream/NAME"},
    {STAGE,
     ", \"accessLogSettings\": {\"destinationArn\": \"stdout\", \"format\": "
     "\"$context.status\"}",
     "t.json:7: apis[0].stages[0].accessLogSettings.format: must contain $context.requestId or "
     "$context.extendedRequestId"},
    {STAGE, ", \"accessLogSettings\": {\"format\": \"$context.requestId\"}",
     "t.json:7: apis[0].stages[0].accessLogSettings.format: needs "
     "accessLogSettings.destinationArn"},
    {STAGE, ", \"accessLogSettings\": {\"destinationArn\": \"stdout\", \"formt\": \"x\"}",
     "t.json:7: apis[0].stages[0].accessLogSettings.formt: unknown key (did you mean "
     "\"format\"?)"},
    {STAGE, ", \"clientCertificateId\": \"x\"",
     "t.json:7: apis[0].stages[0].clientCertificateId: not supported yet"},
    {STAGE, ", \"routeSettings\": {\"nope\": {}}",
     "t.json:7: apis[0].stages[0].routeSettings.nope: route \"nope\" does not exist"},
    {STAGE, ", \"routeSettings\": {\"$defaul\": {}}",
     "t.json:7: apis[0].stages[0].routeSettings.$defaul: route \"$defaul\" does not exist (did "
     "you mean \"$default\"?)"},
    {STAGE, ", \"routeSettings\": {\"$default\": {\"loggingLevel\": \"DEBUG\"}}",
     "t.json:7: apis[0].stages[0].routeSettings.$default.loggingLevel: \"DEBUG\" is not one of: "
     "ERROR, INFO, OFF"},
    {STAGE, ", \"defaultRouteSettings\": {\"throttlingRateLimit\": \"x\"}",
     "t.json:7: apis[0].stages[0].defaultRouteSettings.throttlingRateLimit: expected a number, "
     "got a string"},
    {STAGE, ", \"defaultRouteSettings\": {\"throttlingBurstLimit\": -1}",
     "t.json:7: apis[0].stages[0].defaultRouteSettings.throttlingBurstLimit: -1 is out of range "
     "[0, 1000000]"},
    {STAGE, ", \"defaultRouteSettings\": {\"dataTraceEnabled\": 1}",
     "t.json:7: apis[0].stages[0].defaultRouteSettings.dataTraceEnabled: expected a boolean, got "
     "a number"},
    {STAGE, ", \"autoDeploy\": \"yes\"",
     "t.json:7: apis[0].stages[0].autoDeploy: expected a boolean, got a string"},
};

static void test_base_config_is_valid(void **state)
{
    (void)state;
    char *text = base_with(SERVER, "");
    expect_ok(text);
    free(text);
}

static void test_every_validation_message(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char *text = base_with(CASES[i].slot, CASES[i].text);
        int rc = parse(text);
        if (!CASES[i].want) { /* a valid neighbour of the cases around it */
            if (rc != PT_OK) {
                print_error("case %zu: wanted a valid config, got:\n%s\n", i, err.p);
                failed++;
            }
            free(text);
            continue;
        }
        if (rc == PT_OK || cfg || !has_line(CASES[i].want) || count_lines(err.p) != 1) {
            print_error("case %zu: wanted\n%s\ngot rc %d:\n%s\n", i, CASES[i].want, rc,
                        err.p ? err.p : "");
            failed++;
        }
        free(text);
    }
    assert_int_equal(failed, 0);
}

/* ============================================================================================
 * Examples, defaults and the model
 * ========================================================================================== */

static route_route_t *route(const route_api_t *api, const char *key)
{
    return route_find(api, key, strlen(key));
}

static void test_examples_parse(void **state)
{
    (void)state;
    assert_int_equal(route_config_load_file("examples/echo.json", &cfg, &err), PT_OK);
    assert_int_equal(cfg->napis, 1);
    route_api_t *api = &cfg->apis[0];
    assert_string_equal(cfg->server.listen.host, "127.0.0.1");
    assert_int_equal(cfg->server.listen.port, 8080);
    assert_string_equal(cfg->server.admin_listen.host, "127.0.0.1");
    assert_int_equal(cfg->server.admin_listen.port, 9080);
    assert_string_equal(cfg->server.data_dir, "./data");
    assert_string_equal(api->route_selection_expression, "$request.body.action");
    assert_non_null(api->rse);
    assert_int_equal(api->nstages, 1);
    assert_string_equal(api->stages[0].name, "dev");
    assert_non_null(api->r_connect);
    assert_non_null(api->r_default);
    assert_null(api->r_disconnect);
    assert_false(api->r_connect->two_way);
    assert_int_equal(api->r_connect->integration->type, ROUTE_INTEG_MOCK);
    assert_true(api->r_default->two_way);
    route_route_t *echo = route(api, "echo"), *ping = route(api, "ping");
    assert_non_null(echo);
    assert_non_null(ping);
    assert_true(echo->two_way);
    assert_true(ping->two_way);
    assert_ptr_equal(echo->integration, api->r_default->integration);
    const route_integration_t *pong = ping->integration;
    assert_int_equal(pong->nresponses, 1);
    assert_string_equal(pong->responses[0].key, "$default");
    assert_string_equal(route_map_get(&pong->responses[0].response_templates, "$default"),
                        "{\"action\":\"pong\"}");
    assert_string_equal(
        route_map_get(&echo->integration->responses[0].response_templates, "$default"),
        "$input.body");
    route_config_free(cfg);
    cfg = NULL;

    assert_int_equal(route_config_load_file("examples/chat-http.json", &cfg, &err), PT_OK);
    api = &cfg->apis[0];
    route_route_t *send = route(api, "sendmessage");
    assert_non_null(send);
    assert_int_equal(send->integration->type, ROUTE_INTEG_HTTP_PROXY);
    assert_string_equal(route_map_get(&send->integration->request_parameters,
                                      "integration.request.header.connectionId"),
                        "context.connectionId");
    assert_non_null(strstr(send->integration->uri, "${stageVariables."));
    assert_int_equal(api->r_connect->integration->type, ROUTE_INTEG_AWS_PROXY);
    assert_non_null(route_map_get(&api->stages[0].variables, "backendHost"));
    assert_int_equal(cfg->server.ncredentials, 1);
    assert_int_equal(cfg->server.credentials[0].nstages, 1);
    assert_string_equal(cfg->server.credentials[0].stages[0], "dev");
}

#define MINIMAL                                                                                    \
    "{\"apis\": [{\"name\": \"m\", \"protocolType\": \"WEBSOCKET\", "                              \
    "\"routeSelectionExpression\": \"$request.body.action\", "                                     \
    "\"integrations\": [{\"integrationType\": \"HTTP_PROXY\", \"integrationUri\": "                \
    "\"http://127.0.0.1:3000/x\"}], "                                                              \
    "\"routes\": [{\"routeKey\": \"$default\"}], \"stages\": [{\"stageName\": \"prod\"}]}]}"

static void test_defaults(void **state)
{
    (void)state;
    expect_ok(MINIMAL);
    const route_server_t *s = &cfg->server;
    assert_string_equal(cfg->source, "t.json");
    assert_string_equal(s->listen.host, "0.0.0.0");
    assert_int_equal(s->listen.port, 8080);
    assert_string_equal(s->admin_listen.host, "127.0.0.1");
    assert_int_equal(s->admin_listen.port, 9080);
    assert_string_equal(s->data_dir, "./data");
    assert_int_equal(s->workers, 0);
    assert_string_equal(s->region, "us-east-1");
    assert_string_equal(s->account_id, "000000000000");
    assert_int_equal(s->node_id, 0);
    assert_string_equal(s->log_level, "info");
    assert_int_equal(s->ncredentials, 0);
    assert_int_equal(s->nmappings, 0);
    const route_limits_t *l = &s->limits;
    assert_int_equal(l->max_frame_bytes, 32768);
    assert_int_equal(l->max_message_bytes, 131072);
    assert_int_equal(l->idle_timeout_s, 600);
    assert_int_equal(l->max_connection_s, 7200);
    assert_int_equal(l->max_head_bytes, 16384);
    assert_int_equal(l->head_timeout_s, 10);
    assert_int_equal(l->max_connections, 0);
    assert_int_equal(l->max_pending_upgrades, 10000);
    assert_int_equal(l->outbound_queue_messages, 1024);
    assert_int_equal(l->outbound_queue_bytes, 4194304);
    assert_int_equal(l->max_request_body_bytes, 10485760);
    assert_int_equal(l->max_integration_response_bytes, 10485760);
    assert_false(l->allow_binary);
    assert_int_equal(l->shutdown_grace_ms, 5000);

    const route_api_t *api = &cfg->apis[0];
    assert_string_equal(api->api_key_selection_expression, "$request.header.x-api-key");
    assert_null(api->description);
    assert_int_equal(api->protocol, ROUTE_PROTO_WEBSOCKET);
    const route_integration_t *g = &api->integrations[0];
    assert_string_equal(g->method, "POST");
    assert_int_equal(g->timeout_ms, 29000);
    assert_string_equal(g->passthrough_behavior, "WHEN_NO_MATCH");
    assert_string_equal(g->payload_format_version, "1.0");
    assert_null(g->content_handling_strategy);
    assert_null(g->template_selection_expression);
    assert_null(g->tse);
    assert_int_equal(g->request_parameters.n, 0);
    const route_route_t *r = &api->routes[0];
    assert_null(r->integration); /* no target */
    assert_string_equal(r->authorization_type, "NONE");
    assert_false(r->api_key_required);
    assert_false(r->two_way);
    assert_null(r->route_response_selection_expression);
    const route_stage_t *st = &api->stages[0];
    assert_int_equal(st->variables.n, 0);
    assert_false(st->default_route_settings.has_throttle);
    assert_int_equal(st->nroute_settings, 0);
    assert_null(st->access_log_destination);
}

static void test_values_are_stored(void **state)
{
    (void)state;
    const char *text =
        "{\"server\": {\"listen\": \"[::1]:0\", \"adminListen\": \"localhost:9999\", \"workers\": "
        "4, \"region\": \"eu-west-3\", \"accountId\": \"123456789012\", \"nodeId\": 7, "
        "\"logLevel\": \"debug\", \"dataDir\": \"/var/lib/portico\", \"limits\": "
        "{\"maxFrameBytes\": 65536, \"allowBinary\": true, \"maxRequestBodyBytes\": 1024}, "
        "\"credentials\": [{\"accessKeyId\": \"AKID\", \"secretAccessKey\": \"s/+x\", "
        "\"sessionToken\": \"tok\"}], \"apiMappings\": [{\"domainName\": \"chat.example.com\", "
        "\"apiMappingKey\": \"v1\", \"apiId\": \"abcdefghij\", \"stage\": \"prod\"}]},\n"
        "\"apis\": [{\"name\": \"m\", \"apiId\": \"abcdefghij\", \"protocolType\": "
        "\"WEBSOCKET\", \"description\": \"d\", \"routeSelectionExpression\": "
        "\"${request.body.a}/${request.body.b}\", \"apiKeySelectionExpression\": "
        "\"$context.authorizer.usageIdentifierKey\", \"tags\": {\"team\": \"x\"}, \"version\": "
        "\"1\",\n"
        "\"integrations\": [{\"integrationId\": \"h\", \"integrationType\": \"HTTP\", "
        "\"integrationUri\": \"https://${stageVariables.host}:8443/p?q=1\", "
        "\"integrationMethod\": \"PUT\", \"timeoutInMillis\": 50, \"passthroughBehavior\": "
        "\"NEVER\", \"contentHandlingStrategy\": \"CONVERT_TO_TEXT\", \"connectionType\": "
        "\"INTERNET\", \"credentialsArn\": \"arn:aws:iam::*:user/*\", \"description\": \"x\", "
        "\"templateSelectionExpression\": \"\\\\$default\", \"requestTemplates\": {\"$default\": "
        "\"{}\"}, \"requestParameters\": {\"integration.request.header.cid\": "
        "\"context.connectionId\", \"integration.request.querystring.q\": "
        "\"route.request.querystring.q\", \"integration.request.path.p\": "
        "\"route.request.body.a[0]['b']\", \"integration.request.header.s\": \"'static, value'\", "
        "\"integration.request.header.v\": \"stageVariables.host\", "
        "\"integration.request.header.m\": \"route.request.multivalueheader.X-Y\"}, "
        "\"integrationResponses\": [{\"integrationResponseKey\": \"/4\\\\d\\\\d/\", "
        "\"templateSelectionExpression\": \"${integration.response.statuscode}\", "
        "\"responseTemplates\": {\"404\": \"gone\"}, \"responseParameters\": {\"a\": \"b\"}, "
        "\"contentHandlingStrategy\": \"CONVERT_TO_BINARY\"}]}],\n"
        "\"routes\": [{\"routeKey\": \"$connect\", \"routeId\": \"c0nnect\", \"target\": "
        "\"integrations/h\", \"operationName\": \"Connect\", \"authorizationType\": \"NONE\", "
        "\"apiKeyRequired\": false, \"modelSelectionExpression\": \"\", \"requestModels\": {}, "
        "\"requestParameters\": {\"route.request.header.Auth\": {\"required\": true}, "
        "\"route.request.querystring.t\": {}}}],\n"
        "\"stages\": [{\"stageName\": \"prod\", \"description\": \"\", \"autoDeploy\": true, "
        "\"deploymentId\": \"abc\", \"tags\": {}, \"stageVariables\": {\"host\": "
        "\"backend.internal:8080\"}}, {\"stageName\": \"$default\"}]}]}";
    expect_ok(text);
    const route_server_t *s = &cfg->server;
    assert_string_equal(s->listen.host, "::1");
    assert_int_equal(s->listen.port, 0);
    assert_string_equal(s->admin_listen.host, "localhost");
    assert_int_equal(s->admin_listen.port, 9999);
    assert_int_equal(s->workers, 4);
    assert_string_equal(s->region, "eu-west-3");
    assert_string_equal(s->account_id, "123456789012");
    assert_int_equal(s->node_id, 7);
    assert_string_equal(s->log_level, "debug");
    assert_string_equal(s->data_dir, "/var/lib/portico");
    assert_int_equal(s->limits.max_frame_bytes, 65536);
    assert_int_equal(s->limits.max_message_bytes, 131072);
    assert_true(s->limits.allow_binary);
    assert_int_equal(s->limits.max_request_body_bytes, 1024);
    assert_string_equal(s->credentials[0].access_key_id, "AKID");
    assert_string_equal(s->credentials[0].secret_access_key, "s/+x");
    assert_string_equal(s->credentials[0].session_token, "tok");
    assert_null(s->credentials[0].stages);
    assert_int_equal(s->nmappings, 1);
    const route_mapping_t *m = &s->mappings[0];
    assert_string_equal(m->domain_name, "chat.example.com");
    assert_string_equal(m->api_mapping_key, "v1");
    assert_ptr_equal(m->api, &cfg->apis[0]);
    assert_ptr_equal(m->stage_ref, &cfg->apis[0].stages[0]);
    assert_ptr_equal(route_api_find(cfg, "abcdefghij"), &cfg->apis[0]);

    const route_api_t *api = &cfg->apis[0];
    assert_string_equal(api->description, "d");
    assert_string_equal(api->api_key_selection_expression,
                        "$context.authorizer.usageIdentifierKey");
    const route_integration_t *g = &api->integrations[0];
    assert_int_equal(g->type, ROUTE_INTEG_HTTP);
    assert_string_equal(g->uri, "https://${stageVariables.host}:8443/p?q=1");
    assert_string_equal(g->method, "PUT");
    assert_int_equal(g->timeout_ms, 50);
    assert_string_equal(g->passthrough_behavior, "NEVER");
    assert_string_equal(g->content_handling_strategy, "CONVERT_TO_TEXT");
    assert_string_equal(g->template_selection_expression, "\\$default");
    assert_non_null(g->tse);
    assert_int_equal(g->request_parameters.n, 6);
    assert_string_equal(route_map_get(&g->request_parameters, "integration.request.header.s"),
                        "'static, value'");
    assert_string_equal(route_map_get(&g->request_templates, "$default"), "{}");
    assert_int_equal(g->nresponses, 1);
    assert_string_equal(g->responses[0].key, "/4\\d\\d/");
    assert_non_null(g->responses[0].tse);
    assert_string_equal(route_map_get(&g->responses[0].response_templates, "404"), "gone");
    assert_string_equal(route_map_get(&g->responses[0].response_parameters, "a"), "b");
    assert_string_equal(g->responses[0].content_handling_strategy, "CONVERT_TO_BINARY");
    assert_int_equal(g->responses[0].line, 3);
    const route_route_t *r = api->r_connect;
    assert_string_equal(r->id, "c0nnect");
    assert_ptr_equal(r->integration, g);
    assert_string_equal(r->operation_name, "Connect");
    assert_string_equal(route_map_get(&r->request_parameters, "route.request.header.Auth"), "true");
    assert_string_equal(route_map_get(&r->request_parameters, "route.request.querystring.t"),
                        "false");
    assert_int_equal(r->line, 4);
    assert_int_equal(api->nstages, 2);
    assert_string_equal(api->stages[0].description, "");
    assert_string_equal(route_map_get(&api->stages[0].variables, "host"), "backend.internal:8080");
    assert_non_null(route_stage_find(api, "$default", 8));
    assert_int_equal(api->line, 2);
}

static void test_aws_proxy_uri_shapes(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "http://127.0.0.1:3002/2015-03-31/functions/chat-dev-echo/invocations",
        "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/f/invocations",
        ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
         "arn:aws:lambda:us-east-1:123456789012:function:onConnect/invocations"),
        "arn:aws:lambda:us-east-1:123456789012:function:onConnect",
        "arn:aws:lambda:us-east-1:123456789012:function:onConnect:live",
        "arn:aws:lambda:us-east-1:123456789012:function:${stageVariables.fn}",
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:f:$LATEST",
        "onConnect",
        "onConnect:prod",
        "chat-${stageVariables.stage}-echo",
        "${stageVariables.lambdaUrl}",
    };
    static const char *const bad[] = {
        "arn:aws:s3:::bucket",
        "arn:aws:lambda:us-east-1:123456789012:layer:x",
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/nope/invocations",
        "ftp://x/y",
        "a/b",
        ":x",
    };
    char text[1024];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"apis\": [{\"name\": \"m\", \"protocolType\": \"WEBSOCKET\", "
                 "\"routeSelectionExpression\": \"$request.body.action\", \"integrations\": "
                 "[{\"integrationType\": \"AWS_PROXY\", \"integrationUri\": \"%s\"}], \"routes\": "
                 "[{\"routeKey\": \"$default\"}], \"stages\": [{\"stageName\": \"s\"}]}]}",
                 ok[i]);
        expect_ok(text);
        assert_string_equal(cfg->apis[0].integrations[0].uri, ok[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text,
                 "{\"apis\": [{\"name\": \"m\", \"protocolType\": \"WEBSOCKET\", "
                 "\"routeSelectionExpression\": \"$request.body.action\", \"integrations\": "
                 "[{\"integrationType\": \"AWS_PROXY\", \"integrationUri\": \"%s\"}], \"routes\": "
                 "[{\"routeKey\": \"$default\"}], \"stages\": [{\"stageName\": \"s\"}]}]}",
                 bad[i]);
        /* Long values are shortened in messages; the start and the reason are enough. */
        assert_int_equal(parse(text), PT_EINVAL);
        assert_int_equal(count_lines(err.p), 1);
        assert_true(
            starts_with_line(err.p, "t.json:1: apis[0].integrations[0].integrationUri: \""));
        assert_non_null(strstr(err.p, "\" is not an http(s) URL, a Lambda function ARN (or API "
                                      "Gateway invoke ARN) or a function name\n"));
    }
}

/* ============================================================================================
 * Limits that need long values
 * ========================================================================================== */

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_size_limits(void **state)
{
    (void)state;
    char *big = repeat('x', 32769);
    char *slot = malloc(40000);

    snprintf(slot, 40000, ", \"requestTemplates\": {\"$default\": \"%s\"}", big);
    char *text = base_with(INTEG, slot);
    expect_err(text, "t.json:5: apis[0].integrations[0].requestTemplates.$default: template is "
                     "32769 bytes; the limit is 32768 (32 KB)");
    free(text);
    big[32768] = '\0';
    snprintf(slot, 40000, ", \"requestTemplates\": {\"$default\": \"%s\"}", big);
    text = base_with(INTEG, slot);
    expect_ok(text);
    free(text);

    big[513] = '\0';
    big[0] = big[512] = '\'';
    snprintf(slot, 40000, ", \"requestParameters\": {\"integration.request.header.x\": \"%s\"}",
             big);
    text = base_with(INTEG, slot);
    expect_err(text, "t.json:5: apis[0].integrations[0].requestParameters[\"integration.request."
                     "header.x\"]: is 513 characters long; the limit is 512");
    free(text);
    big[511] = '\'';
    big[512] = '\0';
    snprintf(slot, 40000, ", \"requestParameters\": {\"integration.request.header.x\": \"%s\"}",
             big);
    text = base_with(INTEG, slot);
    expect_ok(text);
    free(text);

    /* 101 stage variables; AWS allows 100. */
    buf_t vars = BUF_INIT;
    buf_puts(&vars, ", \"stageVariables\": {");
    for (int i = 0; i < 101; i++)
        buf_printf(&vars, "%s\"v%d\": \"x\"", i ? ", " : "", i);
    buf_puts(&vars, "}");
    text = base_with(STAGE, vars.p);
    expect_err(text, "t.json:7: apis[0].stages[0].stageVariables: has 101 entries; the limit is "
                     "100");
    free(text);
    buf_free(&vars);

    char *name = repeat('n', 65);
    snprintf(slot, 40000, ", \"stageVariables\": {\"%s\": \"x\"}", name);
    text = base_with(STAGE, slot);
    expect_err(text, "t.json:7: apis[0].stages[0].stageVariables.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
                     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn: stage variable names are 1 to 64 letters, "
                     "digits or '_'");
    free(text);
    free(name);

    free(slot);
    free(big);
}

static void test_error_cap(void **state)
{
    (void)state;
    buf_t s = BUF_INIT;
    for (int i = 0; i < 25; i++)
        buf_printf(&s, "%s\"unknown%d\": 1", i ? ", " : "", i);
    char *text = base_with(SERVER, s.p);
    int rc = parse(text);
    assert_int_equal(rc, PT_EINVAL);
    assert_null(cfg);
    assert_int_equal(count_lines(err.p), 21);
    assert_true(has_line("t.json:2: server.unknown0: unknown key"));
    assert_true(has_line("t.json: 5 more errors not shown"));
    free(text);
    buf_free(&s);
}

static void test_errors_sorted_by_line(void **state)
{
    (void)state;
    /* The loader reads apis before server and integrations before routes; the user reads top
     * to bottom. */
    const char *text = "{\n"
                       "\"server\": {\"workers\": -1},\n"
                       "\"apis\": [{\"name\": \"x\", \"protocolType\": \"WEBSOCKET\",\n"
                       "\"routeSelectionExpression\": \"$request.body.a\",\n"
                       "\"routes\": [{\"routeKey\": \"$x\"}],\n"
                       "\"integrations\": [{\"integrationType\": \"AWS\"}],\n"
                       "\"stages\": [{\"stageName\": \"s\"}]}]}\n";
    assert_int_equal(parse(text), PT_EINVAL);
    const char *want = "t.json:2: server.workers: -1 is out of range [0, 64]\n"
                       "t.json:5: apis[0].routes[0].routeKey: \"$x\": custom route keys must not "
                       "start with '$' (only $connect, $disconnect and $default do)\n"
                       "t.json:6: apis[0].integrations[0].integrationType: integrationType AWS is "
                       "not supported; use AWS_PROXY\n";
    assert_string_equal(err.p, want);
}

/* ============================================================================================
 * Syntax, the tree and YAML
 * ========================================================================================== */

static void test_syntax_errors(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"apis\": [1,2}"), PT_EPARSE);
    assert_true(has_line("t.json:1: syntax error: did not find expected ',' or ']' (while "
                         "parsing a flow sequence started at line 1)"));
    assert_int_equal(parse("{\n\"apis\": [\n{\"name\": \"x\"\n\"protocolType\": 1}]}"), PT_EPARSE);
    assert_true(has_line("t.json:4: syntax error: did not find expected ',' or '}' (while "
                         "parsing a flow mapping started at line 3)"));
    assert_int_equal(parse("{\"apis\": \"unterminated}\n"), PT_EPARSE);
    assert_int_equal(count_lines(err.p), 1);
    assert_int_equal(parse("{\"a\": 1}\n{\"b\": 2}\n"), PT_EPARSE);
    assert_true(has_line("t.json:2: syntax error: did not find expected <document start>"));
    assert_int_equal(parse("a: 1\n---\nb: 2\n"), PT_EPARSE);
    assert_true(has_line("t.json:2: a config file holds one document; found a second one"));
    assert_int_equal(parse("{\"a\": \"\xff\"}"), PT_EPARSE);
    assert_true(has_line("t.json:1: syntax error: invalid leading UTF-8 octet"));
    expect_err("", "t.json:1: the configuration is empty");
    expect_err("# only a comment\n", "t.json:1: the configuration is empty");
    expect_err("[1, 2]", "t.json:1: expected an object, got an array");
    expect_err("\"apis\"", "t.json:1: expected an object, got a string");
    expect_err("{}", "t.json:1: missing required key \"apis\"");
    expect_err("{\"apis\": []}", "t.json:1: apis: at least one API is required");
    expect_err_as("{\"apis\": [], \"apis\": []}", "t.json",
                  "t.json:1: apis: at least one API is required", 2);
    assert_true(has_line("t.json:1: apis: duplicate key (first at line 1)"));
    expect_err_as("{\"apis\": [{\"name\": \"a\\u0000b\"}]}", "t.json",
                  "t.json:1: apis[0].name: the value contains a NUL character", 3);
    assert_int_equal(parse("{\"apis\": [{\"na\\u0000me\": 1}]}"), PT_EINVAL);
    assert_true(has_line("t.json:1: apis[0]: a key contains a NUL character"));

    buf_t deep = BUF_INIT;
    buf_puts(&deep, "{\"apis\": ");
    for (int i = 0; i < 100; i++)
        buf_putc(&deep, '[');
    for (int i = 0; i < 100; i++)
        buf_putc(&deep, ']');
    buf_putc(&deep, '}');
    assert_int_equal(parse(deep.p), PT_EPARSE);
    assert_non_null(strstr(err.p, "nesting is deeper than 64 levels"));
    buf_free(&deep);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    char *text = base_with(STAGE, ",\n\"stageName\": \"prod\"");
    /* The slot adds a line, so later lines move down by one. */
    expect_err(text, "t.json:8: apis[0].stages[0].stageName: duplicate key (first at line 7)");
    free(text);
    expect_err_as("apis:\n"
                  "  - name: a\n"
                  "    protocolType: WEBSOCKET\n"
                  "    routeSelectionExpression: $request.body.action\n"
                  "    routes: [{routeKey: $default}]\n"
                  "    stages: [{stageName: dev}]\n"
                  "    name: b\n",
                  "t.yaml", "t.yaml:7: apis[0].name: duplicate key (first at line 2)", 1);
    /* Three times: two errors, both pointing at the first. */
    assert_int_equal(parse("{\"x\": 1, \"x\": 2, \"x\": 3}"), PT_EINVAL);
    assert_true(has_line("t.json:1: x: duplicate key (first at line 1)"));
    assert_int_equal(count_lines(err.p), 6); /* 2 duplicates, apis missing, x unknown (3) */
}

#define YAML_CONFIG                                                                                \
    "# An echo API in YAML.\n"                                 /* 1 */                             \
    "server:\n"                                                /* 2 */                             \
    "  listen: 127.0.0.1:8080\n"                               /* 3 */                             \
    "  limits: {maxFrameBytes: 4096, allowBinary: true}\n"     /* 4 */                             \
    "apis:\n"                                                  /* 5 */                             \
    "  - name: echo\n"                                         /* 6 */                             \
    "    protocolType: WEBSOCKET\n"                            /* 7 */                             \
    "    routeSelectionExpression: $request.body.action\n"     /* 8 */                             \
    "    integrations:\n"                                      /* 9 */                             \
    "      - integrationId: echo\n"                            /* 10 */                            \
    "        integrationType: MOCK\n"                          /* 11 */                            \
    "        timeoutInMillis: %s\n"                            /* 12 */                            \
    "        requestTemplates:\n"                              /* 13 */                            \
    "          $default: '{\"statusCode\": 200}'\n"            /* 14 */                            \
    "        integrationResponses:\n"                          /* 15 */                            \
    "          - integrationResponseKey: $default\n"           /* 16 */                            \
    "            responseTemplates:\n"                         /* 17 */                            \
    "              $default: |\n"                              /* 18 */                            \
    "                {\"echo\": $input.body}\n"                /* 19 */                            \
    "    routes:\n"                                            /* 20 */                            \
    "      - routeKey: $default\n"                             /* 21 */                            \
    "        target: integrations/echo\n"                      /* 22 */                            \
    "        routeResponseSelectionExpression: $default\n"     /* 23 */                            \
    "        routeResponses: [{routeResponseKey: $default}]\n" /* 24 */                            \
    "    stages:\n"                                            /* 25 */                            \
    "      - stageName: dev\n"                                 /* 26 */                            \
    "        stageVariables:\n"                                /* 27 */                            \
    "          port: %s\n"                                     /* 28 */

static void test_yaml(void **state)
{
    (void)state;
    char text[2048];
    snprintf(text, sizeof text, YAML_CONFIG, "1000", "\"8080\"");
    assert_int_equal(parse_as(text, "t.yaml"), PT_OK);
    const route_api_t *api = &cfg->apis[0];
    assert_int_equal(cfg->server.limits.max_frame_bytes, 4096);
    assert_true(cfg->server.limits.allow_binary);
    assert_int_equal(api->integrations[0].timeout_ms, 1000);
    assert_string_equal(route_map_get(&api->integrations[0].request_templates, "$default"),
                        "{\"statusCode\": 200}");
    assert_string_equal(
        route_map_get(&api->integrations[0].responses[0].response_templates, "$default"),
        "{\"echo\": $input.body}\n");
    assert_true(api->r_default->two_way);
    assert_string_equal(route_map_get(&api->stages[0].variables, "port"), "8080");
    assert_int_equal(api->line, 6);
    assert_int_equal(api->r_default->line, 21);

    /* Plain scalars are typed as in JSON; quoted ones are strings. */
    snprintf(text, sizeof text, YAML_CONFIG, "\"1000\"", "8080");
    expect_err_as(text, "t.yaml",
                  "t.yaml:12: apis[0].integrations[0].timeoutInMillis: expected an integer, got a "
                  "string",
                  2);
    assert_true(has_line("t.yaml:28: apis[0].stages[0].stageVariables.port: expected a string, "
                         "got a number"));

    /* Aliases and tags. */
    expect_err_as("a: &x 1\nb: *x\n", "t.yaml", "t.yaml:2: YAML aliases (*x) are not supported", 1);
    assert_int_equal(parse_as("apis: !Ref Apis\n", "t.yaml"), PT_EINVAL);
    assert_true(has_line("t.yaml:1: apis: YAML tag !Ref is not supported"));
    assert_int_equal(parse_as("apis: {? [a]: b}\n", "t.yaml"), PT_EPARSE);
    assert_true(has_line("t.yaml:1: apis: keys must be strings, not an array"));
}

static void test_json_variants(void **state)
{
    (void)state;
    /* CRLF line ends, a BOM, tabs, '#' comments and UTF-16 surrogate pairs. */
    char *text = base_with(INTEG, ", \"requestTemplates\": {\"$default\": \"\\ud83d\\ude00 "
                                  "\\u00e9\\\\u\\\"\"}");
    buf_t crlf = BUF_INIT;
    buf_puts(&crlf, "\xEF\xBB\xBF");
    for (const char *p = text; *p; p++) {
        if (*p == '\n')
            buf_puts(&crlf, "  # a comment\r\n");
        else
            buf_putc(&crlf, *p == ' ' ? '\t' : *p);
    }
    expect_ok(crlf.p);
    assert_string_equal(route_map_get(&cfg->apis[0].integrations[0].request_templates, "$default"),
                        "\xF0\x9F\x98\x80\t\xC3\xA9\\u\"");
    assert_int_equal(cfg->apis[0].routes[0].line, 6);
    free(text);
    buf_free(&crlf);

    text = base_with(INTEG, ", \"timeoutInMillis\": 1");
    buf_reset(&crlf);
    for (const char *p = text; *p; p++)
        buf_puts(&crlf, *p == '\n' ? "\r\n" : (char[]){*p, 0});
    expect_err(crlf.p, "t.json:5: apis[0].integrations[0].timeoutInMillis: 1 is out of range [50, "
                       "29000]");
    free(text);
    buf_free(&crlf);
}

/* ============================================================================================
 * Generated ids, two-way routes, API-level lists, route settings, several APIs
 * ========================================================================================== */

#define NO_IDS                                                                                     \
    "{\"apis\": [{\"name\": \"%s\", \"protocolType\": \"WEBSOCKET\", "                             \
    "\"routeSelectionExpression\": \"$request.body.action\", \"integrations\": "                   \
    "[{\"integrationType\": \"MOCK\"}, {\"integrationType\": \"MOCK\"}], \"routes\": "             \
    "[{\"routeKey\": \"$default\"}, {\"routeKey\": \"send\"}], \"stages\": [{\"stageName\": "      \
    "\"dev\"}%s]}]}"

static bool id_shape(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static void test_generated_ids(void **state)
{
    (void)state;
    char text[1024], ids[4][8], api_id[11];
    snprintf(text, sizeof text, NO_IDS, "chat", "");
    expect_ok(text);
    const route_api_t *api = &cfg->apis[0];
    assert_true(id_shape(api->id, 10));
    for (int i = 0; i < 2; i++) {
        assert_true(id_shape(api->routes[i].id, 7));
        assert_true(id_shape(api->integrations[i].id, 7));
        strcpy(ids[i], api->routes[i].id);
        strcpy(ids[2 + i], api->integrations[i].id);
    }
    assert_string_not_equal(ids[0], ids[1]);
    assert_string_not_equal(ids[2], ids[3]);
    strcpy(api_id, api->id);

    /* Same input, and an unrelated change: the same ids. */
    for (int round = 0; round < 2; round++) {
        snprintf(text, sizeof text, NO_IDS, "chat", round ? ", {\"stageName\": \"prod\"}" : "");
        expect_ok(text);
        api = &cfg->apis[0];
        assert_string_equal(api->id, api_id);
        for (int i = 0; i < 2; i++) {
            assert_string_equal(api->routes[i].id, ids[i]);
            assert_string_equal(api->integrations[i].id, ids[2 + i]);
        }
    }
    /* Another name: another apiId, so other route ids too. */
    snprintf(text, sizeof text, NO_IDS, "chat2", "");
    expect_ok(text);
    assert_string_not_equal(cfg->apis[0].id, api_id);
    assert_string_not_equal(cfg->apis[0].routes[0].id, ids[0]);

    /* Two APIs with one name derive one id: refused, with the way out. */
    assert_int_equal(
        parse("{\"apis\": [\n"
              "{\"name\": \"a\", \"protocolType\": \"WEBSOCKET\", \"routeSelectionExpression\": "
              "\"$request.body.x\", \"routes\": [{\"routeKey\": \"$default\"}], \"stages\": "
              "[{\"stageName\": \"s\"}]},\n"
              "{\"name\": \"a\", \"protocolType\": \"WEBSOCKET\", \"routeSelectionExpression\": "
              "\"$request.body.x\", \"routes\": [{\"routeKey\": \"$default\"}], \"stages\": "
              "[{\"stageName\": \"s\"}]}]}"),
        PT_EINVAL);
    assert_int_equal(count_lines(err.p), 1);
    assert_non_null(strstr(err.p, "t.json:3: apis[1]: the apiId derived from the name (\""));
    assert_non_null(strstr(err.p, "\") is already used by apis[0]; set apiId\n"));
}

#define TWO_WAY                                                                                    \
    "{\"apis\": [{\"name\": \"m\", \"protocolType\": \"WEBSOCKET\", "                              \
    "\"routeSelectionExpression\": \"$request.body.action\", \"routes\": [{\"routeKey\": "         \
    "\"r\", \"routeId\": \"rid\"%s}], \"stages\": [{\"stageName\": \"s\"}]%s}]}"

static void test_two_way(void **state)
{
    (void)state;
    static const struct {
        const char *route, *api;
        bool two_way;
    } cases[] = {
        {", \"routeResponseSelectionExpression\": \"$default\", \"routeResponses\": "
         "[{\"routeResponseKey\": \"$default\"}]",
         "", true},
        {", \"routeResponses\": [{\"routeResponseKey\": \"$default\"}]", "", false},
        {", \"routeResponseSelectionExpression\": \"$default\"", "", false},
        {", \"routeResponseSelectionExpression\": \"$default\"",
         ", \"routeResponses\": [{\"routeKey\": \"r\", \"routeResponseKey\": \"$default\"}]", true},
        {", \"routeResponseSelectionExpression\": \"$default\"",
         ", \"routeResponses\": [{\"routeId\": \"rid\", \"routeResponseKey\": \"$default\", "
         "\"routeResponseId\": \"x\", \"responseModels\": {}, \"responseParameters\": {}, "
         "\"modelSelectionExpression\": \"$request.body.m\"}]",
         true},
        {"", ", \"routeResponses\": [{\"routeKey\": \"r\", \"routeResponseKey\": \"$default\"}]",
         false},
        {"", "", false},
    };
    char text[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text, TWO_WAY, cases[i].route, cases[i].api);
        expect_ok(text);
        if (cfg->apis[0].routes[0].two_way != cases[i].two_way)
            fail_msg("case %zu: two_way should be %d", i, cases[i].two_way);
    }
    /* A nested and an API-level $default response for one route. */
    snprintf(text, sizeof text, TWO_WAY,
             ", \"routeResponses\": [{\"routeResponseKey\": \"$default\"}]",
             ", \"routeResponses\": [{\"routeKey\": \"r\", \"routeResponseKey\": \"$default\"}]");
    expect_err(text, "t.json:1: apis[0].routeResponses[0]: route \"r\" already has a \"$default\" "
                     "route response");
    /* routeId and routeKey naming two routes. */
    expect_err("{\"apis\": [{\"name\": \"m\", \"protocolType\": \"WEBSOCKET\", "
               "\"routeSelectionExpression\": \"$request.body.action\", \"routes\": "
               "[{\"routeKey\": \"a\", \"routeId\": \"ra\"}, {\"routeKey\": \"b\"}], \"stages\": "
               "[{\"stageName\": \"s\"}], \"routeResponses\": [{\"routeId\": \"ra\", "
               "\"routeKey\": \"b\", \"routeResponseKey\": \"$default\"}]}]}",
               "t.json:1: apis[0].routeResponses[0]: routeId and routeKey name different routes");
}

static void test_api_level_integration_responses(void **state)
{
    (void)state;
    char *text = base_with(INTEG, ", \"integrationResponses\": [{\"integrationResponseKey\": "
                                  "\"$default\", \"responseTemplates\": {\"$default\": \"a\"}}]");
    char *full = NULL;
    /* Append an API-level list to the same config through the APIEND slot's neighbour. */
    const char *at = strstr(text, "\"stages\"");
    assert_non_null(at);
    size_t pre = (size_t)(at - text);
    const char *add = "\"integrationResponses\": [{\"integrationId\": \"i1\", "
                      "\"integrationResponseKey\": \"/5\\\\d\\\\d/\", "
                      "\"templateSelectionExpression\": \"$integration.response.statuscode\", "
                      "\"responseTemplates\": {\"500\": \"b\"}}], ";
    full = malloc(strlen(text) + strlen(add) + 1);
    memcpy(full, text, pre);
    strcpy(full + pre, add);
    strcat(full, at);
    expect_ok(full);
    const route_integration_t *g = &cfg->apis[0].integrations[0];
    assert_int_equal(g->nresponses, 2);
    assert_string_equal(g->responses[0].key, "$default");
    assert_string_equal(g->responses[1].key, "/5\\d\\d/");
    assert_non_null(g->responses[1].tse);
    assert_string_equal(route_map_get(&g->responses[1].response_templates, "500"), "b");
    assert_int_equal(g->responses[1].line, 7);
    free(full);
    free(text);

    /* The same key nested and at the API level. */
    text = base_with(INTEG, ", \"integrationResponses\": [{\"integrationResponseKey\": "
                            "\"$default\"}]");
    at = strstr(text, "\"stages\"");
    pre = (size_t)(at - text);
    add = "\"integrationResponses\": [{\"integrationId\": \"i1\", \"integrationResponseKey\": "
          "\"$default\", \"templateSelectionExpression\": \"$request.body.x\"}], ";
    full = malloc(strlen(text) + strlen(add) + 1);
    memcpy(full, text, pre);
    strcpy(full + pre, add);
    strcat(full, at);
    expect_err(full, "t.json:7: apis[0].integrationResponses[0]: duplicate integrationResponseKey "
                     "\"$default\" for integration \"i1\" (first at line 5)");
    free(full);
    free(text);
}

static void test_route_settings(void **state)
{
    (void)state;
    char *text = base_with(
        STAGE, ", \"defaultRouteSettings\": {\"throttlingBurstLimit\": 100, "
               "\"throttlingRateLimit\": 50.5, \"detailedMetricsEnabled\": true, "
               "\"loggingLevel\": \"INFO\", \"dataTraceEnabled\": true}, \"routeSettings\": "
               "{\"$default\": {\"throttlingBurstLimit\": 7, \"loggingLevel\": \"OFF\"}}");
    expect_ok(text);
    free(text);
    const route_stage_t *st = &cfg->apis[0].stages[0];
    assert_true(st->default_route_settings.has_throttle);
    assert_int_equal(st->default_route_settings.throttling_burst_limit, 100);
    assert_true(st->default_route_settings.throttling_rate_limit == 50.5);
    assert_true(st->default_route_settings.detailed_metrics_enabled);
    assert_string_equal(st->default_route_settings.logging_level, "INFO");
    assert_true(st->default_route_settings.data_trace_enabled);
    assert_int_equal(st->nroute_settings, 1);
    assert_string_equal(route_map_get(&st->route_settings_keys, "$default"), "0");
    const route_settings_t *rs = &st->route_settings[0];
    assert_true(rs->has_throttle);
    assert_int_equal(rs->throttling_burst_limit, 7);
    assert_true(rs->throttling_rate_limit == 50.5); /* inherited */
    assert_true(rs->detailed_metrics_enabled);      /* inherited */
    assert_string_equal(rs->logging_level, "OFF");

    /* Half a throttle with no stage default: the other half is AWS's account default. */
    text = base_with(STAGE, ", \"routeSettings\": {\"$default\": {\"throttlingRateLimit\": 5}}");
    expect_ok(text);
    free(text);
    rs = &cfg->apis[0].stages[0].route_settings[0];
    assert_true(rs->has_throttle);
    assert_int_equal(rs->throttling_burst_limit, 5000);
    assert_true(rs->throttling_rate_limit == 5.0);
    assert_false(cfg->apis[0].stages[0].default_route_settings.has_throttle);
}

/* ============================================================================================
 * Files and documentation
 * ========================================================================================== */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, NULL);
}

static void test_load_file_errors(void **state)
{
    (void)state;
    assert_int_equal(route_config_load_file("tests/unit/routes/config/missing.json", &cfg, &err),
                     PT_EIO);
    assert_null(cfg);
    assert_string_equal(err.p,
                        "tests/unit/routes/config/missing.json: cannot open: No such file or "
                        "directory\n");
    buf_reset(&err);
    assert_int_equal(route_config_load_file("tests/unit/routes/config/bad.yaml", &cfg, &err),
                     PT_EINVAL);
    assert_true(has_line("tests/unit/routes/config/bad.yaml:8: "
                         "apis[0].integrations[0].timeoutInMillis: 10 is out of range [50, "
                         "29000]"));
    buf_reset(&err);
    assert_int_equal(route_config_load_file("tests/unit/routes/config/good.yaml", &cfg, &err),
                     PT_OK);
    assert_int_equal(cfg->apis[0].nroutes, 2);
    assert_non_null(cfg->apis[0].r_default);
    assert_true(cfg->apis[0].r_default->two_way);
}

static void test_every_key_is_documented(void **state)
{
    (void)state;
    char *doc = read_file("docs/configuration.md");
    assert_non_null(doc);
    size_t n = 0;
    const char *const *keys = route_config_known_keys(&n);
    assert_true(n > 80);
    bool all = true;
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof want, "`%s`", keys[i]);
        if (!strstr(doc, want)) {
            print_error("docs/configuration.md does not mention %s\n", want);
            all = false;
        }
    }
    /* Spot checks that the list is the loader's, not a copy. */
    static const char *const some[] = {"timeoutInMillis",  "routeSelectionExpression",
                                       "maxFrameBytes",    "stageVariables",
                                       "apiMappingKey",    "authorizers",
                                       "accessLogSettings"};
    for (size_t j = 0; j < sizeof some / sizeof some[0]; j++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strcmp(keys[i], some[j]) == 0;
        assert_true(found);
    }
    free(doc);
    assert_true(all);
}

/* The complete example of docs/configuration.md: the ```json block after the marker. */
static void test_documented_example_parses(void **state)
{
    (void)state;
    char *doc = read_file("docs/configuration.md");
    assert_non_null(doc);
    const char *mark = strstr(doc, "<!-- complete-example -->");
    assert_non_null(mark);
    const char *start = strstr(mark, "```json\n");
    assert_non_null(start);
    start += strlen("```json\n");
    const char *end = strstr(start, "\n```");
    assert_non_null(end);
    int rc = route_config_parse(start, (size_t)(end - start), "example", &cfg, &err);
    if (rc != PT_OK)
        fail_msg("the documented example is invalid:\n%s", err.p);
    assert_true(cfg->napis >= 1);
    route_config_free(cfg);
    cfg = NULL;
    /* And its YAML version. */
    start = strstr(end, "```yaml\n");
    assert_non_null(start);
    start += strlen("```yaml\n");
    end = strstr(start, "\n```");
    assert_non_null(end);
    rc = route_config_parse(start, (size_t)(end - start), "example.yaml", &cfg, &err);
    if (rc != PT_OK)
        fail_msg("the documented YAML example is invalid:\n%s", err.p);
    assert_true(cfg->apis[0].routes[0].two_way);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_base_config_is_valid, teardown),
        cmocka_unit_test_teardown(test_every_validation_message, teardown),
        cmocka_unit_test_teardown(test_examples_parse, teardown),
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_values_are_stored, teardown),
        cmocka_unit_test_teardown(test_aws_proxy_uri_shapes, teardown),
        cmocka_unit_test_teardown(test_size_limits, teardown),
        cmocka_unit_test_teardown(test_error_cap, teardown),
        cmocka_unit_test_teardown(test_errors_sorted_by_line, teardown),
        cmocka_unit_test_teardown(test_syntax_errors, teardown),
        cmocka_unit_test_teardown(test_duplicate_keys, teardown),
        cmocka_unit_test_teardown(test_yaml, teardown),
        cmocka_unit_test_teardown(test_json_variants, teardown),
        cmocka_unit_test_teardown(test_generated_ids, teardown),
        cmocka_unit_test_teardown(test_two_way, teardown),
        cmocka_unit_test_teardown(test_api_level_integration_responses, teardown),
        cmocka_unit_test_teardown(test_route_settings, teardown),
        cmocka_unit_test_teardown(test_load_file_errors, teardown),
        cmocka_unit_test_teardown(test_every_key_is_documented, teardown),
        cmocka_unit_test_teardown(test_documented_example_parses, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
