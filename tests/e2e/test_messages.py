"""test_messages.py: route selection, every integration kind, route responses and error frames."""
import asyncio
import json
import re
import socket

import pytest

from conftest import minimal_config
from wsutil import connect, expect_silence, recv, run

ID = r"[A-Za-z0-9_-]{15}="
FORBIDDEN_RE = re.compile(r'^\{"message": "Forbidden", "connectionId":"' + ID +
                          r'", "requestId":"' + ID + r'"\}$')
ISE_RE = re.compile(r'^\{"message": "Internal server error", "connectionId":"' + ID +
                    r'", "requestId":"' + ID + r'"\}$')


def add_route(cfg, key, integ, two_way=True):
    api = cfg["apis"][0]
    api["integrations"].append(integ)
    route = {"routeKey": key, "target": "integrations/" + integ["integrationId"]}
    if two_way:
        route["routeResponseSelectionExpression"] = "$default"
        route["routeResponses"] = [{"routeResponseKey": "$default"}]
    api["routes"].append(route)
    return cfg


def mock(iid, response):
    return {"integrationId": iid, "integrationType": "MOCK",
            "requestTemplates": {"$default": "{\"statusCode\": 200}"},
            "integrationResponses": [{"integrationResponseKey": "$default",
                                      "responseTemplates": {"$default": response}}]}


def chat_config():
    cfg = minimal_config()
    add_route(cfg, "ping", mock("pong", '{"action":"pong"}'))
    add_route(cfg, "$default", mock("dflt", 'default:$input.body'))
    add_route(cfg, "nested", mock("nested", 'nested:$input.json(\'$.data.room\')'))
    return cfg


def test_routes_by_action_with_default_fallback(gateway_factory):
    gw = gateway_factory(chat_config())

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"ping"}')
        assert await recv(ws) == '{"action":"pong"}'
        await ws.send('{"action":"unknown","x":1}')
        assert await recv(ws) == 'default:{"action":"unknown","x":1}'
        await ws.send("not json at all")
        assert await recv(ws) == "default:not json at all"
        await ws.send('{"action":"$connect"}')  # a body never selects a lifecycle route
        assert await recv(ws) == 'default:{"action":"$connect"}'
        await ws.send('{"action":"nested","data":{"room":"r1"}}')
        assert await recv(ws) == 'nested:"r1"'
        await ws.close()
    run(go())


def test_no_default_route_gives_the_forbidden_frame(gateway_factory):
    cfg = minimal_config()
    add_route(cfg, "ping", mock("pong", "pong"))
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"nope"}')
        frame = await recv(ws)
        assert FORBIDDEN_RE.match(frame), frame
        await ws.send('{"action":"ping"}')  # the connection stays open
        assert await recv(ws) == "pong"
        await ws.close()
    run(go())


def test_selection_expression_with_literal_text(gateway_factory):
    cfg = minimal_config()
    cfg["apis"][0]["routeSelectionExpression"] = "${request.body.service}/${request.body.action}"
    add_route(cfg, "chat/join", mock("j", "joined"))
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"service":"chat","action":"join"}')
        assert await recv(ws) == "joined"
        await ws.close()
    run(go())


def test_http_proxy_message_with_mapped_connection_id(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {"Content-Type": "text/plain"}, "backend says hi"))
    cfg = minimal_config()
    add_route(cfg, "send", {
        "integrationId": "hp", "integrationType": "HTTP_PROXY",
        "integrationUri": be.url("/msg/${stageVariables.room}"),
        "requestParameters": {"integration.request.header.connectionId": "context.connectionId",
                              "integration.request.header.X-Static": "'fixed'"}})
    cfg["apis"][0]["stages"][0]["stageVariables"] = {"room": "lobby"}
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"send","text":"hello"}')
        assert await recv(ws) == "backend says hi"
        await ws.close()
    run(go())
    req = be.wait_for(lambda r: r)[0]
    hdr = {k.lower(): v for k, v in req["headers"]}
    assert req["method"] == "POST"
    assert req["path"] == "/msg/lobby"
    assert req["body"] == b'{"action":"send","text":"hello"}'
    assert hdr["content-type"].startswith("application/json")
    assert re.fullmatch(ID, hdr["connectionid"])
    assert hdr["x-static"] == "fixed"


def test_one_way_route_sends_nothing_back(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, "ignored"))
    cfg = minimal_config()
    add_route(cfg, "fire", {"integrationId": "f", "integrationType": "HTTP_PROXY",
                            "integrationUri": be.url("/fire")}, two_way=False)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"fire"}')
        be.wait_for(lambda r: r)
        await expect_silence(ws, 0.5)
        await ws.close()
    run(go())


def test_aws_proxy_message_event_and_two_way_body(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, json.dumps({"statusCode": 200,
                                                         "body": "lambda:" + r["json"]["body"]})))
    cfg = minimal_config()
    add_route(cfg, "$default", {"integrationId": "l", "integrationType": "AWS_PROXY",
                                "integrationUri": be.url("/2015-03-31/functions/f/invocations")})
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url(), extra_headers={"User-Agent": "ua/1"})
        await ws.send('{"action":"x","data":"hello"}')
        assert await recv(ws) == 'lambda:{"action":"x","data":"hello"}'
        await ws.close()
    run(go())
    ev = be.wait_for(lambda r: r)[0]["json"]
    assert list(ev) == ["requestContext", "body", "isBase64Encoded"]
    assert ev["body"] == '{"action":"x","data":"hello"}'
    assert ev["isBase64Encoded"] is False
    rc = ev["requestContext"]
    assert list(rc) == ["routeKey", "messageId", "eventType", "extendedRequestId", "requestTime",
                        "messageDirection", "stage", "connectedAt", "requestTimeEpoch",
                        "identity", "requestId", "domainName", "connectionId", "apiId"]
    assert rc["routeKey"] == "$default"
    assert rc["eventType"] == "MESSAGE"
    assert re.fullmatch(ID, rc["messageId"])
    assert rc["messageId"] != rc["requestId"]
    assert rc["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "ua/1"}
    assert rc["requestTimeEpoch"] >= rc["connectedAt"]


def test_integration_failures_give_internal_server_error_frames(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, "this is not a lambda result"))
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    dead = probe.getsockname()[1]
    probe.close()
    cfg = minimal_config()
    add_route(cfg, "garbage", {"integrationId": "g", "integrationType": "AWS_PROXY",
                               "integrationUri": be.url("/l")})
    add_route(cfg, "down", {"integrationId": "d", "integrationType": "HTTP_PROXY",
                            "integrationUri": f"http://127.0.0.1:{dead}/x"}, two_way=False)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"garbage"}')
        assert ISE_RE.match(await recv(ws))
        await ws.send('{"action":"down"}')  # error frames are sent on one-way routes too
        assert ISE_RE.match(await recv(ws))
        await ws.close()
    run(go())


def test_http_non_proxy_request_template(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"ok":true}'))
    cfg = minimal_config()
    add_route(cfg, "tmpl", {
        "integrationId": "t", "integrationType": "HTTP", "integrationUri": be.url("/t"),
        "requestTemplates": {"$default": '{"cid":"$context.connectionId","room":'
                                         '$input.json(\'$.room\'),"stage":"$context.stage"}'},
        "integrationResponses": [{"integrationResponseKey": "$default"}]})
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"tmpl","room":"r9"}')
        assert json.loads(await recv(ws)) == {"ok": True}
        await ws.close()
    run(go())
    got = be.wait_for(lambda r: r)[0]["json"]
    assert got["room"] == "r9" and got["stage"] == "dev"
    assert re.fullmatch(ID, got["cid"])


def test_many_messages_in_flight(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, r["body"]))
    cfg = minimal_config()
    add_route(cfg, "$default", {"integrationId": "e", "integrationType": "HTTP_PROXY",
                                "integrationUri": be.url("/e")})
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        sent = [f'{{"n":{i}}}' for i in range(200)]
        for m in sent:
            await ws.send(m)
        got = [await recv(ws) for _ in sent]
        assert sorted(got) == sorted(sent)
        await ws.close()
    run(go())


@pytest.mark.parametrize("n", [1, 5])
def test_concurrent_clients(gateway_factory, n):
    gw = gateway_factory(chat_config())

    async def one(i):
        ws = await connect(gw.url())
        for k in range(20):
            await ws.send(f'{{"action":"x","i":{i},"k":{k}}}')
            assert await recv(ws) == f'default:{{"action":"x","i":{i},"k":{k}}}'
        await ws.close()

    async def go():
        await asyncio.gather(*(one(i) for i in range(n * 10)))
    run(go())
