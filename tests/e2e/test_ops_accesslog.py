"""test_ops_accesslog.py: access logs: configured and default formats, destinations, slow disks, rotation."""
import collections
import json
import os
import re
import subprocess
import time

from conftest import BIN, SLOW
from opsutil import admin, scenario_backend, scenario_config, scrape, value, wait_until
from test_callback import AK, REGION, SK
from test_ops_metrics import scripted_sequence
from wsutil import connect, recv, run

ID = r"[A-Za-z0-9_-]{15}="
FORMAT = ("$context.requestId $context.eventType $context.routeKey $context.status "
          "$context.connectionId $context.integrationLatency $context.integration.status "
          "[$context.error.message] \"$context.identity.userAgent\" $context.httpMethod "
          "$context.stage")
LINE = re.compile(rf"^(?P<rid>{ID}) (?P<ev>CONNECT|MESSAGE|DISCONNECT) (?P<route>\S+) "
                  rf"(?P<status>\d+|-) (?P<cid>{ID}) (?P<lat>\d+|-) (?P<istatus>\d+|-) "
                  r"\[(?P<err>[^\]]*)\] \"(?P<ua>[^\"]*)\" (?P<method>-) (?P<stage>dev)$")
GROUP_ARN = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/portico-test"


def read_lines(path, n, timeout=5.0):
    """Waits until path holds at least n lines; returns them."""
    def ready():
        if not os.path.exists(path):
            return None
        with open(path) as f:
            lines = f.read().splitlines()
        return lines if len(lines) >= n else None
    return wait_until(ready, timeout, f"{n} lines in {path}")


def logging_gateway(gateway_factory, backend_factory, tmp_path):
    be = backend_factory(scenario_backend)
    dev_log = tmp_path / "dev-access.log"
    cfg = scenario_config(be, access_log=[
        {"destinationArn": str(dev_log), "format": FORMAT},
        {"destinationArn": GROUP_ARN},  # no format: the JSON default
    ])
    cfg["server"]["region"] = REGION
    cfg["server"]["credentials"] = [{"accessKeyId": AK, "secretAccessKey": SK}]
    gw = gateway_factory(cfg)
    return gw, be, dev_log, gw.data_dir / "access-logs" / "aws_apigateway_portico-test.log"


def test_lines_follow_the_configured_format(gateway_factory, backend_factory, tmp_path):
    gw, be, dev_log, prod_log = logging_gateway(gateway_factory, backend_factory, tmp_path)

    async def go():
        a, d = await scripted_sequence(gw, be)
        await a.close()
        await d.close()
    run(go())
    # dev: 4 CONNECT (one refused), 3 echo + fail + 2 down + 2 unmatched, 3 DISCONNECT.
    lines = read_lines(dev_log, 15)
    assert len(lines) == 15, "\n".join(lines)
    parsed = []
    for ln in lines:
        m = LINE.match(ln)
        assert m, f"line does not follow the format: {ln!r}"
        parsed.append(m.groupdict())
    seen = collections.Counter((p["ev"], p["route"], p["status"], p["err"]) for p in parsed)
    assert seen == {
        ("CONNECT", "$connect", "200", "-"): 3,
        ("CONNECT", "$connect", "403", "-"): 1,
        ("MESSAGE", "echo", "200", "-"): 3,
        ("MESSAGE", "fail", "200", "-"): 1,
        ("MESSAGE", "down", "500", "Internal server error"): 2,
        ("MESSAGE", "-", "403", "Forbidden"): 2,
        ("DISCONNECT", "$disconnect", "200", "-"): 3,
    }, seen
    assert len({p["rid"] for p in parsed}) == len(parsed)  # one request id per event
    for p in parsed:
        assert p["ua"].startswith("Python/") or p["ua"] == "-"
        if p["route"] in ("echo", "-") or p["ev"] == "DISCONNECT":
            assert p["lat"] == "-", p  # MOCK, no route, or fired (no result yet)
        else:
            assert p["lat"] != "-", p
        if p["route"] == "fail":
            assert p["istatus"] == "500"
        if p["ev"] == "CONNECT":
            assert p["istatus"] == p["status"]
    # Every dev connection: one CONNECT and, for those that were open, one DISCONNECT.
    per_conn = collections.defaultdict(list)
    for p in parsed:
        per_conn[p["cid"]].append(p["ev"])
    assert sorted(per_conn.values(), key=len) == sorted(
        [["CONNECT"]] + [["CONNECT", "MESSAGE", "MESSAGE", "DISCONNECT"]] +
        [["CONNECT", "MESSAGE", "MESSAGE", "DISCONNECT"]] +
        [["CONNECT"] + ["MESSAGE"] * 4 + ["DISCONNECT"]], key=len)
    # prod: the JSON default format at the ARN's file under the data directory.
    lines = read_lines(prod_log, 3)
    events = [json.loads(ln) for ln in lines]
    assert [e["eventType"] for e in events] == ["CONNECT", "MESSAGE", "DISCONNECT"]
    assert list(events[0]) == ["requestId", "ip", "requestTime", "eventType", "routeKey",
                               "status", "connectionId", "integrationLatency", "errorMessage"]
    assert events[1]["routeKey"] == "echo" and events[1]["status"] == "200"
    assert events[0]["ip"] == "127.0.0.1"
    assert re.fullmatch(r"\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000", events[0]["requestTime"])
    assert len({e["connectionId"] for e in events}) == 1
    fams, _ = scrape(gw)
    assert value(fams, "portico_access_log_lines", destination=str(dev_log)) == 15
    assert value(fams, "portico_access_log_lines", destination=str(prod_log)) == 3
    assert value(fams, "portico_access_log_dropped_lines", reason="buffer_full") == 0


def test_slow_destination_drops_lines_and_never_blocks(gateway_factory, backend_factory,
                                                         tmp_path):
    """A FIFO that nobody reads is a disk that never finishes a write."""
    fifo = tmp_path / "stalled.log"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open, never read (for now)
    try:
        be = backend_factory(scenario_backend)
        cfg = scenario_config(be, access_log=[
            {"destinationArn": str(fifo),
             "format": "$context.requestId $context.eventType \"$context.identity.userAgent\""},
            None])
        cfg["apis"][0]["routes"] = [r for r in cfg["apis"][0]["routes"]
                                    if not r["routeKey"].startswith("$")]
        gw = gateway_factory(cfg)
        ua = "slow-disk-test/" + "u" * 4000  # ~4 KB lines: the FIFO holds 16 of them
        n = 1500

        async def go():
            ws = await connect(gw.url("dev"), extra_headers={"User-Agent": ua})
            t0 = time.monotonic()
            for i in range(n):
                await ws.send(json.dumps({"action": "echo", "n": i}))
                assert json.loads(await recv(ws))["n"] == i
            took = time.monotonic() - t0
            await ws.close()
            return took
        took = run(go())
        # 1500 round trips while the log is stalled: as fast as ever (well under a second
        # each; a blocked worker would stall them all).
        assert took < 30 * SLOW, took
        events = 1 + n + 1  # CONNECT, messages, DISCONNECT
        fams, _ = scrape(gw)
        written = value(fams, "portico_access_log_lines", destination=str(fifo))
        dest_full = value(fams, "portico_access_log_dropped_lines", reason="destination_full")
        buf_full = value(fams, "portico_access_log_dropped_lines", reason="buffer_full")
        assert dest_full + buf_full > 1000, (written, dest_full, buf_full)
        assert written < 100
        # Now the "disk" recovers: everything still buffered is written, in whole lines.
        got = b""
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline:
            try:
                chunk = os.read(reader, 1 << 16)
            except BlockingIOError:
                chunk = b""
            got += chunk
            _, _, stats = admin(gw, "/stats")
            d = stats["accessLog"]["destinations"][0]
            if not chunk and d["lines"] + d["droppedDestinationFull"] == stats["accessLog"][
                    "lines"] and got.count(b"\n") == d["lines"]:
                break
            time.sleep(0.05)
        _, _, stats = admin(gw, "/stats")
        d = stats["accessLog"]["destinations"][0]
        # Every event is accounted for: written, dropped by the logging thread, or dropped by
        # the worker.
        assert stats["accessLog"]["lines"] + stats["accessLog"]["droppedBufferFull"] == events
        assert d["lines"] + d["droppedDestinationFull"] == stats["accessLog"]["lines"]
        lines = got.split(b"\n")
        assert lines[-1] == b""
        assert len(lines) - 1 == d["lines"]
        for ln in lines[:-1]:
            assert re.fullmatch(rb"[A-Za-z0-9_-]{15}= (CONNECT|MESSAGE|DISCONNECT) \"" +
                                ua.encode() + rb"\"", ln), ln[:80]
    finally:
        os.close(reader)


def test_rotation_reopens_the_file(gateway_factory, backend_factory, tmp_path):
    be = backend_factory(scenario_backend)
    log = tmp_path / "access.log"
    cfg = scenario_config(be, access_log=[
        {"destinationArn": str(log), "format": "$context.requestId $context.eventType"}, None])
    cfg["apis"][0]["routes"] = [r for r in cfg["apis"][0]["routes"]
                                if not r["routeKey"].startswith("$")]
    gw = gateway_factory(cfg)

    async def go(k):
        ws = await connect(gw.url("dev"))
        for _ in range(k):
            await ws.send('{"action":"echo"}')
            await recv(ws)
        await ws.close()
    run(go(2))
    read_lines(log, 4)
    os.rename(log, tmp_path / "access.log.1")  # what logrotate does
    wait_until(lambda: log.exists(), 5, "the file to be created again")
    run(go(1))
    assert len(read_lines(log, 3)) == 3
    assert len((tmp_path / "access.log.1").read_text().splitlines()) == 4
    _, _, stats = admin(gw, "/stats")
    assert stats["accessLog"]["destinations"][0]["reopens"] == 1


def test_unwritable_destination_stops_the_start(tmp_path):
    class NoBackend:
        def url(self, path=""):
            return "http://127.0.0.1:9" + path
    cfg = scenario_config(NoBackend(), access_log=[
        {"destinationArn": str(tmp_path / "no" / "such" / "a.log")}, None])
    p = tmp_path / "cfg.json"
    p.write_text(json.dumps(cfg))
    r = subprocess.run([BIN, "--config", str(p), "--data-dir", str(tmp_path / "data")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot open access log" in r.stderr and "No such file or directory" in r.stderr
