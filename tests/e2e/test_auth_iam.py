"""test_auth_iam.py: AWS_IAM on $connect and on HTTP API routes (issue 7, spec 2.5): SigV4 by
botocore (Authorization header, and the presigned URL browsers use), checked against
server.credentials[] and their invokeResources allow-lists."""
import json

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import minimal_config, raw_upgrade
from restutil import config as http_config
from restutil import http_api, mock, request, route
from wsutil import connect, run

ALLOWED = Credentials("AKIDINVOKER", "invoker/secret")
PUSHER = Credentials("AKIDPUSHONLY", "push/secret")  # may call @connections, not invoke
WS_ARN = "arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/$connect"


def creds(invoke):
    return [{"accessKeyId": ALLOWED.access_key, "secretAccessKey": ALLOWED.secret_key,
             "invokeResources": invoke},
            {"accessKeyId": PUSHER.access_key, "secretAccessKey": PUSHER.secret_key}]


def ws_gateway(gateway_factory):
    cfg = minimal_config()
    cfg["server"]["credentials"] = creds([WS_ARN])
    cfg["apis"][0]["routes"] = [{"routeKey": "$connect", "authorizationType": "AWS_IAM"},
                                {"routeKey": "$default"}]
    return gateway_factory(cfg)


def signed_headers(cred, url, method="GET", body=b""):
    req = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(cred, "execute-api", "us-east-1").add_auth(req)
    return {k: v for k, v in req.headers.items()}


def presign(cred, url, expires=300):
    req = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(cred, "execute-api", "us-east-1", expires=expires).add_auth(req)
    return req.url


def test_header_signed_upgrade(gateway_factory):
    gw = ws_gateway(gateway_factory)
    url = f"http://127.0.0.1:{gw.port}/dev"
    st, _, _ = raw_upgrade(gw.port, "/dev", signed_headers(ALLOWED, url))
    assert st == 101
    st, _, body = raw_upgrade(gw.port, "/dev", signed_headers(PUSHER, url))
    assert st == 403
    assert "is not authorized to perform: execute-api:Invoke" in json.loads(body)["message"]
    st, _, body = raw_upgrade(gw.port, "/dev")
    assert st == 403
    assert json.loads(body) == {"message": "Missing Authentication Token"}
    bad = Credentials(ALLOWED.access_key, "not-the-secret")
    st, _, body = raw_upgrade(gw.port, "/dev", signed_headers(bad, url))
    assert st == 403
    assert "signature" in json.loads(body)["message"].lower()
    unknown = Credentials("AKIDNOBODY", "x")
    st, _, _ = raw_upgrade(gw.port, "/dev", signed_headers(unknown, url))
    assert st == 403


def test_presigned_url_as_browsers_use(gateway_factory):
    gw = ws_gateway(gateway_factory)
    url = presign(ALLOWED, f"http://127.0.0.1:{gw.port}/dev?room=lobby")
    assert "X-Amz-Signature=" in url

    async def go():
        ws = await connect("ws" + url[len("http"):])
        await ws.close()

    run(go())
    # Tampering with any signed part of the URL breaks it.
    tampered = url.replace("room=lobby", "room=admin")
    st, _, _ = raw_upgrade(gw.port, tampered[tampered.index("/dev"):])
    assert st == 403
    # A presigned URL signed by a key that may not invoke.
    other = presign(PUSHER, f"http://127.0.0.1:{gw.port}/dev")
    st, _, _ = raw_upgrade(gw.port, other[other.index("/dev"):])
    assert st == 403


def test_http_route_with_aws_iam(gateway_factory):
    r = route("POST /orders", "m")
    r["authorizationType"] = "AWS_IAM"
    api = http_api([mock("m")], [r, route("GET /open", "m")])
    cfg = http_config(api)
    cfg["server"]["credentials"] = creds(
        ["arn:aws:execute-api:us-east-1:000000000000:httpapi001/*/POST/orders"])
    gw = gateway_factory(cfg)
    url = f"http://127.0.0.1:{gw.port}/orders"
    body = b'{"n": 1}'
    res = request(gw.port, "POST", "/orders", signed_headers(ALLOWED, url, "POST", body), body)
    assert res.status == 200, res.body
    res = request(gw.port, "POST", "/orders", signed_headers(PUSHER, url, "POST", body), body)
    assert res.status == 403
    assert dict((k.lower(), v) for k, v in res.headers)["x-amzn-errortype"] == \
        "AccessDeniedException"
    # The body is signed: changing it breaks the signature.
    res = request(gw.port, "POST", "/orders", signed_headers(ALLOWED, url, "POST", body),
                  b'{"n": 2}')
    assert res.status == 403
    res = request(gw.port, "POST", "/orders", {}, body)
    assert (res.status, json.loads(res.body)) == (403, {"message": "Missing Authentication Token"})
    assert request(gw.port, "GET", "/open").status == 200
