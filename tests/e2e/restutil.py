"""restutil.py: HTTP API configs and raw HTTP/1.1 clients for the REST end-to-end tests."""
import json
import re
import socket
import time

from conftest import SLOW

API_ID = "httpapi001"
WS_API_ID = "wsapi00001"
ID_RE = re.compile(r"^[A-Za-z0-9_-]{15}=$")
CLF_RE = re.compile(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$")
TRACE_RE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")


def http_api(integrations=(), routes=(), stages=None, cors=None, api_id=API_ID, name="rest"):
    api = {
        "apiId": api_id,
        "name": name,
        "protocolType": "HTTP",
        "integrations": list(integrations),
        "routes": list(routes),
        "stages": stages or [{"stageName": "$default"}],
    }
    if cors is not None:
        api["corsConfiguration"] = cors
    return api


def ws_api(api_id=WS_API_ID, stage="chat"):
    return {
        "apiId": api_id,
        "name": "ws",
        "protocolType": "WEBSOCKET",
        "routeSelectionExpression": "$request.body.action",
        "routes": [{"routeKey": "$default"}],
        "integrations": [],
        "stages": [{"stageName": stage}],
    }


def config(*apis, **server):
    cfg = {"server": {"listen": "127.0.0.1:0", "adminListen": "127.0.0.1:0", "workers": 2},
           "apis": list(apis)}
    cfg["server"].update(server)
    return cfg


def mock(iid, status=200, template=None):
    """A MOCK integration answering status with template (VTL) as the body."""
    integ = {"integrationId": iid, "integrationType": "MOCK",
             "requestTemplates": {"$default": '{"statusCode": %d}' % status}}
    if template is not None:
        integ["integrationResponses"] = [{"integrationResponseKey": "$default",
                                          "responseTemplates": {"$default": template}}]
    return integ


def proxy(iid, uri, method="ANY", timeout=None):
    integ = {"integrationId": iid, "integrationType": "HTTP_PROXY", "integrationUri": uri,
             "integrationMethod": method}
    if timeout:
        integ["timeoutInMillis"] = timeout
    return integ


def lam(iid, uri, version="2.0", timeout=None):
    integ = {"integrationId": iid, "integrationType": "AWS_PROXY", "integrationUri": uri,
             "payloadFormatVersion": version}
    if timeout:
        integ["timeoutInMillis"] = timeout
    return integ


def route(key, iid=None):
    r = {"routeKey": key}
    if iid:
        r["target"] = "integrations/" + iid
    return r


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value), as received
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.headers} {self.body[:200]!r}>"


def build(method, path, headers=None, body=b"", host=None, port=None, version="HTTP/1.1"):
    """A request's bytes; headers is a list of pairs (or a dict), sent as given."""
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {path} {version}"]
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if host is not False and not any(k.lower() == "host" for k, _ in hs):
        lines.append(f"Host: {host or f'127.0.0.1:{port}'}")
    for k, v in hs:
        lines.append(f"{k}: {v}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in hs):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Conn:
    """One keep-alive HTTP/1.1 connection with a response reader that tolerates pipelining."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, headers=None, body=b"", **kw):
        self.send(build(method, path, headers, body, port=self.port, **kw))
        return self.read(head=method == "HEAD")

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def read(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        raw, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
        if 100 <= status < 200:
            return self.read(head)
        n = 0
        for k, v in headers:
            if k.lower() == "content-length":
                n = int(v)
        if head or status in (204, 304):
            n = 0
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(status, headers, body)

    def closed(self, timeout=2.0):
        """True when the server closes the connection within timeout (no bytes arrive)."""
        self.sock.settimeout(timeout * SLOW)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


def request(port, method, path, headers=None, body=b"", **kw):
    c = Conn(port)
    try:
        return c.request(method, path, headers, body, **kw)
    finally:
        c.close()


def lambda_echo(version="2.0"):
    """A backend that plays a Lambda function: answers with the event it got in its body."""
    def handler(req):
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"statusCode": 200, "headers": {"Content-Type": "application/json"},
             "body": req["body"].decode()})
    return handler


def wait_until(pred, timeout=5.0):
    deadline = time.time() + timeout * SLOW
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()
