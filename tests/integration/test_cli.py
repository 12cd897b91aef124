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


# --------------------------------------------------------------------------- typed JSON

def _number_fields(row: dict[str, str], text: frozenset[str]) -> dict[str, str]:
    return {k: v for k, v in row.items() if k not in text and v not in ("", "-")}


async def test_show_stat_json_is_typed(instance) -> None:
    from console.haproxy.model import STAT_TEXT_FIELDS

    out = haconsole("-s", instance.admin, "show", "stat", "--json")
    assert out.returncode == 0, out.stderr
    rows = {(r["proxy"], r["name"]): r for r in json.loads(out.stdout)}
    app1 = rows["be_app", "app1"]
    assert app1["weight"] == 10 and type(app1["weight"]) is int
    assert type(app1["scur"]) is int and type(app1["stot"]) is int
    assert app1["type"] == "server" and isinstance(app1["status"], str)
    assert isinstance(app1["addr"], str) and app1["addr"].startswith("127.0.0.1:")
    direct = parse_stat(await RuntimeClient(instance.admin).run("show stat"))
    for d in direct:
        row = rows[d["pxname"], d["svname"]]
        for k, v in d.items():
            if k in ("pxname", "svname", "type", "status"):
                continue
            if v in ("", "-"):
                assert row[k] is None, (k, v)
            elif k in STAT_TEXT_FIELDS:
                assert row[k] == v, (k, v)
        for k, v in _number_fields(d, STAT_TEXT_FIELDS | {"pxname", "svname", "type",
                                                           "status"}).items():
            # a later sample: the values may have moved, their types not
            assert type(row[k]) is (float if "." in v else int), (k, v, row[k])


def test_show_info_servers_proc_json_are_typed(instance, haproxy_binary) -> None:
    info = json.loads(haconsole("-s", instance.admin, "show", "info", "--json").stdout)
    assert info["Version"] == haproxy_binary.version and isinstance(info["Name"], str)
    assert type(info["Pid"]) is int and type(info["Uptime_sec"]) is int
    assert type(info["CurrConns"]) is int and isinstance(info["Uptime"], str)
    assert isinstance(info["Tainted"], str)  # "0x0": text, as HAProxy types it
    servers = json.loads(haconsole("-s", instance.admin, "show", "servers", "--json").stdout)
    app1 = next(s for s in servers if s["srv_name"] == "app1")
    assert app1["be_name"] == "be_app" and app1["srv_addr"] == "127.0.0.1"
    assert type(app1["srv_uweight"]) is int and app1["srv_iweight"] == 10
    assert type(app1["srv_port"]) is int and type(app1["srv_admin_state"]) is int
    assert app1["srv_fqdn"] is None  # "-"
    procs = json.loads(haconsole("-s", instance.admin, "show", "proc", "--json").stdout)
    worker = next(p for p in procs if p["role"] == "worker")
    assert type(worker["pid"]) is int and type(worker["reloads"]) is int
    assert isinstance(worker["version"], str) and type(worker["uptime_seconds"]) is int


# --------------------------------------------------------------------------- --filter

def test_filter_stat_and_servers(instance) -> None:
    out = haconsole("-s", instance.admin, "show", "stat", "--json", "--filter", "APP")
    assert out.returncode == 0, out.stderr
    rows = {(r["proxy"], r["name"]) for r in json.loads(out.stdout)}
    assert ("be_app", "app1") in rows and ("be_app", "BACKEND") in rows
    assert not {k for k in rows if "app" not in f"{k[0]}/{k[1]}".lower()}
    out = haconsole("-s", instance.admin, "show", "stat", "--json", "--filter", "^app[12]$")
    assert {(r["proxy"], r["name"]) for r in json.loads(out.stdout)} == {
        ("be_app", "app1"), ("be_app", "app2")}
    out = haconsole("-s", instance.admin, "show", "stat", "--filter", "be_other/")
    assert out.returncode == 0, out.stderr
    assert "other1" in out.stdout and "app1" not in out.stdout
    out = haconsole("-s", instance.admin, "show", "servers", "--json", "--filter", "other")
    assert [s["srv_name"] for s in json.loads(out.stdout)] == ["other1"]
    out = haconsole("-s", instance.admin, "show", "servers", "--filter", "nothing-like-it")
    assert out.returncode == 0 and "app1" not in out.stdout


# --------------------------------------------------------------------------- --delta

def test_delta_gives_rates_and_the_second_state(instance) -> None:
    import time
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "console", "-s", instance.admin, "show",
                             "stat", "--json", "--delta", "1.5", "--filter", "^stats$"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = 0
    started = time.monotonic()
    while proc.poll() is None and time.monotonic() - started < 60:
        with urllib.request.urlopen(instance.stats_url + ";csv", timeout=5) as answer:
            answer.read()
        sent += 1
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert time.monotonic() - started >= 1.5
    rows = {r["name"]: r for r in json.loads(stdout)}
    assert set(rows) == {"FRONTEND", "BACKEND"}
    fe = rows["FRONTEND"]
    assert isinstance(fe["req_tot"], float) and isinstance(fe["stot"], float)
    assert 0 < fe["req_tot"] * 1.5 <= sent + 1, (fe["req_tot"], sent)
    assert fe["hrsp_5xx"] == 0.0
    assert type(fe["scur"]) is int and fe["status"] == "OPEN"  # state: the second sample
    assert type(fe["smax"]) is int and type(fe["iid"]) is int


def test_delta_table(instance) -> None:
    out = haconsole("-s", instance.admin, "show", "stat", "--delta", "0.1")
    assert out.returncode == 0, out.stderr
    assert "sess/s" in out.stdout and "app1" in out.stdout


@pytest.mark.parametrize("args,message", [
    (["stat", "--delta", "abc"], "--delta='abc' is not a number"),
    (["stat", "--delta", "0"], "--delta must be between 0.1 and 3600"),
    (["stat", "--delta", "3601"], "--delta must be between 0.1 and 3600"),
    (["stat", "--delta", "\u0663"], "is not a number"),
    (["stat", "--delta", "nan"], "is not a number"),
    (["info", "--delta", "1"], "--delta applies to 'show stat' only"),
    (["proc", "--filter", "x"], "--filter applies to 'show stat' and 'show servers' only"),
    (["servers", "--filter", " "], "--filter needs a text"),
])
def test_show_flags_are_checked(args: list[str], message: str) -> None:
    out = haconsole("-s", "/nonexistent", "show", *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and out.stdout == ""


async def test_show_stat_since_the_mark_the_console_keeps(instance) -> None:
    """`show stat --since-mark`: the counters as Δ since the incident mark set in the
    console (kept in the state directory), without jq diffs."""
    import urllib.request

    from console.haproxy import marks
    from console.haproxy.counters import Mark
    from console.haproxy.model import ProcessInfo, Snapshot
    from console.haproxy.parsers import parse_info

    client = RuntimeClient(instance.admin)
    name = os.path.basename(os.path.dirname(instance.admin))  # what -s SOCKET is named
    missing = haconsole("-s", instance.admin, "show", "stat", "--since-mark")
    assert missing.returncode != 0 and "no incident mark is kept for" in missing.stderr
    snap = Snapshot.from_rows(parse_stat(await client.run("show stat")),
                              ProcessInfo.from_info(parse_info(await client.run("show info"))))
    marks.save(name, Mark.now(snap), snap)
    for _ in range(3):
        with urllib.request.urlopen(instance.stats_url + ";csv", timeout=5) as answer:
            answer.read()
    out = haconsole("-s", instance.admin, "show", "stat", "--since-mark", "--json")
    assert out.returncode == 0, out.stderr
    assert "counters since the incident mark of" in out.stderr
    stats = next(r for r in json.loads(out.stdout)
                 if (r["proxy"], r["name"]) == ("stats", "FRONTEND"))
    assert stats["stot"] == 3
    table = haconsole("-s", instance.admin, "show", "stat", "--since-mark")
    assert table.returncode == 0 and "Δtotal" in table.stdout
    both = haconsole("-s", instance.admin, "show", "stat", "--since-mark", "--delta", "1")
    assert both.returncode == 2 and "do not go together" in both.stderr
