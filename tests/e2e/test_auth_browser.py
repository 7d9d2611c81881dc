"""test_auth_browser.py: a browser connects to an AWS_IAM $connect with a presigned ws:// URL
(issue 7, spec 2.5: browsers cannot set headers on a WebSocket upgrade). Headless Chromium
through tests/e2e/node/browser.mjs (the driver of test_demo_chat.py); the URL is presigned by
botocore's SigV4QueryAuth, as Amplify's Signer.signUrl does."""
import json
import os
import shutil

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ROOT, minimal_config
from test_demo_chat import CHROMIUM, Browser
from test_messages import add_route, mock

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("node") and
         (ROOT / "tests" / "node_modules" / "playwright-core").is_dir()),
    reason="needs chromium, node and playwright-core (scripts/deps.sh test)")

CRED = Credentials("AKIDBROWSERAPP", "browser/app/secret")

OPEN_AND_ECHO = """new Promise((resolve) => {
  const w = new WebSocket(%s);
  w.onopen = () => w.send(JSON.stringify({action: "echo", n: 7}));
  w.onmessage = (e) => { resolve("message " + e.data); w.close(); };
  w.onerror = () => resolve("error");
  setTimeout(() => resolve("timeout"), 10000);
})"""


def presign(url):
    req = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(CRED, "execute-api", "us-east-1", expires=300).add_auth(req)
    return req.url


def test_presigned_url_from_chromium(gateway_factory, backend_factory, tmp_path):
    cfg = minimal_config()
    cfg["server"]["credentials"] = [{
        "accessKeyId": CRED.access_key, "secretAccessKey": CRED.secret_key,
        "invokeResources": ["arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/$connect"]}]
    cfg["apis"][0]["routes"].append({"routeKey": "$connect", "authorizationType": "AWS_IAM"})
    add_route(cfg, "echo", mock("e", '{"n":$input.json(\'$.n\')}'))
    gw = gateway_factory(cfg)
    page = backend_factory(lambda req: (200, {"Content-Type": "text/html"}, "<!doctype html>"))
    signed = "ws" + presign(f"http://127.0.0.1:{gw.port}/dev")[len("http"):]
    b = Browser(tmp_path)
    try:
        b.open("p", page.url("/"))
        assert b.eval("p", OPEN_AND_ECHO % json.dumps(signed)) == 'message {"n":7}'
        unsigned = f"ws://127.0.0.1:{gw.port}/dev"
        assert b.eval("p", OPEN_AND_ECHO % json.dumps(unsigned)) == "error"
    finally:
        b.close()
