"""Structured edits of keyword lines and sections.

``set_keyword`` replaces the values of the one line of the section that starts with
the keyword words, or appends a line at the end of the section's body (before the
blank and comment lines that end it), indented like the body. It refuses when
several lines start with those words: HAProxy keeps the last one for single-valued
keywords and all of them for others (``acl``, ``http-request``…), so the edit
cannot know which one is meant; more keyword words pick one (``["option",
"httpchk"]``). ``remove_keyword`` follows the same rule and refuses a keyword that
is absent. ``add_section`` appends the section at the end of the file after one
blank line. Values are written with :func:`quote_word`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from console.haproxy.config.edit import check_editable, check_words, internal_error, listing
from console.haproxy.config.lexer import BLANKS, MAX_WORDS, lex, quote_word
from console.haproxy.config.model import (
    DIRECTIVES,
    SECTION_KEYWORDS,
    UNNAMED_SECTIONS,
    ConfigFile,
    Section,
)
from console.haproxy.config.values import keyword_word
from console.haproxy.errors import ValidationError
from console.haproxy.validate import check_name

_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def find_section(cfg: ConfigFile, type_: str, name: str | None) -> Section:
    if type_ not in SECTION_KEYWORDS:
        raise ValidationError(f"unknown section type {type_!r}",
                              hint=listing("section types", SECTION_KEYWORDS))
    if name is not None:
        check_name(name, f"{type_} name")
    section = cfg.section(type_, name)
    label = f"{type_} {name}" if name else type_
    if section is None:
        names = [s.label for s in cfg.sections if s.type == type_]
        raise ValidationError(f"no {label} section in {cfg.name}",
                              hint=listing(f"{type_} sections", names))
    if section.conditional:
        raise ValidationError(f"section {label} is inside an .if block",
                              where=cfg.where(section.start),
                              hint="edit this part of the file as text")
    return section


def _keyword_words(keyword_words: Sequence[str]) -> list[str]:
    if isinstance(keyword_words, str) or not keyword_words:
        raise ValidationError("the keyword must be a non-empty list of words",
                              hint='e.g. ["timeout", "server"]')
    words = [keyword_word(w) for w in keyword_words]
    if words[0] in SECTION_KEYWORDS or words[0] in DIRECTIVES or words[0].startswith("."):
        raise ValidationError(f"{words[0]!r} starts a section or is a directive",
                              hint="use add_section, or edit the file as text")
    return words


def _keyword_matches(cfg: ConfigFile, section: Section, words: list[str]) -> list[int]:
    n = len(words)
    return [i for i, line in cfg.section_lines(section)
            if line.values[:n] == words and not line.is_directive]


def _one_match(cfg: ConfigFile, section: Section, words: list[str]) -> int | None:
    found = _keyword_matches(cfg, section, words)
    if len(found) > 1:
        raise ValidationError(
            f"{len(found)} lines start with '{' '.join(words)}' in {section.label}",
            where=f"{cfg.name} lines " + ", ".join(str(i + 1) for i in found),
            hint="give more words of the keyword to pick one line, or edit the file as text")
    return found[0] if found else None


def set_keyword(cfg: ConfigFile, section_type: str, section_name: str | None,
                keyword_words: Sequence[str], value_words: Sequence[str]) -> None:
    """Set ``KEYWORD VALUE…`` in a section: replace the values of the line starting with
    the keyword words, or append a new line at the end of the section's body."""
    section = find_section(cfg, section_type, section_name)
    words = _keyword_words(keyword_words)
    if isinstance(value_words, str):
        raise ValidationError("the value must be a list of words", hint='e.g. ["30s"]')
    values = [quote_word(v, f"value of '{' '.join(words)}'") for v in value_words]
    index = _one_match(cfg, section, words)
    if index is not None:
        check_editable(cfg, index, f"'{' '.join(words)}' in {section.label}")
        line = cfg.lines[index]
        n = len(words)
        kw_end = line.words[n - 1].end
        if len(line.words) > n:
            start, end = line.words[n].start, line.words[-1].end
            if not values:
                start = kw_end
            text = line.text[:start] + " ".join(values) + line.text[end:]
        else:
            text = line.text[:kw_end] + "".join(" " + v for v in values) + line.text[kw_end:]
        where = cfg.where(index)
    else:
        after = section.body_end - 1
        if cfg.depth_after(after) > 0:
            raise ValidationError(f"{section.label} ends inside an unclosed .if",
                                  where=cfg.where(after), hint="edit the file as text")
        text = cfg.body_indent(section) + " ".join(words + values)
        where = cfg.where(after + 1)
    check_words(text, where)
    if lex(text).words and [w.value for w in lex(text).words] != [*words, *value_words]:
        raise internal_error("the line does not read back as written", where)
    if index is not None:
        if text != cfg.lines[index].text:
            cfg.replace_line(index, text)
    else:
        cfg.insert_line(after + 1, text, cfg.lines[after].eol or cfg.dominant_eol())


def remove_keyword(cfg: ConfigFile, section_type: str, section_name: str | None,
                   keyword_words: Sequence[str]) -> None:
    section = find_section(cfg, section_type, section_name)
    words = _keyword_words(keyword_words)
    index = _one_match(cfg, section, words)
    if index is None:
        raise ValidationError(f"no '{' '.join(words)}' line in {section.label}",
                              where=cfg.where(section.start))
    check_editable(cfg, index, f"'{' '.join(words)}' in {section.label}")
    cfg.delete_line(index)


def _body_line(text: object, section: str) -> str:
    if not isinstance(text, str):
        raise ValidationError(f"a line of {section} must be text, not {type(text).__name__}")
    bad = _CONTROL_RE.search(text)
    if bad:
        raise ValidationError(f"a line of {section} contains a control character "
                              f"({bad.group()!r})", hint="give one line per list item")
    stripped = text.strip(BLANKS)
    lexed = lex(stripped)
    if lexed.error:
        raise ValidationError(f"HAProxy cannot read the line {stripped!r} of {section}: "
                              f"{lexed.error}")
    if lexed.words:
        first = lexed.words[0].value
        if first in SECTION_KEYWORDS or first.startswith("."):
            raise ValidationError(f"the line {stripped!r} would start a section or a directive",
                                  hint="give only the lines of the section's body")
        if len(lexed.words) > MAX_WORDS:
            raise ValidationError(f"the line {stripped[:40]!r}… has {len(lexed.words)} words",
                                  hint=f"HAProxy reads at most {MAX_WORDS} words a line")
    return stripped


def add_section(cfg: ConfigFile, type_: str, name: str | None,
                body_lines: Sequence[str]) -> None:
    """Append ``TYPE NAME`` and its body at the end of the file, after one blank line."""
    if type_ not in SECTION_KEYWORDS:
        raise ValidationError(f"unknown section type {type_!r}",
                              hint=listing("section types", SECTION_KEYWORDS))
    if type_ in UNNAMED_SECTIONS:
        if name is not None:
            raise ValidationError(f"a {type_} section has no name")
    elif name is None:
        if type_ not in ("defaults", "crt-store"):
            raise ValidationError(f"a {type_} section needs a name")
    else:
        check_name(name, f"{type_} name")
    label = f"{type_} {name}" if name else type_
    proxies = {"frontend", "backend", "listen"}
    clash = [] if name is None else [
        (owner, s) for owner in [cfg, *cfg.others] for s in owner.sections
        if s.name == name and (s.type == type_ or (s.type in proxies and type_ in proxies
                                                   and "listen" in (s.type, type_)))]
    if clash:
        owner, sec = clash[0]
        raise ValidationError(f"{sec.label} already exists", where=owner.where(sec.start),
                              hint="choose another name")
    if isinstance(body_lines, str):
        raise ValidationError("the section's lines must be a list")
    body = [_body_line(t, label) for t in body_lines]
    if cfg.lines and cfg.depth_after(len(cfg.lines) - 1) > 0:
        raise ValidationError(f"{cfg.name} ends inside an unclosed .if",
                              where=cfg.where(len(cfg.lines) - 1),
                              hint="close the block (.endif) first")
    indent = cfg.body_indent()
    eol = cfg.dominant_eol()
    texts: list[str] = []
    if cfg.lines and not cfg.lines[-1].is_blank:
        texts.append("")
    texts.append(label)
    texts += [indent + t if t else "" for t in body]
    for text in texts:
        cfg.insert_line(len(cfg.lines), text, eol)
