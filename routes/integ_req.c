/* integ_req.c: the backend request of HTTP, HTTP_PROXY and AWS_PROXY integrations (spec 2.3,
 * 5, 6.6). */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

void route_http_req_free(route_http_req_t *r)
{
    free(r->method);
    free(r->url);
    buf_free(&r->headers);
    free(r->body);
    free(r->sign_service);
    free(r->sign_region);
    memset(r, 0, sizeof *r);
}

static bool starts_ci(const char *s, const char *pre)
{
    return strncasecmp(s, pre, strlen(pre)) == 0;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

/* Header values reach a "Name: value\r\n" line: CR, LF and NUL would let a mapped value
 * (from a message body, say) inject headers, so they become spaces. */
static void add_header(route_kvl_t *h, const char *name, const char *val, size_t vl)
{
    char *v = pt_xstrndup(val, vl);
    for (size_t i = 0; i < vl; i++)
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
            v[i] = ' ';
    route__kvl_del_ci(h, name);
    route__kvl_add(h, name, strlen(name), v, vl);
    free(v);
}

/* Joins the values of a name from the handshake headers (ci) or the query (exact). */
static bool join_values(const route_kvl_t *l, const char *name, bool ci, bool all, buf_t *out)
{
    bool found = false;
    for (size_t i = 0; i < l->n; i++) {
        if (ci ? strcasecmp(l->v[i].key, name) != 0 : strcmp(l->v[i].key, name) != 0)
            continue;
        if (!all) /* single-value sources: the last value wins */
            buf_reset(out);
        else if (found)
            buf_putc(out, ',');
        buf_puts(out, l->v[i].val);
        found = true;
    }
    return found;
}

/*
 * Resolves a requestParameters source (spec 5.2). Returns false when it has no value (the
 * mapping is then skipped): route.request.* other than body exist on CONNECT only, body on
 * MESSAGE only. Multi-value sources are comma-joined [U].
 */
static bool param_source(const route_ctx_t *ctx, const char *src, const route_kvl_t *hdrs,
                         const route_kvl_t *query, json_t **bodytmp, buf_t *out)
{
    size_t n = strlen(src);
    if (n >= 1 && src[0] == '\'') {
        size_t e = n >= 2 && src[n - 1] == '\'' ? n - 1 : n;
        buf_append(out, src + 1, e - 1);
        return true;
    }
#define PRE(lit)  (strncmp(src, lit, sizeof(lit) - 1) == 0)
#define REST(lit) (src + sizeof(lit) - 1)
    if (PRE("route.request.header."))
        return join_values(hdrs, REST("route.request.header."), true, false, out);
    if (PRE("route.request.multivalueheader."))
        return join_values(hdrs, REST("route.request.multivalueheader."), true, true, out);
    if (PRE("route.request.querystring."))
        return join_values(query, REST("route.request.querystring."), false, false, out);
    if (PRE("route.request.multivaluequerystring."))
        return join_values(query, REST("route.request.multivaluequerystring."), false, true, out);
    if (PRE("route.request.body")) {
        const char *p = REST("route.request.body");
        route_path_step_t *steps = NULL;
        size_t ns = 0;
        if (ctx->kind != ROUTE_EV_MESSAGE || (*p && *p != '.' && *p != '['))
            return false;
        const json_t *root = route__ctx_body_json(ctx, bodytmp);
        if (!root || route__path_compile(p, strlen(p), &steps, &ns) != PT_OK)
            return false;
        const json_t *v = route__path_get(root, steps, ns);
        route__path_free(steps, ns);
        if (!v)
            return false;
        route__json_text(v, out);
        return true;
    }
    if (PRE("context."))
        return route_ctx_var(ctx, REST("context."), n - 8, out);
    if (PRE("stageVariables.")) {
        const char *v =
            ctx->stage ? route_map_get(&ctx->stage->variables, REST("stageVariables.")) : NULL;
        if (v)
            buf_puts(out, v);
        return v != NULL;
    }
#undef PRE
#undef REST
    return false;
}

/* Replaces "{name}" in the path part of url (before '?') with the encoded value. */
static void subst_path_param(buf_t *url, const char *name, const char *val)
{
    buf_t ph = BUF_INIT, enc = BUF_INIT, o = BUF_INIT;
    buf_printf(&ph, "{%s}", name);
    route__pct_encode(&enc, val, strlen(val));
    const char *p = url->p;
    const char *q = strchr(p, '?');
    const char *end = q ? q : p + url->len;
    const char *f;
    while ((f = memmem(p, (size_t)(end - p), ph.p, ph.len)) != NULL) {
        buf_append(&o, p, (size_t)(f - p));
        buf_append(&o, enc.p ? enc.p : "", enc.len);
        p = f + ph.len;
    }
    buf_puts(&o, p);
    buf_free(url);
    *url = o;
    buf_free(&ph);
    buf_free(&enc);
}

static bool body_is_json(const route_ctx_t *ctx, const char *body, size_t n)
{
    /* The message itself, already parsed by route selection: no second parse. */
    if (ctx->body_json && ctx->body && n == ctx->body_len && memcmp(body, ctx->body, n) == 0)
        return true;
    json_t *j = json_loadb(body, n, JSON_DECODE_ANY, NULL);
    if (j)
        json_decref(j);
    return j != NULL;
}

int route_integ_request(const route_integration_t *integ, const route_ctx_t *ctx,
                        route_http_req_t *out, buf_t *err)
{
    buf_t url = BUF_INIT, body = BUF_INIT, query = BUF_INIT, val = BUF_INIT;
    route_kvl_t hdrs = {0};   /* what goes to the backend */
    route_kvl_t client = {0}; /* the handshake headers, for route.request.header.* */
    route_kvl_t qs = {0};     /* the decoded query, for route.request.querystring.* */
    json_t *bodytmp = NULL;
    buf_t noerr = BUF_INIT; /* stands in when the caller wants no message */
    bool has_body = false;
    const char *api_id = ctx->api && ctx->api->id ? ctx->api->id : "";
    int rc = PT_OK;

    memset(out, 0, sizeof *out);
    if (!err)
        err = &noerr;
    if (integ->type == ROUTE_INTEG_MOCK) {
        buf_puts(err, "a MOCK integration has no backend request");
        rc = PT_EINVAL;
        goto fail;
    }
    if (integ->type == ROUTE_INTEG_AWS) {
        buf_puts(err, "AWS (non-proxy) integrations are not supported");
        rc = PT_EUNSUPPORTED;
        goto fail;
    }
    if (!integ->uri) {
        buf_puts(err, "the integration has no integrationUri");
        rc = PT_EINVAL;
        goto fail;
    }
    route_subst_stage_vars(integ->uri, ctx->stage, &url);
    if (integ->type == ROUTE_INTEG_AWS_PROXY && route_lambda_is_ref(url.p)) {
        /* A Lambda Invoke (routes/lambda.c): the event is the whole body; requestParameters
         * do not apply to Lambda proxy integrations. The gateway signs it. */
        route_lambda_env_t dflt = {.region = ctx->region, .endpoint = NULL};
        rc = route_lambda_request(integ->uri, ctx->stage, ctx->lambda ? ctx->lambda : &dflt, out,
                                  err);
        if (rc != PT_OK)
            goto fail;
        route_event_ws(ctx, &body);
        out->body = buf_steal(&body, &out->body_len);
        out->timeout_ms = integ->timeout_ms > 0 ? integ->timeout_ms : 29000;
        goto out;
    }
    if (!starts_ci(url.p, "http://") && !starts_ci(url.p, "https://")) {
        buf_printf(err, "integrationUri %s is not an http(s) URL", url.p);
        rc = PT_EINVAL;
        goto fail;
    }

    if (ctx->kind == ROUTE_EV_CONNECT) {
        for (size_t i = 0; i < ctx->nheaders; i++)
            route__kvl_add(&client, ctx->headers[i].name, ctx->headers[i].name_len,
                           ctx->headers[i].value, ctx->headers[i].value_len);
        route__query_parse(ctx->query, ctx->query_len, &qs);
    }

    if (integ->type == ROUTE_INTEG_AWS_PROXY) {
        route_event_ws(ctx, &body);
        has_body = true;
        route__kvl_add(&hdrs, "Content-Type", 12, "application/json", 16);
    } else {
        /* HTTP_PROXY and HTTP (spec 2.3, 6.6): the handshake headers as the integration sees
         * them, without Host (the HTTP client sets it from the URL) and with API Gateway's own
         * User-Agent and x-amzn-apigateway-api-id. */
        route__connect_headers(ctx, &hdrs);
        static const char *const drop[] = {"host", "user-agent", "content-length", "expect"};
        for (size_t i = 0; i < PT_ARRAY_LEN(drop); i++)
            route__kvl_del_ci(&hdrs, drop[i]);
        if (ctx->kind != ROUTE_EV_CONNECT && ctx->trace_id)
            route__kvl_add(&hdrs, "X-Amzn-Trace-Id", 15, ctx->trace_id, strlen(ctx->trace_id));
        buf_printf(&val, "AmazonAPIGateway_%s", api_id);
        route__kvl_add(&hdrs, "User-Agent", 10, val.p, val.len);
        route__kvl_add(&hdrs, "x-amzn-apigateway-api-id", 24, api_id, strlen(api_id));
        buf_reset(&val);

        bool message = ctx->kind == ROUTE_EV_MESSAGE;
        const char *mbody = message && ctx->body ? ctx->body : "";
        size_t mlen = message && ctx->body ? ctx->body_len : 0;
        if (integ->type == ROUTE_INTEG_HTTP_PROXY) {
            if (message) { /* the frame text as the body (spec 5.1) */
                buf_append(&body, mbody, mlen);
                has_body = true;
            }
        } else {
            /* HTTP: the request template (spec 5.3), whatever the event; without one, the
             * passthrough behaviour decides for messages, and other events send no body. */
            const char *tmpl = route_request_template(integ, ctx);
            const char *pb =
                integ->passthrough_behavior ? integ->passthrough_behavior : "WHEN_NO_MATCH";
            if (tmpl) {
                rc = route_template_render(tmpl, ctx, mbody, mlen, message ? ctx->body_json : NULL,
                                           &body, err);
                if (rc != PT_OK) {
                    rc = PT_EINVAL;
                    goto fail;
                }
                has_body = true;
            } else if (message) {
                bool pass = strcmp(pb, "NEVER") != 0 && (strcmp(pb, "WHEN_NO_TEMPLATES") != 0 ||
                                                         integ->request_templates.n == 0);
                if (!pass) {
                    /* REST APIs answer 415 here; a WebSocket client gets the error frame. */
                    buf_printf(err, "no request template matches and passthroughBehavior is %s",
                               pb);
                    rc = PT_EINVAL;
                    goto fail;
                }
                buf_append(&body, mbody, mlen);
                has_body = true;
            }
        }
        if (has_body) { /* spec 15.8: JSON when it parses as JSON, else text */
            bool json = body_is_json(ctx, body.p ? body.p : "", body.len);
            route__kvl_add(&hdrs, "Content-Type", 12, json ? "application/json" : "text/plain",
                           json ? 16 : 10);
        }
    }

    /* requestParameters (spec 5.2). A mapped header replaces a forwarded one of the same name,
     * which is how the known Sec-WebSocket-Version: '0' workaround works (spec 2.3). */
    for (size_t i = 0; i < integ->request_parameters.n; i++) {
        const char *target = integ->request_parameters.items[i].key;
        const char *src = integ->request_parameters.items[i].val;
        buf_reset(&val);
        if (!param_source(ctx, src, &client, &qs, &bodytmp, &val))
            continue;
        const char *v = val.p ? val.p : "";
        if (strncmp(target, "integration.request.header.", 27) == 0) {
            if (is_token(target + 27))
                add_header(&hdrs, target + 27, v, val.len);
        } else if (strncmp(target, "integration.request.querystring.", 32) == 0) {
            const char *name = target + 32;
            buf_putc(&query, query.len ? '&' : (strchr(url.p, '?') ? '&' : '?'));
            route__pct_encode(&query, name, strlen(name));
            buf_putc(&query, '=');
            route__pct_encode(&query, v, val.len);
        } else if (strncmp(target, "integration.request.path.", 25) == 0) {
            subst_path_param(&url, target + 25, v);
        }
    }
    if (query.len)
        buf_append(&url, query.p, query.len);

    /* AWS_PROXY is a Lambda Invoke, which is always a POST (AWS refuses other methods). */
    out->method = pt_xstrdup(integ->type != ROUTE_INTEG_AWS_PROXY && integ->method && *integ->method
                                 ? integ->method
                                 : "POST");
    out->url = buf_steal(&url, NULL);
    for (size_t i = 0; i < hdrs.n; i++)
        buf_printf(&out->headers, "%s: %s\r\n", hdrs.v[i].key, hdrs.v[i].val);
    if (has_body)
        out->body = buf_steal(&body, &out->body_len);
    out->timeout_ms = integ->timeout_ms > 0 ? integ->timeout_ms : 29000;
    goto out;
fail:
    route_http_req_free(out);
out:
    buf_free(&url);
    buf_free(&body);
    buf_free(&query);
    buf_free(&val);
    route__kvl_free(&hdrs);
    route__kvl_free(&client);
    route__kvl_free(&qs);
    if (bodytmp)
        json_decref(bodytmp);
    buf_free(&noerr);
    return rc;
}
