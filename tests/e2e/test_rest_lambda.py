"""test_rest_lambda.py: HTTP APIs whose AWS_PROXY integrations name Lambda functions by ARN:
handlers written for HTTP APIs (tests/e2e/lambda_http, payload formats 2.0 and 1.0) run in
serverless-offline behind its Lambda Invoke API, and answer through Portico as on AWS. The
invocations are SigV4-signed (the Lambda engineer's hook, gateway/aws.c)."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import ROOT, SLOW
from restutil import API_ID, ID_RE, config, http_api, lam, request, route

LAMBDA_DIR = ROOT / "tests" / "e2e" / "lambda_http"
SLS_BIN = ROOT / "tests" / "node_modules" / "serverless" / "bin" / "serverless.js"
AKID, SECRET = "AKIDPORTICOREST", "rest/invoke+secret"

pytestmark = pytest.mark.skipif(not (SLS_BIN.exists() and shutil.which("node")),
                                reason="needs node and serverless-offline (scripts/deps.sh test)")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Runtime:
    """serverless-offline serving tests/e2e/lambda_http on loopback; stopped by PID."""

    def __init__(self):
        self.home = pathlib.Path(tempfile.mkdtemp(prefix="portico-rest-sls-"))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"HOME": str(self.home), "SLS_TELEMETRY_DISABLED": "1",
                    "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*"})
        self.log_path = self.home / "offline.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["node", str(SLS_BIN), "offline", "start", "--host", "127.0.0.1",
             "--lambdaPort", str(self.port), "--httpPort", str(free_port()),
             "--websocketPort", str(free_port())],
            cwd=LAMBDA_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60 * SLOW
        while True:
            try:
                req = urllib.request.Request(
                    f"{self.endpoint}/2015-03-31/functions/rest-dev-hello/invocations",
                    data=b"{}", method="POST")
                with urllib.request.urlopen(req, timeout=10) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("serverless-offline did not start:\n" +
                                   self.log_path.read_text(errors="replace"))
            time.sleep(0.2)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

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


@pytest.fixture(scope="module")
def runtime():
    r = Runtime()
    yield r
    r.stop()


def fn_arn(name):
    return f"arn:aws:lambda:us-east-1:000000000000:function:rest-${{stageVariables.env}}-{name}"


def invoke_arn(name):
    return ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:us-east-1:000000000000:function:rest-dev-{name}/invocations")


def lambda_config(runtime):
    api = http_api(
        [lam("items", fn_arn("items"), "2.0"), lam("hello", invoke_arn("hello"), "2.0"),
         lam("image", "rest-dev-image", "2.0"), lam("v1", fn_arn("v1"), "1.0"),
         lam("boom", fn_arn("boom"), "2.0")],
        [route("GET /items/{id}", "items"), route("POST /items", "items"),
         route("GET /hello", "hello"), route("GET /image.png", "image"),
         route("GET /v1/{id}", "v1"), route("ANY /boom", "boom")],
        stages=[{"stageName": "$default", "stageVariables": {"env": "dev"}}])
    return config(api, aws={"accessKeyId": AKID, "secretAccessKey": SECRET,
                            "lambdaEndpoint": runtime.endpoint})


def test_http_api_handlers_answer_as_on_aws(gateway_factory, runtime):
    gw = gateway_factory(lambda_config(runtime))

    r = request(gw.port, "GET", "/items/42?tag=a&tag=b", [("User-Agent", "client/1"),
                                                          ("Cookie", "s=1; t=2")])
    assert r.status == 200, r
    assert r.header("content-type") == "application/json"  # inferred from a bare object
    assert ID_RE.match(r.header("apigw-requestid"))
    assert r.json() == {"id": "42", "query": {"tag": "a,b"}, "rawPath": "/items/42",
                        "routeKey": "GET /items/{id}", "stage": "$default",
                        "cookies": ["s=1", "t=2"], "userAgent": "client/1"}

    r = request(gw.port, "POST", "/items", [("Content-Type", "application/json")],
                json.dumps({"id": 7, "name": "seven"}))
    assert r.status == 201, r
    assert r.header("location") == "/items/7"
    assert r.all("set-cookie") == ["last=7; Path=/; HttpOnly", "seen=1"]
    body = r.json()
    assert body["created"] == {"id": 7, "name": "seven"}
    assert body["requestId"] == r.header("apigw-requestid")

    r = request(gw.port, "GET", "/hello?name=portico")
    assert r.status == 200 and r.body == b"hello portico"
    assert r.header("content-type") == "application/json"

    r = request(gw.port, "GET", "/image.png")
    assert r.status == 200 and r.header("content-type") == "image/png"
    assert r.body == b"\x89PNG\r\n\x1a\n"

    r = request(gw.port, "GET", "/v1/9?x=1&x=2")
    assert r.status == 200, r
    assert r.all("set-cookie") == ["a=1", "b=2"]
    assert r.json() == {"method": "GET", "resource": "/v1/{id}", "path": "/v1/9", "id": "9",
                        "multi": {"x": ["1", "2"]}}

    r = request(gw.port, "POST", "/boom")  # an unhandled exception: a function error
    assert r.status == 502 and r.body == b'{"message":"Internal Server Error"}'


def test_missing_function_is_500(gateway_factory, runtime):
    cfg = config(http_api([lam("x", fn_arn("nosuchfn"), "2.0")], [route("GET /x", "x")],
                          stages=[{"stageName": "$default", "stageVariables": {"env": "dev"}}]),
                 aws={"accessKeyId": AKID, "secretAccessKey": SECRET,
                      "lambdaEndpoint": runtime.endpoint})
    gw = gateway_factory(cfg)
    r = request(gw.port, "GET", "/x")
    assert r.status == 500 and r.body == b'{"message":"Internal Server Error"}'
    assert r.header("x-amzn-RequestId") == r.header("apigw-requestid")
    assert API_ID  # the API answered, not the runtime
