/* fuzz_template.c: mapping templates (the VTL subset) on any template and any input. */
/*
 * Input format: the bytes before the first NUL byte are a mapping template; the bytes after it
 * are the input ($input: a message body or a backend response, JSON or not). Without a NUL
 * byte the whole input is the template and $input is empty.
 *
 * For each input the template is rendered three times: for a MESSAGE with $input = the body
 * (parsed lazily by the engine), for a MESSAGE with a JSON parse handed in, and for a CONNECT
 * (headers, query string, authorizer, stage variables, empty $input). It is also used as a
 * request template picked by a template selection expression, and as text for stage-variable
 * substitution. Invariants: the result is PT_OK, PT_EPARSE or PT_ETOOBIG; output stays under
 * 1 MiB; a failure leaves the output buffer untouched; no crash, leak, stack exhaustion,
 * timeout or undefined behaviour.
 */
#include "routes/route_internal.h"
#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render(const char *tmpl, const route_ctx_t *ctx, const char *in, size_t inlen,
                   const json_t *j)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    buf_puts(&out, "prefix");
    int rc = route_template_render(tmpl, ctx, in, inlen, j, &out, &err);
    if (rc != PT_OK && rc != PT_EPARSE && rc != PT_ETOOBIG)
        abort();
    if (rc != PT_OK && (out.len != 6 || memcmp(out.p, "prefix", 6) != 0))
        abort();
    if (rc == PT_OK && out.len > 6 + (1u << 20))
        abort();
    if (rc != PT_OK && !err.len)
        abort(); /* every failure says why */
    buf_free(&out);
    buf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    const char *in = nul ? (const char *)nul + 1 : "";
    size_t inlen = nul ? size - tlen - 1 : 0;
    char *tmpl = malloc(tlen + 1);
    memcpy(tmpl, data, tlen);
    tmpl[tlen] = '\0';

    route_kv_t vars[] = {{(char *)"url", (char *)"example.com"}, {(char *)"fn", (char *)"chat"}};
    route_stage_t stage;
    route_api_t api;
    route_route_t route;
    route_ctx_t ctx;
    http_header_t hdrs[] = {{"Host", 4, "h.example", 9},
                            {"Connection", 10, "Upgrade", 7},
                            {"Cookie", 6, "a=1", 3},
                            {"cookie", 6, "b=2", 3}};
    json_t *az =
        json_loads("{\"principalId\":\"user\",\"n\":1,\"claims\":{\"sub\":\"x\"}}", 0, NULL);

    memset(&stage, 0, sizeof stage);
    stage.name = (char *)"prod";
    stage.variables.items = vars;
    stage.variables.n = 2;
    memset(&api, 0, sizeof api);
    api.id = (char *)"abcd123456";
    memset(&route, 0, sizeof route);
    route.key = (char *)"sendmessage";
    memset(&ctx, 0, sizeof ctx);
    ctx.api = &api;
    ctx.stage = &stage;
    ctx.route = &route;
    ctx.kind = ROUTE_EV_MESSAGE;
    ctx.connection_id = "L0SM9cOFvHcCIhw=";
    ctx.request_id = "R1knPH17NjMFftw=";
    ctx.message_id = "R1knPc2ntjMCFIA=";
    ctx.domain_name = "abcd123456.execute-api.us-east-1.amazonaws.com";
    ctx.connected_at_ms = 1705751697419LL;
    ctx.request_time_ms = 1705751700453LL;
    ctx.source_ip = "192.0.2.1";
    ctx.body = in;
    ctx.body_len = inlen;
    ctx.integration_latency_ms = -1;
    ctx.authorizer = az;

    render(tmpl, &ctx, in, inlen, NULL);
    json_t *j = json_loadb(in, inlen, JSON_DECODE_ANY, NULL);
    if (j) {
        render(tmpl, &ctx, in, inlen, j);
        json_decref(j);
    }

    route_ctx_t cc = ctx;
    cc.kind = ROUTE_EV_CONNECT;
    cc.body = NULL;
    cc.body_len = 0;
    cc.headers = hdrs;
    cc.nheaders = 4;
    cc.query = "token=a%2Bb&x=1&x=2";
    cc.query_len = 19;
    cc.trace_id = "Root=1-0-0";
    render(tmpl, &cc, NULL, 0, NULL);

    /* As a request template chosen by a selection expression. */
    route_integration_t integ;
    route_kv_t tk[] = {{(char *)"$default", tmpl}};
    memset(&integ, 0, sizeof integ);
    integ.type = ROUTE_INTEG_HTTP;
    integ.request_templates.items = tk;
    integ.request_templates.n = 1;
    integ.template_selection_expression = (char *)"${request.body.v}";
    if (route_request_template(&integ, &ctx) != tmpl)
        abort();

    buf_t s = BUF_INIT;
    route_subst_stage_vars(tmpl, &stage, &s);
    buf_free(&s);

    json_decref(az);
    free(tmpl);
    return 0;
}
