"""opsutil.py: helpers for the operations tests: admin API calls, /metrics parsing, a scenario API."""
import json
import socket
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import SLOW, minimal_config
from test_messages import add_route, mock


def admin(gw, path, method="GET", token=None, headers=None, raw=False):
    """Calls the admin port; returns (status, headers, body: parsed JSON unless raw)."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(f"http://127.0.0.1:{gw.admin_port}{path}", method=method,
                                 headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            status, hdrs, body = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, body = e.code, dict(e.headers), e.read()
    if raw:
        return status, hdrs, body
    return status, hdrs, json.loads(body) if body else None


def scrape(gw, token=None):
    """GET /metrics parsed by prometheus_client's own text parser.

    Returns {family name: family}, and the raw text. Counter families are named without
    "_total" by the parser (their samples keep it)."""
    status, hdrs, body = admin(gw, "/metrics", token=token, raw=True)
    assert status == 200, body
    assert hdrs["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return fams, text


def value(fams, family, sample=None, **labels):
    """The value of the one sample of `family` whose labels are exactly `labels`."""
    fam = fams[family]
    name = sample or (family + "_total" if fam.type == "counter" else family)
    hits = [s.value for s in fam.samples if s.name == name and s.labels == labels]
    assert len(hits) == 1, f"{name}{labels}: {[(s.name, s.labels) for s in fam.samples]}"
    return hits[0]


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scenario_config(be, access_log=None):
    """One API, two stages. dev has detailedMetricsEnabled on route "echo"; prod has none.

    $connect and $disconnect go to the backend (HTTP_PROXY: $connect is refused with 403 when
    the client sends X-Deny), "echo" is a two-way MOCK, "fail" a two-way HTTP_PROXY whose
    backend answers 500, "down" a one-way HTTP_PROXY to a closed port. There is no $default
    route, so an unknown action gets the Forbidden error frame."""
    cfg = minimal_config()
    api = cfg["apis"][0]
    api["integrations"].append({"integrationId": "connect", "integrationType": "HTTP_PROXY",
                                "integrationUri": be.url("/connect")})
    api["integrations"].append({"integrationId": "disconnect", "integrationType": "HTTP_PROXY",
                                "integrationUri": be.url("/disconnect")})
    api["routes"].append({"routeKey": "$connect", "target": "integrations/connect"})
    api["routes"].append({"routeKey": "$disconnect", "target": "integrations/disconnect"})
    add_route(cfg, "echo", mock("echo", "$input.body"))
    add_route(cfg, "fail", {"integrationId": "fail", "integrationType": "HTTP_PROXY",
                            "integrationUri": be.url("/fail")})
    add_route(cfg, "down", {"integrationId": "down", "integrationType": "HTTP_PROXY",
                            "integrationUri": f"http://127.0.0.1:{dead_port()}/x"},
              two_way=False)
    api["stages"] = [
        {"stageName": "dev", "routeSettings": {"echo": {"detailedMetricsEnabled": True}}},
        {"stageName": "prod"},
    ]
    if access_log:
        for st, settings in zip(api["stages"], access_log):
            if settings is not None:
                st["accessLogSettings"] = settings
    return cfg


def scenario_backend(req):
    """The backend of scenario_config."""
    hdr = {k.lower(): v for k, v in req["headers"]}
    if req["path"] == "/connect":
        if "x-deny" in hdr:
            return 403, {"Content-Type": "application/json"}, '{"message":"denied"}'
        return 200, {}, ""
    if req["path"] == "/fail":
        return 500, {"Content-Type": "text/plain"}, "backend failed"
    return 200, {}, ""


def wait_until(pred, timeout=5.0, what="condition"):
    deadline = time.time() + timeout * SLOW
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def await_until(pred, timeout=5.0, what="condition"):
    """wait_until for coroutines: the event loop keeps running (clients answer closes)."""
    import asyncio
    deadline = time.time() + timeout * SLOW
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
