"""Servers as the file declares them, with ``default-server`` resolved.

:func:`server_lines` is what the Drift view compares with the runtime state.

Resolution, as HAProxy builds a server at parse time: start from the
``default-server`` lines of the proxy's defaults section (the one named by
``from``, else the last ``defaults`` section before the proxy; a ``defaults X from
Y`` section first takes Y's), then the proxy's own ``default-server`` lines that
come *before* the server line, then the server line itself; for each setting the
last word wins. Resolved: ``weight`` (default 1), ``maxconn`` (None when unset),
``disabled``/``enabled``, ``backup``/``no-backup``, ``check``/``no-check``.
Everything else is only in ``params`` (the server line's own words).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.haproxy.config.grammar import (
    ServerLine,
    parse_server_line,
    template_names,
)
from console.haproxy.config.model import ConfigFile, Section


@dataclass(frozen=True)
class ServerInfo:
    backend: str
    name: str
    line_no: int  # 1-based
    address: str | None
    port: str | None
    weight: int | None  # None if not a number (e.g. an unexpanded variable)
    maxconn: int | None  # None when not set (no limit)
    disabled: bool
    backup: bool
    check: bool
    params: dict[str, str | bool] = field(default_factory=dict)  # the line's own params
    conditional: bool = False  # inside an .if block: HAProxy may not see it
    template: bool = False  # one of the servers of a server-template line


def defaults_for(cfg: ConfigFile, section: Section) -> Section | None:
    """The defaults section *section* takes its settings from."""
    if section.from_:
        named = [s for s in cfg.sections
                 if s.type == "defaults" and s.name == section.from_ and s.start < section.start]
        return named[-1] if named else None
    if section.type == "defaults":
        return None
    before = [s for s in cfg.sections if s.type == "defaults" and s.start < section.start]
    return before[-1] if before else None


def _defaults_chain_lines(cfg: ConfigFile, section: Section) -> list[ServerLine]:
    """``default-server`` lines *section* inherits from its defaults sections."""
    chain: list[Section] = []
    seen: set[int] = set()
    parent = defaults_for(cfg, section)
    while parent is not None and parent.start not in seen:
        seen.add(parent.start)
        chain.insert(0, parent)
        parent = defaults_for(cfg, parent)
    out: list[ServerLine] = []
    for sec in chain:
        out += _default_server_lines(cfg, sec, sec.end)
    return out


def inherited_lines(cfg: ConfigFile, section: Section, index: int) -> list[ServerLine]:
    """``default-server`` lines in effect for a server line at *index* in *section*."""
    return _defaults_chain_lines(cfg, section) + _default_server_lines(cfg, section, index)


def _default_server_lines(cfg: ConfigFile, section: Section, until: int) -> list[ServerLine]:
    out = []
    for i in range(section.start + 1, min(until, section.end)):
        line = cfg.lines[i]
        if line.keyword == "default-server":
            parsed = parse_server_line(line)
            if parsed:
                out.append(parsed)
    return out


def resolve_flag(lines: list[ServerLine], name: str) -> bool:
    state = False
    for line in lines:
        value = line.flag(name)
        if value is not None:
            state = value
    return state


def resolve_value(lines: list[ServerLine], key: str) -> str | None:
    value = None
    for line in lines:
        p = line.param(key)
        if p is not None and p.value is not None:
            value = p.value
    return value


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def server_lines(cfg: ConfigFile) -> dict[tuple[str, str], ServerInfo]:
    """Every server of every backend/listen section, keyed by (backend, server).

    A ``server-template`` line gives one entry per server it creates. When a name
    appears twice (e.g. in both branches of an ``.if``), the first one is kept.
    """
    out: dict[tuple[str, str], ServerInfo] = {}
    for section in cfg.backends():
        if not section.name:
            continue
        inherited = _defaults_chain_lines(cfg, section)
        for i, line in cfg.section_lines(section):
            if line.keyword == "default-server":
                default = parse_server_line(line)
                if default is not None:
                    inherited = [*inherited, default]
            if line.keyword not in ("server", "server-template"):
                continue
            parsed = parse_server_line(line)
            if parsed is None or not parsed.name:
                continue
            chain = [*inherited, parsed]
            weight_text = resolve_value(chain, "weight")
            info: dict[str, Any] = dict(
                backend=section.name, line_no=i + 1, address=parsed.address, port=parsed.port,
                weight=1 if weight_text is None else _int(weight_text),
                maxconn=_int(resolve_value(chain, "maxconn")),
                disabled=resolve_flag(chain, "disabled"), backup=resolve_flag(chain, "backup"),
                check=resolve_flag(chain, "check"), params=parsed.options,
                conditional=cfg.depth(i) > 0)
            if parsed.kind == "server":
                names = [parsed.name]
            else:
                names = template_names(parsed.name, parsed.count or "")
                info["template"] = True
            for name in names:
                out.setdefault((section.name, name), ServerInfo(name=name, **info))
    return out
