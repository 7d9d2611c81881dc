/* http_integ.c: HTTP APIs: the backend request, what its result means for the client, MOCK. */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Requests (route_http_integ_request):
 *   HTTP_PROXY: the client's method (integrationMethod ANY) or integrationMethod; the
 *     integrationUri after ${stageVariables.x} and {name} substitution (path variables, the
 *     greedy one as {proxy} for {proxy+}, as sent: still percent-encoded); for the $default
 *     route the request path after the stage is appended, as AWS does ("When the $default
 *     route receives a request, API Gateway sends the full request path to the integration");
 *     the raw query string; the client's headers without hop-by-hop ones (Connection and what
 *     it names, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade), Host (from the
 *     URL) and Expect, with X-Forwarded-For appended and X-Forwarded-Port/-Proto and
 *     X-Amzn-Trace-Id set; the body as received.
 *   AWS_PROXY: POST of the 1.0 or 2.0 event (payloadFormatVersion) as application/json, to the
 *     http(s) URL, or through the Lambda Invoke API when the URI names a function.
 *
 * Outcomes (route_http_outcome), with HTTP APIs' error bodies:
 *   timeout                         504 {"message":"Endpoint request timed out"}
 *   backend unreachable or reset    503 {"message":"Service Unavailable"}
 *   response over the size limit    502 {"message":"Internal Server Error"}
 *   Lambda function error           502 (X-Amz-Function-Error; Lambda developer guide,
 *                                   "Handling Lambda errors with an API Gateway API")
 *   Invoke API refused (non-2xx)    500 (same page: "If the Lambda API rejects the invocation
 *                                   request, API Gateway returns a 500 error code")
 *   malformed Lambda result         502
 * HTTP APIs spell it "Internal Server Error" ("My API with a Lambda integration returns
 * {"message":"Internal Server Error"}", http-api-troubleshooting-lambda), unlike REST and
 * WebSocket APIs ("Internal server error").
 *   HTTP_PROXY: the backend's status, headers (without hop-by-hop ones, Content-Length and
 *     Date, which the gateway writes) and body, whatever the status.
 *   AWS_PROXY 1.0: route_proxy_result_parse (REST's rules); headers and multiValueHeaders both
 *     apply, a name in multiValueHeaders replacing the same name in headers (AWS: "If the same
 *     key-value pair is specified in both, only the values from multiValueHeaders will appear").
 *   AWS_PROXY 2.0: route_http_result_parse_v2; cookies become Set-Cookie headers.
 *   A result without Content-Type gets application/json when it has a body [U: what REST
 *   proxy integrations do]. Header names must be tokens (others are dropped) and CR, LF and
 *   NUL in values become spaces, so a result cannot inject headers.
 */

void route_http_response_free(route_http_response_t *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].key);
        free(r->headers[i].val);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
    r->head_length = -1;
}

static bool is_token(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return false;
    }
    return true;
}

void route_http_response_header(route_http_response_t *r, const char *name, const char *val,
                                size_t vl)
{
    size_t nl = strlen(name);
    if (!is_token(name, nl))
        return;
    if (r->nheaders == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->headers = pt_xrealloc(r->headers, r->cap * sizeof *r->headers);
    }
    char *v = pt_xstrndup(val ? val : "", val ? vl : 0);
    for (size_t i = 0; i < vl; i++)
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
            v[i] = ' ';
    r->headers[r->nheaders].key = pt_xstrdup(name);
    r->headers[r->nheaders].val = v;
    r->nheaders++;
}

const char *route_http_response_get(const route_http_response_t *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].key, name) == 0)
            return r->headers[i].val;
    return NULL;
}

static void set_body(route_http_response_t *r, const char *b, size_t n)
{
    free(r->body);
    r->body = pt_xmalloc(n + 1);
    if (n)
        memcpy(r->body, b, n);
    r->body[n] = '\0';
    r->body_len = n;
}

void route_http_error(int status, route_http_response_t *out)
{
    const char *msg;
    switch (status) {
    case 400:
        msg = "Bad Request";
        break;
    case 401:
        msg = "Unauthorized";
        break;
    case 403:
        msg = "Forbidden";
        break;
    case 404:
        msg = "Not Found";
        break;
    case 413:
        msg = "Request Entity Too Large";
        break;
    case 429:
        msg = "Too Many Requests";
        break;
    case 503:
        msg = "Service Unavailable";
        break;
    case 504:
        msg = "Endpoint request timed out";
        break;
    default:
        msg = "Internal Server Error";
    }
    route_http_response_free(out);
    out->status = status;
    out->gateway = true;
    out->error = msg;
    char b[96];
    int n = snprintf(b, sizeof b, "{\"message\":\"%s\"}", msg);
    set_body(out, b, (size_t)n);
    route_http_response_header(out, "Content-Type", "application/json", 16);
}

/* ---- requests ------------------------------------------------------------------------------- */

static bool starts_ci(const char *s, const char *pre)
{
    return strncasecmp(s, pre, strlen(pre)) == 0;
}

/* Replaces "{name}" in the path part of url (before '?') with value (already URL text). */
static void subst_var(buf_t *url, const char *name, const char *val, size_t vl)
{
    buf_t ph = BUF_INIT, o = BUF_INIT;
    buf_printf(&ph, "{%s}", name);
    const char *p = url->p;
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + url->len;
    const char *f;
    while ((f = memmem(p, (size_t)(end - p), ph.p, ph.len)) != NULL) {
        buf_append(&o, p, (size_t)(f - p));
        buf_append(&o, val, vl);
        p = f + ph.len;
    }
    buf_puts(&o, p);
    buf_free(url);
    *url = o;
    buf_free(&ph);
}

/* Request text as it goes into the integration URL: as the client sent it (still
 * percent-encoded), except bytes a URL cannot carry (controls, space, non-ASCII, and
 * "<>\"^`{|}\\"), which are percent-encoded, and, in a path (in_path), '?' and '#', so a value
 * cannot end the path early. */
static void url_text(const char *raw, size_t n, bool in_path, buf_t *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c <= 0x20 || c >= 0x7f || strchr("<>\"^`{|}\\", c) ||
            (in_path && (c == '?' || c == '#'))) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(out, e, 3);
        } else {
            buf_putc(out, (char)c);
        }
    }
}

static void build_proxy_url(const route_http_ctx_t *ctx, buf_t *url)
{
    const route_http_match_t *m = ctx->match;
    buf_t v = BUF_INIT;
    for (size_t i = 0; m && i < m->nparams; i++) {
        buf_reset(&v);
        url_text(m->params[i].raw, m->params[i].raw_len, true, &v);
        subst_var(url, m->params[i].name, v.p ? v.p : "", v.len);
    }
    buf_free(&v);
    bool is_default = !m || !m->route || (m->route->key && strcmp(m->route->key, "$default") == 0);
    if (is_default && ctx->rel_path_len && !(ctx->rel_path_len == 1 && ctx->rel_path[0] == '/')) {
        /* Append the request path to the URL's path (before any query of the URI). */
        const char *q = strchr(url->p, '?');
        size_t at = q ? (size_t)(q - url->p) : url->len;
        buf_t o = BUF_INIT;
        buf_append(&o, url->p, at);
        const char *rp = ctx->rel_path;
        size_t rl = ctx->rel_path_len;
        if (o.len && o.p[o.len - 1] == '/' && rp[0] == '/') {
            rp++;
            rl--;
        } else if ((!o.len || o.p[o.len - 1] != '/') && rp[0] != '/') {
            buf_putc(&o, '/');
        }
        url_text(rp, rl, true, &o);
        buf_puts(&o, url->p + at);
        buf_free(url);
        *url = o;
    }
    if (ctx->query && ctx->query_len) {
        buf_putc(url, strchr(url->p, '?') ? '&' : '?');
        url_text(ctx->query, ctx->query_len, false, url);
    }
}

int route_http_integ_request(const route_integration_t *integ, const route_http_ctx_t *ctx,
                             route_http_req_t *out, buf_t *err)
{
    buf_t url = BUF_INIT, body = BUF_INIT;
    buf_t noerr = BUF_INIT;
    route_kvl_t hdrs = {0};
    int rc = PT_OK;
    bool v2 = integ->payload_format_version && strcmp(integ->payload_format_version, "2.0") == 0;

    memset(out, 0, sizeof *out);
    if (!err)
        err = &noerr;
    if (integ->type != ROUTE_INTEG_HTTP_PROXY && integ->type != ROUTE_INTEG_AWS_PROXY) {
        buf_puts(err, "HTTP APIs call only HTTP_PROXY and AWS_PROXY integrations");
        rc = PT_EINVAL;
        goto fail;
    }
    if (!integ->uri) {
        buf_puts(err, "the integration has no integrationUri");
        rc = PT_EINVAL;
        goto fail;
    }
    route_subst_stage_vars(integ->uri, ctx->stage, &url);
    if (integ->type == ROUTE_INTEG_AWS_PROXY && route_lambda_is_ref(url.p ? url.p : "")) {
        /*
         * THE LAMBDA ARN HOOK for HTTP APIs: an integrationUri that names a function becomes a
         * Lambda Invoke (routes/lambda.c); the event is the whole body and the gateway signs
         * the request (sign_service set) before submitting it (gateway/rest.c, gw_aws_sign).
         */
        route_lambda_env_t dflt = {.region = ctx->region, .endpoint = NULL};
        rc = route_lambda_request(integ->uri, ctx->stage, ctx->lambda ? ctx->lambda : &dflt, out,
                                  err);
        if (rc != PT_OK)
            goto fail;
        route_http_event(ctx, v2, &body);
        out->body = buf_steal(&body, &out->body_len);
        out->timeout_ms = integ->timeout_ms > 0 ? integ->timeout_ms : 30000;
        goto out;
    }
    if (!url.p || (!starts_ci(url.p, "http://") && !starts_ci(url.p, "https://"))) {
        buf_printf(err, "integrationUri %s is not an http(s) URL", url.p ? url.p : "");
        rc = PT_EINVAL;
        goto fail;
    }
    if (integ->type == ROUTE_INTEG_AWS_PROXY) {
        route_http_event(ctx, v2, &body);
        out->method = pt_xstrdup("POST");
        out->url = buf_steal(&url, NULL);
        buf_puts(&out->headers, "Content-Type: application/json\r\n");
        out->body = buf_steal(&body, &out->body_len);
    } else {
        build_proxy_url(ctx, &url);
        bool any = !integ->method || strcmp(integ->method, "ANY") == 0;
        out->method = any ? pt_xstrndup(ctx->method, ctx->method_len) : pt_xstrdup(integ->method);
        out->url = buf_steal(&url, NULL);
        route__http_headers(ctx, ROUTE__HTTP_PROXY, &hdrs);
        for (size_t i = 0; i < hdrs.n; i++)
            buf_printf(&out->headers, "%s: %s\r\n", hdrs.v[i].key, hdrs.v[i].val);
        if (ctx->body_len) {
            out->body = pt_xmemdup(ctx->body, ctx->body_len);
            out->body_len = ctx->body_len;
        }
    }
    out->timeout_ms = integ->timeout_ms > 0 ? integ->timeout_ms : 30000;
    goto out;
fail:
    route_http_req_free(out);
out:
    buf_free(&url);
    buf_free(&body);
    buf_free(&noerr);
    route__kvl_free(&hdrs);
    return rc;
}

/* ---- outcomes -------------------------------------------------------------------------------- */

/* Headers the gateway writes itself, or that describe one hop only (RFC 9110 7.6.1). */
static bool drop_response_header(const char *name, size_t n)
{
    static const char *const drop[] = {"connection", "keep-alive", "transfer-encoding", "te",
                                       "trailer",    "upgrade",    "content-length",    "date"};
    for (size_t i = 0; i < PT_ARRAY_LEN(drop); i++)
        if (http_ieq(name, n, drop[i]))
            return true;
    return n >= 6 && strncasecmp(name, "proxy-", 6) == 0;
}

static void proxy_response(const route_http_ctx_t *ctx, const route_integ_result_t *res,
                           route_http_response_t *out)
{
    out->status = res->status;
    for (size_t i = 0; i < res->nheaders; i++) {
        const http_header_t *h = &res->headers[i];
        if (http_ieq(h->name, h->name_len, "content-length") && ctx->method_len == 4 &&
            memcmp(ctx->method, "HEAD", 4) == 0) {
            uint64_t v;
            if (http_parse_u64(h->value, h->value_len, &v) == PT_OK)
                out->head_length = (int64_t)v;
        }
        if (drop_response_header(h->name, h->name_len))
            continue;
        char name[256];
        if (h->name_len >= sizeof name)
            continue;
        memcpy(name, h->name, h->name_len);
        name[h->name_len] = '\0';
        route_http_response_header(out, name, h->value, h->value_len);
    }
    set_body(out, res->body ? res->body : "", res->body_len);
}

/* Adds each header of a JSON object of strings (skipping names in `except`, an object). */
static void json_headers(route_http_response_t *out, const json_t *obj, const json_t *except,
                         bool arrays)
{
    const char *k;
    json_t *v;
    if (!obj)
        return;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (drop_response_header(k, strlen(k)))
            continue;
        if (except) {
            const char *ek;
            json_t *ev;
            bool skip = false;
            json_object_foreach((json_t *)except, ek, ev)
            {
                (void)ev;
                if (strcasecmp(ek, k) == 0)
                    skip = true;
            }
            if (skip)
                continue;
        }
        if (arrays) {
            for (size_t i = 0; i < json_array_size(v); i++) {
                const json_t *e = json_array_get(v, i);
                if (json_is_string(e))
                    route_http_response_header(out, k, json_string_value(e), json_string_length(e));
            }
        } else if (json_is_string(v)) {
            route_http_response_header(out, k, json_string_value(v), json_string_length(v));
        }
    }
}

static void default_content_type(route_http_response_t *out)
{
    if (out->body_len && !route_http_response_get(out, "content-type"))
        route_http_response_header(out, "Content-Type", "application/json", 16);
}

static void lambda_v1(const route_integ_result_t *res, route_http_response_t *out)
{
    route_proxy_result_t pr;
    if (route_proxy_result_parse(res->body ? res->body : "", res->body_len, &pr) != PT_OK) {
        route_http_error(502, out);
        out->error = "Malformed Lambda proxy response";
        return;
    }
    out->status = pr.status_code < 0 ? 200 : pr.status_code;
    json_headers(out, pr.headers, pr.multi_value_headers, false);
    json_headers(out, pr.multi_value_headers, NULL, true);
    set_body(out, pr.body ? pr.body : "", pr.body ? pr.body_len : 0);
    default_content_type(out);
    route_proxy_result_free(&pr);
}

static void lambda_v2(const route_integ_result_t *res, route_http_response_t *out)
{
    route_http_result_t r;
    if (route_http_result_parse_v2(res->body ? res->body : "", res->body_len, &r) != PT_OK) {
        route_http_error(502, out);
        out->error = "Malformed Lambda proxy response";
        return;
    }
    out->status = r.status_code;
    if (r.inferred)
        route_http_response_header(out, "Content-Type", "application/json", 16);
    json_headers(out, r.headers, NULL, false);
    for (size_t i = 0; r.cookies && i < json_array_size(r.cookies); i++) {
        const json_t *c = json_array_get(r.cookies, i);
        route_http_response_header(out, "Set-Cookie", json_string_value(c), json_string_length(c));
    }
    set_body(out, r.body ? r.body : "", r.body ? r.body_len : 0);
    default_content_type(out);
    route_http_result_free(&r);
}

void route_http_outcome(const route_integration_t *integ, const route_http_ctx_t *ctx,
                        const route_integ_result_t *res, route_http_response_t *out)
{
    memset(out, 0, sizeof *out);
    out->head_length = -1;
    switch (res->error) {
    case PT_OK:
        break;
    case PT_ETIMEOUT:
        route_http_error(504, out);
        return;
    case PT_EIO:
    case PT_ECLOSED:
        route_http_error(503, out);
        return;
    default:
        route_http_error(502, out);
        return;
    }
    if (integ->type == ROUTE_INTEG_HTTP_PROXY) {
        proxy_response(ctx, res, out);
        return;
    }
    if (integ->type != ROUTE_INTEG_AWS_PROXY) {
        route_http_error(500, out);
        return;
    }
    if (res->function_error) {
        route_http_error(502, out);
        out->error = "Lambda function error";
        return;
    }
    if (res->status < 200 || res->status > 299) {
        route_http_error(500, out);
        out->error = "The Lambda Invoke API refused the call";
        return;
    }
    if (integ->payload_format_version && strcmp(integ->payload_format_version, "2.0") == 0)
        lambda_v2(res, out);
    else
        lambda_v1(res, out);
    if (out->status < 200) { /* a 1xx cannot end an HTTP exchange: the client would wait on */
        route_http_error(502, out);
        out->error = "Malformed Lambda proxy response";
    }
}

/* ---- MOCK ------------------------------------------------------------------------------------ */

/* The integration response for a status: a key equal to it or a /regex/ matching it, first in
 * order, else $default. */
static const route_integ_response_t *pick_response(const route_integration_t *integ, int status)
{
    char code[16];
    const route_integ_response_t *def = NULL;
    snprintf(code, sizeof code, "%d", status);
    for (size_t i = 0; i < integ->nresponses; i++) {
        const route_integ_response_t *r = &integ->responses[i];
        size_t kl = r->key ? strlen(r->key) : 0;
        if (kl == 0)
            continue;
        if (strcmp(r->key, "$default") == 0) {
            if (!def)
                def = r;
        } else if (kl >= 2 && r->key[0] == '/' && r->key[kl - 1] == '/') {
            regex_t re;
            if (route__regex_compile(&re, r->key + 1, kl - 2, true) != PT_OK)
                continue;
            bool hit = regexec(&re, code, 0, NULL, 0) == 0;
            regfree(&re);
            if (hit)
                return r;
        } else if (strcmp(r->key, code) == 0) {
            return r;
        }
    }
    return def;
}

void route_http_mock(const route_integration_t *integ, const route_http_ctx_t *ctx,
                     route_http_response_t *out)
{
    route_ctx_t rc;
    buf_t r = BUF_INIT;
    int status = 200;
    char *ua = NULL;

    memset(out, 0, sizeof *out);
    out->head_length = -1;
    /* Templates see the request as $context and the request body as $input. */
    memset(&rc, 0, sizeof rc);
    rc.api = ctx->api;
    rc.stage = ctx->stage;
    rc.route = ctx->match ? ctx->match->route : NULL;
    rc.request_id = ctx->request_id;
    rc.domain_name = ctx->domain_name;
    rc.region = ctx->region;
    rc.account_id = ctx->account_id;
    rc.request_time_ms = ctx->request_time_ms;
    rc.source_ip = ctx->source_ip;
    for (size_t i = 0; i < ctx->nheaders && !ua; i++)
        if (http_ieq(ctx->headers[i].name, ctx->headers[i].name_len, "user-agent"))
            ua = pt_xstrndup(ctx->headers[i].value, ctx->headers[i].value_len);
    rc.user_agent = ua;
    rc.integration_latency_ms = -1;

    const char *tmpl = route_request_template(integ, &rc);
    if (tmpl) {
        json_t *j = NULL;
        if (route_template_render(tmpl, &rc, ctx->body ? ctx->body : "", ctx->body_len, NULL, &r,
                                  NULL) == PT_OK)
            j = json_loadb(r.p ? r.p : "", r.len, 0, NULL);
        json_t *sc = j ? json_object_get(j, "statusCode") : NULL;
        bool ok = sc && json_is_integer(sc) && json_integer_value(sc) >= 100 &&
                  json_integer_value(sc) <= 599;
        if (ok)
            status = (int)json_integer_value(sc);
        if (j)
            json_decref(j);
        buf_reset(&r);
        if (!ok) {
            route_http_error(500, out);
            out->error = "The MOCK request template did not give a statusCode";
            goto out;
        }
    }
    out->status = status;
    const route_integ_response_t *ir = pick_response(integ, status);
    const char *rt = NULL;
    if (ir) {
        rt = route_map_get(&ir->response_templates, "$default");
        if (!rt)
            rt = route_map_get(&ir->response_templates, "application/json");
    }
    if (rt) {
        if (route_template_render(rt, &rc, ctx->body ? ctx->body : "", ctx->body_len, NULL, &r,
                                  NULL) != PT_OK) {
            route_http_error(500, out);
            out->error = "The MOCK response template failed";
            goto out;
        }
        set_body(out, r.p ? r.p : "", r.len);
    }
    default_content_type(out);
out:
    buf_free(&r);
    free(ua);
}
