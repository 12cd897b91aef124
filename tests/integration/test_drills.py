"""Every shipped drill on the real lab, on every HAProxy under test.

For each drill, one headless run (``haconsole drill NAME --no-ui --dir DIR``), the
drills of a version side by side (a lab each, at most MAX_LABS at once: their holds and
solves are waited for together):
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
# At most this many drill labs at once. A lab is a HAProxy master and worker, the lab's
# backends and traffic (a Python process busy all the time) and the drill's watcher: all
# eight drills at once kept both cores of a two-core CI machine busy, and the other
# pytest-xdist worker's labs then no longer stopped in time. Three still let the holds
# and solves of most drills overlap (about twice as long as eight at once).
MAX_LABS = 3
POLL = 0.2

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

    def __init__(self, name: str, haproxy: str, *, wait: bool = True) -> None:
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
        self.started_at = time.monotonic()
        self.info: dict[str, Any] = {}
        self.running_at = 0.0  # when it was seen running (time.monotonic())
        self.checked = False  # its not-solved check ran (test_not_solved_without_the_fix)
        self.fixed_at: float | None = None  # when the known fix was made (same test)
        if wait:
            self.wait_running()

    def wait_running(self, timeout: float = START_TIMEOUT) -> None:
        if not self.seen_running():
            self.info = self.wait_status("running", timeout)
            self.running_at = time.monotonic()

    def seen_running(self) -> bool:
        """Whether it runs (drill.json says so), noting when that was first seen."""
        if not self.info:
            state = self.state()
            if state.get("status") != "running":
                return False
            self.info, self.running_at = state, time.monotonic()
        return True

    def ended(self) -> bool:
        """Nothing more to wait for: it exited (solved, or failed), or the fix was made
        SOLVE_TIMEOUT ago, or its not-solved check failed before the fix."""
        if self.proc.poll() is not None:
            return True
        if self.fixed_at is not None:
            return time.monotonic() > self.fixed_at + SOLVE_TIMEOUT
        return self.checked

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


class Drills:
    """The drills of one HAProxy side by side, at most MAX_LABS labs at once.

    The drills start in the order their checks run, the next one as soon as a lab is let
    go: when its drill has ended (DrillProcess.ended). Every wait here (for a lab to be
    let go, for a hold) meanwhile lets go of the ended drills and starts the next ones, so
    that holds and solves overlap as much as the cap allows.
    """

    def __init__(self, names: list[str], haproxy: str) -> None:
        self.haproxy = haproxy
        self.pending = list(names)  # not started yet, in the order they are wanted
        self.runs: dict[str, DrillProcess] = {}  # every drill started (kept for the checks)
        self.live: list[DrillProcess] = []  # those whose lab may still run

    def tend(self) -> None:
        """Let go of the ended drills' labs; start the next drills in the free places."""
        for run in [run for run in self.live if run.ended()]:
            run.stop()
            self.live.remove(run)
        while self.pending and len(self.live) < MAX_LABS:
            name = self.pending.pop(0)
            self.runs[name] = DrillProcess(name, self.haproxy, wait=False)
            self.live.append(self.runs[name])
        for run in self.live:
            run.seen_running()

    def sleep_until(self, moment: float) -> None:
        """Sleep until *moment* (time.monotonic()), tending the drills meanwhile."""
        while (left := moment - time.monotonic()) > 0:
            self.tend()
            time.sleep(min(POLL, max(0.0, left)))

    def running(self, name: str) -> DrillProcess:
        """The drill *name*, started first if it was not, and seen running."""
        if name not in self.runs:
            if name in self.pending:
                self.pending.remove(name)
            self.pending.insert(0, name)
            deadline = time.monotonic() + SOLVE_TIMEOUT + 60
            while name not in self.runs:
                self.tend()
                if time.monotonic() > deadline:
                    busy = ", ".join(run.name for run in self.live)
                    pytest.fail(f"drill {name} not started: {MAX_LABS} labs still busy "
                                f"({busy})")
                time.sleep(POLL)
        run = self.runs[name]
        while (not run.seen_running() and run.proc.poll() is None
               and time.monotonic() < run.started_at + START_TIMEOUT):
            self.sleep_until(time.monotonic() + POLL)
        run.wait_running(1.0)  # fails with the diagnostics if it still does not run
        return run

    def started(self, name: str) -> DrillProcess:
        if name not in self.runs:
            pytest.fail(f"drill {name} was not started (see test_not_solved_without_the_fix)")
        return self.runs[name]

    def close(self) -> None:
        for run in self.live:
            run.stop()
        for run in self.runs.values():
            run.out.close()
            shutil.rmtree(run.dir, ignore_errors=True)


def checks_in_order(request: pytest.FixtureRequest, binary: Any) -> list[str]:
    """The drills whose not-solved check runs on *binary* in this session, in order (all
    shipped drills if that cannot be told): they are started in that order."""
    items = getattr(request.session, "items", None)
    if items is None:
        return shipped()
    names = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (callspec is not None and getattr(item, "module", None) is request.module
                and getattr(item, "originalname", "") == "test_not_solved_without_the_fix"
                and callspec.params.get("haproxy_binary") == binary):
            names.append(callspec.params["name"])
    return names


@pytest.fixture(scope="module")
def drills(request: pytest.FixtureRequest, haproxy_binary: Any) -> Iterator[Drills]:
    """The drills of this module on one HAProxy, side by side (Drills)."""
    runs = Drills(checks_in_order(request, haproxy_binary), str(haproxy_binary.path))
    try:
        runs.tend()
        yield runs
    finally:
        runs.close()


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


@pytest.mark.parametrize("name", shipped())
def test_not_solved_without_the_fix(drills: Drills, name: str) -> None:
    """Nothing done for longer than the goal's hold (and 4 s more): not solved. Then the
    known fix is made (test_solved_by_the_known_fix waits for its outcome, so that the
    drills' solves are waited for together)."""
    drill = drills.running(name)
    try:
        hold = load(BUILTIN_DIR / f"{name}.toml").goal.hold
        drills.sleep_until(drill.running_at + hold + 4)
        state = drill.state()
        assert state.get("status") == "running", drill.diagnostics()
        # one read can fall on an instant when every predicate holds (traffic comes in
        # waves, slower on a loaded machine): the goal was not held, so read again, for
        # up to 5 s, until one read shows the fault
        deadline = time.monotonic() + 5
        while True:
            assert state.get("solved_at") is None, state
            if not all(p["ok"] for p in state["goal"]) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
            state = drill.state()
        assert not all(p["ok"] for p in state["goal"]), state["goal"]
        fixes = FIXES[name]
        if str(drill.info.get("haproxy_version", "")).startswith("2.6."):
            fixes = FIXES_2_6.get(name, fixes)
        for line in fixes:
            drill.haconsole(line)
        drill.fixed_at = time.monotonic()
    finally:
        drill.checked = True


@pytest.mark.parametrize("name", shipped())
def test_solved_by_the_known_fix(drills: Drills, name: str) -> None:
    drill = drills.started(name)
    assert drill.fixed_at is not None, "the fix was not made (see test_not_solved_without_the_fix)"
    debrief = solved_debrief(drill)
    assert IN_DEBRIEF[name] in debrief, debrief
