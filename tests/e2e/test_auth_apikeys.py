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


def usage_key_authorizer(backend_factory):
    """An http authorizer that names the caller's API key (usageIdentifierKey) by token."""
    calls = []

    def auth(req):
        ev = req["json"]
        calls.append(ev)
        tok = (ev.get("queryStringParameters") or {}).get("token") or \
            (ev.get("headers") or {}).get("Authorization")  # 1.0 events keep the case
        out = {"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]}}
        key = {"a": K1, "b": K2}.get(tok)
        if key:
            out["usageIdentifierKey"] = key
        return 200, {}, json.dumps(out)

    return backend_factory(auth), calls


def test_key_from_the_authorizer_on_connect(gateway_factory, backend_factory):
    b, calls = usage_key_authorizer(backend_factory)
    cfg = ws_cfg({})
    api = cfg["apis"][0]
    api["apiKeySelectionExpression"] = "$context.authorizer.usageIdentifierKey"
    api["authorizers"] = [{"name": "a", "authorizerId": "a", "authorizerType": "REQUEST",
                           "authorizerUri": b.url("/auth"), "authorizerResultTtlInSeconds": 60,
                           "identitySource": ["route.request.querystring.token"]}]
    api["routes"][0].update(authorizationType="CUSTOM", authorizerId="a")
    gw = gateway_factory(cfg)
    st = lambda q, h=None: raw_upgrade(gw.port, "/dev?" + q, h)[0]
    assert st("token=a") == 101
    assert st("token=a") == 101  # the cached verdict keeps the key
    assert len(calls) == 1
    assert st("token=b") == 403  # a key in no plan of this stage
    assert st("token=c") == 403  # no key named
    assert st("token=c", {"x-api-key": K1}) == 403  # the header does not count here


def test_key_from_the_authorizer_on_http(gateway_factory, backend_factory):
    b, calls = usage_key_authorizer(backend_factory)
    pets = route("GET /pets", "m")
    pets.update(apiKeyRequired=True, authorizationType="CUSTOM", authorizerId="a")
    api = http_api([mock("m")], [pets])
    api["apiKeySelectionExpression"] = "$context.authorizer.usageIdentifierKey"
    api["authorizers"] = [{"name": "a", "authorizerId": "a", "authorizerType": "REQUEST",
                           "authorizerUri": b.url("/auth"),
                           "authorizerPayloadFormatVersion": "1.0",
                           "identitySource": ["$request.header.Authorization"]}]
    cfg = http_config(api)
    cfg["apiKeys"] = keys()
    cfg["usagePlans"] = [{"name": "p", "apiKeys": ["k1"],
                          "apiStages": [{"apiId": "httpapi001", "stage": "$default"}]}]
    gw = gateway_factory(cfg)
    assert request(gw.port, "GET", "/pets", {"Authorization": "a"}).status == 200
    assert request(gw.port, "GET", "/pets", {"Authorization": "a"}).status == 200  # cached
    assert len(calls) == 1
    assert request(gw.port, "GET", "/pets", {"Authorization": "b"}).status == 403
