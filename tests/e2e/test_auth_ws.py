"""test_auth_ws.py: Lambda REQUEST authorizers on WebSocket $connect (issue 7, spec 2.5).

The authorizer and the route handlers are Lambda functions behind a Lambda Invoke API that the
test serves itself (Backend, at server.aws.lambdaEndpoint): Portico signs and POSTs
/2015-03-31/functions/{name}/invocations exactly as it would to AWS, and the test answers what
a Node handler would (a policy, or a function error "Unauthorized")."""
import json
import time

import pytest

from conftest import SLOW, minimal_config, raw_upgrade
from wsutil import connect, recv, run

ARN_PREFIX = "arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/"


def fn_arn(name):
    fn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn}/invocations"


def policy(effect, resource, principal="user-1", context=None):
    out = {"principalId": principal,
           "policyDocument": {"Version": "2012-10-17",
                              "Statement": [{"Action": "execute-api:Invoke", "Effect": effect,
                                             "Resource": resource}]}}
    if context is not None:
        out["context"] = context
    return out


class Lambdas:
    """The Invoke API: function "auth" (the authorizer) and "handler" (every route)."""

    def __init__(self, backend_factory):
        self.auth_events = []
        self.events = []
        self.backend = backend_factory(self.handle)

    def handle(self, req):
        name = req["path"].split("/functions/")[1].split("/")[0]
        ev = req["json"]
        if name == "handler":
            self.events.append(ev)
            if ev["requestContext"]["eventType"] == "MESSAGE":
                return 200, {}, json.dumps({"statusCode": 200, "body": json.dumps(
                    ev["requestContext"].get("authorizer"))})
            return 200, {}, json.dumps({"statusCode": 200})
        self.auth_events.append(ev)
        token = (ev.get("queryStringParameters") or {}).get("token") or \
            (ev.get("headers") or {}).get("Auth")
        ctx = {"userId": "u-" + str(token), "n": 5, "admin": True}
        if token in ("good", "good2"):
            return 200, {}, json.dumps(policy("Allow", ev["methodArn"], context=ctx))
        if token == "wild":
            return 200, {}, json.dumps(policy("Allow", ARN_PREFIX + "*", context=ctx))
        if token == "deny":
            return 200, {}, json.dumps(policy("Deny", ev["methodArn"]))
        if token == "elsewhere":
            return 200, {}, json.dumps(policy("Allow", ARN_PREFIX + "sendmessage"))
        if token == "unauth":
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(
                {"errorMessage": "Unauthorized", "errorType": "Error"})
        if token == "crash":
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(
                {"errorMessage": "boom", "errorType": "TypeError"})
        if token == "badctx":
            return 200, {}, json.dumps(policy("Allow", ev["methodArn"], context={"a": {"b": 1}}))
        return 200, {}, "not json"

    def authorizer_calls(self):
        return len(self.auth_events)


def config(lambdas, identity=("route.request.querystring.token",), ttl=None, uri=None):
    cfg = minimal_config()
    cfg["server"]["aws"] = {"accessKeyId": "AKIDINVOKE", "secretAccessKey": "invoke/secret",
                            "lambdaEndpoint": lambdas.backend.url()}
    api = cfg["apis"][0]
    az = {"name": "tokenauth", "authorizerId": "az1", "authorizerType": "REQUEST",
          "authorizerUri": uri or fn_arn("auth"), "identitySource": list(identity)}
    if ttl is not None:
        az["authorizerResultTtlInSeconds"] = ttl
    api["authorizers"] = [az]
    api["integrations"] = [{"integrationId": "h", "integrationType": "AWS_PROXY",
                            "integrationUri": fn_arn("handler")}]
    api["routes"] = [
        {"routeKey": "$connect", "target": "integrations/h", "authorizationType": "CUSTOM",
         "authorizerId": "az1"},
        {"routeKey": "$default", "target": "integrations/h", "routeResponseSelectionExpression":
         "$default", "routeResponses": [{"routeResponseKey": "$default"}]},
        {"routeKey": "$disconnect", "target": "integrations/h"},
    ]
    return cfg


@pytest.fixture
def lambdas(backend_factory):
    return Lambdas(backend_factory)


def status_of(gw, query="", headers=None):
    st, _, body = raw_upgrade(gw.port, "/dev" + (f"?{query}" if query else ""), headers)
    return st, body


def test_allowed_connection_carries_the_authorizer_context_in_every_event(gateway_factory,
                                                                          lambdas):
    gw = gateway_factory(config(lambdas))

    async def go():
        ws = await connect(gw.url(query="token=good"))
        await ws.send(json.dumps({"action": "hello"}))
        seen = json.loads(await recv(ws))
        await ws.close()
        return seen

    seen = run(go())
    want = {"principalId": "user-1", "userId": "u-good", "n": "5", "admin": "true"}
    # The message handler's event carried it (echoed back in its result).
    assert seen == want
    lambdas.backend.wait_for(lambda rs: len(lambdas.events) >= 3)
    kinds = [e["requestContext"]["eventType"] for e in lambdas.events]
    assert kinds == ["CONNECT", "MESSAGE", "DISCONNECT"]
    for e in lambdas.events:
        assert e["requestContext"]["authorizer"] == want, e
    # The authorizer's event (spec 2.5).
    [ev] = lambdas.auth_events
    assert ev["type"] == "REQUEST"
    assert ev["methodArn"] == ARN_PREFIX + "$connect"
    assert ev["queryStringParameters"] == {"token": "good"}
    assert ev["multiValueQueryStringParameters"] == {"token": ["good"]}
    assert ev["stageVariables"] == {}
    assert ev["requestContext"]["eventType"] == "CONNECT"
    assert ev["requestContext"]["routeKey"] == "$connect"
    assert "Host" in ev["headers"]


@pytest.mark.parametrize("token,status,message", [
    ("deny", 403, "Forbidden"),
    ("elsewhere", 403, "Forbidden"),
    ("unauth", 401, "Unauthorized"),
    ("crash", 500, "Internal Server Error"),
    ("badctx", 500, "Internal Server Error"),
    ("garbage", 500, "Internal Server Error"),
])
def test_refusals(gateway_factory, lambdas, token, status, message):
    gw = gateway_factory(config(lambdas))
    st, body = status_of(gw, f"token={token}")
    assert st == status
    assert json.loads(body) == {"message": message}
    assert lambdas.authorizer_calls() == 1
    assert lambdas.events == []  # $connect never ran


def test_missing_identity_source_is_401_without_calling(gateway_factory, lambdas):
    gw = gateway_factory(config(lambdas, identity=("route.request.querystring.token",
                                                   "route.request.header.Auth")))
    for q, h in [("", None), ("token=good", None), ("token=", {"Auth": "x"}),
                 ("", {"Auth": "good"})]:
        st, body = status_of(gw, q, h)
        assert (st, json.loads(body)) == (401, {"message": "Unauthorized"}), (q, h)
    assert lambdas.authorizer_calls() == 0
    st, _ = status_of(gw, "token=good", {"Auth": "good"})
    assert st == 101
    assert lambdas.authorizer_calls() == 1


def test_wildcard_policy_and_header_identity(gateway_factory, lambdas):
    gw = gateway_factory(config(lambdas, identity=("route.request.header.Auth",)))
    st, _ = status_of(gw, headers={"Auth": "wild"})
    assert st == 101


def test_results_are_cached_by_identity(gateway_factory, lambdas):
    gw = gateway_factory(config(lambdas, ttl=300))
    for _ in range(5):
        assert status_of(gw, "token=good")[0] == 101
    assert lambdas.authorizer_calls() == 1
    for _ in range(3):
        assert status_of(gw, "token=deny")[0] == 403  # a Deny is a verdict: cached too
    assert lambdas.authorizer_calls() == 2
    for _ in range(3):
        assert status_of(gw, "token=unauth")[0] == 401  # not cached: asked each time
    assert lambdas.authorizer_calls() == 5
    assert status_of(gw, "token=good2")[0] == 101
    assert lambdas.authorizer_calls() == 6

    # A cached allow still gives later events the authorizer's context.
    async def go():
        ws = await connect(gw.url(query="token=good"))
        await ws.send("{}")
        seen = json.loads(await recv(ws))
        await ws.close()
        return seen

    assert run(go())["userId"] == "u-good"
    assert lambdas.authorizer_calls() == 6


def test_cache_expires(gateway_factory, lambdas):
    gw = gateway_factory(config(lambdas, ttl=1))
    assert status_of(gw, "token=good")[0] == 101
    assert status_of(gw, "token=good")[0] == 101
    assert lambdas.authorizer_calls() == 1
    time.sleep(1.2)
    assert status_of(gw, "token=good")[0] == 101
    assert lambdas.authorizer_calls() == 2


def test_websocket_default_is_no_cache(gateway_factory, lambdas):
    """AWS runs WebSocket authorizers on every connect; the TTL is opt-in (docs/security.md)."""
    gw = gateway_factory(config(lambdas))
    for _ in range(3):
        assert status_of(gw, "token=good")[0] == 101
    assert lambdas.authorizer_calls() == 3


def test_http_url_authorizer(gateway_factory, lambdas, backend_factory):
    """An authorizerUri that is an http(s) URL gets the event as a JSON POST."""
    seen = []

    def auth(req):
        seen.append(req)
        ev = req["json"]
        ok = ev["queryStringParameters"].get("token") == "good"
        if not ok:
            return 401, {}, "{}"
        return 200, {}, json.dumps(policy("Allow", ev["methodArn"], principal="web"))

    b = backend_factory(auth)
    gw = gateway_factory(config(lambdas, uri=b.url("/authorize")))
    assert status_of(gw, "token=good")[0] == 101
    assert status_of(gw, "token=nope") == (401, b'{"message":"Unauthorized"}')
    assert [r["path"] for r in seen] == ["/authorize", "/authorize"]
    assert seen[0]["json"]["type"] == "REQUEST"


def test_unreachable_authorizer_is_500(gateway_factory, lambdas):
    cfg = config(lambdas, uri="http://127.0.0.1:9/authorize")
    gw = gateway_factory(cfg)
    st, body = status_of(gw, "token=good")
    assert st == 500
    assert lambdas.events == []


def test_config_checks(gateway_factory, lambdas, tmp_path):
    import subprocess
    from conftest import BIN
    cfg = config(lambdas)
    cfg["apis"][0]["routes"][0]["authorizerId"] = "nope"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg, indent=1))
    r = subprocess.run([BIN, "--config", str(p), "--test-config"], capture_output=True,
                       text=True, timeout=10 * SLOW)
    assert r.returncode == 2
    assert 'authorizer "nope" does not exist' in r.stderr + r.stdout
