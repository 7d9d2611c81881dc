/* ctx.c: $context variables (spec 5.3 mapping templates, 10.2 access logs). */
#include "routes/route_internal.h"
#include "common/timefmt.h"

#include <stdio.h>
#include <string.h>

static bool put_str(buf_t *out, const char *s)
{
    if (!s)
        return false;
    buf_puts(out, s);
    return true;
}

static bool put_i64(buf_t *out, int64_t v)
{
    buf_printf(out, "%lld", (long long)v);
    return true;
}

static const char *event_type(route_event_kind_t k)
{
    switch (k) {
    case ROUTE_EV_CONNECT:
        return "CONNECT";
    case ROUTE_EV_MESSAGE:
        return "MESSAGE";
    case ROUTE_EV_DISCONNECT:
        return "DISCONNECT";
    }
    return NULL;
}

/* $context.authorizer.<key>: the authorizer's context values stringified ("value", "1",
 * "true"; spec 2.5). A dotted key that is not a flat key walks nested objects (JWT-style
 * "claims.sub"). */
static bool authorizer_var(const json_t *az, const char *key, size_t n, buf_t *out)
{
    const json_t *v;
    if (!az || !json_is_object(az) || n == 0)
        return false;
    v = json_object_getn(az, key, n);
    if (!v) {
        const char *dot = memchr(key, '.', n);
        if (!dot)
            return false;
        const json_t *sub = json_object_getn(az, key, (size_t)(dot - key));
        return authorizer_var(sub, dot + 1, n - (size_t)(dot - key) - 1, out);
    }
    if (json_is_null(v))
        return false;
    route__json_text(v, out);
    return true;
}

bool route_ctx_var(const route_ctx_t *ctx, const char *name, size_t n, buf_t *out)
{
#define IS(lit)     (n == sizeof(lit) - 1 && memcmp(name, lit, n) == 0)
#define PREFIX(lit) (n > sizeof(lit) - 1 && memcmp(name, lit, sizeof(lit) - 1) == 0)
    if (IS("connectionId"))
        return put_str(out, ctx->connection_id);
    if (IS("connectedAt"))
        return put_i64(out, ctx->connected_at_ms);
    if (IS("domainName"))
        return put_str(out, ctx->domain_name);
    if (IS("eventType"))
        return put_str(out, event_type(ctx->kind));
    if (IS("requestId") || IS("extendedRequestId"))
        return put_str(out, ctx->request_id);
    if (IS("messageId"))
        return ctx->kind == ROUTE_EV_MESSAGE && put_str(out, ctx->message_id);
    if (IS("requestTime")) {
        char t[32];
        time_clf(ctx->request_time_ms, t);
        buf_puts(out, t);
        return true;
    }
    if (IS("requestTimeEpoch"))
        return put_i64(out, ctx->request_time_ms);
    if (IS("routeKey"))
        return ctx->route && put_str(out, ctx->route->key);
    if (IS("stage"))
        return ctx->stage && put_str(out, ctx->stage->name);
    if (IS("apiId"))
        return ctx->api && put_str(out, ctx->api->id);
    if (IS("messageDirection"))
        return put_str(out, "IN");
    if (IS("identity.sourceIp"))
        return put_str(out, ctx->source_ip);
    if (IS("identity.userAgent"))
        return put_str(out, ctx->user_agent);
    if (IS("identity.apiKey"))
        return put_str(out, ctx->api_key);
    if (PREFIX("authorizer."))
        return authorizer_var(ctx->authorizer, name + 11, n - 11, out);
    if (IS("status"))
        return ctx->status != 0 && put_i64(out, ctx->status);
    if (IS("integration.status") || IS("integration.integrationStatus") || IS("integrationStatus"))
        return ctx->integration_status != 0 && put_i64(out, ctx->integration_status);
    if (IS("integrationLatency") || IS("integration.latency"))
        return ctx->integration_latency_ms >= 0 && put_i64(out, ctx->integration_latency_ms);
    if (IS("error.message"))
        return put_str(out, ctx->error_message);
    if (IS("error.messageString")) {
        /* AWS: "the quoted value of $context.error.message". */
        if (!ctx->error_message)
            return false;
        buf_putc(out, '"');
        buf_puts(out, ctx->error_message);
        buf_putc(out, '"');
        return true;
    }
    if (IS("error.responseType"))
        return put_str(out, ctx->error_response_type);
    if (IS("disconnectStatusCode"))
        return ctx->kind == ROUTE_EV_DISCONNECT && put_i64(out, ctx->disconnect_status_code);
    if (IS("disconnectReason"))
        return ctx->kind == ROUTE_EV_DISCONNECT && put_str(out, ctx->disconnect_reason);
    /* IAM/Cognito identity fields, WAF, authenticate/authorize timings and the like: Portico
     * has none of them, so they do not apply. */
    return false;
#undef IS
#undef PREFIX
}
