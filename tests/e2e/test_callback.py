"""test_callback.py: the @connections API with real AWS clients: boto3, awscli, curl, the JS SDK v3."""
import asyncio
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.config import Config

from conftest import ROOT, SLOW, minimal_config
from test_limits import disconnect_backend
from test_messages import add_route, mock
from wsutil import RawWS, connect, recv, run, wait_closed

AK, SK = "AKIDPORTICOTEST00001", "portico/test/secret/key/0000000000000000"
TOKEN_AK, TOKEN_SK, TOKEN = "ASIAPORTICOTEMP00002", "temporary/secret/0000000000000000000", \
    "session-token-value-for-tests"
STAGE_AK, STAGE_SK = "AKIDPORTICOSTAGEONLY", "stage/limited/secret/00000000000000000000"
REGION = "us-east-1"
AWS = "/usr/bin/aws"  # Debian's awscli v2 (a pyenv v1 may come first on PATH)
ENV = {"AWS_ACCESS_KEY_ID": AK, "AWS_SECRET_ACCESS_KEY": SK, "AWS_REGION": REGION,
       "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
       "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def push_config(**limits):
    cfg = minimal_config()
    cfg["server"]["region"] = REGION
    cfg["server"]["credentials"] = [
        {"accessKeyId": AK, "secretAccessKey": SK},
        {"accessKeyId": TOKEN_AK, "secretAccessKey": TOKEN_SK, "sessionToken": TOKEN},
        {"accessKeyId": STAGE_AK, "secretAccessKey": STAGE_SK, "stages": ["prod"]},
    ]
    if limits:
        cfg["server"]["limits"] = limits
    cfg["apis"][0]["stages"].append({"stageName": "prod"})
    add_route(cfg, "whoami", mock("who", '{"connectionId":"$context.connectionId"}'))
    return cfg


def mgmt(gw, ak=AK, sk=SK, token=None):
    return boto3.client("apigatewaymanagementapi", endpoint_url=gw.http(), region_name=REGION,
                        aws_access_key_id=ak, aws_secret_access_key=sk, aws_session_token=token,
                        config=Config(retries={"max_attempts": 0}))


async def open_client(gw, **kw):
    ws = await connect(gw.url(), **kw)
    await ws.send('{"action":"whoami"}')
    cid = json.loads(await recv(ws))["connectionId"]
    return ws, cid


def signed(method, url, body=b"", headers=None, ak=AK, sk=SK, when=None):
    """A request signed by botocore's own SigV4 signer; returns an AWSRequest."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(ak, sk), "execute-api",
                                     REGION)
    if when:
        orig = botocore.auth.datetime.datetime

        class Fixed(orig):
            @classmethod
            def utcnow(cls):
                return when
        botocore.auth.datetime.datetime = Fixed
        try:
            signer.add_auth(req)
        finally:
            botocore.auth.datetime.datetime = orig
    else:
        signer.add_auth(req)
    return req


def send(method, url, body=b"", headers=None):
    r = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                               headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(r, timeout=10 * SLOW) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_boto3_post_get_delete(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    gw = gateway_factory(disconnect_backend(push_config(), be))
    api = mgmt(gw)

    async def go():
        ws, cid = await open_client(gw, extra_headers={"User-Agent": "boto-test-client"})
        assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", cid)
        r = api.post_to_connection(ConnectionId=cid, Data=b"hello from boto3")
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert r["ResponseMetadata"]["RequestId"]
        assert await recv(ws) == "hello from boto3"
        info = api.get_connection(ConnectionId=cid)
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "boto-test-client"}
        assert abs(info["ConnectedAt"].timestamp() - time.time()) < 60
        assert info["LastActiveAt"] >= info["ConnectedAt"]
        r = api.delete_connection(ConnectionId=cid)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
        code, reason = await wait_closed(ws)
        assert code == 1000
        with pytest.raises(api.exceptions.GoneException):
            api.post_to_connection(ConnectionId=cid, Data=b"too late")
        with pytest.raises(api.exceptions.GoneException):
            api.get_connection(ConnectionId=cid)
    run(go())
    ev = be.wait_for(lambda r: r)[0]["json"]["requestContext"]
    assert ev["disconnectStatusCode"] == 1000
    assert ev["disconnectReason"] == "Connection Closed Normally"


def test_get_connection_user_agent_null_and_raw_json(gateway_factory):
    gw = gateway_factory(push_config())
    raw = RawWS(gw.port)
    raw.send_frame(1, b'{"action":"whoami"}')
    cid = json.loads(raw.recv_frame()[1])["connectionId"]
    req = signed("GET", f"{gw.http()}/@connections/{cid.replace('=', '%3D')}")
    status, hdrs, body = send("GET", req.url, headers=req.headers)
    assert status == 200
    doc = json.loads(body)
    assert list(doc) == ["connectedAt", "identity", "lastActiveAt"]
    assert doc["identity"] == {"sourceIp": "127.0.0.1", "userAgent": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["connectedAt"])
    assert {k.lower() for k in hdrs} >= {"x-amzn-requestid"}
    raw.close()


def test_pushes_reach_connections_on_every_worker(gateway_factory):
    gw = gateway_factory(push_config(), args=["--workers", "2"])
    api = mgmt(gw)

    async def go():
        clients = [await open_client(gw) for _ in range(32)]
        for ws, cid in clients:
            api.post_to_connection(ConnectionId=cid, Data=f"to {cid}".encode())
        for ws, cid in clients:
            assert await recv(ws) == f"to {cid}"
            await ws.close()
        return [cid for _, cid in clients]
    ids = run(go())
    # Byte 7 of an id names its worker. The kernel spreads 32 connections over both workers
    # (all on one has odds of 2^-31), so half the pushes above crossed workers.
    owners = {base64.urlsafe_b64decode(cid)[7] for cid in ids}
    assert owners == {0, 1}


def test_aws_cli_post_to_connection(gateway_factory):
    gw = gateway_factory(push_config())
    env = dict(os.environ, **ENV)

    async def go():
        ws, cid = await open_client(gw)
        r = subprocess.run(
            [AWS, "apigatewaymanagementapi", "post-to-connection", "--endpoint-url",
             gw.http(), "--connection-id", cid, "--data", "hello from awscli",
             "--cli-binary-format", "raw-in-base64-out"],
            capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert await recv(ws) == "hello from awscli"
        r = subprocess.run([AWS, "apigatewaymanagementapi", "get-connection", "--endpoint-url",
                            gw.http(), "--connection-id", cid], capture_output=True, text=True,
                           env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["Identity"]["SourceIp"] == "127.0.0.1"
        r = subprocess.run([AWS, "apigatewaymanagementapi", "delete-connection",
                            "--endpoint-url", gw.http(), "--connection-id", cid],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert (await wait_closed(ws))[0] == 1000
        r = subprocess.run(
            [AWS, "apigatewaymanagementapi", "post-to-connection", "--endpoint-url",
             gw.http(), "--connection-id", cid, "--data", "x", "--cli-binary-format",
             "raw-in-base64-out"], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode != 0
        assert "GoneException" in r.stderr
    run(go())


def test_curl_aws_sigv4(gateway_factory):
    gw = gateway_factory(push_config())

    def curl(method, cid, data=None):
        args = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--aws-sigv4",
                f"aws:amz:{REGION}:execute-api", "--user", f"{AK}:{SK}", "-X", method,
                f"{gw.http()}/@connections/{cid.replace('=', '%3D')}"]
        if data is not None:
            args[1:1] = ["--data-binary", data]
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
        body, _, code = r.stdout.rpartition("\n")
        return int(code), body

    async def go():
        ws, cid = await open_client(gw)
        assert curl("POST", cid, "hello from curl") == (200, "")
        assert await recv(ws) == "hello from curl"
        code, body = curl("GET", cid)
        assert code == 200 and json.loads(body)["identity"]["sourceIp"] == "127.0.0.1"
        assert curl("DELETE", cid)[0] == 204
        assert (await wait_closed(ws))[0] == 1000
        assert curl("POST", cid, "late")[0] == 410
    run(go())


NODE_DIR = ROOT / "tests" / "node_modules" / "@aws-sdk" / "client-apigatewaymanagementapi"


@pytest.mark.skipif(not shutil.which("node"), reason="node is installed by scripts/deps.sh test")
def test_node_sdk_v3(gateway_factory):
    assert NODE_DIR.exists(), "run scripts/deps.sh test (npm ci in tests/)"
    gw = gateway_factory(push_config())
    env = dict(os.environ, **ENV, NODE_PATH=str(ROOT / "tests" / "node_modules"))
    script = ROOT / "tests" / "e2e" / "node" / "mgmt.mjs"

    def node(*args):
        r = subprocess.run(["node", str(script), gw.http(), *args], capture_output=True,
                           text=True, env=env, timeout=60, cwd=ROOT / "tests")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    async def go():
        ws, cid = await open_client(gw, extra_headers={"User-Agent": "node-test"})
        out = node("post", cid, "hello from sdk v3")
        assert out["ok"] and out["status"] == 200 and out["requestId"]
        assert await recv(ws) == "hello from sdk v3"
        out = node("get", cid)
        assert out["ok"], out
        assert out["result"]["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "node-test"}
        assert out["result"]["ConnectedAt"].endswith("Z")
        out = node("delete", cid)
        assert out["ok"] and out["status"] == 204
        assert (await wait_closed(ws))[0] == 1000
        out = node("post", cid, "late")
        assert not out["ok"] and out["name"] == "GoneException" and out["status"] == 410
    run(go())


def test_session_token_credentials(gateway_factory):
    gw = gateway_factory(push_config())

    async def go():
        ws, cid = await open_client(gw)
        mgmt(gw, TOKEN_AK, TOKEN_SK, TOKEN).post_to_connection(ConnectionId=cid, Data=b"tok")
        assert await recv(ws) == "tok"
        with pytest.raises(Exception) as e:
            mgmt(gw, TOKEN_AK, TOKEN_SK, "wrong-token").post_to_connection(ConnectionId=cid,
                                                                           Data=b"x")
        assert "UnrecognizedClientException" in str(e.value) or "403" in str(e.value)
        await ws.close()
    run(go())


def error_of(gw, method, cid, body=b"", mutate=None, **sign_kw):
    url = f"{gw.http()}/@connections/{cid.replace('=', '%3D')}"
    req = signed(method, url, body, **sign_kw)
    headers = dict(req.headers)
    if mutate:
        url, body, headers = mutate(url, body, headers)
    status, hdrs, out = send(method, url, body, headers)
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    return status, hdrs.get("x-amzn-errortype"), out


def test_signature_failures_are_403_with_aws_errors(gateway_factory):
    gw = gateway_factory(push_config())

    async def go():
        ws, cid = await open_client(gw)
        body = b"payload"
        status, et, out = error_of(gw, "POST", cid, body, sk="wrong-secret")
        assert (status, et) == (403, "InvalidSignatureException")
        assert json.loads(out)["message"].startswith(
            "The request signature we calculated does not match the signature you provided.")
        status, et, out = error_of(gw, "POST", cid, body, ak="AKIDUNKNOWN000000000")
        assert status == 403 and et == "UnrecognizedClientException"
        assert json.loads(out)["message"] == "The security token included in the request is invalid."
        status, et, _ = error_of(gw, "POST", cid, body,
                                 mutate=lambda u, b, h: (u, b"tampered", h))
        assert (status, et) == (403, "InvalidSignatureException")
        status, et, _ = error_of(gw, "POST", cid, body,
                                 mutate=lambda u, b, h: (u.replace("/dev/", "/dev//"), b, h))
        assert status == 403
        status, et, _ = error_of(gw, "POST", cid, body,
                                 mutate=lambda u, b, h: (u, b, {**h, "Host": "evil.example"}))
        assert (status, et) == (403, "InvalidSignatureException")
        import datetime
        old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
        status, et, out = error_of(gw, "POST", cid, body, when=old)
        assert (status, et) == (403, "InvalidSignatureException")
        assert json.loads(out)["message"].startswith("Signature expired:")
        status, hdrs, out = send("POST", f"{gw.http()}/@connections/{cid}", body)
        assert status == 403
        assert json.loads(out) == {"message": "Missing Authentication Token"}
        assert {k.lower(): v for k, v in hdrs.items()}["x-amzn-errortype"] == \
            "MissingAuthenticationTokenException"
        # nothing of the above was delivered
        await ws.send('{"action":"whoami"}')
        assert json.loads(await recv(ws))["connectionId"] == cid
        await ws.close()
    run(go())


def test_stage_restricted_credential(gateway_factory):
    gw = gateway_factory(push_config())

    async def go():
        ws, cid = await open_client(gw)
        status, et, out = error_of(gw, "POST", cid, b"x", ak=STAGE_AK, sk=STAGE_SK)
        assert (status, et) == (403, "AccessDeniedException")
        assert "is not authorized to perform: execute-api:ManageConnections" in \
            json.loads(out)["message"]
        await ws.close()
    run(go())


def test_unknown_id_gone_and_oversized_body_413(gateway_factory):
    gw = gateway_factory(push_config())
    api = mgmt(gw)
    for bogus in ("L0SM9cOFvHcCIhw=", "not-an-id", "AAAAAAAAAAAAAAA="):
        with pytest.raises(api.exceptions.GoneException):
            api.post_to_connection(ConnectionId=bogus, Data=b"x")

    async def go():
        ws, cid = await open_client(gw)
        api.post_to_connection(ConnectionId=cid, Data=b"y" * 131072)  # exactly 128 KB: fine
        assert len(await recv(ws)) == 131072
        with pytest.raises(api.exceptions.PayloadTooLargeException):
            api.post_to_connection(ConnectionId=cid, Data=b"y" * 131073)
        await ws.close()
    run(go())


def test_post_while_connecting_is_gone(gateway_factory, backend_factory):
    ids = []

    def slow_connect(req):
        ids.append(req["json"]["requestContext"]["connectionId"])
        time.sleep(1.0)
        return 200, {}, '{"statusCode":200}'

    be = backend_factory(slow_connect)
    cfg = push_config()
    api_cfg = cfg["apis"][0]
    api_cfg["integrations"].append({"integrationId": "c", "integrationType": "AWS_PROXY",
                                    "integrationUri": be.url("/connect")})
    api_cfg["routes"].append({"routeKey": "$connect", "target": "integrations/c"})
    gw = gateway_factory(cfg)
    api = mgmt(gw)

    async def go():
        pending = asyncio.ensure_future(connect(gw.url()))
        while not ids:
            await asyncio.sleep(0.02)
        with pytest.raises(api.exceptions.GoneException):
            api.post_to_connection(ConnectionId=ids[0], Data=b"too early")
        ws = await pending
        api.post_to_connection(ConnectionId=ids[0], Data=b"now")
        assert await recv(ws) == "now"
        await ws.close()
    run(go())


def test_full_queue_is_429_and_memory_stays_bounded(gateway_factory):
    gw = gateway_factory(push_config(outboundQueueMessages=8, outboundQueueBytes=262144))
    api = mgmt(gw)
    raw = RawWS(gw.port)
    raw.send_frame(1, b'{"action":"whoami"}')
    cid = json.loads(raw.recv_frame()[1])["connectionId"]
    # The client stops reading: kernel buffers fill, then Portico's queue, then 429.
    chunk = b"q" * 100000
    limited = 0
    for i in range(400):
        try:
            api.post_to_connection(ConnectionId=cid, Data=chunk)
        except api.exceptions.LimitExceededException as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            limited += 1
            if limited >= 5:
                break
    assert limited >= 5, "the queue never filled"
    rss_kb = int(next(ln.split()[1] for ln in open(f"/proc/{gw.proc.pid}/status")
                      if ln.startswith("VmRSS")))
    assert rss_kb < 200 * 1024  # 400 pushes of 100 KB would be 40 MB if nothing were bounded
    raw.close()


def test_pipelined_pushes_on_one_keep_alive_connection(gateway_factory):
    """Several signed pushes written in one segment: answered in order, each delivered once,
    also when some target a connection of the other worker (the request is parked meanwhile)."""
    gw = gateway_factory(push_config(), args=["--workers", "2"])

    async def go():
        clients = [await open_client(gw) for _ in range(6)]
        blob = b""
        for i, (_, cid) in enumerate(clients * 2):
            url = f"{gw.http()}/@connections/{cid.replace('=', '%3D')}"
            body = f"pipelined {i}".encode()
            req = signed("POST", url, body)
            head = f"POST /dev/@connections/{cid.replace('=', '%3D')} HTTP/1.1\r\n" \
                   f"Host: 127.0.0.1:{gw.port}\r\n"
            for k, v in req.headers.items():
                head += f"{k}: {v}\r\n"
            head += f"Content-Length: {len(body)}\r\n\r\n"
            blob += head.encode() + body
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10 * SLOW)
        s.sendall(blob)
        data = b""
        while data.count(b"HTTP/1.1 ") < 12 or not data.endswith(b"\r\n\r\n"):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        s.close()
        assert data.count(b"HTTP/1.1 200 OK") == 12
        for i, (ws, cid) in enumerate(clients):
            assert await recv(ws) == f"pipelined {i}"
            assert await recv(ws) == f"pipelined {i + 6}"
            await ws.close()
    run(go())
