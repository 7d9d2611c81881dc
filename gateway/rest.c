/* rest.c: HTTP APIs on the main port: routes, CORS, MOCK inline, integrations parked, answers. */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "routes/security.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

/*
 * An HTTP API request (docs/rest.md) is decided in routes/ (route_http_match, the events and
 * outcomes of http_event.c / http_integ.c, cors.c) and moved here:
 *   - a CORS preflight is answered at once when the API has a corsConfiguration;
 *   - no route, or a route without a target: 404 {"message":"Not Found"};
 *   - MOCK runs inline;
 *   - HTTP_PROXY and AWS_PROXY become a job for the integration thread while the connection
 *     is parked (gw_park): it reads nothing more (pipelined requests wait in the kernel and in
 *     rbuf, in order) until the result comes back through this worker's inbox, so a client
 *     cannot make a worker spin or buffer without bound, whatever it sends. A client that
 *     hangs up meanwhile is closed; its result is dropped when it arrives.
 * Every answer carries apigw-requestid, as HTTP APIs' do; the gateway's own answers (errors,
 * preflights, MOCK) carry x-amzn-RequestId too. The response is written here (status line,
 * Date, the response's headers, Content-Length, Connection), one writev at the end of the turn.
 */

struct gw_rest {
    uint64_t park_token; /* the parked connection, 0 once answered */
    int64_t start_us;    /* monotonic: the request was complete */
    char *origin;        /* owned: Origin, for CORS; NULL when none */
    size_t origin_len;
    char *path; /* owned: the request path, for access logs */
    /* issue 7: the authorizer's verdict, kept while the request waits for it */
    route_target_t target; /* points into the parked request's head */
    bool authorized;       /* the authorizer allowed it: run the integration */
    json_t *authorizer;    /* owned: requestContext.authorizer, NULL for none */
    char *usage_key;       /* owned: the authorizer's usageIdentifierKey, NULL for none */
    bool jwks_fetched;     /* this request already waited for a JWK set: never twice */
};

void gw_rest_free(struct gw_rest *r)
{
    if (!r)
        return;
    free(r->origin);
    free(r->path);
    json_decref(r->authorizer);
    free(r->usage_key);
    free(r);
}

static const http_header_t *header(const http_request_t *r, const char *name)
{
    return http_find_header(r, name);
}

static bool method_is(const http_request_t *r, const char *m)
{
    return http_ieq(r->method, r->method_len, m) && strlen(m) == r->method_len;
}

/* ---- answers ------------------------------------------------------------------------------- */

/* Writes res and finishes the exchange (keep-alive or close). */
static void answer(gw_conn_t *c, const route_http_response_t *res, const char *rid)
{
    char date[32];
    buf_t b = BUF_INIT;
    int st = res->status ? res->status : 500;
    bool head = c->req && method_is(c->req, "HEAD");
    bool no_body = head || st < 200 || st == 204 || st == 304;

    time_http_date(time_now_ms() / 1000, date);
    buf_reserve(&b, 256 + res->nheaders * 48);
    buf_printf(&b, "HTTP/1.1 %d %s\r\nDate: %s\r\n", st, http_reason(st), date);
    for (size_t i = 0; i < res->nheaders; i++)
        buf_printf(&b, "%s: %s\r\n", res->headers[i].key, res->headers[i].val);
    if (st >= 200 && st != 204 && st != 304)
        buf_printf(
            &b, "Content-Length: %lld\r\n",
            (long long)(head && res->head_length >= 0 ? res->head_length : (int64_t)res->body_len));
    buf_printf(&b, "apigw-requestid: %s\r\n", rid);
    if (res->gateway)
        buf_printf(&b, "x-amzn-RequestId: %s\r\n", rid);
    buf_puts(&b, c->keep_alive && !c->want_close ? "Connection: keep-alive\r\n\r\n"
                                                 : "Connection: close\r\n\r\n");
    gw_conn_send(c, b.p, b.len, false);
    if (!no_body && res->body_len)
        gw_conn_send(c, res->body, res->body_len, false);
    buf_free(&b);
    gw_http_done(c);
}

/* The route_ctx_t of metrics and access logs for an HTTP API request. */
static void log_ctx(route_ctx_t *ctx, gw_server_t *srv, const route_api_t *api,
                    const route_stage_t *stage, const route_route_t *route, const char *rid,
                    int64_t request_time_ms, const char *source_ip, const char *user_agent,
                    const char *domain)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->api = api;
    ctx->stage = stage;
    ctx->route = route;
    ctx->request_id = rid;
    ctx->domain_name = domain;
    ctx->region = srv->cfg->server.region;
    ctx->account_id = srv->cfg->server.account_id;
    ctx->request_time_ms = request_time_ms;
    ctx->source_ip = source_ip;
    ctx->user_agent = user_agent;
    ctx->integration_latency_ms = -1;
    ctx->lambda = &srv->aws.lambda;
}

/* Counts the request and writes its access-log line (gateway/ops.h). */
static void account(gw_worker_t *w, route_ctx_t *ctx, const http_request_t *req, const char *path,
                    const route_http_response_t *res, int64_t start_us, int64_t integ_ms)
{
    gw_alog_http_t h = {
        .http_method = req ? req->method : NULL,
        .http_method_len = req ? req->method_len : 0,
        .path = path,
        .path_len = path ? strlen(path) : 0,
        .protocol = req && req->minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1",
        .response_latency_ms = (time_mono_us() - start_us) / 1000,
        .response_length = (int64_t)res->body_len,
    };
    ctx->integration_latency_ms = integ_ms;
    ctx->error_message = res->error;
    gw_ops_http(w, ctx, res->status, time_mono_us() - start_us, -1, &h);
}

/* Host without its port (IPv6 brackets kept); "localhost" without a Host. */
static char *domain_of(const http_request_t *r)
{
    const http_header_t *host = header(r, "host");
    if (!host || host->value_len == 0)
        return pt_xstrdup("localhost");
    size_t n = host->value_len;
    const char *colon = memrchr(host->value, ':', n);
    const char *bracket = memrchr(host->value, ']', n);
    if (colon && (!bracket || colon > bracket))
        n = (size_t)(colon - host->value);
    return pt_xstrndup(host->value, n);
}

void gw_rest_refuse(gw_conn_t *c, int status)
{
    route_http_response_t res;
    char rid[ID_LEN + 1];
    memset(&res, 0, sizeof res);
    id_request_new(&c->w->ids, rid);
    route_http_error(status, &res);
    answer(c, &res, rid);
    route_http_response_free(&res);
}

/* ---- integration calls --------------------------------------------------------------------- */

/* Runs on the integration thread: hand the finished job to its worker. */
static void rest_done(integ_job_t *job)
{
    gw_call_t *call = job->user;
    call->msg.type = GW_MSG_INTEG;
    if (!call->owner || !gw_worker_post(call->owner, &call->msg))
        gw_call_free(call); /* the worker is gone (shutdown): nobody waits for this result */
}

/* Builds the backend request (signed when it is a Lambda Invoke) and parks c until the result
 * comes back. Returns PT_OK, or an error when the request could not be built (st stays the
 * caller's). */
static int submit(gw_conn_t *c, const route_http_ctx_t *hc, const char *domain, struct gw_rest *st)
{
    gw_worker_t *w = c->w;
    gw_server_t *srv = w->srv;
    const route_route_t *route = hc->match->route;
    route_http_req_t hr;
    buf_t err = BUF_INIT;

    memset(&hr, 0, sizeof hr);
    int rc = route_http_integ_request(route->integration, hc, &hr, &err);
    /* A Lambda Invoke (integrationUri naming a function) is signed here, on the worker, with
     * its own key cache: the same hook as the WebSocket side's call_submit (gateway/aws.c). */
    if (rc == PT_OK && hr.sign_service)
        rc = gw_aws_sign(&srv->aws, &w->sigv4_cache, &hr, time_now_ms() / 1000, &err);
    if (rc != PT_OK) {
        LOG_WARN("[http|%s] integration %s: cannot build request: %s", hc->request_id,
                 route->integration->id, err.p ? err.p : pt_strerror(rc));
        buf_free(&err);
        route_http_req_free(&hr);
        return rc;
    }
    buf_free(&err);

    gw_call_t *call = pt_xcalloc(1, sizeof *call);
    call->kind = GW_CALL_HTTP;
    call->owner = w;
    call->api = hc->api;
    call->stage = hc->stage;
    call->route = route;
    call->integ = route->integration;
    memcpy(call->request_id, hc->request_id, sizeof call->request_id);
    call->request_time_ms = hc->request_time_ms;
    call->source_ip = pt_xstrdup(c->peer_ip);
    const http_header_t *ua = header(c->req, "user-agent");
    call->user_agent = ua ? pt_xstrndup(ua->value, ua->value_len) : NULL;
    call->domain = pt_xstrdup(domain);
    call->authorizer = json_incref(st->authorizer);
    call->rest = st;

    integ_job_t *job = gw_call_job(srv, call, &hr, rest_done);
    st->park_token = gw_park(c);
    gw_conn_set_events(c);
    LOG_DEBUG("[http|%s] %s %s", call->request_id, job->method, job->url);
    integ_submit(srv->integ, job);
    return PT_OK;
}

/* ---- requests -------------------------------------------------------------------------------- */

static bool rest_authorize(gw_conn_t *c, const route_target_t *t, const route_http_ctx_t *hc,
                           struct gw_rest *st, route_ctx_t *lctx, route_http_response_t *res);
static bool rest_iam(gw_conn_t *c, const route_http_ctx_t *hc, struct gw_rest *st,
                     route_ctx_t *lctx, route_http_response_t *res);
static bool rest_policy(gw_conn_t *c, const route_http_ctx_t *hc, struct gw_rest *st,
                        route_ctx_t *lctx, route_http_response_t *res);

/* Serves c->req; st is NULL for a new request, or the state of one that waited for its
 * authorizer (taken). */
static void rest_request(gw_conn_t *c, const route_target_t *t, struct gw_rest *again)
{
    gw_worker_t *w = c->w;
    gw_server_t *srv = w->srv;
    const http_request_t *r = c->req;
    const route_api_t *api = t->api;
    route_http_match_t m;
    route_http_ctx_t hc;
    route_http_response_t res;
    route_ctx_t lctx;
    char rid[ID_LEN + 1], trace[64];
    int64_t now_ms = time_now_ms();
    struct gw_rest *st =
        again ? again : pt_xcalloc(1, sizeof *st); /* owned until a call takes it */
    char *domain = domain_of(r);
    char *ua = NULL;
    const http_header_t *origin = header(r, "origin");
    const http_header_t *uah = header(r, "user-agent");
    const char *rel = t->rest_len ? t->rest : "/";
    size_t rel_len = t->rest_len ? t->rest_len : 1;

    memset(&res, 0, sizeof res);
    res.head_length = -1;
    memset(&m, 0, sizeof m);
    id_request_new(&w->ids, rid);
    if (!again) {
        st->start_us = time_mono_us();
        st->path = pt_xstrndup(r->path, r->path_len);
        if (origin) {
            st->origin = pt_xstrndup(origin->value, origin->value_len);
            st->origin_len = origin->value_len;
        }
    }
    if (uah)
        ua = pt_xstrndup(uah->value, uah->value_len);
    log_ctx(&lctx, srv, api, t->stage, NULL, rid, now_ms, c->peer_ip, ua, domain);

    /* A preflight is the gateway's to answer when CORS is configured (AWS: "even if there
     * isn't an OPTIONS route"). */
    const http_header_t *acrm = header(r, "access-control-request-method");
    if (api->cors && origin && acrm && method_is(r, "OPTIONS")) {
        const http_header_t *acrh = header(r, "access-control-request-headers");
        route_cors_preflight(api->cors, origin->value, origin->value_len, acrm->value,
                             acrm->value_len, acrh ? acrh->value : NULL, acrh ? acrh->value_len : 0,
                             &res);
        res.gateway = true;
        account(w, &lctx, r, st->path, &res, st->start_us, -1);
        answer(c, &res, rid);
        goto out;
    }

    /* Issue 7: the resource policy before anything else, unknown paths included (a denied
     * client learns nothing of the routes); then throttles, AWS_IAM or the route's authorizer,
     * API keys (docs/security.md). */
    if (api->policy && !again) {
        route_http_ctx_t pc;
        memset(&pc, 0, sizeof pc);
        pc.api = api;
        pc.stage = t->stage;
        pc.account_id = srv->cfg->server.account_id;
        pc.region = srv->cfg->server.region;
        pc.method = r->method;
        pc.method_len = r->method_len;
        pc.rel_path = rel;
        pc.rel_path_len = rel_len;
        if (!rest_policy(c, &pc, st, &lctx, &res))
            goto out;
    }

    route_http_match(api, r->method, r->method_len, rel, rel_len, &m);
    lctx.route = m.route;
    if (!m.route || !m.route->integration) {
        route_http_error(404, &res);
        route_cors_apply(api->cors, st->origin, st->origin_len, &res);
        account(w, &lctx, r, st->path, &res, st->start_us, -1);
        answer(c, &res, rid);
        goto out;
    }

    /* The trace header: the client's, or a new root as API Gateway adds one. */
    const http_header_t *th = header(r, "x-amzn-trace-id");
    if (th && th->value_len < sizeof trace) {
        memcpy(trace, th->value, th->value_len);
        trace[th->value_len] = '\0';
    } else {
        uint8_t rnd[12];
        id_random(&w->ids, rnd, sizeof rnd);
        snprintf(trace, sizeof trace,
                 "Root=1-%08x-%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x",
                 (unsigned)(now_ms / 1000), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
                 rnd[7], rnd[8], rnd[9], rnd[10], rnd[11]);
    }
    memset(&hc, 0, sizeof hc);
    hc.api = api;
    hc.stage = t->stage;
    hc.match = &m;
    hc.request_id = rid;
    hc.domain_name = domain;
    hc.account_id = srv->cfg->server.account_id;
    hc.region = srv->cfg->server.region;
    hc.request_time_ms = now_ms;
    hc.source_ip = c->peer_ip;
    hc.server_port = c->local_port;
    hc.trace_id = trace;
    hc.method = r->method;
    hc.method_len = r->method_len;
    hc.path = r->path;
    hc.path_len = r->path_len;
    hc.rel_path = rel;
    hc.rel_path_len = rel_len;
    hc.raw_path = t->mapping ? rel : r->path;
    hc.raw_path_len = t->mapping ? rel_len : r->path_len;
    hc.query = r->query;
    hc.query_len = r->query_len;
    hc.minor_version = r->minor_version;
    hc.headers = r->headers;
    hc.nheaders = r->nheaders;
    hc.body = c->body.p ? c->body.p : "";
    hc.body_len = c->body.len;
    hc.lambda = &srv->aws.lambda;

    /* Throttles: the route's bucket (stage routeSettings / defaultRouteSettings), then the
     * server-wide one; once per request, not again when it comes back from its authorizer. */
    if (!again && gw_limits_active(srv->limiter, t->stage, m.route->key) &&
        !gw_limits_take(srv->limiter, t->stage, m.route->key)) {
        route_http_error(429, &res);
        res.error = "Too Many Requests";
        route_cors_apply(api->cors, st->origin, st->origin_len, &res);
        account(w, &lctx, r, st->path, &res, st->start_us, -1);
        answer(c, &res, rid);
        goto out;
    }
    if (m.route->authorization_type && strcmp(m.route->authorization_type, "AWS_IAM") == 0 &&
        !rest_iam(c, &hc, st, &lctx, &res))
        goto out;
    if (m.route->authorizer && !st->authorized) {
        st->target = *t;
        if (!rest_authorize(c, t, &hc, st, &lctx, &res)) {
            if (st->park_token)
                st = NULL; /* waiting: the authorizer's call owns it */
            goto out;
        }
    }
    if (m.route->api_key_required) {
        const char *msg;
        int kst = gw_apikey_check(w, api, t->stage, m.route->key, r->headers, r->nheaders,
                                  st->usage_key, &msg);
        if (kst != 200) {
            route_http_error(kst, &res);
            free(res.body); /* AWS's wording for API keys: Forbidden / Too Many Requests /
                               Limit Exceeded */
            buf_t b = BUF_INIT;
            buf_printf(&b, "{\"message\":\"%s\"}", msg);
            res.body = buf_steal(&b, &res.body_len);
            res.error = msg;
            route_cors_apply(api->cors, st->origin, st->origin_len, &res);
            account(w, &lctx, r, st->path, &res, st->start_us, -1);
            answer(c, &res, rid);
            goto out;
        }
    }
    hc.authorizer = st->authorizer;

    if (m.route->integration->type == ROUTE_INTEG_MOCK) {
        route_http_mock(m.route->integration, &hc, &res);
        res.gateway = true;
        route_cors_apply(api->cors, st->origin, st->origin_len, &res);
        account(w, &lctx, r, st->path, &res, st->start_us, -1);
        answer(c, &res, rid);
        goto out;
    }
    if (submit(c, &hc, domain, st) == PT_OK) {
        st = NULL; /* the call owns it */
        goto out;
    }
    route_http_error(500, &res);
    res.error = "The integration request could not be built";
    route_cors_apply(api->cors, st->origin, st->origin_len, &res);
    account(w, &lctx, r, st->path, &res, st->start_us, -1);
    answer(c, &res, rid);
out:
    route_http_response_free(&res);
    gw_rest_free(st);
    free(domain);
    free(ua);
}

void gw_rest_request(gw_conn_t *c, const route_target_t *t)
{
    rest_request(c, t, NULL);
}

static void rest_on_authorizer(gw_worker_t *w, gw_conn_t *c, gw_call_t *call,
                               const route_integ_result_t *ir);

void gw_rest_on_integ(gw_worker_t *w, gw_call_t *call)
{
    integ_job_t *job = call->job;
    struct gw_rest *st = call->rest;
    gw_conn_t *c = gw_unpark(w, st->park_token);
    route_http_response_t res;
    route_http_ctx_t hc;
    route_ctx_t lctx;
    http_header_t *hdrs = NULL;
    size_t nh = 0;
    bool function_error = false;

    memset(&res, 0, sizeof res);
    res.head_length = -1;
    if (job->nresp_headers)
        hdrs = pt_xcalloc(job->nresp_headers, sizeof *hdrs);
    for (size_t i = 0; i < job->nresp_headers; i++) {
        hdrs[nh].name = job->resp_headers[i].name;
        hdrs[nh].name_len = strlen(job->resp_headers[i].name);
        hdrs[nh].value = job->resp_headers[i].value;
        hdrs[nh].value_len = strlen(job->resp_headers[i].value);
        if (http_ieq(hdrs[nh].name, hdrs[nh].name_len, "x-amz-function-error"))
            function_error = true;
        nh++;
    }
    route_integ_result_t ir = {
        .error = job->error,
        .status = job->status,
        .headers = hdrs,
        .nheaders = nh,
        .body = job->resp_body.p ? job->resp_body.p : "",
        .body_len = job->resp_body.len,
        .function_error = function_error,
    };
    if (call->kind == GW_CALL_AUTHZ) {
        if (job->error != PT_OK)
            LOG_WARN("[http|%s] authorizer %s failed: %s (%s)", call->request_id, call->az->id,
                     pt_strerror(job->error), job->errmsg);
        rest_on_authorizer(w, c, call, &ir);
        goto out;
    }
    if (job->error != PT_OK)
        LOG_WARN("[http|%s] integration %s failed: %s (%s)", call->request_id, call->integ->id,
                 pt_strerror(job->error), job->errmsg);
    else if (call->integ->type == ROUTE_INTEG_AWS_PROXY && (job->status < 200 || job->status > 299))
        LOG_WARN("[http|%s] integration %s: the Lambda Invoke API answered %d", call->request_id,
                 call->integ->id, job->status);
    gw_ops_integ(w, call, &ir);
    if (!c || c->fd < 0 || c->state != GW_CS_PARKED)
        goto out;          /* the client left */
    c->state = GW_CS_HEAD; /* back from PARKED; gw_http_done decides what follows */
    memset(&hc, 0, sizeof hc);
    hc.api = call->api;
    hc.stage = call->stage;
    hc.request_id = call->request_id;
    hc.method = c->req ? c->req->method : "GET";
    hc.method_len = c->req ? c->req->method_len : 3;
    route_http_outcome(call->integ, &hc, &ir, &res);
    if (res.error && res.gateway)
        LOG_INFO("[http|%s] %d: %s", call->request_id, res.status, res.error);
    route_cors_apply(call->api->cors, st->origin, st->origin_len, &res);
    log_ctx(&lctx, w->srv, call->api, call->stage, call->route, call->request_id,
            call->request_time_ms, call->source_ip, call->user_agent, call->domain);
    lctx.integration_status = job->error == PT_OK ? job->status : 0;
    account(w, &lctx, c->req, st->path, &res, st->start_us, job->latency_us / 1000);
    answer(c, &res, call->request_id);
out:
    route_http_response_free(&res);
    free(hdrs);
    gw_call_free(call);
}

/* ---- authorizers (issue 7, docs/security.md) ------------------------------------------------- */

/*
 * HTTP API routes with authorizationType CUSTOM (a Lambda REQUEST authorizer, payload 1.0 or
 * 2.0, policy or simple responses, cached by identity sources) or JWT (signature against the
 * issuer's JWK set, claims, scopes). Either may need the integration thread (the authorizer, a
 * JWK set, OpenID discovery): the request is then parked with its state, and comes back through
 * rest_request once the answer is in, authorized or refused.
 */

static bool integ_v2(const route_route_t *route)
{
    const char *v = route->integration ? route->integration->payload_format_version : NULL;
    return v && strcmp(v, "2.0") == 0;
}

/* requestContext.authorizer of a Lambda authorizer's verdict ({"principalId", "context"}) in
 * the shape of the route's integration payload: 2.0 {"lambda": context}, 1.0 {principalId,
 * ...context}. New reference. */
static json_t *shape_lambda(const route_route_t *route, const json_t *verdict)
{
    const json_t *ctx = json_object_get(verdict, "context");
    const json_t *pid = json_object_get(verdict, "principalId");
    if (integ_v2(route)) {
        json_t *lambda = json_is_object(ctx) ? json_deep_copy(ctx) : json_object();
        return json_pack("{s:o}", "lambda", lambda);
    }
    json_t *o = json_is_object(ctx) ? json_deep_copy(ctx) : json_object();
    if (json_is_string(pid))
        json_object_set(o, "principalId", (json_t *)pid);
    return o;
}

/* The verdict's usageIdentifierKey, for apiKeySelectionExpression
 * $context.authorizer.usageIdentifierKey. */
static void keep_usage_key(struct gw_rest *st, const json_t *verdict)
{
    const char *k = json_string_value(json_object_get(verdict, "usageIdentifierKey"));
    free(st->usage_key);
    st->usage_key = k ? pt_xstrdup(k) : NULL;
}

/* Refuses the request with AWS's answer for status (401, 403, 500). */
static void refuse(gw_conn_t *c, struct gw_rest *st, route_ctx_t *lctx, route_http_response_t *res,
                   int status, const char *why)
{
    route_http_error(status, res);
    res->error = why;
    route_cors_apply(lctx->api->cors, st->origin, st->origin_len, res);
    account(c->w, lctx, c->req, st->path, res, st->start_us, -1);
    answer(c, res, lctx->request_id);
}

/* Submits an authorizer-side request for a parked HTTP API request (st taken by the call). */
static void park_for(gw_conn_t *c, const route_http_ctx_t *hc, struct gw_rest *st,
                     const route_authorizer_t *a, int fetch, route_http_req_t *hr, char *key,
                     size_t key_len, char *arn)
{
    gw_worker_t *w = c->w;
    gw_call_t *call = pt_xcalloc(1, sizeof *call);
    call->kind = GW_CALL_AUTHZ;
    call->owner = w;
    call->api = hc->api;
    call->stage = hc->stage;
    call->route = hc->match->route;
    memcpy(call->request_id, hc->request_id, sizeof call->request_id);
    call->request_time_ms = hc->request_time_ms;
    call->source_ip = pt_xstrdup(c->peer_ip);
    call->domain = pt_xstrdup(hc->domain_name ? hc->domain_name : "");
    call->rest = st;
    call->az = a;
    call->az_fetch = fetch;
    call->az_key = key;
    call->az_key_len = key_len;
    call->az_arn = arn;
    integ_job_t *job = gw_call_job(w->srv, call, hr, rest_done);
    st->park_token = gw_park(c);
    gw_conn_set_events(c);
    LOG_DEBUG("[http|%s] authorizer %s: %s %s", call->request_id, a->id, job->method, job->url);
    integ_submit(w->srv->integ, job);
}

/* A GET of a JWK set or an OpenID configuration. */
static void get_req(const char *url, route_http_req_t *hr)
{
    memset(hr, 0, sizeof *hr);
    hr->method = pt_xstrdup("GET");
    hr->url = pt_xstrdup(url);
    buf_puts(&hr->headers, "Accept: application/json\r\n");
    hr->timeout_ms = 10000;
}

/* Starts fetching the authorizer's JWK set (or its OpenID configuration first). */
static void jwks_fetch(gw_conn_t *c, const route_http_ctx_t *hc, struct gw_rest *st,
                       const route_authorizer_t *a)
{
    route_http_req_t hr;
    char *uri = gw_jwks_uri(c->w->srv->azcache, a);
    st->jwks_fetched = true;
    if (uri) {
        get_req(uri, &hr);
        park_for(c, hc, st, a, 1, &hr, NULL, 0, NULL);
    } else {
        buf_t u = BUF_INIT;
        size_t n = strlen(a->issuer);
        buf_append(&u, a->issuer, n && a->issuer[n - 1] == '/' ? n - 1 : n);
        buf_puts(&u, "/.well-known/openid-configuration");
        get_req(u.p, &hr);
        buf_free(&u);
        park_for(c, hc, st, a, 2, &hr, NULL, 0, NULL);
    }
    free(uri);
}

/* JWT authorizers ("Control access to HTTP APIs with JWT authorizers"). */
static bool jwt_authorize(gw_conn_t *c, const route_http_ctx_t *hc, struct gw_rest *st,
                          route_ctx_t *lctx, route_http_response_t *res, const route_identity_t *id)
{
    const route_authorizer_t *a = hc->match->route->authorizer;
    const route_route_t *route = hc->match->route;
    gw_azcache_t *cache = c->w->srv->azcache;
    route_jwt_t tok;
    json_t *jwks = NULL;
    char *text = NULL;
    int64_t fetched_ms = 0;
    const char *why = NULL;
    bool go_on = false;
    memset(&tok, 0, sizeof tok);
    const char *v = id->v[0];
    if (route_jwt_decode(v, strlen(v), &tok, &why) != PT_OK) {
        refuse(c, st, lctx, res, 401, why);
        goto out;
    }
    if (gw_jwks_get(cache, a, &text, &fetched_ms) != PT_OK) {
        if (!st->jwks_fetched && !a->jwks_file) {
            jwks_fetch(c, hc, st, a);
            goto out;
        }
        LOG_WARN("[http|%s] authorizer %s: no JWK set", hc->request_id, a->id);
        refuse(c, st, lctx, res, 500, "The authorizer's JWK set could not be loaded");
        goto out;
    }
    if (route_jwks_parse(text, strlen(text), &jwks, &why) != PT_OK) {
        LOG_WARN("[http|%s] authorizer %s: bad JWK set: %s", hc->request_id, a->id, why);
        refuse(c, st, lctx, res, 500, "The authorizer's JWK set is invalid");
        goto out;
    }
    int rc = route_jwt_verify(&tok, jwks, &why);
    if (rc == PT_ENOTFOUND && !st->jwks_fetched && !a->jwks_file &&
        time_mono_ms() - fetched_ms > 60000) {
        /* An unknown kid: the issuer may have rotated its keys. Fetch again, at most once a
         * minute, so tokens with made-up kids cannot make Portico hammer the issuer. */
        jwks_fetch(c, hc, st, a);
        goto out;
    }
    if (rc != PT_OK) {
        refuse(c, st, lctx, res, 401, why);
        goto out;
    }
    if (route_jwt_check_claims(tok.claims, a->issuer, a->audience, a->naudience,
                               time_now_ms() / 1000, 0, &why) != PT_OK) {
        refuse(c, st, lctx, res, 401, why);
        goto out;
    }
    if (route->nauthorization_scopes &&
        route_jwt_check_scopes(tok.claims, route->authorization_scopes,
                               route->nauthorization_scopes, &why) != PT_OK) {
        refuse(c, st, lctx, res, 403, why);
        goto out;
    }
    json_decref(st->authorizer);
    st->authorizer = route_jwt_context(tok.claims, integ_v2(route));
    go_on = true;
out:
    json_decref(jwks);
    free(text);
    route_jwt_free(&tok);
    return go_on;
}

/* A refusal with AWS's JSON message and x-amzn-ErrorType (IAM and resource policies). */
static void refuse_msg(gw_conn_t *c, struct gw_rest *st, route_ctx_t *lctx,
                       route_http_response_t *res, int status, const char *etype, const char *key,
                       const buf_t *msg)
{
    route_http_response_free(res);
    res->status = status;
    res->gateway = true;
    res->error = etype;
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"%s\":", key);
    buf_json_str(&b, msg->p ? msg->p : "", msg->len);
    buf_putc(&b, '}');
    res->body = buf_steal(&b, &res->body_len);
    route_http_response_header(res, "Content-Type", "application/json", 16);
    route_http_response_header(res, "x-amzn-ErrorType", etype, strlen(etype));
    route_cors_apply(lctx->api->cors, st->origin, st->origin_len, res);
    account(c->w, lctx, c->req, st->path, res, st->start_us, -1);
    answer(c, res, lctx->request_id);
}

static bool rest_policy(gw_conn_t *c, const route_http_ctx_t *hc, struct gw_rest *st,
                        route_ctx_t *lctx, route_http_response_t *res)
{
    buf_t arn = BUF_INIT, msg = BUF_INIT;
    route_arn_http(hc, &arn);
    int status = gw_policy_check(c->w->srv, hc->api, arn.p, c->peer_ip, &msg);
    if (status != 200)
        refuse_msg(c, st, lctx, res, status, "AccessDeniedException", "Message", &msg);
    buf_free(&arn);
    buf_free(&msg);
    return status == 200;
}

/* AWS_IAM on an HTTP API route: the request signed with SigV4 (body included) by a credential
 * allowed to invoke the route's ARN. False when refused (answered). */
static bool rest_iam(gw_conn_t *c, const route_http_ctx_t *hc, struct gw_rest *st,
                     route_ctx_t *lctx, route_http_response_t *res)
{
    buf_t arn = BUF_INIT, msg = BUF_INIT;
    const char *etype = NULL;
    route_arn_http(hc, &arn);
    int status = gw_iam_check(c->w, c->req, hc->body, hc->body_len, arn.p, &etype, &msg);
    if (status != 200)
        refuse_msg(c, st, lctx, res, status, etype, "message", &msg);
    buf_free(&arn);
    buf_free(&msg);
    return status == 200;
}

/* Returns true when the request may go on (st->authorizer set); false when it was answered or
 * waits (st->park_token set: the call owns st). */
static bool rest_authorize(gw_conn_t *c, const route_target_t *t, const route_http_ctx_t *hc,
                           struct gw_rest *st, route_ctx_t *lctx, route_http_response_t *res)
{
    gw_worker_t *w = c->w;
    const route_authorizer_t *a = hc->match->route->authorizer;
    route_idreq_t ir = {.headers = hc->headers,
                        .nheaders = hc->nheaders,
                        .query = hc->query,
                        .query_len = hc->query_len,
                        .stage = hc->stage,
                        .ctx = lctx};
    route_identity_t id;
    buf_t key = BUF_INIT, arn = BUF_INIT, ev = BUF_INIT, err = BUF_INIT;
    json_t *verdict = NULL;
    int status = 0;
    bool go_on = false;
    (void)t;
    st->park_token = 0;
    if (route_identity_get(a->ids, a->nids, &ir, &id) != PT_OK) {
        refuse(c, st, lctx, res, 401, "An identity source is missing");
        goto out;
    }
    if (a->type == ROUTE_AUTHZ_JWT) {
        go_on = jwt_authorize(c, hc, st, lctx, res, &id);
        goto out;
    }
    if (a->ttl_s > 0) {
        route_identity_key(a->id, hc->api->id, hc->stage->name, &id, &key);
        if (gw_azc_get(w->srv->azcache, key.p, key.len, time_mono_ms(), &status, &verdict) == PT_OK)
            goto decided;
    }
    route_arn_http(hc, &arn);
    route_az_event_http(hc, a->v2, arn.p, &id, &ev);
    route_http_req_t hr;
    if (gw_az_request(w, a, hc->stage, &ev, &hr, &err) != PT_OK) {
        LOG_WARN("[http|%s] authorizer %s: cannot build request: %s", hc->request_id, a->id,
                 err.p ? err.p : "");
        status = 500;
        goto decided;
    }
    char *k = NULL;
    size_t kl = 0;
    if (key.len)
        k = buf_steal(&key, &kl);
    park_for(c, hc, st, a, 0, &hr, k, kl, buf_steal(&arn, NULL));
    goto out;
decided:
    if (status == 200) {
        json_decref(st->authorizer);
        st->authorizer = shape_lambda(hc->match->route, verdict);
        keep_usage_key(st, verdict);
        go_on = true;
    } else {
        refuse(c, st, lctx, res, status, "The authorizer refused the request");
    }
out:
    json_decref(verdict);
    route_identity_free(&id);
    buf_free(&key);
    buf_free(&arn);
    buf_free(&ev);
    buf_free(&err);
    return go_on;
}

/* An authorizer-side answer for a parked HTTP API request (GW_CALL_AUTHZ with call->rest). */
static void rest_on_authorizer(gw_worker_t *w, gw_conn_t *c, gw_call_t *call,
                               const route_integ_result_t *ir)
{
    integ_job_t *job = call->job;
    const route_authorizer_t *a = call->az;
    struct gw_rest *st = call->rest;
    gw_azcache_t *cache = w->srv->azcache;
    json_t *verdict = NULL;
    int status = 200;
    const char *why = NULL;

    if (call->az_fetch) {
        bool ok = job->error == PT_OK && job->status == 200;
        json_t *j = NULL;
        if (ok && call->az_fetch == 2) { /* OpenID discovery: where the keys are */
            j = json_loadb(ir->body, ir->body_len, 0, NULL);
            const char *u = json_string_value(json_object_get(j, "jwks_uri"));
            if (u && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0))
                gw_jwks_set_uri(cache, a, u);
            else
                ok = false;
            json_decref(j);
            j = NULL;
            if (ok && c && c->fd >= 0 && c->state == GW_CS_PARKED) {
                char *uri = gw_jwks_uri(cache, a);
                route_http_req_t hr;
                get_req(uri, &hr);
                free(uri);
                route_http_ctx_t hc; /* only what park_for reads */
                route_http_match_t m;
                memset(&hc, 0, sizeof hc);
                memset(&m, 0, sizeof m);
                m.route = call->route;
                hc.api = call->api;
                hc.stage = call->stage;
                hc.match = &m;
                hc.request_id = call->request_id;
                hc.request_time_ms = call->request_time_ms;
                hc.domain_name = call->domain;
                call->rest = NULL;
                park_for(c, &hc, st, a, 1, &hr, NULL, 0, NULL);
                goto out;
            }
        } else if (ok && route_jwks_parse(ir->body, ir->body_len, &j, &why) == PT_OK) {
            gw_jwks_set(cache, a, ir->body, ir->body_len, time_mono_ms());
        } else if (ok) {
            ok = false;
        }
        json_decref(j);
        if (!ok)
            LOG_WARN("[http|%s] authorizer %s: cannot fetch its keys (%s %d)", call->request_id,
                     a->id, job->error == PT_OK ? "HTTP" : pt_strerror(job->error), job->status);
    } else {
        route_az_result_t r;
        route_az_result_from(ir, a->simple, &r);
        status = route_az_decide(&r, call->az_arn);
        if (r.verdict == ROUTE_AZ_ERROR)
            LOG_WARN("[http|%s] authorizer %s: %s", call->request_id, a->id, r.why);
        if (status == 200 || status == 403) {
            verdict = json_object();
            if (r.principal_id)
                json_object_set_new(verdict, "principalId", json_string(r.principal_id));
            if (r.usage_identifier_key)
                json_object_set_new(verdict, "usageIdentifierKey",
                                    json_string(r.usage_identifier_key));
            if (r.context)
                json_object_set(verdict, "context", r.context);
            if (call->az_key)
                gw_azc_put(cache, call->az_key, call->az_key_len, time_mono_ms(), a->ttl_s, status,
                           verdict);
        }
        route_az_result_free(&r);
    }
    if (!c || c->fd < 0 || c->state != GW_CS_PARKED)
        goto out; /* the client left */
    c->state = GW_CS_HEAD;
    call->rest = NULL; /* the request takes its state back */
    st->park_token = 0;
    if (call->az_fetch) {
        rest_request(c, &st->target, st); /* now with the keys (or without: refused there) */
        goto out;
    }
    if (status == 200) {
        json_decref(st->authorizer);
        st->authorizer = shape_lambda(call->route, verdict);
        keep_usage_key(st, verdict);
        st->authorized = true;
        rest_request(c, &st->target, st);
        goto out;
    }
    route_http_response_t res;
    route_ctx_t lctx;
    memset(&res, 0, sizeof res);
    res.head_length = -1;
    log_ctx(&lctx, w->srv, call->api, call->stage, call->route, call->request_id,
            call->request_time_ms, call->source_ip, call->user_agent, call->domain);
    refuse(c, st, &lctx, &res, status, "The authorizer refused the request");
    route_http_response_free(&res);
    gw_rest_free(st);
out:
    json_decref(verdict);
}
