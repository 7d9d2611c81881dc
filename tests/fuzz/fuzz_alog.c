/* fuzz_alog.c: access-log formats: compile any bytes, render against a full context. */
/*
 * Input format: the bytes before the first '\n' are a value given to every context string
 * (user agent, error message, disconnect reason); the rest is the format. Without a '\n' the
 * whole input is the format. Invariants: a format either compiles or is refused with a
 * reason; a compiled format renders exactly one line (one '\n', at the end) whatever the
 * values contain; an accessLogSettings.destinationArn check never crashes on the same bytes.
 */
#include "routes/route.h"
#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t vlen = nl ? (size_t)(nl - data) : 0;
    const char *fmt = nl ? (const char *)nl + 1 : (const char *)data;
    size_t flen = nl ? size - vlen - 1 : size;
    char *value = malloc(vlen + 1);
    memcpy(value, data, vlen);
    value[vlen] = '\0';

    route_alog_t *f = NULL;
    buf_t err = BUF_INIT, out = BUF_INIT, scratch = BUF_INIT;
    int rc = route_alog_compile(fmt, flen, &f, &err);
    if (rc != PT_OK && (f || !err.p))
        abort();
    if (rc == PT_OK) {
        route_route_t route = {.key = value};
        route_stage_t stage = {.name = value};
        route_api_t api = {.id = value};
        route_ctx_t ctx = {
            .api = &api,
            .stage = &stage,
            .route = &route,
            .kind = (route_event_kind_t)(1 + vlen % 3),
            .connection_id = value,
            .request_id = value,
            .message_id = value,
            .domain_name = value,
            .source_ip = value,
            .user_agent = value,
            .connected_at_ms = 1705751697419LL,
            .request_time_ms = 1705751700453LL,
            .status = 200,
            .integration_latency_ms = (int64_t)vlen,
            .error_message = value,
            .disconnect_reason = value,
            .disconnect_status_code = 1000,
        };
        route_alog_render(f, &ctx, NULL, NULL, &out, &scratch);
        if (out.len == 0 || out.p[out.len - 1] != '\n' || memchr(out.p, '\n', out.len - 1))
            abort();
        route_alog_free(f);
    }
    char *dest = malloc(flen + 1);
    memcpy(dest, fmt, flen);
    dest[flen] = '\0';
    route_alog_dest_kind_t kind;
    buf_reset(&err);
    route_alog_dest(dest, &kind, &out, &err);
    free(dest);
    buf_free(&err);
    buf_free(&out);
    buf_free(&scratch);
    free(value);
    return 0;
}
