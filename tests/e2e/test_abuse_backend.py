"""test_abuse_backend.py: backends that hang, reset, send garbage or stop mid-body, and a full
LMDB registry. The gateway answers each with a defined error and stays healthy."""
import json
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

from conftest import SLOW, minimal_config
from test_lifecycle import registry_ids
from test_messages import ISE_RE, add_route, mock
from wsutil import RawWS, connect, recv, run


class BadBackend:
    """A TCP server on 127.0.0.1:0 that misbehaves by the request path's first segment:
    /hang (reads, never answers), /reset (reads, then RST), /garbage (non-HTTP bytes, close),
    /truncated (a 200 head with Content-Length 100, then 10 bytes and close),
    /slowdrip (a valid answer one byte per 50 ms), /ok (a proper Lambda result)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.hits = {}
        self.stop = threading.Event()
        self.acceptor = threading.Thread(target=self._accept, daemon=True,
                                         name=f"acceptor:{self.port}")
        self.acceptor.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ", 2)[1].decode()
            mode = path.strip("/").split("/")[0]
            self.hits[mode] = self.hits.get(mode, 0) + 1
            if mode == "hang":
                self.stop.wait(60)
            elif mode == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            elif mode == "garbage":
                c.sendall(b"\x00\xffSSH-2.0-OpenSSH garbage\r\n\r\n\x01\x02")
            elif mode == "truncated":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            elif mode == "slowdrip":
                body = b'{"statusCode":200,"body":"dripped"}'
                out = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                for i in range(len(out)):
                    c.sendall(out[i:i + 1])
                    time.sleep(0.05)
            else:
                body = b'{"statusCode":200,"body":"fine"}'
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        # shutdown() first, then wait for the thread: with close() alone the thread stayed in
        # accept() for the rest of the session and took connections meant for later tests'
        # servers (test_crash's $disconnects got this backend's 200 and were never recorded).
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.acceptor.join(5)
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


MODES = ("hang", "reset", "garbage", "truncated")


def ws_config(bb, timeout_ms=800):
    cfg = minimal_config(workers=1)
    for mode in MODES + ("slowdrip", "ok"):
        add_route(cfg, mode, {"integrationId": mode, "integrationType": "AWS_PROXY",
                              "integrationUri": bb.url(f"/{mode}"),
                              "timeoutInMillis": timeout_ms if mode == "hang" else 29000})
    add_route(cfg, "$default", mock("echo", "$input.body"))
    return cfg


def http_config(bb, timeout_ms=800):
    cfg = minimal_config(workers=1)
    cfg["apis"] = [{
        "apiId": "httpapi123", "name": "rest", "protocolType": "HTTP",
        "routes": [{"routeKey": f"POST /{m}", "target": f"integrations/h{m}"}
                   for m in MODES + ("ok",)],
        "integrations": [{"integrationId": f"h{m}", "integrationType": "AWS_PROXY",
                          "payloadFormatVersion": "2.0", "integrationUri": bb.url(f"/{m}"),
                          "timeoutInMillis": timeout_ms if m == "hang" else 29000}
                         for m in MODES + ("ok",)],
        "stages": [{"stageName": "$default"}],
    }]
    return cfg


def post(port, path):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"{}", method="POST")
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return r.status, r.read(), time.monotonic() - t0
    except urllib.error.HTTPError as e:
        return e.code, e.read(), time.monotonic() - t0


def test_backend_hangs_resets_and_garbage_on_messages(gateway_factory):
    """Each bad backend gives the client an "Internal server error" frame (the hang after
    timeoutInMillis); meanwhile a MOCK echo on the same single worker answers at once."""
    bb = BadBackend()
    try:
        gw = gateway_factory(ws_config(bb))

        async def go():
            ws = await connect(gw.url())
            t0 = time.monotonic()
            for mode in MODES:
                await ws.send(json.dumps({"action": mode}))
            # Echo answers while all four are outstanding (the hang for 800 ms).
            await ws.send("echo me")
            first = await recv(ws)
            errors = [first] if first != "echo me" else []
            assert first == "echo me" or ISE_RE.match(first)
            while len(errors) < len(MODES):
                m = await recv(ws, timeout=5)
                if m != "echo me":
                    errors.append(m)
            elapsed = time.monotonic() - t0
            assert all(ISE_RE.match(e) for e in errors), errors
            assert 0.7 < elapsed < 3 * SLOW, elapsed  # the hang ends at timeoutInMillis
            # The slow-dripping backend is not an error: it is just slow.
            await ws.send('{"action":"slowdrip"}')
            assert await recv(ws, timeout=10) == "dripped"
            await ws.send('{"action":"ok"}')
            assert await recv(ws) == "fine"
            await ws.close()
        run(go())
        assert all(bb.hits.get(m) == 1 for m in MODES), bb.hits
    finally:
        bb.close()


def test_backend_hangs_resets_and_garbage_on_http_routes(gateway_factory):
    """HTTP API routes: a hang is 504 after timeoutInMillis; garbage is 502 (not HTTP); a reset
    or a truncated body is 503 (the connection failed, as for an unreachable backend); the next
    request is served normally."""
    bb = BadBackend()
    try:
        gw = gateway_factory(http_config(bb))
        seen = {}
        for mode in MODES:
            status, body, secs = post(gw.port, f"/{mode}")
            seen[mode] = status
            assert json.loads(body)["message"], body
            if mode == "hang":
                assert 0.7 < secs < 3 * SLOW
        assert seen["hang"] == 504, seen
        assert seen == {"hang": 504, "garbage": 502, "reset": 503, "truncated": 503}, seen
        status, body, _ = post(gw.port, "/ok")
        assert (status, body) == (200, b"fine")
    finally:
        bb.close()


def test_registry_full_refuses_new_connections_clearly_and_recovers(gateway_factory,
                                                                    backend_factory):
    """registryMaxBytes 1 MiB, connections with 8 KB User-Agents (stored in the registry): once
    the map is full, upgrades get 503 and the log says why; open connections keep working,
    closes still commit (and their $disconnect fires), room comes back, and the LMDB file is
    intact (mdb_stat reads it, the registry lists exactly the open connections)."""
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    cfg = minimal_config(workers=1)
    cfg["server"]["limits"] = {"registryMaxBytes": 1 << 20}
    add_route(cfg, "$default", mock("echo", "$input.body"))
    api = cfg["apis"][0]
    api["integrations"].append({"integrationId": "disc", "integrationType": "AWS_PROXY",
                                "integrationUri": be.url("/disconnect")})
    api["routes"].append({"routeKey": "$disconnect", "target": "integrations/disc"})
    gw = gateway_factory(cfg)
    ua = "U" * 8000
    open_ws, refused = [], None
    for i in range(400):
        ws = RawWS(gw.port, headers={"User-Agent": ua})
        if ws.status != 101:
            refused = ws
            break
        open_ws.append(ws)
    assert refused is not None, "the registry never filled"
    assert refused.status == 503
    refused.close()
    n_full = len(open_ws)
    assert n_full > 20
    assert re.search(r"registry commit failed: data store is full \(server\.limits\."
                     r"registryMaxBytes reached\)", gw.output())
    for i, ws in enumerate(open_ws[:5] + open_ws[-5:]):  # still served
        ws.send_frame(1, b"x%d" % i)
        assert ws.recv_frame()[1] == b"x%d" % i
    # Closing frees room: the deletes commit although the map is full.
    for ws in open_ws[:10]:
        ws.send_frame(8, b"\x03\xe8")
        assert ws.recv_close()[0] == 1000
        ws.close()
    be.wait_for(lambda r: len(r) >= 10)
    time.sleep(0.1 * SLOW)
    again = RawWS(gw.port, headers={"User-Agent": ua})
    assert again.status == 101
    still = open_ws[10:] + [again]
    ids = registry_ids(gw.data_dir)
    assert len(ids) == len(still)
    st = subprocess.run(["mdb_stat", "-s", "conns", str(gw.data_dir / "registry")],
                        capture_output=True, text=True, timeout=30)
    assert st.returncode == 0, st.stderr
    assert f"Entries: {len(still)}" in st.stdout
    for ws in still:
        ws.close()
    print(f"\nregistry full at {n_full} connections with 8 KB user agents (1 MiB map)")
