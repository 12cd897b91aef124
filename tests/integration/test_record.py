"""``haconsole record`` on real HAProxy: the file is complete after SIGINT, SIGTERM and
--duration, readable up to its last record after kill -9, and replays the changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.haproxy.parsers import parse_stat
from console.haproxy.recording import Recording
from console.haproxy.transport import RuntimeClient

pytestmark = pytest.mark.haproxy


def start_recorder(sock: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "console", "record", "--interval", "0.2",
                             "-s", sock, "-o", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})


def wait_polls(out: Path, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists():
            try:
                with Recording(str(out)) as rec:
                    if len(rec.polls) >= n:
                        return
            except Exception:  # noqa: BLE001, S110 - the header may not be there yet
                pass
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} polls recorded in {timeout}s")


def statuses(rec: Recording, proxy: str, name: str) -> list[str]:
    out = []
    for frame in rec.frames():
        if frame.stat_text is None:
            continue
        for row in parse_stat(frame.stat_text):
            if row["pxname"] == proxy and row["svname"] == name:
                out.append(row["status"])
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_record_a_state_change_and_stop_on_a_signal(instance, tmp_path, sig) -> None:
    out = tmp_path / "rec.hacrec"
    proc = start_recorder(instance.admin, out)
    client = RuntimeClient(instance.admin)
    try:
        wait_polls(out, 3)
        await client.run("disable server be_app/app1")
        wait_polls(out, 8)
        await client.run("enable server be_app/app1")
        with Recording(str(out)) as rec:
            seen = len(rec.polls)
        wait_polls(out, seen + 3)
    finally:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"stopped by {sig.name}" in err and "MB per hour" in err
    with Recording(str(out)) as rec:
        assert rec.damage is None
        assert rec.end_reason == f"stopped by {sig.name}"
        assert rec.header["version"]  # HAProxy's version, from show info
        seen_status = statuses(rec, "be_app", "app1")
        # the server went to MAINT and came back, and the reader says so
        assert "MAINT" in seen_status
        first_maint = seen_status.index("MAINT")
        assert seen_status[0].startswith(("UP", "no check"))
        assert not seen_status[-1].startswith("MAINT")
        assert seen_status[first_maint - 1] != "MAINT"
        events = [e for e in rec.entries if e.event]
        assert len(events) >= 2  # to MAINT, and back
        # every rebuilt poll parses as HAProxy's own answer would
        for frame in rec.frames():
            assert frame.stat_text is not None and frame.info_text is not None
            rows = parse_stat(frame.stat_text)
            assert {r["svname"] for r in rows} >= {"app1", "app2", "app3", "FRONTEND"}


def test_record_stops_at_duration(instance, tmp_path) -> None:
    out = tmp_path / "rec.hacrec"
    proc = start_recorder(instance.admin, out, "--duration", "2s")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    with Recording(str(out)) as rec:
        assert rec.end_reason == "duration reached"
        assert 5 <= len(rec.polls) <= 15


def test_killed_recorder_leaves_a_readable_file(instance, tmp_path) -> None:
    out = tmp_path / "rec.hacrec"
    proc = start_recorder(instance.admin, out)
    try:
        wait_polls(out, 4)
    finally:
        proc.kill()
        proc.communicate(timeout=20)
    with Recording(str(out)) as rec:
        assert rec.end_reason is None  # no end record: it was killed
        assert len(rec.polls) >= 4
        assert len(list(rec.frames())) == len(rec.polls)


def test_a_recording_is_never_overwritten(instance, tmp_path) -> None:
    out = tmp_path / "rec.hacrec"
    out.write_text("precious")
    proc = start_recorder(instance.admin, out, "--duration", "1s")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "exists already" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert out.read_text() == "precious"


def test_record_a_socket_that_goes_away(instance, tmp_path) -> None:
    """A poll that fails is recorded as a failure (the socket is not there): no crash."""
    out = tmp_path / "rec.hacrec"
    proc = start_recorder(str(tmp_path / "nothing.sock"), out, "--duration", "1s")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    with Recording(str(out)) as rec:
        assert rec.polls and all(f.error for f in rec.frames())


@pytest.mark.parametrize("content", [b"", b"garbage\n" * 100, b"HACREC1\n\xff\xff\xff\xff"])
def test_replay_of_a_file_that_is_not_a_recording_says_so_in_one_line(tmp_path,
                                                                     content) -> None:
    path = tmp_path / "bad.hacrec"
    path.write_bytes(content)
    res = subprocess.run([sys.executable, "-m", "console", "replay", str(path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert "recording" in res.stderr


def test_record_usage_errors_are_one_line(tmp_path) -> None:
    for argv in (["--record", str(tmp_path / "x"), "show", "stat"],
                 ["record", "-s", "/nonexistent.sock", "-o", str(tmp_path / "y"),
                  "--duration", "soon"],
                 ["record", "-s", "/nonexistent.sock", "-o", str(tmp_path / "y"),
                  "--max-size", "12 parsecs"]):
        res = subprocess.run([sys.executable, "-m", "console", *argv], capture_output=True,
                             text=True, timeout=30)
        assert res.returncode != 0, argv
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
