"""test_rest_conn.py: HTTP APIs and the connection: keep-alive, pipelined requests with bodies
(the libwebsockets 4.1.6 spin that DESIGN.md warns about cannot happen here), slow and abusive
clients, 10 MB bodies, clients that leave while their request is parked."""
import hashlib
import json
import socket
import subprocess
import threading
import time

from conftest import SLOW
from restutil import Conn, build, config, http_api, lam, mock, proxy, request, route

TEN_MB = 10 * 1024 * 1024


def echo_backend(backend_factory, delay=0.0):
    """Answers with the request's body (HTTP_PROXY) and its length and digest in headers."""
    def handler(req):
        if delay:
            time.sleep(delay)
        return 200, {"Content-Type": "application/octet-stream",
                     "X-Len": str(len(req["body"])),
                     "X-Sha": hashlib.sha256(req["body"]).hexdigest(),
                     "X-Path": req["path"]}, req["body"]
    return backend_factory(handler)


def lambda_len(backend_factory):
    """A 'Lambda' answering with what it knows about the body it got in the event."""
    def handler(req):
        ev = req["json"]
        return 200, {}, json.dumps({"statusCode": 200,
                                    "body": json.dumps({"len": len(ev.get("body") or ""),
                                                        "b64": ev["isBase64Encoded"]})})
    return backend_factory(handler)


def conn_config(b, **server):
    return config(http_api([proxy("echo", b.url("/{proxy}")), mock("m", 200, "mock:$input.body"),
                            lam("l", b.url("/fn"))],
                           [route("ANY /echo/{proxy+}", "echo"), route("ANY /mock", "m")]),
                  **server)


def test_pipelined_requests_with_bodies_keep_their_order(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    c = Conn(gw.port)
    reqs, want = [], []
    for i in range(30):
        body = (b"%03d:" % i) * (i * 97 % 2000)
        if i % 3 == 2:
            reqs.append(build("POST", "/mock", [], body or b"-", port=gw.port))
            want.append(b"mock:" + (body or b"-"))
        else:
            reqs.append(build("POST", f"/echo/{i}", [("Content-Type", "x/y")], body, port=gw.port))
            want.append(body)
    c.send(b"".join(reqs))  # one write: thirty requests, bodies and all
    for i in range(30):
        r = c.read()
        assert r.status == 200, (i, r)
        assert r.body == want[i], i
        assert r.header("connection") == "keep-alive"
    # Still usable afterwards.
    assert c.request("POST", "/mock", [], b"after").body == b"mock:after"
    c.close()


def test_pipelined_close_ends_the_connection(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    c = Conn(gw.port)
    c.send(build("POST", "/echo/a", [], b"one", port=gw.port) +
           build("POST", "/echo/b", [("Connection", "close")], b"two", port=gw.port) +
           build("POST", "/echo/c", [], b"never", port=gw.port))
    assert c.read().body == b"one"
    r = c.read()
    assert r.body == b"two" and r.header("connection") == "close"
    assert c.closed()
    assert [q["path"] for q in b.requests] == ["/a", "/b"]


def test_http_1_0_closes(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    c = Conn(gw.port)
    r = c.request("POST", "/mock", [], b"x", version="HTTP/1.0")
    assert r.status == 200 and r.header("connection") == "close"
    assert c.closed()


def test_many_requests_on_one_connection(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    c = Conn(gw.port)
    for i in range(500):
        path = "/mock" if i % 2 else f"/echo/{i}"
        r = c.request("POST", path, [], b"%d" % i)
        assert r.status == 200 and r.body.endswith(b"%d" % i)
    c.close()


def test_slow_request_is_served(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    c = Conn(gw.port)
    data = build("POST", "/echo/slow", [("X-A", "b")], b"0123456789" * 20, port=gw.port)
    for i in range(0, len(data), 7):  # dribbled, 7 bytes at a time
        c.send(data[i:i + 7])
        time.sleep(0.01)
    r = c.read()
    assert r.status == 200 and r.body == b"0123456789" * 20
    c.close()


def test_slowloris_is_cut_and_others_are_served(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b, workers=1, limits={"headTimeoutSeconds": 1}))
    slow = [Conn(gw.port) for _ in range(20)]
    for s in slow:
        s.send(b"POST /echo/x HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    # One worker holds twenty half heads; it still answers at once.
    t0 = time.time()
    assert request(gw.port, "POST", "/mock", [], b"ok").body == b"mock:ok"
    assert time.time() - t0 < 0.5 * SLOW
    for s in slow:  # the head timeout ends them
        assert s.closed(timeout=4.0)
    # A body that stalls gets 408 (the body timeout is three head timeouts).
    c = Conn(gw.port)
    c.send(b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
    c.sock.settimeout(8 * SLOW)
    r = c.read()
    assert r.status == 408 and r.body == b'{"message":"Request Timeout"}'
    assert r.header("x-amzn-RequestId")
    assert c.closed()


def test_abusive_input_never_hangs_a_worker(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b, workers=1, limits={"maxHeadBytes": 4096}))
    cases = [
        (b"\x00\x01\x02garbage\r\n\r\n", 400),
        (b"GET /mock HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n", 431),
        (b"POST /mock HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        # Two lengths that disagree would let a proxy in front read another request boundary
        # (request smuggling): refused (RFC 9112 6.3).
        (b"POST /mock HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST /mock HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3"
         b"\r\n\r\nabc", 411),
        (b"GET /mock HTTP/1.1\r\nHost: x\r\n\r\n" * 200, None),  # a flood of pipelined GETs
    ]
    for data, status in cases:
        c = Conn(gw.port)
        c.send(data)
        if status:
            r = c.read()
            assert r.status == status, (data[:40], r)
        c.close()
    # Clients that vanish mid-body or mid-head.
    for data in (b"POST /echo/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
                 b"POST /echo/x HTTP/1.1\r\nHo"):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(data)
        s.close()
    t0 = time.time()
    for i in range(50):
        assert request(gw.port, "POST", "/mock", [], b"%d" % i).status == 200
    assert time.time() - t0 < 5 * SLOW


def test_ten_megabyte_bodies(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))  # default limit: 10 MB, AWS's payload quota
    body = bytes(range(256)) * (TEN_MB // 256)
    assert len(body) == TEN_MB
    c = Conn(gw.port, timeout=60)
    r = c.request("PUT", "/echo/big", [("Content-Type", "application/octet-stream")], body)
    assert r.status == 200, r.headers
    assert r.header("x-len") == str(TEN_MB)
    assert r.header("x-sha") == hashlib.sha256(body).hexdigest()
    assert r.body == body
    # Into a Lambda event (base64 there: octet-stream is binary).
    fn = lambda_len(backend_factory)
    gw2 = gateway_factory(config(http_api([lam("l", fn.url("/fn"))], [route("POST /l", "l")])))
    r = request(gw2.port, "POST", "/l", [("Content-Type", "application/octet-stream")], body)
    assert r.status == 200, r
    assert json.loads(r.body) == {"len": (TEN_MB + 2) // 3 * 4, "b64": True}
    # One byte more: 413 as soon as the head says so, the body is never read.
    c = Conn(gw.port)
    c.send(b"PUT /echo/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (TEN_MB + 1))
    r = c.read()
    assert r.status == 413 and r.body == b'{"message":"Request Entity Too Large"}'
    assert r.header("apigw-requestid") and r.header("x-amzn-RequestId")
    c.close()


def test_ten_megabytes_with_curl(gateway_factory, backend_factory, tmp_path):
    """curl sends Expect: 100-continue for big bodies; the gateway answers it at once."""
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    f = tmp_path / "ten.bin"
    f.write_bytes(b"z" * TEN_MB)
    t0 = time.time()
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}",
                        "-H", "Content-Type: application/octet-stream", "--data-binary",
                        f"@{f}", f"http://127.0.0.1:{gw.port}/echo/curl"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert p.stdout == f"200 {TEN_MB}", (p.stdout, p.stderr)
    assert time.time() - t0 < 5 * SLOW
    assert int(dict(b.requests[-1]["headers"])["Content-Length"]) == TEN_MB
    f.write_bytes(b"z" * (TEN_MB + 1))
    p = subprocess.run(["curl", "-sS", "-w", " %{http_code}", "--data-binary", f"@{f}",
                        f"http://127.0.0.1:{gw.port}/echo/curl"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    assert p.stdout == '{"message":"Request Entity Too Large"} 413', (p.stdout, p.stderr)


def test_client_leaving_while_parked(gateway_factory, backend_factory):
    b = echo_backend(backend_factory, delay=0.5)
    gw = gateway_factory(conn_config(b, workers=1))
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(build("POST", "/echo/gone", [], b"bye", port=gw.port))
        s.close()
    # Parked and abandoned requests do not disturb the next client.
    c = Conn(gw.port)
    r = c.request("POST", "/echo/here", [], b"hi")
    assert r.status == 200 and r.body == b"hi"
    c.close()
    time.sleep(0.6 * SLOW)
    assert request(gw.port, "POST", "/mock", [], b"x").status == 200


def test_concurrent_clients(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    errors = []

    def client(n):
        try:
            c = Conn(gw.port)
            for i in range(40):
                path = "/mock" if i % 2 else f"/echo/{n}"
                body = b"%d-%d" % (n, i)
                r = c.request("POST", path, [], body)
                if r.status != 200 or not r.body.endswith(body):
                    errors.append((n, i, r))
            c.close()
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60 * SLOW)
    assert not errors, errors[:3]


def test_expect_100_continue(gateway_factory, backend_factory):
    b = echo_backend(backend_factory)
    gw = gateway_factory(conn_config(b))
    c = Conn(gw.port)
    c.send(b"POST /echo/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    c.sock.settimeout(5 * SLOW)
    data = c.sock.recv(100)
    assert data == b"HTTP/1.1 100 Continue\r\n\r\n"
    c.send(b"hello")
    r = c.read()
    assert r.status == 200 and r.body == b"hello"
    c.close()
