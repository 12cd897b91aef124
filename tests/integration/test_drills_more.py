"""The drills whose fix needs more than a fixed command line, on every HAProxy under test.

Run like those of test_drills.py (one headless ``haconsole drill NAME --no-ui`` per
drill and binary: first not solved while nothing is done, then solved by the known
fix made with haconsole's own commands); both drills of a binary run side by side,
so that their starts and their waits overlap (the fix is made at the end of the
not-solved check, so that the solves are waited for together too):

- ``slow-server-queue``: a sluggish server at its maxconn behind ``balance uri``
  queues requests; its weight set to 0, the queue empties;
- ``reload-port-conflict``: a deploy binds a port another program holds, the reload
  fails and the old worker keeps serving; the bind moved to a free port with
  ``config edit`` and ``config apply``, HAProxy reloads again.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.haproxy.drills import BUILTIN_DIR, load
from console.haproxy.lab.config import free_ports
from tests.integration.test_drills import (
    ELSEWHERE,
    DrillProcess,
    shipped,
    solved_debrief,
)

pytestmark = pytest.mark.haproxy


@dataclass
class Started:
    run: DrillProcess
    since: float  # monotonic: when it was seen running
    shown: str | None = None  # what the debrief must show of the fix, once it is made


@pytest.fixture(scope="module")
def drills(haproxy_binary: Any) -> Iterator[dict[str, Started]]:
    """Both drills on this binary, started together."""
    started: dict[str, Started] = {}

    def start(name: str) -> None:
        run = DrillProcess(name, str(haproxy_binary.path))
        started[name] = Started(run, time.monotonic())

    try:
        with ThreadPoolExecutor(len(ELSEWHERE)) as pool:
            for future in [pool.submit(start, name) for name in ELSEWHERE]:
                future.result()
        yield started
    finally:
        for one in started.values():
            one.run.stop()
            shutil.rmtree(one.run.dir, ignore_errors=True)


@pytest.fixture(params=ELSEWHERE)
def started(request: pytest.FixtureRequest, drills: dict[str, Started]) -> Started:
    return drills[request.param]


def held_port(drill: DrillProcess) -> int:
    """The port the lab's other program holds (lab.json)."""
    port = json.loads((drill.dir / "lab" / "lab.json").read_text()).get("held_port")
    assert isinstance(port, int), drill.diagnostics()
    return port


def haconsole(drill: DrillProcess, line: str, visual: str | None = None) -> str:
    words = line.format(admin=drill.info["admin_socket"], config=drill.info["config"],
                        master=drill.info["master_socket"]).split()
    env = dict(drill.env)
    if visual:
        env["VISUAL"] = visual
    done = subprocess.run([sys.executable, "-m", "console", *words], capture_output=True,
                          text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (line, done.stdout, done.stderr, drill.diagnostics())
    return done.stdout


def goal(state: dict[str, Any]) -> dict[str, Any]:
    return {g["predicate"]: g["observed"] for g in state["goal"]}


def test_every_shipped_drill_is_tested() -> None:
    every = sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))
    assert sorted(shipped() + list(ELSEWHERE)) == every and len(every) == 10


def test_not_solved_without_the_fix(started: Started) -> None:
    drill = started.run
    hold = load(BUILTIN_DIR / f"{drill.name}.toml").goal.hold
    time.sleep(max(0.0, started.since + hold + 2 - time.monotonic()))
    state = drill.state()
    assert state.get("status") == "running", drill.diagnostics()
    assert state.get("solved_at") is None
    if drill.name == "slow-server-queue":
        # web3 is saturated: requests wait in its queue, or fill its 4 slots. One poll
        # can fall in the instant between one wave of the queue and the next (the
        # load generator is slower on a loaded machine), so the goal's predicates are
        # read for up to 5 s until one poll shows the saturation
        seen: dict[str, Any] = {}
        deadline = time.monotonic() + 5
        while True:
            assert state.get("solved_at") is None, state
            seen = goal(state)
            saturated = (seen["be_web/web3 qcur == 0"] > 0
                         or seen["be_web/web3 scur < 4"] >= 4)
            if saturated or time.monotonic() > deadline:
                break
            time.sleep(0.25)
            state = drill.state()
        assert saturated and not all(p["ok"] for p in state["goal"]), state["goal"]
    else:
        assert not all(p["ok"] for p in state["goal"]), state["goal"]
        seen = goal(state)  # the old worker serves, the file on disk is the deploy's
        assert seen["master failed_reloads == 0"] >= 1, state["goal"]
        assert seen["fe_web status == 'OPEN'"] == "OPEN"
        port = held_port(drill)
        assert f"bind 127.0.0.1:{port}\n" in Path(drill.info["config"]).read_text()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as other:
            assert b"another program" in other.recv(4096)  # not HAProxy
    started.shown = make_the_fix(drill)


def make_the_fix(drill: DrillProcess) -> str:
    """The drill's known fix, made with haconsole; what its debrief must show of it."""
    if drill.name == "slow-server-queue":
        haconsole(drill, "-s {admin} server weight be_web/web3 0 --yes")
        return "`set server be_web/web3 weight 0`"
    held, free = held_port(drill), free_ports(1)[0]
    sed = f"sed -i -e 's/^    bind 127.0.0.1:{held}$/    bind 127.0.0.1:{free}/'"
    haconsole(drill, "-s {admin} -m {master} -c {config} config edit", visual=sed)
    report = haconsole(drill, "-s {admin} -m {master} -c {config} config apply -m "
                       "fe_admin-port --yes")
    assert "fe_admin" in report, report
    return f"-    bind 127.0.0.1:{held}"


def test_solved_by_the_known_fix(started: Started) -> None:
    drill = started.run
    shown = started.shown
    assert shown is not None, "the fix was not made (see test_not_solved_without_the_fix)"
    debrief = solved_debrief(drill)
    assert shown in debrief, debrief
    assert "@held_port@" not in debrief
