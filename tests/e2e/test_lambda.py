"""test_lambda.py: AWS_PROXY integrations that invoke Lambda functions through the Lambda Invoke
API (issue 5): AWS's chat sample running in serverless-offline, the outcome of every kind of
failure, stage variables and aliases, SigV4 checked with botocore, credential and endpoint
resolution, and keep-alive."""
import asyncio
import json
import re
import time

import pytest

from conftest import minimal_config, raw_upgrade
from lambdautil import (ACCOUNT, INVOKE_AKID, INVOKE_SECRET, PUSH_AKID, PUSH_SECRET,
                        CountingProxy, Offline, botocore_authorization, free_port, invoke_arn)
from wsutil import connect, expect_silence, recv, run, wait_closed

ID = r"[A-Za-z0-9_-]{15}="
ISE_RE = re.compile(r'^\{"message": "Internal server error", "connectionId":"' + ID +
                    r'", "requestId":"' + ID + r'"\}$')
ISE_BODY = b'{"message": "Internal server error"}'


@pytest.fixture(scope="module")
def offline():
    """One serverless-offline for the module; the chat sample pushes to Portico at a port
    reserved here (the handlers read it from APIGW_ENDPOINT at start)."""
    chat_port = free_port()
    o = Offline(env={"APIGW_ENDPOINT": f"http://127.0.0.1:{chat_port}/dev"})
    o.chat_port = chat_port
    yield o
    o.stop()


def lambda_config(endpoint, listen="127.0.0.1:0", **aws):
    cfg = minimal_config(listen=listen)
    cfg["server"]["aws"] = {"accessKeyId": INVOKE_AKID, "secretAccessKey": INVOKE_SECRET,
                            "lambdaEndpoint": endpoint, **aws}
    cfg["server"]["credentials"] = [{"accessKeyId": PUSH_AKID, "secretAccessKey": PUSH_SECRET}]
    cfg["apis"][0]["stages"][0]["stageVariables"] = {"env": "dev", "alias": "live"}
    return cfg


def add(cfg, key, uri, two_way=False, timeout=None, iid=None):
    api = cfg["apis"][0]
    iid = iid or "i%d" % len(api["integrations"])
    integ = {"integrationId": iid, "integrationType": "AWS_PROXY", "integrationUri": uri}
    if timeout:
        integ["timeoutInMillis"] = timeout
    api["integrations"].append(integ)
    route = {"routeKey": key, "target": "integrations/" + iid}
    if two_way:
        route["routeResponseSelectionExpression"] = "$default"
        route["routeResponses"] = [{"routeResponseKey": "$default"}]
    api["routes"].append(route)
    return cfg


def chat_config(endpoint, listen="127.0.0.1:0"):
    """AWS's chat sample: $connect, $disconnect and sendmessage, by invoke ARN, the function
    name taken from a stage variable and the alias from another."""
    cfg = lambda_config(endpoint, listen)
    add(cfg, "$connect", invoke_arn("chat-${stageVariables.env}-onconnect"))
    add(cfg, "$disconnect", invoke_arn("chat-${stageVariables.env}-ondisconnect"))
    add(cfg, "sendmessage",
        invoke_arn("chat-${stageVariables.env}-sendmessage", "${stageVariables.alias}"))
    return cfg


def listed(offline):
    return sorted(p.name for p in offline.connections.iterdir()) if offline.connections.exists() \
        else []


def test_chat_sample_handlers_run_unchanged(gateway_factory, offline):
    gw = gateway_factory(chat_config(offline.endpoint, f"127.0.0.1:{offline.chat_port}"))

    async def go():
        a = await connect(gw.url())
        b = await connect(gw.url())
        assert len(listed(offline)) == 2  # onconnect stored both before the 101
        await a.send(json.dumps({"action": "sendmessage", "data": "hello world"}))
        # Every connected client, the sender included, receives the raw text (spec 13.1).
        assert await recv(a, 15) == "hello world"
        assert await recv(b, 15) == "hello world"
        await expect_silence(a)  # one-way route: "Data sent." is not sent back
        await b.close()
        deadline = time.time() + 10
        while len(listed(offline)) != 1 and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert len(listed(offline)) == 1  # ondisconnect deleted b
        await a.send(json.dumps({"action": "sendmessage", "data": "still here"}))
        assert await recv(a, 15) == "still here"
        await a.close()
    run(go())
    assert "Found stale connection" not in offline.output()


def test_event_reaches_the_function_exactly(gateway_factory, offline):
    cfg = lambda_config(offline.endpoint)
    add(cfg, "$default", "chat-dev-inspect", two_way=True)
    add(cfg, "echo", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:chat-dev-echo:$LATEST",
        two_way=True)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url(), extra_headers={"User-Agent": "ua/1"})
        await ws.send('{"action":"x","data":"hello"}')
        ev = json.loads(await recv(ws, 15))
        await ws.send('{"action":"echo","data":"é"}')
        assert await recv(ws, 15) == '{"action":"echo","data":"é"}'
        await ws.close()
        return ev
    ev = run(go())
    # The stage defines variables, so the event carries them (spec 6.1 notes, REST v1 analogue).
    assert list(ev) == ["stageVariables", "requestContext", "body", "isBase64Encoded"]
    assert ev["stageVariables"] == {"env": "dev", "alias": "live"}
    assert ev["body"] == '{"action":"x","data":"hello"}'
    rc = ev["requestContext"]
    assert rc["eventType"] == "MESSAGE" and rc["routeKey"] == "$default"
    assert rc["apiId"] == "abcdef1234" and rc["stage"] == "dev"
    assert rc["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "ua/1"}


def test_function_errors(gateway_factory, offline):
    """A handler that throws (X-Amz-Function-Error: Unhandled): $connect 502 with API Gateway's
    body; a message gets the Internal server error frame, on one-way routes too."""
    cfg = lambda_config(offline.endpoint)
    add(cfg, "boom", "chat-dev-boom")
    add(cfg, "boom2", "chat-dev-boom", two_way=True)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"boom"}')
        assert ISE_RE.match(await recv(ws, 15))
        await ws.send('{"action":"boom2"}')
        assert ISE_RE.match(await recv(ws, 15))
        await ws.close()
    run(go())

    cfg = lambda_config(offline.endpoint)
    add(cfg, "$connect", "chat-dev-boom")
    gw = gateway_factory(cfg)
    status, hdrs, body = raw_upgrade(gw.port, "/dev", timeout=15)
    assert (status, body) == (502, ISE_BODY)
    assert hdrs["content-type"] == "application/json"


def test_function_timeout_is_a_function_error(gateway_factory, offline):
    """The function's own timeout (1 s) ends the call with X-Amz-Function-Error, as Lambda's
    "Task timed out": 502, like any function error."""
    cfg = lambda_config(offline.endpoint)
    add(cfg, "$connect", "chat-dev-slow")
    add(cfg, "slow", "chat-dev-slow", two_way=True)
    gw = gateway_factory(cfg)
    t0 = time.time()
    status, _, body = raw_upgrade(gw.port, "/dev", timeout=15)
    assert (status, body) == (502, ISE_BODY)
    assert 0.9 < time.time() - t0 < 8


def test_integration_timeout(gateway_factory, offline):
    """timeoutInMillis elapses before the function answers: $connect 504 with API Gateway's
    "Endpoint request timed out"; a message gets the Internal server error frame."""
    cfg = lambda_config(offline.endpoint)
    add(cfg, "$connect", "chat-dev-slow", timeout=300)
    gw = gateway_factory(cfg)
    status, _, body = raw_upgrade(gw.port, "/dev", timeout=15)
    # 504, not the 502 of the function's own 1 s timeout.
    assert (status, body) == (504, b'{"message": "Endpoint request timed out"}')

    cfg = lambda_config(offline.endpoint)
    add(cfg, "slow", "chat-dev-slow", two_way=True, timeout=300)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"slow","ms":800}')
        assert ISE_RE.match(await recv(ws, 15))
        await ws.close()
    run(go())


def test_missing_function(gateway_factory, offline):
    """The Invoke API answers 404 ResourceNotFoundException: the function never ran, and API
    Gateway answers 500 (not 404); a message gets the Internal server error frame."""
    cfg = lambda_config(offline.endpoint)
    add(cfg, "$connect", invoke_arn("chat-${stageVariables.env}-nosuch"))
    gw = gateway_factory(cfg)
    status, _, body = raw_upgrade(gw.port, "/dev", timeout=15)
    assert (status, body) == (500, ISE_BODY)
    assert "answered 404" in gw.output()

    cfg = lambda_config(offline.endpoint)
    add(cfg, "nosuch", "chat-dev-nosuch")
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"nosuch"}')
        assert ISE_RE.match(await recv(ws, 15))
        await ws.close()
    run(go())


def test_function_returning_nothing(gateway_factory, offline):
    """A handler that returns undefined: no frame on a two-way route. On $connect it is not a
    proxy result: 502, as serverless-offline's own WebSocket emulation answers."""
    cfg = lambda_config(offline.endpoint)
    add(cfg, "$connect", "chat-dev-nothing")
    gw = gateway_factory(cfg)
    status, _, body = raw_upgrade(gw.port, "/dev", timeout=15)
    assert (status, body) == (502, ISE_BODY)

    cfg = lambda_config(offline.endpoint)
    add(cfg, "nothing", "chat-dev-nothing", two_way=True)
    add(cfg, "echo", "chat-dev-echo", two_way=True)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"nothing"}')
        await ws.send('{"action":"echo"}')
        assert await recv(ws, 15) == '{"action":"echo"}'
        await ws.close()
    run(go())


def throttling_endpoint(req):
    """A Lambda Invoke API that throttles, word for word as Lambda answers."""
    return 429, {"Content-Type": "application/json",
                 "x-amzn-ErrorType": "TooManyRequestsException",
                 "x-amzn-RequestId": "c0ffee00-0000-4000-8000-000000000000"}, json.dumps(
        {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User",
         "message": "Rate Exceeded."})


def test_throttle(gateway_factory, backend_factory):
    """429 TooManyRequestsException from the Invoke API: the client sees 500 (API Gateway does
    not pass Lambda's 429 on); a message gets the Internal server error frame."""
    be = backend_factory(throttling_endpoint)
    cfg = lambda_config(be.url())
    add(cfg, "$connect", "chat-dev-onconnect")
    gw = gateway_factory(cfg)
    status, _, body = raw_upgrade(gw.port, "/dev", timeout=15)
    assert (status, body) == (500, ISE_BODY)
    assert "answered 429 TooManyRequestsException" in gw.output()

    cfg = lambda_config(be.url())
    add(cfg, "send", "chat-dev-sendmessage")
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"action":"send"}')
        assert ISE_RE.match(await recv(ws, 15))
        await ws.close()
    run(go())


def test_unreachable_endpoint(gateway_factory):
    cfg = lambda_config(f"http://127.0.0.1:{free_port()}")
    add(cfg, "$connect", "chat-dev-onconnect")
    gw = gateway_factory(cfg)
    status, _, body = raw_upgrade(gw.port, "/dev", timeout=15)
    assert (status, body) == (502, ISE_BODY)


def lambda_result(req):
    return 200, {"Content-Type": "application/json"}, json.dumps(
        {"statusCode": 200, "body": "ok:" + req["path"]})


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEJr//////////wEaDAbc+token="])
def test_signature_matches_botocore(gateway_factory, backend_factory, token):
    """The request Portico sends, recomputed with botocore's SigV4 signer (service lambda, the
    function's region), gives the same Authorization header."""
    be = backend_factory(lambda_result)
    aws = {"sessionToken": token} if token else {}
    cfg = lambda_config(be.url("/base/"), **aws)
    cfg["server"]["logLevel"] = "debug"  # secrets stay out of the log at every level
    add(cfg, "$connect", invoke_arn("chat-${stageVariables.env}-onconnect", region="eu-west-1"))
    add(cfg, "$default", "chat-dev-echo:${stageVariables.alias}", two_way=True)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send("hi")
        return await recv(ws, 15), await ws.close()
    frame, _ = run(go())
    reqs = be.wait_for(lambda r: len(r) >= 2)
    assert frame == "ok:/base/2015-03-31/functions/chat-dev-echo/invocations?Qualifier=live"
    connect_req, msg_req = reqs[0], reqs[1]
    # A local endpoint gets the bare name and ?Qualifier= (serverless-offline 404s on ARNs).
    assert connect_req["path"] == "/base/2015-03-31/functions/chat-dev-onconnect/invocations"
    assert msg_req["path"] == "/base/2015-03-31/functions/chat-dev-echo/invocations?Qualifier=live"
    for req, region in ((connect_req, "eu-west-1"), (msg_req, "us-east-1")):
        hdr = {k.lower(): v for k, v in req["headers"]}
        assert req["method"] == "POST"
        assert hdr["host"] == f"127.0.0.1:{be.port}"
        assert hdr["content-type"] == "application/json"
        assert hdr.get("x-amz-security-token") == token
        assert f"Credential={INVOKE_AKID}/" in hdr["authorization"]
        assert f"/{region}/lambda/aws4_request" in hdr["authorization"]
        want = botocore_authorization(req, be.port, INVOKE_AKID, INVOKE_SECRET, token, region)
        assert hdr["authorization"] == want
        assert json.loads(req["body"])["requestContext"]["eventType"] in ("CONNECT", "MESSAGE")
    out = gw.output()
    assert INVOKE_SECRET not in out and (not token or token not in out)
    assert hdr["authorization"].split("Signature=")[1] not in out


def test_keep_alive_to_the_invoke_endpoint(gateway_factory, offline):
    """Hundreds of invokes ride a few TCP connections: the integration thread's pool keeps them
    alive (no new handshake per message)."""
    proxy = CountingProxy(offline.lambda_port)
    try:
        cfg = lambda_config(proxy.endpoint)
        add(cfg, "$connect", "chat-dev-echo")
        add(cfg, "$default", "chat-dev-echo", two_way=True)
        gw = gateway_factory(cfg)
        n = 300

        async def go():
            clients = [await connect(gw.url()) for _ in range(3)]
            for i in range(n // 3):
                for j, ws in enumerate(clients):
                    await ws.send(f"m{i}-{j}")
                for j, ws in enumerate(clients):
                    assert await recv(ws, 15) == f"m{i}-{j}"
            # A burst: the pool may open a few more for concurrent calls, never one per call.
            await asyncio.gather(*(ws.send(f"b{k}") for k, ws in enumerate(clients)))
            for ws in clients:
                await recv(ws, 15)
            for ws in clients:
                await ws.close()
        run(go())
        print(f"keep-alive: {proxy.accepted} TCP connections for {n + 6} invokes")
        assert proxy.accepted <= 6, f"{proxy.accepted} connections for {n + 6} invokes"
    finally:
        proxy.close()


# ---- credentials and endpoint resolution ---------------------------------------------------


def plain_config(endpoint=None):
    cfg = minimal_config()
    if endpoint:
        cfg["server"]["aws"] = {"lambdaEndpoint": endpoint}
    add(cfg, "$default", "chat-dev-echo", two_way=True)
    return cfg


def signed_by(gw, be):
    async def go():
        ws = await connect(gw.url())
        await ws.send("x")
        await recv(ws, 15)
        await ws.close()
    run(go())
    req = be.wait_for(lambda r: r)[-1]
    return {k.lower(): v for k, v in req["headers"]}


CLEAN = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
         "AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
         "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_LAMBDA": "",
         "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


def test_credentials_and_region_from_the_environment(gateway_factory, backend_factory):
    be = backend_factory(lambda_result)
    env = dict(CLEAN, AWS_ACCESS_KEY_ID="AKIDFROMENV", AWS_SECRET_ACCESS_KEY="env/secret",
               AWS_SESSION_TOKEN="envtoken", AWS_REGION="ap-south-1",
               AWS_ENDPOINT_URL_LAMBDA=be.url(), AWS_ENDPOINT_URL="http://127.0.0.1:9")
    gw = gateway_factory(plain_config(), env=env)
    hdr = signed_by(gw, be)
    assert "Credential=AKIDFROMENV/" in hdr["authorization"]
    assert "/ap-south-1/lambda/aws4_request" in hdr["authorization"]
    assert hdr["x-amz-security-token"] == "envtoken"
    req = be.requests[-1]
    assert hdr["authorization"] == botocore_authorization(req, be.port, "AKIDFROMENV",
                                                          "env/secret", "envtoken", "ap-south-1")
    out = gw.output()
    assert "credentials AKID... from the environment" in out
    assert "env/secret" not in out and "envtoken" not in out


def test_credentials_from_a_profile(gateway_factory, backend_factory, tmp_path):
    be = backend_factory(lambda_result)
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n"
        "[chat]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile/secret\n")
    (tmp_path / "config").write_text("[profile chat]\nregion = eu-central-1\n")
    env = dict(CLEAN, AWS_PROFILE="chat",
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
               AWS_CONFIG_FILE=str(tmp_path / "config"), AWS_ENDPOINT_URL=be.url())
    gw = gateway_factory(plain_config(), env=env)
    hdr = signed_by(gw, be)
    assert "Credential=AKIDPROFILE/" in hdr["authorization"]
    assert "/eu-central-1/lambda/aws4_request" in hdr["authorization"]
    assert "x-amz-security-token" not in hdr
    assert "profile/secret" not in gw.output()

    # server.aws comes first, then the environment, then the profile.
    env2 = dict(env, AWS_ACCESS_KEY_ID="AKIDFROMENV", AWS_SECRET_ACCESS_KEY="e")
    gw = gateway_factory(plain_config(be.url()), env=env2)
    assert "Credential=AKIDFROMENV/" in signed_by(gw, be)["authorization"]
    cfg = plain_config(be.url())
    cfg["server"]["aws"].update(accessKeyId="AKIDCONFIG", secretAccessKey="c", region="sa-east-1")
    gw = gateway_factory(cfg, env=env2)
    auth = signed_by(gw, be)["authorization"]
    assert "Credential=AKIDCONFIG/" in auth and "/sa-east-1/lambda/" in auth


def start_fails(gateway_factory, cfg, env):
    gw = gateway_factory(cfg, env=env, start=False)
    with pytest.raises(RuntimeError) as e:
        gw.start()
    return str(e.value)


def test_start_up_refusals(gateway_factory, tmp_path):
    # No credentials anywhere while functions are invoked through AWS.
    out = start_fails(gateway_factory, plain_config(), CLEAN)
    assert "no AWS credentials were found" in out
    # An AWS_PROFILE that does not exist.
    out = start_fails(gateway_factory, plain_config(), dict(CLEAN, AWS_PROFILE="nope"))
    assert "AWS_PROFILE=nope: no such profile" in out
    # Half the environment pair.
    out = start_fails(gateway_factory, plain_config(), dict(CLEAN, AWS_ACCESS_KEY_ID="A"))
    assert "must be set together" in out
    # A malformed credentials file: the line is named, its content is not echoed.
    (tmp_path / "bad").write_text("[default]\naws_secret_access_key = topsecret\nno equals sign\n")
    out = start_fails(gateway_factory, plain_config(),
                      dict(CLEAN, AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "bad")))
    assert f"{tmp_path / 'bad'}:3: malformed line" in out
    assert "topsecret" not in out and "no equals sign" not in out
    # A bad endpoint from the environment.
    out = start_fails(gateway_factory, plain_config(),
                      dict(CLEAN, AWS_ACCESS_KEY_ID="A", AWS_SECRET_ACCESS_KEY="s",
                           AWS_ENDPOINT_URL="localhost:3002"))
    assert "Lambda endpoint localhost:3002" in out
    # Without Lambda integrations nothing is required.
    cfg = minimal_config()
    cfg["apis"][0]["integrations"].append({"integrationId": "m", "integrationType": "MOCK"})
    cfg["apis"][0]["routes"].append({"routeKey": "$default", "target": "integrations/m"})
    gw = gateway_factory(cfg, env=dict(CLEAN, AWS_ACCESS_KEY_ID="A", AWS_ENDPOINT_URL="x"))
    assert "lambda:" not in gw.output()


def test_local_endpoint_without_credentials_sends_unsigned(gateway_factory, backend_factory):
    be = backend_factory(lambda_result)
    gw = gateway_factory(plain_config(be.url()), env=CLEAN)
    hdr = signed_by(gw, be)
    assert "authorization" not in hdr and "x-amz-date" not in hdr
    assert "go unsigned" in gw.output()


def test_ignore_configured_endpoint_urls(gateway_factory, backend_factory):
    """AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true drops the AWS_ENDPOINT_URL* variables (the SDKs'
    rule); server.aws.lambdaEndpoint still applies."""
    be = backend_factory(lambda_result)
    env = dict(CLEAN, AWS_ACCESS_KEY_ID="A", AWS_SECRET_ACCESS_KEY="s",
               AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true")
    gw = gateway_factory(plain_config(be.url()), env=env)
    assert "Credential=A/" in signed_by(gw, be)["authorization"]
    # Without the config key, the default is AWS's endpoint, which the log names.
    gw = gateway_factory(plain_config(), env=env)
    assert "endpoint AWS (https://lambda.{region}.amazonaws.com)" in gw.output()


def test_one_way_lambda_disconnect_is_invoked(gateway_factory, backend_factory):
    """$disconnect invokes too (best effort), with the DISCONNECT event."""
    be = backend_factory(lambda_result)
    cfg = lambda_config(be.url())
    add(cfg, "$disconnect", "chat-dev-ondisconnect")
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.close(code=1000, reason="bye")
        await wait_closed(ws)
    run(go())
    req = be.wait_for(lambda r: r)[0]
    assert req["path"] == "/2015-03-31/functions/chat-dev-ondisconnect/invocations"
    rc = json.loads(req["body"])["requestContext"]
    assert (rc["eventType"], rc["disconnectStatusCode"], rc["disconnectReason"]) == \
        ("DISCONNECT", 1000, "bye")
