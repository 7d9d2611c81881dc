"""test_lambda_latency.py: the latency a Lambda Invoke adds (issue 5): the same handler
(extras.echo) behind an AWS_PROXY-over-http integration (direct.js, a plain Node HTTP server) and
behind a Lambda Invoke through serverless-offline, each measured over N WebSocket round trips
(send a message, receive the two-way route's answer) on one connection, after a warm-up.
Prints p50/p99 of both and the difference; PORTICO_LATENCY_OUT=FILE also writes them as JSON.
PORTICO_LATENCY_N sets N (default 500)."""
import json
import os
import subprocess
import time

from conftest import SANITIZED
from lambdautil import LAMBDA_DIR, Offline, percentile
from test_lambda import add, lambda_config
from wsutil import connect, recv, run

N = int(os.environ.get("PORTICO_LATENCY_N", "500"))
WARMUP = 20  # per block
BLOCKS = 4


def test_added_latency_per_invoke(gateway_factory, capsys):
    offline = Offline()
    direct = subprocess.Popen(["node", str(LAMBDA_DIR / "direct.js"), "extras.echo"],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(direct.stdout.readline())
        cfg = lambda_config(offline.endpoint)
        add(cfg, "direct", f"http://127.0.0.1:{port}/2015-03-31/functions/echo/invocations",
            two_way=True)
        add(cfg, "lambda", "chat-dev-echo", two_way=True)
        gw = gateway_factory(cfg)

        async def measure(action, count):
            ws = await connect(gw.url())
            msg = json.dumps({"action": action, "data": "x" * 64})
            times = []
            for i in range(WARMUP + count):
                t0 = time.perf_counter()
                await ws.send(msg)
                assert await recv(ws, 15) == msg
                if i >= WARMUP:
                    times.append((time.perf_counter() - t0) * 1000.0)
            await ws.close()
            return times

        # Interleaved blocks, so a slow moment of the machine hits both alike.
        res = {"direct": [], "lambda": []}
        for _ in range(BLOCKS):
            for action in ("direct", "lambda"):
                res[action] += run(measure(action, -(-N // BLOCKS)))
        stats = {k: {"n": len(v), "p50_ms": round(percentile(v, 50), 3),
                     "p99_ms": round(percentile(v, 99), 3),
                     "mean_ms": round(sum(v) / len(v), 3)} for k, v in res.items()}
        stats["added_p50_ms"] = round(stats["lambda"]["p50_ms"] - stats["direct"]["p50_ms"], 3)
        stats["added_p99_ms"] = round(stats["lambda"]["p99_ms"] - stats["direct"]["p99_ms"], 3)
        with capsys.disabled():
            print("\nlatency per round trip (ms):", json.dumps(stats))
        if os.environ.get("PORTICO_LATENCY_OUT"):
            with open(os.environ["PORTICO_LATENCY_OUT"], "w") as f:
                json.dump(stats, f, indent=2)
        assert stats["direct"]["n"] >= N and stats["lambda"]["n"] >= N
        if not SANITIZED:
            assert stats["lambda"]["p50_ms"] < 50  # a sanity bound, not a benchmark
    finally:
        direct.terminate()
        direct.wait(10)
        offline.stop()
