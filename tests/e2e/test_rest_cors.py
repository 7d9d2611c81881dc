"""test_rest_cors.py: CORS of HTTP APIs (corsConfiguration): preflights answered by the gateway,
headers on actual responses, the integration's own CORS headers ignored, and a real browser
(headless Chromium) calling the API with fetch() from a page on another origin."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SLOW
from restutil import Conn, config, http_api, mock, proxy, request, route

ORIGIN = "http://app.example.com"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DRIVER = ROOT / "tests" / "e2e" / "node" / "cors_fetch.mjs"


def cors_backend(backend_factory):
    """An integration that sets CORS headers of its own (the gateway must drop them)."""
    return backend_factory(lambda req: (200, {"Content-Type": "text/plain",
                                              "Access-Control-Allow-Origin": "*",
                                              "X-Request-Id": "b-1", "X-Secret": "s"},
                                        "data:" + req["method"]))


def cors_config(b, cors):
    return config(http_api([proxy("p", b.url("/{proxy}")), mock("m", 201, "mocked")],
                           [route("ANY /api/{proxy+}", "p"), route("GET /mock", "m"),
                            route("OPTIONS /opt", "m")],
                           cors=cors))


CORS = {"allowOrigins": [ORIGIN], "allowMethods": ["GET", "POST", "PUT"],
        "allowHeaders": ["content-type", "x-api-key"], "exposeHeaders": ["x-request-id"],
        "maxAge": 600}


def test_preflight_answered_by_the_gateway(gateway_factory, backend_factory):
    b = cors_backend(backend_factory)
    gw = gateway_factory(cors_config(b, CORS))
    for path in ("/api/x", "/nowhere", "/opt"):  # with or without a route, an OPTIONS one too
        r = request(gw.port, "OPTIONS", path, [("Origin", ORIGIN),
                                              ("Access-Control-Request-Method", "PUT"),
                                              ("Access-Control-Request-Headers", "x-api-key")])
        assert r.status == 204 and r.body == b"", r
        assert r.header("access-control-allow-origin") == ORIGIN
        assert r.header("access-control-allow-methods") == "GET,POST,PUT"
        assert r.header("access-control-allow-headers") == "content-type,x-api-key"
        assert r.header("access-control-max-age") == "600"
        assert r.header("vary") == "Origin"
        assert r.header("access-control-allow-credentials") is None
        assert r.header("apigw-requestid") and r.header("x-amzn-RequestId")
    assert b.requests == []  # no preflight reached the integration
    # Another origin: 204, no CORS headers.
    r = request(gw.port, "OPTIONS", "/api/x", [("Origin", "http://evil.example"),
                                              ("Access-Control-Request-Method", "PUT")])
    assert r.status == 204 and r.header("access-control-allow-origin") is None
    # An OPTIONS without Access-Control-Request-Method is no preflight: it is routed.
    r = request(gw.port, "OPTIONS", "/opt", [("Origin", ORIGIN)])
    assert r.status == 201 and r.body == b"mocked"
    assert r.header("access-control-allow-origin") == ORIGIN


def test_actual_requests_get_cors_headers(gateway_factory, backend_factory):
    b = cors_backend(backend_factory)
    gw = gateway_factory(cors_config(b, CORS))
    r = request(gw.port, "POST", "/api/x", [("Origin", ORIGIN)], b"{}")
    assert r.status == 200 and r.body == b"data:POST"
    assert r.all("access-control-allow-origin") == [ORIGIN]  # the backend's "*" is gone
    assert r.header("access-control-expose-headers") == "x-request-id"
    assert r.header("vary") == "Origin"
    # MOCK and gateway errors carry them too, so a browser can read the error.
    r = request(gw.port, "GET", "/mock", [("Origin", ORIGIN)])
    assert r.status == 201 and r.header("access-control-allow-origin") == ORIGIN
    r = request(gw.port, "GET", "/missing", [("Origin", ORIGIN)])
    assert r.status == 404 and r.header("access-control-allow-origin") == ORIGIN
    # Without Origin, or from another origin: no CORS headers at all.
    for hdrs in ([], [("Origin", "http://evil.example")]):
        r = request(gw.port, "GET", "/api/x", hdrs)
        assert r.status == 200
        assert not [k for k, _ in r.headers if k.lower().startswith("access-control-")], r


def test_without_cors_configuration_nothing_changes(gateway_factory, backend_factory):
    b = cors_backend(backend_factory)
    gw = gateway_factory(cors_config(b, None))
    r = request(gw.port, "OPTIONS", "/opt", [("Origin", ORIGIN),
                                            ("Access-Control-Request-Method", "PUT")])
    assert r.status == 201 and r.body == b"mocked"  # routed like any request
    assert r.header("access-control-allow-origin") is None
    r = request(gw.port, "GET", "/api/x", [("Origin", ORIGIN)])
    assert r.header("access-control-allow-origin") == "*"  # the backend's own, untouched
    r = request(gw.port, "OPTIONS", "/nowhere", [("Origin", ORIGIN),
                                                ("Access-Control-Request-Method", "PUT")])
    assert r.status == 404


def test_wildcards_and_credentials(gateway_factory, backend_factory):
    b = cors_backend(backend_factory)
    gw = gateway_factory(cors_config(b, {"allowOrigins": ["*"], "allowMethods": ["*"],
                                         "allowHeaders": ["*"]}))
    r = request(gw.port, "OPTIONS", "/api/x", [("Origin", "http://any.where"),
                                              ("Access-Control-Request-Method", "DELETE")])
    assert r.header("access-control-allow-origin") == "*"
    assert r.header("access-control-allow-methods") == "*"
    assert r.header("access-control-allow-headers") == "*"
    gw2 = gateway_factory(cors_config(b, {"allowOrigins": ["http://*"], "allowMethods": ["*"],
                                          "allowHeaders": ["*"], "allowCredentials": True}))
    r = request(gw2.port, "OPTIONS", "/api/x", [("Origin", "http://any.where"),
                                               ("Access-Control-Request-Method", "DELETE"),
                                               ("Access-Control-Request-Headers", "x-a, x-b")])
    assert r.header("access-control-allow-origin") == "http://any.where"
    assert r.header("access-control-allow-credentials") == "true"
    assert r.header("access-control-allow-methods") == "DELETE"
    assert r.header("access-control-allow-headers") == "x-a, x-b"
    r = request(gw2.port, "OPTIONS", "/api/x", [("Origin", "https://tls.only"),
                                               ("Access-Control-Request-Method", "GET")])
    assert r.header("access-control-allow-origin") is None  # only http:// origins


# ---- a real browser ---------------------------------------------------------------------------

needs_browser = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("node") and
         (ROOT / "tests" / "node_modules" / "playwright-core").exists()),
    reason="needs chromium, node and playwright-core (scripts/deps.sh test)")


def page_server(backend_factory):
    return backend_factory(lambda req: (200, {"Content-Type": "text/html"},
                                        "<!doctype html><title>app</title>"))


def browser(page, cases):
    p = subprocess.run(["node", str(DRIVER), json.dumps({"page": page, "cases": cases})],
                       capture_output=True, text=True, timeout=120 * SLOW)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    return {r["name"]: r for r in out["results"]}


@needs_browser
def test_chromium_fetch_across_origins(gateway_factory, backend_factory):
    app = page_server(backend_factory)
    other = page_server(backend_factory)
    b = cors_backend(backend_factory)
    app_origin = f"http://127.0.0.1:{app.port}"
    cors = dict(CORS, allowOrigins=[app_origin], allowCredentials=True)
    gw = gateway_factory(cors_config(b, cors))
    api = f"http://127.0.0.1:{gw.port}"
    cases = [
        {"name": "simple", "url": f"{api}/api/a", "expose": ["x-request-id", "x-secret"]},
        {"name": "json-post", "url": f"{api}/api/b",
         "init": {"method": "POST", "headers": {"Content-Type": "application/json"},
                  "body": "{\"a\":1}"}},
        {"name": "put-with-key", "url": f"{api}/api/c",
         "init": {"method": "PUT", "headers": {"X-Api-Key": "k"}, "body": "x"}},
        {"name": "credentials", "url": f"{api}/mock", "init": {"credentials": "include"}},
        {"name": "header-not-allowed", "url": f"{api}/api/d",
         "init": {"headers": {"X-Other": "1"}}},
        {"name": "method-not-allowed", "url": f"{api}/api/e", "init": {"method": "DELETE"}},
        {"name": "error-readable", "url": f"{api}/missing"},
    ]
    got = browser(app_origin + "/", cases)
    assert got["simple"]["ok"] and got["simple"]["status"] == 200, got["simple"]
    assert got["simple"]["body"] == "data:GET"
    assert got["simple"]["headers"] == {"x-request-id": "b-1", "x-secret": None}  # exposed only
    assert got["json-post"]["ok"] and got["json-post"]["body"] == "data:POST", got["json-post"]
    assert got["put-with-key"]["ok"] and got["put-with-key"]["body"] == "data:PUT"
    assert got["credentials"]["ok"] and got["credentials"]["status"] == 201
    assert not got["header-not-allowed"]["ok"]
    assert not got["method-not-allowed"]["ok"]
    assert got["error-readable"]["ok"] and got["error-readable"]["status"] == 404
    assert json.loads(got["error-readable"]["body"]) == {"message": "Not Found"}
    methods = [q["method"] for q in b.requests]
    assert "OPTIONS" not in methods and "DELETE" not in methods  # preflights stayed here
    assert methods.count("PUT") == 1 and methods.count("POST") == 1

    # The same calls from an origin that is not allowed all fail.
    got = browser(f"http://127.0.0.1:{other.port}/", cases[:3])
    assert not any(r["ok"] for r in got.values()), got
