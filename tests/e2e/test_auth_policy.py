"""test_auth_policy.py: resource policies (issue 7): aws:SourceIp allow/deny lists in IAM
policy form, evaluated before anything else (403). Clients connect from 127.0.0.1 and from
127.0.0.2 (any 127/8 source works on Linux's loopback)."""
import json
import socket

from conftest import SLOW, minimal_config, read_http_response
from restutil import config as http_config
from restutil import http_api, mock, route


def upgrade_from(src, port, path="/dev"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW, source_address=(src, 0))
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    st, _, body = read_http_response(s)
    s.close()
    return st, body


def get_from(src, port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=5 * SLOW, source_address=(src, 0))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
              .encode())
    st, headers, body = read_http_response(s)
    s.close()
    return st, headers, body


def ws_gateway(gateway_factory, statements):
    cfg = minimal_config()
    cfg["apis"][0]["routes"] = [{"routeKey": "$default"}]
    cfg["apis"][0]["policy"] = {"Version": "2012-10-17", "Statement": statements}
    return gateway_factory(cfg)


def stmt(effect, op, cidrs, resource="execute-api:/*"):
    return {"Effect": effect, "Principal": "*", "Action": "execute-api:Invoke",
            "Resource": resource, "Condition": {op: {"aws:SourceIp": cidrs}}}


def test_deny_list(gateway_factory):
    gw = ws_gateway(gateway_factory, [stmt("Deny", "IpAddress", ["127.0.0.2/32", "10.0.0.0/8"])])
    assert upgrade_from("127.0.0.1", gw.port)[0] == 101
    st, body = upgrade_from("127.0.0.2", gw.port)
    assert st == 403
    assert json.loads(body)["Message"] == (
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: "
        "arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/$connect with an explicit deny")


def test_allow_list_is_an_implicit_deny_for_the_rest(gateway_factory):
    gw = ws_gateway(gateway_factory, [stmt("Allow", "IpAddress", "127.0.0.1")])
    assert upgrade_from("127.0.0.1", gw.port)[0] == 101
    assert upgrade_from("127.0.0.2", gw.port)[0] == 403


def test_not_ip_address_and_full_arns(gateway_factory):
    arn = "arn:aws:execute-api:us-east-1:000000000000:abcdef1234/dev/*"
    gw = ws_gateway(gateway_factory, [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": arn},
        stmt("Deny", "NotIpAddress", ["127.0.0.2/32"], resource=arn)])
    assert upgrade_from("127.0.0.2", gw.port)[0] == 101
    assert upgrade_from("127.0.0.1", gw.port)[0] == 403


def test_http_api_policy(gateway_factory):
    api = http_api([mock("m")], [route("GET /pets", "m"), route("GET /admin", "m")])
    api["policy"] = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*"},
        stmt("Deny", "NotIpAddress", ["127.0.0.1/32"], resource="execute-api:/*/GET/admin")]}
    gw = gateway_factory(http_config(api))
    assert get_from("127.0.0.2", gw.port, "/pets")[0] == 200
    assert get_from("127.0.0.1", gw.port, "/admin")[0] == 200
    st, headers, body = get_from("127.0.0.2", gw.port, "/admin")
    assert st == 403
    assert headers["x-amzn-errortype"] == "AccessDeniedException"
    assert "with an explicit deny" in json.loads(body)["Message"]


def test_http_api_policy_comes_before_routing(gateway_factory):
    api = http_api([mock("m")], [route("GET /pets", "m")])
    api["policy"] = {"Version": "2012-10-17",
                     "Statement": [stmt("Deny", "IpAddress", ["127.0.0.2/32"])]}
    gw = gateway_factory(http_config(api))
    assert get_from("127.0.0.1", gw.port, "/nope")[0] == 404
    assert get_from("127.0.0.2", gw.port, "/nope")[0] == 403
    assert get_from("127.0.0.2", gw.port, "/pets")[0] == 403
    assert get_from("127.0.0.1", gw.port, "/pets")[0] == 200
