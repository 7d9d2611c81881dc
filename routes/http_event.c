/* http_event.c: the Lambda proxy events of HTTP APIs, payload formats 1.0 and 2.0 (spec 14). */
#include "routes/route_internal.h"
#include "common/b64.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Shapes and key orders follow AWS's payload-format page ("Create AWS Lambda proxy
 * integrations for HTTP APIs", http-api-develop-integrations-lambda) and real events captured
 * from HTTP APIs:
 *
 * 2.0 (aws-lambda-go events/testdata/apigw-v2-request-no-authorizer.json, a 2024 capture with a
 * named stage quoted in docs/rest.md): version, routeKey, rawPath, rawQueryString, cookies,
 * headers, queryStringParameters, requestContext {accountId, apiId, domainName, domainPrefix,
 * http {method, path, protocol, sourceIp, userAgent}, requestId, routeKey, stage, time,
 * timeEpoch}, body, pathParameters, isBase64Encoded, stageVariables. cookies,
 * queryStringParameters, body, pathParameters and stageVariables are left out when empty;
 * authentication and authorizer too (no mTLS, no authorizers here). Header names are lower
 * case; repeated headers and query parameters are comma-joined; Cookie headers become cookies
 * (split at ';') and leave headers [U: the documented example lists cookies apart from
 * headers]. rawPath is the path as sent, stage included ("/prod/x"), except under an API
 * mapping, where it is the path after the mapping key (AWS: "rawPath won't provide the API
 * mapping value").
 *
 * 1.0 (two captures from HTTP APIs, 2023 and 2024): version, resource, path, httpMethod,
 * headers, multiValueHeaders, queryStringParameters, multiValueQueryStringParameters,
 * requestContext {accountId, apiId, domainName, domainPrefix, extendedRequestId, httpMethod,
 * identity {accessKey, accountId, caller, cognitoAmr, cognitoAuthenticationProvider,
 * cognitoAuthenticationType, cognitoIdentityId, cognitoIdentityPoolId, principalOrgId,
 * sourceIp, user, userAgent, userArn}, path, protocol, requestId, requestTime,
 * requestTimeEpoch, resourceId, resourcePath, stage}, pathParameters, stageVariables, body,
 * isBase64Encoded. Absent maps and the body are null. resource and resourcePath are the route
 * key's path ("/pets/{id}"), resourceId the route key itself ("GET /pets/{id}"); for $default
 * all three are "$default" [U]. path is the whole request path (stage or mapping key
 * included), as the captures show. Header names keep the client's spelling; the gateway's own
 * headers are spelled as in the captures (Content-Length, X-Amzn-Trace-Id, X-Forwarded-For,
 * X-Forwarded-Port, X-Forwarded-Proto). headers holds the last value of a repeated header,
 * multiValueHeaders all of them.
 *
 * Both: the captures show Content-Length "0" on requests without a body, so the gateway adds
 * it when the client sent none. The body is text when the request's Content-Type is text/(any),
 * application/json, application/xml or application/javascript, and base64 with
 * isBase64Encoded true otherwise, a missing Content-Type included (verified against AWS and
 * reported in ministackorg/ministack#766: even application/x-www-form-urlencoded arrives
 * base64-encoded). Text is made valid UTF-8 (U+FFFD) as JSON requires.
 */

typedef struct jw {
    buf_t *out;
    bool first;
} jw_t;

static void key(jw_t *w, const char *k)
{
    if (!w->first)
        buf_putc(w->out, ',');
    w->first = false;
    buf_putc(w->out, '"');
    buf_puts(w->out, k);
    buf_puts(w->out, "\":");
}

static void str(buf_t *out, const char *s)
{
    route__json_str(out, s ? s : "", s ? strlen(s) : 0);
}

static void strn(buf_t *out, const char *s, size_t n)
{
    route__json_str(out, s ? s : "", s ? n : 0);
}

/* ---- headers ------------------------------------------------------------------------------- */

static bool is_hop_by_hop(const char *name, size_t n)
{
    static const char *const hop[] = {"connection", "upgrade", "keep-alive",
                                      "te",         "trailer", "transfer-encoding"};
    for (size_t i = 0; i < PT_ARRAY_LEN(hop); i++)
        if (http_ieq(name, n, hop[i]))
            return true;
    return n >= 6 && strncasecmp(name, "proxy-", 6) == 0;
}

/* RFC 9110 7.6.1: headers a Connection header names are hop-by-hop too. */
static bool named_by_connection(const route_http_ctx_t *ctx, const char *name, size_t n)
{
    char nm[128];
    if (n >= sizeof nm)
        return false;
    memcpy(nm, name, n);
    nm[n] = '\0';
    for (size_t i = 0; i < ctx->nheaders; i++) {
        const http_header_t *c = &ctx->headers[i];
        if (http_ieq(c->name, c->name_len, "connection") &&
            http_value_has_token(c->value, c->value_len, nm))
            return true;
    }
    return false;
}

static void add_lower(route_kvl_t *out, const char *name, size_t n, const char *v, size_t vl)
{
    char nm[256];
    if (n >= sizeof nm) {
        route__kvl_add(out, name, n, v, vl);
        return;
    }
    for (size_t i = 0; i < n; i++)
        nm[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] + 32) : name[i];
    route__kvl_add(out, nm, n, v, vl);
}

static void add_gw(route_kvl_t *out, route__http_hmode_t mode, const char *name, const char *v)
{
    if (mode == ROUTE__HTTP_V2)
        add_lower(out, name, strlen(name), v, strlen(v));
    else
        route__kvl_add(out, name, strlen(name), v, strlen(v));
}

void route__http_headers(const route_http_ctx_t *ctx, route__http_hmode_t mode, route_kvl_t *out)
{
    buf_t xff = BUF_INIT;
    char num[24];
    bool has_length = false;

    for (size_t i = 0; i < ctx->nheaders; i++) {
        const http_header_t *h = &ctx->headers[i];
        if (is_hop_by_hop(h->name, h->name_len) || named_by_connection(ctx, h->name, h->name_len))
            continue;
        if (http_ieq(h->name, h->name_len, "x-forwarded-for")) {
            /* A proxy appends the address it saw to what the client sent. */
            if (xff.len)
                buf_puts(&xff, ", ");
            buf_append(&xff, h->value, h->value_len);
            continue;
        }
        if (http_ieq(h->name, h->name_len, "x-forwarded-port") ||
            http_ieq(h->name, h->name_len, "x-forwarded-proto") ||
            (ctx->trace_id && http_ieq(h->name, h->name_len, "x-amzn-trace-id")))
            continue;
        if (http_ieq(h->name, h->name_len, "content-length")) {
            has_length = true;
            if (mode == ROUTE__HTTP_PROXY)
                continue; /* the HTTP client sets it from the body it sends */
        }
        if (mode == ROUTE__HTTP_PROXY &&
            (http_ieq(h->name, h->name_len, "host") || http_ieq(h->name, h->name_len, "expect")))
            continue; /* Host comes from the integration URL; Expect was answered here */
        if (mode == ROUTE__HTTP_V2 && http_ieq(h->name, h->name_len, "cookie"))
            continue; /* 2.0 carries cookies apart */
        if (mode == ROUTE__HTTP_V2)
            add_lower(out, h->name, h->name_len, h->value, h->value_len);
        else
            route__kvl_add(out, h->name, h->name_len, h->value, h->value_len);
    }
    if (!has_length && mode != ROUTE__HTTP_PROXY) {
        snprintf(num, sizeof num, "%zu", ctx->body_len);
        add_gw(out, mode, "Content-Length", num);
    }
    if (ctx->trace_id)
        add_gw(out, mode, "X-Amzn-Trace-Id", ctx->trace_id);
    if (ctx->source_ip) {
        if (xff.len)
            buf_puts(&xff, ", ");
        buf_puts(&xff, ctx->source_ip);
    }
    if (xff.len)
        add_gw(out, mode, "X-Forwarded-For", xff.p);
    snprintf(num, sizeof num, "%d", ctx->server_port > 0 ? ctx->server_port : ctx->tls ? 443 : 80);
    add_gw(out, mode, "X-Forwarded-Port", num);
    add_gw(out, mode, "X-Forwarded-Proto", ctx->tls ? "https" : "http");
    buf_free(&xff);
}

/* ---- pieces shared by both formats --------------------------------------------------------- */

bool route__http_body_is_text(const route_http_ctx_t *ctx)
{
    const http_header_t *ct = NULL;
    for (size_t i = 0; i < ctx->nheaders && !ct; i++)
        if (http_ieq(ctx->headers[i].name, ctx->headers[i].name_len, "content-type"))
            ct = &ctx->headers[i];
    if (!ct)
        return false;
    size_t n = 0;
    while (n < ct->value_len && ct->value[n] != ';' && ct->value[n] != ' ' && ct->value[n] != '\t')
        n++;
    if (n >= 5 && strncasecmp(ct->value, "text/", 5) == 0)
        return true;
    return http_ieq(ct->value, n, "application/json") ||
           http_ieq(ct->value, n, "application/xml") ||
           http_ieq(ct->value, n, "application/javascript");
}

static void write_body(const route_http_ctx_t *ctx, buf_t *out, bool *b64)
{
    *b64 = !route__http_body_is_text(ctx);
    if (!*b64) {
        route__json_str(out, ctx->body, ctx->body_len);
        return;
    }
    char *e = pt_xmalloc(B64_ENC_LEN(ctx->body_len) + 1);
    size_t n = b64_encode((const uint8_t *)ctx->body, ctx->body_len, e, false);
    buf_putc(out, '"');
    buf_append(out, e, n);
    buf_putc(out, '"');
    free(e);
}

static const char *route_key(const route_http_ctx_t *ctx)
{
    return ctx->match && ctx->match->route && ctx->match->route->key ? ctx->match->route->key
                                                                     : "$default";
}

/* "/pets/{id}" of "GET /pets/{id}"; "$default" for $default. */
static const char *resource_path(const route_http_ctx_t *ctx)
{
    const char *k = route_key(ctx);
    const char *sp = strchr(k, ' ');
    return sp ? sp + 1 : k;
}

static void write_params(jw_t *w, const route_http_ctx_t *ctx, bool null_when_none)
{
    const route_http_match_t *m = ctx->match;
    if (!m || m->nparams == 0) {
        if (null_when_none) {
            key(w, "pathParameters");
            buf_puts(w->out, "null");
        }
        return;
    }
    key(w, "pathParameters");
    buf_putc(w->out, '{');
    for (size_t i = 0; i < m->nparams; i++) {
        char *d = pt_xmalloc(m->params[i].raw_len + 1);
        long n = http_pct_decode(m->params[i].raw, m->params[i].raw_len, d, false);
        if (i)
            buf_putc(w->out, ',');
        str(w->out, m->params[i].name);
        buf_putc(w->out, ':');
        if (n >= 0)
            strn(w->out, d, (size_t)n);
        else /* a malformed escape or an encoded NUL: the text as sent */
            strn(w->out, m->params[i].raw, m->params[i].raw_len);
        free(d);
    }
    buf_putc(w->out, '}');
}

static void write_stage_vars(jw_t *w, const route_http_ctx_t *ctx, bool null_when_none)
{
    if (!ctx->stage || ctx->stage->variables.n == 0) {
        if (null_when_none) {
            key(w, "stageVariables");
            buf_puts(w->out, "null");
        }
        return;
    }
    key(w, "stageVariables");
    buf_putc(w->out, '{');
    for (size_t i = 0; i < ctx->stage->variables.n; i++) {
        if (i)
            buf_putc(w->out, ',');
        str(w->out, ctx->stage->variables.items[i].key);
        buf_putc(w->out, ':');
        str(w->out, ctx->stage->variables.items[i].val);
    }
    buf_putc(w->out, '}');
}

static const char *user_agent(const route_http_ctx_t *ctx, size_t *n)
{
    for (size_t i = 0; i < ctx->nheaders; i++)
        if (http_ieq(ctx->headers[i].name, ctx->headers[i].name_len, "user-agent")) {
            *n = ctx->headers[i].value_len;
            return ctx->headers[i].value;
        }
    *n = 0;
    return NULL;
}

static void domain_prefix(const route_http_ctx_t *ctx, buf_t *out)
{
    const char *d = ctx->domain_name ? ctx->domain_name : "";
    const char *dot = d[0] == '[' ? NULL : strchr(d, '.');
    strn(out, d, dot ? (size_t)(dot - d) : strlen(d));
}

static const char *protocol(const route_http_ctx_t *ctx)
{
    return ctx->minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

/* A map of grouped values: the last one (single) or all comma-joined (joined). */
static void write_map(jw_t *w, const char *name, const route_kvl_t *l, bool ci, bool joined)
{
    size_t *idx, *starts, ng;
    route__kvl_group(l, ci, &idx, &starts, &ng);
    key(w, name);
    buf_putc(w->out, '{');
    for (size_t g = 0; g < ng; g++) {
        if (g)
            buf_putc(w->out, ',');
        str(w->out, l->v[idx[starts[g]]].key);
        buf_putc(w->out, ':');
        if (!joined) {
            str(w->out, l->v[idx[starts[g + 1] - 1]].val);
            continue;
        }
        buf_t j = BUF_INIT;
        for (size_t i = starts[g]; i < starts[g + 1]; i++) {
            if (i > starts[g])
                buf_putc(&j, ',');
            buf_puts(&j, l->v[idx[i]].val);
        }
        strn(w->out, j.p ? j.p : "", j.len);
        buf_free(&j);
    }
    buf_putc(w->out, '}');
    free(idx);
    free(starts);
}

static void write_multi_map(jw_t *w, const char *name, const route_kvl_t *l, bool ci)
{
    size_t *idx, *starts, ng;
    route__kvl_group(l, ci, &idx, &starts, &ng);
    key(w, name);
    buf_putc(w->out, '{');
    for (size_t g = 0; g < ng; g++) {
        if (g)
            buf_putc(w->out, ',');
        str(w->out, l->v[idx[starts[g]]].key);
        buf_puts(w->out, ":[");
        for (size_t i = starts[g]; i < starts[g + 1]; i++) {
            if (i > starts[g])
                buf_putc(w->out, ',');
            str(w->out, l->v[idx[i]].val);
        }
        buf_putc(w->out, ']');
    }
    buf_putc(w->out, '}');
    free(idx);
    free(starts);
}

/* ---- 2.0 ----------------------------------------------------------------------------------- */

static void write_cookies(jw_t *w, const route_http_ctx_t *ctx)
{
    bool any = false;
    for (size_t i = 0; i < ctx->nheaders; i++) {
        const http_header_t *h = &ctx->headers[i];
        if (!http_ieq(h->name, h->name_len, "cookie"))
            continue;
        size_t p = 0;
        while (p < h->value_len) {
            size_t e = p;
            while (e < h->value_len && h->value[e] != ';')
                e++;
            size_t s = p, t = e;
            while (s < t && (h->value[s] == ' ' || h->value[s] == '\t'))
                s++;
            while (t > s && (h->value[t - 1] == ' ' || h->value[t - 1] == '\t'))
                t--;
            if (t > s) {
                if (!any) {
                    key(w, "cookies");
                    buf_putc(w->out, '[');
                } else {
                    buf_putc(w->out, ',');
                }
                any = true;
                strn(w->out, h->value + s, t - s);
            }
            p = e + 1;
        }
    }
    if (any)
        buf_putc(w->out, ']');
}

static void event_v2(const route_http_ctx_t *ctx, buf_t *out)
{
    jw_t w = {out, true};
    route_kvl_t l = {0};
    char t[32];
    size_t ual;
    const char *ua = user_agent(ctx, &ual);

    buf_putc(out, '{');
    key(&w, "version");
    str(out, "2.0");
    key(&w, "routeKey");
    str(out, route_key(ctx));
    key(&w, "rawPath");
    strn(out, ctx->raw_path, ctx->raw_path_len);
    key(&w, "rawQueryString");
    strn(out, ctx->query ? ctx->query : "", ctx->query ? ctx->query_len : 0);
    write_cookies(&w, ctx);
    route__http_headers(ctx, ROUTE__HTTP_V2, &l);
    write_map(&w, "headers", &l, true, true);
    route__kvl_free(&l);
    route__query_parse(ctx->query, ctx->query_len, &l);
    if (l.n)
        write_map(&w, "queryStringParameters", &l, false, true);
    route__kvl_free(&l);

    key(&w, "requestContext");
    {
        jw_t r = {out, true};
        buf_putc(out, '{');
        key(&r, "accountId");
        str(out, ctx->account_id);
        key(&r, "apiId");
        str(out, ctx->api ? ctx->api->id : NULL);
        if (ctx->authorizer) { /* issue 7: already shaped for the payload format */
            key(&r, "authorizer");
            route__json_write(out, ctx->authorizer);
        }
        key(&r, "domainName");
        str(out, ctx->domain_name);
        key(&r, "domainPrefix");
        domain_prefix(ctx, out);
        key(&r, "http");
        {
            jw_t h = {out, true};
            buf_putc(out, '{');
            key(&h, "method");
            strn(out, ctx->method, ctx->method_len);
            key(&h, "path");
            strn(out, ctx->raw_path, ctx->raw_path_len);
            key(&h, "protocol");
            str(out, protocol(ctx));
            key(&h, "sourceIp");
            str(out, ctx->source_ip);
            key(&h, "userAgent");
            strn(out, ua, ual);
            buf_putc(out, '}');
        }
        key(&r, "requestId");
        str(out, ctx->request_id);
        key(&r, "routeKey");
        str(out, route_key(ctx));
        key(&r, "stage");
        str(out, ctx->stage ? ctx->stage->name : NULL);
        key(&r, "time");
        time_clf(ctx->request_time_ms, t);
        str(out, t);
        key(&r, "timeEpoch");
        buf_printf(out, "%lld", (long long)ctx->request_time_ms);
        buf_putc(out, '}');
    }
    bool b64 = false;
    if (ctx->body_len) {
        key(&w, "body");
        write_body(ctx, out, &b64);
    }
    write_params(&w, ctx, false);
    key(&w, "isBase64Encoded");
    buf_puts(out, b64 ? "true" : "false");
    write_stage_vars(&w, ctx, false);
    buf_putc(out, '}');
}

/* ---- 1.0 ----------------------------------------------------------------------------------- */

static void event_v1(const route_http_ctx_t *ctx, buf_t *out)
{
    jw_t w = {out, true};
    route_kvl_t l = {0};
    char t[32];
    size_t ual;
    const char *ua = user_agent(ctx, &ual);
    static const char *const nulls[] = {"accessKey",
                                        "accountId",
                                        "caller",
                                        "cognitoAmr",
                                        "cognitoAuthenticationProvider",
                                        "cognitoAuthenticationType",
                                        "cognitoIdentityId",
                                        "cognitoIdentityPoolId",
                                        "principalOrgId"};

    buf_putc(out, '{');
    key(&w, "version");
    str(out, "1.0");
    key(&w, "resource");
    str(out, resource_path(ctx));
    key(&w, "path");
    strn(out, ctx->path, ctx->path_len);
    key(&w, "httpMethod");
    strn(out, ctx->method, ctx->method_len);
    route__http_headers(ctx, ROUTE__HTTP_V1, &l);
    write_map(&w, "headers", &l, true, false);
    write_multi_map(&w, "multiValueHeaders", &l, true);
    route__kvl_free(&l);
    route__query_parse(ctx->query, ctx->query_len, &l);
    if (l.n) {
        write_map(&w, "queryStringParameters", &l, false, false);
        write_multi_map(&w, "multiValueQueryStringParameters", &l, false);
    } else {
        key(&w, "queryStringParameters");
        buf_puts(out, "null");
        key(&w, "multiValueQueryStringParameters");
        buf_puts(out, "null");
    }
    route__kvl_free(&l);

    key(&w, "requestContext");
    {
        jw_t r = {out, true};
        buf_putc(out, '{');
        key(&r, "accountId");
        str(out, ctx->account_id);
        key(&r, "apiId");
        str(out, ctx->api ? ctx->api->id : NULL);
        if (ctx->authorizer) { /* issue 7: already shaped for the payload format */
            key(&r, "authorizer");
            route__json_write(out, ctx->authorizer);
        }
        key(&r, "domainName");
        str(out, ctx->domain_name);
        key(&r, "domainPrefix");
        domain_prefix(ctx, out);
        key(&r, "extendedRequestId");
        str(out, ctx->request_id);
        key(&r, "httpMethod");
        strn(out, ctx->method, ctx->method_len);
        key(&r, "identity");
        {
            jw_t id = {out, true};
            buf_putc(out, '{');
            for (size_t i = 0; i < PT_ARRAY_LEN(nulls); i++) {
                key(&id, nulls[i]);
                buf_puts(out, "null");
            }
            key(&id, "sourceIp");
            str(out, ctx->source_ip);
            key(&id, "user");
            buf_puts(out, "null");
            key(&id, "userAgent");
            if (ua)
                strn(out, ua, ual);
            else
                buf_puts(out, "null");
            key(&id, "userArn");
            buf_puts(out, "null");
            buf_putc(out, '}');
        }
        key(&r, "path");
        strn(out, ctx->path, ctx->path_len);
        key(&r, "protocol");
        str(out, protocol(ctx));
        key(&r, "requestId");
        str(out, ctx->request_id);
        key(&r, "requestTime");
        time_clf(ctx->request_time_ms, t);
        str(out, t);
        key(&r, "requestTimeEpoch");
        buf_printf(out, "%lld", (long long)ctx->request_time_ms);
        key(&r, "resourceId");
        str(out, route_key(ctx));
        key(&r, "resourcePath");
        str(out, resource_path(ctx));
        key(&r, "stage");
        str(out, ctx->stage ? ctx->stage->name : NULL);
        buf_putc(out, '}');
    }
    write_params(&w, ctx, true);
    write_stage_vars(&w, ctx, true);
    key(&w, "body");
    bool b64 = false;
    if (ctx->body_len)
        write_body(ctx, out, &b64);
    else
        buf_puts(out, "null");
    key(&w, "isBase64Encoded");
    buf_puts(out, b64 ? "true" : "false");
    buf_putc(out, '}');
}

void route_http_event(const route_http_ctx_t *ctx, bool v2, buf_t *out)
{
    if (v2)
        event_v2(ctx, out);
    else
        event_v1(ctx, out);
}
