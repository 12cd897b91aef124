"""Build dist/haconsole.pyz: one file that runs with a system python3 >= 3.11 and nothing
else, for bastions and load balancers without package access (``make dist``).

Usage: python scripts/build_pyz.py [OUT]   (default dist/haconsole.pyz)

The project's dependencies are installed into a staging directory with pip (pure-Python
wheels only; ``regex``, a compiled module, is left out: the name filter then uses
Python's ``re`` with a guard), the ``console`` package is copied beside them, and
:mod:`zipapp` makes the archive with a ``python3`` shebang. The build fails if anything
compiled ended up inside.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipapp
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEFT_OUT = {"regex"}  # compiled; optional at run time
COMPILED = (".so", ".pyd", ".dylib")


def requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    out = []
    for spec in project["dependencies"]:
        name = re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0].strip().lower()
        if name not in LEFT_OUT:
            out.append(spec.split("#")[0].strip())
    return out


def build(out: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="haconsole-pyz-") as tmp:
        stage = Path(tmp) / "app"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile",
                        "--disable-pip-version-check", "--only-binary", ":all:",
                        "--target", str(stage), *requirements()], check=True)
        shutil.copytree(REPO / "console", stage / "console",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for path in [*stage.glob("*.dist-info"), stage / "bin"]:
            shutil.rmtree(path, ignore_errors=True)
        compiled = [str(p.relative_to(stage)) for p in stage.rglob("*")
                    if p.suffix in COMPILED or ".so." in p.name]
        if compiled:
            raise SystemExit("compiled modules would not load from the archive: "
                             + ", ".join(sorted(compiled)[:10]))
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        zipapp.create_archive(stage, partial, interpreter="/usr/bin/env python3",
                              main="console.cli:entry", compressed=True)
        os.replace(partial, out)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
    assert "console/ui/console.tcss" in names and "console/themes/dark.toml" in names
    return out


def main(argv: list[str]) -> int:
    out = build(Path(argv[0]) if argv else REPO / "dist" / "haconsole.pyz")
    print(f"{out} ({out.stat().st_size / 2**20:.1f} MiB): python3 {out.name} --help")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
