"""test_auth_http.py: HTTP API authorizers (issue 7): Lambda REQUEST (payload 1.0/2.0, simple
responses, caching) and JWT (RS256/ES256 against a JWK set fetched over HTTP or read from a
file; exp/nbf/iss/aud; scopes; alg none). Real portico, real Lambda Invoke wire format served by
the test, tokens minted with python3-jwt and keys made by python3-cryptography."""
import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from restutil import config, http_api, lam, request, route

ISSUER_PATH = "/issuer"


def fn_arn(name):
    fn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn}/invocations"


class Lambdas:
    """Function "auth" answers by the token; "handler" echoes requestContext.authorizer."""

    def __init__(self, backend_factory):
        self.auth_events = []
        self.events = []
        self.backend = backend_factory(self.handle)

    def handle(self, req):
        name = req["path"].split("/functions/")[1].split("/")[0]
        ev = req["json"]
        if name == "handler":
            self.events.append(ev)
            return 200, {}, json.dumps({"statusCode": 200, "body": json.dumps(
                ev["requestContext"].get("authorizer"))})
        self.auth_events.append(ev)
        tok = (ev.get("headers") or {}).get("authorization") or \
            (ev.get("headers") or {}).get("Authorization")
        if ev.get("version") == "2.0" and "routeArn" in ev and name == "simple":
            return 200, {}, json.dumps({"isAuthorized": tok == "good",
                                        "context": {"user": "u-" + str(tok), "n": 1,
                                                    "obj": {"a": 1}}})
        arn = ev.get("routeArn") or ev.get("methodArn")
        effect = "Allow" if tok == "good" else "Deny"
        if tok == "unauth":
            return 200, {"X-Amz-Function-Error": "Unhandled"}, json.dumps(
                {"errorMessage": "Unauthorized"})
        return 200, {}, json.dumps({
            "principalId": "p-" + str(tok),
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": arn}]},
            "context": {"user": "u-" + str(tok)}})


@pytest.fixture
def lambdas(backend_factory):
    return Lambdas(backend_factory)


def lambda_cfg(lambdas, authorizer, integ_version="2.0", scopes=None, route_key="GET /pets"):
    r = route(route_key, "fn")
    r["authorizationType"] = "JWT" if authorizer["authorizerType"] == "JWT" else "CUSTOM"
    r["authorizerId"] = "az"
    if scopes:
        r["authorizationScopes"] = scopes
    api = http_api([lam("fn", fn_arn("handler"), integ_version)],
                   [r, route("GET /open", "fn")])
    authorizer = dict(authorizer, authorizerId="az", name="az")
    api["authorizers"] = [authorizer]
    cfg = config(api)
    cfg["server"]["aws"] = {"accessKeyId": "AKIDINVOKE", "secretAccessKey": "s",
                            "lambdaEndpoint": lambdas.backend.url()}
    return cfg


def get(gw, path="/pets", token=None):
    h = {"Authorization": token} if token is not None else {}
    return request(gw.port, "GET", path, h)


# ---- Lambda REQUEST authorizers --------------------------------------------------------------

SIMPLE = {"authorizerType": "REQUEST", "authorizerUri": fn_arn("simple"),
          "authorizerPayloadFormatVersion": "2.0", "enableSimpleResponses": True,
          "identitySource": ["$request.header.Authorization"]}


def test_simple_responses_and_default_cache(gateway_factory, lambdas):
    gw = gateway_factory(lambda_cfg(lambdas, SIMPLE))
    r = get(gw, token="good")
    assert r.status == 200
    assert json.loads(r.body) == {"lambda": {"user": "u-good", "n": 1, "obj": {"a": 1}}}
    ev = lambdas.auth_events[0]
    assert ev["version"] == "2.0" and ev["type"] == "REQUEST"
    assert ev["routeArn"] == "arn:aws:execute-api:us-east-1:000000000000:httpapi001/$default/GET/pets"
    assert ev["identitySource"] == ["good"]
    assert ev["routeKey"] == "GET /pets"
    # Cached for 300 s by default (HTTP APIs): no second call.
    assert get(gw, token="good").status == 200
    assert len(lambdas.auth_events) == 1
    r = get(gw, token="bad")
    assert (r.status, json.loads(r.body)) == (403, {"message": "Forbidden"})
    r = get(gw)
    assert (r.status, json.loads(r.body)) == (401, {"message": "Unauthorized"})
    assert len(lambdas.auth_events) == 2
    # A route without an authorizer is not affected.
    assert get(gw, "/open").status == 200
    assert len(lambdas.events) == 3  # two allowed requests and /open; refusals never got there


def test_policy_responses_with_payload_1(gateway_factory, lambdas):
    az = {"authorizerType": "REQUEST", "authorizerUri": fn_arn("policy"),
          "authorizerPayloadFormatVersion": "1.0", "authorizerResultTtlInSeconds": 0,
          "identitySource": ["$request.header.Authorization"]}
    gw = gateway_factory(lambda_cfg(lambdas, az, integ_version="1.0"))
    r = get(gw, token="good")
    assert r.status == 200
    assert json.loads(r.body) == {"principalId": "p-good", "user": "u-good"}
    ev = lambdas.auth_events[0]
    assert ev["version"] == "1.0"
    assert ev["methodArn"].endswith("/$default/GET/pets")
    assert ev["authorizationToken"] == "good"
    assert get(gw, token="good").status == 200
    assert len(lambdas.auth_events) == 2  # TTL 0: no cache
    assert get(gw, token="deny").status == 403
    r = get(gw, token="unauth")
    assert (r.status, json.loads(r.body)) == (401, {"message": "Unauthorized"})


# ---- JWT authorizers -------------------------------------------------------------------------

def b64u(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(key, kid):
    pub = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64u(pub.n),
            "e": b64u(pub.e)}


def ec_jwk(key, kid):
    pub = key.public_key().public_numbers()
    pad = lambda v: base64.urlsafe_b64encode(v.to_bytes(32, "big")).rstrip(b"=").decode()
    return {"kty": "EC", "kid": kid, "crv": "P-256", "x": pad(pub.x), "y": pad(pub.y)}


class Issuer:
    """An OpenID issuer: discovery document and JWK set over HTTP, counting fetches."""

    def __init__(self, backend_factory):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.fetches = []
        self.backend = backend_factory(self.handle)
        self.url = self.backend.url(ISSUER_PATH)
        self.jwks = {"keys": [rsa_jwk(self.rsa, "k1"), ec_jwk(self.ec, "e1")]}

    def handle(self, req):
        self.fetches.append(req["path"])
        if req["path"] == ISSUER_PATH + "/.well-known/openid-configuration":
            return 200, {"Content-Type": "application/json"}, json.dumps(
                {"issuer": self.url, "jwks_uri": self.backend.url("/keys")})
        if req["path"] == "/keys":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.jwks)
        return 404, {}, "{}"

    def token(self, key=None, kid="k1", alg="RS256", **claims):
        now = int(time.time())
        body = {"iss": self.url, "aud": "my-app", "sub": "alice", "iat": now,
                "exp": now + 300, "scope": "read write"}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.rsa, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def issuer(backend_factory):
    return Issuer(backend_factory)


def jwt_az(issuer, **cfg):
    jc = {"issuer": issuer.url, "audience": ["my-app"]}
    jc.update(cfg)
    return {"authorizerType": "JWT", "identitySource": ["$request.header.Authorization"],
            "jwtConfiguration": jc}


def test_jwt_accepts_and_refuses_the_right_tokens(gateway_factory, lambdas, issuer):
    gw = gateway_factory(lambda_cfg(lambdas, jwt_az(issuer)))
    r = get(gw, token="Bearer " + issuer.token())
    assert r.status == 200, r.body
    az = json.loads(r.body)
    assert az["jwt"]["claims"]["sub"] == "alice"
    assert az["jwt"]["claims"]["aud"] == "my-app"
    assert az["jwt"]["scopes"] == ["read", "write"]
    # Discovery, then the keys: once.
    assert issuer.fetches == [ISSUER_PATH + "/.well-known/openid-configuration", "/keys"]
    assert get(gw, token=issuer.token()).status == 200  # without "Bearer " too
    assert len(issuer.fetches) == 2

    now = int(time.time())
    unauthorized = {
        "expired": issuer.token(exp=now - 10),
        "not yet valid": issuer.token(nbf=now + 600),
        "wrong audience": issuer.token(aud="someone-else"),
        "wrong issuer": issuer.token(iss="https://evil.example.com"),
        "wrong key": issuer.token(key=issuer.other),
        "alg none": jwt.encode({"iss": issuer.url, "aud": "my-app", "exp": now + 300}, None,
                               algorithm="none", headers={"kid": "k1"}),
        "HS256 with the public key's modulus as secret": jwt.encode(
            {"iss": issuer.url, "aud": "my-app", "exp": now + 300},
            issuer.jwks["keys"][0]["n"], algorithm="HS256", headers={"kid": "k1"}),
        "garbage": "not.a.token",
    }
    for what, tok in unauthorized.items():
        r = get(gw, token="Bearer " + tok)
        assert (r.status, json.loads(r.body)) == (401, {"message": "Unauthorized"}), what
    r = get(gw)
    assert r.status == 401
    assert len(lambdas.events) == 2  # only the two good tokens reached the integration


def test_jwt_unknown_kid_refetches_at_most_once_a_minute(gateway_factory, lambdas, issuer):
    gw = gateway_factory(lambda_cfg(lambdas, jwt_az(issuer, jwksUri=issuer.backend.url("/keys"))))
    assert get(gw, token=issuer.token()).status == 200
    assert issuer.fetches == ["/keys"]
    for _ in range(3):
        assert get(gw, token=issuer.token(kid="nope")).status == 401
    assert issuer.fetches == ["/keys"]  # the set is fresh: no refetch storm


def test_jwt_scopes(gateway_factory, lambdas, issuer):
    gw = gateway_factory(lambda_cfg(lambdas, jwt_az(issuer), scopes=["admin", "write"]))
    assert get(gw, token=issuer.token()).status == 200  # has "write"
    r = get(gw, token=issuer.token(scope="read"))
    assert (r.status, json.loads(r.body)) == (403, {"message": "Forbidden"})


def test_jwt_es256_with_a_local_jwks_file(gateway_factory, lambdas, issuer, tmp_path):
    f = tmp_path / "jwks.json"
    f.write_text(json.dumps(issuer.jwks))
    gw = gateway_factory(lambda_cfg(lambdas, jwt_az(issuer, jwksFile=str(f))))
    r = get(gw, token=issuer.token(key=issuer.ec, kid="e1", alg="ES256"))
    assert r.status == 200, r.body
    assert get(gw, token=issuer.token(key=issuer.ec, kid="k1", alg="ES256")).status == 401
    assert issuer.fetches == []


def test_jwt_issuer_unreachable_is_500(gateway_factory, lambdas, issuer):
    az = jwt_az(issuer, jwksUri="http://127.0.0.1:9/keys")
    gw = gateway_factory(lambda_cfg(lambdas, az))
    r = get(gw, token=issuer.token())
    assert r.status == 500
