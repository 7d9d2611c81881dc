/* connect.c: $connect, messages and $disconnect: from a connection to its integrations and back. */
#include "gateway/gw.h"
#include "gateway/ops.h"
#include "routes/security.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

/* ---- calls to the integration thread ------------------------------------------------------ */

void gw_call_free(gw_call_t *call)
{
    if (!call)
        return;
    if (call->job)
        integ_job_free(call->job);
    free(call->source_ip);
    free(call->user_agent);
    free(call->domain);
    gw_rest_free(call->rest);
    json_decref(call->authorizer);
    free(call->az_key);
    free(call->az_arn);
    free(call);
}

/* Runs on the integration thread: hand the finished job to its worker. */
static void call_done(integ_job_t *job)
{
    gw_call_t *call = job->user;
    call->msg.type = GW_MSG_INTEG;
    if (!call->owner || !gw_worker_post(call->owner, &call->msg)) {
        /* The worker is gone (shutdown): nobody waits for this result, but the outbox does. */
        if (call->kind == GW_CALL_DISCONNECT && call->owner)
            gw_outbox_settle_late(call->owner->srv, call);
        gw_call_free(call);
    }
}

static gw_call_t *call_new(gw_worker_t *w, gw_call_kind_t kind, const gw_ws_t *ws,
                           const route_route_t *route)
{
    gw_call_t *call = pt_xcalloc(1, sizeof *call);
    call->kind = kind;
    call->owner = w;
    call->api = ws->api;
    call->stage = ws->stage;
    call->route = route;
    call->integ = route->integration;
    memcpy(call->connection_id, ws->id, sizeof call->connection_id);
    call->connected_at_ms = ws->connected_at_ms;
    call->request_time_ms = time_now_ms();
    call->source_ip = ws->source_ip ? pt_xstrdup(ws->source_ip) : NULL;
    call->user_agent = ws->user_agent ? pt_xstrdup(ws->user_agent) : NULL;
    call->domain = ws->domain ? pt_xstrdup(ws->domain) : NULL;
    call->authorizer = json_incref(ws->authorizer);
    return call;
}

static void ctx_init(route_ctx_t *ctx, gw_server_t *srv, const gw_ws_t *ws,
                     const route_route_t *route, route_event_kind_t kind)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->api = ws->api;
    ctx->stage = ws->stage;
    ctx->route = route;
    ctx->kind = kind;
    ctx->connection_id = ws->id;
    ctx->domain_name = ws->domain;
    ctx->region = srv->cfg->server.region;
    ctx->account_id = srv->cfg->server.account_id;
    ctx->connected_at_ms = ws->connected_at_ms;
    ctx->request_time_ms = time_now_ms();
    ctx->source_ip = ws->source_ip;
    ctx->user_agent = ws->user_agent;
    ctx->server_port = srv->listen_port;
    ctx->integration_latency_ms = -1;
    ctx->lambda = &srv->aws.lambda;
    ctx->authorizer = ws->authorizer;
}

/* Like ctx_init, for a result coming back: the connection may be gone, the call has copies. */
static void ctx_from_call(route_ctx_t *ctx, gw_server_t *srv, const gw_call_t *call)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->api = call->api;
    ctx->stage = call->stage;
    ctx->route = call->route;
    ctx->kind = call->kind == GW_CALL_CONNECT   ? ROUTE_EV_CONNECT
                : call->kind == GW_CALL_MESSAGE ? ROUTE_EV_MESSAGE
                                                : ROUTE_EV_DISCONNECT;
    ctx->connection_id = call->connection_id;
    ctx->request_id = call->request_id;
    ctx->message_id = call->message_id[0] ? call->message_id : NULL;
    ctx->domain_name = call->domain;
    ctx->region = srv->cfg->server.region;
    ctx->account_id = srv->cfg->server.account_id;
    ctx->connected_at_ms = call->connected_at_ms;
    ctx->request_time_ms = call->request_time_ms;
    ctx->source_ip = call->source_ip;
    ctx->user_agent = call->user_agent;
    ctx->server_port = srv->listen_port;
    ctx->integration_latency_ms = call->job ? call->job->latency_us / 1000 : -1;
    ctx->lambda = &srv->aws.lambda;
    ctx->authorizer = call->authorizer;
}

integ_job_t *gw_call_job(gw_server_t *srv, gw_call_t *call, route_http_req_t *hr,
                         integ_done_cb done)
{
    integ_job_t *job = integ_job_new();
    job->method = hr->method;
    job->url = hr->url;
    job->req_headers = hr->headers;
    job->req_body = hr->body;
    job->req_body_len = hr->body_len;
    job->timeout_ms = hr->timeout_ms;
    free(hr->sign_service); /* the job took everything else */
    free(hr->sign_region);
    memset(hr, 0, sizeof *hr);
    job->max_response = srv->limits->max_integration_response_bytes;
    job->done = done;
    job->user = call;
    call->job = job;
    return job;
}

/* Submits a built request (taken) for call. */
static void call_submit_req(gw_worker_t *w, gw_call_t *call, route_http_req_t *hr)
{
    integ_job_t *job = gw_call_job(w->srv, call, hr, call_done);
    LOG_DEBUG("[conn|%s] %s %s", call->connection_id, job->method, job->url);
    integ_submit(w->srv->integ, job);
}

/* Builds the backend request and submits it. Returns PT_OK, or an error when the request
 * could not be built (the caller treats it as an integration failure). */
static int call_submit(gw_worker_t *w, gw_call_t *call, const route_ctx_t *ctx)
{
    route_http_req_t hr;
    buf_t err = BUF_INIT;
    memset(&hr, 0, sizeof hr);
    int rc = route_integ_request(call->integ, ctx, &hr, &err);
    /* A Lambda Invoke is signed here, on the worker, with its own key cache (gateway/aws.c). */
    if (rc == PT_OK && hr.sign_service)
        rc = gw_aws_sign(&w->srv->aws, &w->sigv4_cache, &hr, time_now_ms() / 1000, &err);
    if (rc != PT_OK) {
        LOG_WARN("[conn|%s] integration %s: cannot build request: %s", call->connection_id,
                 call->integ->id, err.p ? err.p : pt_strerror(rc));
        buf_free(&err);
        route_http_req_free(&hr);
        return rc;
    }
    buf_free(&err);
    call_submit_req(w, call, &hr);
    return PT_OK;
}

/* ---- $connect ------------------------------------------------------------------------------- */

static void upgrade_reject(gw_conn_t *c, int status, const char *content_type, const char *body,
                           size_t body_len)
{
    gw_worker_t *w = c->w;
    gw_table_del(&w->table, c);
    /* Never established: closing it must not fire $disconnect (spec 3) nor count it as a
     * closed connection (the open gauges and ws_total would go below the truth). */
    c->ws->disconnect_fired = true;
    w->stats.connect_rejects++;
    c->keep_alive = false;
    c->want_close = true;
    if (!body) {
        static const char def[] = "{\"message\": \"Forbidden\"}";
        body = def;
        body_len = sizeof def - 1;
        content_type = "application/json";
    }
    gw_http_respond(c, status, content_type ? content_type : "application/json", NULL, body,
                    body_len);
    c->state = GW_CS_CLOSING;
    gw_tq_push(&w->tq_closing, &c->t_main, time_mono_ms());
    gw_conn_set_events(c);
}

static void upgrade_accept(gw_conn_t *c, const char *subprotocol)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    if (subprotocol && *subprotocol)
        ws->subprotocol = pt_xstrdup(subprotocol);
    store_conn_t rec;
    memset(&rec, 0, sizeof rec);
    memcpy(rec.id, ws->id, sizeof rec.id);
    rec.node = w->srv->node;
    rec.worker = (uint8_t)w->index;
    rec.epoch = w->srv->epoch;
    rec.connected_at_ms = ws->connected_at_ms;
    rec.last_active_at_ms = ws->connected_at_ms;
    rec.api_id = ws->api->id;
    rec.stage = ws->stage->name;
    rec.source_ip = ws->source_ip;
    rec.user_agent = ws->user_agent;
    rec.domain_name = ws->domain;
    if (store_batch_put(w->batch, &rec) != PT_OK) {
        /* A field the registry cannot hold (an over-long Host): refuse rather than run an
         * unregistered connection. */
        upgrade_reject(c, 400, "application/json", "{\"message\": \"Bad Request\"}", 26);
        return;
    }
    /* The 101 goes out after the registry commit at the end of this loop turn, so a
     * connection the client sees as open is always in the registry. */
    c->state = GW_CS_COMMIT;
    gw_tq_remove(&c->t_main);
    c->commit_next = w->commit_list;
    w->commit_list = c;
}

static void apply_connect_outcome(gw_conn_t *c, const route_outcome_t *out)
{
    if (out->status >= 200 && out->status < 300)
        upgrade_accept(c, out->subprotocol);
    else
        upgrade_reject(c, out->status ? out->status : 500, out->content_type, out->body,
                       out->body_len);
}

/* The $connect context from the request the connection holds while pending. */
static void connect_ctx(gw_conn_t *c, const route_route_t *route, route_ctx_t *ctx,
                        char request_id[ID_LEN + 1], char trace[64])
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    id_request_new(&w->ids, request_id);
    uint8_t rnd[12];
    id_random(&w->ids, rnd, sizeof rnd);
    snprintf(trace, 64, "Root=1-%08x-%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x",
             (unsigned)(ws->connected_at_ms / 1000), rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
             rnd[6], rnd[7], rnd[8], rnd[9], rnd[10], rnd[11]);
    ctx_init(ctx, w->srv, ws, route, ROUTE_EV_CONNECT);
    ctx->request_id = request_id;
    ctx->headers = c->req->headers;
    ctx->nheaders = c->req->nheaders;
    ctx->query = c->req->query;
    ctx->query_len = c->req->query_len;
    ctx->trace_id = trace;
}

/* Runs the $connect integration of a pending upgrade (authorized, when it has an authorizer):
 * accepts, rejects, or leaves it pending until the result comes back. usage_key: the
 * authorizer's usageIdentifierKey (NULL when none), for apiKeySelectionExpression
 * $context.authorizer.usageIdentifierKey. */
static void connect_run(gw_conn_t *c, const char *usage_key)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    const route_route_t *route = ws->api->r_connect;
    if (route && route->api_key_required) {
        /* Issue 7: after the authorizer, as AWS (spec 2.5, API keys). */
        const char *m;
        int st = gw_apikey_check(w, ws->api, ws->stage, "$connect", c->req->headers,
                                 c->req->nheaders, usage_key, &m);
        if (st != 200) {
            buf_t b = BUF_INIT;
            buf_printf(&b, "{\"message\":\"%s\"}", m);
            gw_alog_ws(w, ws, ROUTE_EV_CONNECT, route, NULL, st, m);
            upgrade_reject(c, st, "application/json", b.p, b.len);
            buf_free(&b);
            return;
        }
    }
    if (!route || !route->integration) {
        /* $connect is optional (spec 2.1): accept. */
        gw_alog_ws(w, ws, ROUTE_EV_CONNECT, route, NULL, 200, NULL);
        upgrade_accept(c, NULL);
        return;
    }
    char request_id[ID_LEN + 1];
    char trace[64];
    route_ctx_t ctx;
    connect_ctx(c, route, &ctx, request_id, trace);

    if (route->integration->type == ROUTE_INTEG_MOCK) {
        route_outcome_t out;
        memset(&out, 0, sizeof out);
        route_mock_run(route->integration, &ctx, &out);
        gw_ops_outcome(w, &ctx, NULL, &out);
        apply_connect_outcome(c, &out);
        route_outcome_free(&out);
        return;
    }
    gw_call_t *call = call_new(w, GW_CALL_CONNECT, ws, route);
    memcpy(call->request_id, request_id, sizeof call->request_id);
    if (call_submit(w, call, &ctx) != PT_OK) {
        gw_call_free(call);
        gw_ops_submit_failed(w, &ctx);
        upgrade_reject(c, 500, "application/json", "{\"message\": \"Internal server error\"}", 36);
        return;
    }
    /* Hold the upgrade: stop reading (frames sent early stay in the kernel) but watch for the
     * client giving up (EPOLLRDHUP). */
    gw_tq_push(&w->tq_pending, &c->t_main, time_mono_ms());
    gw_conn_set_events(c);
}

/* Applies an authorizer's verdict to a pending upgrade: 200 goes on to the $connect
 * integration with requestContext.authorizer set (azctx taken), anything else is refused with
 * AWS's body. */
static void connect_authorized(gw_conn_t *c, int status, json_t *azctx, const char *usage_key)
{
    if (status != 200) {
        json_decref(azctx);
        size_t n;
        const char *body = gw_az_body(status, &n);
        gw_alog_ws(c->w, c->ws, ROUTE_EV_CONNECT, c->ws->api->r_connect, NULL, status,
                   status == 500 ? "AuthorizerConfigurationException" : NULL);
        upgrade_reject(c, status, "application/json", body, n);
        return;
    }
    json_decref(c->ws->authorizer);
    c->ws->authorizer = azctx;
    connect_run(c, usage_key);
}

/* A cache entry of a WebSocket verdict: {"a": requestContext.authorizer, "k":
 * usageIdentifierKey}. az_pack takes azctx's reference; az_unpack gives new ones. */
static json_t *az_pack(json_t *azctx, const char *usage_key)
{
    json_t *o = json_object();
    if (azctx)
        json_object_set(o, "a", azctx);
    if (usage_key)
        json_object_set_new(o, "k", json_string(usage_key));
    return o;
}

static json_t *az_unpack(json_t *cached, char **usage_key)
{
    json_t *a = json_incref(json_object_get(cached, "a"));
    const char *k = json_string_value(json_object_get(cached, "k"));
    *usage_key = k ? pt_xstrdup(k) : NULL;
    json_decref(cached);
    return a;
}

/* Issue 7: throttles of a new connection: Portico's per-IP limits, then the $connect route's
 * bucket (stage routeSettings / defaultRouteSettings) and the server-wide one. False when
 * refused with 429. */
static bool connect_limits(gw_conn_t *c)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    const route_limits_t *lim = w->srv->limits;
    int rc = gw_limits_ip_connect(w->srv->limiter, ws->source_ip);
    bool ok = rc == PT_OK;
    ws->ip_counted = ok;
    if (ok && gw_limits_active(w->srv->limiter, ws->stage, "$connect"))
        ok = gw_limits_take(w->srv->limiter, ws->stage, "$connect");
    if (!ok) {
        static const char body[] = "{\"message\":\"Limit Exceeded\"}";
        gw_alog_ws(w, ws, ROUTE_EV_CONNECT, ws->api->r_connect, NULL, 429, "Limit Exceeded");
        upgrade_reject(c, 429, "application/json", body, sizeof body - 1);
        return false;
    }
    if (lim->message_rate_per_connection > 0 || lim->message_burst_per_connection > 0)
        route_bucket_init(&ws->msg_bucket, lim->message_rate_per_connection,
                          lim->message_burst_per_connection ? lim->message_burst_per_connection : 1,
                          time_mono_us());
    return true;
}

/* Issue 7: the API's resource policy (aws:SourceIp conditions). False when refused. */
static bool connect_policy(gw_conn_t *c)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    buf_t arn = BUF_INIT, msg = BUF_INIT, body = BUF_INIT;
    route_arn_api(w->srv->cfg->server.region, w->srv->cfg->server.account_id, ws->api->id, &arn);
    buf_printf(&arn, "/%s/$connect", ws->stage->name);
    int status = gw_policy_check(w->srv, ws->api, arn.p, ws->source_ip, &msg);
    if (status != 200) {
        buf_puts(&body, "{\"Message\":");
        buf_json_str(&body, msg.p, msg.len);
        buf_putc(&body, '}');
        gw_alog_ws(w, ws, ROUTE_EV_CONNECT, ws->api->r_connect, NULL, status, "AccessDenied");
        upgrade_reject(c, status, "application/json", body.p, body.len);
    }
    buf_free(&arn);
    buf_free(&msg);
    buf_free(&body);
    return status == 200;
}

/* Spec 2.5, AWS_IAM on $connect: a SigV4-signed upgrade (header, or the presigned URL
 * browsers use) by a credential allowed to invoke .../{stage}/$connect. False when refused. */
static bool connect_iam(gw_conn_t *c)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    buf_t arn = BUF_INIT, msg = BUF_INIT, body = BUF_INIT;
    const char *etype = NULL;
    route_arn_api(w->srv->cfg->server.region, w->srv->cfg->server.account_id, ws->api->id, &arn);
    buf_printf(&arn, "/%s/$connect", ws->stage->name);
    int status = gw_iam_check(w, c->req, NULL, 0, arn.p, &etype, &msg);
    if (status != 200) {
        LOG_INFO("[conn|%s] AWS_IAM refused: %s", ws->id, etype);
        buf_puts(&body, "{\"message\":");
        buf_json_str(&body, msg.p ? msg.p : "", msg.len);
        buf_putc(&body, '}');
        gw_alog_ws(w, ws, ROUTE_EV_CONNECT, ws->api->r_connect, NULL, status, etype);
        upgrade_reject(c, status, "application/json", body.p, body.len);
    }
    buf_free(&arn);
    buf_free(&msg);
    buf_free(&body);
    return status == 200;
}

/*
 * Spec 2.5: the Lambda REQUEST authorizer of $connect. Missing identity sources: 401 without a
 * call; a cached verdict applies at once; otherwise the authorizer is called and the upgrade
 * stays pending (gw_on_integ -> connect_on_authorizer). The upgrade goes on from here
 * (connect_authorized) when the verdict is known at once.
 */
static void connect_authorize(gw_conn_t *c, const route_route_t *route)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    const route_authorizer_t *a = route->authorizer;
    char request_id[ID_LEN + 1];
    char trace[64];
    route_ctx_t ctx;
    connect_ctx(c, route, &ctx, request_id, trace);
    route_idreq_t ir = {.headers = ctx.headers,
                        .nheaders = ctx.nheaders,
                        .query = ctx.query,
                        .query_len = ctx.query_len,
                        .stage = ws->stage,
                        .ctx = &ctx};
    route_identity_t id;
    buf_t key = BUF_INIT, arn = BUF_INIT, ev = BUF_INIT, err = BUF_INIT;
    json_t *azctx = NULL;
    char *usage_key = NULL;
    int status = 0;
    if (route_identity_get(a->ids, a->nids, &ir, &id) != PT_OK) {
        status = 401;
        goto decided;
    }
    if (a->ttl_s > 0) {
        route_identity_key(a->id, ws->api->id, ws->stage->name, &id, &key);
        json_t *cached = NULL;
        if (gw_azc_get(w->srv->azcache, key.p, key.len, time_mono_ms(), &status, &cached) ==
            PT_OK) {
            azctx = az_unpack(cached, &usage_key);
            goto decided;
        }
    }
    route_arn_ws(&ctx, "$connect", &arn);
    route_az_event_ws(&ctx, arn.p, &ev);
    route_http_req_t hr;
    if (gw_az_request(w, a, ws->stage, &ev, &hr, &err) != PT_OK) {
        LOG_WARN("[conn|%s] authorizer %s: cannot build request: %s", ws->id, a->id,
                 err.p ? err.p : "");
        status = 500;
        goto decided;
    }
    gw_call_t *call = call_new(w, GW_CALL_AUTHZ, ws, route);
    memcpy(call->request_id, request_id, sizeof call->request_id);
    call->az = a;
    call->az_arn = buf_steal(&arn, NULL);
    if (key.len)
        call->az_key = buf_steal(&key, &call->az_key_len);
    call_submit_req(w, call, &hr);
    gw_tq_push(&w->tq_pending, &c->t_main, time_mono_ms());
    gw_conn_set_events(c);
    goto out;
decided:
    connect_authorized(c, status, azctx, usage_key);
out:
    free(usage_key);
    route_identity_free(&id);
    buf_free(&key);
    buf_free(&arn);
    buf_free(&ev);
    buf_free(&err);
}

/* The authorizer answered (GW_CALL_AUTHZ): judge, cache, and go on or refuse. */
static void connect_on_authorizer(gw_worker_t *w, gw_call_t *call, const route_integ_result_t *res)
{
    const route_authorizer_t *a = call->az;
    route_az_result_t r;
    route_az_result_from(res, a->simple, &r);
    int status = route_az_decide(&r, call->az_arn);
    if (r.verdict == ROUTE_AZ_ERROR)
        LOG_WARN("[conn|%s] authorizer %s: %s", call->connection_id, a->id, r.why);
    json_t *azctx = status == 200 ? route_az_context_ws(&r) : NULL;
    /* Only a working authorizer's verdicts are kept: Unauthorized and failures ask again. */
    if (call->az_key && (status == 200 || status == 403)) {
        json_t *packed = az_pack(azctx, r.usage_identifier_key);
        gw_azc_put(w->srv->azcache, call->az_key, call->az_key_len, time_mono_ms(), a->ttl_s,
                   status, packed);
        json_decref(packed);
    }
    gw_conn_t *c = gw_table_get(&w->table, call->connection_id);
    if (c && c->state == GW_CS_PENDING)
        connect_authorized(c, status, azctx, r.usage_identifier_key);
    else
        json_decref(azctx); /* the client gave up meanwhile */
    route_az_result_free(&r);
}

void gw_upgrade(gw_conn_t *c, const http_request_t *req, const route_api_t *api,
                const route_stage_t *stage)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = pt_xcalloc(1, sizeof *ws);
    c->ws = ws;
    ws->api = api;
    ws->stage = stage;
    ws->connected_at_ms = time_now_ms();
    ws->source_ip = pt_xstrdup(c->peer_ip);
    const http_header_t *ua = http_find_header(req, "user-agent");
    if (ua) /* the registry keeps at most STORE_STR_MAX bytes of it */
        ws->user_agent =
            pt_xstrndup(ua->value, ua->value_len < STORE_STR_MAX ? ua->value_len : STORE_STR_MAX);
    const http_header_t *host = http_find_header(req, "host");
    if (host) {
        size_t n = host->value_len;
        /* AWS: domainName "should be the same as the incoming Host header". The port is kept
         * when the client sent one, so a handler that builds its @connections endpoint from
         * domainName and stage finds a Portico that is not on port 80 or 443. */
        ws->domain = pt_xstrndup(host->value, n);
    } else {
        ws->domain = pt_xstrdup("localhost");
    }
    const http_header_t *key = http_find_header(req, "sec-websocket-key");
    ws_accept_key(key->value, key->value_len, ws->accept_key);
    do {
        id_conn_new(&w->ids, ws->id);
    } while (gw_table_get(&w->table, ws->id)); /* never reuse a live id */
    c->state = GW_CS_PENDING;
    gw_table_put(&w->table, c);
    gw_m_connect(w, ws);

    if (api->policy && !connect_policy(c))
        return; /* the resource policy comes before anything else */
    if (!connect_limits(c))
        return; /* throttled: 429 */
    const route_route_t *route = api->r_connect;
    if (route && route->authorization_type && strcmp(route->authorization_type, "AWS_IAM") == 0 &&
        !connect_iam(c))
        return; /* refused */
    if (route && route->authorizer && route->authorizer->type == ROUTE_AUTHZ_REQUEST) {
        connect_authorize(c, route); /* goes on, refuses, or waits for the authorizer */
        return;
    }
    connect_run(c, NULL);
}

void gw_commit_turn(gw_worker_t *w)
{
    if (!w->commit_list && store_batch_len(w->batch) == 0)
        return;
    int rc = PT_OK;
    if (store_batch_len(w->batch) > 0) {
        rc = store_batch_commit(w->srv->store, w->batch, NULL, NULL);
        if (rc == PT_EMAPFULL) /* deletes and owed $disconnects were still written */
            LOG_ERROR("registry commit failed: %s (server.limits.registryMaxBytes reached): "
                      "new connections get 503 until closes make room",
                      pt_strerror(rc));
        else if (rc != PT_OK)
            LOG_ERROR("registry commit failed: %s", pt_strerror(rc));
    }
    gw_conn_t *c = w->commit_list;
    w->commit_list = NULL;
    while (c) {
        gw_conn_t *next = c->commit_next;
        c->commit_next = NULL;
        if (c->fd >= 0 && c->state == GW_CS_COMMIT) {
            if (rc != PT_OK) {
                upgrade_reject(c, 503, "application/json", "{\"message\": \"Service Unavailable\"}",
                               34);
            } else {
                buf_t b = BUF_INIT;
                buf_printf(&b,
                           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                           c->ws->accept_key);
                if (c->ws->subprotocol)
                    buf_printf(&b, "Sec-WebSocket-Protocol: %s\r\n", c->ws->subprotocol);
                buf_puts(&b, "\r\n");
                gw_conn_send(c, b.p, b.len, false);
                buf_free(&b);
                free(c->req_head);
                c->req_head = NULL;
                free(c->req);
                c->req = NULL;
                gw_ws_established(c);
                gw_conn_resume(c); /* frames the client sent early */
            }
        }
        c = next;
    }
}

/* ---- messages ------------------------------------------------------------------------------ */

static void send_error_frame(gw_conn_t *c, const char *message, const char *request_id)
{
    buf_t f = BUF_INIT;
    route_error_frame(message, c->ws->id, request_id, &f);
    if (gw_ws_send_msg(c, f.p, f.len, false) == PT_EFULL)
        gw_ws_close(c, WS_CLOSE_POLICY, "Outbound queue full");
    buf_free(&f);
}

static void send_outcome_frame(gw_conn_t *c, const route_outcome_t *out)
{
    if (!out->frame)
        return;
    if (gw_ws_send_msg(c, out->frame, out->frame_len, out->frame_binary) == PT_EFULL)
        gw_ws_close(c, WS_CLOSE_POLICY, "Outbound queue full");
}

void gw_message(gw_conn_t *c, const char *msg, size_t len)
{
    gw_worker_t *w = c->w;
    gw_ws_t *ws = c->ws;
    json_t *body = NULL;
    const route_route_t *route = route_ws_select(ws->api, msg, len, &body);
    char request_id[ID_LEN + 1], message_id[ID_LEN + 1];
    id_request_new(&w->ids, request_id);
    gw_m_message_in(w, ws, route);
    if (!route) {
        gw_ops_no_route(w, ws, request_id);
        send_error_frame(c, "Forbidden", request_id);
        goto out;
    }
    /* Issue 7: the connection's own bucket (Portico), then the route's and the server's. A
     * throttled message gets an error frame; the connection stays open. */
    if ((ws->msg_bucket.burst > 0 && !route_bucket_take(&ws->msg_bucket, time_mono_us())) ||
        (gw_limits_active(w->srv->limiter, ws->stage, route->key) &&
         !gw_limits_take(w->srv->limiter, ws->stage, route->key))) {
        gw_alog_ws(w, ws, ROUTE_EV_MESSAGE, route, request_id, 429, "Limit Exceeded");
        send_error_frame(c, "Limit Exceeded", request_id);
        goto out;
    }
    if (!route->integration) {
        gw_alog_ws(w, ws, ROUTE_EV_MESSAGE, route, request_id, 200, NULL);
        goto out;
    }
    id_request_new(&w->ids, message_id);
    route_ctx_t ctx;
    ctx_init(&ctx, w->srv, ws, route, ROUTE_EV_MESSAGE);
    ctx.request_id = request_id;
    ctx.message_id = message_id;
    ctx.body = msg;
    ctx.body_len = len;
    ctx.body_json = body;
    if (route->integration->type == ROUTE_INTEG_MOCK) {
        route_outcome_t out;
        memset(&out, 0, sizeof out);
        route_mock_run(route->integration, &ctx, &out);
        gw_ops_outcome(w, &ctx, NULL, &out);
        send_outcome_frame(c, &out);
        route_outcome_free(&out);
        goto out;
    }
    gw_call_t *call = call_new(w, GW_CALL_MESSAGE, ws, route);
    memcpy(call->request_id, request_id, sizeof call->request_id);
    memcpy(call->message_id, message_id, sizeof call->message_id);
    call->request_time_ms = ctx.request_time_ms;
    if (call_submit(w, call, &ctx) != PT_OK) {
        gw_call_free(call);
        gw_ops_submit_failed(w, &ctx);
        send_error_frame(c, "Internal server error", request_id);
    }
out:
    if (body)
        json_decref(body);
}

/* ---- $disconnect --------------------------------------------------------------------------- */

void gw_disconnect(gw_worker_t *w, gw_ws_t *ws)
{
    int code;
    const char *reason;
    if (ws->server_close_code) {
        code = ws->server_close_code;
        reason = ws->server_close_reason ? ws->server_close_reason : "";
    } else if (ws->close_code) {
        code = ws->close_code;
        reason = ws->close_reason ? ws->close_reason : "";
    } else {
        code = WS_CLOSE_ABNORMAL; /* the TCP connection ended without a close frame */
        reason = "";
    }
    char request_id[ID_LEN + 1];
    id_request_new(&w->ids, request_id);
    /* Owed until it is answered: a crash before that replays it at the next start. */
    if (gw_disconnect_fire(w, ws, code, reason, request_id, 1) == PT_OK)
        gw_outbox_owe(w, ws, code, reason, request_id);
}

int gw_disconnect_fire(gw_worker_t *w, gw_ws_t *ws, int code, const char *reason,
                       const char *request_id, unsigned attempt)
{
    const route_route_t *route = ws->api->r_disconnect;
    if (!route || !route->integration || route->integration->type == ROUTE_INTEG_MOCK) {
        gw_alog_ws(w, ws, ROUTE_EV_DISCONNECT, route, NULL, 200, NULL);
        return PT_ENOTFOUND;
    }
    route_ctx_t ctx;
    ctx_init(&ctx, w->srv, ws, route, ROUTE_EV_DISCONNECT);
    ctx.request_id = request_id;
    ctx.disconnect_status_code = code;
    ctx.disconnect_reason = reason;
    gw_call_t *call = call_new(w, GW_CALL_DISCONNECT, ws, route);
    memcpy(call->request_id, request_id, sizeof call->request_id);
    call->attempt = attempt;
    if (call_submit(w, call, &ctx) != PT_OK) {
        gw_call_free(call);
        gw_ops_submit_failed(w, &ctx);
        return PT_EINVAL;
    }
    ctx.status = 200; /* logged when it is fired: a result may never come (shutdown) */
    gw_alog(w, &ctx, NULL);
    return PT_OK;
}

/* ---- results ----------------------------------------------------------------------------- */

void gw_on_integ(gw_worker_t *w, gw_call_t *call)
{
    if (call->kind == GW_CALL_HTTP || (call->kind == GW_CALL_AUTHZ && call->rest)) {
        /* an HTTP API request (or its authorizer): rest.c answers it */
        gw_rest_on_integ(w, call);
        return;
    }
    integ_job_t *job = call->job;
    route_ctx_t ctx;
    ctx_from_call(&ctx, w->srv, call);
    http_header_t hdrs[64];
    size_t nh = 0;
    bool function_error = false;
    for (size_t i = 0; i < job->nresp_headers && nh < PT_ARRAY_LEN(hdrs); i++) {
        hdrs[nh].name = job->resp_headers[i].name;
        hdrs[nh].name_len = strlen(job->resp_headers[i].name);
        hdrs[nh].value = job->resp_headers[i].value;
        hdrs[nh].value_len = strlen(job->resp_headers[i].value);
        if (http_ieq(hdrs[nh].name, hdrs[nh].name_len, "x-amz-function-error"))
            function_error = true;
        nh++;
    }
    route_integ_result_t res = {
        .error = job->error,
        .status = job->status,
        .headers = hdrs,
        .nheaders = nh,
        .body = job->resp_body.p ? job->resp_body.p : "",
        .body_len = job->resp_body.len,
        .function_error = function_error,
    };
    bool az = call->kind == GW_CALL_AUTHZ;
    const char *what = az ? "authorizer" : "integration";
    const char *name = az ? call->az->id : call->integ->id;
    if (job->error != PT_OK)
        LOG_WARN("[conn|%s] %s %s failed: %s (%s)", call->connection_id, what, name,
                 pt_strerror(job->error), job->errmsg);
    else if (az ? job->status >= 500
                : call->integ->type == ROUTE_INTEG_AWS_PROXY &&
                      (job->status < 200 || job->status > 299)) {
        const char *etype = integ_job_header(job, "x-amzn-ErrorType"); /* issue 5 */
        LOG_WARN("[conn|%s] %s %s: the Lambda Invoke API answered %d %s", call->connection_id, what,
                 name, job->status, etype ? etype : "");
    }
    if (az) {
        connect_on_authorizer(w, call, &res);
        goto out;
    }
    gw_ops_integ(w, call, &res);
    if (call->kind == GW_CALL_DISCONNECT) {
        gw_outbox_settle(w, call);
        goto out;
    }
    gw_conn_t *c = gw_table_get(&w->table, call->connection_id);
    route_outcome_t out;
    memset(&out, 0, sizeof out);
    route_integ_outcome(call->integ, &ctx, &res, &out);
    gw_ops_outcome(w, &ctx, &res, &out);
    if (call->kind == GW_CALL_CONNECT) {
        if (c && c->state == GW_CS_PENDING)
            apply_connect_outcome(c, &out);
    } else if (c && c->state == GW_CS_WS) {
        send_outcome_frame(c, &out);
    }
    route_outcome_free(&out);
out:
    gw_call_free(call);
}
