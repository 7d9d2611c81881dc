#!/usr/bin/python3
"""metrics_cost.py: server CPU per routed message with and without /metrics scraped every second.

usage: scripts/metrics_cost.py [--build DIR] [--messages N] [--repeat K] [--clients N]

Runs bench/'s S4-MOCK workload (ptload: N clients, each keeping one {"action":"ping"} in
flight, routed to a MOCK two-way integration) against a fresh gateway per run, in these modes:

  off           nothing reads the metrics (the counters are still kept: they always are)
  scrape        GET /metrics every second during the run
  scrape+page   the same, plus one status page feed (GET /api/events) open
  scrape+log    the same as scrape, with the stage's access log written to a file

and reports the server's utime+stime (/proc/PID/stat, every thread) per round trip, the median
of K runs per mode, modes interleaved so drifts of the machine hit all of them alike. It also
measures the CPU of one scrape on an idle gateway (60 scrapes). Figures go to stdout; see
docs/operations.md#what-metrics-cost.
"""
import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import bench  # noqa: E402  (servers, load processes, /proc sampling)

MODES = ["off", "scrape", "scrape+page", "scrape+log"]


class Scraper(threading.Thread):
    """GET /metrics once a second (and, for the page mode, holds /api/events open)."""

    def __init__(self, admin_port, feed):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{admin_port}"
        self.feed = feed
        self.stop = threading.Event()
        self.scrapes = 0
        self.bytes = 0

    def run(self):
        feed = urllib.request.urlopen(self.url + "/api/events", timeout=30) if self.feed else None
        while not self.stop.wait(1.0):
            with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
                self.bytes += len(r.read())
            self.scrapes += 1
            if feed:
                feed.read1(1 << 20)  # keep the feed drained
        if feed:
            feed.close()


def admin_port(server):
    return json.loads((server.ctx.tmp / "portico" / "ports.json").read_text())["admin"]


def one_run(ctx, mode, clients, messages):
    server = bench.Portico(ctx, workers=2)
    if mode == "scrape+log":
        server.config["apis"][0]["stages"][0]["accessLogSettings"] = {
            "destinationArn": str(ctx.tmp / "access.log")}
    server.start()
    try:
        bench.settle(server.proc.pid, 0.5)
        load = bench.Load(ctx, server, clients, procs=2, push=False,
                          extra=["--id", "none", "--msg", '{"action":"ping"}', "--messages",
                                 messages // 2, "--drain-s", 10])
        load.ready()
        time.sleep(0.5)
        scraper = None
        if mode != "off":
            scraper = Scraper(admin_port(server), feed=mode == "scrape+page")
            scraper.start()
            time.sleep(1.2)  # the first scrape happened before the clock starts
        before = bench.sample(server.proc.pid)
        load.go()
        done = load.done()
        after = bench.sample(server.proc.pid)
        if scraper:
            scraper.stop.set()
            scraper.join()
        replies = sum(d["msg_replies"] for d in done)
        run_s = max(d["run_s"] for d in done)
        load.quit()
        cpu = (after["u"] + after["s"] - before["u"] - before["s"])
        return {"mode": mode, "replies": replies, "run_s": run_s,
                "us_per_msg": cpu * 1e6 / replies, "rate": replies / run_s,
                "scrapes": scraper.scrapes if scraper else 0,
                "expo_bytes": (scraper.bytes // max(scraper.scrapes, 1)) if scraper else 0,
                "others": bench.others_note(before, after, load.cpu_s())}
    finally:
        server.stop()


def scrape_cost(ctx):
    """CPU of one /metrics scrape (and of the once-a-second sampler) on an idle gateway."""
    server = bench.Portico(ctx, workers=2).start()
    try:
        url = f"http://127.0.0.1:{admin_port(server)}/metrics"
        bench.settle(server.proc.pid, 1.0)
        t0 = bench.sample(server.proc.pid)
        time.sleep(10)
        t1 = bench.sample(server.proc.pid)
        for _ in range(200):
            urllib.request.urlopen(url, timeout=10).read()
        t2 = bench.sample(server.proc.pid)
        idle = (t1["u"] + t1["s"] - t0["u"] - t0["s"]) / (t1["t"] - t0["t"])
        per = (t2["u"] + t2["s"] - t1["u"] - t1["s"] - idle * (t2["t"] - t1["t"])) / 200
        return idle, per
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--messages", type=int, default=200000)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ns = argparse.Namespace(build=args.build, out=None, run_timeout=1800, keep=False,
                            quick=False)
    ctx = bench.Ctx(ns)
    ctx.tmp = pathlib.Path(tempfile.mkdtemp(prefix="ptmetricscost-"))
    rows = []
    try:
        with bench.Deadline(3600):
            idle, per_scrape = scrape_cost(ctx)
            print(f"idle gateway: {idle * 1e3:.2f} ms CPU per second (sampler included); "
                  f"one /metrics scrape: {per_scrape * 1e6:.0f} us CPU")
            for k in range(args.repeat):
                for mode in MODES:
                    r = one_run(ctx, mode, args.clients, args.messages)
                    rows.append(r)
                    print(f"run {k + 1} {mode:12s} {r['us_per_msg']:7.2f} us/msg  "
                          f"{r['rate']:8.0f} msg/s  {r['scrapes']:3d} scrapes  "
                          f"{r['expo_bytes']} B/scrape  {r['others']}", flush=True)
    finally:
        bench.PROCS.stop_all()
    print("\nmedian server CPU per routed message (round trip), by mode:")
    base = statistics.median(r["us_per_msg"] for r in rows if r["mode"] == "off")
    for mode in MODES:
        v = statistics.median(r["us_per_msg"] for r in rows if r["mode"] == mode)
        rate = statistics.median(r["rate"] for r in rows if r["mode"] == mode)
        print(f"  {mode:12s} {v:7.3f} us/msg  ({(v - base) / base * 100:+5.1f}% vs off)  "
              f"{rate:8.0f} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
