/* ws.c: WebSocket (RFC 6455) frame codec, handshake key and UTF-8 check. */
#include "common/ws.h"
#include "common/b64.h"
#include "common/err.h"
#include "common/hash.h"

#include <string.h>

int ws_parse_header(const uint8_t *p, size_t len, ws_frame_t *f)
{
    if (len < 2)
        return PT_EAGAIN;
    f->fin = (p[0] & 0x80) != 0;
    if (p[0] & 0x70)
        return PT_EPARSE; /* RSV bits: no extension is ever negotiated */
    f->opcode = p[0] & 0x0f;
    switch (f->opcode) {
    case WS_OP_CONT:
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        break;
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!f->fin)
            return PT_EPARSE;
        break;
    default:
        return PT_EPARSE;
    }
    f->masked = (p[1] & 0x80) != 0;
    uint64_t n = p[1] & 0x7f;
    size_t h = 2;
    if (n == 126) {
        if (len < 4)
            return PT_EAGAIN;
        n = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (n == 127) {
        if (len < 10)
            return PT_EAGAIN;
        if (p[2] & 0x80)
            return PT_EPARSE;
        n = 0;
        for (int i = 2; i < 10; i++)
            n = n << 8 | p[i];
        h = 10;
    }
    if (f->opcode >= WS_OP_CLOSE && n > 125)
        return PT_EPARSE;
    if (f->masked) {
        if (len < h + 4)
            return PT_EAGAIN;
        memcpy(f->mask, p + h, 4);
        h += 4;
    } else {
        memset(f->mask, 0, 4);
    }
    f->payload_len = n;
    f->header_len = h;
    return PT_OK;
}

void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset)
{
    size_t i = 0;
    unsigned o = (unsigned)(offset & 3);
    /* Align to the mask, then XOR 8 bytes at a time. */
    while (i < n && o != 0) {
        p[i++] ^= mask[o];
        o = (o + 1) & 3;
    }
    uint64_t m8;
    uint8_t mb[8] = {mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]};
    memcpy(&m8, mb, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        v ^= m8;
        memcpy(p + i, &v, 8);
    }
    for (unsigned k = 0; i < n; i++, k++)
        p[i] ^= mask[k & 3];
}

size_t ws_write_header(uint8_t out[10], uint8_t opcode, bool fin, uint64_t len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

void ws_accept_key(const char *key, size_t len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char tmp[256 + sizeof guid];
    if (len > 256)
        len = 256;
    memcpy(tmp, key, len);
    memcpy(tmp + len, guid, sizeof guid - 1);
    uint8_t sha[20];
    hash_sha1(tmp, len + sizeof guid - 1, sha);
    b64_encode(sha, sizeof sha, out, false);
}

bool ws_close_code_valid(int code)
{
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1011)
        return true;
    return code >= 3000 && code <= 4999;
}

/*
 * UTF-8 validation as a small state machine over RFC 3629's table: rejects overlongs,
 * surrogates and code points above U+10FFFF. state: 0 = at a boundary; otherwise the low byte
 * holds the continuation bytes still expected and bits 8-15 the allowed range of the next byte.
 */
enum { RANGE_80_BF = 0, RANGE_A0_BF, RANGE_80_9F, RANGE_90_BF, RANGE_80_8F };

static bool next_ok(unsigned range, uint8_t c)
{
    switch (range) {
    case RANGE_A0_BF:
        return c >= 0xa0 && c <= 0xbf;
    case RANGE_80_9F:
        return c >= 0x80 && c <= 0x9f;
    case RANGE_90_BF:
        return c >= 0x90 && c <= 0xbf;
    case RANGE_80_8F:
        return c >= 0x80 && c <= 0x8f;
    default:
        return c >= 0x80 && c <= 0xbf;
    }
}

bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *p, size_t n)
{
    uint32_t need = u->state & 0xff;
    unsigned range = (u->state >> 8) & 0xff;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (need == 0) {
            if (c < 0x80)
                continue;
            if (c >= 0xc2 && c <= 0xdf) {
                need = 1;
                range = RANGE_80_BF;
            } else if (c == 0xe0) {
                need = 2;
                range = RANGE_A0_BF;
            } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
                need = 2;
                range = RANGE_80_BF;
            } else if (c == 0xed) {
                need = 2;
                range = RANGE_80_9F;
            } else if (c == 0xf0) {
                need = 3;
                range = RANGE_90_BF;
            } else if (c >= 0xf1 && c <= 0xf3) {
                need = 3;
                range = RANGE_80_BF;
            } else if (c == 0xf4) {
                need = 3;
                range = RANGE_80_8F;
            } else {
                u->state = 0xffffffffu;
                return false;
            }
            continue;
        }
        if (!next_ok(range, c)) {
            u->state = 0xffffffffu;
            return false;
        }
        need--;
        range = RANGE_80_BF;
    }
    u->state = need | (range << 8);
    return true;
}

bool ws_utf8_complete(const ws_utf8_t *u)
{
    return (u->state & 0xff) == 0;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
    ws_utf8_t u = {0};
    return ws_utf8_feed(&u, p, n) && ws_utf8_complete(&u);
}
