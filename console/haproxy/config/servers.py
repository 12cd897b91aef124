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

Across files: HAProxy keeps the last ``defaults`` section from one file to the
next, and ``from NAME`` finds a defaults section in any file read before; so
the chain may start in an earlier file of the set (``ConfigFile.before``).

A ``default-server`` line inside an ``.if`` block applies only when HAProxy reads
it (:meth:`ConfigFile.line_state`). When that cannot be told (version or
environment unknown), edits refuse (:class:`UndecidedDefault`, naming the
``.if`` line) and :func:`server_lines` marks the servers it may apply to as
``conditional``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from console.haproxy.config.grammar import (
    FLAG_OPPOSITES,
    SERVER_KEYWORDS,
    SERVER_LINE_KEYWORDS,
    SERVER_VALUE_KEYWORDS,
    ServerLine,
    address_parts,
    base_keyword,
    parse_server_line,
    template_names,
)
from console.haproxy.config.lexer import plain_words
from console.haproxy.config.model import ConfigFile, Section, gc_paused
from console.haproxy.errors import ValidationError


class UndecidedDefault(ValidationError):
    """A ``default-server`` line (or a defaults section) that HAProxy may or may not read."""


Located = tuple[ConfigFile, Section]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A server as the file declares it (slots: a big file has tens of thousands)."""

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


def defaults_for(cfg: ConfigFile, section: Section) -> Located | None:
    """The defaults section *section* takes its settings from, and the file holding it."""
    before = [s for s in cfg.defaults_sections() if s.start < section.start
              and cfg.line_state(s.start) is not False]
    if section.from_:
        named = [(cfg, s) for s in before if s.name == section.from_]
        for other in reversed(cfg.before):
            if named:
                break
            named = [(other, s) for s in other.defaults_sections()
                     if s.name == section.from_ and other.line_state(s.start) is not False]
        return named[-1] if named else None
    if section.type == "defaults":
        return None
    if before:
        return cfg, before[-1]
    for other in reversed(cfg.before):
        found = [s for s in other.defaults_sections() if other.line_state(s.start) is not False]
        if found:
            return other, found[-1]
    return None


def _check_decided(cfg: ConfigFile, index: int, what: str) -> None:
    if cfg.line_state(index) is None:
        blame = cfg.undecided_by(index)
        cond = cfg.lines[blame].text.strip() if blame is not None else ".if"
        raise UndecidedDefault(
            f"{what} is inside '{cond}', which the console cannot evaluate here "
            f"({cfg.cond.describe()})",
            where=cfg.where(blame if blame is not None else index),
            hint="whether HAProxy reads that line decides the result: run the command against "
                 "the running instance (-s SOCKET) so its binary and environment are known, "
                 "or edit the file as text")


def _defaults_chain(cfg: ConfigFile, section: Section) -> list[Located]:
    chain: list[Located] = []
    seen: set[tuple[int, int]] = set()
    parent = defaults_for(cfg, section)
    while parent is not None and (id(parent[0]), parent[1].start) not in seen:
        seen.add((id(parent[0]), parent[1].start))
        chain.insert(0, parent)
        parent = defaults_for(*parent)
    return chain


def _defaults_chain_lines(cfg: ConfigFile, section: Section, *,
                          strict: bool = False) -> tuple[list[ServerLine], bool]:
    """``default-server`` lines *section* inherits from its defaults sections, and
    whether one of them (or of the sections) may or may not be read by HAProxy."""
    out: list[ServerLine] = []
    undecided = False
    for owner, sec in _defaults_chain(cfg, section):
        if strict:
            _check_decided(owner, sec.start, f"the defaults section {sec.name or ''}".rstrip())
        lines, unknown = _default_server_lines(owner, sec, sec.end, strict=strict)
        out += lines
        undecided = undecided or unknown or owner.line_state(sec.start) is None
    return out, undecided


def inherited_lines(cfg: ConfigFile, section: Section, index: int, *,
                    strict: bool = True) -> list[ServerLine]:
    """``default-server`` lines in effect for a server line at *index* in *section*.

    *strict*: raise :class:`UndecidedDefault` when one of them may or may not be read
    by HAProxy; otherwise such lines are left out.
    """
    chain, _ = _defaults_chain_lines(cfg, section, strict=strict)
    own, _ = _default_server_lines(cfg, section, index, strict=strict)
    return chain + own


def _default_server_lines(cfg: ConfigFile, section: Section, until: int, *,
                          strict: bool = False) -> tuple[list[ServerLine], bool]:
    out = []
    undecided = False
    for i in range(section.start + 1, min(until, section.end)):
        line = cfg.lines[i]
        if line.keyword != "default-server":
            continue
        state = cfg.line_state(i)
        if state is None:
            if strict:
                _check_decided(cfg, i, f"the default-server line {i + 1}")
            undecided = True
            continue
        if state is False:
            continue
        parsed = parse_server_line(line)
        if parsed:
            out.append(parsed)
    return out, undecided


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

    A ``server-template`` line gives one entry per server it creates. Lines HAProxy
    does not read (a false ``.if`` branch) are left out; a server whose line, or one
    of whose ``default-server`` lines, may or may not be read is ``conditional``.
    When a name appears twice, the first one is kept.
    """
    with gc_paused():
        return _server_lines(cfg)


# What a server's line inherits, resolved once per run of server lines (until the next
# default-server line): weight and maxconn as written, then disabled, backup, check.
_Resolved = tuple[str | None, str | None, bool, bool, bool]
_FLAGS = ("disabled", "backup", "check")


def _resolved(inherited: list[ServerLine]) -> _Resolved:
    return (resolve_value(inherited, "weight"), resolve_value(inherited, "maxconn"),
            *(resolve_flag(inherited, name) for name in _FLAGS))  # type: ignore[return-value]


def _plain_pairs(words: list[str], start: int) -> list[tuple[str, str | None]]:
    """``(key, value)`` of every parameter of a plain line's *words* from *start* (value
    None: a flag), paired as :func:`~console.haproxy.config.grammar.parse_params` does
    (a plain word is never empty: every word is read)."""
    out: list[tuple[str, str | None]] = []
    end = len(words)
    i = start
    while i < end:
        key = words[i]
        base = base_keyword(key)
        if i + 1 < end and (base in SERVER_VALUE_KEYWORDS or (
                base not in SERVER_KEYWORDS and base_keyword(words[i + 1])
                not in SERVER_KEYWORDS)):
            out.append((key, words[i + 1]))
            i += 2
        else:
            out.append((key, None))
            i += 1
    return out


def _plain_server(words: list[str], base: _Resolved, backend: str, line_no: int,
                  conditional: bool) -> ServerInfo | None:
    """The server of a plain ``server`` line's *words*, with *base* inherited: what the
    full parse and the resolution over the chain of lines give (None: no name)."""
    if len(words) < 2:
        return None
    options: dict[str, str | bool] = {}
    flags: dict[str, bool] = {}  # as ServerLine.flag() reads them: the last one wins
    for key, value in _plain_pairs(words, 3):
        if value is None:
            options[key] = flags[key] = True
            opposite = FLAG_OPPOSITES.get(key)
            if opposite:
                flags[opposite] = False
        else:
            options[key] = value
    host, port = address_parts(words[2])[1:] if len(words) > 2 else (None, None)
    weight, maxconn = options.get("weight"), options.get("maxconn")
    weight_text = weight if isinstance(weight, str) else base[0]
    return ServerInfo(backend, words[1], line_no, host, port,
                      1 if weight_text is None else _int(weight_text),
                      _int(maxconn if isinstance(maxconn, str) else base[1]),
                      flags.get("disabled", base[2]), flags.get("backup", base[3]),
                      flags.get("check", base[4]), options, conditional)


def _server_lines(cfg: ConfigFile) -> dict[tuple[str, str], ServerInfo]:
    out: dict[tuple[str, str], ServerInfo] = {}
    for section in cfg.backends():
        if not section.name or cfg.line_state(section.start) is False:
            continue
        inherited, undecided = _defaults_chain_lines(cfg, section)
        uncertain = undecided or cfg.line_state(section.start) is None
        base: _Resolved | None = None
        for i, line in cfg.section_lines(section):
            # a line without quotes or escapes (nearly every line of a big file) is split
            # once, its keyword and its words, and a plain server line is read from those
            words = plain_words(line.text)
            keyword = line.keyword if words is None else words[0] if words else None
            if keyword not in SERVER_LINE_KEYWORDS:
                continue
            state = cfg.line_state(i)
            if state is False:
                continue
            if keyword == "server" and words is not None:
                if base is None:
                    base = _resolved(inherited)
                server = _plain_server(words, base, section.name, i + 1,
                                       state is None or uncertain)
                if server is not None and (section.name, server.name) not in out:
                    out[(section.name, server.name)] = server
                continue
            if keyword == "default-server":
                default = parse_server_line(line) if state else None
                if default is not None:
                    inherited, base = [*inherited, default], None
                elif state is None:
                    uncertain = True
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
                conditional=state is None or uncertain)
            if parsed.kind == "server":
                names = [parsed.name]
            else:
                names = template_names(parsed.name, parsed.count or "")
                info["template"] = True
            for name in names:
                out.setdefault((section.name, name), ServerInfo(name=name, **info))
    return out
