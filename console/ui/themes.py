"""Themes: TOML data files turned into Textual themes plus status styles.

Shipped themes are package data, ``console/themes/*.toml``, read through
:mod:`importlib.resources` (so they are found wherever the package is installed);
user themes in ``<config dir>/themes/*.toml`` override them by name. A broken
file, whatever is wrong with it (syntax, types, nesting, size, encoding, not a
regular file), is reported and skipped; the default theme is always available.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rich.style import Style
from textual.theme import Theme

from console.haproxy.errors import ConfigError
from console.textfiles import read_text_capped

DEFAULT_THEME = "dark"
STATUS_KEYS = ("up", "down", "maint", "drain", "nolb", "nocheck", "transition", "open",
               "stop", "stale")
COLOR_KEYS = ("primary", "secondary", "accent", "foreground", "background", "surface",
              "panel", "warning", "error", "success", "boost")

# Used when no theme file can be read at all: the console must still start.
_FALLBACK_STATUS = {
    "up": "green", "down": "bold red", "maint": "bold magenta", "drain": "yellow",
    "nolb": "yellow", "nocheck": "dim", "transition": "bold yellow", "open": "green",
    "stop": "bold red", "stale": "dim italic",
}


@dataclass
class ConsoleTheme:
    name: str
    theme: Theme
    status: dict[str, Style] = field(default_factory=dict)
    source: str = "built-in"

    def style(self, key: str) -> Style:
        return self.status.get(key) or Style()


def shipped_dirs() -> list[Path]:
    """The directory of the shipped themes, in the installed ``console`` package (none
    when the package is not in a directory, a zip file say: the default theme only)."""
    shipped = resources.files("console") / "themes"
    return [shipped] if isinstance(shipped, Path) else []


def user_dir() -> Path:
    from console.paths import user_themes_dir

    return user_themes_dir()


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_style(value: object, where: str, key: str) -> Style:
    if not isinstance(value, str):
        raise ConfigError(f"status.{key} must be a string (a Rich style), not {_short(value)}",
                          where)
    try:
        return Style.parse(value) if value.strip() else Style()
    except Exception as exc:  # noqa: BLE001 - rich raises StyleSyntaxError and others
        raise ConfigError(f"status.{key} = {_short(value)} is not a valid style: {exc}",
                          where) from None


def _read(path: Path) -> dict[str, object]:
    where = str(path)
    try:
        text = read_text_capped(path, "theme file")
    except FileNotFoundError:
        raise ConfigError("theme file disappeared while reading it", where) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"theme file is not valid TOML: {exc}", where) from None
    except RecursionError:
        raise ConfigError("theme file is nested too deeply to read", where) from None


def load_theme_file(path: Path) -> ConsoleTheme:
    """One theme file, checked through; any problem is a :class:`ConfigError`."""
    where = str(path)
    data = _read(path)
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"theme name {_short(name)} is not valid", where,
                          "use letters, digits, '-' and '_'")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ConfigError(f"dark must be true or false, not {_short(dark)}", where)
    colors = data.get("colors", {})
    if not isinstance(colors, dict) or "primary" not in colors:
        raise ConfigError("theme needs a [colors] table with at least 'primary'", where)
    unknown = set(colors) - set(COLOR_KEYS)
    if unknown:
        raise ConfigError(f"unknown colour keys: {', '.join(sorted(unknown))}", where,
                          f"known: {', '.join(COLOR_KEYS)}")
    from textual.color import Color, ColorParseError

    for key, value in colors.items():
        if not isinstance(value, str):
            raise ConfigError(f"colors.{key} must be a string such as \"#4ea1ff\", "
                              f"not {_short(value)}", where)
        try:
            Color.parse(value)
        except (ColorParseError, TypeError, ValueError):
            raise ConfigError(f"colors.{key} = {_short(value)} is not a colour",
                              where) from None
    theme = Theme(name=name, dark=dark, **colors)
    try:
        theme.to_color_system().generate()  # what registering the theme will do
    except Exception as exc:  # noqa: BLE001 - whatever Textual makes of odd colours
        raise ConfigError(f"the colours cannot make a theme: {exc}", where) from None
    status_table = data.get("status", {})
    if not isinstance(status_table, dict):
        raise ConfigError("[status] must be a table", where)
    status = {k: _parse_style(v, where, k) for k, v in status_table.items()}
    for key in STATUS_KEYS:
        status.setdefault(key, Style.parse(_FALLBACK_STATUS[key]))
    return ConsoleTheme(name=name, theme=theme, status=status, source=where)


def fallback_theme() -> ConsoleTheme:
    theme = Theme(name=DEFAULT_THEME, primary="#4ea1ff", dark=True)
    return ConsoleTheme(DEFAULT_THEME, theme,
                        {k: Style.parse(v) for k, v in _FALLBACK_STATUS.items()})


def load_all(extra_dirs: list[Path] | None = None) -> tuple[dict[str, ConsoleTheme], list[str]]:
    """Every theme found, by name, and a list of problems (one line each)."""
    themes: dict[str, ConsoleTheme] = {}
    problems: list[str] = []
    dirs = shipped_dirs() + [user_dir()] + list(extra_dirs or [])
    seen_files: set[Path] = set()
    for directory in dirs:
        try:
            if not directory.is_dir():
                continue
            paths = sorted(directory.glob("*.toml"))
        except OSError as exc:
            problems.append(f"themes skipped: cannot list {directory}: {exc.strerror or exc}")
            continue
        for path in paths:
            try:
                real = path.resolve()
                if real in seen_files:
                    continue
                seen_files.add(real)
                loaded = load_theme_file(path)
            except ConfigError as exc:
                problems.append(f"theme skipped: {exc}")
                continue
            except Exception as exc:  # noqa: BLE001 - a theme file never stops the console
                problems.append(f"theme skipped: cannot load it: {type(exc).__name__}: "
                                f"{_short(str(exc), 120)} ({path})")
                continue
            themes[loaded.name] = loaded
    if DEFAULT_THEME not in themes:
        themes[DEFAULT_THEME] = fallback_theme()
    return themes, problems
