"""test_auth_throttle.py: throttling (issue 7): stage routeSettings / defaultRouteSettings token
buckets for connects (429 at the handshake), messages (a "Limit Exceeded" error frame) and HTTP
API requests (429 {"message":"Too Many Requests"}); the @connections bucket (429
LimitExceededException); server.throttle; Portico's per-IP and per-connection limits. Rates are
checked as the share of 429s at a known offered rate."""
import asyncio
import json
import socket
import time

from botocore.exceptions import ClientError

from conftest import SLOW, minimal_config, raw_upgrade
from restutil import config as http_config
from restutil import http_api, mock, request, route
from test_callback import AK, SK, mgmt, open_client
from test_messages import add_route
from test_messages import mock as ws_mock
from wsutil import connect, recv, run


def ws_cfg(stage=None, limits=None, server_throttle=None):
    cfg = minimal_config()
    cfg["server"]["credentials"] = [{"accessKeyId": AK, "secretAccessKey": SK}]
    add_route(cfg, "echo", ws_mock("e", '{"n":$input.json(\'$.n\')}'))
    add_route(cfg, "whoami", ws_mock("who", '{"connectionId":"$context.connectionId"}'))
    if stage:
        cfg["apis"][0]["stages"][0].update(stage)
    if limits:
        cfg["server"]["limits"] = limits
    if server_throttle:
        cfg["server"]["throttle"] = server_throttle
    return cfg


async def flood(ws, n, action="echo"):
    """Sends n messages at once; returns (replies, throttled error frames)."""
    for i in range(n):
        await ws.send(json.dumps({"action": action, "n": i}))
    ok = limited = 0
    for _ in range(n):
        m = json.loads(await recv(ws))
        if m.get("message") == "Limit Exceeded":
            limited += 1
            assert set(m) == {"message", "connectionId", "requestId"}
        else:
            ok += 1
    return ok, limited


def test_route_throttle_on_messages(gateway_factory):
    gw = gateway_factory(ws_cfg(stage={"routeSettings": {
        "echo": {"throttlingBurstLimit": 5, "throttlingRateLimit": 1}}}))

    async def go():
        ws = await connect(gw.url())
        ok, limited = await flood(ws, 20)
        # another route of the same connection is not throttled
        ok2, limited2 = await flood(ws, 10, "whoami")
        await ws.close()
        return ok, limited, ok2, limited2

    ok, limited, ok2, limited2 = run(go())
    assert 5 <= ok <= 6 and ok + limited == 20
    assert (ok2, limited2) == (10, 0)


def test_connect_throttle_from_the_stage_default(gateway_factory):
    gw = gateway_factory(ws_cfg(stage={"defaultRouteSettings": {
        "throttlingBurstLimit": 3, "throttlingRateLimit": 0.5}}))
    got = [raw_upgrade(gw.port, "/dev")[0] for _ in range(6)]
    assert got[:3] == [101, 101, 101]
    assert got[3:] == [429, 429, 429]
    st, _, body = raw_upgrade(gw.port, "/dev")
    assert (st, json.loads(body)) == (429, {"message": "Limit Exceeded"})


def test_http_share_of_429_at_a_known_rate(gateway_factory):
    api = http_api([mock("m")], [route("GET /pets", "m"), route("GET /free", "m")],
                   stages=[{"stageName": "$default", "routeSettings": {
                       "GET /pets": {"throttlingBurstLimit": 5, "throttlingRateLimit": 10}}}])
    gw = gateway_factory(http_config(api))
    # Offer 40 requests at 40/s for 1 s: the bucket lets burst + rate * 1 s = 15 through.
    statuses = []
    start = time.monotonic()
    for i in range(40):
        delay = start + i / 40 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        r = request(gw.port, "GET", "/pets")
        statuses.append(r.status)
        if r.status == 429:
            assert json.loads(r.body) == {"message": "Too Many Requests"}
    elapsed = time.monotonic() - start
    allowed = statuses.count(200)
    expected = 5 + 10 * elapsed
    assert statuses.count(429) == 40 - allowed
    assert abs(allowed - expected) <= 3, (allowed, expected, statuses)
    assert all(request(gw.port, "GET", "/free").status == 200 for _ in range(20))


def test_server_throttle_covers_everything(gateway_factory):
    gw = gateway_factory(ws_cfg(server_throttle={"burstLimit": 4, "rateLimit": 0.1}))

    async def go():
        ws = await connect(gw.url())  # 1 token
        ok, limited = await flood(ws, 5)  # 3 left
        await ws.close()
        return ok, limited

    assert run(go()) == (3, 2)
    assert raw_upgrade(gw.port, "/dev")[0] == 429


def test_connections_api_bucket(gateway_factory):
    gw = gateway_factory(ws_cfg(limits={"connectionsApiRateLimit": 0.1,
                                        "connectionsApiBurstLimit": 2}))

    async def go():
        ws, cid = await open_client(gw)
        # Unsigned calls are refused before the bucket: they cannot use up the backends' tokens.
        for _ in range(5):
            r = request(gw.port, "POST", f"/dev/@connections/{cid.replace('=', '%3D')}", {},
                        b"hi")
            assert r.status == 403
        api = mgmt(gw)
        results = []
        for _ in range(4):
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: api.post_to_connection(ConnectionId=cid, Data=b"hi"))
                results.append(200)
            except ClientError as e:
                results.append((e.response["ResponseMetadata"]["HTTPStatusCode"],
                                e.response["Error"]["Code"]))
        await ws.close()
        return results

    assert run(go()) == [200, 200, (429, "LimitExceededException"),
                         (429, "LimitExceededException")]


def hold(port):
    """An accepted WebSocket on a raw socket, kept open until the caller closes it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW)
    s.sendall((f"GET /dev HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def test_max_connections_per_ip(gateway_factory):
    gw = gateway_factory(ws_cfg(limits={"maxConnectionsPerIp": 2}))
    a, b = hold(gw.port), hold(gw.port)
    st, _, body = raw_upgrade(gw.port, "/dev")
    assert (st, json.loads(body)) == (429, {"message": "Limit Exceeded"})
    a.close()  # the slot is free once the server sees the connection end
    deadline = time.monotonic() + 2 * SLOW
    while raw_upgrade(gw.port, "/dev")[0] != 101:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    b.close()


def test_connect_rate_per_ip(gateway_factory):
    gw = gateway_factory(ws_cfg(limits={"connectRateLimitPerIp": 0.5,
                                        "connectBurstLimitPerIp": 2}))
    got = [raw_upgrade(gw.port, "/dev")[0] for _ in range(4)]
    assert got == [101, 101, 429, 429]


def test_a_flooding_client_is_throttled_without_slowing_others(gateway_factory):
    gw = gateway_factory(ws_cfg(limits={"messageRateLimitPerConnection": 10,
                                        "messageBurstLimitPerConnection": 10}))

    async def go():
        flooder = await connect(gw.url())
        calm = await connect(gw.url())

        async def flood_task():
            return await flood(flooder, 300)

        task = asyncio.create_task(flood_task())
        lat = []
        for i in range(10):
            t0 = time.monotonic()
            await calm.send(json.dumps({"action": "echo", "n": i}))
            assert json.loads(await recv(calm)) == {"n": i}
            lat.append(time.monotonic() - t0)
            await asyncio.sleep(0.05)
        ok, limited = await task
        await flooder.close()
        await calm.close()
        return ok, limited, lat

    ok, limited, lat = run(go())
    assert ok + limited == 300
    assert 10 <= ok <= 20 and limited >= 280
    assert max(lat) < 0.5 * SLOW, lat
