"""The shipped themes are found in an installed package, wherever pip put it.

A wheel is built from a copy of the source tree (its build directory never touches the
checkout), installed without ``-e`` into a directory of its own (``--target``, as far
from ``sys.prefix`` as pipx or ``--user`` put it) and with ``pip install --user``
(``PYTHONUSERBASE`` in a temporary directory), and the console, run from a directory
outside the repository, lists the five shipped themes. One build, shared: about 10 s.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {"colorblind", "dark", "high-contrast", "light", "monochrome"}
# what the installed console says: where it is and which themes it found
PROBE = ("import json, console; from console.ui import themes; "
         "found, problems = themes.load_all(); "
         "print(json.dumps({'package': console.__file__, 'problems': problems, "
         "'themes': {n: t.source for n, t in found.items()}}))")

pytestmark = pytest.mark.timeout(600)


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert out.returncode == 0, f"{' '.join(args)}:\n{out.stdout[-2000:]}{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of the working tree (a copy of what goes into it: the build leaves
    build/ and *.egg-info behind, stale files included in the next build)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "console", src / "console",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist),
          str(src)], cwd=dist)
    (built,) = dist.glob("haconsole-*.whl")
    return built


def _outside_env(tmp_path: Path) -> dict[str, str]:
    """No user theme, no settings: a home of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HACONSOLE"))}
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_STATE_HOME=str(home / ".local" / "state"))
    return env


def _check(report: str, installed: Path) -> None:
    seen = json.loads(report)
    assert Path(seen["package"]).is_relative_to(installed), seen["package"]
    assert seen["problems"] == []
    assert SHIPPED <= set(seen["themes"]), seen["themes"]
    for name in SHIPPED:
        assert Path(seen["themes"][name]).is_relative_to(installed), seen["themes"][name]


def _dependencies() -> str:
    """The running environment's site-packages (textual, rich...) for the installed
    console, as a plain path entry (its .pth files, an editable install among them, are
    not read)."""
    import textual

    return str(Path(textual.__file__).resolve().parents[1])


def test_the_wheel_holds_the_themes_as_package_data(wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"console/themes/{n}.toml" for n in SHIPPED} <= names, sorted(names)
    assert "console/ui/console.tcss" in names, sorted(names)  # the console's style sheet
    assert not [n for n in names if "/share/" in n or ".data/" in n], sorted(names)


def test_installed_in_a_directory_of_its_own_the_themes_are_found(wheel: Path,
                                                                  tmp_path: Path) -> None:
    target = tmp_path / "target"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
          "--target", str(target), str(wheel)])
    env = _outside_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(target), _dependencies()])
    out = _run([sys.executable, "-c", PROBE], cwd=tmp_path / "home", env=env)
    _check(out.stdout, target)


def test_installed_with_pip_user_the_themes_are_found(wheel: Path, tmp_path: Path) -> None:
    base = getattr(sys, "_base_executable", sys.executable)
    if subprocess.run([base, "-m", "pip", "--version"], capture_output=True).returncode:
        pytest.skip(f"no pip for {base}, the interpreter under the virtualenv")
    env = _outside_env(tmp_path)
    env["PYTHONUSERBASE"] = str(tmp_path / "userbase")
    _run([base, "-m", "pip", "install", "--user", "--no-deps", "--no-index", "--quiet",
          "--no-warn-script-location", str(wheel)], env=env)
    user_site = _run([base, "-c", "import site; print(site.getusersitepackages())"],
                     env=env).stdout.strip()
    assert Path(user_site).is_relative_to(tmp_path / "userbase"), user_site
    out = _run([base, "-c", PROBE], cwd=tmp_path / "home",
               env=env | {"PYTHONPATH": _dependencies()})
    _check(out.stdout, tmp_path / "userbase")
