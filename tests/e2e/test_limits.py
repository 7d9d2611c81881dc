"""test_limits.py: frame and message sizes, binary frames, UTF-8, idle timeout and maximum age."""
import time

import websockets

from conftest import SLOW, minimal_config
from test_messages import add_route, mock
from wsutil import RawWS, connect, recv, run, wait_closed


def echo_config(**limits):
    cfg = minimal_config()
    if limits:
        cfg["server"]["limits"] = limits
    add_route(cfg, "$default", mock("echo", "$input.body"))
    return cfg


def disconnect_backend(cfg, be):
    api = cfg["apis"][0]
    api["integrations"].append({"integrationId": "disc", "integrationType": "AWS_PROXY",
                                "integrationUri": be.url("/disconnect")})
    api["routes"].append({"routeKey": "$disconnect", "target": "integrations/disc"})
    return cfg


def test_frame_over_32k_closes_1009(gateway_factory):
    gw = gateway_factory(echo_config())

    async def go():
        ws = await connect(gw.url())
        await ws.send("x" * 32768)  # exactly at the limit: fine
        assert len(await recv(ws)) == 32768
        await ws.send("x" * 32769)
        code, _ = await wait_closed(ws)
        assert code == 1009
    run(go())


def test_message_over_128k_in_fragments_closes_1009(gateway_factory):
    gw = gateway_factory(echo_config())

    async def go():
        ws = await connect(gw.url())
        # 4 x 32 KB = 128 KB in fragments: allowed, and echoed back (cut into 32 KB frames).
        await ws.send(["y" * 32768 for _ in range(4)])
        assert await recv(ws) == "y" * 131072
        await ws.send(["z" * 30000 for _ in range(5)])  # 150,000 bytes
        code, _ = await wait_closed(ws)
        assert code == 1009
    run(go())


def test_outbound_messages_are_cut_into_32k_frames(gateway_factory):
    gw = gateway_factory(echo_config())
    raw = RawWS(gw.port)
    assert raw.status == 101
    # send 100 KB as 4 masked fragments of 25 KB
    body = b"a" * 100000
    parts = [body[i:i + 25000] for i in range(0, len(body), 25000)]
    for i, p in enumerate(parts):
        raw.send_frame(1 if i == 0 else 0, p, fin=(i == len(parts) - 1))
    frames = []
    while True:
        op, p, fin = raw.recv_frame()
        frames.append((op, len(p)))
        if fin:
            break
    assert frames == [(1, 32768), (0, 32768), (0, 32768), (0, 100000 - 3 * 32768)]
    raw.close()


def test_binary_frame_closes_1003_unless_allowed(gateway_factory):
    gw = gateway_factory(echo_config())

    async def go(url, allowed):
        ws = await connect(url)
        await ws.send(b"\x00\x01binary")
        if allowed:
            assert await recv(ws) is not None
            await ws.close()
        else:
            code, _ = await wait_closed(ws)
            assert code == 1003
    run(go(gw.url(), False))
    gw2 = gateway_factory(echo_config(allowBinary=True))
    run(go(gw2.url(), True))


def test_invalid_utf8_closes_1007(gateway_factory):
    gw = gateway_factory(echo_config())
    raw = RawWS(gw.port)
    raw.send_frame(1, b"\xc3\x28 bad")
    assert raw.recv_close()[0] == 1007
    raw.close()


def test_unmasked_client_frame_closes_1002(gateway_factory):
    gw = gateway_factory(echo_config())
    raw = RawWS(gw.port)
    raw.send_frame(1, b"hello", mask=False)
    assert raw.recv_close()[0] == 1002
    raw.close()


def test_ping_is_answered_with_pong(gateway_factory):
    gw = gateway_factory(echo_config())
    raw = RawWS(gw.port)
    raw.send_frame(9, b"are you there")
    op, payload, _ = raw.recv_frame()
    assert (op, payload) == (10, b"are you there")
    raw.close()


def test_idle_timeout_closes_1001_and_reports_it(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    gw = gateway_factory(disconnect_backend(echo_config(idleTimeoutSeconds=1), be))

    async def go():
        ws = await connect(gw.url())
        await ws.send("keep")  # activity resets the timer
        await recv(ws)
        t = time.monotonic()
        code, reason = await wait_closed(ws, timeout=5)
        waited = time.monotonic() - t
        assert code == 1001 and reason == "Going away"
        assert 0.8 < waited < 2.5 * SLOW
    run(go())
    ev = be.wait_for(lambda r: r)[0]["json"]
    assert ev["requestContext"]["disconnectStatusCode"] == 1001
    assert ev["requestContext"]["disconnectReason"] == "Going away"


def test_max_connection_age_closes_even_busy_connections(gateway_factory):
    gw = gateway_factory(echo_config(maxConnectionSeconds=2, idleTimeoutSeconds=60))

    async def go():
        ws = await connect(gw.url())
        t = time.monotonic()
        try:
            while time.monotonic() - t < 6 * SLOW:
                await ws.send("busy")
                await recv(ws)
                await __import__("asyncio").sleep(0.2)
        except websockets.exceptions.ConnectionClosed as e:
            assert e.code == 1001
            assert 1.5 < time.monotonic() - t < 3.5 * SLOW
            return
        raise AssertionError("connection outlived maxConnectionSeconds")
    run(go())


def test_oversized_head_gets_431(gateway_factory):
    gw = gateway_factory(echo_config(maxHeadBytes=4096))
    import socket
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"GET /dev HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 431 ")
    s.close()
