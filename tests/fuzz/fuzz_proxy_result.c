/* fuzz_proxy_result.c: Lambda proxy results, integration outcomes, and events built from any bytes.
 */
/*
 * Input format: the whole input is an integration's response body (usually a Lambda proxy
 * result such as {"statusCode":200,"body":"hi"}); its length modulo 8 picks the HTTP status
 * of the backend response among 200, 201, 204, 301, 400, 404, 500, 502.
 *
 * For each input: route_proxy_result_parse (and header lookups on success); then
 * route_integ_outcome for every integration type (AWS_PROXY, HTTP_PROXY, HTTP with
 * integration responses) and every event kind (CONNECT, MESSAGE one-way and two-way,
 * DISCONNECT), with and without a function error, plus a transport failure; then the input
 * as a MESSAGE body and as a handshake header value in route_event_ws, whose output must parse
 * as JSON. Invariants: CONNECT outcomes carry a status in 100..599 and a body when rejecting;
 * text frames are valid UTF-8; failures on MESSAGE are the "Internal server error" frame;
 * DISCONNECT outcomes are empty; events are valid JSON for any bytes.
 */
#include "routes/route_internal.h"
#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const route_ctx_t *ctx, const route_outcome_t *o)
{
    if (ctx->kind == ROUTE_EV_DISCONNECT) {
        if (o->frame || o->body || o->subprotocol || o->content_type || o->status)
            abort();
        return;
    }
    if (ctx->kind == ROUTE_EV_CONNECT) {
        if (o->status < 100 || o->status > 599 || o->frame)
            abort();
        bool accept = o->status >= 200 && o->status < 300;
        if (!accept && !o->content_type && o->integration_error)
            abort();
        if (accept && o->body)
            abort();
        return;
    }
    if (o->body || o->subprotocol)
        abort();
    if (o->frame && !o->frame_binary && !route__utf8_valid(o->frame, o->frame_len))
        abort();
    if (o->integration_error && (!o->frame || strncmp(o->frame, "{\"message\": \"Internal", 21)))
        abort();
}

static void outcome(const route_integration_t *in, const route_ctx_t *ctx,
                    const route_integ_result_t *res)
{
    route_outcome_t o;
    route_integ_outcome(in, ctx, res, &o);
    check(ctx, &o);
    route_outcome_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    route_proxy_result_t pr;
    if (route_proxy_result_parse((const char *)data, size, &pr) == PT_OK) {
        if (pr.status_code != -1 && (pr.status_code < 100 || pr.status_code > 599))
            abort();
        route_proxy_result_header(&pr, "Sec-WebSocket-Protocol");
        route_proxy_result_header(&pr, "content-type");
        route_proxy_result_free(&pr);
    }

    route_api_t api;
    route_stage_t stage;
    route_route_t route;
    route_integration_t in;
    route_integ_response_t resp[3];
    route_kv_t t4[] = {{(char *)"$default", (char *)"{\"e\": \"$input.path('$.errorMessage')\"}"}};
    route_kv_t t2[] = {{(char *)"a", (char *)"A:$input.body"},
                       {(char *)"$default", (char *)"$input.json('$')"}};
    memset(&api, 0, sizeof api);
    api.id = (char *)"abcd123456";
    memset(&stage, 0, sizeof stage);
    stage.name = (char *)"prod";
    memset(&route, 0, sizeof route);
    route.key = (char *)"sendmessage";
    memset(resp, 0, sizeof resp);
    resp[0].key = (char *)"/4\\d\\d/";
    resp[0].response_templates.items = t4;
    resp[0].response_templates.n = 1;
    resp[1].key = (char *)"/2\\d\\d/";
    resp[1].template_selection_expression = (char *)"${integration.response.body.kind}";
    resp[1].response_templates.items = t2;
    resp[1].response_templates.n = 2;
    resp[2].key = (char *)"$default";
    resp[2].content_handling_strategy = (char *)"CONVERT_TO_BINARY";
    memset(&in, 0, sizeof in);
    in.uri = (char *)"http://127.0.0.1:9/x";
    in.responses = resp;
    in.nresponses = 3;

    http_header_t rh[] = {{"Content-Type", 12, "text/plain", 10},
                          {"Sec-WebSocket-Protocol", 22, "chat", 4}};
    route_integ_result_t res;
    memset(&res, 0, sizeof res);
    static const int statuses[] = {200, 201, 204, 301, 400, 404, 500, 502};
    res.status = statuses[size % 8];
    res.headers = rh;
    res.nheaders = 2;
    res.body = (const char *)data;
    res.body_len = size;

    route_ctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.api = &api;
    ctx.stage = &stage;
    ctx.route = &route;
    ctx.connection_id = "L0SM9cOFvHcCIhw=";
    ctx.request_id = "R1knPH17NjMFftw=";
    ctx.source_ip = "192.0.2.1";
    ctx.integration_latency_ms = -1;

    static const route_integ_type_t types[] = {ROUTE_INTEG_AWS_PROXY, ROUTE_INTEG_HTTP_PROXY,
                                               ROUTE_INTEG_HTTP};
    static const route_event_kind_t kinds[] = {ROUTE_EV_CONNECT, ROUTE_EV_MESSAGE, ROUTE_EV_MESSAGE,
                                               ROUTE_EV_DISCONNECT};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        in.type = types[t];
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            ctx.kind = kinds[k];
            route.two_way = k == 2;
            res.error = PT_OK;
            res.function_error = false;
            outcome(&in, &ctx, &res);
            res.function_error = true;
            outcome(&in, &ctx, &res);
            res.function_error = false;
            res.error = size & 1 ? PT_ETIMEOUT : PT_EIO;
            outcome(&in, &ctx, &res);
        }
    }

    /* Events: any bytes give valid JSON. */
    buf_t ev = BUF_INIT;
    ctx.kind = ROUTE_EV_MESSAGE;
    ctx.body = (const char *)data;
    ctx.body_len = size;
    ctx.user_agent = size > 3 ? "ua" : NULL;
    route_event_ws(&ctx, &ev);
    json_t *j = json_loadb(ev.p, ev.len, JSON_ALLOW_NUL, NULL);
    if (!j)
        abort();
    json_decref(j);
    buf_reset(&ev);
    http_header_t ch[] = {{"X-Fuzz", 6, (const char *)data, size},
                          {(const char *)data, size, "v", 1},
                          {"X-Forwarded-For", 15, (const char *)data, size}};
    ctx.kind = ROUTE_EV_CONNECT;
    ctx.headers = ch;
    ctx.nheaders = 3;
    ctx.query = (const char *)data;
    ctx.query_len = size;
    route_event_ws(&ctx, &ev);
    j = json_loadb(ev.p, ev.len, JSON_ALLOW_NUL, NULL);
    if (!j)
        abort();
    json_decref(j);
    buf_free(&ev);
    return 0;
}
