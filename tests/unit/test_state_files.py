"""haconsole's own files under hostile or odd conditions: planted symlinks, corrupt
content, unsafe directories, settings holding a password.

The tests run as root here: "owned by another user" is tested by chowning to
nobody (65534), "read-only" with ``chattr +i`` (root ignores mode bits).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import tomlkit

from console.haproxy import atomic, journal
from console.haproxy import history_store as hist
from console.haproxy.staging import Staging, apply_lock, file_key
from console.haproxy.statefs import StateError, state_dir
from console.settings import Settings, load

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="needs root (chown, chattr)")
CFG = b"global\n    maxconn 100\n\nbackend be_app\n    server app1 127.0.0.1:8001 weight 10\n"


@pytest.fixture
def cfg(tmp_path: Path) -> str:
    path = tmp_path / "etc" / "haproxy.cfg"
    path.parent.mkdir()
    path.write_bytes(CFG)
    return str(path)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file someone would like haconsole (running as root) to overwrite."""
    path = tmp_path / "victim"
    path.write_bytes(b"precious\n")
    return path


def _chattr(flag: str, path: Path) -> bool:
    if not shutil.which("chattr"):
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


# --------------------------------------------------------------------------- planted symlinks

def test_write_private_never_follows_a_link_at_a_predictable_name(tmp_path, victim) -> None:
    # the server-state directory is often writable by the haproxy user: it can plant
    # links at any name it can predict, hoping root writes through them
    state = tmp_path / "state-dir"
    state.mkdir()
    target = state / "server-state"
    (state / f"server-state{atomic.TEMP_MARK}{os.getpid()}").symlink_to(victim)
    atomic.write_private(str(target), b"1\n# state\n", mode=0o644)
    assert victim.read_bytes() == b"precious\n"
    assert target.read_bytes() == b"1\n# state\n" and not target.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    # a link at the target itself is replaced, not written through
    target.unlink()
    target.symlink_to(victim)
    atomic.write_private(str(target), b"new\n")
    assert victim.read_bytes() == b"precious\n" and not target.is_symlink()


def test_journal_refuses_a_symlink(victim) -> None:
    journal.journal_path().symlink_to(victim)
    with pytest.raises(StateError, match="symbolic link") as info:
        journal.record("edge", "set server be/s state drain", answer="")
    assert str(journal.journal_path()) in str(info.value)
    with pytest.raises(StateError, match="symbolic link"):
        journal.check_writable()
    assert victim.read_bytes() == b"precious\n"


def test_staged_change_behind_a_symlink_is_refused(cfg, tmp_path) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# edited\n")
    elsewhere = tmp_path / "elsewhere.json"
    os.rename(st.file, elsewhere)
    st.file.symlink_to(elsewhere)
    with pytest.raises(StateError, match="symbolic link"):
        Staging.load(cfg)


def test_apply_lock_behind_a_symlink_is_refused(cfg, victim) -> None:
    # wherever the lock lives (the shared place, or the private state of old), a link
    # there must not make haconsole truncate and write its target
    Path(state_dir(), "staging").mkdir(exist_ok=True)
    Path(state_dir(), "staging", f"{file_key(cfg)}.lock").symlink_to(victim)
    with apply_lock(cfg):  # creates the shared place of the file
        pass
    assert victim.read_bytes() == b"precious\n"
    lock = hist.history_dir(cfg).parent / "lock"
    lock.unlink()
    lock.symlink_to(victim)
    with pytest.raises(StateError, match="symbolic link"):
        with apply_lock(cfg):
            pass
    assert victim.read_bytes() == b"precious\n"


def test_history_entry_behind_a_symlink_is_skipped(cfg, tmp_path) -> None:
    hist.save_version(cfg, CFG, message="first", status="found")
    v2 = hist.save_version(cfg, CFG + b"#2\n", message="second", status="applied")
    forged = tmp_path / "forged.json"
    meta = json.loads(v2.file.with_suffix(".json").read_text())
    forged.write_text(json.dumps(dict(meta, message="forged")))
    v2.file.with_suffix(".json").unlink()
    v2.file.with_suffix(".json").symlink_to(forged)
    assert [v.number for v in hist.history(cfg)] == [1]
    _, notes = hist.history_report(cfg)
    assert any(n.startswith("version 2 skipped") and "symbolic link" in n for n in notes)


def test_settings_temp_name_cannot_be_planted(tmp_path, victim) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[ui]\ntheme = \"dark\"\n")
    (tmp_path / f".settings.toml.tmp{os.getpid()}").symlink_to(victim)
    load(path).set_preference("ui", "theme", "light")
    assert victim.read_bytes() == b"precious\n"
    assert 'theme = "light"' in path.read_text()


def test_internal_error_log_is_not_written_through_a_symlink(victim, capsys) -> None:
    from console.cli import _internal_error

    (state_dir() / "haconsole.log").symlink_to(victim)
    assert _internal_error(RuntimeError("boom")) == 1
    assert victim.read_bytes() == b"precious\n"
    assert "could not write the log file" in capsys.readouterr().err


# --------------------------------------------------------------------------- the state dir

def test_state_dir_is_created_private(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(tmp_path / "fresh" / "state"))
    old = os.umask(0)
    try:
        path = state_dir()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_state_dir_writable_by_others_is_refused(tmp_path, monkeypatch, mode) -> None:
    path = tmp_path / "loose"
    path.mkdir()
    path.chmod(mode)
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(path))
    with pytest.raises(StateError, match="writable by other users") as info:
        state_dir()
    assert info.value.where == str(path) and "chmod 700" in (info.value.hint or "")


@needs_root
def test_state_dir_of_another_user_is_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "alice"
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(path))
    with pytest.raises(StateError, match="belongs to user") as info:
        state_dir()
    assert "HACONSOLE_STATE_DIR" in (info.value.hint or "")


@needs_root
def test_journal_of_another_user_or_group_writable_is_refused() -> None:
    path = journal.journal_path()
    path.write_text("")
    path.chmod(0o620)
    with pytest.raises(StateError, match="writable by other users"):
        journal.record("edge", "x")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)
    with pytest.raises(StateError, match="belongs to user"):
        journal.record("edge", "x")


def test_state_dir_that_is_a_file_is_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "state-file"
    path.write_text("")
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(path))
    with pytest.raises(StateError, match="not a directory"):
        state_dir()


# --------------------------------------------------------------------------- corrupt state

@pytest.mark.parametrize("content", [b"[]", b"42", b"null", b'"text"',
                                     b'{"format": 1, "base": 5}', b"\xff\xfe", b"{"])
def test_corrupt_staged_change_is_a_state_error(cfg, content) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# edited\n")
    st.file.write_bytes(content)
    with pytest.raises(StateError, match="the staged change is unreadable") as info:
        Staging.load(cfg)
    assert info.value.where == str(st.file) and "move that file away" in str(info.value)


@pytest.mark.parametrize("meta", [[], {"ts": "yesterday"}, {"message": 5},
                                  {"sha256": None}, {"user": ["root"]}, "not json"])
def test_bad_history_entry_is_skipped_and_never_blocks(cfg, meta) -> None:
    hist.save_version(cfg, CFG, message="first", status="found")
    v2 = hist.save_version(cfg, CFG + b"#2\n", message="second", status="applied")
    path = v2.file.with_suffix(".json")
    good = json.loads(path.read_text())
    path.write_text(meta if isinstance(meta, str) else
                    json.dumps(meta if isinstance(meta, list) else dict(good, **meta)))
    assert [v.number for v in hist.history(cfg)] == [1]
    _, notes = hist.history_report(cfg)
    assert [n for n in notes if n.startswith("version 2 skipped") and str(path) in n]
    # an apply goes on: the live file is saved, the next number is not reused
    assert hist.ensure_saved(cfg, CFG + b"#3\n").number == 3
    hist.set_status(cfg, 3, "applied")
    assert [v.number for v in hist.history(cfg)] == [1, 3]


def test_staged_change_of_a_deleted_config_can_be_discarded(cfg) -> None:
    st = Staging.load(cfg)
    st.set_candidate(CFG + b"# edited\n")
    os.unlink(cfg)
    st = Staging.load(cfg)
    with pytest.raises(StateError, match="no longer exists") as info:
        st.status()
    assert "config discard" in str(info.value)
    st.discard()
    assert not st.file.exists() and not st.pending


# --------------------------------------------------------------------------- settings

@needs_root
def test_saving_settings_keeps_mode_owner_and_symlink(tmp_path) -> None:
    real_dir = tmp_path / "dotfiles"
    real_dir.mkdir()
    real = real_dir / "settings.toml"
    real.write_text("# mine\n[instances.edge]\nstats_url = \"http://127.0.0.1:8404/\"\n"
                    "stats_password = \"s3cret\"\n")
    real.chmod(0o600)
    os.chown(real, 65534, 65534)
    link = tmp_path / "settings.toml"
    link.symlink_to(real)
    load(link).set_preference("ui", "theme", "light")
    assert link.is_symlink() and os.readlink(link) == str(real)
    st = real.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and (st.st_uid, st.st_gid) == (65534, 65534)
    assert 'theme = "light"' in real.read_text() and "# mine" in real.read_text()
    assert sorted(os.listdir(real_dir)) == ["settings.toml"]


def test_new_settings_file_is_private(tmp_path) -> None:
    path = tmp_path / "new" / "settings.toml"
    old = os.umask(0)
    try:
        Settings(path=path, document=tomlkit.document()).save()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stats_credentials_from_the_environment(tmp_path, monkeypatch) -> None:
    from console.cli import resolve_target

    monkeypatch.setenv("HACONSOLE_STATS_USER", "ops")
    monkeypatch.setenv("HACONSOLE_STATS_PASSWORD", "from-env")
    args = argparse.Namespace(settings=None, instance=None, socket=None, master=None,
                              config=None, url="http://127.0.0.1:8404/stats", read_only=False,
                              interval=None)
    t = resolve_target(args, discover=False)
    assert (t.url, t.url_user, t.url_password) == ("http://127.0.0.1:8404/stats", "ops",
                                                    "from-env")


def test_the_lab_child_gets_no_password_in_its_argv(tmp_path, monkeypatch) -> None:
    from console import labcli

    seen: list[list[str]] = []

    class Fake:
        def __init__(self, cmd: list[str], **kw: object) -> None:
            seen.append(list(cmd))

    monkeypatch.setenv("HACONSOLE_STATS_PASSWORD", "from-env")
    monkeypatch.setattr(labcli.subprocess, "Popen", Fake)
    labcli.start_child(str(tmp_path), None)
    assert seen and not any("from-env" in word for word in seen[0])


# --------------------------------------------------------------------------- read-only state

@needs_root
def test_read_only_state_dir_is_one_clear_error(cfg, tmp_path, monkeypatch) -> None:
    path = tmp_path / "ro-state"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(path))
    if not _chattr("+i", path):
        pytest.skip("chattr +i not supported here")
    try:
        with pytest.raises(StateError, match="cannot create the staging directory") as info:
            Staging.load(cfg).set_candidate(CFG + b"# x\n")
        assert "chattr -i" in str(info.value)
    finally:
        _chattr("-i", path)


def test_a_fifo_planted_as_a_state_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A FIFO in a group-writable place (a staged-change marker, a history entry) must not
    hang every config command: it is refused as not a regular file, at once."""
    import signal

    from console.haproxy.statefs import read_file

    fifo = tmp_path / "marker.json"
    os.mkfifo(fifo, 0o660)
    signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("hung")))
    signal.alarm(5)
    try:
        with pytest.raises(StateError, match="not a regular file"):
            read_file(fifo, what="a staged-change marker", owner_only=False)
    finally:
        signal.alarm(0)


def test_a_value_that_is_not_utf8_is_journaled(tmp_path: Path) -> None:
    """A socket path given with bytes that are not UTF-8: the entry is written (escaped),
    not lost with an internal error after the change was sent."""
    from types import SimpleNamespace

    target = SimpleNamespace(name="t", socket="/tmp/adm\udcff.sock")
    journal.record(target, "set server be/s state drain", answer="")
    [entry] = journal.read_entries("t")
    assert entry["socket"] == "/tmp/adm\udcff.sock" and entry["ok"] is True


def test_a_line_separator_in_an_answer_keeps_the_journal_readable() -> None:
    """U+2028 is a line break for Python's splitlines, not for the journal's lines."""
    journal.record("t", "add map #1 k v", answer="be_web\u2028x")
    journal.record("t", "del map #1 k", answer="")
    entries = journal.read_entries("t")
    assert [e["command"] for e in entries] == ["add map #1 k v", "del map #1 k"]
    assert entries[0]["answer"] == "be_web\u2028x"
