"""test_ops_cli.py: `portico connections` against the admin API and, read-only, the LMDB file."""
import json
import os
import re
import signal
import subprocess

from conftest import BIN, SLOW
from opsutil import admin, await_until, scrape, value
from test_ops_admin import TOKEN, echo_config
from wsutil import connect, run, wait_closed

ID = r"[A-Za-z0-9_-]{15}="


def cli(*args, env=None):
    e = dict(os.environ)
    e.pop("PORTICO_ADMIN", None)
    e.pop("PORTICO_ADMIN_TOKEN", None)
    e.update(env or {})
    return subprocess.run([BIN, "connections", *args], capture_output=True, text=True,
                          timeout=30 * SLOW, env=e)


def table(out):
    """Rows of the default table as dicts keyed by the header's columns."""
    lines = out.rstrip("\n").split("\n")
    head = lines[0]
    assert head.startswith("CONNECTION ID")
    starts = [m.start() for m in re.finditer(r"(?<=  )\S|^\S", head)]
    names = [head[s:e].strip() for s, e in zip(starts, starts[1:] + [None])]
    rows = []
    for ln in lines[1:]:
        rows.append({n: ln[s:e].strip() for n, s, e in zip(names, starts, starts[1:] + [None])})
    return rows


def test_cli_matches_the_admin_api_the_registry_and_the_metrics(gateway_factory):
    gw = gateway_factory(echo_config())
    url = f"http://127.0.0.1:{gw.admin_port}"
    data = str(gw.data_dir)

    async def go():
        dev = [await connect(gw.url("dev")) for _ in range(3)]
        prod = await connect(gw.url("prod"), extra_headers={"User-Agent": "cli-test/1"})
        # The same count everywhere: the clients, the metric, the admin API, the LMDB file.
        fams, _ = scrape(gw)
        gauge = sum(value(fams, "portico_connections", api_id="abcdef1234", stage=s)
                    for s in ("dev", "prod"))
        assert gauge == 4
        for src in (["--admin", url], ["--data-dir", data]):
            r = cli("count", *src)
            assert (r.returncode, r.stdout, r.stderr) == (0, "4\n", ""), r
            r = cli("count", "--stage", "prod", "--json", *src)
            assert json.loads(r.stdout) == {"count": 1}
            r = cli("count", "--api", "nope", *src)
            assert r.stdout == "0\n"
        # list: a table by default, JSON for scripts; both sources agree with the API.
        api_items = admin(gw, "/connections")[2]["items"]
        ids = sorted(i["connectionId"] for i in api_items)
        for src in (["--admin", url], ["--data-dir", data]):
            r = cli("list", *src)
            assert r.returncode == 0, r.stderr
            rows = table(r.stdout)
            assert sorted(row["CONNECTION ID"] for row in rows) == ids
            assert {row["STAGE"] for row in rows} == {"dev", "prod"}
            assert all(re.fullmatch(r"\d+s", row["AGE"]) for row in rows)
            assert any(row["USER AGENT"] == "cli-test/1" for row in rows)
            items = json.loads(cli("list", "--json", *src).stdout)
            assert sorted(i["connectionId"] for i in items) == ids
            assert {i["connectionId"]: i["stage"] for i in items} == \
                {i["connectionId"]: i["stage"] for i in api_items}
            assert len(json.loads(cli("list", "--json", "--limit", "2", *src).stdout)) == 2
            assert len(json.loads(cli("list", "--json", "--stage", "dev", *src).stdout)) == 3
        # get
        one = next(i for i in api_items if i["stage"] == "prod")
        for src in (["--admin", url], ["--data-dir", data]):
            r = cli("get", one["connectionId"], *src)
            assert r.returncode == 0
            assert f"connectionId   {one['connectionId']}\n" in r.stdout
            assert "userAgent      cli-test/1\n" in r.stdout
            got = json.loads(cli("get", one["connectionId"], "--json", *src).stdout)
            assert got["stage"] == "prod" and got["sourceIp"] == "127.0.0.1"
            r = cli("get", "AAAAAAAAAAAAAAA=", *src)
            assert r.returncode == 3 and "no such connection" in r.stderr
        # kick, through the admin port written in DATA_DIR/admin.json
        r = cli("kick", one["connectionId"], "--data-dir", data)
        assert (r.returncode, r.stdout) == (0, f"closed {one['connectionId']}\n"), r.stderr
        assert await wait_closed(prod) == (1000, "Connection Closed Normally")
        await await_until(lambda: cli("count", "--data-dir", data).stdout == "3\n")
        r = cli("kick", one["connectionId"], "--admin", url, "--json")
        assert r.returncode == 3
        victim = next(i for i in api_items if i["stage"] == "dev")["connectionId"]
        r = cli("kick", victim, "--admin", url, "--json")
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr, gw.output())
        assert json.loads(r.stdout) == {"connectionId": victim, "closed": True}
        await await_until(lambda: cli("count", "--admin", url).stdout == "2\n")
        assert value(scrape(gw)[0], "portico_connections", api_id="abcdef1234", stage="dev") == 2
        for ws in dev:
            await ws.close()
    run(go())


def test_cli_token_and_config(gateway_factory, tmp_path):
    gw = gateway_factory(echo_config(adminToken=TOKEN))
    url = f"http://127.0.0.1:{gw.admin_port}"
    r = cli("count", "--admin", url)
    assert r.returncode == 1 and "refused the token" in r.stderr
    assert cli("count", "--admin", url, "--token", TOKEN).stdout == "0\n"
    assert cli("count", "--admin", url, env={"PORTICO_ADMIN_TOKEN": TOKEN}).stdout == "0\n"
    assert cli("count", env={"PORTICO_ADMIN": url, "PORTICO_ADMIN_TOKEN": TOKEN}).stdout == "0\n"
    # --config: adminListen's port is 0 here, so the registry of its dataDir is read, and
    # kick finds the port in dataDir/admin.json and the token in the config.
    cfg = echo_config(adminToken=TOKEN, dataDir=str(gw.data_dir))
    path = tmp_path / "cli.json"
    path.write_text(json.dumps(cfg))

    async def go():
        ws = await connect(gw.url())
        r = cli("list", "--config", str(path), "--json")
        assert r.returncode == 0, r.stderr
        (item,) = json.loads(r.stdout)
        r = cli("kick", item["connectionId"], "--config", str(path))
        assert r.returncode == 0, r.stderr
        assert (await wait_closed(ws))[0] == 1000
    run(go())


def test_cli_usage_and_runtime_errors(tmp_path):
    for args in ([], ["frob"], ["get"], ["kick"], ["count", "--min-age", "x"],
                 ["list", "--limit", "0"], ["count", "extra"], ["count", "--admin", "ftp://x"]):
        r = cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "usage" in r.stderr or "portico:" in r.stderr
    assert cli("--help").returncode == 0 and "kick ID" in cli("--help").stdout
    r = cli("count", "--admin", "http://127.0.0.1:1")
    assert r.returncode == 1 and "cannot reach the admin port" in r.stderr
    r = cli("count", "--data-dir", str(tmp_path / "nothing"))
    assert r.returncode == 1 and "no registry" in r.stderr
    r = cli("kick", "AAAAAAAAAAAAAAA=", "--data-dir", str(tmp_path))
    assert r.returncode == 1 and "admin.json" in r.stderr


def test_ids_that_begin_with_a_dash(gateway_factory):
    """Ids are base64url: "-WyT6XiCAAEVk38=" is an id, not an option (a flake found it)."""
    gw = gateway_factory(echo_config())
    url = f"http://127.0.0.1:{gw.admin_port}"
    for args in (["get", "-WyT6XiCAAEVk38=", "--admin", url],
                 ["--admin", url, "kick", "-WyT6XiCAAEVk38="],
                 ["kick", "--admin", url, "--", "-WyT6XiCAAEVk38="],
                 ["get", "-WyT6XiCAAEVk38=", "--data-dir", str(gw.data_dir), "--json"]):
        r = cli(*args)
        assert r.returncode == 3 and "no such connection: -WyT6XiCAAEVk38=" in r.stderr, (args, r)

    async def go():
        # New ids never begin with '-' (one in 64 did; awscli took it for an option): the CLI
        # still reads such ids, as above, for registries written by earlier versions.
        clients = [await connect(gw.url()) for _ in range(200)]
        ids = [i["connectionId"] for i in admin(gw, "/connections?limit=1000")[2]["items"]]
        assert len(ids) == 200
        assert not [i for i in ids if i.startswith("-")]
        for ws in clients:
            await ws.close()
    run(go())


def test_registry_read_after_a_crash(gateway_factory):
    gw = gateway_factory(echo_config())

    async def go():
        clients = [await connect(gw.url()) for _ in range(2)]
        gw.proc.send_signal(signal.SIGKILL)
        gw.proc.wait()
        for ws in clients:
            ws.transport.abort()
    run(go())
    r = cli("count", "--data-dir", str(gw.data_dir))
    assert r.stdout == "2\n"
    assert "no gateway is running" in r.stderr
    gw.log.close()
