"""test_ops_admin.py: the admin API: health, token, connections (paged, filtered), kick, stats."""
import asyncio
import http.client

from conftest import minimal_config
from opsutil import admin, await_until, scenario_backend, scenario_config, scrape, value
from test_limits import disconnect_backend
from test_messages import add_route, mock
from wsutil import connect, recv, run, wait_closed

TOKEN = "s3cret-admin-token-0123456789"


def echo_config(**server):
    cfg = minimal_config(**server)
    add_route(cfg, "echo", mock("echo", "$input.body"))
    cfg["apis"][0]["stages"].append({"stageName": "prod"})
    return cfg


def test_health_and_ready_need_no_token(gateway_factory):
    gw = gateway_factory(echo_config(adminToken=TOKEN))
    assert admin(gw, "/health")[0:3:2] == (200, {"status": "ok"})
    assert admin(gw, "/ready")[0:3:2] == (200, {"status": "ready"})
    for path in ("/metrics", "/stats", "/connections", "/connections/count", "/api/status"):
        st, hdrs, body = admin(gw, path)
        assert st == 401, path
        assert hdrs["WWW-Authenticate"] == 'Bearer realm="portico"'
        assert body == {"message": "Unauthorized"}
        assert admin(gw, path, token="wrong-token-0123456789")[0] == 401
        assert admin(gw, path, token=TOKEN, raw=True)[0] == 200, path
    # The page's files are public; the page itself wants the token.
    assert admin(gw, "/ui/app.js", raw=True)[0] == 200
    assert admin(gw, "/", raw=True)[0] == 401


def test_token_in_a_cookie_for_the_status_page(gateway_factory):
    gw = gateway_factory(echo_config(adminToken=TOKEN))
    c = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    c.request("GET", "/?token=nope")
    r = c.getresponse()
    r.read()
    assert r.status == 401
    c.request("GET", "/?token=" + TOKEN)
    r = c.getresponse()
    r.read()
    assert r.status == 303 and r.getheader("Location") == "/"
    cookie = r.getheader("Set-Cookie")
    assert cookie == f"portico_admin={TOKEN}; Path=/; HttpOnly; SameSite=Strict"
    c.request("GET", "/", headers={"Cookie": f"theme=dark; portico_admin={TOKEN}"})
    r = c.getresponse()
    page = r.read()
    assert r.status == 200 and b"<title>Portico status</title>" in page
    assert "script-src 'self'" in r.getheader("Content-Security-Policy")
    c.request("GET", "/api/status", headers={"Cookie": "portico_admin=" + TOKEN[:-1]})
    r = c.getresponse()
    r.read()
    assert r.status == 401
    c.close()


def test_connections_paged_and_filtered(gateway_factory):
    gw = gateway_factory(echo_config())

    async def go():
        dev = [await connect(gw.url("dev")) for _ in range(5)]
        await asyncio.sleep(1.1)  # these are older than a second
        prod = [await connect(gw.url("prod"), extra_headers={"User-Agent": "agent/2"})
                for _ in range(2)]
        # Pages of 2 in id order, with a cursor, until nextCursor is null.
        seen, cursor, pages = [], None, 0
        while True:
            q = "/connections?limit=2" + (f"&cursor={cursor}" if cursor else "")
            st, _, body = admin(gw, q)
            assert st == 200
            pages += 1
            assert body["count"] == len(body["items"]) <= 2
            seen += body["items"]
            cursor = body["nextCursor"]
            if cursor is None:
                break
        assert pages == 4
        ids = [i["connectionId"] for i in seen]
        assert ids == sorted(ids) and len(set(ids)) == 7
        assert all(i["apiId"] == "abcdef1234" and i["sourceIp"] == "127.0.0.1" for i in seen)
        # Filters.
        def ids_of(q):
            return {i["connectionId"] for i in admin(gw, q)[2]["items"]}
        by_stage = {s: {i["connectionId"] for i in seen if i["stage"] == s} for s in ("dev", "prod")}
        assert ids_of("/connections?stage=prod") == by_stage["prod"]
        assert ids_of("/connections?stage=dev&api=abcdef1234") == by_stage["dev"]
        assert ids_of("/connections?api=nope") == set()
        assert ids_of("/connections?minAge=1") == by_stage["dev"]
        assert ids_of("/connections?maxAge=0") == by_stage["prod"]
        assert admin(gw, "/connections/count")[2] == {"count": 7}
        assert admin(gw, "/connections/count?stage=prod")[2] == {"count": 2}
        assert admin(gw, "/connections/count?minAge=1&stage=dev")[2] == {"count": 5}
        # One connection.
        one = next(i for i in seen if i["stage"] == "prod")
        st, _, got = admin(gw, "/connections/" + one["connectionId"].replace("=", "%3D"))
        assert st == 200 and got["connectionId"] == one["connectionId"]
        assert got["userAgent"] == "agent/2"
        assert set(got) == {"connectionId", "apiId", "stage", "connectedAt", "lastActiveAt",
                            "ageSeconds", "idleSeconds", "sourceIp", "userAgent", "domainName",
                            "node", "worker"}
        assert admin(gw, "/connections/AAAAAAAAAAAAAAA=")[0:3:2] == (
            404, {"message": "No such connection"})
        # Malformed requests.
        assert admin(gw, "/connections?limit=0")[0] == 400
        assert admin(gw, "/connections?limit=1001")[0] == 400
        assert admin(gw, "/connections?minAge=-1")[0] == 400
        assert admin(gw, "/metrics", method="POST")[0] == 405
        assert admin(gw, "/nope")[0] == 404
        for ws in dev + prod:
            await ws.close()
    run(go())


def test_kick_closes_like_delete_connections(gateway_factory, backend_factory):
    be = backend_factory()
    cfg = disconnect_backend(echo_config(workers=3), be)
    gw = gateway_factory(cfg)

    async def go():
        clients = [await connect(gw.url()) for _ in range(6)]  # on every worker
        items = admin(gw, "/connections")[2]["items"]
        assert len(items) == 6
        victim = items[0]["connectionId"]
        st, _, body = admin(gw, f"/connections/{victim}", method="DELETE")
        assert st == 200 and body == {"connectionId": victim, "closed": True}
        closed = []
        for ws in clients:
            try:
                await asyncio.wait_for(ws.recv(), 0.3)
            except asyncio.TimeoutError:
                continue
            except Exception:
                closed.append((ws.close_code, ws.close_reason))
        assert closed == [(1000, "Connection Closed Normally")]
        ev = be.wait_for(lambda rs: rs)[0]["json"]
        assert ev["requestContext"]["connectionId"] == victim
        assert ev["requestContext"]["disconnectStatusCode"] == 1000
        assert ev["requestContext"]["disconnectReason"] == "Connection Closed Normally"
        await await_until(lambda: admin(gw, "/connections/count")[2]["count"] == 5)
        assert admin(gw, f"/connections/{victim}", method="DELETE")[0] == 404
        assert admin(gw, f"/connections/{victim}")[0] == 404
        # Every worker's connections can be kicked from the admin port.
        for i in items[1:]:
            assert admin(gw, f"/connections/{i['connectionId']}", method="DELETE")[0] == 200
        for ws in clients:
            code, _ = await wait_closed(ws)
            assert code == 1000
        await await_until(lambda: admin(gw, "/connections/count")[2]["count"] == 0)
        assert value(scrape(gw)[0], "portico_connections", api_id="abcdef1234", stage="dev") == 0
    run(go())


def test_stats_summary(gateway_factory, backend_factory):
    be = backend_factory(scenario_backend)
    gw = gateway_factory(scenario_config(be))

    async def go():
        ws = await connect(gw.url("dev"))
        await ws.send('{"action":"echo"}')
        await recv(ws)
        await ws.send('{"action":"nope"}')
        await recv(ws)
        _, _, s = admin(gw, "/stats")
        assert s["version"] and s["workers"] == 2 and s["uptimeSeconds"] >= 0
        assert s["connections"] == {"open": 1, "registry": 1}
        dev = s["apis"][0]["stages"][0]
        assert dev["stage"] == "dev" and dev["open"] == 1
        assert (dev["connects"], dev["messagesIn"], dev["messagesOut"], dev["clientErrors"]) == \
            (1, 2, 2, 1)
        echo = next(r for r in dev["routes"] if r["routeKey"] == "echo")
        assert echo["detailedMetrics"] is True and echo["messagesIn"] == 1
        assert s["totals"]["messagesIn"] == 2
        assert s["process"]["rssBytes"] > 0 and s["process"]["openFds"] > 0
        assert s["accessLog"] == {"lines": 0, "droppedBufferFull": 0, "destinations": []}
        await ws.close()
    run(go())
