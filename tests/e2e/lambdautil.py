"""lambdautil.py: a local Lambda runtime (serverless-offline), a TCP connection counter and
SigV4 checks with botocore, for the Lambda Invoke end-to-end tests (test_lambda*.py)."""
import datetime
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from unittest import mock

from conftest import ROOT, SLOW

LAMBDA_DIR = ROOT / "tests" / "e2e" / "lambda"
SLS_BIN = ROOT / "tests" / "node_modules" / "serverless" / "bin" / "serverless.js"

# The keys the handlers sign their @connections pushes with (Portico's server.credentials), and
# the ones Portico signs its Lambda Invoke requests with (server.aws).
PUSH_AKID, PUSH_SECRET = "AKIDCHATHANDLERS", "handler/secret+key"
INVOKE_AKID, INVOKE_SECRET = "AKIDPORTICOINVOKE", "portico/invoke+secret"

ACCOUNT = "000000000000"


def free_port():
    """A port nobody listens on right now (for processes that cannot report the one they got)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def invoke_arn(function, alias=None, region="us-east-1"):
    """API Gateway's Lambda invoke ARN, as in AWS's chat sample template."""
    fn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function}" + (f":{alias}" if alias else "")
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{fn}/invocations"


class Offline:
    """serverless-offline serving tests/e2e/lambda through the Lambda Invoke API on loopback.

    Started as `node .../serverless.js offline start` (so the PID is the server's), with HOME in
    a scratch folder, and stopped by PID (local-lambda.md)."""

    def __init__(self, env=None):
        self.home = pathlib.Path(tempfile.mkdtemp(prefix="portico-sls-"))
        self.connections = self.home / "connections"
        self.lambda_port = free_port()
        self.http_port = free_port()
        self.ws_port = free_port()
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        e.update({
            "HOME": str(self.home),
            "SLS_TELEMETRY_DISABLED": "1",
            "SLS_NOTIFICATIONS_MODE": "off",
            "SLS_DEPRECATION_DISABLE": "*",
            # serverless-offline hands every AWS_* variable to the handlers, as the Lambda
            # runtime hands them the function's role credentials.
            "AWS_ACCESS_KEY_ID": PUSH_AKID,
            "AWS_SECRET_ACCESS_KEY": PUSH_SECRET,
            "CONNECTIONS_DIR": str(self.connections),
        })
        e.update(env or {})
        self.log_path = self.home / "offline.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["node", str(SLS_BIN), "offline", "start", "--host", "127.0.0.1",
             "--lambdaPort", str(self.lambda_port), "--httpPort", str(self.http_port),
             "--websocketPort", str(self.ws_port)],
            cwd=LAMBDA_DIR, env=e, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60 * SLOW
        while True:
            try:
                status, _, _ = self.invoke("chat-dev-echo", b'{"body":"ready?"}')
                if status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("serverless-offline did not start:\n" + self.output())
            time.sleep(0.2)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.lambda_port}"

    def invoke(self, name, payload, port=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port or self.lambda_port}/2015-03-31/functions/{name}/invocations",
            data=payload, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def output(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


class CountingProxy:
    """A TCP relay on 127.0.0.1:0 to target_port that counts the connections it accepts."""

    def __init__(self, target_port):
        self.target = target_port
        self.accepted = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.acceptor = threading.Thread(target=self._accept, daemon=True,
                                         name=f"acceptor:{self.port}")
        self.acceptor.start()

    def _accept(self):
        while self.running:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def close(self):
        self.running = False
        try:  # wakes the thread blocked in accept(); close() alone would not (see BadBackend)
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.acceptor.join(5)


def botocore_authorization(req, port, akid, secret, token=None, region="us-east-1"):
    """botocore's Authorization header for the request Portico sent (a Backend record), signed
    at the X-Amz-Date Portico used, over the headers Portico signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    hdr = {k.lower(): v for k, v in req["headers"]}
    signed = hdr["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    own = {"host", "x-amz-date", "x-amz-security-token"}
    names = {k.lower(): k for k, _ in req["headers"]}
    headers = {names[h]: hdr[h] for h in signed if h not in own}
    aws_req = AWSRequest(method=req["method"], url=f"http://127.0.0.1:{port}{req['path']}",
                         data=req["body"], headers=headers)
    t = datetime.datetime.strptime(hdr["x-amz-date"], "%Y%m%dT%H%M%SZ")

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return cls(t.year, t.month, t.day, t.hour, t.minute, t.second)

    with mock.patch("datetime.datetime", Fixed):
        SigV4Auth(Credentials(akid, secret, token), "lambda", region).add_auth(aws_req)
    return aws_req.headers["Authorization"]


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]
