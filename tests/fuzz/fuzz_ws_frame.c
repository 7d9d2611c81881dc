/* fuzz_ws_frame.c: libFuzzer target for WebSocket frame parsing, unmasking and UTF-8 checks.
 * Input: a byte stream as a client would send it after the handshake. */
#include "common/err.h"
#include "common/ws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    size_t off = 0;
    ws_utf8_t u = {0};
    while (off < size) {
        ws_frame_t f;
        int rc = ws_parse_header(buf + off, size - off, &f);
        if (rc != PT_OK)
            break;
        if (f.header_len < 2 || f.header_len > 14)
            abort();
        if (f.payload_len > size - off - f.header_len)
            break;
        uint8_t *p = buf + off + f.header_len;
        size_t n = (size_t)f.payload_len;
        ws_unmask(p, n, f.mask, off & 3);
        (void)ws_utf8_feed(&u, p, n);
        (void)ws_utf8_valid(p, n);
        if (f.opcode == WS_OP_CLOSE && n >= 2)
            (void)ws_close_code_valid(p[0] << 8 | p[1]);
        uint8_t h[10];
        size_t hn = ws_write_header(h, f.opcode, f.fin, f.payload_len);
        ws_frame_t g;
        if (ws_parse_header(h, hn, &g) != PT_OK || g.payload_len != f.payload_len)
            abort();
        off += f.header_len + n;
    }
    (void)ws_utf8_complete(&u);
    free(buf);
    return 0;
}
