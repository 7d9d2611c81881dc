"""test_auth_lambda.py: a real Node Lambda REQUEST authorizer (tests/e2e/lambda/authorizer.js)
on $connect, run by serverless-offline behind the Lambda Invoke API, as a chat app's
token-in-the-query-string authorizer runs on AWS (issue 7, spec 2.5)."""
import json

import pytest

from conftest import raw_upgrade
from lambdautil import Offline, invoke_arn
from test_lambda import add, lambda_config
from wsutil import connect, recv, run


@pytest.fixture(scope="module")
def offline():
    o = Offline()
    yield o
    o.stop()


def test_node_authorizer_on_connect(gateway_factory, offline):
    cfg = lambda_config(offline.endpoint)
    api = cfg["apis"][0]
    api["authorizers"] = [{"name": "token", "authorizerId": "tok", "authorizerType": "REQUEST",
                           "authorizerUri": invoke_arn("chat-dev-authorizer"),
                           "identitySource": ["route.request.querystring.token"]}]
    add(cfg, "$connect", invoke_arn("chat-dev-echo"))
    api["routes"][-1].update(authorizationType="CUSTOM", authorizerId="tok")
    add(cfg, "$default", invoke_arn("chat-dev-inspect"), two_way=True)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url(query="token=user-alice"))
        await ws.send('{"action":"anything"}')
        ev = json.loads(await recv(ws, timeout=20))
        await ws.close()
        return ev

    ev = run(go())
    assert ev["requestContext"]["authorizer"] == {
        "principalId": "user-alice", "user": "user-alice", "level": "3", "admin": "false"}
    for token, status, message in [("nope", 401, "Unauthorized"), ("banned", 403, "Forbidden")]:
        st, _, body = raw_upgrade(gw.port, f"/dev?token={token}", timeout=20)
        assert (st, json.loads(body)) == (status, {"message": message}), token
    st, _, body = raw_upgrade(gw.port, "/dev")
    assert (st, json.loads(body)) == (401, {"message": "Unauthorized"})
