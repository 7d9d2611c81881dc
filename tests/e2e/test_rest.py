"""test_rest.py: HTTP APIs (issue 6) against the real binary: route precedence, path and query
parameters, every field of the 1.0 and 2.0 Lambda events, Lambda results, HTTP_PROXY, MOCK,
the AWS failure answers, API selection beside a WebSocket API, and curl as a client."""
import base64
import contextlib
import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import SLOW
from restutil import (API_ID, CLF_RE, ID_RE, TRACE_RE, WS_API_ID, Conn, build, config, http_api,
                      lam, mock, proxy, request, route, ws_api)


@contextlib.contextmanager
def head_backend():
    """A backend that answers HEAD (the shared Backend does not) with a 12345-byte length."""
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_HEAD(self):
            self.send_response(200)
            self.send_header("Content-Length", "12345")
            self.end_headers()

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "12345")
            self.end_headers()
            self.wfile.write(b"x" * 12345)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check_ids(r, gateway):
    rid = r.header("apigw-requestid")
    assert rid and ID_RE.match(rid), r
    if gateway:
        assert r.header("x-amzn-RequestId") == rid, r
    return rid


# ---- routing ---------------------------------------------------------------------------------

PRECEDENCE_ROUTES = ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}",
                     "ANY /{proxy+}", "ANY /pets/dog/1", "POST /pets/{a}/{b}", "GET /",
                     "ANY /items/{id}", "DELETE /items/{id}", "$default"]

PRECEDENCE = [
    # AWS's own table ("Routing API requests")
    ("GET", "/pets/dog/1", "GET /pets/dog/1"),
    ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
    ("GET", "/pets/cat/1", "GET /pets/{proxy+}"),
    ("POST", "/test/5", "ANY /{proxy+}"),
    # literal > parameter > greedy, then method > ANY
    ("POST", "/pets/dog/1", "ANY /pets/dog/1"),
    ("POST", "/pets/cat/1", "POST /pets/{a}/{b}"),
    ("PUT", "/pets/cat/1", "ANY /{proxy+}"),
    ("GET", "/pets/a/b/c", "GET /pets/{proxy+}"),
    ("GET", "/pets", "ANY /{proxy+}"),
    ("DELETE", "/items/7", "DELETE /items/{id}"),
    ("PATCH", "/items/7", "ANY /items/{id}"),
    ("GET", "/", "GET /"),
    ("POST", "/", "$default"),
    ("OPTIONS", "/", "$default"),
    ("GET", "/pets/dog/1?x=1", "GET /pets/dog/1"),
    ("GET", "/pets%2Fdog/1", "ANY /{proxy+}"),  # an encoded slash is no separator
    ("GET", "/pets/dog/%31", "GET /pets/dog/1"),  # literals compare decoded
]


def precedence_config():
    integs = [mock("m", 200, "$context.routeKey")]
    return config(http_api(integs, [route(k, "m") for k in PRECEDENCE_ROUTES]))


def test_route_precedence_table(gateway_factory):
    gw = gateway_factory(precedence_config())
    c = Conn(gw.port)
    for method, path, want in PRECEDENCE:
        r = c.request(method, path)
        assert r.status == 200, (method, path, r)
        assert r.body.decode() == want, (method, path, r.body)
        check_ids(r, gateway=True)
    c.close()


def test_no_route_is_404(gateway_factory):
    integs = [mock("m", 200, "x")]
    gw = gateway_factory(config(http_api(integs, [route("GET /a/{b}", "m"), route("HEAD /h", "m"),
                                                  route("GET /untargeted")])))
    for method, path in [("GET", "/a"), ("GET", "/a/b/c"), ("POST", "/a/b"), ("GET", "/"),
                         ("GET", "/a/b/"), ("GET", "/untargeted"), ("HEAD", "/nope")]:
        r = request(gw.port, method, path)
        assert r.status == 404, (method, path, r)
        if method != "HEAD":
            assert r.body == b'{"message":"Not Found"}'
        assert r.header("content-type") == "application/json"
        check_ids(r, gateway=True)
    assert request(gw.port, "HEAD", "/a/x").status == 404  # HEAD is not GET
    r = request(gw.port, "HEAD", "/h")
    assert r.status == 200 and r.body == b"" and r.header("content-length") == "1"


def test_named_stages_and_default_stage(gateway_factory):
    integs = [mock("m", 200, "$context.stage $context.routeKey")]
    api = http_api(integs, [route("GET /x", "m"), route("GET /prod/x", "m")],
                   stages=[{"stageName": "$default"}, {"stageName": "prod"}])
    gw = gateway_factory(config(api))
    assert request(gw.port, "GET", "/x").body == b"$default GET /x"
    assert request(gw.port, "GET", "/prod/x").body == b"prod GET /x"  # a named stage wins
    assert request(gw.port, "GET", "/other/x").status == 404

    # Without a $default stage, an unknown stage is 404 too (not the WebSocket 403).
    gw2 = gateway_factory(config(http_api(integs, [route("GET /x", "m")],
                                          stages=[{"stageName": "dev"}])))
    assert request(gw2.port, "GET", "/dev/x").body == b"dev GET /x"
    r = request(gw2.port, "GET", "/x")
    assert r.status == 404 and r.body == b'{"message":"Not Found"}'
    check_ids(r, gateway=True)


# ---- Lambda events, key by key ---------------------------------------------------------------

def recording_lambda(backend_factory, result=None):
    """A backend playing a Lambda function: records the event, answers result (or the event)."""
    def handler(req):
        out = result(req) if callable(result) else result
        if out is None:
            out = {"statusCode": 200, "body": "ok"}
        return 200, {"Content-Type": "application/json"}, json.dumps(out)
    return backend_factory(handler)


def event_config(fn, version, stages=None):
    integs = [lam("l", fn.url("/2015-03-31/functions/f/invocations"), version)]
    return config(http_api(integs, [route("POST /items/{id}", "l"), route("GET /files/{p+}", "l"),
                                    route("$default", "l")], stages=stages))


EVENT_BODY = b'{"a": 1}\n'


def send_event_request(port, path="/items/a%20b?x=1&x=2&y=%C3%A9"):
    headers = [("User-Agent", "rest-test/1.0"), ("Content-Type", "application/json"),
               ("Cookie", "a=1; b=2"), ("X-Multi", "one"), ("x-multi", "two"),
               ("Connection", "keep-alive, X-Hop"), ("X-Hop", "gone"),
               ("X-Forwarded-For", "203.0.113.9"), ("Keep-Alive", "timeout=5")]
    return request(port, "POST", path, headers, EVENT_BODY)


def test_payload_v2_event_key_by_key(gateway_factory, backend_factory):
    fn = recording_lambda(backend_factory)
    cfg = event_config(fn, "2.0", stages=[{"stageName": "$default",
                                           "stageVariables": {"env": "test", "n": "1"}}])
    gw = gateway_factory(cfg)
    r = send_event_request(gw.port)
    assert r.status == 200 and r.body == b"ok", r
    rid = check_ids(r, gateway=False)
    req = fn.requests[-1]
    assert req["method"] == "POST" and req["path"] == "/2015-03-31/functions/f/invocations"
    ev = req["json"]
    assert list(ev) == ["version", "routeKey", "rawPath", "rawQueryString", "cookies",
                        "headers", "queryStringParameters", "requestContext", "body",
                        "pathParameters", "isBase64Encoded", "stageVariables"]
    assert ev["version"] == "2.0"
    assert ev["routeKey"] == "POST /items/{id}"
    assert ev["rawPath"] == "/items/a%20b"
    assert ev["rawQueryString"] == "x=1&x=2&y=%C3%A9"
    assert ev["cookies"] == ["a=1", "b=2"]
    h = ev["headers"]
    trace = h.pop("x-amzn-trace-id")
    assert TRACE_RE.match(trace), trace
    assert h == {
        "content-length": str(len(EVENT_BODY)),
        "content-type": "application/json",
        "host": f"127.0.0.1:{gw.port}",
        "user-agent": "rest-test/1.0",
        "x-forwarded-for": "203.0.113.9, 127.0.0.1",
        "x-forwarded-port": str(gw.port),
        "x-forwarded-proto": "http",
        "x-multi": "one,two",
    }
    assert ev["queryStringParameters"] == {"x": "1,2", "y": "é"}
    rc = ev["requestContext"]
    assert list(rc) == ["accountId", "apiId", "domainName", "domainPrefix", "http", "requestId",
                        "routeKey", "stage", "time", "timeEpoch"]
    assert rc["accountId"] == "000000000000"
    assert rc["apiId"] == API_ID
    assert rc["domainName"] == "127.0.0.1"
    assert rc["domainPrefix"] == "127"
    assert rc["http"] == {"method": "POST", "path": "/items/a%20b", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "rest-test/1.0"}
    assert rc["requestId"] == rid
    assert rc["routeKey"] == "POST /items/{id}"
    assert rc["stage"] == "$default"
    assert CLF_RE.match(rc["time"]), rc["time"]
    assert abs(rc["timeEpoch"] - time.time() * 1000) < 60000
    assert ev["body"] == EVENT_BODY.decode()
    assert ev["pathParameters"] == {"id": "a b"}
    assert ev["isBase64Encoded"] is False
    assert ev["stageVariables"] == {"env": "test", "n": "1"}


def test_payload_v1_event_key_by_key(gateway_factory, backend_factory):
    fn = recording_lambda(backend_factory)
    gw = gateway_factory(event_config(fn, "1.0", stages=[{"stageName": "prod"}]))
    r = send_event_request(gw.port, "/prod/items/42?x=1&x=2&y=%C3%A9")
    assert r.status == 200, r
    rid = check_ids(r, gateway=False)
    ev = fn.requests[-1]["json"]
    assert list(ev) == ["version", "resource", "path", "httpMethod", "headers",
                        "multiValueHeaders", "queryStringParameters",
                        "multiValueQueryStringParameters", "requestContext", "pathParameters",
                        "stageVariables", "body", "isBase64Encoded"]
    assert ev["version"] == "1.0"
    assert ev["resource"] == "/items/{id}"
    assert ev["path"] == "/prod/items/42"
    assert ev["httpMethod"] == "POST"
    h = ev["headers"]
    trace = h.pop("X-Amzn-Trace-Id")
    assert TRACE_RE.match(trace)
    assert h == {
        "Content-Length": str(len(EVENT_BODY)),
        "Content-Type": "application/json",
        "Cookie": "a=1; b=2",
        "Host": f"127.0.0.1:{gw.port}",
        "User-Agent": "rest-test/1.0",
        "X-Forwarded-For": "203.0.113.9, 127.0.0.1",
        "X-Forwarded-Port": str(gw.port),
        "X-Forwarded-Proto": "http",
        "X-Multi": "two",
    }
    mh = ev["multiValueHeaders"]
    assert mh.pop("X-Amzn-Trace-Id") == [trace]
    assert mh == {k: [v] for k, v in h.items() if k != "X-Multi"} | {"X-Multi": ["one", "two"]}
    assert ev["queryStringParameters"] == {"x": "2", "y": "é"}
    assert ev["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["é"]}
    rc = ev["requestContext"]
    assert list(rc) == ["accountId", "apiId", "domainName", "domainPrefix", "extendedRequestId",
                        "httpMethod", "identity", "path", "protocol", "requestId",
                        "requestTime", "requestTimeEpoch", "resourceId", "resourcePath",
                        "stage"]
    assert rc["accountId"] == "000000000000" and rc["apiId"] == API_ID
    assert rc["domainName"] == "127.0.0.1" and rc["domainPrefix"] == "127"
    assert rc["extendedRequestId"] == rid and rc["requestId"] == rid
    assert rc["httpMethod"] == "POST"
    assert rc["identity"] == {
        "accessKey": None, "accountId": None, "caller": None, "cognitoAmr": None,
        "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
        "cognitoIdentityId": None, "cognitoIdentityPoolId": None, "principalOrgId": None,
        "sourceIp": "127.0.0.1", "user": None, "userAgent": "rest-test/1.0", "userArn": None}
    assert rc["path"] == "/prod/items/42"
    assert rc["protocol"] == "HTTP/1.1"
    assert CLF_RE.match(rc["requestTime"])
    assert abs(rc["requestTimeEpoch"] - time.time() * 1000) < 60000
    assert rc["resourceId"] == "POST /items/{id}"
    assert rc["resourcePath"] == "/items/{id}"
    assert rc["stage"] == "prod"
    assert ev["pathParameters"] == {"id": "42"}
    assert ev["stageVariables"] is None
    assert ev["body"] == EVENT_BODY.decode()
    assert ev["isBase64Encoded"] is False


def test_events_without_extras(gateway_factory, backend_factory):
    """A bare GET: 2.0 leaves optional keys out, 1.0 writes null; greedy parameters."""
    fn = recording_lambda(backend_factory)
    gw = gateway_factory(event_config(fn, "2.0"))
    assert request(gw.port, "GET", "/files/a/b%20c.txt", [("User-Agent", "u")]).status == 200
    ev = fn.requests[-1]["json"]
    assert list(ev) == ["version", "routeKey", "rawPath", "rawQueryString", "headers",
                        "requestContext", "pathParameters", "isBase64Encoded"]
    assert ev["rawQueryString"] == ""
    assert ev["pathParameters"] == {"p": "a/b c.txt"}
    assert ev["headers"]["content-length"] == "0"
    assert request(gw.port, "DELETE", "/anything").status == 200
    ev = fn.requests[-1]["json"]
    assert ev["routeKey"] == "$default" and ev["requestContext"]["routeKey"] == "$default"
    assert "pathParameters" not in ev

    fn1 = recording_lambda(backend_factory)
    gw1 = gateway_factory(event_config(fn1, "1.0"))
    assert request(gw1.port, "GET", "/anything", [("User-Agent", "u")]).status == 200
    ev = fn1.requests[-1]["json"]
    for k in ("queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
              "stageVariables", "body"):
        assert ev[k] is None, k
    assert ev["resource"] == "$default" and ev["requestContext"]["resourceId"] == "$default"


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_binary_request_bodies_are_base64(gateway_factory, backend_factory, version):
    fn = recording_lambda(backend_factory)
    gw = gateway_factory(event_config(fn, version))
    raw = bytes(range(256))
    for ctype, b64 in [("application/octet-stream", True), ("image/png", True),
                       ("application/x-www-form-urlencoded", True), (None, True),
                       ("text/plain; charset=utf-8", False), ("application/xml", False)]:
        body = raw if b64 else b"caf\xc3\xa9 <x/>"
        hdrs = [("Content-Type", ctype)] if ctype else []
        assert request(gw.port, "POST", "/items/1", hdrs, body).status == 200
        ev = fn.requests[-1]["json"]
        assert ev["isBase64Encoded"] is b64, ctype
        assert (base64.b64decode(ev["body"]) if b64 else ev["body"].encode()) == body


# ---- Lambda results --------------------------------------------------------------------------

def result_config(fn, version):
    return config(http_api([lam("l", fn.url("/fn"), version)], [route("ANY /{proxy+}", "l")]))


V2_RESULTS = [
    # AWS's table: output without statusCode -> 200, application/json, the output as body
    ('"Hello from Lambda!"', 200, {"content-type": "application/json"}, b"Hello from Lambda!"),
    ('{ "message": "Hello from Lambda!" }', 200, {"content-type": "application/json"},
     b'{ "message": "Hello from Lambda!" }'),
    ("[1, 2]", 200, {"content-type": "application/json"}, b"[1, 2]"),
    ('{"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-A": "1"}, '
     '"body": "made"}', 201, {"content-type": "text/plain", "x-a": "1"}, b"made"),
    ('{"statusCode": "404", "body": "nope", "multiValueHeaders": {"X-M": ["ignored"]}}', 404,
     {"x-m": None}, b"nope"),
    ('{"statusCode": 200, "isBase64Encoded": true, "body": "AAEC/w==", '
     '"headers": {"content-type": "application/octet-stream"}}', 200,
     {"content-type": "application/octet-stream"}, b"\x00\x01\x02\xff"),
    ('{"statusCode": 204}', 204, {}, b""),
]


@pytest.mark.parametrize("text,status,headers,body", V2_RESULTS)
def test_v2_results(gateway_factory, backend_factory, text, status, headers, body):
    fn = backend_factory(lambda req: (200, {}, text))
    gw = gateway_factory(result_config(fn, "2.0"))
    r = request(gw.port, "GET", "/x")
    assert r.status == status, r
    for k, v in headers.items():
        assert r.header(k) == v, (k, r)
    assert r.body == body
    check_ids(r, gateway=False)


def test_v2_cookies(gateway_factory, backend_factory):
    text = json.dumps({"statusCode": 200, "cookies": ["a=1; Path=/; HttpOnly", "b=2"],
                       "headers": {"set-cookie": "c=3"}, "body": "{}"})
    fn = backend_factory(lambda req: (200, {}, text))
    gw = gateway_factory(result_config(fn, "2.0"))
    r = request(gw.port, "GET", "/x")
    assert sorted(r.all("set-cookie")) == ["a=1; Path=/; HttpOnly", "b=2", "c=3"]


def test_v1_results(gateway_factory, backend_factory):
    text = json.dumps({"statusCode": 302, "headers": {"Location": "/next", "X-Both": "h"},
                       "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Both": ["m1", "m2"]},
                       "body": "moved", "isBase64Encoded": False})
    fn = backend_factory(lambda req: (200, {}, text))
    gw = gateway_factory(result_config(fn, "1.0"))
    r = request(gw.port, "GET", "/x")
    assert r.status == 302 and r.body == b"moved"
    assert r.header("location") == "/next"
    assert r.all("set-cookie") == ["a=1", "b=2"]
    assert r.all("x-both") == ["m1", "m2"]

    text = json.dumps({"statusCode": 200, "body": base64.b64encode(b"\x00bin").decode(),
                       "isBase64Encoded": True, "headers": {"Content-Type": "image/gif"}})
    fn2 = backend_factory(lambda req: (200, {}, text))
    gw2 = gateway_factory(result_config(fn2, "1.0"))
    r = request(gw2.port, "GET", "/x")
    assert r.body == b"\x00bin" and r.header("content-type") == "image/gif"


# ---- failures --------------------------------------------------------------------------------

ISE = b'{"message":"Internal Server Error"}'


def expect_error(r, status, body):
    assert r.status == status, r
    assert r.body == body, r
    assert r.header("content-type") == "application/json"
    check_ids(r, gateway=True)


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_malformed_lambda_results_are_502(gateway_factory, backend_factory, version):
    bad = ["not json", '{"statusCode": 200, "body": {"x": 1}}', '{"statusCode": 700}',
           '{"statusCode": 200, "headers": ["a"]}', '{"statusCode": 200, "isBase64Encoded": true, '
           '"body": "***"}']
    if version == "1.0":
        bad += ['{"statusCode": 200, "unknown": 1}', '"just a string"', "null"]
    texts = iter(bad)
    fn = backend_factory(lambda req: (200, {}, next(texts)))
    gw = gateway_factory(result_config(fn, version))
    for _ in bad:
        expect_error(request(gw.port, "GET", "/x"), 502, ISE)


def test_lambda_function_error_and_invoke_error(gateway_factory, backend_factory):
    fn = backend_factory(lambda req: (200, {"X-Amz-Function-Error": "Unhandled"},
                                      '{"errorMessage": "boom", "errorType": "Error"}'))
    gw = gateway_factory(result_config(fn, "2.0"))
    expect_error(request(gw.port, "GET", "/x"), 502, ISE)
    fn2 = backend_factory(lambda req: (429, {"x-amzn-ErrorType": "TooManyRequestsException"},
                                       '{"message": "Rate exceeded"}'))
    gw2 = gateway_factory(result_config(fn2, "2.0"))
    expect_error(request(gw2.port, "GET", "/x"), 500, ISE)


def test_unreachable_backend_is_503(gateway_factory):
    port = closed_port()
    cfg = config(http_api([proxy("p", f"http://127.0.0.1:{port}/"),
                           lam("l", f"http://127.0.0.1:{port}/fn")],
                          [route("GET /p", "p"), route("GET /l", "l")]))
    gw = gateway_factory(cfg)
    for path in ("/p", "/l"):
        expect_error(request(gw.port, "GET", path), 503, b'{"message":"Service Unavailable"}')


def test_timeout_is_504(gateway_factory, backend_factory):
    def slow(req):
        time.sleep(1.5)
        return 200, {}, '{"statusCode": 200}'
    b = backend_factory(slow)
    cfg = config(http_api([proxy("p", b.url("/"), timeout=300), lam("l", b.url("/"), timeout=300)],
                          [route("GET /p", "p"), route("GET /l", "l")]))
    gw = gateway_factory(cfg)
    for path in ("/p", "/l"):
        t0 = time.time()
        expect_error(request(gw.port, "GET", path), 504,
                     b'{"message":"Endpoint request timed out"}')
        assert time.time() - t0 < 1.4 * SLOW


def test_default_timeout_is_30s(gateway_factory):
    """The default and the cap are AWS's HTTP API ones: 30000 (WebSocket APIs: 29000)."""
    ok = config(http_api([{"integrationType": "HTTP_PROXY", "integrationUri": "http://b/",
                           "timeoutInMillis": 30000}]))
    gw = gateway_factory(ok, start=False)
    (gw.tmp / "c.json").write_text(json.dumps(ok))
    from conftest import BIN
    p = subprocess.run([BIN, "--config", str(gw.tmp / "c.json"), "--test-config"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    ok["apis"][0]["integrations"][0]["timeoutInMillis"] = 30001
    (gw.tmp / "c.json").write_text(json.dumps(ok))
    p = subprocess.run([BIN, "--config", str(gw.tmp / "c.json"), "--test-config"],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "30001 is out of range [50, 30000]" in p.stderr


def test_body_limit_413(gateway_factory, backend_factory):
    b = backend_factory()
    cfg = config(http_api([proxy("p", b.url("/"))], [route("POST /up", "p")]),
                 limits={"maxRequestBodyBytes": 1000})
    gw = gateway_factory(cfg)
    r = request(gw.port, "POST", "/up", [], b"x" * 1000)
    assert r.status == 200
    c = Conn(gw.port)
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
    r = c.read()
    expect_error(r, 413, b'{"message":"Request Entity Too Large"}')
    assert r.header("connection") == "close" and c.closed()
    assert len(b.requests) == 1


def test_chunked_is_411(gateway_factory):
    gw = gateway_factory(config(http_api([mock("m")], [route("POST /x", "m")])))
    c = Conn(gw.port)
    c.send(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    r = c.read()
    expect_error(r, 411, b'{"message":"Length Required"}')
    assert c.closed()


# ---- HTTP_PROXY --------------------------------------------------------------------------------

def test_http_proxy_forwards(gateway_factory, backend_factory):
    b = backend_factory(lambda req: (207, {"X-Backend": "yes", "Set-Cookie": "s=1",
                                           "Content-Type": "text/x-test"}, "from backend"))
    cfg = config(http_api(
        [proxy("any", b.url("/base/{proxy}?fixed=1")),
         proxy("get", b.url("/${stageVariables.svc}/{id}"), method="GET"),
         proxy("def", b.url("/root"))],
        [route("ANY /p/{proxy+}", "any"), route("POST /v/{id}", "get"), route("$default", "def")],
        stages=[{"stageName": "$default", "stageVariables": {"svc": "users"}}]))
    gw = gateway_factory(cfg)
    hdrs = [("User-Agent", "ua"), ("X-Custom", "1"), ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "x"), ("Keep-Alive", "5"), ("Proxy-Authorization", "secret"),
            ("TE", "trailers"), ("Content-Type", "text/plain"), ("X-Forwarded-For", "10.0.0.1")]
    r = request(gw.port, "PUT", "/p/a/b%20c?q=1&q=2", hdrs, b"payload")
    assert r.status == 207 and r.body == b"from backend"
    assert r.header("x-backend") == "yes" and r.header("set-cookie") == "s=1"
    assert r.header("content-type") == "text/x-test"
    check_ids(r, gateway=False)
    req = b.requests[-1]
    assert req["method"] == "PUT"
    assert req["path"] == "/base/a/b%20c?fixed=1&q=1&q=2"
    assert req["body"] == b"payload"
    got = {k.lower(): v for k, v in req["headers"]}
    assert got["user-agent"] == "ua" and got["x-custom"] == "1"
    assert got["content-type"] == "text/plain" and got["content-length"] == "7"
    assert got["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert got["x-forwarded-proto"] == "http" and got["x-forwarded-port"] == str(gw.port)
    assert TRACE_RE.match(got["x-amzn-trace-id"])
    assert got["host"] == f"127.0.0.1:{b.port}"
    for hop in ("x-hop", "keep-alive", "proxy-authorization", "te", "connection"):
        assert hop not in got or (hop == "connection" and got[hop] != "keep-alive, X-Hop"), hop

    # integrationMethod fixed, ${stageVariables.x} and {id}
    r = request(gw.port, "POST", "/v/42", [], b"")
    assert r.status == 207
    assert b.requests[-1]["method"] == "GET" and b.requests[-1]["path"] == "/users/42"

    # $default: the request path is appended
    r = request(gw.port, "DELETE", "/some/where?z=9")
    assert b.requests[-1]["method"] == "DELETE"
    assert b.requests[-1]["path"] == "/root/some/where?z=9"


def test_http_proxy_head(gateway_factory):
    """HEAD keeps the backend's Content-Length and sends no body."""
    with head_backend() as port:
        gw = gateway_factory(config(http_api([proxy("p", f"http://127.0.0.1:{port}/{{proxy}}")],
                                             [route("ANY /{proxy+}", "p")])))
        c = Conn(gw.port)
        r = c.request("HEAD", "/file")
        assert r.status == 200 and r.header("content-length") == "12345", r
        r = c.request("GET", "/file")  # the connection is still in step
        assert r.status == 200 and r.body == b"x" * 12345
        c.close()


def test_http_proxy_large_response_and_status(gateway_factory, backend_factory):
    big = bytes(range(256)) * 8192  # 2 MiB
    b = backend_factory(lambda req: (500, {"Content-Type": "application/octet-stream"}, big))
    gw = gateway_factory(config(http_api([proxy("p", b.url("/"))], [route("GET /big", "p")])))
    r = request(gw.port, "GET", "/big")
    assert r.status == 500 and r.body == big  # a backend's own 500 passes through


# ---- API selection beside WebSocket APIs --------------------------------------------------------

def page_backend(backend_factory):
    def handler(req):
        if req["path"] in ("/", "/index.html"):
            return 200, {"Content-Type": "text/html"}, "<html>chat</html>"
        return 404, {"Content-Type": "text/plain"}, "no such file"
    return backend_factory(handler)


def upgrade(port, path, host):
    """A WebSocket handshake with the given Host; returns the status (101 when upgraded)."""
    c = Conn(port)
    c.send(build("GET", path, [("Host", host), ("Upgrade", "websocket"),
                               ("Connection", "Upgrade"),
                               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                               ("Sec-WebSocket-Version", "13")]))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.sock.recv(4096)
        if not chunk:
            break
        data += chunk
    c.close()
    return int(data.split()[1])


def test_websocket_and_http_apis_on_one_port_by_mapping(gateway_factory, backend_factory):
    """The demo recipe: the page's HTTP API at the root of a domain, the WebSocket API under a
    key of the same domain (docs/configuration.md)."""
    site = page_backend(backend_factory)
    http = http_api([proxy("site", site.url("/{proxy}"), method="GET"),
                     proxy("index", site.url("/"), method="GET")],
                    [route("GET /{proxy+}", "site"), route("GET /", "index")])
    cfg = config(http, ws_api(), apiMappings=[
        {"domainName": "chat.localhost", "apiMappingKey": "", "apiId": API_ID,
         "stage": "$default"},
        {"domainName": "chat.localhost", "apiMappingKey": "ws", "apiId": WS_API_ID,
         "stage": "chat"}])
    gw = gateway_factory(cfg)
    host = f"chat.localhost:{gw.port}"
    r = request(gw.port, "GET", "/", [("Host", host)])
    assert r.status == 200 and r.body == b"<html>chat</html>"
    assert site.requests[-1]["path"] == "/"
    r = request(gw.port, "GET", "/index.html", [("Host", host)])
    assert r.status == 200 and r.body == b"<html>chat</html>"
    assert site.requests[-1]["path"] == "/index.html"
    r = request(gw.port, "GET", "/missing.js", [("Host", host)])
    assert r.status == 404 and r.body == b"no such file"
    assert upgrade(gw.port, "/ws", host) == 101
    assert upgrade(gw.port, "/", host) == 200  # the page: HTTP APIs do not upgrade


def test_websocket_and_http_apis_by_host(gateway_factory, backend_factory):
    site = page_backend(backend_factory)
    cfg = config(http_api([proxy("site", site.url("/"))], [route("$default", "site")]), ws_api())
    gw = gateway_factory(cfg)
    r = request(gw.port, "GET", "/index.html", [("Host", f"{API_ID}.localhost:{gw.port}")])
    assert r.status == 200 and r.body == b"<html>chat</html>"
    # No API named: 403 as before (two APIs, no mapping).
    assert request(gw.port, "GET", "/index.html").status == 403
    assert upgrade(gw.port, "/chat", f"{WS_API_ID}.localhost:{gw.port}") == 101


def test_upgrade_to_http_api_is_a_plain_request(gateway_factory):
    gw = gateway_factory(config(http_api([mock("m", 200, "plain")], [route("GET /", "m")])))
    r = request(gw.port, "GET", "/", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                      ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                      ("Sec-WebSocket-Version", "13")])
    assert r.status == 200 and r.body == b"plain"


# ---- curl ---------------------------------------------------------------------------------------

def curl(*args):
    p = subprocess.run(["curl", "-sS", "--max-time", str(20 * SLOW), *args], capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_with_curl(gateway_factory, backend_factory):
    fn = recording_lambda(backend_factory, lambda req: {"statusCode": 201, "cookies": ["k=v"],
                                                        "body": "created"})
    cfg = config(http_api([lam("l", fn.url("/fn"), "2.0"), mock("m", 200, "mocked")],
                          [route("POST /things/{id}", "l"), route("GET /m", "m")]))
    gw = gateway_factory(cfg)
    base = f"http://127.0.0.1:{gw.port}"
    out = curl("-i", "-X", "POST", "-H", "Content-Type: application/json",
               "--data-binary", '{"n":1}', f"{base}/things/7?tag=a&tag=b")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 Created")
    assert b"\r\nSet-Cookie: k=v" in head and b"apigw-requestid: " in head
    assert body == b"created"
    ev = fn.requests[-1]["json"]
    assert ev["pathParameters"] == {"id": "7"}
    assert ev["queryStringParameters"] == {"tag": "a,b"}
    assert ev["body"] == '{"n":1}'
    assert ev["headers"]["user-agent"].startswith("curl/")
    # keep-alive: curl reuses one connection for two URLs
    out = curl("-v", f"{base}/m", f"{base}/m")
    assert out == b"mockedmocked"
    p = subprocess.run(["curl", "-sv", f"{base}/m", f"{base}/m"], capture_output=True)
    assert p.stderr.count(b"Connected to") == 1 or b"Re-using existing connection" in p.stderr
    # 404 through curl
    out = curl("-i", f"{base}/nope")
    assert out.startswith(b"HTTP/1.1 404 Not Found") and out.endswith(b'{"message":"Not Found"}')
