/* outcome.c: what an integration's result means for the client (spec 2.3, 4.2, 4.3, 6.5), and MOCK.
 */
#include "routes/route_internal.h"
#include "common/b64.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * CONNECT
 *   AWS_PROXY: a transport error, a function error or a malformed proxy result is 502, a
 *     timeout 504, an error of the Invoke API itself (a non-2xx status) 500; statusCode 2xx
 *     (absent: 200, as REST v1) accepts with the result's Sec-WebSocket-Protocol header; any
 *     other code rejects with that status and the result's body (Content-Type from the result's
 *     headers, else application/json).
 *   HTTP_PROXY: the backend status the same way, Sec-WebSocket-Protocol and Content-Type from
 *     its response headers.
 *   HTTP: accepts unless the call failed (spec 2.3: the integration response decides, and a
 *     $default one accepts).
 *   Failures carry API Gateway's bodies: {"message": "Internal server error"} (502, 500) and
 *     {"message": "Endpoint request timed out"} (504, the REST wording).
 * MESSAGE
 *   One-way routes send nothing, and a proxy result is not even read: AWS sends no error frame
 *   when a Lambda on a one-way route returns nothing (serverless-offline's WebSocket suite,
 *   which is also run against AWS: "should respond via callback" expects only the handler's
 *   own message). A transport error, a timeout, an Invoke API error or a function error sends
 *   the "Internal server error" frame on any route (spec 4.3).
 *   Two-way AWS_PROXY: the result's body as a text frame (binary when isBase64Encoded), for any
 *   statusCode (spec 15.7); no body, or a result of null (a handler that returned nothing),
 *   sends nothing; a malformed result sends the error frame.
 *   Two-way HTTP_PROXY: the response body, for any status.
 *   Two-way HTTP and MOCK: the integration response whose key matches the status ("/regex/",
 *   anchored POSIX extended, first match in order) or "$default"; none: the error frame (REST:
 *   "No match for output mapping and no default output mapping configured"). Its response
 *   template (templateSelectionExpression, then "$default", then "application/json") renders
 *   with $input = the backend's body; without a template the body passes through.
 *   contentHandlingStrategy CONVERT_TO_BINARY base64-decodes the result into a binary frame,
 *   CONVERT_TO_TEXT base64-encodes it.
 *   An empty result sends no frame [U]. Text frames are valid UTF-8 (invalid bytes become
 *   U+FFFD), as RFC 6455 requires of text frames.
 * DISCONNECT: the result is ignored (spec 3).
 */

void route_outcome_free(route_outcome_t *o)
{
    free(o->body);
    free(o->content_type);
    free(o->subprotocol);
    free(o->frame);
    memset(o, 0, sizeof *o);
}

static void connect_fail(route_outcome_t *out, int status)
{
    static const char ise[] = "{\"message\": \"Internal server error\"}";
    static const char tmo[] = "{\"message\": \"Endpoint request timed out\"}";
    const char *b = status == 504 ? tmo : ise;
    out->status = status;
    out->body = pt_xstrdup(b);
    out->body_len = strlen(b);
    out->content_type = pt_xstrdup("application/json");
    out->integration_error = true;
}

static void error_frame(const route_ctx_t *ctx, route_outcome_t *out)
{
    buf_t b = BUF_INIT;
    route_error_frame("Internal server error", ctx->connection_id ? ctx->connection_id : "",
                      ctx->request_id ? ctx->request_id : "", &b);
    free(out->frame);
    out->frame = buf_steal(&b, &out->frame_len);
    out->frame_binary = false;
    out->integration_error = true;
}

static void fail(const route_ctx_t *ctx, route_outcome_t *out, int status)
{
    if (ctx->kind == ROUTE_EV_CONNECT)
        connect_fail(out, status);
    else if (ctx->kind == ROUTE_EV_MESSAGE)
        error_frame(ctx, out);
}

/* A NUL-terminated copy of s[0..n) (s need not be terminated). */
static char *dup_n(const char *s, size_t n)
{
    char *d = pt_xmalloc(n + 1);
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void set_text_frame(route_outcome_t *out, const char *s, size_t n)
{
    buf_t b = BUF_INIT;
    if (n == 0)
        return;
    route__utf8_sanitize(&b, s, n);
    out->frame = buf_steal(&b, &out->frame_len);
    out->frame_binary = false;
}

static void set_binary_frame(route_outcome_t *out, const char *s, size_t n)
{
    if (n == 0)
        return;
    out->frame = dup_n(s, n);
    out->frame_len = n;
    out->frame_binary = true;
}

static char *res_header_dup(const route_integ_result_t *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (http_ieq(res->headers[i].name, res->headers[i].name_len, name))
            return pt_xstrndup(res->headers[i].value, res->headers[i].value_len);
    return NULL;
}

static void reject(route_outcome_t *out, int status, const char *body, size_t len, char *ctype)
{
    out->status = status;
    out->body = dup_n(body ? body : "", len);
    out->body_len = len;
    out->content_type = ctype ? ctype : pt_xstrdup("application/json");
}

/* ---- integration responses (non-proxy two-way routes) ---------------------------------------- */

static const route_integ_response_t *select_response(const route_integration_t *integ, int status)
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
            continue;
        }
        if (kl >= 2 && r->key[0] == '/' && r->key[kl - 1] == '/') {
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

/* Renders the selected integration response for a two-way route; input is what $input is. */
static void respond(const route_integration_t *integ, const route_ctx_t *ctx, int status,
                    const http_header_t *hdrs, size_t nh, const char *input, size_t ilen,
                    const json_t *input_json, route_outcome_t *out)
{
    const route_integ_response_t *r = select_response(integ, status);
    buf_t res = BUF_INIT, key = BUF_INIT;
    const char *tmpl = NULL;
    route_expr_t *own = NULL;
    json_t *ibody = NULL, *rbody = NULL;

    if (!r) {
        error_frame(ctx, out);
        goto out;
    }
    const route_expr_t *tse = r->tse;
    if (!tse && r->template_selection_expression &&
        route_expr_compile(r->template_selection_expression, &own, NULL) == PT_OK)
        tse = own;
    if (tse && r->response_templates.n) {
        route_expr_env_t env = {0};
        env.ctx = ctx;
        env.body = route_expr_needs_body(tse) ? route__ctx_body_json(ctx, &rbody) : NULL;
        env.integ_status = status;
        env.integ_headers = hdrs;
        env.integ_nheaders = nh;
        if (r->template_selection_expression &&
            strstr(r->template_selection_expression, "response.body"))
            env.integ_body = ibody = json_loadb(input, ilen, JSON_DECODE_ANY, NULL);
        route__expr_eval_env(tse, &env, &key);
        if (key.len)
            tmpl = route_map_get(&r->response_templates, key.p);
    }
    if (!tmpl)
        tmpl = route_map_get(&r->response_templates, "$default");
    if (!tmpl)
        tmpl = route_map_get(&r->response_templates, "application/json");
    if (tmpl) {
        if (route_template_render(tmpl, ctx, input, ilen, input_json, &res, NULL) != PT_OK) {
            error_frame(ctx, out);
            goto out;
        }
    } else {
        buf_append(&res, input, ilen);
    }
    const char *chs = r->content_handling_strategy;
    if (chs && strcmp(chs, "CONVERT_TO_BINARY") == 0) {
        uint8_t *d = pt_xmalloc(res.len / 4 * 3 + 4);
        long dn = b64_decode(res.p ? res.p : "", res.len, d);
        if (dn < 0)
            error_frame(ctx, out);
        else
            set_binary_frame(out, (const char *)d, (size_t)dn);
        free(d);
    } else if (chs && strcmp(chs, "CONVERT_TO_TEXT") == 0) {
        char *e = pt_xmalloc(B64_ENC_LEN(res.len) + 1);
        size_t en = b64_encode((const uint8_t *)(res.p ? res.p : ""), res.len, e, false);
        set_text_frame(out, e, en);
        free(e);
    } else {
        set_text_frame(out, res.p ? res.p : "", res.len);
    }
out:
    buf_free(&res);
    buf_free(&key);
    route_expr_free(own);
    if (ibody)
        json_decref(ibody);
    if (rbody)
        json_decref(rbody);
}

/* ---- proxy results ------------------------------------------------------------------------ */

/* A Lambda that returned nothing: "null" (AWS) or an empty payload (some emulators). */
static bool is_null_result(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    return n == 0 || (n == 4 && memcmp(s, "null", 4) == 0);
}

static void aws_proxy(const route_ctx_t *ctx, const route_integ_result_t *res, route_outcome_t *out)
{
    route_proxy_result_t pr;
    bool two_way = ctx->route && ctx->route->two_way;

    if (res->function_error) {
        fail(ctx, out, 502);
        return;
    }
    /* A status other than 2xx is the Invoke API refusing the call (x-amzn-ErrorType
     * ResourceNotFoundException 404, TooManyRequestsException 429, AccessDeniedException 403,
     * ...): the function never ran. API Gateway answers 500 "Internal server error" then, not
     * the Invoke API's status, so a throttled function is a 500 and not a 429 (AWS Lambda
     * developer guide, "Handling Lambda errors with an API Gateway API"; docs/lambda.md). */
    if (res->status < 200 || res->status > 299) {
        fail(ctx, out, 500);
        return;
    }
    if (ctx->kind == ROUTE_EV_MESSAGE && !two_way)
        return;
    if (route_proxy_result_parse(res->body ? res->body : "", res->body_len, &pr) != PT_OK) {
        if (ctx->kind == ROUTE_EV_MESSAGE &&
            is_null_result(res->body ? res->body : "", res->body_len))
            return;
        fail(ctx, out, 502);
        return;
    }
    int status = pr.status_code < 0 ? 200 : pr.status_code;
    out->status = status;
    if (ctx->kind == ROUTE_EV_CONNECT) {
        if (status >= 200 && status < 300) {
            const char *sp = route_proxy_result_header(&pr, "Sec-WebSocket-Protocol");
            if (sp)
                out->subprotocol = pt_xstrdup(sp);
        } else {
            const char *ct = route_proxy_result_header(&pr, "Content-Type");
            reject(out, status, pr.body, pr.body ? pr.body_len : 0, ct ? pt_xstrdup(ct) : NULL);
        }
    } else if (pr.body) {
        if (pr.is_base64)
            set_binary_frame(out, pr.body, pr.body_len);
        else
            set_text_frame(out, pr.body, pr.body_len);
    }
    route_proxy_result_free(&pr);
}

void route_integ_outcome(const route_integration_t *integ, const route_ctx_t *ctx,
                         const route_integ_result_t *res, route_outcome_t *out)
{
    bool two_way = ctx->route && ctx->route->two_way;
    const char *body = res->body ? res->body : "";

    memset(out, 0, sizeof *out);
    if (ctx->kind == ROUTE_EV_DISCONNECT)
        return;
    if (res->error != PT_OK) {
        fail(ctx, out, res->error == PT_ETIMEOUT ? 504 : 502);
        return;
    }
    switch (integ->type) {
    case ROUTE_INTEG_AWS_PROXY:
        aws_proxy(ctx, res, out);
        break;
    case ROUTE_INTEG_HTTP_PROXY:
        out->status = res->status;
        if (ctx->kind == ROUTE_EV_CONNECT) {
            if (res->status >= 200 && res->status < 300) {
                out->subprotocol = res_header_dup(res, "Sec-WebSocket-Protocol");
            } else {
                reject(out, res->status > 0 ? res->status : 502, body, res->body_len,
                       res_header_dup(res, "Content-Type"));
            }
        } else if (two_way) {
            set_text_frame(out, body, res->body_len);
        }
        break;
    case ROUTE_INTEG_HTTP:
    case ROUTE_INTEG_MOCK:
        out->status = ctx->kind == ROUTE_EV_CONNECT ? 200 : res->status;
        if (ctx->kind == ROUTE_EV_MESSAGE && two_way)
            respond(integ, ctx, res->status, res->headers, res->nheaders, body, res->body_len, NULL,
                    out);
        break;
    case ROUTE_INTEG_AWS:
        fail(ctx, out, 500);
        break;
    }
}

/* ---- MOCK ----------------------------------------------------------------------------------- */

void route_mock_run(const route_integration_t *integ, const route_ctx_t *ctx, route_outcome_t *out)
{
    bool message = ctx->kind == ROUTE_EV_MESSAGE;
    const char *input = message && ctx->body ? ctx->body : "";
    size_t ilen = message && ctx->body ? ctx->body_len : 0;
    int status = 200;
    buf_t r = BUF_INIT;

    memset(out, 0, sizeof *out);
    if (ctx->kind == ROUTE_EV_DISCONNECT)
        return;
    /* The request template must produce {"statusCode": <int>} (spec 5.1); none means 200. */
    const char *tmpl = route_request_template(integ, ctx);
    if (tmpl) {
        json_t *j = NULL;
        if (route_template_render(tmpl, ctx, input, ilen, message ? ctx->body_json : NULL, &r,
                                  NULL) == PT_OK)
            j = json_loadb(r.p ? r.p : "", r.len, 0, NULL);
        json_t *sc = j ? json_object_get(j, "statusCode") : NULL;
        bool ok = sc && json_is_integer(sc) && json_integer_value(sc) >= 100 &&
                  json_integer_value(sc) <= 599;
        if (ok)
            status = (int)json_integer_value(sc);
        if (j)
            json_decref(j);
        buf_free(&r);
        if (!ok) {
            fail(ctx, out, 500);
            return;
        }
    }
    out->status = status;
    if (ctx->kind == ROUTE_EV_CONNECT) {
        /* A mock has no response body to reject with: the gateway answers with its own. */
        return;
    }
    /* A mock has no backend, so $input in its response template is the client's message
     * (which also makes "MOCK + no template" an echo). */
    if (ctx->route && ctx->route->two_way)
        respond(integ, ctx, status, NULL, 0, input, ilen, ctx->body_json, out);
}
