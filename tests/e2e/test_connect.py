"""test_connect.py: $connect: the 101 waits for the integration; rejections carry its status and body."""
import asyncio
import json
import re
import socket
import threading
import time

import pytest
import websockets

from conftest import SLOW, minimal_config, raw_upgrade
from wsutil import connect, expect_silence, recv, run

ID_RE = re.compile(r"^[A-Za-z0-9_-]{15}=$")
CLF_RE = re.compile(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$")


def echo_default(cfg):
    """Adds a two-way MOCK $default route that echoes the message."""
    api = cfg["apis"][0]
    api["integrations"].append({
        "integrationId": "echo", "integrationType": "MOCK",
        "requestTemplates": {"$default": "{\"statusCode\": 200}"},
        "integrationResponses": [{"integrationResponseKey": "$default",
                                  "responseTemplates": {"$default": "$input.body"}}],
    })
    api["routes"].append({"routeKey": "$default", "target": "integrations/echo",
                          "routeResponseSelectionExpression": "$default",
                          "routeResponses": [{"routeResponseKey": "$default"}]})
    return cfg


def with_connect(cfg, itype, uri, **extra):
    api = cfg["apis"][0]
    integ = {"integrationId": "conn", "integrationType": itype, "integrationUri": uri}
    integ.update(extra)
    api["integrations"].append(integ)
    api["routes"].append({"routeKey": "$connect", "target": "integrations/conn"})
    return cfg


def test_accepts_without_a_connect_route(gateway_factory):
    gw = gateway_factory(echo_default(minimal_config()))

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"x","data":1}')
        assert await recv(ws) == '{"action":"x","data":1}'
        await ws.close()
    run(go())


def test_http_proxy_connect_accepts_and_rejects_with_status_and_body(gateway_factory,
                                                                     backend_factory):
    def handler(req):
        if "token=good" in req["path"]:
            return 200, {}, "welcome"
        return 401, {"Content-Type": "application/json"}, '{"reason":"bad token"}'

    be = backend_factory(handler)
    cfg = echo_default(with_connect(minimal_config(), "HTTP_PROXY", be.url("/connect"),
                                    integrationMethod="GET",
                                    requestParameters={
                                        "integration.request.querystring.token":
                                            "route.request.querystring.token"}))
    gw = gateway_factory(cfg)

    async def good():
        ws = await connect(gw.url(query="token=good"))
        await ws.send("hi")
        assert await recv(ws) == "hi"
        await ws.close()
    run(good())

    status, hdrs, body = raw_upgrade(gw.port, "/dev?token=bad")
    assert status == 401
    assert json.loads(body) == {"reason": "bad token"}
    assert "upgrade" not in hdrs and "sec-websocket-accept" not in hdrs

    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        run(connect(gw.url(query="token=bad")))
    assert e.value.status_code == 401

    reqs = be.wait_for(lambda r: len(r) >= 3)
    first = reqs[0]
    hdr = {k.lower(): v for k, v in first["headers"]}
    assert first["method"] == "GET"
    assert hdr["user-agent"] == "AmazonAPIGateway_abcdef1234"
    assert hdr["x-amzn-apigateway-api-id"] == "abcdef1234"
    assert hdr["x-forwarded-for"] == "127.0.0.1"
    assert hdr["x-forwarded-proto"] == "http"
    assert "sec-websocket-key" in hdr
    assert first["body"] == b""


def test_aws_proxy_connect_event_and_rejection(gateway_factory, backend_factory):
    def handler(req):
        ev = req["json"]
        if ev["queryStringParameters"].get("deny") == "1":
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"statusCode": 403, "body": "nope"})
        return 200, {"Content-Type": "application/json"}, json.dumps({"statusCode": 200})

    be = backend_factory(handler)
    gw = gateway_factory(echo_default(with_connect(minimal_config(), "AWS_PROXY",
                                                   be.url("/lambda"))))

    async def ok():
        ws = await connect(gw.url(query="a=1&a=2&b=x%20y"),
                           extra_headers={"User-Agent": "pytest-agent", "X-Custom": "v"})
        await ws.send("ping")
        assert await recv(ws) == "ping"
        await ws.close()
    run(ok())

    ev = be.wait_for(lambda r: len(r) >= 1)[0]["json"]
    assert list(ev) == ["headers", "multiValueHeaders", "queryStringParameters",
                        "multiValueQueryStringParameters", "requestContext", "isBase64Encoded"]
    h = ev["headers"]
    assert h["Host"] == f"127.0.0.1:{gw.port}"
    assert h["User-Agent"] == "pytest-agent"
    assert h["X-Custom"] == "v"
    assert h["Sec-WebSocket-Version"] == "13"
    assert "Sec-WebSocket-Key" in h
    assert h["X-Forwarded-For"] == "127.0.0.1"
    assert h["X-Forwarded-Port"] == str(gw.port)
    assert h["X-Forwarded-Proto"] == "http"
    assert "Connection" not in h and "Upgrade" not in h
    assert ev["multiValueHeaders"]["X-Custom"] == ["v"]
    assert ev["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert ev["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert ev["isBase64Encoded"] is False
    rc = ev["requestContext"]
    assert rc["routeKey"] == "$connect"
    assert rc["eventType"] == "CONNECT"
    assert rc["messageDirection"] == "IN"
    assert rc["stage"] == "dev"
    assert rc["apiId"] == "abcdef1234"
    assert rc["domainName"] == f"127.0.0.1:{gw.port}"  # the Host header, as AWS's
    assert ID_RE.match(rc["connectionId"])
    assert ID_RE.match(rc["requestId"]) and rc["extendedRequestId"] == rc["requestId"]
    assert CLF_RE.match(rc["requestTime"])
    assert isinstance(rc["connectedAt"], int) and isinstance(rc["requestTimeEpoch"], int)
    assert abs(rc["connectedAt"] - time.time() * 1000) < 60000
    assert rc["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "pytest-agent"}
    assert "body" not in ev and "messageId" not in rc

    status, _, body = raw_upgrade(gw.port, "/dev?deny=1")
    assert status == 403
    assert body == b"nope"


def test_connect_event_without_query_or_user_agent(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    gw = gateway_factory(with_connect(minimal_config(), "AWS_PROXY", be.url("/l")))
    status, _, _ = raw_upgrade(gw.port, "/dev")
    assert status == 101
    ev = be.wait_for(lambda r: r)[0]["json"]
    assert "queryStringParameters" not in ev
    assert "multiValueQueryStringParameters" not in ev
    assert ev["requestContext"]["identity"] == {"sourceIp": "127.0.0.1"}


def test_subprotocol_chosen_by_the_integration_is_echoed(gateway_factory, backend_factory):
    def handler(req):
        offered = req["json"]["headers"].get("Sec-WebSocket-Protocol", "")
        choice = [p.strip() for p in offered.split(",")][-1]
        return 200, {}, json.dumps({"statusCode": 200,
                                    "headers": {"Sec-WebSocket-Protocol": choice}})

    be = backend_factory(handler)
    gw = gateway_factory(echo_default(with_connect(minimal_config(), "AWS_PROXY",
                                                   be.url("/l"))))

    async def go():
        ws = await connect(gw.url(), subprotocols=["foo", "chat.v2"])
        assert ws.subprotocol == "chat.v2"
        await ws.close()
    run(go())


def test_unknown_stage_is_403_and_plain_get_is_426(gateway_factory):
    gw = gateway_factory(echo_default(minimal_config()))
    status, hdrs, body = raw_upgrade(gw.port, "/nostage")
    assert status == 403
    assert json.loads(body) == {"message": "Forbidden"}
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"GET /dev HTTP/1.1\r\nHost: x\r\n\r\n")
    data = s.recv(4096)
    s.close()
    assert data.startswith(b"HTTP/1.1 426 ")


def test_bad_websocket_version_gets_426(gateway_factory):
    gw = gateway_factory(echo_default(minimal_config()))
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"GET /dev HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
    data = s.recv(4096)
    s.close()
    assert data.startswith(b"HTTP/1.1 426 ")
    assert b"Sec-WebSocket-Version: 13" in data


def test_pending_upgrades_do_not_block_open_connections(gateway_factory, backend_factory):
    def handler(req):
        if "slow" in req["path"]:
            time.sleep(1.5)
        return 200, {}, ""

    be = backend_factory(handler)
    cfg = echo_default(with_connect(minimal_config(workers=1), "HTTP_PROXY",
                                    be.url("/c"), integrationMethod="GET",
                                    requestParameters={"integration.request.querystring.k":
                                                       "route.request.querystring.k"}))
    gw = gateway_factory(cfg)

    async def go():
        fast = await connect(gw.url(query="k=fast"))
        pending = [asyncio.ensure_future(connect(gw.url(query="k=slow"))) for _ in range(40)]
        await asyncio.sleep(0.3)
        worst = 0.0
        for i in range(20):
            t = time.monotonic()
            await fast.send(f"m{i}")
            assert await recv(fast) == f"m{i}"
            worst = max(worst, time.monotonic() - t)
        # One worker, 40 upgrades on hold: the open connection still answers at once.
        assert worst < 0.3 * SLOW
        opened = await asyncio.gather(*pending)
        assert all(ws.open for ws in opened)
        for ws in opened + [fast]:
            await ws.close()
    run(go())


def test_client_gone_while_pending_gets_no_disconnect(gateway_factory, backend_factory):
    def handler(req):
        if req["path"].startswith("/connect"):
            time.sleep(0.8)
        return 200, {}, ""

    be = backend_factory(handler)
    cfg = with_connect(minimal_config(), "HTTP_PROXY", be.url("/connect"),
                       integrationMethod="GET")
    api = cfg["apis"][0]
    api["integrations"].append({"integrationId": "disc", "integrationType": "HTTP_PROXY",
                                "integrationUri": be.url("/disconnect")})
    api["routes"].append({"routeKey": "$disconnect", "target": "integrations/disc"})
    gw = gateway_factory(cfg)
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(b"GET /dev HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    be.wait_for(lambda r: len(r) >= 1)
    s.close()
    time.sleep(1.5 * SLOW)
    assert [r["path"] for r in be.requests] == ["/connect"]


def test_connect_timeout_is_504_and_unreachable_backend_is_502(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (time.sleep(1.0), (200, {}, ""))[1])
    cfg = with_connect(minimal_config(), "HTTP_PROXY", be.url("/c"), integrationMethod="GET",
                       timeoutInMillis=200)
    gw = gateway_factory(cfg)
    t = time.monotonic()
    status, _, _ = raw_upgrade(gw.port, "/dev")
    assert status == 504
    assert time.monotonic() - t < 0.9 * SLOW + 0.5

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()[1]
    probe.close()
    gw2 = gateway_factory(with_connect(minimal_config(), "HTTP_PROXY",
                                       f"http://127.0.0.1:{dead}/c", integrationMethod="GET"))
    status, _, _ = raw_upgrade(gw2.port, "/dev")
    assert status == 502


def test_mock_connect_can_reject(gateway_factory):
    cfg = minimal_config()
    api = cfg["apis"][0]
    api["integrations"].append({
        "integrationId": "m", "integrationType": "MOCK",
        "requestTemplates": {"$default": "{\"statusCode\": 403}"}})
    api["routes"].append({"routeKey": "$connect", "target": "integrations/m"})
    gw = gateway_factory(cfg)
    status, _, _ = raw_upgrade(gw.port, "/dev")
    assert status == 403


def test_frames_sent_before_the_101_are_delivered(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (time.sleep(0.3), (200, {}, ""))[1])
    cfg = echo_default(with_connect(minimal_config(), "HTTP_PROXY", be.url("/c"),
                                    integrationMethod="GET"))
    gw = gateway_factory(cfg)
    from wsutil import RawWS
    import os
    import struct
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    key = os.urandom(4)
    payload = b"early"
    frame = bytes([0x81, 0x80 | len(payload)]) + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(payload))
    s.sendall(b"GET /dev HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
              + frame)
    data = b""
    while b"early" not in data:
        chunk = s.recv(4096)
        assert chunk, f"closed early: {data!r}"
        data += chunk
    assert data.startswith(b"HTTP/1.1 101 ")
    s.close()
    del RawWS, struct
