"""``make dist``: one file that runs with Python alone (no site-packages at all)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "haconsole.pyz"
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_pyz.py"), str(out)],
                   check=True, timeout=600, capture_output=True)
    return out


def bare_python(pyz: Path, *args: str) -> list[str]:
    """Python with no site-packages (-S) and no environment (-I): only the archive."""
    return [sys.executable, "-I", "-S", str(pyz), *args]


def test_the_archive_holds_no_compiled_module(pyz: Path) -> None:
    with zipfile.ZipFile(pyz) as z:
        names = z.namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd")) or ".so." in n]
    assert "console/ui/console.tcss" in names and "textual/app.py" in names


def test_the_archive_runs_a_command(pyz: Path, instance: Any) -> None:
    out = subprocess.run(bare_python(pyz, "-s", instance.admin, "show", "stat", "--json"),
                         capture_output=True, text=True, timeout=60,
                         env={"HACONSOLE_STATE_DIR": os.environ["HACONSOLE_STATE_DIR"],
                              "HACONSOLE_SETTINGS": os.environ["HACONSOLE_SETTINGS"]})
    assert out.returncode == 0, out.stderr
    assert {r["name"] for r in json.loads(out.stdout)} >= {"app1", "FRONTEND"}


def test_the_archive_exits_with_the_commands_status(pyz: Path, tmp_path: Path) -> None:
    """A failing command fails from the archive too (the archive's entry point used to
    drop the status: every command exited 0)."""
    env = {"HACONSOLE_STATE_DIR": os.environ["HACONSOLE_STATE_DIR"],
           "HACONSOLE_SETTINGS": os.environ["HACONSOLE_SETTINGS"]}
    out = subprocess.run(bare_python(pyz, "-s", str(tmp_path / "none.sock"), "show", "stat"),
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1 and "none.sock" in out.stderr, (out.returncode, out.stderr)
    out = subprocess.run(bare_python(pyz, "show", "--no-such-flag"), capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 2, (out.returncode, out.stderr)


def test_the_archive_opens_the_console(pyz: Path, instance: Any) -> None:
    env = {"TERM": "xterm-256color", "LANG": "C.UTF-8", "COLUMNS": "100", "LINES": "30",
           "HACONSOLE_STATE_DIR": os.environ["HACONSOLE_STATE_DIR"],
           "HACONSOLE_SETTINGS": os.environ["HACONSOLE_SETTINGS"]}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        argv = bare_python(pyz, "-s", instance.admin)
        os.execve(argv[0], argv, env)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"app1" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        assert b"app1" in seen, seen[-2000:]
        os.write(fd, b"q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                break
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    os.read(fd, 65536)
                except OSError:  # the console is gone: the terminal is closed
                    time.sleep(0.05)
        else:
            pytest.fail("the console did not quit on q")
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
