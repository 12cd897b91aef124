"""``haconsole drill``: the list, giving up (headless and on a terminal), hints, errors."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
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


class Terminal:
    """A process on a pseudo-terminal of 80x24, its output read as it comes (a full
    terminal would block it)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.main, child_end = pty.openpty()
        fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=child_end, stdout=child_end,
                                     stderr=child_end, env=env, cwd=REPO)
        os.close(child_end)
        self.seen: list[str] = []

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.main], [], [], 0.1)
            if ready:
                try:
                    self.seen.append(os.read(self.main, 65536).decode(errors="replace"))
                except OSError:
                    return

    def until(self, cond: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                pytest.fail(f"{what} not seen within {timeout:g} s; output ends with:\n"
                            f"{''.join(self.seen)[-2000:]!r}")
            self.drain(0.2)

    def press(self, keys: str) -> None:
        os.write(self.main, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        os.close(self.main)


def test_terminal_console_hints_and_give_up(haproxy_binary: Any) -> None:
    """On a terminal: the console with the drill banner; `h` reveals the hints one at a
    time, `G` then `y` gives up (the debrief screen), `q` quits: exit 1, lab stopped."""
    directory = Path(tempfile.mkdtemp(prefix="hc-drill-tty-"))
    env = dict(os.environ, HACONSOLE_STATE_DIR=str(directory / "state"), PYTHONPATH=str(REPO),
               TERM="xterm-256color")
    term = Terminal([sys.executable, "-m", "console", "drill", "refused-connections",
                     "--dir", str(directory / "lab"), "--haproxy", str(haproxy_binary.path)],
                    env)

    def state() -> dict[str, Any]:
        try:
            return json.loads((directory / "lab" / "drill.json").read_text())
        except (OSError, ValueError):
            return {}

    try:
        term.until(lambda: state().get("status") == "running", "the drill running", 60)
        term.drain(3.0)  # the console starting
        for n in (1, 2):
            term.press("h")
            term.until(lambda n=n: state().get("hints_shown") == n, f"hint {n}", 10)
        for _ in range(3):  # G opens the question; y answers it once it is there
            term.press("G")
            term.drain(1.5)
            term.press("y")
            term.drain(1.0)
            if state().get("status") == "given-up":
                break
        term.until(lambda: state().get("status") == "given-up", "given up", 10)
        term.drain(1.0)
        term.press("q")
        assert term.proc.wait(30) == 1
        term.drain(0.5)
        assert "given up after" in "".join(term.seen)
        final = state()
        assert final["hints_shown"] == 2
        assert "hints used: 2 of 3" in Path(final["debrief"]).read_text()
    finally:
        term.close()
        shutil.rmtree(directory, ignore_errors=True)
