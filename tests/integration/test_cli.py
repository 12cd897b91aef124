"""The one-shot CLI against real HAProxy, run as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from console.haproxy.parsers import parse_stat
from console.haproxy.transport import RuntimeClient

pytestmark = pytest.mark.haproxy


def haconsole(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


async def test_show_stat_json_has_every_row(instance) -> None:
    out = haconsole("-s", instance.admin, "show", "stat", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    direct = parse_stat(await RuntimeClient(instance.admin).run("show stat"))
    assert {(r["proxy"], r["name"]) for r in rows} == {(d["pxname"], d["svname"])
                                                        for d in direct}
    types = {r["type"] for r in rows}
    assert {"frontend", "backend", "server"} <= types
    app1 = next(r for r in rows if r["name"] == "app1")
    assert app1["proxy"] == "be_app" and app1["status"]
    assert "scur" in app1 and "check_status" in app1 and "weight" in app1
    app3 = next(r for r in rows if r["name"] == "app3")
    assert app3["status"] == "MAINT"


def test_show_stat_table(instance) -> None:
    out = haconsole("-s", instance.admin, "show", "stat")
    assert out.returncode == 0, out.stderr
    assert "be_app" in out.stdout and "app2" in out.stdout and "MAINT" in out.stdout


def test_show_info(instance, haproxy_binary) -> None:
    out = haconsole("-s", instance.admin, "show", "info", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["Version"] == haproxy_binary.version
    table = haconsole("-s", instance.tcp, "show", "info")
    assert table.returncode == 0 and "Version" in table.stdout


def test_show_servers(instance) -> None:
    out = haconsole("-s", instance.admin, "show", "servers", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {r["srv_name"] for r in rows} >= {"app1", "app2", "app3", "other1"}


def test_show_proc_with_discovered_master(instance) -> None:
    # Only the stats socket is given: the master socket comes from /proc/PID/cmdline.
    out = haconsole("-s", instance.admin, "show", "proc", "--json")
    assert out.returncode == 0, out.stderr
    procs = json.loads(out.stdout)
    assert [p["role"] for p in procs].count("master") == 1
    assert any(p["role"] == "worker" for p in procs)


def test_show_stat_from_stats_page(instance) -> None:
    out = haconsole("--url", instance.stats_url, "show", "stat", "--json")
    assert out.returncode == 0, out.stderr
    assert any(r["name"] == "app1" for r in json.loads(out.stdout))


def test_missing_socket_one_line() -> None:
    out = haconsole("-s", "/nonexistent", "show", "info")
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "/nonexistent" in lines[0] and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_show_proc_without_master_is_clear(tmp_path) -> None:
    out = haconsole("-s", "/nonexistent", "show", "proc")
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1


def test_bad_settings_file_names_the_line(tmp_path) -> None:
    p = tmp_path / "s.toml"
    p.write_text("[ui]\ninterval = \"fast\"\n")
    out = haconsole("--settings", str(p), "-s", "/nonexistent", "show", "info")
    assert out.returncode != 0
    assert f"{p}:2" in out.stderr and "Traceback" not in out.stderr


def test_instance_from_settings(instance, tmp_path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(f'default_instance = "t"\n[instances.t]\nsocket = "{instance.admin}"\n')
    out = haconsole("--settings", str(p), "show", "stat", "--json")
    assert out.returncode == 0, out.stderr
    out = haconsole("--settings", str(p), "-i", "nope", "show", "info")
    assert out.returncode != 0 and "no instance named 'nope'" in out.stderr


def test_nothing_configured_explains() -> None:
    out = haconsole(env={"HACONSOLE_SETTINGS": "/nonexistent/settings.toml"})
    assert out.returncode != 0
    assert "make lab" in out.stderr and "-s" in out.stderr
