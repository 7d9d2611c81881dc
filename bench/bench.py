#!/usr/bin/python3
"""bench.py: runs the benchmark scenarios S1-S5 against Portico and its peers; one row per run.

usage: bench/bench.py [--build DIR] [--repeat N] [--quick] [--peers] SCENARIO... | all | table

Every run starts its own server (Portico, nginx+nchan or Pushpin) in a temporary directory on
127.0.0.1, drives it with bench/ptload processes (and bench/ptecho as a backend), reads the
server's CPU time and memory from /proc before and after, prints ONE summary line and appends a
row to the results file (default BUILD/bench/results.tsv; the committed bench/results.tsv holds
the header only). Every process it starts is stopped by PID when the run ends, whatever happens,
and every run is bounded in time. bench/README.md describes the scenarios and the columns.
"""
import argparse
import atexit
import json
import math
import os
import pathlib
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
AK, SK = "AKIDPORTICOBENCH0001", "bench/secret/key/00000000000000000000"
REGION = "us-east-1"
MAX_CLIENTS_PER_PROC = 5000  # the machine caps every process at 20,000 open files
FIELDS = ["time", "rev", "scenario", "server", "clients", "work", "unit", "ok", "lost", "errors",
          "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "sent_p50_ms", "sent_p99_ms",
          "rate_per_s", "cpu_us_per_unit",
          "user_share", "rss_kb_per_conn", "pss_kb_per_conn", "anon_kb_per_conn", "rss_base_mb",
          "rss_peak_mb", "load_cpu_s", "run_s", "notes"]


class BenchError(Exception):
    pass


# ---- processes: every one we start is stopped by PID --------------------------------------

class Procs:
    def __init__(self):
        self.live = []

    def spawn(self, args, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen([str(a) for a in args], **kw)
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=10.0):
        """Stops p and whatever it started (found through /proc before signalling)."""
        if p.poll() is None:
            kids = [k for k in tree(p.pid) if k != p.pid]
            try:
                p.send_signal(sig)
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            for k in kids:  # children a runner left behind (Pushpin, nginx workers)
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in reversed(list(self.live)):
            try:
                self.stop(p, grace=5.0)
            except Exception:  # noqa: BLE001 - best effort at exit
                pass


PROCS = Procs()
atexit.register(PROCS.stop_all)


def _on_signal(sig, frame):
    raise SystemExit(f"bench.py: signal {sig}, stopping everything")


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


class Deadline:
    """Bounds a run in time: SIGALRM raises BenchError inside the run."""

    def __init__(self, seconds):
        self.seconds = int(seconds)

    def __enter__(self):
        def fire(sig, frame):
            raise BenchError(f"run exceeded its {self.seconds} s bound")
        self.old = signal.signal(signal.SIGALRM, fire)
        signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)
        return False


# ---- /proc ----------------------------------------------------------------------------------

def _ppids():
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        out[int(d)] = int(s[s.rindex(")") + 2:].split()[1])
    return out


def tree(root):
    """root and every descendant."""
    pp = _ppids()
    kids = {}
    for pid, ppid in pp.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in pp or p == root:
            out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu(pids):
    """(user seconds, system seconds) summed over pids (threads included, children not)."""
    u = s = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        u += int(fields[11])
        s += int(fields[12])
    return u / CLK_TCK, s / CLK_TCK


def mem(pids):
    """{'rss','anon','pss'} in KB, summed over pids."""
    out = {"rss": 0, "anon": 0, "pss": 0}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        out["rss"] += int(line.split()[1])
                    elif line.startswith("RssAnon:"):
                        out["anon"] += int(line.split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        out["pss"] += int(line.split()[1])
        except OSError:
            continue
    return out


class Sampler(threading.Thread):
    """Samples the RSS of a process tree every 100 ms; keeps the peak."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root, self.peak, self.stopped = root, 0, threading.Event()
        self.runq = []  # machine-wide runnable tasks (procs_running), a contention gauge

    def run(self):
        while not self.stopped.is_set():
            try:
                with open("/proc/stat") as f:
                    for line in f:
                        if line.startswith("procs_running"):
                            self.runq.append(int(line.split()[1]))
            except OSError:
                pass
            pids = tree(self.root)
            rss = 0
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                rss += int(line.split()[1])
                except OSError:
                    pass
            self.peak = max(self.peak, rss)
            self.stopped.wait(0.1)

    def stop(self):
        self.stopped.set()
        self.join(2)
        return self.peak

    def runq_avg(self):
        return sum(self.runq) / len(self.runq) if self.runq else float("nan")


# ---- histograms (bench/hist.h layout) -------------------------------------------------------

H_LINEAR, H_SUB = 128, 64


def bucket_low(i):
    if i < H_LINEAR:
        return i
    shift = (i - H_LINEAR) // H_SUB + 1
    return ((i - H_LINEAR) % H_SUB + H_SUB) << shift


def hist_merge(hs):
    out = {"n": 0, "max": 0, "b": {}}
    for h in hs:
        out["n"] += h["n"]
        out["max"] = max(out["max"], h["max"])
        for i, c in h["b"]:
            out["b"][i] = out["b"].get(i, 0) + c
    return out


def quantile_ms(h, q):
    if not h["n"]:
        return float("nan")
    want = min(int(q * h["n"]), h["n"] - 1)
    seen = 0
    for i in sorted(h["b"]):
        seen += h["b"][i]
        if seen > want:
            return bucket_low(i) / 1000.0
    return h["max"] / 1000.0


# ---- servers --------------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{what} did not listen on {port}")


class Echo:
    """bench/ptecho: the HTTP backend (echo for S4 and $connect, GRIP for Pushpin)."""

    def __init__(self, ctx, mode="echo", threads=1):
        self.proc = PROCS.spawn([ctx.build / "bench" / "ptecho", "--mode", mode, "--threads",
                                 threads, "--deadline", 3600],
                                stdout=subprocess.PIPE, stderr=open(ctx.tmp / "ptecho.log", "ab"))
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise BenchError("ptecho did not start")
        self.port = int(line.split()[1])

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def cpu_s(self):
        u, s = cpu([self.proc.pid])
        return u + s

    def stop(self):
        PROCS.stop(self.proc)


class Portico:
    name = "portico"
    conc = 512  # handshakes in flight per load process

    def __init__(self, ctx, echo=None, connect_http=False, limits=None, workers=0):
        self.ctx, self.echo = ctx, echo
        api = {
            "apiId": "benchapi01", "name": "bench", "protocolType": "WEBSOCKET",
            "routeSelectionExpression": "$request.body.action",
            "integrations": [
                mock("who", '{"connectionId":"$context.connectionId"}'),
                mock("pong", '{"action":"pong"}'),
            ],
            "routes": [two_way("whoami", "who"), two_way("ping", "pong")],
            "stages": [{"stageName": "dev"}],
        }
        if echo:
            api["integrations"].append({"integrationId": "echo", "integrationType": "HTTP_PROXY",
                                        "integrationUri": echo.url("/echo")})
            api["routes"].append(two_way("echo", "echo"))
        if connect_http:
            api["integrations"].append({"integrationId": "conn", "integrationType": "HTTP_PROXY",
                                        "integrationUri": echo.url("/connect")})
            api["routes"].append({"routeKey": "$connect", "target": "integrations/conn"})
        server = {"listen": "127.0.0.1:0", "adminListen": "127.0.0.1:0", "workers": workers,
                  "region": REGION, "logLevel": "warn",
                  "credentials": [{"accessKeyId": AK, "secretAccessKey": SK}]}
        if limits:
            server["limits"] = limits
        self.config = {"server": server, "apis": [api]}

    def start(self):
        d = self.ctx.tmp / "portico"
        d.mkdir(exist_ok=True)
        (d / "portico.json").write_text(json.dumps(self.config, indent=2))
        pf = d / "ports.json"
        if pf.exists():
            pf.unlink()  # a port file from an earlier start in the same directory
        self.proc = PROCS.spawn([self.ctx.build / "portico", "--config", d / "portico.json",
                                 "--port-file", pf, "--data-dir", d / "data"],
                                stdout=open(d / "portico.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"portico exited with {self.proc.returncode}: "
                                 f"{(d / 'portico.log').read_text()[-2000:]}")
            try:
                self.port = json.loads(pf.read_text())["listen"]
                return self
            except (OSError, ValueError, KeyError):
                time.sleep(0.02)
        raise BenchError("portico did not write its port file")

    def echo_cpu_s(self):
        return self.echo.cpu_s() if self.echo else 0.0

    def load_args(self, push):
        a = ["--port", self.port, "--ws-path", "/dev", "--id", "whoami" if push else "none"]
        if push:
            a += ["--pub", "sigv4", "--pub-path", "/dev/@connections/{id}", "--ak", AK, "--sk", SK,
                  "--region", REGION]
        return a

    def stop(self):
        PROCS.stop(self.proc, grace=30)


NGINX_CONF = """\
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location ~ ^/sub/(.+)$ {{
            nchan_subscriber websocket;
            nchan_channel_id $1;
        }}
        location ~ ^/pub/(.+)$ {{
            nchan_publisher;
            nchan_channel_id $1;
        }}
    }}
}}
"""


class Nchan:
    """nginx 1.22 + nchan 1.3.6 (Debian), module defaults (nchan_message_buffer_length 10,
    nchan_shared_memory_size 128M); one worker per core, like Portico."""
    name = "nchan"
    conc = 512

    def __init__(self, ctx, workers=0):
        self.ctx, self.workers = ctx, workers or os.cpu_count()

    def start(self):
        d = self.ctx.tmp / "nchan"
        d.mkdir(exist_ok=True)
        self.port = free_port()
        (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=self.port,
                                                        workers=self.workers))
        self.proc = PROCS.spawn(["/usr/sbin/nginx", "-p", d, "-c", d / "nginx.conf", "-e",
                                 d / "error.log"],
                                stdout=open(d / "stdout.log", "ab"), stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "nginx")
        return self

    def load_args(self, push):
        a = ["--port", self.port, "--ws-path", "/sub/{id}", "--id", "path"]
        if push:
            a += ["--pub", "nchan", "--pub-path", "/pub/{id}"]
        return a

    def stop(self):
        PROCS.stop(self.proc, sig=signal.SIGTERM)


PUSHPIN_CONF = """\
[global]
include={{libdir}}/internal.conf
rundir={d}/run
ipc_prefix=ptbench-
port_offset={offset}
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:{port}
logdir={d}/log
log_level=2
client_buffer_size=8192
client_maxconn=50000
condure_bin=condure
mongrel2_bin=mongrel2
m2sh_bin=m2sh
zurl_bin=zurl

[proxy]
# Debian's internal.conf points the proxy at a system-wide zurl (/var/run/zurl); the runner
# starts its own zurl here (services above), so point the proxy at that one.
zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in
zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream
zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out
routesfile={d}/routes
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol=false
set_x_forwarded_protocol=proto-only
x_forwarded_for=
x_forwarded_for_trusted=
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss=pushpin
sig_key=changeme
upstream_key=
sockjs_url=http://cdn.jsdelivr.net/sockjs/0.3.4/sockjs.min.js
updates_check=off
organization_name=

[handler]
push_in_spec=tcp://127.0.0.1:5560
push_in_sub_specs=tcp://127.0.0.1:5562
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=5561
push_in_http_max_headers_size=10000
push_in_http_max_body_size=1000000
stats_spec=ipc://{{rundir}}/{{ipc_prefix}}stats
command_spec=tcp://127.0.0.1:5563
# Raised from the defaults (2500 and 25000): at the default rate a 200,000-push run would
# queue and then drop most of its messages, which measures the limiter, not the server.
message_rate={message_rate}
message_hwm={message_hwm}
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
"""


class Pushpin:
    """Pushpin 1.36 (Debian): condure + pushpin-proxy + pushpin-handler, WebSocket-over-HTTP to
    bench/ptecho --mode grip, which subscribes each connection to its own channel; pushes go
    through the handler's HTTP publish endpoint (POST /publish/)."""
    name = "pushpin"
    # More than ~16 upgrades in flight per load process make Pushpin answer some with 502
    # (its proxy -> zurl -> backend path for WebSocket-over-HTTP drops requests under a burst).
    conc = 16

    def __init__(self, ctx):
        self.ctx = ctx

    def start(self):
        d = self.ctx.tmp / "pushpin"
        (d / "run").mkdir(parents=True, exist_ok=True)
        (d / "log").mkdir(exist_ok=True)
        self.backend = Echo(self.ctx, mode="grip")
        self.port = free_port()
        offset = 0
        for offset in range(100, 20000, 100):  # the handler's 5560-5563 + offset must be free
            if all(port_free(5560 + offset + i) for i in range(4)):
                break
        self.pub_port = 5561 + offset
        (d / "routes").write_text(f"* 127.0.0.1:{self.backend.port},over_http\n")
        (d / "pushpin.conf").write_text(PUSHPIN_CONF.format(
            d=d, port=self.port, offset=offset, message_rate=1000000, message_hwm=1000000))
        self.proc = PROCS.spawn(["/usr/bin/pushpin", "--config", d / "pushpin.conf"],
                                stdout=open(d / "stdout.log", "ab"), stderr=subprocess.STDOUT,
                                cwd=d)
        wait_port(self.port, self.proc, "pushpin")
        wait_port(self.pub_port, self.proc, "pushpin handler")
        time.sleep(1.0)
        return self

    def echo_cpu_s(self):
        return self.backend.cpu_s()

    def load_args(self, push):
        a = ["--port", self.port, "--ws-path", "/sub/{id}", "--id", "path"]
        if push:
            a += ["--pub", "pushpin", "--pub-port", self.pub_port, "--pub-path", "/publish/"]
        return a

    def stop(self):
        PROCS.stop(self.proc, sig=signal.SIGTERM)
        self.backend.stop()


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def mock(iid, response):
    return {"integrationId": iid, "integrationType": "MOCK",
            "requestTemplates": {"$default": '{"statusCode": 200}'},
            "integrationResponses": [{"integrationResponseKey": "$default",
                                      "responseTemplates": {"$default": response}}]}


def two_way(key, iid):
    return {"routeKey": key, "target": f"integrations/{iid}",
            "routeResponseSelectionExpression": "$default",
            "routeResponses": [{"routeResponseKey": "$default"}]}


# ---- load processes -------------------------------------------------------------------------

class Load:
    """K ptload processes; each holds a share of the clients, publishers and work."""

    def __init__(self, ctx, server, clients, procs=None, push=False, publishers=0, pushes=0,
                 rate=0.0, extra=(), per_proc=None):
        self.ctx = ctx
        k = procs or max(1, math.ceil(clients / MAX_CLIENTS_PER_PROC))
        self.procs = []
        for i in range(k):
            n = clients // k + (1 if i < clients % k else 0)
            args = [ctx.build / "bench" / "ptload", "--proc", i, "--clients", n,
                    "--src-base", 2 + 8 * i, "--deadline", ctx.deadline]
            args += server.load_args(push)
            if publishers:
                args += ["--publishers", publishers // k + (1 if i < publishers % k else 0)]
            if pushes:
                args += ["--pushes", pushes // k + (1 if i < pushes % k else 0)]
            if rate:
                args += ["--rate", f"{rate / k:.3f}"]
            args += list(extra) + list(per_proc(i) if per_proc else [])
            p = PROCS.spawn(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(ctx.tmp / f"ptload-{i}.log", "ab"))
            self.procs.append(p)
        self.t_spawn = time.monotonic()
        self.buf = {p.pid: b"" for p in self.procs}

    def _collect(self, tag, timeout):
        """Waits for one `tag {json}` line from every process."""
        sel = selectors.DefaultSelector()
        for p in self.procs:
            sel.register(p.stdout, selectors.EVENT_READ, p)
        got = {}
        deadline = time.monotonic() + timeout
        try:
            while len(got) < len(self.procs):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"load processes gave no {tag} within {timeout:.0f} s")
                for key, _ in sel.select(min(left, 1.0)):
                    p = key.data
                    chunk = os.read(p.stdout.fileno(), 1 << 20)
                    if not chunk:
                        raise BenchError(f"ptload {p.pid} exited ({p.wait()}); see "
                                         f"{self.ctx.tmp}/ptload-*.log")
                    self.buf[p.pid] += chunk
                    while b"\n" in self.buf[p.pid]:
                        line, self.buf[p.pid] = self.buf[p.pid].split(b"\n", 1)
                        if line.startswith(tag.encode() + b" "):
                            got[p.pid] = json.loads(line[len(tag) + 1:])
        finally:
            sel.close()
        return [got[p.pid] for p in self.procs]

    def ready(self, timeout=300):
        self.ready_info = self._collect("READY", timeout)
        self.t_ready = time.monotonic()
        return self.ready_info

    def go(self, t0_delay=0.05):
        t0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + int(t0_delay * 1e9)
        for p in self.procs:
            p.stdin.write(f"go {t0}\n".encode())
            p.stdin.flush()

    def done(self, timeout=600):
        return self._collect("DONE", timeout)

    def cpu_s(self):
        u, s = cpu([p.pid for p in self.procs])
        return u + s

    def quit(self):
        for p in self.procs:
            try:
                p.stdin.write(b"quit\n")
                p.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            PROCS.stop(p)


# ---- one run --------------------------------------------------------------------------------

class Ctx:
    def __init__(self, args):
        self.build = pathlib.Path(args.build).resolve()
        self.out = pathlib.Path(args.out) if args.out else self.build / "bench" / "results.tsv"
        self.deadline = args.run_timeout
        self.keep = args.keep
        self.quick = args.quick
        self.workers = getattr(args, "workers", 0)
        self.rev = git_rev()
        self.tmp = None


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_busy_s():
    """CPU seconds the whole machine spent busy (every core, since boot)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait


def slab_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def sample(pid):
    pids = tree(pid)
    u, s = cpu(pids)
    return {"u": u, "s": s, "t": time.monotonic(), "busy": machine_busy_s(), "slab": slab_kb(),
            **mem(pids)}


def others_note(before, after, *own_cpu_s):
    """How many cores processes other than ours used during the window (a noise gauge)."""
    wall = after["t"] - before["t"]
    if wall <= 0:
        return ""
    ours = (after["u"] + after["s"] - before["u"] - before["s"]) + sum(own_cpu_s)
    other = max(0.0, after["busy"] - before["busy"] - ours) / wall
    return f"others {other:.1f} cores"


def settle(pid, seconds=0.5):
    time.sleep(seconds)
    return sample(pid)


def row_base(ctx, scenario, server, clients):
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "rev": ctx.rev, "scenario": scenario,
            "server": server.name, "clients": clients}


def fill_cpu(row, before, after, units):
    du, ds = after["u"] - before["u"], after["s"] - before["s"]
    row["cpu_us_per_unit"] = (du + ds) * 1e6 / units if units else float("nan")
    row["user_share"] = du / (du + ds) if du + ds > 0 else float("nan")


def fill_lat(row, h):
    for name, q in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("p999_ms", 0.999)):
        row[name] = quantile_ms(h, q)
    row["max_ms"] = h["max"] / 1000.0 if h["n"] else float("nan")


def run_idle(ctx, server, scenario, clients, hold_s=2.0):
    """S1: open `clients` connections, hold them; RSS per connection and CPU per connect."""
    server.start()
    sampler = None
    try:
        base = settle(server.proc.pid, 1.0)
        backend0 = server.echo_cpu_s() if hasattr(server, "echo_cpu_s") else 0.0
        sampler = Sampler(server.proc.pid)
        sampler.start()
        load = Load(ctx, server, clients, extra=["--conc", server.conc])
        info = load.ready()
        connected = sample(server.proc.pid)
        time.sleep(hold_s)
        held = sample(server.proc.pid)
        opened = sum(i["open"] for i in info)
        failed = sum(i["failed"] for i in info)
        row = row_base(ctx, scenario, server, clients)
        row.update(work=opened, unit="connect", ok=opened, lost=failed, errors=failed)
        connect_s = max(i["connect_s"] for i in info)
        row["rate_per_s"] = opened / connect_s if connect_s else float("nan")
        fill_cpu(row, base, connected, opened)
        fill_lat(row, hist_merge(i["hs"] for i in info))
        for k, col in (("rss", "rss_kb_per_conn"), ("pss", "pss_kb_per_conn"),
                       ("anon", "anon_kb_per_conn")):
            row[col] = (held[k] - base[k]) / opened if opened else float("nan")
        row["rss_base_mb"] = base["rss"] / 1024
        row["load_cpu_s"] = load.cpu_s()
        row["run_s"] = connect_s
        idle_cpu = max(0.0, held["u"] + held["s"] - connected["u"] - connected["s"])
        backend = (server.echo_cpu_s() if hasattr(server, "echo_cpu_s") else 0.0) - backend0
        row["notes"] = (f"hold {hold_s:.0f}s idle cpu {idle_cpu * 1000:.0f} ms; "
                        f"latency = handshake; {others_note(base, connected, load.cpu_s(), backend)}"
                        f", runnable avg {sampler.runq_avg():.1f}")
        if opened:
            row["notes"] += (f"; kernel slab +{(held['slab'] - base['slab']) / opened:.1f} KB "
                             f"per connection (both loopback ends, whole machine)")
        if backend > 0.005:
            row["notes"] += f"; backend cpu {backend * 1e6 / max(opened, 1):.0f} us/connect"
        load.quit()
        row["rss_peak_mb"] = sampler.stop() / 1024
        return row
    finally:
        if sampler:
            sampler.stop()
        server.stop()


def run_push(ctx, server, scenario, clients, pushes=0, rate=0.0, publishers=32, rounds=0,
             period_ms=0, slow=0, slow_share=0.0, slow_reads=False, procs=None, note="",
             payload=100):
    """S2/S3/S5: signed pushes (unicast, fan-out rounds, or with slow consumers)."""
    server.start()
    sampler = None
    try:
        base = settle(server.proc.pid, 0.5)
        k = procs or max(2, math.ceil(clients / MAX_CLIENTS_PER_PROC))
        extra = ["--conc", min(server.conc, 256), "--drain-s", 30, "--payload", payload]
        if period_ms:
            extra += ["--period-ms", period_ms, "--rounds", rounds]
        if slow:
            extra += ["--slow-share", slow_share, "--slow-rcvbuf", 4096, "--slow-mss", 1460]
            if slow_reads:
                extra += ["--slow-reads"]

        def per_proc(i):
            return ["--slow", slow // k + (1 if i < slow % k else 0)] if slow else []
        load = Load(ctx, server, clients, procs=k, push=True, publishers=publishers,
                    pushes=pushes, rate=rate, extra=extra, per_proc=per_proc)
        info = load.ready()
        opened = sum(i["open"] for i in info)
        time.sleep(1.0)  # peers subscribe asynchronously after the handshake
        before = sample(server.proc.pid)
        load_cpu0 = load.cpu_s()
        sampler = Sampler(server.proc.pid)
        sampler.start()
        load.go()
        done = load.done()
        after = sample(server.proc.pid)
        tot = {key: sum(d[key] for d in done) for key in done[0] if isinstance(done[0][key], int)}
        answered = tot["ok"] + tot["s410"] + tot["s429"] + tot["sother"]
        received = tot["recv_fast"] + tot["recv_slow"]
        row = row_base(ctx, scenario, server, clients)
        row.update(work=answered, unit="delivery" if period_ms else "push", ok=tot["ok"],
                   lost=tot["ok"] - received,
                   errors=tot["s410"] + tot["s429"] + tot["sother"] + tot["neterr"] +
                   tot["skipped"] + (clients - opened))
        run_s = max(d["run_s"] for d in done)
        send_s = max(d["send_s"] for d in done)
        row["rate_per_s"] = answered / send_s if send_s else float("nan")
        fill_cpu(row, before, after, answered)
        fill_lat(row, hist_merge(d["lat"] for d in done))
        sent_h = hist_merge(d["lat_sent"] for d in done)
        row["sent_p50_ms"] = quantile_ms(sent_h, 0.5)
        row["sent_p99_ms"] = quantile_ms(sent_h, 0.99)
        row["rss_base_mb"] = base["rss"] / 1024
        row["rss_peak_mb"] = sampler.stop() / 1024
        row["rss_kb_per_conn"] = (before["rss"] - base["rss"]) / opened if opened else 0
        row["pss_kb_per_conn"] = (before["pss"] - base["pss"]) / opened if opened else 0
        row["anon_kb_per_conn"] = (before["anon"] - base["anon"]) / opened if opened else 0
        row["load_cpu_s"] = load.cpu_s() - load_cpu0
        row["run_s"] = run_s
        resp = hist_merge(d["resp"] for d in done)
        notes = [others_note(before, after, row["load_cpu_s"]) +
                 f", runnable avg {sampler.runq_avg():.1f}",
                 f"offered {'%.0f/s' % rate if rate else 'saturation'}",
                 f"{publishers} publishers", f"push answer p50 {quantile_ms(resp, .5):.2f} "
                 f"p99 {quantile_ms(resp, .99):.2f} ms"]
        if slow:
            slow_h = hist_merge(d["lat_slow"] for d in done)
            notes.append(f"slow {slow} ({'reading' if slow_reads else 'stalled'}): "
                         f"429s {tot['s429']}, ok {tot['ok_slow']}, "
                         f"drained p99 {quantile_ms(slow_h, .99):.0f} ms; "
                         f"rss growth {(after['rss'] - before['rss']) / 1024:.1f} MB, "
                         f"peak-base {row['rss_peak_mb'] - row['rss_base_mb']:.1f} MB")
        if tot["closed"]:
            notes.append(f"{tot['closed']} clients closed during the run")
        if tot["stray"]:
            notes.append(f"{tot['stray']} stray frames")
        if note:
            notes.append(note)
        row["notes"] = "; ".join(notes)
        load.quit()
        return row
    finally:
        if sampler:
            sampler.stop()
        server.stop()


def run_msgs(ctx, server, scenario, clients, messages, body, echo=None):
    """S4: every client keeps one routed message in flight; RTT and CPU per round trip."""
    server.start()
    try:
        base = settle(server.proc.pid, 0.5)
        load = Load(ctx, server, clients, procs=2, push=False,
                    extra=["--id", "none", "--msg", body, "--messages", messages // 2,
                           "--drain-s", 10])
        info = load.ready()
        opened = sum(i["open"] for i in info)
        time.sleep(0.5)
        before = sample(server.proc.pid)
        echo_cpu0 = echo.cpu_s() if echo else 0.0
        load_cpu0 = load.cpu_s()
        sampler = Sampler(server.proc.pid)
        sampler.start()
        load.go()
        done = load.done()
        after = sample(server.proc.pid)
        sampler.stop()
        sent = sum(d["msg_sent"] for d in done)
        replies = sum(d["msg_replies"] for d in done)
        row = row_base(ctx, scenario, server, clients)
        row.update(work=replies, unit="round trip", ok=replies, lost=sent - replies,
                   errors=clients - opened)
        run_s = max(d["run_s"] for d in done)
        row["rate_per_s"] = replies / run_s if run_s else float("nan")
        fill_cpu(row, before, after, replies)
        fill_lat(row, hist_merge(d["rtt"] for d in done))
        row["rss_base_mb"] = base["rss"] / 1024
        row["rss_peak_mb"] = sampler.peak / 1024
        row["load_cpu_s"] = load.cpu_s() - load_cpu0
        row["run_s"] = run_s
        echo_d = (echo.cpu_s() - echo_cpu0) if echo else 0.0
        notes = [others_note(before, after, row["load_cpu_s"], echo_d) +
                 f", runnable avg {sampler.runq_avg():.1f}", f"message {len(body)} B"]
        if echo:
            notes.append(f"echo backend cpu {(echo.cpu_s() - echo_cpu0) * 1e6 / max(replies, 1):.1f}"
                         f" us/round trip")
        row["notes"] = "; ".join(notes)
        load.quit()
        return row
    finally:
        server.stop()


# ---- scenarios ------------------------------------------------------------------------------

def sizes(ctx):
    """Issue 10's sizes; --quick divides the work (not the connection counts) by 4."""
    q = 4 if ctx.quick else 1
    return {"s2_pushes": 200000 // q, "s3_rounds": max(2, 8 // q), "s4_msgs": 100000 // q,
            "s4m_msgs": 400000 // q, "s5_pushes": 200000 // q}


def scenario_list():
    return ["s1", "s1-19k", "s1-http", "s2", "s2-20k", "s2-sat", "s3", "s4", "s4-mock", "s5",
            "s5-control"]


PEER_SCENARIOS = ["s1", "s2", "s2-20k", "s2-sat", "s3"]
S4_BODY = '{"action":"echo","data":"' + "x" * 70 + '"}'
S4M_BODY = '{"action":"ping"}'


def run_scenario(ctx, name, server_name):
    z = sizes(ctx)
    if server_name == "pushpin":
        # Pushpin publishes 1,400-3,900 pushes/s here: the full 200,000 take 100 s per run.
        # A quarter keeps make bench-peers short; CPU and memory per unit do not depend on it.
        z.update(s2_pushes=z["s2_pushes"] // 4, s3_rounds=max(2, z["s3_rounds"] // 4))

    def srv(**kw):
        if server_name == "nchan":
            return Nchan(ctx)
        if server_name == "pushpin":
            return Pushpin(ctx)
        return Portico(ctx, workers=ctx.workers, **kw)

    if name == "s1":
        return run_idle(ctx, srv(), "S1 idle 10k", 10000)
    if name == "s1-19k":
        return run_idle(ctx, srv(), "S1 idle 19k", 19000)
    if name == "s1-http":
        echo = Echo(ctx, threads=1)
        try:
            row = run_idle(ctx, srv(echo=echo, connect_http=True), "S1 idle 10k $connect HTTP",
                           10000)
            return row
        finally:
            echo.stop()
    if name == "s2":
        return run_push(ctx, srv(), "S2 push 10k/s", 1000, pushes=z["s2_pushes"], rate=10000)
    if name == "s2-20k":
        return run_push(ctx, srv(), "S2 push 20k/s", 1000, pushes=z["s2_pushes"], rate=20000)
    if name == "s2-sat":
        return run_push(ctx, srv(), "S2 push saturation", 1000, pushes=z["s2_pushes"])
    if name == "s3":
        return run_push(ctx, srv(), "S3 fan-out 10k", 10000, rounds=z["s3_rounds"],
                        period_ms=2000, note="latency from the round's start")
    if name in ("s4", "s4-mock"):
        if name == "s4-mock":
            return run_msgs(ctx, srv(), "S4 routed MOCK", 100, z["s4m_msgs"], S4M_BODY)
        echo = Echo(ctx, threads=1)
        try:
            return run_msgs(ctx, srv(echo=echo), "S4 routed HTTP_PROXY", 100, z["s4_msgs"],
                            S4_BODY, echo=echo)
        finally:
            echo.stop()
    if name in ("s5", "s5-control"):
        control = name == "s5-control"
        return run_push(ctx, srv(), "S5 slow 1%" + (" control" if control else ""), 10000,
                        pushes=z["s5_pushes"], rate=10000, slow=100, slow_share=0.75,
                        slow_reads=control, payload=512,
                        note="512 B pushes, 75% of them to the 100 'slow' clients (MSS 1460, "
                             "SO_RCVBUF 4 KB)")
    raise BenchError(f"unknown scenario {name}")


# ---- results --------------------------------------------------------------------------------

def fmt(v):
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def append_row(ctx, row):
    ctx.out.parent.mkdir(parents=True, exist_ok=True)
    new = not ctx.out.exists()
    with open(ctx.out, "a") as f:
        if new:
            f.write((ROOT / "bench" / "results.tsv").read_text().splitlines()[0] + "\n")
        f.write("\t".join(fmt(row.get(k, "")) for k in FIELDS) + "\n")


def summary(row):
    s = (f"{row['scenario']:<26} {row['server']:<8} work={row['work']} {row['unit']}s "
         f"lost={row['lost']} err={row['errors']} | p50 {fmt(row['p50_ms'])} p99 "
         f"{fmt(row['p99_ms'])} max {fmt(row['max_ms'])} ms | {fmt(row['rate_per_s'])}/s | "
         f"cpu {fmt(row['cpu_us_per_unit'])} us/{row['unit']}")
    if row.get("rss_kb_per_conn") not in (None, ""):
        s += f" | rss {fmt(row['rss_kb_per_conn'])} KB/conn"
    return s


def read_rows(path):
    rows = []
    if not path.exists():
        return rows
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    for line in lines[1:]:
        vals = line.split("\t")
        rows.append(dict(zip(head, vals)))
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def spread(vals):
    vals = sorted(v for v in vals if not math.isnan(v))
    if not vals:
        return ""
    med = vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] +
                                                      vals[len(vals) // 2]) / 2
    if len(vals) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(vals[0])}–{fmt(vals[-1])})"


TABLE_COLS = [("cpu_us_per_unit", "CPU µs/unit"), ("rss_kb_per_conn", "RSS KB/conn"),
              ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("sent_p99_ms", "p99 from send ms"),
              ("rate_per_s", "rate /s")]


def print_table(rows, since=None):
    """Median (min–max) per scenario and server; ratios peer/Portico when peers ran."""
    if since:
        rows = [r for r in rows if r["time"] >= since]
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["server"]), []).append(r)
    print()
    print("| scenario | server | runs | " + " | ".join(c[1] for c in TABLE_COLS) +
          " | lost | errors |")
    print("|---|---|---|" + "---|" * (len(TABLE_COLS) + 2))
    order = {"portico": 0, "nchan": 1, "pushpin": 2}
    for (scen, srv), rs in sorted(groups.items(), key=lambda kv: (kv[0][0],
                                                                   order.get(kv[0][1], 9))):
        cells = [spread([num(r[c]) for r in rs]) for c, _ in TABLE_COLS]
        lost = sum(int(num(r["lost"])) for r in rs)
        errs = sum(int(num(r["errors"])) for r in rs)
        print(f"| {scen} | {srv} | {len(rs)} | " + " | ".join(cells) + f" | {lost} | {errs} |")
    peers = [(s, p) for (s, p) in groups if p != "portico" and (s, "portico") in groups]
    if peers:
        print()
        print("ratios peer / Portico (medians; > 1 means Portico uses less / is faster):")
        for scen, peer in sorted(peers):
            ours, theirs = groups[(scen, "portico")], groups[(scen, peer)]

            def med(rs, c):
                v = sorted(num(r[c]) for r in rs if not math.isnan(num(r[c])))
                return v[len(v) // 2] if v else float("nan")
            parts = []
            for c, label in (("cpu_us_per_unit", "CPU/unit"), ("rss_kb_per_conn", "RSS/conn"),
                             ("p99_ms", "p99")):
                a, b = med(ours, c), med(theirs, c)
                if a and not math.isnan(a) and not math.isnan(b) and a > 0:
                    parts.append(f"{label} ×{b / a:.1f}")
            a, b = med(ours, "rate_per_s"), med(theirs, "rate_per_s")
            if b and not math.isnan(a) and not math.isnan(b) and b > 0:
                parts.append(f"rate ×{a / b:.1f}")
            print(f"  {scen:<26} {peer:<8} " + ", ".join(parts))


# ---- main -----------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", default=["all"],
                    help="s1 s1-19k s1-http s2 s2-20k s2-sat s3 s4 s4-mock s5 s5-control | all | table")
    ap.add_argument("--build", default=str(ROOT / "build"), help="build dir (portico, bench/)")
    ap.add_argument("--out", help="results file (default BUILD/bench/results.tsv)")
    ap.add_argument("--server", default="portico", choices=["portico", "nchan", "pushpin"])
    ap.add_argument("--peers", action="store_true",
                    help="also run nchan and Pushpin for the scenarios they can run")
    ap.add_argument("--peers-only", action="store_true", help="only the peers")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="a quarter of the work per scenario")
    ap.add_argument("--run-timeout", type=int, default=240, help="bound per run, seconds")
    ap.add_argument("--keep", action="store_true", help="keep each run's temp dir")
    ap.add_argument("--workers", type=int, default=0,
                    help="Portico worker threads (default 0: one per core); rows get a suffix")
    args = ap.parse_args()
    ctx = Ctx(args)
    names = args.scenarios
    if names == ["table"]:
        print_table(read_rows(ctx.out))
        return 0
    if "all" in names:
        names = scenario_list()
    plan = []
    for _ in range(args.repeat):
        for n in names:
            servers = [] if args.peers_only else [args.server]
            if (args.peers or args.peers_only) and n in PEER_SCENARIOS:
                servers += ["nchan", "pushpin"]
            plan += [(n, s) for s in servers]
    for need in (ctx.build / "bench" / "ptload", ctx.build / "bench" / "ptecho"):
        if not need.exists():
            print(f"bench.py: {need} missing; build first (make bench)", file=sys.stderr)
            return 2
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    failures = 0
    for name, server in plan:
        ctx.tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"ptbench-{name}-{server}-"))
        ok = False
        try:
            with Deadline(ctx.deadline):
                row = run_scenario(ctx, name, server)
            if ctx.workers and server == "portico":
                row["scenario"] += f" ({ctx.workers} worker{'s' if ctx.workers > 1 else ''})"
            append_row(ctx, row)
            print(summary(row), flush=True)
            ok = True
        except (BenchError, OSError) as e:
            failures += 1
            print(f"{name:<26} {server:<8} FAILED: {e} (logs in {ctx.tmp})", flush=True)
        finally:
            PROCS.stop_all()
            if ok and not ctx.keep:
                shutil.rmtree(ctx.tmp, ignore_errors=True)
    print_table(read_rows(ctx.out), since=started)
    print(f"\nrows appended to {ctx.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
