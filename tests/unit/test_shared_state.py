"""Operators of one HAProxy share one apply lock and one history (the shared place).

"Another operator" is another process with its own private state directory and
its own user name (``USER``/``LOGNAME``, which is what haconsole asks the system
for): what used to keep two engineers' locks and histories apart was exactly
that private directory. The tests run as root: "owned by another user" is tested
by chowning to nobody (65534), "not writable" with ``chattr +i``.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.haproxy import history_store as hist
from console.haproxy import shared_state
from console.haproxy.staging import LockHeld, Staging, apply_lock
from console.haproxy.statefs import StateError, state_dir

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (chown, chattr)")
CFG = b"global\n    maxconn 100\n\nbackend be_app\n    server app1 127.0.0.1:8001 weight 10\n"


@pytest.fixture(autouse=True)
def _not_configured(monkeypatch) -> None:
    monkeypatch.setattr(shared_state, "_configured", None)


@pytest.fixture
def cfg(tmp_path: Path) -> str:
    path = tmp_path / "etc" / "haproxy.cfg"
    path.parent.mkdir()
    path.write_bytes(CFG)
    return str(path)


def as_bob(tmp_path: Path, code: str, *args: str) -> subprocess.Popen[str]:
    """Python *code* run as another operator: user bob, his own private state."""
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "USER": "bob", "LOGNAME": "bob",
           "HACONSOLE_STATE_DIR": str(tmp_path / "bob-state")}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _chattr(flag: str, path: Path) -> bool:
    if not shutil.which("chattr"):
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


# --------------------------------------------------------------------------- sharing

def test_two_operators_are_serialised_by_one_lock(cfg, tmp_path) -> None:
    code = ("import sys, time; from console.haproxy.staging import apply_lock\n"
            "with apply_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")
    bob = as_bob(tmp_path, code, cfg)
    try:
        assert bob.stdout and bob.stdout.readline().strip() == "held", bob.stderr
        with pytest.raises(LockHeld, match=f"bob \\(pid {bob.pid}\\)"):
            with apply_lock(cfg):
                pass
    finally:
        bob.kill()
        bob.wait()
    with apply_lock(cfg):
        pass


def test_every_operator_sees_the_versions(cfg, tmp_path) -> None:
    code = ("import sys; from console.haproxy import history_store as hist\n"
            "hist.save_version(sys.argv[1], open(sys.argv[1], 'rb').read(), "
            "message='by bob', status='found')\n")
    bob = as_bob(tmp_path, code, cfg)
    _, err = bob.communicate(timeout=60)
    assert bob.returncode == 0, err
    versions = hist.history(cfg)
    assert [(v.number, v.user, v.message) for v in versions] == [(1, "bob", "by bob")]
    assert versions[0].data() == CFG


@needs_root
def test_the_shared_root_is_created_for_the_operators_group(cfg, tmp_path) -> None:
    os.chown(cfg, 0, 65534)  # the config file's group: the operators'
    old = os.umask(0o022)
    try:
        hist.save_version(cfg, CFG, message="first", status="found")
        with apply_lock(cfg):
            pass
    finally:
        os.umask(old)
    root = tmp_path / "shared"
    st = root.stat()
    assert stat.S_IMODE(st.st_mode) == 0o2770 and st.st_gid == 65534
    here = hist.history_dir(cfg).parent
    assert (here / "config").read_text() == os.path.realpath(cfg) + "\n"
    for path in (here, here / "history", here / "staged"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o2770, path
        assert path.stat().st_gid == 65534
    for path in (here / "lock", here / "config", here / "history" / "0001.cfg",
                 here / "history" / "0001.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o660, path
        assert path.stat().st_gid == 65534


def test_a_missing_root_that_cannot_be_created_is_said(cfg, tmp_path, monkeypatch) -> None:
    root = tmp_path / "no-such-parent" / "haconsole"
    monkeypatch.setenv(shared_state.ENV, str(root))
    place = shared_state.place(cfg)
    assert not place.shared and place.note
    assert "lock and history are private to user" in place.note
    assert f"{root} does not exist and cannot be created" in place.note
    group = grp.getgrgid(os.stat(cfg).st_gid).gr_name
    assert f"install -d -m 2770 -g {group} {root}" in place.note
    hist.save_version(cfg, CFG, message="first", status="found")
    with apply_lock(cfg) as me:
        assert me["note"] == place.note
    assert [v.number for v in hist.history(cfg)] == [1]
    assert hist.history_dir(cfg) == state_dir() / "history" / shared_state.key(cfg)
    assert place.note in hist.history_report(cfg)[1]
    assert shared_state.notes(cfg) == [place.note]
    assert not root.parent.exists()


def _symlink(root: Path) -> None:
    real = root.with_name("real")
    real.mkdir(mode=0o2770)
    root.symlink_to(real)


def _file(root: Path) -> None:
    root.write_text("")


def _world_writable(root: Path) -> None:
    root.mkdir()
    root.chmod(0o2777)


def _other_owner(root: Path) -> None:
    root.mkdir(mode=0o2770)
    os.chown(root, 65534, 65534)


@pytest.mark.parametrize("spoil,words", [
    (_symlink, "is a symbolic link"), (_file, "is not a directory"),
    (_world_writable, "writable by every user"),
    pytest.param(_other_owner, "belongs to user", marks=needs_root),
])
def test_an_unusable_root_is_refused(cfg, tmp_path, spoil, words) -> None:
    root = tmp_path / "shared"
    spoil(root)
    for use in (lambda: hist.history(cfg), lambda: apply_lock(cfg).__enter__(),
                lambda: hist.save_version(cfg, CFG, message="x", status="found")):
        with pytest.raises(StateError, match=words) as info:
            use()
        assert info.value.where == str(root) and info.value.hint
    assert not (state_dir() / "history").exists()  # no silent private fallback
    assert not (state_dir() / "staging").exists()


@needs_root
def test_a_root_that_cannot_be_written_is_refused(cfg, tmp_path) -> None:
    root = tmp_path / "shared"
    root.mkdir(mode=0o2770)
    if not _chattr("+i", root):
        pytest.skip("chattr +i not supported here")
    try:
        with pytest.raises(StateError, match="is not writable by") as info:
            with apply_lock(cfg):
                pass
        assert "cannot be shared" in info.value.what and "usermod -aG" in str(info.value)
    finally:
        _chattr("-i", root)


def test_settings_choose_the_root_per_instance(cfg, tmp_path, monkeypatch) -> None:
    from console.cli import resolve_target

    settings = tmp_path / "s.toml"
    settings.write_text(f'shared_state_dir = "{tmp_path / "top"}"\n'
                        f'[instances.edge]\nconfig = "{cfg}"\n'
                        f'shared_state_dir = "{tmp_path / "edge"}"\n'
                        f'[instances.other]\nconfig = "{cfg}"\n')
    args = argparse.Namespace(settings=str(settings), instance="edge", socket=None,
                              master=None, config=None, url=None, read_only=False,
                              interval=None)
    resolve_target(args, discover=False)
    assert shared_state.root()[0] == tmp_path / "edge"
    assert shared_state.place(cfg).lock_file.parent.parent == tmp_path / "edge"
    args.instance = "other"
    resolve_target(args, discover=False)
    assert shared_state.root() == (tmp_path / "top", "settings (shared_state_dir)")
    shared_state.configure(None)
    assert shared_state.root() == (tmp_path / "shared", shared_state.ENV)


# --------------------------------------------------------------------------- markers

def test_others_see_who_has_a_change_staged(cfg, tmp_path) -> None:
    code = ("import sys; from console.haproxy.staging import Staging\n"
            "st = Staging.load(sys.argv[1])\n"
            "st.set_candidate(st.candidate + b'# bob\\n', note='by bob')\n"
            "print(st.warnings)\n")
    bob = as_bob(tmp_path, code, cfg)
    out, err = bob.communicate(timeout=60)
    assert bob.returncode == 0 and out.strip() == "[]", err
    [marker] = shared_state.others_staged(cfg)
    assert marker["user"] == "bob" and marker["edits"] == 1
    line = shared_state.describe_marker(marker)
    assert line.startswith(f"bob has a change staged since {time.strftime('%H:')}"), line
    assert shared_state.notes(cfg) == [line]
    # mine is not listed to me, and it goes away when discarded
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# mine\n")
    assert [m["user"] for m in shared_state.others_staged(cfg)] == ["bob"]
    bob = as_bob(tmp_path, "import sys; from console.haproxy.staging import Staging\n"
                 "Staging.load(sys.argv[1]).discard()\n", cfg)
    assert bob.wait(60) == 0
    assert shared_state.others_staged(cfg) == []
    assert Staging.load(cfg).pending  # mine is still there


def test_a_marker_that_cannot_be_written_does_not_stop_staging(cfg, tmp_path) -> None:
    hist.history(cfg)  # creates the shared place
    staged = hist.history_dir(cfg).parent / "staged"
    shutil.rmtree(staged)
    staged.write_text("")  # a file where the markers' directory should be
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# edited\n")
    assert st.pending and Staging.load(cfg).pending
    assert st.warnings and "other operators cannot see this staged change" in st.warnings[0]


# --------------------------------------------------------------------------- the old history

def _old_private_version(cfg: str, number: int, data: bytes, message: str) -> Path:
    old = state_dir() / "history" / shared_state.key(cfg)
    old.mkdir(parents=True, exist_ok=True, mode=0o700)
    (old / f"{number:04d}.cfg").write_bytes(data)
    (old / f"{number:04d}.json").write_text(json.dumps({
        "number": number, "time": "2026-01-01T00:00:00+0000", "ts": 1767225600.0 + number,
        "user": "alice", "ssh_origin": None, "message": message, "status": "applied",
        "sha256": __import__("hashlib").sha256(data).hexdigest(), "diff": ""}))
    return old


def test_an_old_private_history_is_copied_into_the_shared_place(cfg) -> None:
    _old_private_version(cfg, 1, CFG, "found")
    old = _old_private_version(cfg, 2, CFG + b"#2\n", "second")
    versions, notes = hist.history_report(cfg)
    assert [(v.number, v.message) for v in versions] == [(1, "found"), (2, "second")]
    assert any("copied to" in n for n in notes)
    assert versions[0].file.parent == hist.history_dir(cfg) != old
    assert (old / hist.COPIED_MARK).exists() and (old / "0001.cfg").exists()
    assert not [n for n in hist.history_report(cfg)[1] if "copied" in n]  # said once
    assert hist.save_version(cfg, CFG, message="next", status="found").number == 3


def test_an_old_private_history_is_not_merged_into_a_used_one(cfg) -> None:
    hist.save_version(cfg, CFG, message="shared one", status="found")
    old = _old_private_version(cfg, 1, CFG + b"#old\n", "private one")
    versions, notes = hist.history_report(cfg)
    assert [v.message for v in versions] == ["shared one"]
    assert any(f"stays in {old}" in n for n in notes)


def test_a_marker_cannot_drive_the_terminal(tmp_path) -> None:
    """Markers are files any operator can write: what they say is shown escaped."""
    from console.haproxy.locks import describe_holder

    said = shared_state.describe_marker({"user": "bob\x1b]0;PWNED\x07\x1b[2J",
                                         "host": "h\r\x1b[31mfake", "since": 1})
    assert "\x1b" not in said and "\r" not in said and "\x07" not in said
    assert "bob\\x1b]0;PWNED" in said
    holder = describe_holder({"user": "eve\x1b[2J", "pid": 1, "since": "x\x9b"})
    assert "\x1b" not in holder and "\x9b" not in holder
