#!/usr/bin/python3
"""profile.py: instruction counts (callgrind) and syscall counts (strace) per push and per routed
MOCK message, with the real portico binary; the numbers repeat exactly on a noisy machine.

usage: bench/profile.py [--build DIR] [--pushes N] [--messages N] [--workers N]
                        [push|route|fanout|all]

push:  100 WebSocket clients, 4 SigV4 publishers, N pushes at saturation (2 workers, so about
       half the pushes cross workers through the owner's inbox, as in S2).
route: 20 clients, N messages {"action":"ping"} routed to a MOCK two-way integration.
fanout: S3 in small: 2,000 clients, 32 publishers, 2 rounds of one push to every client (the
       working set of many connections; per delivery).
For each: callgrind's counters are zeroed once every connection is up and dumped when the work
is done, so the profile holds the work only; then the same work runs without valgrind under
`strace -c -f` for the syscalls. Output goes to BUILD/bench/profile/ and a summary to stdout.
"""
import argparse
import glob
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402  (the driver: servers, load processes, process bookkeeping)

# Where the instructions go: function -> category. Inclusive costs of these functions; a
# function nested in another of the list is subtracted from its parent's category below.
PUSH_CATEGORIES = [
    ("HTTP head parse", ["http_parse_request"]),
    ("SigV4 verify", ["sigv4_verify"]),
    ("cb_decide (the SigV4 line included)", ["cb_decide"]),
    ("inbox hop (post, take, owner, reply)", ["gw_cb_on_msg", "gw_cb_on_reply", "inbox_push",
                                              "inbox_take", "gw_park", "gw_unpark"]),
    ("frame + queue (gw_ws_send_msg)", ["gw_ws_send_msg"]),
    ("writes (gw_conn_flush)", ["gw_conn_flush"]),
    ("HTTP response (cb_answer)", ["cb_answer"]),
]
ROUTE_CATEGORIES = [
    ("gw_ws_process (frame to reply, all included)", ["gw_ws_process"]),
    ("gw_message (selection + MOCK + reply)", ["gw_message"]),
    ("route_ws_select (message JSON + expression)", ["route_ws_select"]),
    ("route_mock_run (template, its JSON, response)", ["route_mock_run"]),
    ("  json_loadb, both calls (jansson)", ["json_loadb", "json_loads"]),
    ("  route_template_render, both calls", ["route_template_render"]),
    ("writes (gw_conn_flush)", ["gw_conn_flush"]),
]


def annotate(outfile):
    """{function: (inclusive Ir, self Ir)} from callgrind_annotate, and the total."""
    incl = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", outfile],
                          capture_output=True, text=True).stdout
    excl = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", outfile],
                          capture_output=True, text=True).stdout
    total = 0
    m = re.search(r"^([\d,]+).*PROGRAM TOTALS", incl, re.M)
    if m:
        total = int(m.group(1).replace(",", ""))
    funcs = {}
    for text, slot in ((incl, 0), (excl, 1)):
        for line in text.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?):(\S+?)(?:'\d+)?\s*(\[.*\])?$",
                         line)
            if not m:
                continue
            ir = int(m.group(1).replace(",", ""))
            name = m.group(3)
            cur = funcs.setdefault(name, [0, 0])
            cur[slot] = max(cur[slot], ir)
    return total, {k: tuple(v) for k, v in funcs.items()}


def callgrind_run(ctx, kind, args):
    """Runs the workload under callgrind; returns (dump file, units of work)."""
    outdir = ctx.build / "bench" / "profile"
    outdir.mkdir(parents=True, exist_ok=True)
    for old in glob.glob(str(outdir / f"callgrind.{kind}.*")):
        os.unlink(old)
    srv = bench.Portico(ctx, workers=args.workers)
    prefix = ["valgrind", "--tool=callgrind", "--quiet",
              f"--callgrind-out-file={outdir}/callgrind.{kind}.%p",
              "--dump-instr=no", "--collect-jumps=no", "--separate-threads=no"]
    return run_work(ctx, srv, kind, args, prefix=prefix, outdir=outdir)


def run_work(ctx, srv, kind, args, prefix=None, outdir=None, strace=False):
    orig_spawn = bench.PROCS.spawn
    if prefix:
        def spawn(a, **kw):  # only the gateway runs under valgrind
            if str(a[0]).endswith("/portico"):
                a = prefix + [str(x) for x in a]
            return orig_spawn(a, **kw)
        bench.PROCS.spawn = spawn
    try:
        srv.start()
    finally:
        bench.PROCS.spawn = orig_spawn
    tracer = None
    try:
        if kind == "push":
            load = bench.Load(ctx, srv, 100, procs=1, push=True, publishers=4,
                              pushes=args.pushes, extra=["--conc", 16, "--drain-s", 120])
        elif kind == "fanout":
            load = bench.Load(ctx, srv, 2000, procs=1, push=True, publishers=32,
                              extra=["--conc", 16, "--drain-s", 120, "--period-ms", 2000,
                                     "--rounds", 2])
        else:
            load = bench.Load(ctx, srv, 20, procs=1, push=False,
                              extra=["--id", "none", "--msg", bench.S4M_BODY, "--messages",
                                     args.messages, "--conc", 16, "--drain-s", 120])
        load.ready(timeout=600)
        time.sleep(1.0)
        if prefix:
            subprocess.run(["callgrind_control", "-z", str(srv.proc.pid)], check=True,
                           capture_output=True, timeout=120)
        if strace:
            tracer = bench.PROCS.spawn(["strace", "-c", "-f", "-o", outdir / f"strace.{kind}.txt",
                                        "-p", srv.proc.pid], stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        load.go()
        done = load.done(timeout=1800)
        if prefix:
            subprocess.run(["callgrind_control", "-d", str(srv.proc.pid)], check=True,
                           capture_output=True, timeout=300)
        if tracer:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
        units = (sum(d["ok"] for d in done) if kind in ("push", "fanout")
                 else sum(d["msg_replies"] for d in done))
        load.quit()
        return units
    finally:
        if tracer and tracer.poll() is None:
            bench.PROCS.stop(tracer, sig=signal.SIGINT)
        srv.stop()


def syscalls(path):
    """{syscall: calls} from strace -c output."""
    out = {}
    for line in pathlib.Path(path).read_text().splitlines():
        f = line.split()
        if len(f) >= 5 and f[-1].isidentifier() and f[3].isdigit() and f[-1] != "total":
            out[f[-1]] = int(f[3])
    return out


def report(kind, total, funcs, units, sysc, categories):
    print(f"\n== {kind}: {units} units of work, {total:,} instructions in the gateway "
          f"({total / max(units, 1):,.0f} per unit, user space only)")
    print(f"{'where (inclusive costs; lines overlap)':<46} {'Ir/unit':>9} {'share':>6}")
    for label, names in categories:
        ir = sum(funcs.get(n, (0, 0))[0] for n in names)
        print(f"  {label:<44} {ir / max(units, 1):>9,.0f} {100.0 * ir / max(total, 1):>5.1f}%")
    print("  top functions by self cost (Ir/unit):")
    top = sorted(((k, v) for k, v in funcs.items() if v[1] < total * 0.99),
                 key=lambda kv: -kv[1][1])[:15]
    for name, (inc, self_) in top:
        print(f"    {name:<50} {self_ / max(units, 1):>8,.0f}  (incl {inc / max(units, 1):,.0f})")
    if sysc:
        print(f"  syscalls per unit (strace -c -f, all threads): {sum(sysc.values()):.2f}")
        for name, c in sorted(sysc.items(), key=lambda kv: -kv[1])[:8]:
            print(f"    {name:<20} {c:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", nargs="?", default="all",
                    choices=["push", "route", "fanout", "all"])
    ap.add_argument("--build", default=str(bench.ROOT / "build"))
    ap.add_argument("--pushes", type=int, default=5000)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    ns = argparse.Namespace(build=args.build, out=None, run_timeout=1800, keep=False,
                            quick=False)
    ctx = bench.Ctx(ns)
    kinds = ["push", "route", "fanout"] if args.what == "all" else [args.what]
    for kind in kinds:
        ctx.tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"ptprofile-{kind}-"))
        with bench.Deadline(1800):
            units = callgrind_run(ctx, kind, args)
        dumps = sorted(glob.glob(str(ctx.build / "bench" / "profile" / f"callgrind.{kind}.*")))
        # The dump taken by callgrind_control -d has a ".1" suffix; the final one (at exit)
        # holds only the shutdown.
        work = [d for d in dumps if d.endswith(".1")] or dumps
        total, funcs = annotate(work[0])
        outdir = ctx.build / "bench" / "profile"
        with bench.Deadline(600):
            sunits = run_work(ctx, bench.Portico(ctx, workers=args.workers), kind, args,
                              outdir=outdir, strace=True)
        sysc = syscalls(outdir / f"strace.{kind}.txt")
        sysc = {k: v / max(sunits, 1) for k, v in sysc.items()}  # per unit of work
        report(kind, total, funcs, units, sysc,
               ROUTE_CATEGORIES if kind == "route" else PUSH_CATEGORIES)
        print(f"  callgrind file: {work[0]}")
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    bench.PROCS.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
