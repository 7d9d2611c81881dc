/* ws.h: WebSocket (RFC 6455) frame codec, handshake key and UTF-8 check; pure functions. */
#ifndef PORTICO_COMMON_WS_H
#define PORTICO_COMMON_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_ABNORMAL = 1006,
    WS_CLOSE_INVALID_DATA = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

typedef struct ws_frame {
    bool fin;
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t payload_len;
    size_t header_len; /* bytes of header, mask included */
} ws_frame_t;

/*
 * Parses a frame header from p[0..len).
 * Returns PT_OK, PT_EAGAIN (need more bytes), or PT_EPARSE on a protocol error: reserved bits
 * set (no extensions are negotiated), unknown opcode, a control frame that is fragmented or
 * longer than 125 bytes, a 64-bit length with the top bit set.
 */
int ws_parse_header(const uint8_t *p, size_t len, ws_frame_t *f);

/* XORs p[0..n) with the mask, `offset` being the position of p[0] within the payload. */
void ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t offset);

/* Writes an unmasked server frame header into out (10 bytes max); returns its length. */
size_t ws_write_header(uint8_t out[10], uint8_t opcode, bool fin, uint64_t len);

/* Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)); out gets 28 chars + NUL. */
void ws_accept_key(const char *key, size_t len, char out[29]);

/* True for close codes a peer may send (1000-1003, 1007-1011, 3000-4999). */
bool ws_close_code_valid(int code);

/* Incremental UTF-8 validation across fragments. Zero-initialise, feed, then check done. */
typedef struct ws_utf8 {
    uint32_t state;
} ws_utf8_t;

/* Returns false as soon as the bytes so far cannot be valid UTF-8. */
bool ws_utf8_feed(ws_utf8_t *u, const uint8_t *p, size_t n);
/* True when the bytes fed end on a character boundary. */
bool ws_utf8_complete(const ws_utf8_t *u);
/* One-shot check of a whole buffer. */
bool ws_utf8_valid(const uint8_t *p, size_t n);

#endif
