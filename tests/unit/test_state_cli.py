"""``haconsole config ...`` when haconsole's own state is corrupt, unsafe or shared.

Every problem with a state file is one line on stderr naming the file and what to
do, exit status 2, never a traceback. No HAProxy is needed: ``-c FILE`` only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy.staging import Staging

ROOT = os.geteuid() == 0
CFG = "global\n    maxconn 100\n\nbackend be_app\n    server app1 127.0.0.1:8001 weight 10\n"


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "haproxy.cfg"
    path.parent.mkdir()
    path.write_text(CFG)
    return path


def cli(cfg: Path, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", "-c", str(cfg), "config", *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})})


def one_line(out: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def stage(cfg: Path, extra: str = "# edited\n") -> Staging:
    st = Staging.load(str(cfg))
    st.set_candidate((CFG + extra).encode())
    return st


# --------------------------------------------------------------------------- corrupt state

@pytest.mark.parametrize("action", [["diff"], ["apply", "--yes"], ["set", "be_app/app1",
                                                                   "weight=5"],
                                    ["discard"]])
def test_staged_change_that_is_not_an_object(cfg, action) -> None:
    st = stage(cfg)
    st.file.write_text("[]")
    line = one_line(cli(cfg, *action))
    assert "the staged change is unreadable" in line and str(st.file) in line
    assert "move that file away" in line


def test_history_entry_of_the_wrong_types_is_skipped(cfg) -> None:
    hist.save_version(str(cfg), CFG.encode(), message="first", status="found")
    v2 = hist.save_version(str(cfg), (CFG + "#2\n").encode(), message="second",
                           status="applied")
    meta = v2.file.with_suffix(".json")
    meta.write_text(json.dumps(dict(json.loads(meta.read_text()), ts="noon", user=5)))
    out = cli(cfg, "history")
    line = one_line(out, 0)
    assert line.startswith("haconsole: note: version 2 skipped:") and str(meta) in line
    assert "first" in out.stdout and "second" not in out.stdout


def test_state_dir_that_is_a_file(cfg, tmp_path) -> None:
    state = tmp_path / "state-file"
    state.write_text("")
    out = cli(cfg, "set", "be_app/app1", "weight=5", env={"HACONSOLE_STATE_DIR": str(state)})
    line = one_line(out)
    assert "the state directory is not a directory" in line and str(state) in line


@pytest.mark.skipif(not ROOT or not shutil.which("chattr"), reason="needs root and chattr")
def test_read_only_state_dir(cfg, tmp_path) -> None:
    state = tmp_path / "ro-state"
    state.mkdir(mode=0o700)
    if subprocess.run(["chattr", "+i", str(state)], capture_output=True).returncode:
        pytest.skip("chattr +i not supported here")
    try:
        out = cli(cfg, "set", "be_app/app1", "weight=5", env={"HACONSOLE_STATE_DIR": str(state)})
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=False)
    line = one_line(out)
    assert "cannot create the staging directory: operation not permitted" in line


@pytest.mark.parametrize("script,words", [
    ('rm -f "$1"', "the editor removed the file"),
    ('rm -f "$1"; mkdir "$1"', "the editor replaced the file with a directory"),
])
def test_editor_that_leaves_no_file(cfg, tmp_path, script, words) -> None:
    editor = tmp_path / "ed.sh"
    editor.write_text(f"#!/bin/sh\n{script}\n")
    editor.chmod(0o755)
    line = one_line(cli(cfg, "edit", env={"VISUAL": "", "EDITOR": str(editor)}))
    assert words in line and "nothing staged" in line
    assert not Staging.load(str(cfg)).pending


def test_staged_change_of_a_deleted_config(cfg) -> None:
    st = stage(cfg)
    cfg.unlink()
    line = one_line(cli(cfg, "diff"))
    assert "the configuration file no longer exists" in line and "config discard" in line
    out = cli(cfg, "discard")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout == f"discarded the staged change of {cfg} (the file itself no longer " \
        "exists)\n"
    assert not st.file.exists()


# --------------------------------------------------------------------------- the shared place

def bob_env(tmp_path: Path) -> dict[str, str]:
    return {"USER": "bob", "LOGNAME": "bob", "HACONSOLE_STATE_DIR": str(tmp_path / "bob")}


def test_history_of_another_operator_is_seen(cfg, tmp_path) -> None:
    hist.save_version(str(cfg), CFG.encode(), message="kept by me", status="found")
    out = cli(cfg, "history", env=bob_env(tmp_path))
    assert out.returncode == 0 and "no versions kept yet" not in out.stdout, out.stdout
    assert "kept by me" in out.stdout


def test_diff_apply_and_history_say_who_has_a_change_staged(cfg, tmp_path) -> None:
    assert cli(cfg, "set", "be_app/app1", "weight=5", env=bob_env(tmp_path)).returncode == 0
    for action in (["diff"], ["history"], ["apply", "--yes", "--no-reload"]):
        out = cli(cfg, *action)
        assert "haconsole: note: bob has a change staged since " in out.stderr, (action, out)
    assert cli(cfg, "discard", env=bob_env(tmp_path)).returncode == 0
    assert "bob" not in cli(cfg, "diff").stderr


def test_private_lock_and_history_are_said(cfg, tmp_path) -> None:
    root = tmp_path / "missing" / "haconsole"
    out = cli(cfg, "history", env={"HACONSOLE_SHARED_STATE_DIR": str(root)})
    line = one_line(out, 0)
    assert "lock and history are private to user" in line and str(root) in line
    assert "install -d -m 2770 -g" in line


def test_unusable_shared_place_is_one_clear_error(cfg, tmp_path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o2777)
    line = one_line(cli(cfg, "history"))
    assert "the shared state directory is writable by every user" in line
    assert str(root) in line and "chmod 2770" in line


def test_apply_says_the_lock_and_history_are_private(cfg, tmp_path) -> None:
    root = tmp_path / "missing" / "haconsole"
    cfg.write_text(CFG + "\nfrontend fe\n    bind 127.0.0.1:18999\n"
                   "    default_backend be_app\n")
    st = Staging.load(str(cfg))
    st.set_candidate(cfg.read_bytes() + b"# one more line\n")
    out = cli(cfg, "apply", "--yes", "--no-reload",
              env={"HACONSOLE_SHARED_STATE_DIR": str(root)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[warn] lock" in out.stdout
    assert "warning: lock and history are private to user" in out.stdout
    assert "install -d -m 2770 -g" in out.stdout
    assert "# one more line" in cfg.read_text()
