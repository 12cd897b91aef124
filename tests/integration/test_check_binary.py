"""The check runs the binary that will run the configuration, and names it.

The running instance's (``/proc/PID/exe``), else ``haproxy`` on PATH, else the
bundled one. Each file holds a block that makes ``haproxy -c`` fail unless the
checking binary is of the expected branch.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.haproxy.apply import ApplyTarget
from console.haproxy.binaries import Binary, system_path
from tests.integration.test_apply import Running, config_text, run_apply, stage_text, start_haproxy
from tests.integration.test_config_cli import haconsole

pytestmark = pytest.mark.haproxy


def branch_guard(binary: Binary) -> str:
    major, minor = binary.branch
    return (f".if !version_atleast({major}.{minor}) || version_atleast({major}.{minor + 1})\n"
            f'.alert "checked by another HAProxy than {major}.{minor}"\n.endif\n')


@pytest.fixture
def path_dir(haproxy_binary: Binary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "haproxy").symlink_to(haproxy_binary.path)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return bindir


def test_without_a_running_haproxy_the_one_on_path_checks(haproxy_binary: Binary,
                                                          path_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(branch_guard(haproxy_binary) + config_text(tmp_path))
    stage_text(cfg, cfg.read_text().replace("weight 20", "weight 21"))
    result, steps = run_apply(cfg, ApplyTarget(check_args=["-W"], running=False))
    assert result.ok and result.outcome == "written", steps
    check = [s for s in steps if s[0] == "check"][0][2]
    assert f"{path_dir}/haproxy (HAProxy {haproxy_binary.version}, PATH)" in check
    assert result.check is not None and result.check.origin == "PATH"


def test_the_running_instance_binary_checks(haproxy_binary: Binary, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "lb"
    d.mkdir()
    (d / "haproxy.cfg").write_text(branch_guard(haproxy_binary) + config_text(d))
    lb: Running = start_haproxy(d, haproxy_binary)
    try:
        from console.haproxy.binaries import bundled_path

        other = tmp_path / "bin"  # another haproxy first on PATH must not be used
        other.mkdir()
        others = [p for p in (system_path(), bundled_path()) if p and
                  os.path.realpath(p) != os.path.realpath(haproxy_binary.path)]
        if others:
            (other / "haproxy").symlink_to(others[0])
        assert haconsole("-s", lb.socket, "config", "set", "be_app/app2", "weight=21",
                         env={"PATH": f"{other}:{os.environ['PATH']}"}).returncode == 0
        out = haconsole("-s", lb.socket, "config", "apply", "--yes",
                        env={"PATH": f"{other}:{os.environ['PATH']}"})
        assert out.returncode == 0, out.stdout + out.stderr
        real = os.path.realpath(haproxy_binary.path)
        assert f"check with: {real} (HAProxy {haproxy_binary.version}, running instance)" \
            in out.stdout
        assert f"[ ok ] check       haproxy -c passed ({real} (HAProxy " \
            f"{haproxy_binary.version}, running instance)" in out.stdout
    finally:
        lb.stop()



def test_a_keyword_the_service_binary_lacks_is_refused(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's 2.6 on PATH: an edit using a 2.8 keyword fails the check (the bundled 2.8
    would pass it)."""
    system = "/usr/sbin/haproxy"
    if not os.access(system, os.X_OK):
        pytest.skip("Debian's haproxy (2.6) is not installed")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "haproxy").symlink_to(system)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(config_text(tmp_path))
    text = cfg.read_text()
    stage_text(cfg, text.replace("    http-request return",
                                 "    http-after-response set-map(/tmp/m.map) a b\n"
                                 "    http-request return"))
    result, steps = run_apply(cfg, ApplyTarget(check_args=["-W"], running=False))
    assert result.outcome == "refused", steps
    check = steps[-1][2]
    assert "haproxy -c found errors" in check and "HAProxy 2.6" in check
    assert "http-after-response" in check
    assert cfg.read_text() == text


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.haproxy.binaries import for_service

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    found = for_service(None)
    system = system_path()
    if system:
        assert (found.path, found.origin) == (system, "system")
    else:
        assert found.origin == "bundled"
    given = for_service(found.path + " (deleted)", "running instance")
    assert given.path == found.path
    assert given.origin == "running instance, replaced on disk since it started"
