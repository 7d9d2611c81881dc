/* fuzz_lambda.c: Lambda function references, stage variables and Invoke URLs (routes/lambda.c). */
/*
 * Input format: the bytes before the first '\n' are an integrationUri (a function reference,
 * e.g. "arn:aws:lambda:us-east-1:1:function:f:${stageVariables.a}"); the bytes up to the next
 * '\n' are the value of stage variables "a" and "fn"; the rest is an endpoint override (empty:
 * none). Missing parts are empty.
 *
 * For each input: route_lambda_parse on the reference with the stage variables substituted,
 * route_lambda_endpoint_norm on the endpoint, and route_lambda_request with and without the
 * endpoint. Invariants: a parsed name is 1-64 of [A-Za-z0-9_-] and a qualifier 1-128 of
 * [A-Za-z0-9$_-]; a built URL starts with the endpoint (or https://lambda.), holds only
 * printable ASCII without spaces, has exactly one "/invocations" after the function segment,
 * whose bytes are unreserved characters or %XX; the Host line equals the URL's authority;
 * request and parse agree on success; a normalised endpoint normalises to itself.
 */
#include "routes/route_internal.h"
#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool unreserved(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void check_span(const char *s, size_t max, bool qual)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || (qual && s[i] == '$')))
            abort();
}

static void check_req(const route_http_req_t *r, const char *endpoint)
{
    const char *u = r->url;
    if (endpoint ? strncmp(u, endpoint, strlen(endpoint)) != 0
                 : strncmp(u, "https://lambda.", 15) != 0)
        abort();
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
            abort();
    /* The path starts right after the endpoint (whose base path may hold anything). */
    const char *f = endpoint ? u + strlen(endpoint) : strchr(u + 8, '/');
    if (!f || strncmp(f, "/2015-03-31/functions/", 22) != 0)
        abort();
    f += 22;
    const char *inv = strstr(f, "/invocations");
    if (!inv || strstr(inv + 1, "/invocations") || inv == f)
        abort();
    for (const char *c = f; c < inv; c++) {
        if (*c == '%') {
            if (c + 2 >= inv)
                abort();
            c += 2;
        } else if (!unreserved(*c)) {
            abort();
        }
    }
    const char *rest = inv + 12;
    if (*rest && strncmp(rest, "?Qualifier=", 11) != 0)
        abort();
    const char *auth = strstr(u, "://") + 3;
    size_t al = strcspn(auth, "/");
    if (strncmp(r->headers.p, "Host: ", 6) != 0 || strncmp(r->headers.p + 6, auth, al) != 0 ||
        strncmp(r->headers.p + 6 + al, "\r\n", 2) != 0)
        abort();
    if (!r->sign_service || strcmp(r->sign_service, "lambda") != 0 || !r->sign_region)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size;
    const char *nl1 = memchr(s, '\n', size);
    const char *v0 = nl1 ? nl1 + 1 : end;
    const char *nl2 = memchr(v0, '\n', (size_t)(end - v0));
    const char *e0 = nl2 ? nl2 + 1 : end;
    /* C strings: a NUL inside a part makes it shorter. */
    char *uri = strndup(s, (size_t)((nl1 ? nl1 : end) - s));
    char *val = strndup(v0, (size_t)((nl2 ? nl2 : end) - v0));
    char *ep = strndup(e0, (size_t)(end - e0));

    route_stage_t stage;
    route_kv_t vars[] = {{(char *)"a", val}, {(char *)"fn", val}};
    memset(&stage, 0, sizeof stage);
    stage.name = (char *)"dev";
    stage.variables.items = vars;
    stage.variables.n = 2;

    buf_t sub = BUF_INIT, norm = BUF_INIT, again = BUF_INIT;
    route_subst_stage_vars(uri, &stage, &sub);
    route_lambda_ref_t ref;
    int prc = route_lambda_parse(sub.p, &ref, NULL);
    if (prc == PT_OK) {
        check_span(ref.name, 64, false);
        if (ref.qualifier)
            check_span(ref.qualifier, 128, true);
        if (!ref.function || (ref.region && !ref.account))
            abort();
    } else if (ref.name || ref.function) {
        abort();
    }

    const char *endpoint = NULL;
    if (*ep && route_lambda_endpoint_norm(ep, &norm, NULL) == PT_OK) {
        if (route_lambda_endpoint_norm(norm.p, &again, NULL) != PT_OK ||
            strcmp(norm.p, again.p) != 0)
            abort();
        endpoint = norm.p;
    } else if (norm.p) {
        abort();
    }
    route_lambda_env_t envs[2] = {{"us-east-1", NULL}, {"eu-west-1", endpoint}};
    for (int i = 0; i < 2; i++) {
        route_http_req_t r;
        int rc = route_lambda_request(uri, &stage, &envs[i], &r, NULL);
        bool is_ref = route_lambda_is_ref(sub.p);
        if ((rc == PT_OK) != (prc == PT_OK && is_ref))
            abort();
        if (rc == PT_OK)
            check_req(&r, envs[i].endpoint);
        else if (r.url || r.headers.p || r.sign_service)
            abort();
        route_http_req_free(&r);
    }
    route_lambda_ref_free(&ref);
    buf_free(&sub);
    buf_free(&norm);
    buf_free(&again);
    free(uri);
    free(val);
    free(ep);
    return 0;
}
