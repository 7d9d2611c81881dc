"""test_crash.py: kill -9 and restart: no ghosts, $disconnect owed is delivered, nothing lost."""
import os
import re
import subprocess
import threading
import time

from conftest import SLOW
from test_lifecycle import registry_ids
from test_limits import disconnect_backend, echo_config
from wsutil import RawWS, connect, recv, run

ID = r"[A-Za-z0-9_-]{15}="


def outbox_ids(data_dir):
    """Connection ids owed a $disconnect (the registry's outbox database), read with mdb_dump."""
    out = subprocess.run(["mdb_dump", "-p", "-s", "outbox", str(data_dir / "registry")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("HEADER=END\n", 1)[1].splitlines()
    return sorted(k.strip() for k in lines[0:-1:2] if re.fullmatch(ID, k.strip()))


def reader_pids(data_dir):
    """PIDs holding LMDB reader slots (mdb_stat -r prints the reader table without clearing it)."""
    out = subprocess.run(["mdb_stat", "-e", "-r", str(data_dir / "registry")],
                         capture_output=True, text=True, timeout=30)
    assert "Reader Table Status" in out.stdout, out.stderr
    pids = set()
    for ln in out.stdout.split("Reader Table Status", 1)[1].splitlines():
        parts = ln.split()
        if len(parts) >= 3 and parts[0].isdigit() and re.fullmatch(r"[0-9a-f]+", parts[1]):
            pids.add(int(parts[0]))
    return pids


READER = r"""
import ctypes, sys, time
lib = ctypes.CDLL("liblmdb.so.0")
env = ctypes.c_void_p()
assert lib.mdb_env_create(ctypes.byref(env)) == 0
lib.mdb_env_set_maxdbs(env, 16)
assert lib.mdb_env_open(env, sys.argv[1].encode(), 0x20000 | 0x200000, 0o600) == 0
if sys.argv[2] == "txn":  # MDB_RDONLY | MDB_NOTLS: the slot is the transaction's
    txn = ctypes.c_void_p()
    assert lib.mdb_txn_begin(env, None, 0x20000, ctypes.byref(txn)) == 0
print("ready", flush=True)
time.sleep(120)
"""


def lmdb_process(data_dir, txn):
    """Another process with the registry open (a CLI, a backup tool): with txn, it holds a reader
    slot. LMDB resets the reader table when a process opens it alone, so stale slots only last
    while some other process keeps it open; these helpers make that happen on purpose."""
    p = subprocess.Popen(["/usr/bin/python3", "-c", READER, str(data_dir / "registry"),
                          "txn" if txn else "open"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def kill9(p):
    p.kill()
    p.wait()


def events_by_id(reqs):
    out = {}
    for r in reqs:
        rc = r["json"]["requestContext"]
        out.setdefault(rc["connectionId"], []).append(rc)
    return out


def test_kill9_under_load_then_restart(gateway_factory, backend_factory):
    """Fifty acknowledged connections, messages in flight, closes in progress, then kill -9.

    Expected: every connection that got its 101 and was not closed is in the registry (no lost
    write); after the restart each one gets its $disconnect (1006), closes that happened just
    before the kill get theirs too, the registry ends empty (no ghosts), the dead process's
    LMDB reader slots are gone, and the recovery is measured."""
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    cfg = disconnect_backend(echo_config(), be)
    cfg["server"]["logLevel"] = "debug"  # each $disconnect call is logged: the diagnostics below
    gw = gateway_factory(cfg)
    n = int(os.environ.get("PORTICO_CRASH_N") or (50 if os.environ.get("CI") else 300))
    socks = [RawWS(gw.port) for _ in range(n)]
    assert all(s.status == 101 for s in socks)
    ids_before = registry_ids(gw.data_dir)
    assert len(ids_before) == n
    # Load: every client sends a message, ten close, and the kill lands in the middle of it.
    for s in socks:
        s.send_frame(1, b'{"action":"x","n":1}')
    closing = socks[:10]
    for s in closing:
        s.send_frame(8, b"\x0f\xa0bye")  # 4000 "bye"
    time.sleep(0.02)
    # Another process keeps the registry open across the crash, and one dies inside a read
    # transaction: its slot stays in the reader table until someone runs mdb_reader_check.
    keeper = lmdb_process(gw.data_dir, txn=False)
    stale = lmdb_process(gw.data_dir, txn=True)
    kill9(stale)
    gw.kill()
    for s in socks:
        s.close()
    left = registry_ids(gw.data_dir)
    owed_after_kill = outbox_ids(gw.data_dir)
    first_log = gw.output()
    # Nothing acknowledged is lost: the forty still open are all there (the closing ones may
    # or may not have been deleted when the kill landed).
    open_ids = set(left)
    assert open_ids <= set(ids_before)
    assert len(open_ids) >= n - len(closing)
    assert stale.pid in reader_pids(gw.data_dir)  # a stale reader slot
    seen_before_restart = {rc["connectionId"] for rc in
                           (r["json"]["requestContext"] for r in be.requests)}

    t0 = time.monotonic()
    gw.start()
    owed = set(ids_before) - seen_before_restart
    try:
        reqs = be.wait_for(lambda r: set(events_by_id(r)) >= set(ids_before), timeout=60)
    except AssertionError:
        got = events_by_id(be.requests)
        missing = set(ids_before) - set(got)
        warn = [ln for ln in gw.output().splitlines() if "WARN" in ln or "ERROR" in ln]
        sweep = re.findall(r"removed \d+ connections.*", gw.output())
        warn1 = [ln for ln in first_log.splitlines() if "WARN" in ln or "ERROR" in ln]
        mine = [ln for ln in (first_log + gw.output()).splitlines()
                if any(m in ln for m in missing)]
        detail = (f"{len(missing)} connections got no $disconnect: {sorted(missing)[:5]}; "
                  f"in the registry after the kill: {sorted(missing & set(left))}; "
                  f"owed in the outbox after the kill: {sorted(missing & set(owed_after_kill))}; "
                  f"closed before the kill: {sorted(missing - set(left))}; "
                  f"start-up: {sweep}; log: {warn[:10]}; killed run's log: {warn1[:10]}; "
                  f"lines naming them: {mine[:10]}; backend requests: {len(be.requests)}, "
                  f"ids not ours: {sorted(set(got) - set(ids_before))}, "
                  f"ids seen twice: {sorted(k for k, v in got.items() if len(v) > 1)}")
        raise AssertionError(detail) from None
    recovery_s = time.monotonic() - t0
    ev = events_by_id(reqs)
    assert set(ev) == set(ids_before)  # every connection gets its $disconnect, no other id
    for cid in owed:
        codes = {e["disconnectStatusCode"] for e in ev[cid]}
        assert codes <= {1006, 4000}, (cid, codes)
    assert registry_ids(gw.data_dir) == []  # no ghosts
    deadline = time.time() + 10 * SLOW
    while outbox_ids(gw.data_dir) and time.time() < deadline:
        time.sleep(0.05)
    assert outbox_ids(gw.data_dir) == []  # every owed $disconnect was answered and settled
    assert stale.pid not in reader_pids(gw.data_dir)  # mdb_reader_check at open cleared it
    kill9(keeper)
    m = re.search(r"removed (\d+) connections left by an earlier run; (\d+) \$disconnect owed",
                  gw.output())
    assert m and int(m.group(1)) == len(left)
    print(f"\nrecovery: {len(owed)} owed $disconnects delivered {recovery_s * 1000:.0f} ms "
          f"after the restart began ({n} connections, {len(left)} left in the registry)")
    # The restarted gateway serves at once.
    ws = RawWS(gw.port)
    assert ws.status == 101
    ws.close()


def test_stale_readers_are_cleared_while_running(gateway_factory):
    """A process killed inside a read transaction while the gateway runs (a CLI, kill -9): the
    gateway's periodic mdb_reader_check clears its slot within seconds."""
    gw = gateway_factory(echo_config())
    stale = lmdb_process(gw.data_dir, txn=True)
    kill9(stale)
    assert stale.pid in reader_pids(gw.data_dir)
    deadline = time.time() + 8 * SLOW
    while stale.pid in reader_pids(gw.data_dir) and time.time() < deadline:
        time.sleep(0.2)
    assert stale.pid not in reader_pids(gw.data_dir)
    assert "cleared 1 stale reader slots" in gw.output()


def test_disconnect_owed_across_a_crash_keeps_code_reason_and_request_id(gateway_factory,
                                                                          backend_factory):
    """The backend hangs on $disconnect, the gateway is killed: the entry survives, and after
    the restart the same event (code, reason, requestId) is delivered once it can be."""
    hang = threading.Event()

    def handler(r):
        if r["path"].startswith("/disconnect") and not hang.is_set():
            time.sleep(60)  # never answers before the kill
        return 200, {}, '{"statusCode":200}'

    be = backend_factory(handler)
    cfg = disconnect_backend(echo_config(), be)
    gw = gateway_factory(cfg)

    async def go():
        ws = await connect(gw.url())
        await ws.send("hi")
        await recv(ws)
        await ws.close(4001, "leaving")
    run(go())
    first = be.wait_for(lambda r: len(r) >= 1)[0]["json"]["requestContext"]
    assert first["disconnectStatusCode"] == 4001
    cid = first["connectionId"]
    assert registry_ids(gw.data_dir) == []
    assert outbox_ids(gw.data_dir) == [cid]  # owed: committed with the registry delete
    gw.kill()
    hang.set()
    gw.start()
    reqs = be.wait_for(lambda r: len(r) >= 2)
    again = reqs[1]["json"]["requestContext"]
    assert again["connectionId"] == cid
    assert again["disconnectStatusCode"] == 4001
    assert again["disconnectReason"] == "leaving"
    assert again["requestId"] == first["requestId"]  # the same event, delivered again
    assert again["eventType"] == "DISCONNECT"
    deadline = time.time() + 5 * SLOW
    while outbox_ids(gw.data_dir) and time.time() < deadline:
        time.sleep(0.05)
    assert outbox_ids(gw.data_dir) == []
    # Settled: a clean stop and another start replay nothing.
    assert gw.stop() == 0
    gw.start()
    time.sleep(0.5 * SLOW)
    assert len(be.requests) == 2
    assert "$disconnect owed" not in gw.output()


def test_clean_stop_leaves_nothing_owed(gateway_factory, backend_factory):
    """SIGTERM: $disconnects answered during the grace period are settled even though the
    workers are gone, so the next start fires none of them again."""
    be = backend_factory(lambda r: (time.sleep(0.2), (200, {}, '{"statusCode":200}'))[1])
    gw = gateway_factory(disconnect_backend(echo_config(), be))

    async def go():
        clients = [await connect(gw.url()) for _ in range(5)]
        for c in clients:
            await c.send("x")
            await recv(c)
    run(go())
    assert gw.stop() == 0
    assert len(be.wait_for(lambda r: len(r) >= 5)) == 5
    assert outbox_ids(gw.data_dir) == []
    gw.start()
    time.sleep(0.5 * SLOW)
    assert len(be.requests) == 5


def test_failed_disconnect_is_retried_while_running(gateway_factory, backend_factory):
    """The $disconnect backend drops the first attempt without answering: the worker retries the
    same event about a second later, without waiting for a restart, and then owes nothing."""
    seen = []

    def handler(r):
        seen.append(time.monotonic())
        if len(seen) == 1:
            return None, {}, b""  # drops the connection: no answer at all
        return 200, {}, '{"statusCode":200}'

    be = backend_factory(handler)
    gw = gateway_factory(disconnect_backend(echo_config(), be))

    async def go():
        ws = await connect(gw.url())
        await ws.close(4002, "gone")
    run(go())
    reqs = be.wait_for(lambda r: len(r) >= 2, timeout=10)
    first, again = (r["json"]["requestContext"] for r in reqs[:2])
    assert again["connectionId"] == first["connectionId"]
    assert again["requestId"] == first["requestId"]  # the same event, not a new one
    assert (again["disconnectStatusCode"], again["disconnectReason"]) == (4002, "gone")
    assert 0.9 <= seen[1] - seen[0] <= 3 * SLOW  # the first back-off step is 1 s
    deadline = time.time() + 5 * SLOW
    while outbox_ids(gw.data_dir) and time.time() < deadline:
        time.sleep(0.05)
    assert outbox_ids(gw.data_dir) == []
    out = gw.output()
    assert "$disconnect: attempt 2 of 5" in out
    time.sleep(1.5)
    assert len(be.requests) == 2  # answered: not retried again
