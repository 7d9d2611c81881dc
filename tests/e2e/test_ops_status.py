"""test_ops_status.py: the live status page in headless Chromium: live count, routes, errors, CSP.

The browser is Debian's /usr/bin/chromium driven by playwright-core through
tests/e2e/node/browser.mjs (JSON lines on stdin/stdout), with a fresh profile.
Set PORTICO_UPDATE_SCREENSHOT=1 to write docs/status-page.png (after a longer, livelier run).
"""
import asyncio
import json
import os
import pathlib
import select
import shutil
import subprocess
import time

import pytest

from conftest import ROOT, SLOW
from test_messages import add_route, mock
from test_ops_admin import TOKEN, echo_config
from wsutil import connect, recv, run

NODE_DRIVER = str(ROOT / "tests" / "e2e" / "node" / "browser.mjs")
CHROMIUM = "/usr/bin/chromium"
UPDATE = os.environ.get("PORTICO_UPDATE_SCREENSHOT") == "1"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and shutil.which("node") and os.path.exists(NODE_DRIVER) and
         (ROOT / "tests" / "node_modules" / "playwright-core").is_dir()),
    reason="needs chromium, node and playwright-core (scripts/deps.sh test)")


class Browser:
    """One request per line to browser.mjs, one answer per line back."""

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
            self.err.flush()
            raise AssertionError("browser driver exited:\n" +
                                 pathlib.Path(self.err.name).read_text(errors="replace"))
        res = json.loads(line)
        if not res["ok"]:
            raise AssertionError(f"{op} {kw}: {res['error']}")
        return res["value"]

    def eval(self, page, js):
        return self.call("eval", page=page, js=js)

    def wait(self, page, js, timeout=10):
        return self.call("wait", page=page, js=js, timeout=int(timeout * SLOW * 1000))

    def text(self, page, sel):
        return self.eval(page, f"document.querySelector({json.dumps(sel)}).textContent")

    def rows(self, page, tbody):
        return self.eval(page, f"[...document.querySelectorAll('#{tbody} tr:not(.empty)')]"
                               ".map(r => [...r.cells].map(c => c.textContent))")

    def quit(self):
        try:
            self.call("quit", timeout=10)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    yield b
    b.quit()


def status_config(be):
    cfg = echo_config()
    add_route(cfg, "slow", {"integrationId": "slow-backend", "integrationType": "HTTP_PROXY",
                            "integrationUri": be.url("/slow")})
    add_route(cfg, "fail", {"integrationId": "flaky-backend", "integrationType": "HTTP_PROXY",
                            "integrationUri": be.url("/fail")})
    add_route(cfg, "sendmessage", mock("send", '{"ok":true}'))
    return cfg


def slow_backend(req):
    if req["path"] == "/fail":
        return 502, {}, "bad gateway"
    time.sleep(0.04 if req["json"] and req["json"].get("n", 0) % 5 else 0.12)
    return 200, {}, "done"


def count_is(n):
    return f"document.querySelector('#conn-count').textContent === '{n}'"


def test_status_page_shows_live_counts(gateway_factory, backend_factory, browser, tmp_path):
    be = backend_factory(slow_backend)
    gw = gateway_factory(status_config(be))
    page_url = f"http://127.0.0.1:{gw.admin_port}/"
    browser.call("open", page="s", url=page_url)
    browser.wait("s", "document.querySelector('#live').dataset.state === 'live'")
    browser.wait("s", count_is(0))
    assert browser.text("s", "#meta").startswith("v0.")

    async def go():
        clients = []
        # The count rises live as clients connect.
        for target in (3, 5):
            while len(clients) < target:
                clients.append(await connect(gw.url()))
            await asyncio.to_thread(browser.wait, "s", count_is(target))
        # Traffic on three routes, a few errors, slow integrations.
        rounds = 12 if UPDATE else 1
        for r in range(rounds):
            for i, ws in enumerate(clients):
                await ws.send(json.dumps({"action": "sendmessage", "n": i}))
                await recv(ws)
                await ws.send(json.dumps({"action": "echo", "n": i}))
                await recv(ws)
            for i in range(5):
                await clients[i].send(json.dumps({"action": "slow", "n": i + r}))
            for i in range(5):
                await recv(clients[i])
            await clients[0].send('{"action":"nope"}')  # no route: a client error
            await recv(clients[0])
            await clients[1].send('{"action":"fail"}')  # backend 502: an integration error
            await recv(clients[1])
            if UPDATE:
                clients.append(await connect(gw.url()))
                await asyncio.sleep(2)
        await asyncio.to_thread(check_page, len(clients), rounds)
        for ws in clients[:2]:
            await ws.close()
        await asyncio.to_thread(browser.wait, "s", count_is(len(clients) - 2))
        for ws in clients[2:]:
            await ws.close()

    def check_page(n, rounds):
        browser.wait("s", count_is(n))
        browser.wait("s", "[...document.querySelectorAll('#routes tr')].some("
                          "r => r.cells[2] && r.cells[2].textContent === 'slow')")
        browser.wait("s", "document.querySelectorAll('#slowest tr:not(.empty)').length >= 2")
        browser.wait("s", "!document.querySelector('#err-client').textContent.endsWith('(0)')")
        routes = {r[2]: r for r in browser.rows("s", "routes")}
        assert {"echo", "sendmessage", "slow", "(no route)", "fail"} <= set(routes)
        assert routes["echo"][0] == "abcdef1234" and routes["echo"][1] == "dev"
        assert int(routes["slow"][5]) == rounds * 5
        slowest = browser.rows("s", "slowest")
        assert slowest[0][2] == "slow" and slowest[0][3] == "slow-backend"
        assert float(slowest[0][6]) >= 40  # p95 of a 40-120 ms backend
        browser.wait("s", f"document.querySelector('#err-integration').textContent"
                          f".endsWith('({rounds})')")
        # The chart has a line with one point per second sampled.
        d = browser.eval("s", "document.querySelector('#chart path.line').getAttribute('d')")
        assert d.startswith("M") and d.count("L") >= 1
        # No console error, no script error, no CSP violation, nothing from elsewhere.
        assert browser.call("problems", page="s") == []
        resources = browser.eval("s", "performance.getEntriesByType('resource')"
                                      ".map(e => e.name)")
        assert resources and all(r.startswith(page_url) for r in resources), resources
        shot = tmp_path / "status-page.png"
        browser.call("screenshot", page="s", path=str(shot))
        assert shot.stat().st_size > 10000
        if UPDATE:
            shutil.copy(shot, ROOT / "docs" / "status-page.png")

    run(go())


def test_status_page_with_a_token(gateway_factory, browser):
    gw = gateway_factory(echo_config(adminToken=TOKEN))
    base = f"http://127.0.0.1:{gw.admin_port}"
    browser.call("open", page="t", url=base + "/?token=" + TOKEN)
    # Redirected to "/" (the token is not left in the address bar), fed through the cookie.
    browser.wait("t", "document.querySelector('#live').dataset.state === 'live'")
    assert browser.eval("t", "location.href") == base + "/"
    assert browser.eval("t", "document.cookie") == ""  # HttpOnly

    async def go():
        ws = await connect(gw.url())
        await asyncio.to_thread(browser.wait, "t", count_is(1))
        await ws.close()
    run(go())
    assert browser.call("problems", page="t") == []
