"""``haconsole drill NAME --trainer`` without a terminal, on the real lab.

The trainer runs the drill (it starts the lab and injects the fault); a second
trainer attaches to it read-only; the trainee makes the known fix with haconsole.
Both trainers must show the trainee's action from the journal, the goal going to
solved, and end with the drill (exit 0).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import pytest

from tests.instance import stop_process
from tests.integration.test_drills import REPO, START_TIMEOUT

pytestmark = pytest.mark.haproxy


class Trainer:
    """``haconsole drill NAME --trainer --dir DIR`` with its output in a file."""

    def __init__(self, root: Path, env: dict[str, str], name: str, label: str,
                 *extra: str) -> None:
        self.out_path = root / f"{label}.out"
        self.out: IO[bytes] = open(self.out_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console", "drill", name, "--trainer", "--dir",
             str(root / "lab"), *extra], stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def text(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc, wait=30)
        self.out.close()


def wait_for(what: str, check: Any, timeout: float, *trainers: Trainer) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} not within {timeout:g} s\n" +
                "\n".join(f"--- {t.out_path.name}:\n{t.text()[-3000:]}" for t in trainers))


def test_trainer_runs_or_attaches_and_follows_the_fix(haproxy_binary: Any) -> None:
    root = Path(tempfile.mkdtemp(prefix="hc-trainer-"))
    env = dict(os.environ, HACONSOLE_STATE_DIR=str(root / "state"),
               HACONSOLE_SHARED_STATE_DIR=str(root / "shared"),
               HACONSOLE_SETTINGS=str(root / "settings.toml"), PYTHONPATH=str(REPO))
    owner = Trainer(root, env, "refused-connections", "owner", "--haproxy",
                    str(haproxy_binary.path))
    watcher: Trainer | None = None
    try:
        state_path = root / "lab" / "drill.json"

        def running() -> dict[str, Any] | None:
            try:
                state = json.loads(state_path.read_text())
            except (OSError, ValueError):
                return None
            return state if state.get("status") == "running" else None

        state = wait_for("the drill running", running, START_TIMEOUT, owner)
        assert state["owner_pid"] == owner.proc.pid
        # another drill's trainer is refused here, and changes nothing
        other = subprocess.run([sys.executable, "-m", "console", "drill", "flapping-server",
                                "--trainer", "--dir", str(root / "lab")], capture_output=True,
                               text=True, env=env, cwd=REPO, timeout=60,
                               stdin=subprocess.DEVNULL)
        assert other.returncode != 0 and "Traceback" not in other.stderr
        assert "the drill running here is 'refused-connections'" in other.stderr
        watcher = Trainer(root, env, "refused-connections", "watcher")
        wait_for("the attached trainer's first status", lambda: "running: goal 1/2" in
                 watcher.text(), 20, watcher)
        assert "attached: watching, read-only" in watcher.text()
        command = (f"haconsole -s {state['admin_socket']} -m {state['master_socket']} "
                   f"-c {state['config']}")
        assert command in owner.text() and command in watcher.text()
        assert "[P2] shop.lab.local" in owner.text()  # the page to read out
        fix = subprocess.run([sys.executable, "-m", "console", "-s", state["admin_socket"],
                              "server", "maint", "be_web/web2", "--yes"], capture_output=True,
                             text=True, env=env, cwd=REPO, timeout=60,
                             stdin=subprocess.DEVNULL)
        assert fix.returncode == 0, fix.stderr
        assert owner.proc.wait(60) == 0, owner.text()
        assert watcher.proc.wait(30) == 0, watcher.text()
        for trainer in (owner, watcher):
            text = trainer.text()
            assert ("action (socket) on be_web/web2: set server be_web/web2 state maint -> ok"
                    in text), text
            assert "ok be_web/web2 status in [MAINT] (seen MAINT)" in text
            assert "solved: goal 2/2" in text and "solved in " in text
        final = json.loads(state_path.read_text())
        assert final["status"] == "solved" and final["hints_shown"] == 0
        assert "outcome: **solved**" in Path(final["debrief"]).read_text()
    finally:
        if watcher is not None:
            watcher.stop()
        owner.stop()
        shutil.rmtree(root, ignore_errors=True)
