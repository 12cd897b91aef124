"""The layers of the code, checked on every import (function-level and TYPE_CHECKING
imports included):

* ``console.haproxy`` (talking to HAProxy, its files and the console's state) imports
  neither Textual nor any other layer;
* ``console.paths`` imports nothing of the project;
* the wiring (``console.instance``, ``console.settings``…) imports only the above;
* ``console.ui`` (the screens) imports neither the command line nor its modules;
* nothing imports upward, so no circle crosses two layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "console"

# lowest first; a module may import its own layer or lower ones only
LAYERS = ("paths", "haproxy", "wiring", "ui", "cli")
CLI = {"console.cli", "console.config_cli", "console.actions_cli", "console.change_cli",
       "console.tables_cli", "console.labcli", "console.fleet_cli", "console.fleet_config_cli",
       "console.oneshot", "console.logs_cli", "console.triage_cli", "console.serve_cli",
       "console.block_cli", "console.record_cli", "console.drill_cli", "console.trainer_cli",
       "console.__main__"}
OUTSIDE_TEXTUAL = ("haproxy", "paths", "wiring")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    if module == "console.paths":
        return "paths"
    if module.startswith("console.haproxy"):
        return "haproxy"
    if module.startswith("console.ui"):
        return "ui"
    if module in CLI:
        return "cli"
    return "wiring"


def imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in *path* (or *source*), relative ones resolved."""
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names
                    if (PACKAGE.parent / f"{mod}.{a.name}".replace(".", "/")).with_suffix(
                        ".py").exists() or (PACKAGE.parent / f"{mod}.{a.name}".replace(
                            ".", "/")).is_dir()]
    return out


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def violations(probe: tuple[Path, str] | None = None) -> list[str]:
    """Every import against the layers; *probe*: one more module, ``(path, source)``."""
    out = []
    modules = [(name, path, None) for name, path in sorted(project_modules().items())]
    if probe:
        modules.append((module_name(probe[0]), probe[0], probe[1]))
    for name, path, source in modules:
        here = layer(name)
        for line, mod in imports(path, source):
            where = f"{path.relative_to(ROOT)}:{line}: {name} imports {mod}"
            if mod == "textual" or mod.startswith("textual."):
                if here in OUTSIDE_TEXTUAL:
                    out.append(where + " (Textual belongs to console.ui)")
                continue
            if mod != "console" and not mod.startswith("console."):
                continue
            if here == "paths":
                out.append(where + " (console.paths imports nothing of the project)")
                continue
            if mod == "console":
                continue  # the package itself (__version__)
            there = layer(mod)
            if LAYERS.index(there) > LAYERS.index(here):
                out.append(where + f" (the {here} layer may not import the {there} layer)")
    return out


def test_no_layer_imports_a_higher_one() -> None:
    assert violations() == []


@pytest.mark.parametrize(("source", "expected"), [
    ("import textual.app\n", "Textual belongs to console.ui"),
    ("from console.settings import load\n", "the haproxy layer may not import the wiring"),
    ("from console.ui.app import HAConsoleApp\n", "may not import the ui layer"),
    ("from console import cli\n", "may not import the cli layer"),
])
def test_a_forbidden_import_in_the_haproxy_layer_is_found(source: str, expected: str) -> None:
    found = violations((PACKAGE / "haproxy" / "_import_hygiene_probe.py", source))
    assert any("_import_hygiene_probe" in v and expected in v for v in found), found


def test_the_ui_does_not_import_the_command_line() -> None:
    for name, path in project_modules().items():
        if layer(name) == "ui":
            assert not [m for _, m in imports(path) if m in CLI], name
