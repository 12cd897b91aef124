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
from typing import Any, NamedTuple

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
from console.haproxy.config.lexer import plain_split, plain_words
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


class ServerBrief(NamedTuple):
    """What the drift reads of a server of the file (:func:`server_briefs`): a tuple, no
    parameters kept (a recount reads tens of thousands every time the file changes)."""

    disabled: bool
    weight: int | None  # None if not a number (e.g. an unexpanded variable)
    template: bool  # one of the servers of a server-template line
    conditional: bool  # inside an .if block: HAProxy may not see it


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
    return _chain_lines(_defaults_chain(cfg, section), strict=strict)


def _chain_lines(chain: list[Located], *, strict: bool = False
                 ) -> tuple[list[ServerLine], bool]:
    """The ``default-server`` lines of a chain of defaults sections (see above)."""
    out: list[ServerLine] = []
    undecided = False
    for owner, sec in chain:
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
        return _server_lines(cfg, _plain_server, _full_server)


def server_briefs(cfg: ConfigFile) -> dict[tuple[str, str], ServerBrief]:
    """:func:`server_lines` as the drift reads it: the same servers, each only as a
    :class:`ServerBrief` (its resolved ``disabled`` and ``weight``, template, conditional)."""
    # the servers of a big file mostly repeat a few sets of parameters: a brief depends
    # only on those (the words after the address), the inherited settings and whether
    # the line is conditional; each is made once
    made: dict[tuple[Any, ...], ServerBrief | None] = {}

    def brief(words: list[str], base: _Resolved, backend: str, line_no: int,
              conditional: bool) -> ServerBrief | None:
        key = (base, conditional, *words[3:]) if len(words) >= 2 else None
        if key is None:
            return None
        out = made.get(key, _UNSEEN)
        if out is _UNSEEN:
            out = made[key] = _plain_brief(words, base, backend, line_no, conditional)
        return out

    with gc_paused():
        return _server_lines(cfg, brief, _full_brief)


_UNSEEN = ServerBrief(False, None, False, False)  # (a brief not made yet: never one made)


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
    values, known = SERVER_VALUE_KEYWORDS, SERVER_KEYWORDS
    while i < end:
        key = words[i]
        base = base_keyword(key) if "(" in key else key
        if i + 1 < end:
            after = words[i + 1]
            if base in values or (base not in known and (
                    base_keyword(after) if "(" in after else after) not in known):
                out.append((key, after))
                i += 2
                continue
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


# The flags that clear ``disabled`` ("enabled"): the last of the pair wins.
_ENABLING = frozenset(k for k, v in FLAG_OPPOSITES.items() if v == "disabled")


def _plain_brief(words: list[str], base: _Resolved, backend: str, line_no: int,
                 conditional: bool) -> ServerBrief | None:
    """:func:`_plain_server`'s ``disabled`` and ``weight``, nothing else kept."""
    if len(words) < 2:
        return None
    weight: str | None = None
    disabled = base[2]
    for key, value in _plain_pairs(words, 3):
        if key == "weight":
            weight = value  # (a flag: the weight inherited)
        elif value is None and key == "disabled":
            disabled = True
        elif value is None and key in _ENABLING:
            disabled = False
    weight_text = weight if weight is not None else base[0]
    return ServerBrief(bool(disabled), 1 if weight_text is None else _int(weight_text),
                       False, conditional)


def _full_server(name: str, info: dict[str, Any]) -> ServerInfo:
    return ServerInfo(name=name, **info)


def _full_brief(name: str, info: dict[str, Any]) -> ServerBrief:
    return ServerBrief(bool(info["disabled"]), info["weight"], bool(info.get("template")),
                       info["conditional"])


def _server_lines(cfg: ConfigFile, make: Any, full: Any) -> dict[tuple[str, str], Any]:
    """The walk of :func:`server_lines`: *make* makes the server of a plain ``server``
    line (as :func:`_plain_server`), *full* that of any other (name, ServerInfo's other
    fields)."""
    out: dict[tuple[str, str], Any] = {}
    lines = cfg.lines
    states = cfg.line_states()
    plain = cfg.plain
    server_keywords = SERVER_LINE_KEYWORDS
    # the default-server lines of each chain of defaults sections, read once (every
    # backend of a big file usually has the same chain), and what they resolve to
    chains: dict[tuple[tuple[int, int], ...], tuple[list[ServerLine], bool, _Resolved]] = {}
    for section in cfg.backends():
        if not section.name or states[section.start] is False:
            continue
        defaults = _defaults_chain(cfg, section)
        which = tuple((id(owner), sec.start) for owner, sec in defaults)
        if which not in chains:
            chain_lines, chain_undecided = _chain_lines(defaults)
            chains[which] = (chain_lines, chain_undecided, _resolved(chain_lines))
        inherited, undecided, resolved = chains[which]
        uncertain = undecided or states[section.start] is None
        base: _Resolved | None = resolved
        backend = section.name
        for i in range(section.start + 1, section.end):
            line = lines[i]
            # a line without quotes or escapes (nearly every line of a big file) is split
            # once, its keyword and its words, and a plain server line is read from those
            # (a file without any such line: each split by str.split(), the same words)
            words = plain_split(line.text) if plain else plain_words(line.text)
            keyword = line.keyword if words is None else words[0] if words else None
            if keyword not in server_keywords:
                continue
            state = states[i]
            if state is False:
                continue
            if keyword == "server" and words is not None:
                if base is None:
                    base = _resolved(inherited)
                server = make(words, base, backend, i + 1, state is None or uncertain)
                if server is not None and (backend, words[1]) not in out:
                    out[(backend, words[1])] = server
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
                backend=backend, line_no=i + 1, address=parsed.address, port=parsed.port,
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
                if (backend, name) not in out:
                    out[(backend, name)] = full(name, info)
    return out
