"""conftest.py: fixtures for end-to-end tests: a real portico process and real backends."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("PORTICO_BIN", str(ROOT / "build" / "portico"))
SANITIZED = os.environ.get("PORTICO_SANITIZED") == "1"
# Sanitized builds are several times slower; waits scale with this.
SLOW = 4.0 if SANITIZED else 1.0

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")


def minimal_config(**server):
    """A one-API WebSocket config with no routes but $default; tests add what they need."""
    cfg = {
        "server": {"listen": "127.0.0.1:0", "adminListen": "127.0.0.1:0", "workers": 2},
        "apis": [{
            "apiId": "abcdef1234",
            "name": "test",
            "protocolType": "WEBSOCKET",
            "routeSelectionExpression": "$request.body.action",
            "routes": [],
            "integrations": [],
            "stages": [{"stageName": "dev"}],
        }],
    }
    cfg["server"].update(server)
    return cfg


class Gateway:
    """A running portico process on ports chosen by the kernel (read from --port-file)."""

    def __init__(self, tmp, config, args=(), env=None):
        self.tmp = pathlib.Path(tmp)
        self.config = config
        self.args = list(args)
        self.env = env
        self.proc = None
        self.port = self.admin_port = None
        self.log_path = None
        self.starts = 0

    @property
    def data_dir(self):
        return self.tmp / "data"

    def start(self):
        self.starts += 1
        cfg_path = self.tmp / "portico.json"
        cfg_path.write_text(json.dumps(self.config, indent=2))
        port_file = self.tmp / "ports.json"
        if port_file.exists():
            port_file.unlink()
        self.log_path = self.tmp / f"portico-{self.starts}.log"
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [BIN, "--config", str(cfg_path), "--port-file", str(port_file), "--data-dir",
             str(self.data_dir)] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 15 * SLOW
        while time.time() < deadline:
            if port_file.exists():
                try:
                    ports = json.loads(port_file.read_text())
                    self.port, self.admin_port = ports["listen"], ports["admin"]
                    return self
                except (ValueError, KeyError):
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"portico exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.02)
        raise RuntimeError("portico did not write its port file:\n" + self.output())

    def output(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def url(self, stage="dev", query=""):
        return f"ws://127.0.0.1:{self.port}/{stage}" + (f"?{query}" if query else "")

    def http(self, stage="dev"):
        return f"http://127.0.0.1:{self.port}/{stage}"

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("portico did not stop on SIGTERM:\n" + self.output())
        self.log.close()
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def check_clean(self):
        out = self.output()
        for mark in SANITIZER_MARKS:
            assert mark not in out, f"sanitizer report in portico's log:\n{out}"


@pytest.fixture(autouse=True)
def no_stray_acceptors():
    """Fails a test that leaves a hand-made server's accept thread running (threads named
    acceptor:PORT): such a thread once took connections meant for a later test's backend."""
    yield
    left = [t.name for t in threading.enumerate() if t.name.startswith("acceptor:")]
    assert not left, f"accept threads still running after the test: {left}"


@pytest.fixture
def gateway_factory(tmp_path):
    """Starts gateways; every one is stopped by PID at the end and its log checked."""
    started = []

    def make(config, args=(), env=None, start=True, subdir=None):
        d = tmp_path / (subdir or f"gw{len(started)}")
        d.mkdir(exist_ok=True)
        gw = Gateway(d, config, args, env)
        started.append(gw)
        return gw.start() if start else gw

    yield make
    for gw in started:
        if gw.proc and gw.proc.poll() is None:
            rc = gw.stop()
            assert rc == 0, f"portico exited with {rc} on SIGTERM:\n{gw.output()}"
        for i in range(1, gw.starts + 1):
            log = gw.tmp / f"portico-{i}.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            for mark in SANITIZER_MARKS:
                assert mark not in text, f"sanitizer report in {log}:\n{text}"


class Backend:
    """An HTTP backend on 127.0.0.1:0 that records requests and answers by a handler.

    handler(req) -> (status, headers dict, body bytes|str) or None for 200/empty.
    req is a dict: method, path, headers (list of pairs), body (bytes), json (parsed or None).
    """

    def __init__(self, handler=None):
        self.requests = []
        self.handler = handler
        self.cond = threading.Condition()
        backend = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # header and body leave in separate writes

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                req = {"method": self.command, "path": self.path,
                       "headers": list(self.headers.items()), "body": body, "json": parsed,
                       "time": time.time()}
                with backend.cond:
                    backend.requests.append(req)
                    backend.cond.notify_all()
                res = backend.handler(req) if backend.handler else None
                status, headers, out = res if res else (200, {}, b"")
                if isinstance(out, str):
                    out = out.encode()
                if status is None:  # drop the connection without answering
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the default 5 drops SYNs when curl opens many at once
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, pred, timeout=5.0):
        """Waits until pred(requests) is true; returns the requests."""
        deadline = time.time() + timeout * SLOW
        with self.cond:
            while not pred(self.requests):
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"backend never saw the expected requests: "
                                         f"{[(r['method'], r['path']) for r in self.requests]}")
                self.cond.wait(left)
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend_factory():
    made = []

    def make(handler=None):
        b = Backend(handler)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def raw_upgrade(port, path="/dev", headers=None, timeout=5.0):
    """Sends a WebSocket upgrade by hand; returns (status, headers dict lower-cased, body)."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return read_http_response(s)


def read_http_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    return status, hdrs, rest[:n] if status != 101 else rest
