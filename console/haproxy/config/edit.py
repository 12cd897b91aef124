"""Structured edits that change only the lines they must.

Every edit keeps the other lines byte for byte; on the line it changes it keeps
the indentation, the spacing between untouched words, the trailing comment and
the line ending. New lines copy the indentation of their siblings and the line
ending of the line they follow.

Refusals (a :class:`ValidationError`, nothing changed):

- the target line, or the section, is inside an ``.if`` block: which branch HAProxy
  reads depends on its environment and version, so such lines are only edited as text;
- ``set_keyword``/``remove_keyword`` when several lines of the section start with
  the keyword (HAProxy keeps the last one for single-valued keywords and all of
  them for others: the edit cannot know which is meant);
- a server made by a ``server-template`` line, a duplicate server name, a server
  still named by ``track`` or ``use-server``;
- values that cannot be written as one word (see :mod:`.values`).

Flags: setting a flag to true adds its word and drops its opposite (``disabled`` ↔
``enabled``, ``check`` ↔ ``no-check``, ``backup`` ↔ ``no-backup``…); setting it to
false drops the word, and adds the opposite only when a ``default-server`` line
would otherwise turn it back on. ``enabled: x`` means ``disabled: not x``,
``no-check: x`` means ``check: not x`` and so on. The key ``addr`` means the
server's address word, not the health-check ``addr`` parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from console.haproxy.config.grammar import (
    FLAG_OPPOSITES,
    NEGATIVE_FLAGS,
    SERVER_FLAG_KEYWORDS,
    SERVER_VALUE_KEYWORDS,
    ServerLine,
    base_keyword,
    parse_server_line,
    template_names,
)
from console.haproxy.config.lexer import MAX_WORDS, lex
from console.haproxy.config.model import (
    ConfigFile,
    Line,
    Section,
)
from console.haproxy.config.servers import inherited_lines, resolve_flag
from console.haproxy.config.values import check_address, server_value
from console.haproxy.errors import ValidationError
from console.haproxy.validate import check_name


def listing(what: str, names: Sequence[str]) -> str:
    if not names:
        return f"there are no {what}"
    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    return f"{what}: {shown}"


def check_editable(cfg: ConfigFile, index: int, what: str, *, rewrite: bool = True) -> None:
    """Refuse to change line *index* when an edit could not be made safely.

    *rewrite*: the line's text is changed (not only deleted).
    """
    if cfg.depth(index) > 0:
        raise ValidationError(f"{what} is inside an .if block", where=cfg.where(index),
                              hint="which branch HAProxy reads depends on its environment; "
                                   "edit this part of the file as text")
    if cfg.lines[index].error:
        raise ValidationError(f"{what}: HAProxy cannot read this line ({cfg.lines[index].error})",
                              where=cfg.where(index), hint="fix the line as text first")
    if rewrite and ends_with_backslash(cfg.lines[index]):
        raise ValidationError(f"{what}: the line ends with a backslash",
                              where=cfg.where(index),
                              hint="HAProxy has no line continuation: it reads the '\\' as part "
                                   "of the last word. Remove it (edit the file as text), then "
                                   "make this change")


def ends_with_backslash(line: Line) -> bool:
    """True when the line's last word ends with a backslash that escapes nothing."""
    if not line.words or line.words[-1].end != len(line.text):
        return False
    raw = line.words[-1].raw
    return (len(raw) - len(raw.rstrip("\\"))) % 2 == 1


def check_words(text: str, where: str) -> None:
    count = len(lex(text).words)
    if count > MAX_WORDS:
        raise ValidationError(f"the line would have {count} words", where=where,
                              hint=f"HAProxy reads at most {MAX_WORDS} words a line")


def internal_error(what: str, where: str) -> ValidationError:
    return ValidationError(f"internal check failed: {what}", where=where,
                           hint="nothing was changed; please report this")


# -- finding things -------------------------------------------------------------------------

def find_backend(cfg: ConfigFile, backend: str) -> Section:
    check_name(backend, "backend name")
    section = cfg.proxy(backend)
    if section is None:
        names = [s.name for s in cfg.backends() if s.name]
        raise ValidationError(f"no backend {backend} in {cfg.name}",
                              hint=listing("backends", names))
    if section.conditional:
        raise ValidationError(f"backend {backend} is inside an .if block",
                              where=cfg.where(section.start),
                              hint="edit this part of the file as text")
    return section


def _server_names(cfg: ConfigFile, section: Section) -> dict[str, list[tuple[int, bool]]]:
    """Server name → [(line index, from a template)] in *section*."""
    names: dict[str, list[tuple[int, bool]]] = {}
    for i, line in cfg.section_lines(section):
        if line.keyword not in ("server", "server-template"):
            continue
        parsed = parse_server_line(line)
        if parsed is None or not parsed.name:
            continue
        if parsed.kind == "server":
            names.setdefault(parsed.name, []).append((i, False))
        else:
            for name in template_names(parsed.name, parsed.count or ""):
                names.setdefault(name, []).append((i, True))
    return names


def find_server(cfg: ConfigFile, backend: str, server: str) -> tuple[Section, int, ServerLine]:
    """The section, line index and parsed line of ``server SERVER`` in *backend*."""
    check_name(server, "server name")
    section = find_backend(cfg, backend)
    names = _server_names(cfg, section)
    found = names.get(server, [])
    if not found:
        raise ValidationError(f"no server {backend}/{server} in {cfg.name}",
                              where=cfg.where(section.start),
                              hint=listing(f"servers in {backend}", list(names)))
    if len(found) > 1:
        where = f"{cfg.name} lines " + ", ".join(str(i + 1) for i, _ in found)
        raise ValidationError(f"server {backend}/{server} is declared {len(found)} times",
                              where=where, hint="edit the file as text")
    index, from_template = found[0]
    if from_template:
        raise ValidationError(f"server {backend}/{server} comes from a server-template line",
                              where=cfg.where(index),
                              hint="its settings are the template's; edit that line as text")
    parsed = parse_server_line(cfg.lines[index])
    assert parsed is not None
    return section, index, parsed


# -- word-level changes on one line ---------------------------------------------------------

def _append_words(line: Line, words: Sequence[str]) -> Line:
    """Add *words* after the last word (before the comment).

    If the line ends with a value keyword missing its value (HAProxy would take
    the next word as that value), they go right after the address instead.
    """
    end = line.words[-1].end if line.words else len(line.indent)
    parsed = parse_server_line(line)
    if parsed and parsed.params and parsed.addr_index is not None:
        last = parsed.params[-1]
        if last.value_index is None and base_keyword(last.key) in SERVER_VALUE_KEYWORDS:
            end = line.words[parsed.addr_index].end
    return line.with_text(line.text[:end] + "".join(" " + w for w in words) + line.text[end:])


def _remove_words(line: Line, indexes: Sequence[int]) -> Line:
    """Remove words (never the first) with the blanks before each."""
    text = line.text
    for k in sorted(indexes, reverse=True):
        text = text[:line.words[k - 1].end] + text[line.words[k].end:]
    return line.with_text(text)


def _canonical_flag(key: str, value: object) -> tuple[str, bool]:
    if not isinstance(value, bool):
        raise ValidationError(f"server flag {key!r} takes true or false, not {value!r}")
    if key in NEGATIVE_FLAGS:
        return FLAG_OPPOSITES[key], not value
    return key, value


def _set_flag(line: Line, key: str, on: bool, inherited: list[ServerLine], where: str) -> Line:
    parsed = parse_server_line(line)
    assert parsed is not None
    if resolve_flag([*inherited, parsed], key) == on:
        return line
    opposite = FLAG_OPPOSITES.get(key)
    drop = [p.key_index for p in parsed.params if p.is_flag and p.key in (key, opposite)]
    line = _remove_words(line, drop)
    if resolve_flag(inherited, key) != on:
        word = key if on else opposite
        if word is None:
            raise ValidationError(f"cannot turn {key!r} off: a default-server line sets it",
                                  where=where, hint=f"HAProxy has no 'no-{key}' keyword; "
                                  "change the default-server line as text")
        line = _append_words(line, [word])
    return line


def _set_value(line: Line, key: str, raw: str) -> Line:
    parsed = parse_server_line(line)
    assert parsed is not None
    found = [p for p in parsed.params if p.key == key]
    if not found:
        return _append_words(line, [key, raw])
    text = line.text
    for p in reversed(found):
        if p.value_index is None:
            end = line.words[p.key_index].end
            text = text[:end] + " " + raw + text[end:]
        else:
            w = line.words[p.value_index]
            text = text[:w.start] + raw + text[w.end:]
    return line.with_text(text)


def _read_back(raw: str) -> str:
    """What HAProxy reads from the word *raw*."""
    return lex(raw).words[0].value


def set_server_options(cfg: ConfigFile, backend: str, server: str,
                       changes: Mapping[str, object]) -> None:
    """Apply several settings to one server line (all or nothing)."""
    if not isinstance(changes, Mapping) or not changes:
        raise ValidationError(f"nothing to set on server {backend}/{server}")
    section, index, _ = find_server(cfg, backend, server)
    where = cfg.where(index)
    check_editable(cfg, index, f"server {backend}/{server}")
    flag_keys = [k for k in changes if isinstance(k, str) and k != "addr"
                 and base_keyword(k) in SERVER_FLAG_KEYWORDS]
    # only flags depend on default-server lines (a value on the line wins over them)
    inherited = inherited_lines(cfg, section, index) if flag_keys else []
    line = cfg.lines[index]
    flags: dict[str, bool] = {}
    values: dict[str, str] = {}
    for key, value in changes.items():
        if not isinstance(key, str):
            raise ValidationError(f"invalid server setting {key!r}")
        if key == "addr":
            addr = check_address(value, "server address")  # type: ignore[arg-type]
            parsed = parse_server_line(line)
            assert parsed is not None
            if parsed.addr_index is None:
                raise ValidationError(f"server {backend}/{server} has no address word",
                                      where=where, hint="fix the line as text")
            w = line.words[parsed.addr_index]
            line = line.with_text(line.text[:w.start] + addr + line.text[w.end:])
            values["addr"] = addr
        elif base_keyword(key) in SERVER_FLAG_KEYWORDS:
            flag, on = _canonical_flag(key, value)
            line = _set_flag(line, flag, on, inherited, where)
            flags[flag] = on
        else:
            raw = server_value(key, value)
            line = _set_value(line, key, raw)
            values[key] = _read_back(raw)
    after = parse_server_line(line)
    if after is None or after.kind != "server" or after.name != server:
        raise internal_error("the edited line is no longer this server", where)
    for flag, on in flags.items():
        if resolve_flag([*inherited, after], flag) != on:
            raise internal_error(f"{flag} did not become {on}", where)
    for key, value in values.items():
        got = after.addr.text if key == "addr" and after.addr else after.options.get(key)
        if got != value:
            raise internal_error(f"{key} reads back as {got!r}, not {value!r}", where)
    check_words(line.text, where)
    if line.text != cfg.lines[index].text:
        cfg.replace_line(index, line.text)


def set_server_option(cfg: ConfigFile, backend: str, server: str, key: str,
                      value: object) -> None:
    set_server_options(cfg, backend, server, {key: value})


def add_server(cfg: ConfigFile, backend: str, name: str, addr: str,
               params: Mapping[str, object] | None = None) -> int:
    """Add ``server NAME ADDR params`` after the backend's last server line.

    Returns the new line's index (0-based).
    """
    section = find_backend(cfg, backend)
    check_name(name, "server name")
    names = _server_names(cfg, section)
    if name in names:
        raise ValidationError(f"server {backend}/{name} already exists",
                              where=cfg.where(names[name][0][0]),
                              hint="choose another name, or change the existing server")
    check_address(addr, "server address")
    server_idx = [i for i, line in cfg.section_lines(section)
                  if line.keyword in ("server", "server-template")]
    if server_idx:
        after = server_idx[-1]
        indent = cfg.lines[after].indent
        if cfg.depth(after) > 0:
            end = cfg.outer_block_end(after)
            if end is None or end >= section.end:
                raise ValidationError(f"the servers of {backend} end inside an unclosed .if",
                                      where=cfg.where(after), hint="edit the file as text")
            after = end
    else:
        after = section.body_end - 1
        indent = cfg.body_indent(section)
        if cfg.depth_after(after) > 0:
            raise ValidationError(f"backend {backend} ends inside an unclosed .if",
                                  where=cfg.where(after), hint="edit the file as text")
    at = after + 1
    flagged = any(base_keyword(k) in SERVER_FLAG_KEYWORDS for k in (params or {}))
    inherited = inherited_lines(cfg, section, at) if flagged else []
    words = ["server", name, addr]
    flags: dict[str, bool] = {}
    for key, value in (params or {}).items():
        if key == "addr":
            raise ValidationError("give the server's address as addr, not in params",
                                  hint="the health-check 'addr' option is not supported here")
        if base_keyword(key) in SERVER_FLAG_KEYWORDS:
            flag, on = _canonical_flag(key, value)
            flags[flag] = on
            if resolve_flag(inherited, flag) != on:
                word = flag if on else FLAG_OPPOSITES.get(flag)
                if word is None:
                    raise ValidationError(f"cannot turn {flag!r} off: a default-server line "
                                          "sets it", where=cfg.where(section.start))
                words.append(word)
        else:
            words += [key, server_value(key, value)]
    text = indent + " ".join(words)
    where = cfg.where(at)
    check_words(text, where)
    parsed = parse_server_line(Line.make(text, ""))
    if parsed is None or parsed.name != name or parsed.addr is None or parsed.addr.text != addr:
        raise internal_error("the new line does not read back as this server", where)
    for flag, on in flags.items():
        if resolve_flag([*inherited, parsed], flag) != on:
            raise internal_error(f"{flag} did not become {on}", where)
    cfg.insert_line(at, text, cfg.lines[after].eol or cfg.dominant_eol())
    return at


def _references(cfg: ConfigFile, section: Section, server: str) -> list[str]:
    """Where *server* of *section* is named by ``track`` or ``use-server``: in this file,
    and (``track BACKEND/SERVER``) in the other files of the set."""
    refs: list[str] = []
    targets = {server, f"{section.name}/{server}"}
    for owner in [cfg, *cfg.others]:
        for i, line in enumerate(owner.lines):
            if not _may_reference(line.text):
                continue
            if line.keyword not in ("use-server", "server", "default-server",
                                    "server-template") or owner.line_state(i) is False:
                continue
            own = owner is cfg and section.start < i < section.end
            if line.keyword == "use-server":
                values = line.values
                if own and len(values) > 1 and values[1] == server:
                    refs.append(owner.where(i))
                continue
            if "track" not in line.text:  # no track parameter (most lines): not parsed
                continue
            parsed = parse_server_line(line)
            track = parsed.param("track") if parsed else None
            if track is None or track.value is None:
                continue
            if track.value in targets and (own or "/" in track.value):
                refs.append(owner.where(i))
    return refs


def _may_reference(text: str) -> bool:
    """False for a line that can name no server: neither ``use-server`` nor ``track`` in
    its text, and no quote or backslash that could spell them otherwise (a big file's
    lines are not split into words for nothing)."""
    return ("track" in text or "use-server" in text or "\\" in text or '"' in text
            or "'" in text)


def remove_server(cfg: ConfigFile, backend: str, name: str) -> None:
    section, index, _ = find_server(cfg, backend, name)
    check_editable(cfg, index, f"server {backend}/{name}", rewrite=False)
    refs = _references(cfg, section, name)
    if refs:
        raise ValidationError(f"server {backend}/{name} is still used",
                              where=", ".join(refs),
                              hint="remove or change the 'track'/'use-server' lines first")
    cfg.delete_line(index)
