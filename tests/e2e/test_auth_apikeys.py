"""test_auth_apikeys.py: API keys and usage plans (issue 7, spec 2.5): apiKeyRequired on
$connect and on HTTP API routes, x-api-key, 403 for a missing/unknown/disabled key or one in no
plan of the stage, 429 past a plan's throttle or quota, and quotas kept in LMDB across a
restart."""
import json

from conftest import minimal_config, raw_upgrade
from restutil import config as http_config
from restutil import http_api, mock, request, route

K1 = "k1-value-0123456789abcdef"
K2 = "k2-value-not-in-any-plan-000"
K3 = "k3-value-disabled-0000000000"


def keys():
    return [{"name": "one", "id": "k1", "value": K1},
            {"name": "two", "id": "k2", "value": K2},
            {"name": "three", "id": "k3", "value": K3, "enabled": False}]


def ws_cfg(plan):
    cfg = minimal_config()
    cfg["apis"][0]["routes"] = [{"routeKey": "$connect", "apiKeyRequired": True},
                                {"routeKey": "$default"}]
    cfg["apiKeys"] = keys()
    cfg["usagePlans"] = [dict({"name": "basic", "id": "basic",
                               "apiStages": [{"apiId": "abcdef1234", "stage": "dev"}],
                               "apiKeys": ["k1", "three"]}, **plan)]
    return cfg


def up(gw, key=None):
    st, _, body = raw_upgrade(gw.port, "/dev", {"x-api-key": key} if key else None)
    return st, (json.loads(body) if st != 101 else None)


def test_keys_on_connect(gateway_factory):
    gw = gateway_factory(ws_cfg({}))
    assert up(gw) == (403, {"message": "Forbidden"})
    assert up(gw, "not-a-key-at-all-00000000") == (403, {"message": "Forbidden"})
    assert up(gw, K2) == (403, {"message": "Forbidden"})  # valid key, no plan for this stage
    assert up(gw, K3) == (403, {"message": "Forbidden"})  # disabled
    assert up(gw, K1) == (101, None)


def test_plan_throttle(gateway_factory):
    gw = gateway_factory(ws_cfg({"throttle": {"burstLimit": 2, "rateLimit": 0.01}}))
    assert [up(gw, K1)[0] for _ in range(2)] == [101, 101]
    assert up(gw, K1) == (429, {"message": "Too Many Requests"})


def test_quota_survives_a_restart(gateway_factory):
    gw = gateway_factory(ws_cfg({"quota": {"limit": 3, "period": "DAY"}}))
    assert [up(gw, K1)[0] for _ in range(3)] == [101, 101, 101]
    assert up(gw, K1) == (429, {"message": "Limit Exceeded"})
    assert gw.stop() == 0
    gw.start()
    assert up(gw, K1) == (429, {"message": "Limit Exceeded"})


def test_http_route_keys_and_per_route_plan_throttle(gateway_factory):
    pets = route("GET /pets", "m")
    pets["apiKeyRequired"] = True
    cats = route("GET /cats", "m")
    cats["apiKeyRequired"] = True
    api = http_api([mock("m")], [pets, cats, route("GET /open", "m")])
    cfg = http_config(api)
    cfg["apiKeys"] = keys()
    cfg["usagePlans"] = [{"name": "p", "apiKeys": ["k1"], "apiStages": [
        {"apiId": "httpapi001", "stage": "$default",
         "throttle": {"GET /pets": {"burstLimit": 1, "rateLimit": 0.01}}}]}]
    gw = gateway_factory(cfg)
    r = request(gw.port, "GET", "/pets")
    assert (r.status, json.loads(r.body)) == (403, {"message": "Forbidden"})
    assert request(gw.port, "GET", "/pets", {"x-api-key": K1}).status == 200
    r = request(gw.port, "GET", "/pets", {"x-api-key": K1})
    assert (r.status, json.loads(r.body)) == (429, {"message": "Too Many Requests"})
    # the per-route limit is the route's: /cats is not throttled
    assert [request(gw.port, "GET", "/cats", {"x-api-key": K1}).status
            for _ in range(3)] == [200, 200, 200]
    assert request(gw.port, "GET", "/open").status == 200
