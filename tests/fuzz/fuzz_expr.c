/* fuzz_expr.c: selection expressions (compile, evaluate) and WebSocket route selection. */
/*
 * Input format: the bytes before the first '\n' are a selection expression (e.g.
 * "$request.body.action" or "${request.body.a}/x\$y"); everything after it is a message body
 * (any bytes; JSON or not). Without a '\n' the whole input is the expression and the body is
 * empty.
 *
 * For each input: the expression is compiled (a NUL inside makes it shorter, as a C string);
 * when it compiles it is evaluated against the body's JSON parse (or NULL) with
 * route_expr_eval and with route__expr_eval_env (a CONNECT context with headers, query and
 * stage variables), then used as the routeSelectionExpression of a small API; the body is
 * also routed on a fixed API ($request.body.action; $connect, $disconnect, $default,
 * sendmessage, join). Invariants: a message never selects $connect or $disconnect; a selected
 * custom route's key equals the evaluated expression; no crash, leak or undefined behaviour.
 */
#include "routes/route_internal.h"
#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static route_api_t *make_api(const char *rse_text, route_expr_t *rse, route_route_t *routes,
                             size_t n, route_api_t *api)
{
    static const char *keys[] = {"$connect", "$disconnect", "$default",  "sendmessage", "join",
                                 "",         "[a, b]",      "{\"k\":1}", "1",           "true",
                                 "chat/join"};
    memset(api, 0, sizeof *api);
    memset(routes, 0, n * sizeof *routes);
    for (size_t i = 0; i < n && i < sizeof keys / sizeof keys[0]; i++) {
        routes[i].key = (char *)keys[i];
        api->nroutes++;
    }
    api->id = (char *)"abcd123456";
    api->routes = routes;
    api->route_selection_expression = (char *)rse_text;
    api->rse = rse;
    route__api_index(api);
    return api;
}

static void check_select(const route_api_t *api, const uint8_t *body, size_t blen)
{
    json_t *j = NULL;
    const route_route_t *r = route_ws_select(api, (const char *)body, blen, &j);
    if (r && (r == api->r_connect || r == api->r_disconnect))
        abort();
    if (r && r != api->r_default && api->rse) {
        buf_t key = BUF_INIT;
        route_expr_eval(api->rse, j, &key);
        if (strlen(r->key) != key.len || memcmp(r->key, key.p ? key.p : "", key.len) != 0)
            abort();
        buf_free(&key);
    }
    if (j)
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t elen = nl ? (size_t)(nl - data) : size;
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t blen = nl ? size - elen - 1 : 0;
    char *expr = malloc(elen + 1);
    route_route_t routes[16];
    route_api_t api;
    route_expr_t *e = NULL;
    buf_t err = BUF_INIT, out = BUF_INIT;

    memcpy(expr, data, elen);
    expr[elen] = '\0';

    /* The fixed API routes every body. */
    route_expr_t *action = NULL;
    route_expr_compile("$request.body.action", &action, NULL);
    make_api("$request.body.action", action, routes, 5, &api);
    check_select(&api, body, blen);
    route__api_index_free(&api);
    route_expr_free(action);

    if (route_expr_compile(expr, &e, &err) == PT_OK) {
        json_t *j = json_loadb((const char *)body, blen, JSON_DECODE_ANY, NULL);
        route_expr_eval(e, j, &out);

        route_stage_t stage;
        route_kv_t vars[] = {{(char *)"env", (char *)"beta"}, {(char *)"url", (char *)"x.y"}};
        http_header_t hdrs[] = {{"Host", 4, "h", 1}, {"X-Ver", 5, "2", 1}};
        route_ctx_t ctx;
        route_expr_env_t env;
        memset(&stage, 0, sizeof stage);
        stage.name = (char *)"prod";
        stage.variables.items = vars;
        stage.variables.n = 2;
        memset(&ctx, 0, sizeof ctx);
        ctx.kind = ROUTE_EV_CONNECT;
        ctx.stage = &stage;
        ctx.connection_id = "L0SM9cOFvHcCIhw=";
        ctx.headers = hdrs;
        ctx.nheaders = 2;
        ctx.query = "a=1&b=%20&a=2";
        ctx.query_len = 13;
        ctx.integration_latency_ms = -1;
        memset(&env, 0, sizeof env);
        env.ctx = &ctx;
        env.body = j;
        env.integ_status = 200;
        env.integ_headers = hdrs;
        env.integ_nheaders = 2;
        env.integ_body = j;
        buf_reset(&out);
        route__expr_eval_env(e, &env, &out);

        route_route_t routes2[16];
        route_api_t api2;
        make_api(expr, e, routes2, 11, &api2);
        check_select(&api2, body, blen);
        route__api_index_free(&api2);
        if (j)
            json_decref(j);
        route_expr_free(e);
    } else if (e) {
        abort(); /* a failed compile leaves *out NULL */
    }
    buf_free(&err);
    buf_free(&out);
    free(expr);
    return 0;
}
