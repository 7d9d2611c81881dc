"""test_lifecycle.py: $disconnect events, SIGTERM, the LMDB registry and the restart sweep."""
import asyncio
import re
import signal
import socket
import subprocess
import time

from conftest import SLOW, minimal_config
from test_limits import disconnect_backend, echo_config
from wsutil import RawWS, connect, recv, run, wait_closed

ID = r"[A-Za-z0-9_-]{15}="


def registry_ids(data_dir):
    """Connection ids in the LMDB registry, read with lmdb-utils' mdb_dump (a real LMDB file)."""
    out = subprocess.run(["mdb_dump", "-p", "-s", "conns", str(data_dir / "registry")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("HEADER=END\n", 1)[1].splitlines()
    keys = lines[0:-1:2]  # key, value, key, value, ..., DATA=END
    return sorted(k.strip() for k in keys if re.fullmatch(ID, k.strip()))


def test_disconnect_event_carries_the_client_close_code(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    gw = gateway_factory(disconnect_backend(echo_config(), be))

    async def go():
        ws = await connect(gw.url())
        await ws.send("hi")
        await recv(ws)
        await ws.close(4000, "client bye")
    run(go())
    ev = be.wait_for(lambda r: r)[0]["json"]
    assert list(ev) == ["headers", "multiValueHeaders", "requestContext", "isBase64Encoded"]
    assert ev["headers"] == {"Host": f"127.0.0.1:{gw.port}", "x-api-key": "", "X-Forwarded-For": "",
                             "x-restapi": ""}
    rc = ev["requestContext"]
    assert rc["routeKey"] == "$disconnect" and rc["eventType"] == "DISCONNECT"
    assert rc["disconnectStatusCode"] == 4000
    assert rc["disconnectReason"] == "client bye"
    assert re.fullmatch(ID, rc["connectionId"])


def test_close_without_status_and_abrupt_drop(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    gw = gateway_factory(disconnect_backend(echo_config(), be))
    raw = RawWS(gw.port)
    raw.send_frame(8, b"")  # close frame without a status code
    assert raw.recv_close() == (1005, "")
    raw.close()
    ev = be.wait_for(lambda r: len(r) >= 1)[0]["json"]["requestContext"]
    assert ev["disconnectStatusCode"] == 1005
    assert ev["disconnectReason"] == "Client-side close frame status not set"

    raw = RawWS(gw.port)
    raw.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw.close()  # TCP reset, no close frame
    ev = be.wait_for(lambda r: len(r) >= 2)[1]["json"]["requestContext"]
    assert ev["disconnectStatusCode"] == 1006
    assert ev["disconnectReason"] == ""


def start_with_sigint(gateway_factory, disposition):
    """A gateway started with SIGINT handled (as from a terminal) or ignored (as a background job
    of a script), whatever this test process inherited: exec keeps only the ignored state."""
    old = signal.signal(signal.SIGINT, disposition)
    try:
        return gateway_factory(echo_config())
    finally:
        signal.signal(signal.SIGINT, old)


def test_sigint_stops_unless_it_was_ignored_at_start(gateway_factory):
    """SIGINT stops the gateway like SIGTERM; started with SIGINT ignored (a background job of
    a script), it keeps ignoring it and SIGTERM stops it: the script handles Ctrl-C."""
    gw = start_with_sigint(gateway_factory, signal.default_int_handler)
    gw.proc.send_signal(signal.SIGINT)
    assert gw.proc.wait(timeout=10 * SLOW) == 0
    assert "received SIGINT, shutting down" in gw.output()

    bg = start_with_sigint(gateway_factory, signal.SIG_IGN)
    bg.proc.send_signal(signal.SIGINT)
    time.sleep(0.5 * SLOW)
    assert bg.proc.poll() is None
    ws = RawWS(bg.port)
    assert ws.status == 101  # still serving
    ws.close()
    assert bg.stop() == 0
    assert "received SIGTERM, shutting down" in bg.output()


def test_sigterm_closes_every_connection_1001_and_fires_disconnect(gateway_factory,
                                                                   backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    gw = gateway_factory(disconnect_backend(echo_config(), be))

    async def go():
        clients = [await connect(gw.url()) for _ in range(5)]
        for c in clients:
            await c.send("x")
            await recv(c)
        waits = [asyncio.ensure_future(wait_closed(c, timeout=10)) for c in clients]
        await asyncio.sleep(0.1)
        gw.proc.send_signal(15)
        codes = await asyncio.gather(*waits)
        assert codes == [(1001, "Going away")] * 5
    run(go())
    assert gw.proc.wait(timeout=20 * SLOW) == 0
    evs = be.wait_for(lambda r: len(r) >= 5)
    assert sorted(e["json"]["requestContext"]["disconnectStatusCode"] for e in evs) == [1001] * 5
    assert "Going away" == evs[0]["json"]["requestContext"]["disconnectReason"]
    # The registry is empty after a clean stop.
    assert registry_ids(gw.data_dir) == []


def test_registry_holds_live_connections(gateway_factory):
    gw = gateway_factory(echo_config())

    async def go():
        ws = await connect(gw.url())
        await ws.send('{"q":1}')
        await recv(ws)
        ids = registry_ids(gw.data_dir)
        assert len(ids) == 1
        await ws.close()
        for _ in range(50):
            if not registry_ids(gw.data_dir):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("registry record not removed after close")
    run(go())


def test_restart_sweeps_connections_of_a_crashed_run(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    cfg = disconnect_backend(echo_config(), be)
    gw = gateway_factory(cfg)
    socks = []
    for _ in range(3):
        raw = RawWS(gw.port)
        assert raw.status == 101
        socks.append(raw)
    before = registry_ids(gw.data_dir)
    assert len(before) == 3
    gw.kill()  # SIGKILL: no $disconnect, records left behind
    for s in socks:
        s.close()
    assert registry_ids(gw.data_dir) == before
    gw.start()
    evs = be.wait_for(lambda r: len(r) >= 3)
    swept = sorted(e["json"]["requestContext"]["connectionId"] for e in evs)
    assert swept == before
    assert all(e["json"]["requestContext"]["disconnectStatusCode"] == 1006 for e in evs)
    assert registry_ids(gw.data_dir) == []
    assert "removed 3 connections left by an earlier run" in gw.output()
