"""test_abuse.py: hostile clients against the WebSocket side: slow heads, oversized requests,
broken fragmentation and UTF-8, ping floods, clients that never read, connection floods.

Each case asserts what docs/reliability.md promises: the abuser gets a defined answer (a status
or a close code) and everyone else keeps being served. Cases already covered elsewhere are not
repeated here (see docs/reliability.md for the map)."""
import os
import socket
import struct
import time

from conftest import SANITIZED, SLOW, minimal_config
from test_messages import add_route, mock
from wsutil import RawWS


def echo_config(workers=1, **limits):
    cfg = minimal_config(workers=workers)
    if limits:
        cfg["server"]["limits"] = limits
    add_route(cfg, "$default", mock("echo", "$input.body"))
    return cfg


# ASan keeps freed memory in a quarantine (256 MB by default): RSS bounds only mean something in
# a plain build, so sanitized runs allow for it.
RSS_SLACK_KB = 300 * 1024 if SANITIZED else 0


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith("VmRSS")))


def echo_ok(port, text=b"still here", timeout=2.0):
    """A fresh client connects and gets an echo within timeout seconds."""
    t0 = time.monotonic()
    ws = RawWS(port)
    assert ws.status == 101
    ws.send_frame(1, text)
    op, payload, _ = ws.recv_frame()
    assert (op, payload) == (1, text)
    ws.close()
    assert time.monotonic() - t0 < timeout * SLOW


def head_response(s, timeout=5.0):
    s.settimeout(timeout * SLOW)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def upgrade_head(port, path="/dev", extra=b""):
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n").encode() + extra + b"\r\n"


def is_closed(s, timeout):
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_slowloris_upgrade_heads_are_cut_and_others_served(gateway_factory):
    """Forty half-sent upgrade heads, one byte a while, on a single worker: the head timeout
    closes them; an open WebSocket and new clients are served meanwhile."""
    gw = gateway_factory(echo_config(headTimeoutSeconds=1))
    live = RawWS(gw.port)
    slow = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(upgrade_head(gw.port)[:30])
        slow.append(s)
    t_start = time.monotonic()
    for i in range(3):  # dribble: each byte is progress, but the deadline is for the whole head
        for s in slow:
            try:
                s.sendall(b"X")
            except OSError:
                pass
        live.send_frame(1, b"ping %d" % i)
        assert live.recv_frame()[1] == b"ping %d" % i
        echo_ok(gw.port, timeout=0.5)
        time.sleep(0.3)
    for s in slow:
        assert is_closed(s, 3 * SLOW), "a slow head outlived headTimeoutSeconds"
        s.close()
    assert time.monotonic() - t_start < 4 * SLOW
    live.send_frame(1, b"after")
    assert live.recv_frame()[1] == b"after"
    live.close()


def test_oversized_url_and_too_many_headers(gateway_factory):
    gw = gateway_factory(echo_config(maxHeadBytes=8192))
    # A URL longer than the head limit: 431 before the head ends, the rest is never read.
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"GET /dev?" + b"q" * 20000 + b" HTTP/1.1\r\n")
    assert head_response(s).startswith(b"HTTP/1.1 431 ")
    assert is_closed(s, 2 * SLOW)
    s.close()
    # Many small headers within the byte limit.
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(upgrade_head(gw.port, extra=b"".join(b"X-%d: 1\r\n" % i for i in range(600))))
    status = head_response(s).split(b" ", 2)[1]
    assert status in (b"400", b"431"), status
    s.close()
    # A head that never ends within the limit (no CRLF at all).
    s = socket.create_connection(("127.0.0.1", gw.port))
    try:
        s.sendall(b"G" * 9000)
    except OSError:
        pass
    assert head_response(s).startswith(b"HTTP/1.1 431 ")
    s.close()
    echo_ok(gw.port)


def test_fragmentation_abuse_gets_protocol_errors(gateway_factory):
    """Broken fragmentation and control frames close with 1002; oversize totals with 1009."""
    gw = gateway_factory(echo_config())
    cases = [
        ("continuation without a start", [(0, b"abc", True)], 1002),
        ("fragmented ping", [(9, b"p", False)], 1002),
        ("control frame over 125 bytes", [(9, b"p" * 126, True)], 1002),
        ("new message inside a fragmented one", [(1, b"a", False), (1, b"b", True)], 1002),
        ("reserved opcode", [(3, b"x", True)], 1002),
        ("many small fragments past 128 KB", [(1, b"x" * 1000, False)] +
         [(0, b"x" * 1000, False)] * 140 + [(0, b"x", True)], 1009),
    ]
    for name, frames, code in cases:
        ws = RawWS(gw.port)
        try:
            for op, payload, fin in frames:
                ws.send_frame(op, payload, fin=fin)
        except OSError:
            pass  # the gateway may close before the last frames are written
        assert ws.recv_close()[0] == code, name
        ws.close()
    # Reserved bits without an extension.
    ws = RawWS(gw.port)
    ws.s.sendall(bytes([0x80 | 0x40 | 1, 0x80 | 1]) + b"\0\0\0\0" + b"a")
    assert ws.recv_close()[0] == 1002
    ws.close()
    # 1000 tiny fragments of a valid 1000-byte message are fine.
    ws = RawWS(gw.port)
    ws.send_frame(1, b"y", fin=False)
    for _ in range(998):
        ws.send_frame(0, b"y", fin=False)
    ws.send_frame(0, b"y", fin=True)
    assert ws.recv_frame()[1] == b"y" * 1000
    ws.close()


def test_invalid_utf8_across_fragments_closes_1007(gateway_factory):
    """Beyond test_limits' single frame: a sequence split across fragments is fine, a broken
    one across fragments, a truncated one at the end, and overlong or surrogate forms are 1007."""
    gw = gateway_factory(echo_config())
    ws = RawWS(gw.port)
    ws.send_frame(1, "h\u00e9".encode()[:2], fin=False)  # "h" + first byte of é
    ws.send_frame(0, "h\u00e9".encode()[2:], fin=True)
    assert ws.recv_frame()[1] == "h\u00e9".encode()
    ws.close()
    bad = [
        [(1, b"ab\xe2\x82", False), (0, b"x", True)],  # broken across the boundary
        [(1, b"ab\xe2\x82", True)],  # truncated at the end of the message
        [(1, b"\xc0\xaf", True)],  # overlong "/"
        [(1, b"\xed\xa0\x80", True)],  # a UTF-16 surrogate
        [(1, b"\xf4\x90\x80\x80", True)],  # past U+10FFFF
    ]
    for frames in bad:
        ws = RawWS(gw.port)
        for op, payload, fin in frames:
            ws.send_frame(op, payload, fin=fin)
        assert ws.recv_close()[0] == 1007, frames
        ws.close()
    # A close frame whose reason is not UTF-8 is a protocol error too.
    ws = RawWS(gw.port)
    ws.send_frame(8, b"\x03\xe8\xff")
    assert ws.recv_close()[0] in (1002, 1007)
    ws.close()


def test_ping_flood_does_not_grow_memory_or_starve_others(gateway_factory):
    """A client sends 20000 pings of 125 bytes and reads nothing: the gateway's memory stays
    bounded, another client's echo stays fast, and the flooder either keeps its connection
    (pongs dropped or coalesced once its queue is full) or is closed with 1008."""
    gw = gateway_factory(echo_config(outboundQueueBytes=65536))
    base = rss_kb(gw.proc.pid)
    flood = RawWS(gw.port)
    flood.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    other = RawWS(gw.port)
    frame = bytes([0x89, 0x80 | 125]) + b"\0\0\0\0" + b"p" * 125  # masked with a zero key
    sent = 0
    t0 = time.monotonic()
    flood.s.settimeout(5 * SLOW)
    try:
        for i in range(200):
            flood.s.sendall(frame * 100)
            sent += 100
            if i % 50 == 0:
                t = time.monotonic()
                other.send_frame(1, b"hi")
                assert other.recv_frame()[1] == b"hi"
                assert time.monotonic() - t < 0.5 * SLOW
    except (socket.timeout, OSError):
        pass  # the gateway stopped reading us or closed us: both are bounded outcomes
    grown = rss_kb(gw.proc.pid) - base
    print(f"\nping flood: {sent} pings in {time.monotonic() - t0:.2f} s, RSS +{grown} kB")
    assert grown < 32 * 1024 + RSS_SLACK_KB, f"RSS grew by {grown} kB under a ping flood"
    other.send_frame(1, b"after")
    assert other.recv_frame()[1] == b"after"
    other.close()
    flood.close()
    echo_ok(gw.port)


def test_client_that_never_reads_is_bounded_and_cut(gateway_factory):
    """A client sends messages whose echoes it never reads: kernel buffers fill, then its
    outbound queue (outboundQueueBytes 1 MB); the gateway queues a 1008 "Outbound queue full"
    close behind what the client does not read and drops the TCP connection when it still does
    not drain it (the closing timeout). RSS stays bounded; others are served throughout."""
    gw = gateway_factory(echo_config(outboundQueueBytes=1 << 20, outboundQueueMessages=1024))
    base = rss_kb(gw.proc.pid)
    hog = RawWS(gw.port)
    hog.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    msg = os.urandom(12000).hex().encode()  # 24 KB, echoed back in full
    sent, peak, outcome = 0, 0, None
    hog.s.settimeout(2 * SLOW)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15 * SLOW:
        try:
            hog.send_frame(1, msg)
            sent += 1
        except socket.timeout:
            outcome = "stalled"  # the gateway stopped reading it: also bounded; go on waiting
        except OSError as e:  # EPIPE / ECONNRESET: the gateway dropped it
            outcome = type(e).__name__
            break
        peak = max(peak, rss_kb(gw.proc.pid) - base)
        if sent % 200 == 0:
            echo_ok(gw.port)
    cut_s = time.monotonic() - t0
    print(f"\nnever-reading client: {sent} x 24 KB sent, RSS peak +{peak} kB, "
          f"cut after {cut_s:.1f} s ({outcome})")
    assert peak < 24 * 1024 + RSS_SLACK_KB, f"RSS grew by {peak} kB for one never-reader"
    assert outcome not in (None, "stalled"), "the client that never reads was never cut"
    echo_ok(gw.port)
    hog.close()


def test_connection_flood_past_max_connections(gateway_factory):
    """maxConnections 20 on two workers: the 21st and later upgrades get 503 at the handshake,
    the twenty keep working, and closing five makes room for five."""
    gw = gateway_factory(echo_config(workers=2, maxConnections=20))
    clients = [RawWS(gw.port) for _ in range(20)]
    assert [c.status for c in clients] == [101] * 20
    refused = 0
    for _ in range(60):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(upgrade_head(gw.port))
        head = head_response(s)
        assert head.startswith(b"HTTP/1.1 503 "), head[:40]
        assert b'{"message":"Service Unavailable"}' in head + s.recv(4096)
        refused += 1
        s.close()
    assert refused == 60
    for i, c in enumerate(clients):
        c.send_frame(1, b"m%d" % i)
        assert c.recv_frame()[1] == b"m%d" % i
    for c in clients[:5]:
        c.send_frame(8, b"\x03\xe8")
        assert c.recv_close()[0] == 1000
        c.close()
    time.sleep(0.1 * SLOW)  # the closes are committed at the end of the loop turn
    more = [RawWS(gw.port) for _ in range(5)]
    assert [c.status for c in more] == [101] * 5
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(upgrade_head(gw.port))
    assert head_response(s).startswith(b"HTTP/1.1 503 ")
    s.close()
    for c in clients[5:] + more:
        c.close()
