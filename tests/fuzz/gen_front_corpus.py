# gen_front_corpus.py: writes seed inputs for fuzz_front (request heads and WebSocket frames) into a directory.
import os, struct, sys
out = sys.argv[1]
def frame(op, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    n = len(payload)
    h = bytes([(0x80 if fin else 0) | op])
    if n < 126: h += bytes([0x80 | n])
    elif n < 65536: h += bytes([0x80 | 126]) + struct.pack("!H", n)
    else: h += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
def up(extra=b""):
    return (b"GET /dev?x=1 HTTP/1.1\r\nHost: wsapi00001.execute-api.local\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nUser-Agent: fuzz\r\n" + extra + b"\r\n")
def req(method, path, body=b"", host=b"httpapi001.execute-api.local", extra=b""):
    h = method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra
    if body or method == b"POST": h += b"Content-Length: %d\r\n" % len(body)
    return h + b"\r\n" + body
seeds = {
 "ws_echo_close": (0x38, up() + frame(1, b'{"action":"x","m":"hi"}') + frame(1, b'{"action":"whoami"}') + frame(8, b"\x03\xe8bye")),
 "ws_fragments_ping": (0x20, up() + frame(1, b'{"act', fin=False) + frame(9, b"p") + frame(0, b'ion":"oneway"}') + frame(10, b"") + frame(8, b"")),
 "ws_bad_utf8": (0x38, up() + frame(1, b"\xc3\x28")),
 "ws_too_big": (0x38, up() + frame(1, b"a" * 1100)),
 "ws_message_too_big": (0x38, up() + b"".join(frame(1 if i == 0 else 0, b"b" * 1000, fin=False) for i in range(5)) + frame(0, b"")),
 "ws_binary": (0x38, up() + frame(2, b"\x00\x01")),
 "ws_unmasked": (0x38, up() + b"\x81\x02hi"),
 "ws_deny": (0x38, up(b"X-Deny: 1\r\n")),
 "ws_idle_timeout": (0x3a, up() + frame(1, b"{}")),
 "ws_no_read": (0x78, up() + b"".join(frame(1, b'{"action":"e","p":"%s"}' % (b"z" * 900)) for _ in range(40))),
 "ws_early_frames": (0x38, up() + frame(1, b"early")),
 "ws_half_close": (0x3c, up() + frame(1, b"x")),
 "ws_dribble": (0x00, up() + frame(1, b'{"action":"whoami"}')),
 "rest_pipelined": (0x38, req(b"POST", b"/mock", b"one") + req(b"GET", b"/items/7") + req(b"POST", b"/up/a/b", b"two", extra=b"Connection: close\r\n")),
 "rest_cors": (0x38, req(b"OPTIONS", b"/mock", extra=b"Origin: https://a.example\r\nAccess-Control-Request-Method: POST\r\n") + req(b"GET", b"/v1/mock", extra=b"Origin: https://a.example\r\n")),
 "rest_too_big": (0x38, req(b"POST", b"/mock", extra=b"Content-Length: 9000\r\n")[:-0 or None]),
 "rest_body_timeout": (0x3a, b"POST /mock HTTP/1.1\r\nHost: httpapi001.x\r\nContent-Length: 10\r\n\r\n123"),
 "rest_expect": (0x38, b"POST /mock HTTP/1.1\r\nHost: httpapi001.x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"),
 "rest_chunked": (0x38, b"POST /mock HTTP/1.1\r\nHost: httpapi001.x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
 "http10": (0x38, b"GET /mock HTTP/1.0\r\nHost: httpapi001.x\r\n\r\n"),
 "connections_unsigned": (0x38, req(b"POST", b"/dev/@connections/AAAAAAAAAAAAAAA%3D", b"hi", host=b"wsapi00001.x") + req(b"GET", b"/dev/%40connections/AAAAAAAAAAAAAAA=", host=b"wsapi00001.x")),
 "connections_signed_shape": (0x38, req(b"DELETE", b"/dev/@connections/AAAAAAAAAAAAAAA=", host=b"wsapi00001.x", extra=b"X-Amz-Date: 20260101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + b"0" * 64 + b"\r\n")),
 "ws_plain_get": (0x38, b"GET /dev HTTP/1.1\r\nHost: wsapi00001.x\r\n\r\nGET /nostage HTTP/1.1\r\nHost: wsapi00001.x\r\n\r\n"),
 "head_slowloris_timeout": (0x02, b"GET /mock HTTP/1.1\r\nHost: h"),
 "head_too_big": (0x38 | 0x30, b"GET /mock HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n"),
 "admin_metrics": (0x39, b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer fuzztoken-0123456\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\n\r\n"),
 "admin_connections": (0x39, b"GET /connections?limit=5&api=wsapi00001 HTTP/1.1\r\nAuthorization: Bearer fuzztoken-0123456\r\n\r\nGET /connections/AAAAAAAAAAAAAAA= HTTP/1.1\r\nAuthorization: Bearer fuzztoken-0123456\r\n\r\nDELETE /connections/AAAAAAAAAAAAAAA= HTTP/1.1\r\nAuthorization: Bearer fuzztoken-0123456\r\n\r\n"),
 "admin_status": (0x39, b"GET /api/status HTTP/1.1\r\nAuthorization: Bearer fuzztoken-0123456\r\n\r\nGET / HTTP/1.1\r\n\r\nGET /api/events HTTP/1.1\r\nAuthorization: Bearer fuzztoken-0123456\r\n\r\n"),
}
for name, (flags, data) in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([flags]) + data)
