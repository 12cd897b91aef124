"""Atomic replacement of a config file: attributes kept, symlinks, leftovers, errors."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest

from console.haproxy import atomic
from console.haproxy.atomic import WriteError


def _cfg(tmp_path, text: bytes = b"global\n") -> str:
    path = tmp_path / "haproxy.cfg"
    path.write_bytes(text)
    return str(path)


def test_write_atomic_replaces_and_keeps_mode_and_owner(tmp_path) -> None:
    path = _cfg(tmp_path)
    os.chmod(path, 0o640)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    inode = os.stat(path).st_ino
    assert atomic.write_atomic(path, b"global\n    maxconn 10\n") is None
    st = os.stat(path)
    assert open(path, "rb").read() == b"global\n    maxconn 10\n"
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_ino != inode  # a new file was renamed in place
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    assert os.listdir(tmp_path) == ["haproxy.cfg"]


def test_symlink_is_written_through(tmp_path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = _cfg(real_dir)
    link = tmp_path / "haproxy.cfg"
    link.symlink_to(target)
    atomic.write_atomic(str(link), b"global\n    nbthread 2\n")
    assert link.is_symlink()
    assert os.readlink(link) == target
    assert open(target, "rb").read() == b"global\n    nbthread 2\n"
    assert sorted(os.listdir(real_dir)) == ["haproxy.cfg"]


def test_temp_is_next_to_the_file_and_recognisable(tmp_path) -> None:
    path = _cfg(tmp_path)
    tmp = atomic.write_temp(path, b"x\n")
    try:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert os.path.basename(tmp) == f".haproxy.cfg.haconsole-tmp-{os.getpid()}"
        assert open(tmp, "rb").read() == b"x\n"
    finally:
        atomic.discard_temp(tmp)
    assert not os.path.exists(tmp)


def test_clean_leftovers_removes_dead_processes_temps_only(tmp_path) -> None:
    path = _cfg(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        dead_tmp = atomic.temp_path(path, dead.pid)
        alive_tmp = atomic.temp_path(path, alive.pid)
        for p in (dead_tmp, alive_tmp):
            with open(p, "wb") as f:
                f.write(b"partial")
        (tmp_path / ".other.cfg.haconsole-tmp-1").write_bytes(b"not ours")
        assert atomic.clean_leftovers(path) == [dead_tmp]
        assert os.path.exists(alive_tmp)
        assert (tmp_path / ".other.cfg.haconsole-tmp-1").exists()
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.parametrize("code,words", [
    (errno.EXDEV, "different filesystems"),
    (errno.EBUSY, "bind mount"),
    (errno.ENOSPC, "no space left"),
    (errno.EROFS, "read-only"),
    (errno.EIO, "input/output error"),
])
def test_rename_errors_leave_the_live_file_and_no_temp(tmp_path, monkeypatch, code,
                                                       words) -> None:
    path = _cfg(tmp_path, b"old\n")

    def fail(src: str, dst: str) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(WriteError) as info:
        atomic.write_atomic(path, b"new\n")
    assert words in str(info.value)
    assert info.value.errno == code
    assert info.value.hint
    assert open(path, "rb").read() == b"old\n"
    assert os.listdir(tmp_path) == ["haproxy.cfg"]


def test_write_error_while_writing_the_temp(tmp_path, monkeypatch) -> None:
    path = _cfg(tmp_path, b"old\n")
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if len(data) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(atomic.os, "write", full)
    with pytest.raises(WriteError, match="no space left"):
        atomic.write_atomic(path, b"a much longer text\n")
    assert open(path, "rb").read() == b"old\n"
    assert os.listdir(tmp_path) == ["haproxy.cfg"]


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(WriteError, match="not found"):
        atomic.read_bytes(str(tmp_path / "nope.cfg"))
    with pytest.raises(WriteError, match="attributes"):
        atomic.write_temp(str(tmp_path / "nope.cfg"), b"x")


def test_fault_point_fail_and_unset(monkeypatch) -> None:
    atomic.fault_point("write")  # unset: nothing happens
    monkeypatch.setenv(atomic.FAULT_ENV, "fail:write")
    atomic.fault_point("check")  # another point: nothing happens
    with pytest.raises(OSError, match="injected"):
        atomic.fault_point("write")


def test_write_private_is_atomic_and_private(tmp_path) -> None:
    path = str(tmp_path / "state.json")
    atomic.write_private(path, b"{}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    atomic.write_private(path, b"{\"a\": 1}")
    assert open(path, "rb").read() == b"{\"a\": 1}"
    assert os.listdir(tmp_path) == ["state.json"]
