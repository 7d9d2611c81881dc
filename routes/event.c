/* event.c: the Lambda proxy events of WebSocket APIs (spec 6.1 CONNECT, 6.2 MESSAGE, 6.3
 * DISCONNECT). */
#include "routes/route_internal.h"
#include "common/timefmt.h"

#include <stdlib.h>
#include <string.h>

/*
 * Key order, as AWS emits it:
 *
 * - Top level: headers, multiValueHeaders, queryStringParameters,
 *   multiValueQueryStringParameters, stageVariables, requestContext, body, isBase64Encoded
 *   (absent keys skipped). The captures of spec 6.1-6.3 give every key but stageVariables,
 *   which is placed where REST v1 events have it (just before requestContext).
 *
 * - requestContext: the captured orders (routeKey, messageId|disconnectStatusCode, eventType,
 *   extendedRequestId, requestTime, messageDirection, disconnectReason, stage, connectedAt,
 *   requestTimeEpoch, identity, requestId, domainName, connectionId, apiId) are exactly the
 *   iteration order of a java.util.HashMap with 32 buckets: String.hashCode() spread by
 *   (h ^ h >>> 16) & 31 gives 4, 9|5, 11, 13, 16, 17, 17, 20, 21, 21, 22, 22, 23, 25, 30, with
 *   ties in insertion order. "authorizer" hashes to bucket 5, so it follows routeKey (and,
 *   on DISCONNECT, disconnectStatusCode, which we take as inserted first) [U: derived].
 *
 * - identity: {userAgent, sourceIp} as in the 2024 MESSAGE and DISCONNECT captures
 *   (aws/aws-lambda-go events/testdata/apigw-websocket-request-*.json); spec 6.1 shows the
 *   reverse for CONNECT but no capture has both keys there. apiKey, when set, comes last [U].
 *
 * - headers/multiValueHeaders: AWS's maps are case-insensitive sorted maps (every capture
 *   lists headers in case-insensitive alphabetical order, e.g. Host, x-api-key,
 *   X-Forwarded-For, x-restapi), so names that differ only in case are one header (the first
 *   spelling kept); headers holds the last value, multiValueHeaders all of them in order.
 *
 * Strings go through route__json_str, so any byte sequence yields valid JSON (invalid UTF-8
 * becomes U+FFFD).
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

static void num(buf_t *out, int64_t v)
{
    buf_printf(out, "%lld", (long long)v);
}

/* Writes "headers" and "multiValueHeaders" (ci) or the two query maps (!ci) of a list. */
static void write_maps(jw_t *w, const route_kvl_t *l, bool ci, const char *single,
                       const char *multi)
{
    size_t *idx, *starts, ng;
    route__kvl_group(l, ci, &idx, &starts, &ng);
    key(w, single);
    buf_putc(w->out, '{');
    for (size_t g = 0; g < ng; g++) {
        if (g)
            buf_putc(w->out, ',');
        str(w->out, l->v[idx[starts[g]]].key);
        buf_putc(w->out, ':');
        str(w->out, l->v[idx[starts[g + 1] - 1]].val); /* the last value wins */
    }
    buf_putc(w->out, '}');
    key(w, multi);
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

/* requestContext.authorizer: the authorizer's output with every value stringified (spec 2.5). */
static void write_authorizer(buf_t *out, const json_t *az)
{
    const char *k;
    size_t kl;
    json_t *v;
    bool first = true;
    buf_putc(out, '{');
    json_object_keylen_foreach((json_t *)az, k, kl, v)
    {
        if (!first)
            buf_putc(out, ',');
        first = false;
        route__json_str(out, k, kl);
        buf_putc(out, ':');
        if (json_is_null(v)) {
            buf_puts(out, "null");
        } else {
            buf_t t = BUF_INIT;
            route__json_text(v, &t);
            route__json_str(out, t.p ? t.p : "", t.len);
            buf_free(&t);
        }
    }
    buf_putc(out, '}');
}

static const char *default_key(route_event_kind_t k)
{
    return k == ROUTE_EV_CONNECT      ? "$connect"
           : k == ROUTE_EV_DISCONNECT ? "$disconnect"
                                      : "$default";
}

static void write_request_context(const route_ctx_t *ctx, buf_t *out)
{
    jw_t w = {out, true};
    char t[32];
    bool has_az = ctx->authorizer && json_is_object(ctx->authorizer);

    buf_putc(out, '{');
    key(&w, "routeKey");
    str(out, ctx->route ? ctx->route->key : default_key(ctx->kind));
    if (ctx->kind == ROUTE_EV_MESSAGE) {
        if (has_az) {
            key(&w, "authorizer");
            write_authorizer(out, ctx->authorizer);
        }
        key(&w, "messageId");
        str(out, ctx->message_id);
    } else if (ctx->kind == ROUTE_EV_DISCONNECT) {
        key(&w, "disconnectStatusCode");
        num(out, ctx->disconnect_status_code);
    }
    if (ctx->kind != ROUTE_EV_MESSAGE && has_az) {
        key(&w, "authorizer");
        write_authorizer(out, ctx->authorizer);
    }
    key(&w, "eventType");
    str(out, ctx->kind == ROUTE_EV_CONNECT   ? "CONNECT"
             : ctx->kind == ROUTE_EV_MESSAGE ? "MESSAGE"
                                             : "DISCONNECT");
    key(&w, "extendedRequestId");
    str(out, ctx->request_id);
    key(&w, "requestTime");
    time_clf(ctx->request_time_ms, t);
    str(out, t);
    key(&w, "messageDirection");
    str(out, "IN");
    if (ctx->kind == ROUTE_EV_DISCONNECT) {
        key(&w, "disconnectReason");
        str(out, ctx->disconnect_reason);
    }
    key(&w, "stage");
    str(out, ctx->stage ? ctx->stage->name : NULL);
    key(&w, "connectedAt");
    num(out, ctx->connected_at_ms);
    key(&w, "requestTimeEpoch");
    num(out, ctx->request_time_ms);
    key(&w, "identity");
    {
        jw_t iw = {out, true};
        buf_putc(out, '{');
        if (ctx->user_agent) {
            key(&iw, "userAgent");
            str(out, ctx->user_agent);
        }
        key(&iw, "sourceIp");
        str(out, ctx->source_ip);
        if (ctx->api_key) {
            key(&iw, "apiKey");
            str(out, ctx->api_key);
        }
        buf_putc(out, '}');
    }
    key(&w, "requestId");
    str(out, ctx->request_id);
    key(&w, "domainName");
    str(out, ctx->domain_name);
    key(&w, "connectionId");
    str(out, ctx->connection_id);
    key(&w, "apiId");
    str(out, ctx->api ? ctx->api->id : NULL);
    buf_putc(out, '}');
}

void route_event_ws(const route_ctx_t *ctx, buf_t *out)
{
    jw_t w = {out, true};
    route_kvl_t l = {0};

    buf_putc(out, '{');
    if (ctx->kind == ROUTE_EV_CONNECT) {
        route__connect_headers(ctx, &l);
        write_maps(&w, &l, true, "headers", "multiValueHeaders");
        route__kvl_free(&l);
        /* Absent (not empty) when the URL has no query string (spec 6.1). */
        route__query_parse(ctx->query, ctx->query_len, &l);
        if (l.n)
            write_maps(&w, &l, false, "queryStringParameters", "multiValueQueryStringParameters");
        route__kvl_free(&l);
    } else if (ctx->kind == ROUTE_EV_DISCONNECT) {
        /* The fixed, odd header set of every captured DISCONNECT event (spec 6.3). */
        const char *host = ctx->domain_name ? ctx->domain_name : "";
        route__kvl_add(&l, "Host", 4, host, strlen(host));
        route__kvl_add(&l, "x-api-key", 9, "", 0);
        route__kvl_add(&l, "X-Forwarded-For", 15, "", 0);
        route__kvl_add(&l, "x-restapi", 9, "", 0);
        write_maps(&w, &l, true, "headers", "multiValueHeaders");
        route__kvl_free(&l);
    }
    if (ctx->stage && ctx->stage->variables.n) {
        key(&w, "stageVariables");
        buf_putc(out, '{');
        for (size_t i = 0; i < ctx->stage->variables.n; i++) {
            if (i)
                buf_putc(out, ',');
            str(out, ctx->stage->variables.items[i].key);
            buf_putc(out, ':');
            str(out, ctx->stage->variables.items[i].val);
        }
        buf_putc(out, '}');
    }
    key(&w, "requestContext");
    write_request_context(ctx, out);
    if (ctx->kind == ROUTE_EV_MESSAGE) {
        key(&w, "body");
        route__json_str(out, ctx->body ? ctx->body : "", ctx->body ? ctx->body_len : 0);
    }
    key(&w, "isBase64Encoded");
    buf_puts(out, "false");
    buf_putc(out, '}');
}
