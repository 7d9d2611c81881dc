/* authz.c: Lambda REQUEST authorizers: identity sources, events, outputs and their verdict. */
#include "routes/security.h"
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Spec 2.5 and AWS's pages "Control access to WebSocket APIs with AWS Lambda REQUEST
 * authorizers" and "Working with AWS Lambda authorizers for HTTP APIs":
 *   - identity sources missing or empty: 401 without invoking the authorizer;
 *   - the function fails with the message "Unauthorized": 401;
 *   - a policy that denies, or does not cover, the method ARN: 403;
 *   - any other failure, an output over 8 KB or a malformed one: 500;
 *   - context values are strings, numbers or booleans; they and principalId become
 *     requestContext.authorizer of every later event of the connection.
 */

/* ---- identity sources ---------------------------------------------------------------------- */

int route_idsrc_parse(const char *s, bool http, route_idsrc_kind_t *kind, const char **name)
{
    static const struct {
        const char *ws, *http;
        route_idsrc_kind_t k;
    } P[] = {
        {"route.request.header.", "$request.header.", ROUTE_IDSRC_HEADER},
        {"route.request.querystring.", "$request.querystring.", ROUTE_IDSRC_QUERY},
        {"stageVariables.", "$stageVariables.", ROUTE_IDSRC_STAGEVAR},
        {"context.", "$context.", ROUTE_IDSRC_CONTEXT},
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(P); i++) {
        const char *pre = http ? P[i].http : P[i].ws;
        size_t pl = strlen(pre);
        if (strncmp(s, pre, pl) != 0 || !s[pl])
            continue;
        for (const char *c = s + pl; *c; c++) {
            /* Header names are tokens; the others are names of the same characters. */
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || strchr("!#$%&'*+.^_`|~-", *c)))
                return PT_EINVAL;
        }
        *kind = P[i].k;
        *name = s + pl;
        return PT_OK;
    }
    return PT_EINVAL;
}

static char *query_last(const char *q, size_t qn, const char *name)
{
    size_t pos = 0, kl, vl;
    const char *k, *v;
    char *found = NULL;
    while (q && http_query_next(q, qn, &pos, &k, &kl, &v, &vl)) {
        char kb[256];
        long n = kl < sizeof kb ? http_pct_decode(k, kl, kb, true) : -1;
        if (n < 0 || (size_t)n != strlen(name) || memcmp(kb, name, (size_t)n) != 0)
            continue;
        char *d = pt_xmalloc(vl + 1);
        long dn = http_pct_decode(v, vl, d, true);
        if (dn < 0) {
            memcpy(d, v, vl);
            dn = (long)vl;
        }
        d[dn] = '\0';
        free(found);
        found = d;
    }
    return found;
}

int route_identity_get(const route_idsrc_t *src, size_t n, const route_idreq_t *r,
                       route_identity_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n && i < ROUTE_IDSRC_MAX; i++) {
        char *v = NULL;
        switch (src[i].kind) {
        case ROUTE_IDSRC_HEADER:
            for (size_t h = r->nheaders; h-- > 0;) {
                if (http_ieq(r->headers[h].name, r->headers[h].name_len, src[i].name) &&
                    strlen(src[i].name) == r->headers[h].name_len) {
                    v = pt_xstrndup(r->headers[h].value, r->headers[h].value_len);
                    break;
                }
            }
            break;
        case ROUTE_IDSRC_QUERY:
            v = query_last(r->query, r->query_len, src[i].name);
            break;
        case ROUTE_IDSRC_STAGEVAR: {
            const char *s = r->stage ? route_map_get(&r->stage->variables, src[i].name) : NULL;
            v = s ? pt_xstrdup(s) : NULL;
            break;
        }
        case ROUTE_IDSRC_CONTEXT: {
            buf_t b = BUF_INIT;
            if (r->ctx && route_ctx_var(r->ctx, src[i].name, strlen(src[i].name), &b) && b.len) {
                size_t l;
                v = buf_steal(&b, &l);
            }
            buf_free(&b);
            break;
        }
        }
        out->v[out->n++] = v;
        if (!v || !*v)
            return PT_ENOTFOUND;
    }
    return PT_OK;
}

void route_identity_free(route_identity_t *id)
{
    for (size_t i = 0; i < id->n; i++)
        free(id->v[i]);
    memset(id, 0, sizeof *id);
}

void route_identity_key(const char *authorizer_id, const char *api_id, const char *stage,
                        const route_identity_t *id, buf_t *out)
{
    buf_puts(out, authorizer_id ? authorizer_id : "");
    buf_append(out, "", 1);
    buf_puts(out, api_id ? api_id : "");
    buf_append(out, "", 1);
    buf_puts(out, stage ? stage : "");
    for (size_t i = 0; i < id->n; i++) {
        buf_append(out, "", 1);
        buf_puts(out, id->v[i] ? id->v[i] : "");
    }
}

/* ---- ARNs ------------------------------------------------------------------------------------ */

void route_arn_api(const char *region, const char *account, const char *api_id, buf_t *out)
{
    buf_printf(out, "arn:aws:execute-api:%s:%s:%s", region ? region : "us-east-1",
               account ? account : "000000000000", api_id ? api_id : "");
}

void route_arn_ws(const route_ctx_t *ctx, const char *route_key, buf_t *out)
{
    route_arn_api(ctx->region, ctx->account_id, ctx->api ? ctx->api->id : NULL, out);
    buf_printf(out, "/%s/%s", ctx->stage ? ctx->stage->name : "", route_key);
}

void route_arn_http(const route_http_ctx_t *hc, buf_t *out)
{
    route_arn_api(hc->region, hc->account_id, hc->api ? hc->api->id : NULL, out);
    buf_printf(out, "/%s/%.*s/", hc->stage ? hc->stage->name : "", (int)hc->method_len, hc->method);
    const char *p = hc->rel_path;
    size_t n = hc->rel_path_len;
    if (n && p[0] == '/') {
        p++;
        n--;
    }
    buf_append(out, p, n);
}

/* ---- events -------------------------------------------------------------------------------- */

void route_az_event_ws(const route_ctx_t *ctx, const char *method_arn, buf_t *out)
{
    buf_t ev = BUF_INIT;
    route_event_ws(ctx, &ev);
    json_t *e = json_loadb(ev.p, ev.len, 0, NULL);
    buf_free(&ev);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("REQUEST"));
    json_object_set_new(o, "methodArn", json_string(method_arn));
    static const char *const keys[] = {"headers", "multiValueHeaders", "queryStringParameters",
                                       "multiValueQueryStringParameters"};
    for (size_t i = 0; i < PT_ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(e, keys[i]);
        json_object_set_new(o, keys[i], v ? json_incref(v) : json_object());
    }
    json_t *sv = json_object_get(e, "stageVariables");
    json_object_set_new(o, "stageVariables", sv ? json_incref(sv) : json_object());
    json_t *rc = json_object_get(e, "requestContext");
    json_object_set_new(o, "requestContext", rc ? json_incref(rc) : json_object());
    route__json_write(out, o);
    json_decref(o);
    json_decref(e);
}

void route_az_event_http(const route_http_ctx_t *hc, bool v2, const char *arn,
                         const route_identity_t *id, buf_t *out)
{
    buf_t ev = BUF_INIT;
    route_http_ctx_t c = *hc;
    c.body = NULL;
    c.body_len = 0;
    c.authorizer = NULL;
    route_http_event(&c, v2, &ev);
    json_t *e = json_loadb(ev.p, ev.len, 0, NULL);
    buf_free(&ev);
    json_t *o = json_object();
    buf_t joined = BUF_INIT;
    json_t *ids = json_array();
    for (size_t i = 0; id && i < id->n; i++) {
        if (i)
            buf_putc(&joined, ',');
        buf_puts(&joined, id->v[i] ? id->v[i] : "");
        json_array_append_new(ids, json_string(id->v[i] ? id->v[i] : ""));
    }
    json_object_set_new(o, "version", json_string(v2 ? "2.0" : "1.0"));
    json_object_set_new(o, "type", json_string("REQUEST"));
    if (v2) {
        json_object_set_new(o, "routeArn", json_string(arn));
        json_object_set_new(o, "identitySource", ids);
    } else {
        json_object_set_new(o, "methodArn", json_string(arn));
        json_object_set_new(o, "identitySource", json_string(joined.p ? joined.p : ""));
        json_object_set_new(o, "authorizationToken", json_string(joined.p ? joined.p : ""));
        json_decref(ids);
    }
    const char *k;
    json_t *v;
    json_object_foreach(e, k, v)
    {
        if (strcmp(k, "version") == 0 || strcmp(k, "body") == 0 ||
            strcmp(k, "isBase64Encoded") == 0)
            continue;
        json_object_set(o, k, v);
    }
    route__json_write(out, o);
    buf_free(&joined);
    json_decref(o);
    json_decref(e);
}

/* ---- outputs --------------------------------------------------------------------------------- */

void route_az_result_free(route_az_result_t *r)
{
    free(r->principal_id);
    route_policy_free(r->policy);
    json_decref(r->context);
    free(r->usage_identifier_key);
    memset(r, 0, sizeof *r);
}

static void fail(route_az_result_t *out, route_az_verdict_t v, const char *why)
{
    route_az_result_free(out);
    out->verdict = v;
    snprintf(out->why, sizeof out->why, "%s", why);
}

void route_az_result_parse(const char *body, size_t len, bool simple, route_az_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->simple = simple;
    if (len > ROUTE_AZ_MAX_OUTPUT) {
        fail(out, ROUTE_AZ_ERROR, "the authorizer's output is larger than 8 KB");
        return;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        fail(out, ROUTE_AZ_ERROR, "the authorizer's output is not a JSON object");
        return;
    }
    const json_t *ctx = json_object_get(j, "context");
    if (ctx && !json_is_null(ctx)) {
        if (!json_is_object(ctx)) {
            fail(out, ROUTE_AZ_ERROR, "context is not an object");
            goto out;
        }
        if (!simple) {
            /* REST and WebSocket authorizers: "You can't set a JSON object or array as a valid
             * value of any key in the context map." */
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)ctx, k, v)
            {
                if (json_is_object(v) || json_is_array(v)) {
                    fail(out, ROUTE_AZ_ERROR, "a context value is an object or an array");
                    goto out;
                }
            }
        }
        out->context = json_deep_copy(ctx);
    }
    if (simple) {
        const json_t *ia = json_object_get(j, "isAuthorized");
        if (!json_is_boolean(ia)) {
            fail(out, ROUTE_AZ_ERROR, "isAuthorized is missing or not a boolean");
            goto out;
        }
        out->is_authorized = json_is_true(ia);
        goto out;
    }
    const json_t *pid = json_object_get(j, "principalId");
    if (json_is_string(pid))
        out->principal_id = pt_xstrdup(json_string_value(pid));
    else if (pid && !json_is_null(pid)) {
        fail(out, ROUTE_AZ_ERROR, "principalId is not a string");
        goto out;
    }
    const json_t *uik = json_object_get(j, "usageIdentifierKey");
    if (json_is_string(uik))
        out->usage_identifier_key = pt_xstrdup(json_string_value(uik));
    const json_t *pd = json_object_get(j, "policyDocument");
    if (!pd) {
        fail(out, ROUTE_AZ_ERROR, "the output has no policyDocument");
        goto out;
    }
    if (route_policy_parse(pd, &out->policy, NULL) != PT_OK)
        fail(out, ROUTE_AZ_ERROR, "the policyDocument is malformed");
out:
    json_decref(j);
}

void route_az_result_from(const route_integ_result_t *res, bool simple, route_az_result_t *out)
{
    memset(out, 0, sizeof *out);
    if (res->error != PT_OK) {
        fail(out, ROUTE_AZ_ERROR,
             res->error == PT_ETIMEOUT ? "the authorizer timed out"
                                       : "the authorizer could not be reached");
        return;
    }
    if (res->function_error) {
        /* Node: throw new Error("Unauthorized") / callback("Unauthorized"); Python: raise
         * Exception("Unauthorized"). The Invoke API returns {"errorMessage": "Unauthorized"}. */
        json_t *j = json_loadb(res->body, res->body_len, JSON_DECODE_ANY, NULL);
        const char *m = json_string_value(json_object_get(j, "errorMessage"));
        bool unauth = m && strcmp(m, "Unauthorized") == 0;
        json_decref(j);
        fail(out, unauth ? ROUTE_AZ_UNAUTHORIZED : ROUTE_AZ_ERROR,
             unauth ? "the authorizer answered Unauthorized" : "the authorizer function failed");
        return;
    }
    if (res->status == 401 || res->status == 403) {
        fail(out, res->status == 401 ? ROUTE_AZ_UNAUTHORIZED : ROUTE_AZ_FORBIDDEN,
             res->status == 401 ? "the authorizer answered 401" : "the authorizer answered 403");
        return;
    }
    if (res->status < 200 || res->status > 299) {
        fail(out, ROUTE_AZ_ERROR, "the authorizer call failed");
        return;
    }
    route_az_result_parse(res->body, res->body_len, simple, out);
}

int route_az_decide(const route_az_result_t *r, const char *method_arn)
{
    switch (r->verdict) {
    case ROUTE_AZ_OK:
        break;
    case ROUTE_AZ_UNAUTHORIZED:
        return 401;
    case ROUTE_AZ_FORBIDDEN:
        return 403;
    case ROUTE_AZ_ERROR:
        return 500;
    }
    if (r->simple)
        return r->is_authorized ? 200 : 403;
    return route_policy_eval(r->policy, "execute-api:Invoke", method_arn, NULL, NULL) ==
                   ROUTE_EFFECT_ALLOW
               ? 200
               : 403;
}

json_t *route_az_context_ws(const route_az_result_t *r)
{
    json_t *o = json_object();
    if (r->principal_id)
        json_object_set_new(o, "principalId", json_string(r->principal_id));
    const char *k;
    json_t *v;
    json_object_foreach(r->context, k, v)
    {
        if (strcmp(k, "principalId") != 0)
            json_object_set(o, k, v);
    }
    return o;
}
