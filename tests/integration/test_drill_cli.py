"""``haconsole drill``: the list, giving up (headless and on a terminal), hints, errors."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_drills import REPO, DrillProcess

pytestmark = pytest.mark.haproxy


def haconsole(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=REPO)


def test_list_json_and_text() -> None:
    done = haconsole("drill", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    names = {d["name"] for d in listed}
    assert {"refused-connections", "bad-deploy", "abusive-client"} <= names
    assert all(d["title"] for d in listed)
    text = haconsole("drill", "list")
    assert "refused-connections" in text.stdout


def test_unknown_and_invalid_drills(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path))
    done = haconsole("drill", "no-such-drill", "--no-ui", env=env)
    assert done.returncode == 1 and "no drill named 'no-such-drill'" in done.stderr
    done = haconsole("lab", "--drill", "no-such-drill", "--no-ui", env=env)
    assert done.returncode == 1 and "no drill named 'no-such-drill'" in done.stderr
    done = haconsole("drill", "refused-connections", "--json", env=env)
    assert done.returncode == 2 and "--json goes with 'drill list' only" in done.stderr
    user = tmp_path / "haconsole" / "drills"
    user.mkdir(parents=True)
    (user / "broken.toml").write_text('name = "broken"\ntitle = 3\n')
    done = haconsole("drill", "broken", "--no-ui", "--dir", str(tmp_path / "d"), env=env)
    assert done.returncode == 1
    assert "broken.toml:2" in done.stderr and "'title' must be a text" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "d").exists()
    listed = haconsole("drill", "list", env=env)
    assert listed.returncode == 1 and "broken.toml:2" in listed.stderr
    assert "refused-connections" in listed.stdout


def test_headless_give_up_on_sigterm(haproxy_binary: Any) -> None:
    run = DrillProcess("flapping-server", str(haproxy_binary.path))
    try:
        assert run.info["admin_socket"].endswith("admin.sock") and run.info["started"]
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(30) == 1, run.diagnostics()
        state = run.state()
        assert state["status"] == "given-up" and state["solved_at"] is None
        debrief = Path(state["debrief"]).read_text()
        assert "outcome: **given up**" in debrief and "put the server in MAINT" in debrief
    finally:
        run.stop()
        shutil.rmtree(run.dir, ignore_errors=True)


def _read_until(fd: int, wanted: str, timeout: float, seen: list[str]) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
            seen.append(chunk)
            if wanted in "".join(seen):
                return "".join(seen)
    pytest.fail(f"{wanted!r} not shown within {timeout:g} s; got:\n{''.join(seen)}")


def test_terminal_hints_and_give_up(haproxy_binary: Any) -> None:
    """On a terminal: the page, `h` reveals the hints one at a time, `q` gives up."""
    directory = Path(tempfile.mkdtemp(prefix="hc-drill-tty-"))
    env = dict(os.environ, HACONSOLE_STATE_DIR=str(directory / "state"), PYTHONPATH=str(REPO))
    main, child_end = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "console", "drill", "refused-connections",
                             "--dir", str(directory / "lab"), "--haproxy",
                             str(haproxy_binary.path)],
                            stdin=child_end, stdout=child_end, stderr=child_end, env=env,
                            cwd=REPO)
    os.close(child_end)
    seen: list[str] = []
    try:
        _read_until(main, "give up", 60, seen)
        assert "DRILL refused-connections" in "".join(seen)
        os.write(main, b"h\n")
        _read_until(main, "hint 1/3", 10, seen)
        os.write(main, b"h\n")
        _read_until(main, "hint 2/3", 10, seen)
        os.write(main, b"q\n")
        _read_until(main, "given up after", 20, seen)
        assert proc.wait(30) == 1
        state = json.loads((directory / "lab" / "drill.json").read_text())
        assert state["status"] == "given-up" and state["hints_shown"] == 2
        assert "hints used: 2 of 3" in Path(state["debrief"]).read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        os.close(main)
        shutil.rmtree(directory, ignore_errors=True)
