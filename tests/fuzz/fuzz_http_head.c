/* fuzz_http_head.c: libFuzzer target for the front stage's request-head parser and helpers.
 * Input: raw bytes as a client would send them (one or more pipelined heads). */
#include "common/err.h"
#include "common/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_within(const char *p, size_t n, const char *buf, size_t len)
{
    if (p && (p < buf || p + n > buf + len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t off = 0;
    static http_request_t req;
    while (off < size) {
        int rc = http_parse_request(buf + off, size - off, &req);
        if (rc != PT_OK)
            break;
        if (req.head_len == 0 || req.head_len > size - off)
            abort();
        check_within(req.method, req.method_len, buf + off, req.head_len);
        check_within(req.target, req.target_len, buf + off, req.head_len);
        check_within(req.query, req.query_len, buf + off, req.head_len);
        for (size_t i = 0; i < req.nheaders; i++) {
            check_within(req.headers[i].name, req.headers[i].name_len, buf + off, req.head_len);
            check_within(req.headers[i].value, req.headers[i].value_len, buf + off, req.head_len);
            (void)http_value_has_token(req.headers[i].value, req.headers[i].value_len, "upgrade");
        }
        (void)http_find_header(&req, "content-length");
        char *dec = malloc(req.target_len + 1);
        (void)http_pct_decode(req.target, req.target_len, dec, true);
        free(dec);
        if (req.query) {
            size_t pos = 0, kl, vl;
            const char *k, *v;
            while (http_query_next(req.query, req.query_len, &pos, &k, &kl, &v, &vl))
                check_within(k, kl, req.query, req.query_len);
        }
        off += req.head_len;
    }
    return 0;
}
