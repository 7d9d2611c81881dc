/* http.c: what a request on the main port is: an HTTP API route, an upgrade, @connections. */
#include "gateway/gw.h"
#include "common/err.h"
#include "common/mem.h"

#include <string.h>

#define CB_MAX_BODY 131072 /* @connections payload limit, as AWS (spec 7.1) */

static const char FORBIDDEN[] = "{\"message\":\"Forbidden\"}";

static void respond_json(gw_conn_t *c, int status, const char *error_type, const char *body)
{
    char extra[128];
    extra[0] = '\0';
    if (error_type)
        snprintf(extra, sizeof extra, "x-amzn-ErrorType: %s\r\n", error_type);
    gw_http_respond(c, status, "application/json", extra, body, strlen(body));
    gw_http_done(c);
}

/* "/@connections/{id}" (the '@' may arrive encoded) -> id bytes (still encoded). */
static bool match_connections(const char *rest, size_t n, const char **id, size_t *id_len)
{
    static const char a[] = "/@connections/", b[] = "/%40connections/";
    size_t k = 0;
    if (n > sizeof a - 1 && memcmp(rest, a, sizeof a - 1) == 0)
        k = sizeof a - 1;
    else if (n > sizeof b - 1 && strncasecmp(rest, b, sizeof b - 1) == 0)
        k = sizeof b - 1;
    else
        return false;
    if (memchr(rest + k, '/', n - k))
        return false;
    *id = rest + k;
    *id_len = n - k;
    return true;
}

static bool is_upgrade(const http_request_t *r)
{
    const http_header_t *up = http_find_header(r, "upgrade");
    return up && http_value_has_token(up->value, up->value_len, "websocket");
}

/*
 * The HTTP API a request names by Host ({apiId}.…) or by being the only API, even when its
 * first path segment is no stage; NULL when none. AWS routes such requests to the API's
 * $default stage, served at the root path, and answers 404 {"message":"Not Found"} when there
 * is none ("Routing API requests": "If no stage fully matches the request, API Gateway sends
 * the request to the $default stage").
 */
static const route_api_t *http_api_named(gw_conn_t *c)
{
    const route_config_t *cfg = c->w->srv->cfg;
    const http_header_t *host = http_find_header(c->req, "host");
    if (host) {
        const char *dot = memchr(host->value, '.', host->value_len);
        size_t label = dot ? (size_t)(dot - host->value) : 0;
        for (size_t i = 0; label && i < cfg->napis; i++)
            if (strlen(cfg->apis[i].id) == label &&
                memcmp(cfg->apis[i].id, host->value, label) == 0)
                return cfg->apis[i].protocol == ROUTE_PROTO_HTTP ? &cfg->apis[i] : NULL;
    }
    if (cfg->napis == 1 && cfg->apis[0].protocol == ROUTE_PROTO_HTTP)
        return &cfg->apis[0];
    return NULL;
}

static int resolve(gw_conn_t *c, route_target_t *t)
{
    const http_header_t *host = http_find_header(c->req, "host");
    int rc = route_resolve(c->w->srv->cfg, host ? host->value : NULL, host ? host->value_len : 0,
                           c->req->path, c->req->path_len, t);
    if (rc == PT_OK)
        return rc;
    const route_api_t *api = http_api_named(c);
    const route_stage_t *st = api ? route_stage_find(api, "$default", 8) : NULL;
    if (!st)
        return rc;
    memset(t, 0, sizeof *t);
    t->api = api;
    t->stage = st;
    t->rest = c->req->path;
    t->rest_len = c->req->path_len;
    return PT_OK;
}

/* A WebSocket API's @connections URL. */
static bool is_connections(const route_target_t *t, const char **id, size_t *idl)
{
    return t->api->protocol == ROUTE_PROTO_WEBSOCKET &&
           match_connections(t->rest, t->rest_len, id, idl);
}

uint64_t gw_http_body_limit(gw_conn_t *c)
{
    route_target_t t;
    const char *id;
    size_t idl;
    if (resolve(c, &t) == PT_OK && is_connections(&t, &id, &idl))
        return CB_MAX_BODY;
    return c->w->srv->limits->max_request_body_bytes;
}

void gw_http_too_large(gw_conn_t *c)
{
    c->keep_alive = false;
    c->want_close = true;
    route_target_t t;
    const char *id;
    size_t idl;
    int rc = resolve(c, &t);
    if (rc == PT_OK && is_connections(&t, &id, &idl))
        respond_json(c, 413, "PayloadTooLargeException",
                     "{\"message\":\"Request entity too large\"}");
    else if ((rc == PT_OK && t.api->protocol == ROUTE_PROTO_HTTP) || http_api_named(c))
        gw_rest_refuse(c, 413); /* HTTP APIs: AWS's body and request ids (docs/rest.md) */
    else
        respond_json(c, 413, NULL, "{\"message\":\"Request Entity Too Large\"}");
}

static void handle_upgrade(gw_conn_t *c, const route_target_t *t)
{
    gw_worker_t *w = c->w;
    const http_request_t *r = c->req;
    const route_limits_t *lim = w->srv->limits;
    if (!http_ieq(r->method, r->method_len, "GET")) {
        respond_json(c, 400, NULL, "{\"message\":\"Bad Request\"}");
        return;
    }
    const http_header_t *conn = http_find_header(r, "connection");
    const http_header_t *key = http_find_header(r, "sec-websocket-key");
    const http_header_t *ver = http_find_header(r, "sec-websocket-version");
    if (!conn || !http_value_has_token(conn->value, conn->value_len, "upgrade") || !key ||
        key->value_len != 24) {
        c->keep_alive = false;
        respond_json(c, 400, NULL, "{\"message\":\"Bad Request\"}");
        return;
    }
    if (!ver || !http_ieq(ver->value, ver->value_len, "13")) {
        c->keep_alive = false;
        gw_http_respond(c, 426, "application/json", "Sec-WebSocket-Version: 13\r\n",
                        "{\"message\":\"Upgrade Required\"}", 30);
        gw_http_done(c);
        return;
    }
    if (w->stopping || atomic_load(&w->srv->stopping)) {
        c->keep_alive = false;
        respond_json(c, 503, NULL, "{\"message\":\"Service Unavailable\"}");
        return;
    }
    /* Open connections of every worker plus this worker's pending upgrades (the table holds
     * both: counting it whole would count this worker's open ones twice). */
    if (lim->max_connections &&
        atomic_load(&w->srv->ws_total) + w->table.count - w->stats.ws_open >=
            lim->max_connections) {
        c->keep_alive = false;
        respond_json(c, 503, NULL, "{\"message\":\"Service Unavailable\"}");
        return;
    }
    if (lim->max_pending_upgrades &&
        w->table.count - w->stats.ws_open >= lim->max_pending_upgrades) {
        c->keep_alive = false;
        respond_json(c, 503, NULL, "{\"message\":\"Service Unavailable\"}");
        return;
    }
    c->keep_alive = false; /* the connection becomes a WebSocket or closes */
    gw_upgrade(c, r, t->api, t->stage);
}

void gw_http_request(gw_conn_t *c)
{
    const http_request_t *r = c->req;
    route_target_t t;
    if (resolve(c, &t) != PT_OK) {
        if (http_api_named(c))
            gw_rest_refuse(c, 404); /* an HTTP API without that stage or a $default one */
        else
            respond_json(c, 403, "ForbiddenException", FORBIDDEN);
        return;
    }
    if (t.api->protocol == ROUTE_PROTO_HTTP) {
        /* Routes of an HTTP API, whatever the request; an upgrade is an ordinary request there
         * (HTTP APIs do not speak WebSocket), its Upgrade header dropped as hop-by-hop. */
        gw_rest_request(c, &t);
        return;
    }
    if (is_upgrade(r)) {
        /* The WebSocket endpoint is the stage itself: wss://host/{stage} (query allowed). */
        if (t.rest_len > 1 || (t.rest_len == 1 && t.rest[0] != '/') ||
            t.api->protocol != ROUTE_PROTO_WEBSOCKET) {
            respond_json(c, 403, "ForbiddenException", FORBIDDEN);
            return;
        }
        handle_upgrade(c, &t);
        return;
    }
    const char *id;
    size_t id_len;
    if (match_connections(t.rest, t.rest_len, &id, &id_len)) {
        gw_cb_request(c, t.api, t.stage, id, id_len);
        return;
    }
    if (t.api->protocol == ROUTE_PROTO_WEBSOCKET && (t.rest_len == 0 || (t.rest_len == 1))) {
        /* A plain HTTP request to the WebSocket URL (spec 2.6 / 15.9). */
        gw_http_respond(c, 426, "application/json", "Upgrade: websocket\r\n",
                        "{\"message\":\"Upgrade Required\"}", 30);
        gw_http_done(c);
        return;
    }
    respond_json(c, 403, "ForbiddenException", FORBIDDEN);
}
