"""test_ops_metrics.py: /metrics after a scripted sequence: exact values, parsed by prometheus_client."""
import asyncio
import json

import botocore.exceptions
import pytest

from conftest import raw_upgrade
from opsutil import admin, scenario_backend, scenario_config, scrape, value, wait_until
from test_callback import AK, REGION, SK, mgmt
from wsutil import RawWS, connect, recv, run, wait_closed

API = "abcdef1234"
DEV = {"api_id": API, "stage": "dev"}
PROD = {"api_id": API, "stage": "prod"}
ECHO = dict(DEV, route="echo")


def scenario_gateway(gateway_factory, backend_factory, **server):
    be = backend_factory(scenario_backend)
    cfg = scenario_config(be)
    cfg["server"]["region"] = REGION
    cfg["server"]["credentials"] = [{"accessKeyId": AK, "secretAccessKey": SK}]
    cfg["server"].update(server)
    return gateway_factory(cfg), be


async def scripted_sequence(gw, be):
    """Connects, messages, errors, pushes and disconnects, each counted by hand below."""
    a = await connect(gw.url("dev"))
    _, _, body = admin(gw, "/connections")
    a_id = body["items"][0]["connectionId"]
    b = await connect(gw.url("dev"))
    c = await connect(gw.url("dev"))
    d = await connect(gw.url("prod"))
    status, _, _ = raw_upgrade(gw.port, "/dev", {"X-Deny": "1"})
    assert status == 403  # the $connect backend refused it
    for i in range(3):
        await a.send(json.dumps({"action": "echo", "n": i}))
        assert json.loads(await recv(a))["n"] == i
    await a.send('{"action":"fail"}')  # backend 500; a two-way proxy returns its body
    assert await recv(a) == "backend failed"
    for _ in range(2):
        await b.send('{"action":"down"}')  # unreachable backend: the error frame
        assert "Internal server error" in await recv(b)
    for _ in range(2):
        await c.send('{"action":"nope"}')  # no route and no $default: Forbidden
        assert "Forbidden" in await recv(c)
    await d.send('{"action":"echo"}')
    assert await recv(d) == '{"action":"echo"}'
    await c.send(b"\x00binary")  # refused by the gateway: close 1003
    assert (await wait_closed(c))[0] == 1003
    cli = mgmt(gw)
    await asyncio.to_thread(cli.post_to_connection, ConnectionId=a_id, Data=b"pushed")
    assert await recv(a) == "pushed"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        await asyncio.to_thread(cli.post_to_connection, ConnectionId="AAAAAAAAAAAAAAA=",
                                Data=b"x")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    await asyncio.to_thread(cli.get_connection, ConnectionId=a_id)
    await b.close()
    # $disconnect ran for b and c: wait for the backend, then for the results to be counted.
    be.wait_for(lambda rs: sum(r["path"] == "/disconnect" for r in rs) == 2)
    return a, d


def test_metric_values_after_a_scripted_sequence(gateway_factory, backend_factory):
    gw, be = scenario_gateway(gateway_factory, backend_factory)
    fams, text = scrape(gw)
    assert value(fams, "portico_connections", **DEV) == 0
    assert value(fams, "portico_connect_count", **DEV) == 0
    # detailedMetricsEnabled: "echo" has its own series in dev, and only there.
    assert value(fams, "portico_message_count", **ECHO) == 0
    assert 'stage="prod",route=' not in text

    async def go():
        a, d = await scripted_sequence(gw, be)
        wait_until(lambda: value(scrape(gw)[0], "portico_integration_latency_seconds",
                                 "portico_integration_latency_seconds_count", **DEV) == 9,
                   what="the $disconnect results")
        fams, _ = scrape(gw)
        # Open connections: a on dev, d on prod.
        assert value(fams, "portico_connections", **DEV) == 1
        assert value(fams, "portico_connections", **PROD) == 1
        # ConnectCount: a, b, c and the refused one on dev; d on prod.
        assert value(fams, "portico_connect_count", **DEV) == 4
        assert value(fams, "portico_connect_count", **PROD) == 1
        # MessageCount, both directions. dev in: 3 echo + fail + 2 down + 2 unmatched; out:
        # 3 echo + the fail body + 2 error frames + 2 Forbidden frames + the push. The 3 echo
        # messages in are on the detailed route's own series, the rest on the stage's.
        assert value(fams, "portico_message_count", **ECHO) == 3
        assert value(fams, "portico_message_count", **DEV) == 8 + 9 - 3
        assert value(fams, "portico_message_count", **PROD) == 2
        # ClientError: 2 unmatched + the binary frame. IntegrationError: the 403 of $connect
        # and the 500 of "fail". ExecutionError: the 2 unreachable calls.
        assert value(fams, "portico_client_error", **DEV) == 3
        assert value(fams, "portico_integration_error", **DEV) == 2
        assert value(fams, "portico_execution_error", **DEV) == 2
        for f in ("portico_client_error", "portico_integration_error",
                  "portico_execution_error"):
            assert value(fams, f, **PROD) == 0
            assert value(fams, f, **ECHO) == 0
        # IntegrationLatency: 4 $connect + fail + 2 down + 2 $disconnect on dev (MOCK: none).
        lat = "portico_integration_latency_seconds"
        assert value(fams, lat, lat + "_count", **DEV) == 9
        assert value(fams, lat, lat + "_count", **PROD) == 1
        assert value(fams, lat, lat + "_count", **ECHO) == 0
        assert value(fams, lat, lat + "_bucket", le="+Inf", **DEV) == 9
        assert 0 < value(fams, lat, lat + "_sum", **DEV) < 9 * 5
        # @connections by outcome.
        mg = "portico_management_api_requests"
        assert value(fams, mg, operation="PostToConnection", code="200") == 1
        assert value(fams, mg, operation="PostToConnection", code="410") == 1
        assert value(fams, mg, operation="GetConnection", code="200") == 1
        assert value(fams, mg, operation="DeleteConnection", code="204") == 0
        assert value(fams, "portico_outbound_dropped", **DEV) == 0
        # The registry agrees with the gauge.
        assert value(fams, "portico_registry_connections") == 2
        _, _, stats = admin(gw, "/stats")
        assert stats["connections"] == {"open": 2, "registry": 2}
        dev = stats["apis"][0]["stages"][0]
        assert (dev["connects"], dev["messagesIn"], dev["messagesOut"]) == (4, 8, 9)
        assert (dev["clientErrors"], dev["integrationErrors"], dev["executionErrors"]) == (3, 2, 2)
        await a.close()
        await d.close()
        wait_until(lambda: value(scrape(gw)[0], "portico_connections", **DEV) == 0,
                   what="the gauge to drop")
    run(go())


def test_exposition_is_valid_and_typed(gateway_factory, backend_factory):
    gw, be = scenario_gateway(gateway_factory, backend_factory)
    run(scripted_sequence(gw, be))
    fams, text = scrape(gw)
    types = {n: f.type for n, f in fams.items()}
    for name, t in {
        "portico_connections": "gauge", "portico_connect_count": "counter",
        "portico_message_count": "counter", "portico_client_error": "counter",
        "portico_integration_error": "counter", "portico_execution_error": "counter",
        "portico_integration_latency_seconds": "histogram", "portico_count": "counter",
        "portico_4xx_error": "counter", "portico_5xx_error": "counter",
        "portico_latency_seconds": "histogram", "portico_outbound_dropped": "counter",
        "portico_management_api_requests": "counter",
        "portico_worker_loop_lag_seconds": "histogram",
        "portico_access_log_lines": "counter", "portico_access_log_dropped_lines": "counter",
        "portico_registry_connections": "gauge", "portico_integrations_inflight": "gauge",
        "process_resident_memory_bytes": "gauge", "process_open_fds": "gauge",
        "process_cpu_seconds": "counter", "portico_build_info": "gauge",
    }.items():
        assert types.get(name) == t, (name, types.get(name))
    # Histograms: cumulative buckets ending in +Inf == _count.
    for f in fams.values():
        if f.type != "histogram":
            continue
        series = {}
        for s in f.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(key, {"b": [], "count": None})
            if s.name.endswith("_bucket"):
                series[key]["b"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[key]["count"] = s.value
        for key, v in series.items():
            counts = [c for _, c in sorted(v["b"])]
            assert counts == sorted(counts), (f.name, key)
            assert sorted(v["b"])[-1][0] == float("inf")
            assert counts[-1] == v["count"]
    # Worker loop lag: one series per worker, and the workers have turned.
    lag = fams["portico_worker_loop_lag_seconds"]
    workers = {s.labels["worker"] for s in lag.samples}
    assert workers == {"0", "1"}
    assert sum(s.value for s in lag.samples if s.name.endswith("_count")) > 0
    assert value(fams, "process_resident_memory_bytes") > 1 << 20
    assert value(fams, "process_open_fds") > 5
    # Every line is a comment or a sample; no label value breaks a line.
    for ln in text.splitlines():
        assert ln.startswith("# HELP ") or ln.startswith("# TYPE ") or ln.startswith(
            ("portico_", "process_")), ln


def test_kick_and_queue_drops_are_counted(gateway_factory, backend_factory):
    gw, be = scenario_gateway(gateway_factory, backend_factory,
                              limits={"outboundQueueMessages": 1})
    raw = RawWS(gw.port, "/dev")  # a client that never reads
    assert raw.status == 101
    _, _, body = admin(gw, "/connections")
    cid = body["items"][0]["connectionId"]
    cli = mgmt(gw)
    # Once the kernel's buffers are full, one message waits in the gateway's queue and the
    # next push is refused (429).
    big = b"x" * 60000
    refused = 0
    for _ in range(300):
        try:
            cli.post_to_connection(ConnectionId=cid, Data=big)
        except botocore.exceptions.ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            refused += 1
            break
    assert refused == 1
    fams, _ = scrape(gw)
    assert value(fams, "portico_outbound_dropped", **DEV) == 1
    assert value(fams, "portico_management_api_requests", operation="PostToConnection",
                 code="429") == 1
    # An admin kick is not an @connections call.
    st, _, _ = admin(gw, f"/connections/{cid}", method="DELETE")
    assert st == 200
    # The client never reads, so it never answers the close frame: the gateway drops it when
    # its 5 s close-handshake wait runs out, hence more than wait_until's default 5 s here.
    wait_until(lambda: value(scrape(gw)[0], "portico_connections", **DEV) == 0, timeout=10)
    fams, _ = scrape(gw)
    assert value(fams, "portico_management_api_requests", operation="DeleteConnection",
                 code="204") == 0
    raw.s.close()


def test_http_api_metrics_and_access_log(gateway_factory, backend_factory, tmp_path):
    """Count, 4XXError, 5XXError, Latency and IntegrationLatency for an HTTP API (rest.c)."""
    import urllib.error
    import urllib.request

    from restutil import config, http_api, proxy

    be = backend_factory(lambda r: (503, {}, "down") if r["path"] == "/boom" else (200, {}, "ok"))
    log = tmp_path / "http-access.log"
    api = http_api(
        integrations=[proxy("ok", be.url("/ok")), proxy("boom", be.url("/boom"))],
        routes=[{"routeKey": "GET /ok", "target": "integrations/ok"},
                {"routeKey": "GET /boom", "target": "integrations/boom"}],
        stages=[{"stageName": "$default",
                 "routeSettings": {"GET /ok": {"detailedMetricsEnabled": True}},
                 "accessLogSettings": {
                     "destinationArn": str(log),
                     "format": "$context.requestId $context.httpMethod $context.path "
                               "$context.routeKey $context.status $context.protocol"}}])
    gw = gateway_factory(config(api))

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{gw.port}{path}", timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
    assert [get("/ok") for _ in range(3)] == [200] * 3
    assert [get("/boom") for _ in range(2)] == [503] * 2
    assert get("/nothing-here") == 404
    fams, _ = scrape(gw)
    st = {"api_id": "httpapi001", "stage": "$default"}
    ok = dict(st, route="GET /ok")
    assert value(fams, "portico_count", **ok) == 3
    assert value(fams, "portico_count", **st) == 3  # /boom twice and the unmatched one
    assert value(fams, "portico_4xx_error", **st) == 1
    assert value(fams, "portico_5xx_error", **st) == 2
    assert value(fams, "portico_5xx_error", **ok) == 0
    assert value(fams, "portico_latency_seconds", "portico_latency_seconds_count", **ok) == 3
    assert value(fams, "portico_integration_latency_seconds",
                 "portico_integration_latency_seconds_count", **st) == 2
    assert value(fams, "portico_integration_error", **st) == 2
    assert "portico_connections{api_id=\"httpapi001\"" not in _
    lines = wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 6 and
                       log.read_text().splitlines(), what="6 access-log lines")
    got = sorted(ln.split(" ", 1)[1] for ln in lines)
    assert got == sorted(["GET /ok GET /ok 200 HTTP/1.1"] * 3 +
                         ["GET /boom GET /boom 503 HTTP/1.1"] * 2 +
                         ["GET /nothing-here - 404 HTTP/1.1"]), got
