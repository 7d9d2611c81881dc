"""test_soak.py: a bounded churn of connects, messages, pushes and disconnects; RSS and open fds
must come back to their baseline. Runs only with PORTICO_SOAK_SECONDS set (`make soak`: 600)."""
import asyncio
import os
import random
import time

import pytest

from conftest import SANITIZED
from test_callback import mgmt, open_client, push_config
from test_limits import disconnect_backend
from wsutil import recv

SECONDS = int(os.environ.get("PORTICO_SOAK_SECONDS") or 0)
pytestmark = pytest.mark.skipif(not SECONDS, reason="soak: set PORTICO_SOAK_SECONDS (make soak)")


# Idle keep-alive connections to backends that libcurl's connection cache may hold beyond those
# it held at the baseline: bounded, and reused rather than added to.
CACHE = 8


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(ln.split()[1] for ln in f if ln.startswith("VmRSS")))


def nfds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_soak_churn_returns_to_baseline(gateway_factory, backend_factory):
    be = backend_factory(lambda r: (200, {}, '{"statusCode":200}'))
    cfg = disconnect_backend(push_config(), be)
    gw = gateway_factory(cfg)
    api = mgmt(gw)
    pid = gw.proc.pid
    stats = {"connects": 0, "messages": 0, "pushes": 0, "closes": 0}

    async def client(deadline, rnd):
        while time.monotonic() < deadline:
            ws, cid = await open_client(gw)
            stats["connects"] += 1
            for _ in range(rnd.randint(1, 20)):
                await ws.send('{"action":"whoami"}')
                await recv(ws)
                stats["messages"] += 1
            for i in range(rnd.randint(0, 5)):
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: api.post_to_connection(ConnectionId=cid, Data=b"p%d" % i))
                await recv(ws)
                stats["pushes"] += 1
            await ws.close()
            stats["closes"] += 1

    async def churn(seconds, n=32):
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(client(deadline, random.Random(i)) for i in range(n)))

    asyncio.run(churn(min(30, SECONDS // 10)))  # warm-up: allocator arenas, thread stacks
    time.sleep(2)
    base_rss, base_fds = rss_kb(pid), nfds(pid)
    asyncio.run(churn(SECONDS))
    api.close()  # boto3's idle keep-alive connections are the test's, not the gateway's
    deadline = time.time() + 30
    while time.time() < deadline and (nfds(pid) > base_fds + CACHE or len(be.requests) <
                                      stats["closes"]):
        time.sleep(0.5)
    end_rss, end_fds = rss_kb(pid), nfds(pid)
    print(f"\nsoak {SECONDS} s: {stats}; RSS {base_rss} -> {end_rss} kB, fds {base_fds} -> "
          f"{end_fds}")
    assert end_fds <= base_fds + CACHE, (base_fds, end_fds)
    slack = 300 * 1024 if SANITIZED else 8 * 1024  # ASan's quarantine; allocator noise
    assert end_rss - base_rss < slack, (base_rss, end_rss)
