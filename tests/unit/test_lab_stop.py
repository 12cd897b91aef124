"""How the tests stop a lab (tests/lab_helpers.py): a lab that stops properly passes,
one that does not fails with the cause, and a loaded machine gives it more time, not
an idle one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import lab_helpers
from tests.lab_helpers import LabHandle

# A stand-in for the lab: exits on SIGTERM after *delay* seconds, or ignores it.
STAND_IN = """\
import signal, sys, time
delay = float(sys.argv[1])
def on_term(*_):
    time.sleep(delay)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term if delay >= 0 else signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def stand_in(tmp_path: Path, delay: float) -> LabHandle:
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN, str(delay)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    return LabHandle(proc, tmp_path, {"pids": [proc.pid]}, tmp_path / "stderr")


@pytest.fixture
def short(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_helpers, "STOP_TIMEOUT", 0.5)
    monkeypatch.setattr(lab_helpers, "LOADED_STOP_TIMEOUT", 3.0)


def loaded(monkeypatch: pytest.MonkeyPatch, per_core: float) -> None:
    monkeypatch.setattr(lab_helpers.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(lab_helpers.os, "getloadavg", lambda: (2 * per_core, 0.0, 0.0))


def test_a_lab_that_stops_passes(tmp_path: Path, short: None) -> None:
    assert stand_in(tmp_path, 0).stop() == 0


def test_a_lab_that_does_not_stop_fails_with_the_cause(
        tmp_path: Path, short: None, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded(monkeypatch, 0.5)
    lab = stand_in(tmp_path, -1)
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception) as failed:
        lab.stop()
    assert time.monotonic() - started < 2.0  # idle: the strict time
    message = str(failed.value)
    assert "the lab did not stop cleanly within 0.5 s (load average 1.0 on 2 cores)" in message
    assert "the lab was still running" in message and "was killed" in message
    assert not lab_helpers.alive(lab.proc.pid)


def test_a_slow_stop_passes_on_a_loaded_machine_only(
        tmp_path: Path, short: None, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded(monkeypatch, 4.0)  # 0.5 s times 4: 2 s
    assert stand_in(tmp_path, 1.0).stop() == 0
    loaded(monkeypatch, 10.0)  # at most LOADED_STOP_TIMEOUT
    assert lab_helpers.stop_timeout() == 3.0
    loaded(monkeypatch, 0.5)
    with pytest.raises(pytest.fail.Exception, match="did not stop cleanly"):
        stand_in(tmp_path, 1.0).stop()
