"""Incident drills: a fault injected into the lab, a goal checked on the real HAProxy.

A drill is data: one TOML file (see :mod:`.spec`), shipped in ``console/drills/``
or written by a trainer in ``~/.config/haconsole/drills/``.
"""

from __future__ import annotations

from pathlib import Path

from console.haproxy.errors import ConfigError, NotFound

from .spec import Drill, load

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "drills"
MAX_DRILLS = 200


def drill_files(dirs: list[Path]) -> dict[str, Path]:
    """``name -> file`` over *dirs* in order; a later directory's drill of the same name
    wins (the user's over the shipped one)."""
    found: dict[str, Path] = {}
    for directory in dirs:
        try:
            paths = sorted(directory.glob("*.toml"))[:MAX_DRILLS]
        except OSError:
            continue
        for path in paths:
            found[path.stem] = path
    return found


def find(name: str, dirs: list[Path]) -> Drill:
    files = drill_files(dirs)
    if name not in files:
        raise NotFound(f"no drill named {name!r}", ", ".join(str(d) for d in dirs),
                       "haconsole drill list shows them")
    return load(files[name])


def load_all(dirs: list[Path]) -> tuple[list[Drill], list[ConfigError]]:
    """Every drill that loads, and the errors of those that do not."""
    drills: list[Drill] = []
    errors: list[ConfigError] = []
    for path in drill_files(dirs).values():
        try:
            drills.append(load(path))
        except ConfigError as exc:
            errors.append(exc)
    return drills, errors


__all__ = ["BUILTIN_DIR", "Drill", "drill_files", "find", "load", "load_all"]
