/* routes_test.h: hand-built API models and contexts for the routes/ unit tests (no config file). */
#ifndef PORTICO_TESTS_ROUTES_TEST_H
#define PORTICO_TESTS_ROUTES_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/mem.h"
#include "routes/route_internal.h"

/*
 * A test API: everything lives in this struct (strings are literals), except the maps' item
 * arrays and compiled expressions, which tapi_free releases. Build it with tapi_init, add
 * integrations, routes and map entries, then call tapi_index.
 */
typedef struct tapi {
    route_api_t api;
    route_route_t routes[32];
    route_integration_t integ[8];
    route_integ_response_t resp[8][4];
    route_stage_t stage;
} tapi_t;

static inline void tapi_init(tapi_t *t, const char *rse)
{
    memset(t, 0, sizeof *t);
    t->api.id = (char *)"abcd123456";
    t->api.name = (char *)"test";
    t->api.protocol = ROUTE_PROTO_WEBSOCKET;
    t->api.routes = t->routes;
    t->api.integrations = t->integ;
    t->api.stages = &t->stage;
    t->api.nstages = 1;
    t->stage.name = (char *)"prod";
    if (rse) {
        t->api.route_selection_expression = (char *)rse;
        assert_int_equal(route_expr_compile(rse, &t->api.rse, NULL), PT_OK);
    }
}

static inline route_integration_t *tapi_integ(tapi_t *t, route_integ_type_t type, const char *uri)
{
    route_integration_t *in = &t->integ[t->api.nintegrations];
    in->id = (char *)"0abcdef";
    in->type = type;
    in->uri = (char *)uri;
    in->timeout_ms = 29000;
    in->responses = t->resp[t->api.nintegrations];
    t->api.nintegrations++;
    return in;
}

static inline route_integ_response_t *tapi_response(tapi_t *t, route_integration_t *in,
                                                    const char *key)
{
    (void)t;
    route_integ_response_t *r = &in->responses[in->nresponses++];
    r->key = (char *)key;
    return r;
}

static inline route_route_t *tapi_route(tapi_t *t, const char *key, route_integration_t *in)
{
    route_route_t *r = &t->routes[t->api.nroutes++];
    r->id = (char *)"1122334";
    r->key = (char *)key;
    r->integration = in;
    return r;
}

static inline void tmap_add(route_map_t *m, const char *k, const char *v)
{
    m->items = pt_xrealloc(m->items, (m->n + 1) * sizeof *m->items);
    m->items[m->n].key = (char *)k;
    m->items[m->n].val = (char *)v;
    m->n++;
}

static inline void tapi_index(tapi_t *t)
{
    route__api_index(&t->api);
}

static inline void tapi_free(tapi_t *t)
{
    route__api_index_free(&t->api);
    route_expr_free(t->api.rse);
    for (size_t i = 0; i < t->api.nroutes; i++)
        free(t->routes[i].request_parameters.items);
    for (size_t i = 0; i < t->api.nintegrations; i++) {
        route_integration_t *in = &t->integ[i];
        free(in->request_parameters.items);
        free(in->request_templates.items);
        route_expr_free(in->tse);
        for (size_t k = 0; k < in->nresponses; k++) {
            free(in->responses[k].response_templates.items);
            free(in->responses[k].response_parameters.items);
            route_expr_free(in->responses[k].tse);
        }
    }
    free(t->stage.variables.items);
    memset(t, 0, sizeof *t);
}

/* Fixed identities, as in the AWS captures of spec 6. */
#define T_CONN_ID      "L0SM9cOFvHcCIhw="
#define T_REQ_ID       "R1knPH17NjMFftw="
#define T_MSG_ID       "R1knPc2ntjMCFIA="
#define T_DOMAIN       "abcd123456.execute-api.us-east-1.amazonaws.com"
#define T_CONNECTED_AT 1705751697419LL
#define T_REQUEST_TIME 1705751700453LL /* 20/Jan/2024:11:55:00 +0000 */
#define T_SOURCE_IP    "192.0.2.1"
#define T_TRACE        "Root=1-65abb4f4-0123456789abcdef01234567"

static inline void tctx_init(route_ctx_t *c, tapi_t *t, const route_route_t *r,
                             route_event_kind_t kind)
{
    memset(c, 0, sizeof *c);
    c->api = &t->api;
    c->stage = &t->stage;
    c->route = r;
    c->kind = kind;
    c->connection_id = T_CONN_ID;
    c->request_id = T_REQ_ID;
    c->message_id = kind == ROUTE_EV_MESSAGE ? T_MSG_ID : NULL;
    c->domain_name = T_DOMAIN;
    c->region = "us-east-1";
    c->account_id = "000000000000";
    c->connected_at_ms = T_CONNECTED_AT;
    c->request_time_ms = T_REQUEST_TIME;
    c->source_ip = T_SOURCE_IP;
    c->server_port = 443;
    c->tls = true;
    c->integration_latency_ms = -1;
}

static inline http_header_t thdr(const char *name, const char *value)
{
    http_header_t h = {name, strlen(name), value, strlen(value)};
    return h;
}

static inline void tctx_body(route_ctx_t *c, const char *body)
{
    c->body = body;
    c->body_len = strlen(body);
}

/* Asserts that text is valid JSON (any value) and returns its parse (caller decrefs). */
static inline json_t *tjson(const char *text, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("not JSON (%s): %.*s", e.text, (int)len, text);
    return j;
}

/* The keys of an object, in order, joined with ','. */
static inline void tkeys(const json_t *o, buf_t *out)
{
    const char *k;
    json_t *v;
    buf_reset(out);
    json_object_foreach((json_t *)o, k, v)
    {
        if (out->len)
            buf_putc(out, ',');
        buf_puts(out, k);
    }
    if (!out->p)
        buf_puts(out, "");
}

#endif
