/* fuzz_http_result.c: HTTP API results, outcomes, events, proxy requests and CORS, any bytes. */
/*
 * Input format: the whole input is a Lambda (or backend) response body; it is also used as the
 * request's path, query, body, a header value, a header name and the Origin, so one input
 * exercises every builder. Its length modulo 8 picks the backend status.
 *
 * Invariants: route_http_result_parse_v2 gives a status in 100..599 and, when it succeeds on
 * a structured result, string-only headers and cookies; every outcome has a status in
 * 100..599 and header lines without CR, LF or NUL and with token names; gateway errors carry
 * a {"message":...} JSON body; 1.0 and 2.0 events are valid JSON for any bytes; an HTTP_PROXY
 * request URL has no CR, LF, space or NUL and starts with the integration's URL; CORS leaves
 * at most one Access-Control-Allow-Origin.
 */
#include "routes/route_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_response(const route_http_response_t *r)
{
    if (r->status < 100 || r->status > 599)
        abort();
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *k = r->headers[i].key, *v = r->headers[i].val;
        if (!*k)
            abort();
        for (; *k; k++)
            if (!is_token_char((unsigned char)*k))
                abort();
        for (; *v; v++)
            if (*v == '\r' || *v == '\n')
                abort();
    }
    if (r->gateway) {
        json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
        if (!j || !json_is_string(json_object_get(j, "message")))
            abort();
        json_decref(j);
    }
}

static void check_json(const buf_t *b)
{
    json_t *j = json_loadb(b->p, b->len, JSON_ALLOW_NUL, NULL);
    if (!j || !json_is_object(j))
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    route_http_result_t hr;

    if (route_http_result_parse_v2(in, size, &hr) == PT_OK) {
        if (hr.status_code < 100 || hr.status_code > 599)
            abort();
        if (hr.inferred && (hr.headers || hr.cookies || !hr.body))
            abort();
        for (size_t i = 0; hr.cookies && i < json_array_size(hr.cookies); i++)
            if (!json_is_string(json_array_get(hr.cookies, i)))
                abort();
        route_http_result_free(&hr);
    }

    /* A model: one API, one stage with a variable, routes with variables. */
    route_api_t api;
    route_stage_t stage;
    route_route_t rs[2];
    route_integration_t integ;
    route_kv_t vars[] = {{(char *)"svc", (char *)"users"}};
    memset(&api, 0, sizeof api);
    memset(&stage, 0, sizeof stage);
    memset(rs, 0, sizeof rs);
    memset(&integ, 0, sizeof integ);
    api.id = (char *)"fuzzapi001";
    api.protocol = ROUTE_PROTO_HTTP;
    api.routes = rs;
    api.nroutes = 2;
    stage.name = (char *)"prod";
    stage.variables.items = vars;
    stage.variables.n = 1;
    rs[0].key = (char *)"ANY /{a}/{proxy+}";
    rs[1].key = (char *)"$default";
    route__api_index(&api);
    if (route__http_compile(&api, NULL) != PT_OK)
        abort();

    route_http_match_t m;
    route_http_match(&api, "POST", 4, in, size, &m);
    http_header_t h[] = {
        {"Content-Type", 12, size & 2 ? "application/json" : "image/png", size & 2 ? 16 : 9},
        {"X-Fuzz", 6, in, size},
        {in, size, "v", 1},
        {"Cookie", 6, in, size},
        {"X-Forwarded-For", 15, in, size},
        {"Connection", 10, in, size}};
    route_http_ctx_t c;
    memset(&c, 0, sizeof c);
    c.api = &api;
    c.stage = &stage;
    c.match = &m;
    c.request_id = "R1knPH17NjMFftw=";
    c.domain_name = size & 4 ? "[::1]" : "abc.example.com";
    c.account_id = "000000000000";
    c.source_ip = "192.0.2.1";
    c.trace_id = "Root=1-00000000-000000000000000000000000";
    c.method = "POST";
    c.method_len = 4;
    c.path = c.rel_path = c.raw_path = in;
    c.path_len = c.rel_path_len = c.raw_path_len = size;
    c.query = size & 1 ? in : NULL;
    c.query_len = size & 1 ? size : 0;
    c.headers = h;
    c.nheaders = PT_ARRAY_LEN(h);
    c.body = in;
    c.body_len = size;
    c.minor_version = (int)(size & 1);

    buf_t ev = BUF_INIT;
    route_http_event(&c, true, &ev);
    check_json(&ev);
    buf_reset(&ev);
    route_http_event(&c, false, &ev);
    check_json(&ev);
    buf_free(&ev);

    /* The HTTP_PROXY request. */
    route_http_req_t req;
    integ.type = ROUTE_INTEG_HTTP_PROXY;
    integ.uri = (char *)"http://backend:8080/${stageVariables.svc}/{a}/x/{proxy}?k=v";
    integ.method = (char *)"ANY";
    if (route_http_integ_request(&integ, &c, &req, NULL) == PT_OK) {
        if (strncmp(req.url, "http://backend:8080/users/", 26) != 0)
            abort();
        for (const char *u = req.url; *u; u++)
            if (*u == '\r' || *u == '\n' || *u == ' ')
                abort();
        route_http_req_free(&req);
    }
    integ.type = ROUTE_INTEG_AWS_PROXY;
    integ.payload_format_version = (char *)(size & 1 ? "2.0" : "1.0");
    if (route_http_integ_request(&integ, &c, &req, NULL) == PT_OK) {
        json_t *j = json_loadb(req.body, req.body_len, JSON_ALLOW_NUL, NULL);
        if (!j)
            abort();
        json_decref(j);
        route_http_req_free(&req);
    }

    /* Outcomes of every kind, with the input as the backend's body. */
    static const int statuses[] = {200, 201, 204, 301, 400, 404, 500, 502};
    http_header_t rh[] = {{"Content-Type", 12, "text/plain", 10},
                          {"Set-Cookie", 10, in, size},
                          {in, size, "x", 1},
                          {"Content-Length", 14, in, size}};
    route_integ_result_t res;
    memset(&res, 0, sizeof res);
    res.status = statuses[size % 8];
    res.headers = rh;
    res.nheaders = PT_ARRAY_LEN(rh);
    res.body = in;
    res.body_len = size;
    char *origins[] = {(char *)"https://*", (char *)"http://a.example"};
    char *exp[] = {(char *)"x-id"};
    route_cors_t cors = {.allow_origins = origins,
                         .nallow_origins = 2,
                         .expose_headers = exp,
                         .nexpose_headers = 1,
                         .allow_credentials = size & 1};
    static const route_integ_type_t types[] = {ROUTE_INTEG_AWS_PROXY, ROUTE_INTEG_AWS_PROXY,
                                               ROUTE_INTEG_HTTP_PROXY};
    for (size_t t = 0; t < PT_ARRAY_LEN(types); t++) {
        integ.type = types[t];
        integ.payload_format_version = (char *)(t == 1 ? "2.0" : "1.0");
        for (int e = 0; e < 3; e++) {
            route_http_response_t out;
            res.error = e == 2 ? PT_ETIMEOUT : PT_OK;
            res.function_error = e == 1;
            route_http_outcome(&integ, &c, &res, &out);
            check_response(&out);
            route_cors_apply(&cors, in, size, &out);
            size_t acao = 0;
            for (size_t i = 0; i < out.nheaders; i++)
                acao += strcasecmp(out.headers[i].key, "access-control-allow-origin") == 0;
            if (acao > 1)
                abort();
            check_response(&out);
            route_http_response_free(&out);
        }
    }
    route_http_response_t pf;
    memset(&pf, 0, sizeof pf);
    route_cors_preflight(&cors, in, size, in, size, in, size, &pf);
    check_response(&pf);
    route_http_response_free(&pf);

    route__http_free(&api);
    route__api_index_free(&api);
    return 0;
}
