"""test_cli.py: the portico command line: help, version, config checks, port file, exit codes."""
import json
import subprocess

from conftest import BIN, ROOT, minimal_config


def valid_config():
    cfg = minimal_config()
    api = cfg["apis"][0]
    api["integrations"].append({"integrationId": "m", "integrationType": "MOCK"})
    api["routes"].append({"routeKey": "$default", "target": "integrations/m"})
    return cfg


def run(*args, **kw):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30, **kw)


def test_help_lists_every_option():
    r = run("--help")
    assert r.returncode == 0
    for opt in ("--config", "--listen", "--admin-listen", "--data-dir", "--workers",
                "--port-file", "--test-config", "--help", "--version"):
        assert opt in r.stdout


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("portico ")


def test_missing_config_is_a_usage_error():
    r = run()
    assert r.returncode == 2
    assert "--config" in r.stderr


def test_unknown_option_is_a_usage_error():
    r = run("--bogus")
    assert r.returncode == 2


def test_test_config_accepts_the_example():
    r = run("--config", str(ROOT / "examples" / "echo.json"), "--test-config")
    assert r.returncode == 0, r.stderr
    assert "successful" in r.stdout


def test_test_config_names_file_line_and_key(tmp_path):
    cfg = valid_config()
    cfg["apis"][0]["integrations"] = [{"integrationId": "i1", "integrationType": "MOCK",
                                       "timeoutInMillis": 10}]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg, indent=2))
    r = run("--config", str(p), "--test-config")
    assert r.returncode == 2
    line = next(i + 1 for i, ln in enumerate(p.read_text().splitlines()) if "timeoutInMillis" in ln)
    assert f"bad.json:{line}:" in r.stderr
    assert "timeoutInMillis" in r.stderr


def test_unknown_key_is_an_error(tmp_path):
    cfg = valid_config()
    cfg["server"]["lisen"] = "127.0.0.1:0"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(cfg, indent=2))
    r = run("--config", str(p), "--test-config")
    assert r.returncode == 2
    assert "lisen" in r.stderr


def test_bad_listen_override(tmp_path):
    p = tmp_path / "ok.json"
    p.write_text(json.dumps(valid_config()))
    r = run("--config", str(p), "--listen", "nonsense", "--test-config")
    assert r.returncode == 2
    assert "--listen" in r.stderr


def test_port_file_and_overrides(gateway_factory, tmp_path):
    gw = gateway_factory(valid_config(), args=["--workers", "3", "--listen", "127.0.0.1:0"])
    ports = json.loads((gw.tmp / "ports.json").read_text())
    assert set(ports) == {"listen", "admin"}
    assert ports["listen"] > 0 and ports["admin"] > 0 and ports["listen"] != ports["admin"]
    assert "3 workers" in gw.output()


def test_sigterm_exits_zero(gateway_factory):
    gw = gateway_factory(valid_config())
    assert gw.stop() == 0


def test_bind_failure_is_a_runtime_error(gateway_factory, tmp_path):
    gw = gateway_factory(valid_config())
    p = tmp_path / "clash.json"
    p.write_text(json.dumps(valid_config()))
    # The admin port is not SO_REUSEPORT: a second process cannot take it.
    r = run("--config", str(p), "--admin-listen", f"127.0.0.1:{gw.admin_port}",
            "--data-dir", str(tmp_path / "d2"))
    assert r.returncode == 1
    assert "cannot listen" in r.stderr


def test_one_gateway_per_data_directory(gateway_factory, tmp_path):
    gw = gateway_factory(valid_config())
    p = tmp_path / "second.json"
    p.write_text(json.dumps(valid_config()))
    # A second gateway on the same data directory would sweep the first one's connections.
    r = run("--config", str(p), "--data-dir", str(gw.data_dir))
    assert r.returncode == 1
    assert f"in use by another portico (pid {gw.proc.pid})" in r.stderr
