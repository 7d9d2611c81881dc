"""test_demo_chat.py: demo-chat end to end: headless Chromium pages, Portico, the C backend.

The browser is Debian's /usr/bin/chromium driven by playwright-core through
tests/e2e/node/browser.mjs (JSON lines on stdin/stdout; class Browser below). Portico runs on
demo-chat/portico.json (listen ports set to 0, the backend's port filled in), started by the
harness's gateway_factory; the backend (build/chat-backend, next to the portico binary) runs
on port 0 with its own data directory and is stopped by PID, like the gateway.

Set PORTICO_UPDATE_SCREENSHOT=1 to write docs/demo-chat.png from test_screenshot.
"""
import asyncio
import json
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BIN, ROOT, SANITIZER_MARKS, SLOW
from wsutil import connect, recv

BACKEND_BIN = str(pathlib.Path(BIN).parent / "chat-backend")
NODE_DRIVER = str(ROOT / "tests" / "e2e" / "node" / "browser.mjs")
CHROMIUM = "/usr/bin/chromium"
CONFIG = ROOT / "demo-chat" / "portico.json"
CID = r"[A-Za-z0-9_-]{15}="

pytestmark = pytest.mark.skipif(not os.path.exists(BACKEND_BIN),
                                reason=f"{BACKEND_BIN} is not built")
needs_browser = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("node") and
         (ROOT / "tests" / "node_modules" / "playwright-core").is_dir()),
    reason="needs chromium, node and playwright-core (scripts/deps.sh test)")


def demo_credentials():
    cfg = json.loads(CONFIG.read_text())
    cred = cfg["server"]["credentials"][0]
    return cred["accessKeyId"], cred["secretAccessKey"], cfg["server"]["region"]


class ChatBackend:
    """The demo's backend on 127.0.0.1:0 (port from --port-file), stopped by PID."""

    def __init__(self, tmp, args):
        self.tmp = pathlib.Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.args = list(args)
        self.proc = None
        self.port = None
        self.starts = 0

    def start(self, port=0):
        self.starts += 1
        port_file = self.tmp / "chat.port"
        if port_file.exists():
            port_file.unlink()
        self.log_path = self.tmp / f"chat-backend-{self.starts}.log"
        self.log = open(self.log_path, "wb")
        akid, secret, region = demo_credentials()
        env = dict(os.environ, AWS_ACCESS_KEY_ID=akid, AWS_SECRET_ACCESS_KEY=secret,
                   AWS_REGION=region)
        self.proc = subprocess.Popen(
            [BACKEND_BIN, "--listen", f"127.0.0.1:{port}", "--port-file", str(port_file),
             "--data-dir", str(self.tmp / "chat-data")] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 15 * SLOW
        while time.time() < deadline:
            if port_file.exists():
                try:
                    self.port = json.loads(port_file.read_text())["listen"]
                    return self
                except (ValueError, KeyError):
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"chat-backend exited with {self.proc.returncode}:\n"
                                   f"{self.output()}")
            time.sleep(0.02)
        raise RuntimeError("chat-backend did not write its port file:\n" + self.output())

    def output(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path):
        with urllib.request.urlopen(self.url(path), timeout=10 * SLOW) as r:
            return r.status, dict(r.headers), r.read()

    def stats(self):
        return json.loads(self.get("/stats")[2])

    def post_event(self, event):
        req = urllib.request.Request(self.url("/events"), data=json.dumps(event).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10 * SLOW) as r:
            return json.loads(r.read())

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("chat-backend did not stop on SIGTERM:\n" + self.output())
        self.log.close()
        return rc


@pytest.fixture
def backend_of(tmp_path):
    """Starts chat-backends; each is stopped by PID at the end: exit 0, no sanitizer report."""
    made = []

    def make(args, subdir="chat"):
        b = ChatBackend(tmp_path / subdir, args)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        rc = b.stop()
        assert rc in (0, None), f"chat-backend exited with {rc}:\n{b.output()}"
        for i in range(1, b.starts + 1):
            text = (b.tmp / f"chat-backend-{i}.log").read_text(errors="replace")
            for mark in SANITIZER_MARKS:
                assert mark not in text, f"sanitizer report in chat-backend's log:\n{text}"


def demo_config(backend_port):
    """demo-chat/portico.json as the demo runs it, on ports the kernel picks."""
    cfg = json.loads(CONFIG.read_text())
    cfg["server"]["listen"] = "127.0.0.1:0"
    cfg["server"]["adminListen"] = "127.0.0.1:0"
    cfg["server"]["workers"] = 2
    cfg["apis"][0]["stages"][0]["stageVariables"]["chatBackend"] = f"127.0.0.1:{backend_port}"
    return cfg


@pytest.fixture
def demo(gateway_factory, backend_of, tmp_path):
    """Portico on the demo's config and the backend, wired together; returns (gw, backend)."""
    gw_dir = tmp_path / "gw"
    gw_dir.mkdir()
    be = backend_of(["--endpoint-port-file", str(gw_dir / "ports.json"), "--stage", "dev"])
    gw = gateway_factory(demo_config(be.port), subdir="gw")
    return gw, be


class Browser:
    """Requests to tests/e2e/node/browser.mjs, one JSON line each way."""

    def __init__(self, tmp):
        self.err = open(pathlib.Path(tmp) / "browser.log", "wb")
        self.proc = subprocess.Popen(["node", NODE_DRIVER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err,
                                     cwd=str(ROOT / "tests"))

    def call(self, op, timeout=30, **kw):
        self.proc.stdin.write((json.dumps(dict(op=op, **kw)) + "\n").encode())
        self.proc.stdin.flush()
        r, _, _ = select.select([self.proc.stdout], [], [], timeout * SLOW + 30)
        if not r:
            raise AssertionError(f"browser driver did not answer {op} {kw}")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("browser driver exited:\n" + self.log())
        res = json.loads(line)
        if not res["ok"]:
            raise AssertionError(f"{op} {kw}: {res['error']}")
        return res["value"]

    def log(self):
        self.err.flush()
        return pathlib.Path(self.err.name).read_text(errors="replace")

    def open(self, page, url):
        self.call("open", page=page, url=url)

    def eval(self, page, js):
        return self.call("eval", page=page, js=js)

    def wait(self, page, js, timeout=10):
        """Waits until the expression is truthy in the page; returns its value."""
        return self.call("wait", page=page, js=js, timeout=int(timeout * SLOW * 1000))

    def wait_online(self, page, timeout=15):
        self.wait(page, "document.querySelector('#state').dataset.state === 'online'", timeout)

    def say(self, page, text):
        self.call("fill", page=page, selector="#text", value=text)
        self.call("press", page=page, selector="#text", key="Enter")

    def texts(self, page, selector):
        return self.eval(page, f"[...document.querySelectorAll({json.dumps(selector)})]"
                               ".map(e => e.textContent)")

    def members(self, page):
        return self.texts(page, "#members li")

    def wait_members(self, page, names, timeout=10):
        js = (f"JSON.stringify([...document.querySelectorAll('#members li')]"
              f".map(e => e.textContent).sort()) === "
              f"{json.dumps(json.dumps(sorted(names), separators=(',', ':')))}")
        try:
            self.wait(page, js, timeout)
        except AssertionError:
            raise AssertionError(f"{page}: members {self.members(page)}, wanted {names}")

    def wait_text(self, page, selector, text, timeout=10):
        js = (f"[...document.querySelectorAll({json.dumps(selector)})]"
              f".some(e => e.textContent === {json.dumps(text)})")
        try:
            self.wait(page, js, timeout)
        except AssertionError:
            raise AssertionError(f"{page}: no {selector} {text!r} in {self.texts(page, selector)}")

    def messages(self, page):
        return self.texts(page, "#messages li.msg .text")

    def problems(self, page):
        return self.call("problems", page=page)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("quit", timeout=20)
            except AssertionError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    yield b
    b.close()


def page_url(be, room, name):
    return be.url(f"/?room={room}&name={name}")


def open_chat(browser, be, page, room, name):
    browser.open(page, page_url(be, room, name))
    browser.wait_online(page)
    return browser.eval(page, "document.querySelector('#conn-id').textContent")


# ---- browser tests ------------------------------------------------------------------------------


@needs_browser
def test_rooms_messages_presence_typing_and_panel(demo, browser):
    """Two pages in one room and one in another: messages, join/leave, online list, typing,
    room list and switching, the connection panel; no console error and no CSP violation."""
    gw, be = demo
    cid_a = open_chat(browser, be, "a", "lobby", "alice")
    assert re.fullmatch(CID, cid_a)
    cid_b = open_chat(browser, be, "b", "lobby", "bob")
    open_chat(browser, be, "c", "other", "carol")

    # Who is online, and the join notice.
    browser.wait_members("a", ["alice", "bob"])
    browser.wait_members("b", ["alice", "bob"])
    browser.wait_members("c", ["carol"])
    browser.wait_text("a", "#messages li.system", "bob joined")
    assert browser.eval("a", "document.querySelector('#members li.me').textContent") == "alice"
    assert browser.eval("a", "document.querySelector('#members li.me').dataset.cid") == cid_a

    # A message reaches the room, the sender included, and not the other room.
    browser.say("a", "hello from alice")
    browser.wait_text("b", "#messages li.msg .text", "hello from alice")
    browser.wait_text("a", "#messages li.msg.mine .text", "hello from alice")
    browser.say("c", "carol in other")
    browser.wait_text("c", "#messages li.msg .text", "carol in other")
    assert "hello from alice" not in browser.messages("c")
    assert "carol in other" not in browser.messages("a")
    assert browser.eval("b", "document.querySelector('#messages li.msg .who').textContent") == \
        "alice"

    # Typing indicator: shown to the others while bob types, gone once he sends.
    browser.call("fill", page="b", selector="#text", value="typing something")
    browser.wait("a", "document.querySelector('#typing').textContent === 'bob is typing…'")
    assert browser.eval("c", "document.querySelector('#typing').textContent") == ""
    browser.call("press", page="b", selector="#text", key="Enter")
    browser.wait_text("a", "#messages li.msg .text", "typing something")
    browser.wait("a", "document.querySelector('#typing').textContent === ''")

    # The connection panel: id, a measured round trip (the ping route, MOCK, two-way).
    assert browser.eval("b", "document.querySelector('#conn-id').textContent") == cid_b
    rtt = browser.wait("a", "(t => /^\\d+\\.\\d ms$/.test(t) && t)"
                            "(document.querySelector('#rtt').textContent)")
    assert float(rtt.split()[0]) < 5000
    assert browser.eval("a", "document.querySelector('#endpoint').textContent") == \
        f"ws://127.0.0.1:{gw.port}/dev"

    # The room list (carol's welcome came last): both rooms, busiest first.
    rooms = browser.texts("c", "#rooms li")
    assert rooms[:2] == ["# lobby2", "# other1"], rooms
    # Switching rooms from the list: lobby hears carol arrive, the URL follows.
    browser.call("click", page="c", selector="#rooms button[data-room='lobby']")
    browser.wait_members("a", ["alice", "bob", "carol"])
    browser.wait_text("a", "#messages li.system", "carol joined")
    browser.wait_text("c", "#messages li.msg .text", "hello from alice")  # lobby's history
    assert browser.eval("c", "location.search") == "?room=lobby&name=carol"
    assert browser.eval("c", "document.querySelector('#room-name').textContent") == "lobby"

    # Leaving: closing bob's tab gives a leave notice and shrinks the list.
    browser.call("close", page="b")
    browser.wait_text("a", "#messages li.system", "bob left")
    browser.wait_members("a", ["alice", "carol"])
    browser.wait_members("c", ["alice", "carol"])

    # A burst: 40 messages sent at once arrive complete and in the room's order (pushes that
    # find several messages waiting carry them as one JSON array; whether any do depends on
    # timing, so the batching itself is checked in demo-chat/tests/test_chat.c).
    async def burst():
        ws = await connect(gw.url(query="room=lobby&name=burst"))
        await ws.send('{"action":"join"}')
        assert json.loads(await recv(ws))["type"] == "welcome"
        for i in range(40):
            await ws.send(json.dumps({"action": "sendmessage", "text": f"b{i}"}))
        order = []
        while len(order) < 40:
            data = json.loads(await recv(ws))
            for m in data if isinstance(data, list) else [data]:
                if m["type"] == "message":
                    order.append(m["text"])
        await ws.close()
        return order
    order = asyncio.run(burst())
    assert sorted(order, key=lambda t: int(t[1:])) == [f"b{i}" for i in range(40)]
    for p in ("a", "c"):
        browser.wait(p, "document.querySelectorAll('#messages li.msg').length >= 42")
        assert browser.messages(p)[-40:] == order, p

    for p in ("a", "c"):
        assert browser.problems(p) == [], p


@needs_browser
def test_history_on_join_and_across_a_backend_restart(demo, browser, tmp_path):
    """The last 50 messages of a room on joining, in order; kept in LMDB across a restart of
    the backend; a page whose member the backend forgot rejoins and resends by itself."""
    gw, be = demo

    async def fill_history():
        ws = await connect(gw.url(query="room=hist&name=writer"))
        await ws.send('{"action":"join"}')
        assert json.loads(await recv(ws))["type"] == "welcome"
        # One at a time: Portico runs a connection's integrations concurrently (as API Gateway
        # does with Lambda), so two messages sent at once may reach the backend in either order.
        for i in range(55):
            await ws.send(json.dumps({"action": "sendmessage", "text": f"m{i}"}))
            m = json.loads(await recv(ws))
            assert (m["type"], m["text"]) == ("message", f"m{i}")
        await ws.close()
    asyncio.run(fill_history())

    open_chat(browser, be, "d", "hist", "dora")
    want = [f"m{i}" for i in range(5, 55)]
    assert browser.messages("d") == want
    ids = browser.eval("d", "[...document.querySelectorAll('#messages li.msg')]"
                            ".map(e => Number(e.dataset.id))")
    assert ids == list(range(5, 55))

    # The backend restarts on the same port (Portico's config names it): history is on disk.
    port = be.port
    assert be.stop() == 0
    be.start(port=port)
    open_chat(browser, be, "e", "hist", "eve")
    assert browser.messages("e") == want

    # dora's connection outlived the backend's memory of it: her next message is refused
    # ("not_joined"), the page joins again and resends it; everyone sees it once.
    browser.say("d", "after the restart")
    browser.wait_text("e", "#messages li.msg .text", "after the restart")
    browser.wait_text("d", "#messages li.msg .text", "after the restart")
    assert browser.messages("d").count("after the restart") == 1
    browser.wait_members("e", ["dora", "eve"])
    for p in ("d", "e"):
        assert browser.problems(p) == [], p


@needs_browser
def test_reconnect_after_portico_restarts(demo, browser):
    """Portico stops: the pages say so and retry with backoff; it comes back on the same port:
    they reconnect with new connection ids, rejoin, and chat again."""
    gw, be = demo
    cid_a = open_chat(browser, be, "a", "lobby", "alice")
    cid_b = open_chat(browser, be, "b", "lobby", "bob")
    browser.wait_members("a", ["alice", "bob"])

    assert gw.stop() == 0  # SIGTERM: every client gets close 1001
    for p in ("a", "b"):
        browser.wait(p, "document.querySelector('#state').dataset.state === 'reconnecting'")
        browser.wait(p, "/^reconnecting in \\d+\\.\\d s \\(attempt \\d+\\)$/"
                        ".test(document.querySelector('#state').textContent)")
        browser.wait(p, "[...document.querySelectorAll('#messages li.system')]"
                        ".some(e => e.textContent.startsWith('Connection lost (1001'))")
        assert browser.eval(p, "document.querySelector('#send').disabled") is True
    # Let a few attempts fail against the closed port (backoff grows), then restart.
    browser.wait("a", "/attempt [3-9]/.test(document.querySelector('#state').textContent)", 15)

    gw.config["server"]["listen"] = f"127.0.0.1:{gw.port}"
    gw.start()
    for p in ("a", "b"):
        browser.wait_online(p, timeout=30)
        browser.wait_text(p, "#messages li.system", "Reconnected to #lobby")
        assert browser.eval(p, "document.querySelector('#reconnects').textContent") == "1"
    new_a = browser.eval("a", "document.querySelector('#conn-id').textContent")
    new_b = browser.eval("b", "document.querySelector('#conn-id').textContent")
    assert re.fullmatch(CID, new_a) and new_a != cid_a
    assert re.fullmatch(CID, new_b) and new_b != cid_b
    browser.wait_members("a", ["alice", "bob"])
    browser.wait_members("b", ["alice", "bob"])

    browser.say("a", "back again")
    browser.wait_text("b", "#messages li.msg .text", "back again")
    for p in ("a", "b"):
        # Chromium logs each refused attempt itself; nothing else may appear.
        problems = [m for m in browser.problems(p) if "net::ERR_CONNECTION_REFUSED" not in m]
        assert problems == [], p


@needs_browser
def test_push_to_a_closed_connection_removes_the_member(demo, browser):
    """A member whose connection is gone (its $disconnect never came) is removed when a push
    to it answers 410, and the room is told; the broadcast still reaches everyone else."""
    gw, be = demo
    open_chat(browser, be, "a", "lobby", "alice")
    open_chat(browser, be, "b", "lobby", "bob")
    # The ghost joins through a Lambda-style test event, as `sam local invoke` would send:
    # a well-formed connection id that Portico never issued.
    ghost = "AAAAAAAAAAAAAAA="
    rc = {"routeKey": "join", "eventType": "MESSAGE", "connectionId": ghost, "stage": "dev",
          "requestTimeEpoch": int(time.time() * 1000), "identity": {"sourceIp": "127.0.0.1"}}
    res = be.post_event({"requestContext": rc, "isBase64Encoded": False,
                         "body": json.dumps({"action": "join", "room": "lobby",
                                             "name": "ghost"})})
    assert res["statusCode"] == 200 and json.loads(res["body"])["type"] == "welcome"
    browser.wait_members("a", ["alice", "bob", "ghost"])
    # Nothing was pushed to the ghost yet (its own join is answered, not pushed). Now alice
    # talks: the push to the ghost gets 410 GoneException.
    gone_before = be.stats()["pushes"]["gone"]
    browser.say("a", "is anyone there?")
    browser.wait_text("b", "#messages li.msg .text", "is anyone there?")
    browser.wait_text("a", "#messages li.msg .text", "is anyone there?")
    for p in ("a", "b"):
        browser.wait_text(p, "#messages li.system", "ghost is gone (connection closed)")
        browser.wait_members(p, ["alice", "bob"])
    st = be.stats()
    assert st["pushes"]["gone"] >= gone_before + 1
    assert st["members"] == 2
    assert "410 GoneException: removing the member" in be.output()
    # The removed id stays removed: a late event for it creates nobody.
    res = be.post_event({"requestContext": rc, "isBase64Encoded": False,
                         "body": json.dumps({"action": "join", "room": "lobby"})})
    assert json.loads(res["body"])["code"] == "closed"
    browser.say("b", "still here")
    browser.wait_text("a", "#messages li.msg .text", "still here")
    browser.wait_members("a", ["alice", "bob"])


@needs_browser
def test_routes_of_your_own(gateway_factory, backend_of, backend_factory, browser, tmp_path):
    """docs/quickstart.md's steps 5 and 6: a MOCK route and an AWS_PROXY route added to a
    copy of the demo's config, tried from the page with /ACTION; unknown actions explained."""
    def roll(req):
        ev = req["json"]
        assert ev["requestContext"]["eventType"] == "MESSAGE"
        assert ev["requestContext"]["routeKey"] == "roll"
        text = json.loads(ev["body"])["text"]
        return 200, {}, json.dumps({"statusCode": 200, "body": json.dumps(
            {"type": "notice", "text": f"rolled 4 (1-{text})"})})
    handler = backend_factory(roll)
    gw_dir = tmp_path / "gw"
    gw_dir.mkdir()
    be = backend_of(["--endpoint-port-file", str(gw_dir / "ports.json")])
    cfg = demo_config(be.port)
    api = cfg["apis"][0]
    two_way = {"routeResponseSelectionExpression": "$default",
               "routeResponses": [{"routeResponseKey": "$default"}]}
    api["integrations"] += [
        {"integrationId": "clock", "integrationType": "MOCK",
         "requestTemplates": {"$default": "{\"statusCode\": 200}"},
         "integrationResponses": [{"integrationResponseKey": "$default", "responseTemplates": {
             "$default": '{"type":"notice","text":"server time: $context.requestTime"}'}}]},
        {"integrationId": "roll", "integrationType": "AWS_PROXY",
         "integrationUri": handler.url("/2015-03-31/functions/roll/invocations")}]
    api["routes"] += [dict(routeKey="time", target="integrations/clock", **two_way),
                      dict(routeKey="roll", target="integrations/roll", **two_way)]
    gateway_factory(cfg, subdir="gw")
    open_chat(browser, be, "a", "lobby", "alice")
    browser.say("a", "/time")
    browser.wait("a", "[...document.querySelectorAll('#messages li.system.notice')]"
                      ".some(e => /^server time: \\d\\d\\/\\w{3}\\/\\d{4}:/.test(e.textContent))")
    browser.say("a", "/roll 20")
    browser.wait_text("a", "#messages li.system.notice", "rolled 4 (1-20)")
    browser.say("a", "/dance")
    browser.wait_text("a", "#messages li.system.error",
                      "unknown action; use join, sendmessage, typing, rooms or ping")
    browser.say("a", "/nick al")
    browser.wait("a", "document.querySelector('#members li.me').textContent === 'al'")
    browser.say("a", "/join other")
    browser.wait("a", "document.querySelector('#room-name').textContent === 'other'")
    assert browser.messages("a") == []  # slash commands are not chat messages
    assert browser.problems("a") == []


@needs_browser
def test_page_served_through_portico_on_one_origin(gateway_factory, backend_of, browser,
                                                   tmp_path):
    """configuration.md's "web page on the WebSocket API's origin": an HTTP API proxies the
    page from the backend at the root, the chat's WebSocket API is mapped under /ws; the page
    finds its WebSocket on its own origin and the backend pushes to /ws/@connections."""
    gw_dir = tmp_path / "gw"
    gw_dir.mkdir()
    be = backend_of(["--endpoint-port-file", str(gw_dir / "ports.json"), "--stage", "ws"])
    cfg = demo_config(be.port)
    cfg["server"]["apiMappings"] = [
        {"domainName": "127.0.0.1", "apiMappingKey": "", "apiId": "chatpage01",
         "stage": "$default"},
        {"domainName": "127.0.0.1", "apiMappingKey": "ws", "apiId": "demochat01", "stage": "dev"}]
    cfg["apis"].append({
        "apiId": "chatpage01", "name": "chat-page", "protocolType": "HTTP",
        "integrations": [{"integrationId": "page", "integrationType": "HTTP_PROXY",
                          "integrationMethod": "GET",
                          "integrationUri": f"http://127.0.0.1:{be.port}"}],
        "routes": [{"routeKey": "$default", "target": "integrations/page"}],
        "stages": [{"stageName": "$default"}]})
    check = tmp_path / "check.json"
    check.write_text(json.dumps(cfg))
    rc = subprocess.run([BIN, "--config", str(check), "--test-config"], capture_output=True)
    if rc.returncode != 0:
        pytest.skip("this portico has no HTTP APIs: " + rc.stdout.decode()[-200:] +
                    rc.stderr.decode()[-200:])
    gw = gateway_factory(cfg, subdir="gw")
    origin = f"http://127.0.0.1:{gw.port}"
    with urllib.request.urlopen(origin + "/?room=lobby", timeout=10 * SLOW) as r:
        assert b"<title>Portico chat</title>" in r.read()
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    browser.open("a", origin + "/?room=lobby&name=alice")
    browser.wait_online("a")
    browser.open("b", origin + "/?room=lobby&name=bob")
    browser.wait_online("b")
    for p in ("a", "b"):
        assert browser.eval(p, "document.querySelector('#endpoint').textContent") == \
            f"ws://127.0.0.1:{gw.port}/ws"
    browser.say("a", "same origin")
    browser.wait_text("b", "#messages li.msg .text", "same origin")
    browser.wait_members("a", ["alice", "bob"])
    for p in ("a", "b"):
        assert browser.problems(p) == [], p


@needs_browser
def test_screenshot(demo, browser, tmp_path):
    """A screenshot of two people chatting; PORTICO_UPDATE_SCREENSHOT=1 keeps it in docs/."""
    gw, be = demo
    open_chat(browser, be, "c", "design", "carol")
    browser.say("c", "The mockups are in the design room.")
    browser.wait_text("c", "#messages li.msg .text", "The mockups are in the design room.")
    browser.call("close", page="c")
    open_chat(browser, be, "a", "lobby", "alice")
    open_chat(browser, be, "b", "lobby", "bob")
    browser.say("a", "Hi Bob! This page talks to Portico like it would to API Gateway.")
    browser.wait_text("b", "#messages li.msg .text",
                      "Hi Bob! This page talks to Portico like it would to API Gateway.")
    browser.say("b", "And the backend pushes through @connections, signed with SigV4.")
    browser.say("a", "Open a second window: join and leave notices, typing, history.")
    browser.wait_text("b", "#messages li.msg .text",
                      "Open a second window: join and leave notices, typing, history.")
    browser.call("fill", page="b", selector="#text", value="Nice")
    browser.wait("a", "document.querySelector('#typing').textContent === 'bob is typing…'")
    browser.wait("a", "/ms$/.test(document.querySelector('#rtt').textContent)")
    browser.wait("a", "document.querySelectorAll('#rooms li').length >= 2", timeout=15)
    shot = tmp_path / "demo-chat.png"
    browser.call("screenshot", page="a", path=str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10000
    if os.environ.get("PORTICO_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, ROOT / "docs" / "demo-chat.png")


# ---- the backend alone ---------------------------------------------------------------------------


class FakeConnections:
    """A stand-in for Portico's @connections API: per connection id, a delay and a status."""

    def __init__(self, behaviour):
        self.behaviour = behaviour  # cid -> [(delay seconds, status), ...], one per request
        self.posts = []  # (time, cid, body, headers)
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                m = re.fullmatch(r"/dev/@connections/([A-Za-z0-9_-]{15})%3D", self.path)
                cid = m.group(1) + "=" if m else None
                with fake.lock:
                    fake.active += 1
                    fake.max_active = max(fake.max_active, fake.active)
                    fake.posts.append((time.time(), cid, body, dict(self.headers)))
                with fake.lock:
                    plan = fake.behaviour.get(cid) or []
                    delay, status = plan.pop(0) if len(plan) > 1 else (plan[0] if plan else
                                                                       (0, 200))
                time.sleep(delay)
                with fake.lock:
                    fake.active -= 1
                self.send_response(status if cid else 404)
                if status == 410:
                    self.send_header("x-amzn-ErrorType", "GoneException")
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def event(kind, route, cid, body=None, query=None):
    ev = {"requestContext": {"routeKey": route, "eventType": kind, "connectionId": cid,
                             "stage": "dev", "requestTimeEpoch": int(time.time() * 1000),
                             "identity": {"sourceIp": "127.0.0.1"}},
          "isBase64Encoded": False}
    if body is not None:
        ev["body"] = json.dumps(body)
    if query:
        ev["queryStringParameters"] = query
    return ev


def test_a_slow_push_never_delays_the_others(backend_of):
    """Pushes run concurrently, at most --max-inflight at once; one stuck connection holds one
    slot until its timeout and nobody waits for it; 410 removes; answers never wait for pushes."""
    slow, gone = "SLOWSLOWSLOWSLO=", "GONEGONEGONEGON="
    fast = [f"FAST{i}FASTFASTFA=" for i in range(4)]
    # slow: its first push hangs 3 s (longer than the backend's 1.5 s budget), then it is fine.
    fake = FakeConnections({slow: [(3.0, 200), (0, 200)], gone: [(0, 410)]})
    try:
        be = backend_of(["--endpoint", f"http://127.0.0.1:{fake.port}/dev", "--max-inflight", "3",
                         "--push-timeout-ms", "1500"])
        for cid, name in [(slow, "slow"), (gone, "gone")] + [(c, c[:5]) for c in fast]:
            res = be.post_event(event("MESSAGE", "join", cid, {"action": "join", "name": name}))
            assert json.loads(res["body"])["type"] == "welcome"
        t0 = time.time()
        res = be.post_event(event("MESSAGE", "sendmessage", fast[0],
                                  {"action": "sendmessage", "text": "x"}))
        assert time.time() - t0 < 0.5 * SLOW  # the event is answered before any push
        assert res == {"statusCode": 200}

        def message_posts():
            return {cid: t for t, cid, body, _ in list(fake.posts) if b'"type":"message"' in body}

        deadline = time.time() + 10 * SLOW
        while not set(fast) <= set(message_posts()) and time.time() < deadline:
            time.sleep(0.02)
        got = message_posts()
        assert set(fast) <= set(got), got
        # Every fast member had it long before the stuck push's 1.5 s timeout.
        assert max(got[c] for c in fast) - t0 < 1.0 * SLOW
        assert slow not in got  # still stuck behind its first push
        st = be.stats()
        assert st["pushes"]["gone"] == 1
        assert st["members"] == 5  # gone was removed at its first 410; slow stays

        # The stuck push times out (a failure, not a removal); the slow member's queue moves on.
        deadline = time.time() + 10 * SLOW
        while slow not in message_posts() and time.time() < deadline:
            time.sleep(0.05)
        assert slow in message_posts()
        st = be.stats()
        assert st["pushes"]["failed"] >= 1
        assert st["members"] == 5
        assert fake.max_active <= 3

        # Every push is a SigV4-signed POST of the payload, as the AWS SDKs send it.
        _, cid, body, hdr = fake.posts[0]
        akid, _, region = demo_credentials()
        assert re.fullmatch(
            rf"AWS4-HMAC-SHA256 Credential={akid}/\d{{8}}/{region}/execute-api/aws4_request, "
            r"SignedHeaders=host;x-amz-date, Signature=[0-9a-f]{64}", hdr["Authorization"])
        assert re.fullmatch(r"\d{8}T\d{6}Z", hdr["X-Amz-Date"])
        assert hdr["Host"] == f"127.0.0.1:{fake.port}"
        json.loads(body)
    finally:
        fake.close()


def test_backend_http_surface(backend_of, tmp_path):
    """What the backend answers besides events: the page with a strict CSP, config.json,
    health; Lambda test events; malformed requests."""
    be = backend_of(["--endpoint", "http://127.0.0.1:9/dev", "--ws-url", "ws://chat.test/dev"])
    status, hdr, body = be.get("/")
    assert status == 200 and b"<title>Portico chat</title>" in body
    assert hdr["Content-Type"] == "text/html; charset=utf-8"
    csp = hdr["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert b"<script>" not in body and b"style=" not in body
    assert not re.search(rb"\son[a-z]+=", body)  # no inline handlers
    for path, ctype in [("/app.js", "text/javascript"), ("/style.css", "text/css"),
                        ("/favicon.svg", "image/svg+xml")]:
        status, hdr, _ = be.get(path)
        assert status == 200 and hdr["Content-Type"].startswith(ctype), path
    assert json.loads(be.get("/config.json")[2]) == {"stage": "dev", "wsPort": 9,
                                                      "wsUrl": "ws://chat.test/dev"}
    assert json.loads(be.get("/health")[2]) == {"status": "ok"}
    for path in ("/nope", "/../portico.json", "/index.html/"):
        with pytest.raises(urllib.error.HTTPError) as e:
            be.get(path)
        assert e.value.code == 404, path

    # $connect refuses a malformed room with 400 (the client's upgrade gets that status).
    res = be.post_event(event("CONNECT", "$connect", "AAAAAAAAAAAAAAA=",
                              query={"room": "not a room"}))
    assert res["statusCode"] == 400
    assert be.post_event(event("CONNECT", "$connect", "AAAAAAAAAAAAAAA=",
                               query={"room": "ok", "name": "al"})) == {"statusCode": 200}
    res = be.post_event(event("MESSAGE", "$default", "AAAAAAAAAAAAAAA=", {"action": "dance"}))
    assert json.loads(res["body"])["code"] == "unknown_action"
    res = be.post_event(event("MESSAGE", "join", "AAAAAAAAAAAAAAA=", {"action": "join"}))
    welcome = json.loads(res["body"])
    assert (welcome["room"], welcome["name"]) == ("ok", "al")  # from the $connect query

    # Not events, not HTTP: refused, and the server lives on.
    req = urllib.request.Request(be.url("/events"), data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(be.url("/events")), timeout=10)
    assert e.value.code == 405
    with socket.create_connection(("127.0.0.1", be.port), timeout=10) as s:
        s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 411")
    with socket.create_connection(("127.0.0.1", be.port), timeout=10) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    # Keep-alive and pipelining: two requests in one write, two answers in order.
    with socket.create_connection(("127.0.0.1", be.port), timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 404" in data
    assert be.get("/health")[0] == 200


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_make_demo_script(tmp_path, sig):
    """scripts/demo.sh (what `make demo` runs) on ports 0: prints the URL, both processes
    work together, and a signal (Ctrl-C is SIGINT) stops both cleanly."""
    env = dict(os.environ, PORT="0", CHAT_PORT="0", ADMIN_PORT="0", DEMO_NO_BUILD="1",
               BUILD=str(pathlib.Path(BIN).parent), DEMO_DIR=str(tmp_path / "demo"))
    out = open(tmp_path / "demo.out", "wb")
    # Its own process group, as a terminal gives it: Ctrl-C signals the whole group. SIGINT is
    # reset to its default as in a terminal, whatever the test runner inherited.
    proc = subprocess.Popen(["sh", str(ROOT / "scripts" / "demo.sh")], stdout=out,
                            stderr=subprocess.STDOUT, env=env, cwd=str(ROOT),
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url = None
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline and proc.poll() is None:
            m = re.search(r"http://127\.0\.0\.1:(\d+)/\?room=lobby",
                          (tmp_path / "demo.out").read_text())
            if m:
                url = m.group(0)
                break
            time.sleep(0.05)
        text = (tmp_path / "demo.out").read_text()
        assert url, text
        chat_port = int(re.search(r":(\d+)/", url).group(1))
        ports = json.loads((tmp_path / "demo" / "portico.port").read_text())
        assert f"ws://127.0.0.1:{ports['listen']}/dev" in text
        with urllib.request.urlopen(url, timeout=10) as r:
            assert b"Portico chat" in r.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{chat_port}/config.json", timeout=10) as r:
            assert json.loads(r.read())["wsPort"] == ports["listen"]

        async def talk():
            ws = await connect(f"ws://127.0.0.1:{ports['listen']}/dev?room=lobby&name=t")
            await ws.send('{"action":"join"}')
            assert json.loads(await recv(ws))["type"] == "welcome"
            await ws.send('{"action":"sendmessage","text":"through make demo"}')
            assert json.loads(await recv(ws))["text"] == "through make demo"
            await ws.send('{"action":"ping","t":1}')
            assert json.loads(await recv(ws))["type"] == "pong"
            await ws.close()
        asyncio.run(talk())

        if sig == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        else:
            proc.send_signal(sig)  # kill PID
        assert proc.wait(timeout=20 * SLOW) == 0
        for port in (ports["listen"], ports["admin"], chat_port):
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
        logs = (tmp_path / "demo" / "portico.log").read_text() + \
            (tmp_path / "demo" / "chat-backend.log").read_text()
        assert "portico stopped" in logs and "chat-backend: info: signal" in logs
        for mark in SANITIZER_MARKS:
            assert mark not in logs, logs
    finally:
        if proc.poll() is None:  # the test failed half-way: stop the whole group
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        out.close()
