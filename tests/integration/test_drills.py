"""Every shipped drill on the real lab, on every HAProxy under test.

For each drill, one headless run (``haconsole drill NAME --no-ui --dir DIR``):
first it must not be reported solved while nothing is done (for longer than its
goal's hold), then the known fix is made with haconsole's own commands and the
drill must report success, exit 0 and write a debrief naming the fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.haproxy.drills import BUILTIN_DIR, load
from tests.instance import stop_process

pytestmark = pytest.mark.haproxy
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
SOLVE_TIMEOUT = 45.0

# The known fix of each drill: haconsole commands ({admin}: the lab's admin socket,
# {master}: its master socket, {config}: its haproxy.cfg), in order.
FIXES: dict[str, list[str]] = {
    "refused-connections": ["-s {admin} server maint be_web/web2 --yes"],
    "errors-green-check": ["-s {admin} server drain be_web/web1 --yes"],
    "flapping-server": ["-s {admin} server maint be_api/api1 --yes"],
    "abusive-client": ["-s {admin} -c {config} block 127.0.0.2 --permanent --yes"],
    "bad-deploy": ["-s {admin} -m {master} -c {config} config rollback 1",
                   "-s {admin} -m {master} -c {config} config apply -m rollback --yes"],
    "drain-before-reload": ["-s {admin} -m {master} -c {config} config set be_web/web2 "
                            "disabled=true",
                            "-s {admin} -m {master} -c {config} config apply -m web2-out --yes"],
    "frontend-full": ["-s {admin} frontend maxconn fe_web 500 --yes",
                      "-s {admin} -m {master} -c {config} config edit",
                      "-s {admin} -m {master} -c {config} config apply -m fe_web-500 --yes"],
    "forgotten-maintenance": ["-s {admin} server ready be_static/static1 --yes",
                              "-s {admin} server ready be_static/static2 --yes",
                              "-s {admin} server ready be_static/static3 --yes"],
}
# HAProxy 2.6 (2.6.12 tested) aborts its worker on `set maxconn frontend` while that
# frontend is at its limit: there the fix is the file's change alone (the reload
# raises the limit).
FIXES_2_6: dict[str, list[str]] = {"frontend-full": FIXES["frontend-full"][1:]}

# The editor of `config edit` in the fixes (what a trainee does by hand).
EDITOR = {"frontend-full": "sed -i -e 's/^    maxconn 2$/    maxconn 500/'"}

# What the debrief must show of the fix: the journaled command or the file's diff.
IN_DEBRIEF: dict[str, str] = {
    "refused-connections": "`set server be_web/web2 state maint`",
    "errors-green-check": "`set server be_web/web1 state drain`",
    "flapping-server": "`set server be_api/api1 state maint`",
    "forgotten-maintenance": "`set server be_static/static3 state ready`",
    "drain-before-reload": "+    server web2",
    "abusive-client": "+127.0.0.2",
    "frontend-full": "+    maxconn 500",
    "bad-deploy": "-    http-check expect status 204",  # the file's diff: the deploy undone
}


# Tested in test_drills_more.py, with what their fixes need (a port only known at run time).
ELSEWHERE = ("reload-port-conflict", "slow-server-queue")


def shipped() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml") if p.stem not in ELSEWHERE)


class DrillProcess:
    """``haconsole drill NAME --no-ui --dir DIR`` and what its drill.json says."""

    def __init__(self, name: str, haproxy: str) -> None:
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="hc-drill-"))
        self.env = dict(os.environ)
        self.env.update({"HACONSOLE_STATE_DIR": str(self.dir / "state"),
                         "HACONSOLE_SHARED_STATE_DIR": str(self.dir / "shared"),
                         "HACONSOLE_SETTINGS": str(self.dir / "settings.toml"),
                         "PYTHONPATH": str(REPO)})
        self.out = open(self.dir / "drill.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console", "drill", name, "--no-ui", "--dir",
             str(self.dir / "lab"), "--haproxy", haproxy],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT, env=self.env)
        self.info = self.wait_status("running", START_TIMEOUT)

    def state(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / "lab" / "drill.json").read_text())
        except (OSError, ValueError):
            return {}

    def diagnostics(self) -> str:
        out = (self.dir / "drill.out").read_text(errors="replace")[-3000:]
        log = ""
        try:
            log = (self.dir / "lab" / "haproxy.log").read_text(errors="replace")[-1500:]
        except OSError:
            pass
        return f"drill output:\n{out}\nhaproxy.log:\n{log}\ndrill.json: {self.state()}"

    def wait_status(self, status: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if state.get("status") == status:
                return state
            if self.proc.poll() is not None and state.get("status") != status:
                break
            time.sleep(0.2)
        pytest.fail(f"drill {self.name} not {status!r} within {timeout:g} s\n"
                    f"{self.diagnostics()}")

    def haconsole(self, line: str) -> subprocess.CompletedProcess[str]:
        words = line.format(admin=self.info["admin_socket"], config=self.info["config"],
                            master=self.info["master_socket"]).split()
        env = dict(self.env)
        if self.name in EDITOR:
            env["VISUAL"] = EDITOR[self.name]
        done = subprocess.run([sys.executable, "-m", "console", *words], capture_output=True,
                              text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
        return done

    def stop(self) -> int:
        stop_process(self.proc, wait=30)
        self.out.close()
        return self.proc.returncode


@pytest.fixture(scope="module", params=shipped())
def drill(request: pytest.FixtureRequest, haproxy_binary: Any) -> Iterator[DrillProcess]:
    run = DrillProcess(request.param, str(haproxy_binary.path))
    try:
        yield run
    finally:
        run.stop()
        shutil.rmtree(run.dir, ignore_errors=True)


def solved_debrief(drill: DrillProcess) -> str:
    """The drill reported solved (drill.json, exit 0) and its debrief, which says so and
    saw the fix as acting on the fault (a time to detect)."""
    state = drill.wait_status("solved", SOLVE_TIMEOUT)
    assert state["solved_at"] and state["started"]
    assert drill.proc.wait(30) == 0, drill.diagnostics()
    debrief = Path(state["debrief"]).read_text()
    assert "outcome: **solved**" in debrief
    detect = debrief.split("time to detect", 1)[1].split("\n", 1)[0]
    assert not detect.endswith("—"), debrief  # the fix was seen as acting on the fault
    return debrief

def test_every_shipped_drill_has_a_known_fix() -> None:
    assert sorted(FIXES) == sorted(IN_DEBRIEF) == shipped()
    for name in shipped():
        assert load(BUILTIN_DIR / f"{name}.toml").name == name


def test_not_solved_without_the_fix(drill: DrillProcess) -> None:
    hold = load(BUILTIN_DIR / f"{drill.name}.toml").goal.hold
    time.sleep(hold + 4)
    state = drill.state()
    assert state.get("status") == "running", drill.diagnostics()
    assert state.get("solved_at") is None
    assert not all(p["ok"] for p in state["goal"]), state["goal"]


def test_solved_by_the_known_fix(drill: DrillProcess) -> None:
    fixes = FIXES[drill.name]
    if str(drill.info.get("haproxy_version", "")).startswith("2.6."):
        fixes = FIXES_2_6.get(drill.name, fixes)
    for line in fixes:
        drill.haconsole(line)
    debrief = solved_debrief(drill)
    assert IN_DEBRIEF[drill.name] in debrief, debrief
