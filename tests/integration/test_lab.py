"""The lab against the real HAProxy binaries: sockets, stats, control, reload, shutdown."""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.lab_helpers import LabHandle, alive, start_lab

pytestmark = pytest.mark.haproxy


def binary_path(haproxy_binary: Any) -> str:
    """The shared conftest's ``haproxy_binary`` is a Binary; a plain path works too."""
    return str(getattr(haproxy_binary, "path", haproxy_binary))


T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float,
             lab: LabHandle | None = None) -> T:
    """Call *probe* until it returns something truthy; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    extra = f"\n{lab.diagnostics()}" if lab else ""
    pytest.fail(f"{what}: not within {timeout:g} s (last: {last!r}){extra}")


def show_stat(lab: LabHandle) -> list[dict[str, str]]:
    text = lab.send(lab.info["admin_socket"], "show stat")
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and lines[0].startswith("# pxname,svname,"), text[:300]
    header = lines[0][2:].split(",")
    return [dict(zip(header, row, strict=False)) for row in csv.reader(lines[1:])]


def row(rows: list[dict[str, str]], proxy: str, name: str) -> dict[str, str]:
    for r in rows:
        if r["pxname"] == proxy and r["svname"] == name:
            return r
    raise AssertionError(f"no {proxy}/{name} in show stat")


def workers(lab: LabHandle) -> set[int]:
    text = lab.send(lab.info["master_socket"], "show proc")
    section, found = "", set()
    for line in text.splitlines():
        if line.startswith("#"):
            section = line
            continue
        m = re.match(r"(\d+)\s+worker\b", line)
        if m and section.strip() == "# workers":
            found.add(int(m.group(1)))
    return found


@pytest.fixture(scope="module")
def lab(haproxy_binary: Any) -> Iterator[LabHandle]:
    # Not under pytest's basetemp: concurrent pytest sessions prune each other's basetemps,
    # which would delete the lab's sockets while it runs. A short path also suits sockets.
    directory = Path(tempfile.mkdtemp(prefix="haconsole-lab-test-"))
    with start_lab(directory, binary_path(haproxy_binary)) as handle:
        yield handle
    shutil.rmtree(directory, ignore_errors=True)
    Path(f"{directory}.stderr").unlink(missing_ok=True)


def test_lab_json_describes_the_lab(lab: LabHandle, haproxy_binary: Any) -> None:
    info = lab.info
    assert info["haproxy"] == binary_path(haproxy_binary)
    assert info["haproxy_origin"] == "given"
    assert info["dir"] == str(lab.dir)
    assert lab.proc.pid in info["pids"] and len(info["pids"]) >= 3
    assert set(info["frontends"]) >= {"fe_web", "fe_api", "stats"}
    assert all(url.startswith("http://127.0.0.1:") for url in info["frontends"].values())
    assert len(info["backends"]) >= 9
    assert Path(info["config"]).read_text().count("\nbackend ") >= 3


def test_every_socket_answers(lab: LabHandle) -> None:
    for level in ("admin", "operator", "user"):
        answer = lab.send(lab.info[f"{level}_socket"], "show cli level")
        assert answer.strip() == level
    assert re.search(r"^\d+\s+master\b", lab.send(lab.info["master_socket"], "show proc"), re.M)
    assert lab.control("list").startswith("ok be_web/web1:healthy:running")


def test_show_stat_has_frontends_backends_servers(lab: LabHandle) -> None:
    rows = show_stat(lab)
    frontends = {r["pxname"] for r in rows if r["svname"] == "FRONTEND"}
    assert {"fe_web", "fe_api", "stats"} <= frontends
    backends = {r["pxname"] for r in rows if r["svname"] == "BACKEND"} - {"stats"}
    assert len(backends) >= 3
    for backend in backends:
        servers = [r for r in rows if r["pxname"] == backend
                   and r["svname"] not in ("FRONTEND", "BACKEND")]
        assert 3 <= len(servers) <= 6, (backend, len(servers))


def test_traffic_moves_counters(lab: LabHandle) -> None:
    before = int(row(show_stat(lab), "fe_web", "FRONTEND")["req_tot"])
    wait_for("fe_web req_tot increases",
             lambda: int(row(show_stat(lab), "fe_web", "FRONTEND")["req_tot"]) > before + 5,
             10, lab)


def test_logs_follow_reads_the_labs_ring(lab: LabHandle) -> None:
    """The lab logs to a ring: ``haconsole -s ADMIN logs --follow --json`` reads it."""
    from tests.integration.test_logs_ring import Follow

    f = Follow("-s", lab.info["admin_socket"], "logs", "--follow", "--json")
    try:
        got = f.lines(5, 20.0)  # the lab's own traffic
    finally:
        err = f.stop()
    assert len(got) >= 5, err
    assert {g["frontend"] for g in got} <= {"fe_web", "fe_api", "stats"}
    assert all(isinstance(g["status"], int) for g in got), got
    assert any(g["backend"] in ("be_web", "be_static", "be_api") for g in got), got


def test_stats_page_and_metrics(lab: LabHandle) -> None:
    answer = httpx.get(lab.info["stats_url"] + ";csv", timeout=5)
    assert answer.status_code == 200
    assert answer.text.startswith("# pxname,svname,")
    if lab.info["metrics_url"]:
        metrics = httpx.get(lab.info["metrics_url"], timeout=5)
        assert metrics.status_code == 200
        assert "haproxy_frontend_http_requests_total" in metrics.text


def test_stop_and_start_a_server(lab: LabHandle) -> None:
    assert lab.control("stop be_web/web1").startswith("ok")
    wait_for("web1 DOWN", lambda: row(show_stat(lab), "be_web", "web1")["status"]
             .startswith("DOWN"), 10, lab)
    assert "be_web/web1:healthy:stopped" in lab.control("list")
    assert lab.control("start be_web/web1").startswith("ok")
    wait_for("web1 UP", lambda: row(show_stat(lab), "be_web", "web1")["status"] == "UP",
             10, lab)
    assert lab.control("stop be_web/nope").startswith("error")


def test_abusive_client(lab: LabHandle) -> None:
    """``abuse PATH N``: GET PATH on fe_web from 127.0.0.2, counted apart; 0 stops it."""
    assert lab.control("abuse /search?q=x 30").startswith("ok abusive client 30/s")
    assert lab.control("abuse nopath 5").startswith("error")
    assert lab.control("abuse / 1e9").startswith("error")
    wait_for("abusive requests answered", lambda: re.search(
        r"abuse=30/s from 127\.0\.0\.2 on /search\?q=x sent=\d+ 2xx=[1-9]",
        lab.control("traffic")), 10, lab)
    assert lab.control("abuse / 0").startswith("ok abusive client 0/s")


def test_reload_keeps_serving(lab: LabHandle) -> None:
    old = workers(lab)
    assert old
    answer = lab.send(lab.info["master_socket"], "reload", timeout=20)
    assert "Success=0" not in answer, answer
    new = wait_for("a new worker after reload", lambda: workers(lab) - old, 15, lab)
    lab.extra_pids |= new
    static = lab.info["frontends"]["fe_web"] + "/static/after-reload"
    assert httpx.get(static, timeout=5).status_code == 200
    pid = int(re.search(r"^Pid: (\d+)", lab.send(lab.info["admin_socket"], "show info"),
                        re.M).group(1))  # type: ignore[union-attr]
    assert pid in new


def test_sigterm_leaves_nothing_behind(lab: LabHandle) -> None:
    pids = set(lab.info["pids"]) | lab.extra_pids
    assert lab.stop() == 0, lab.diagnostics()
    assert not [pid for pid in pids if alive(pid)]
    for name in ("admin.sock", "operator.sock", "user.sock", "master.sock",
                 "lab-control.sock"):
        assert not (lab.dir / name).exists(), name
    assert (lab.dir / "haproxy.cfg").exists() and (lab.dir / "haproxy.log").exists()


def test_the_lab_of_haconsole_lab_dies_with_it(haproxy_binary: Any, tmp_path: Path) -> None:
    """`haconsole lab` runs its lab as a child: killed (even with SIGKILL), it takes the
    lab and its HAProxy with it (before, they kept running, orphaned)."""
    import json
    import os
    import signal
    import subprocess
    import sys

    directory = tmp_path / "lab"
    directory.mkdir()
    code = ("import sys, time; from console import labcli; "
            "child = labcli.start_child(sys.argv[1], sys.argv[2]); "
            "labcli.wait_ready(child, sys.argv[1]); print(child.pid, flush=True); "
            "time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code, str(directory),
                               str(haproxy_binary.path)], stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        pids = set(json.loads((directory / "lab.json").read_text())["pids"]) | {child}
        assert all(alive(p) for p in pids)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 15
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if alive(p)]
    finally:
        if parent.poll() is None:
            parent.kill()

