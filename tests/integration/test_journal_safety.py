"""The journal can never turn a good change into a rollback, on real HAProxy.

A journal that cannot be written (a directory, a symlink, an immutable file) stops
an apply or a runtime change before anything is sent or written, and says where
and why. A journal that fails after the change (the disk filled meanwhile: a full
tmpfs here) is reported loudly; the change stays, nothing is rolled back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy import journal
from console.haproxy.staging import Staging
from tests.integration.test_apply import Running, run_apply, stage_weight
from tests.integration.test_apply_faults import reloads

pytestmark = pytest.mark.haproxy
ROOT = os.geteuid() == 0


def cli(lb: Running, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", "-s", lb.socket, *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})})


def _directory(path: Path, tmp: Path) -> None:
    path.mkdir()


def _symlink(path: Path, tmp: Path) -> None:
    (tmp / "elsewhere").write_text("")
    path.symlink_to(tmp / "elsewhere")


def _immutable(path: Path, tmp: Path) -> None:
    path.write_text("")
    path.chmod(0o600)
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)],
                                                    capture_output=True).returncode:
        pytest.skip("chattr +i not supported here")


SPOILERS = [(_directory, "it is a directory"), (_symlink, "symbolic link"),
            pytest.param(_immutable, "operation not permitted",
                         marks=pytest.mark.skipif(not ROOT, reason="needs root (chattr)"))]


@pytest.mark.parametrize("spoil,words", SPOILERS)
def test_unwritable_journal_refuses_the_apply_before_anything(
        lb: Running, tmp_path: Path, spoil: Callable[[Path, Path], None], words: str) -> None:
    old, count = lb.config.read_bytes(), reloads(lb)
    stage_weight(lb.config, "app1", 33)
    path = journal.journal_path()
    spoil(path, tmp_path)
    try:
        result, steps = run_apply(lb.config, lb.target())
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
    assert result.outcome == "refused" and not result.ok, steps
    step, status, detail = steps[-1]
    assert (step, status) == ("stale", "fail"), steps
    assert words in detail and str(path) in detail and "nothing written" in detail
    assert lb.config.read_bytes() == old and reloads(lb) == count
    assert lb.servers()["app1"].srv_iweight == 10
    assert hist.history(str(lb.config)) == []
    assert Staging.load(str(lb.config)).status() == "pending"


@pytest.mark.parametrize("spoil,words", SPOILERS[:2])
def test_unwritable_journal_refuses_a_runtime_change(lb: Running, tmp_path: Path,
                                                     spoil: Callable[[Path, Path], None],
                                                     words: str) -> None:
    path = journal.journal_path()
    spoil(path, tmp_path)
    out = cli(lb, "server", "drain", "be_app/app1", "--yes")
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and str(path) in lines[0], out.stderr
    assert "sent:" not in out.stdout
    assert lb.servers()["app1"].srv_admin_state == 0  # not drained


def fill(path: Path) -> None:
    with open(path, "wb", buffering=0) as f:
        for size in (4096, 512, 64, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass


@pytest.mark.skipif(not ROOT, reason="needs root (mount a tmpfs)")
def test_a_journal_failing_after_the_change_is_said_and_never_rolls_back(
        lb: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "small-state"
    state.mkdir(mode=0o700)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                              str(state)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        monkeypatch.setenv("HACONSOLE_STATE_DIR", str(state))
        stage_weight(lb.config, "app1", 44)
        journal.journal_path().touch(mode=0o600)
        fill(state / "filler")  # the disk fills meanwhile
        count = reloads(lb)
        result, steps = run_apply(lb.config, lb.target())
        assert result.ok and result.outcome == "applied", steps
        assert "rollback" not in [s[0] for s in steps]
        reload = [s for s in steps if s[0] == "reload"][-1]
        assert reload[1] == "warn" and "JOURNAL NOT WRITTEN" in reload[2], reload
        assert "no space left" in reload[2]
        assert result.warnings and "JOURNAL NOT WRITTEN" in result.warnings[0]
        assert reloads(lb) == count + 1 and lb.servers()["app1"].srv_iweight == 44
        assert hist.history(str(lb.config))[-1].status == "applied"
        # a runtime change: sent, said loudly, not undone
        fill(state / "filler-2")  # (the apply freed the staged change's room)
        out = cli(lb, "server", "drain", "be_app/app1", "--yes",
                  env={"HACONSOLE_STATE_DIR": str(state)})
        assert out.returncode == 0, out.stdout + out.stderr
        assert "JOURNAL NOT WRITTEN" in out.stderr and "no space left" in out.stderr
        assert lb.servers()["app1"].srv_admin_state & 0x08  # drained
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)
