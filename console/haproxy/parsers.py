"""Parsers for what HAProxy prints: runtime API, master CLI and ``haproxy -c``.

Pure functions over text; no I/O. Every format was checked against the captured
output of HAProxy 2.6 and 2.8 in ``tests/data/captured/``. Malformed input raises
:class:`ParseError` saying what was expected; when the text is one of HAProxy's
error answers, the message quotes it.

Cut-off input: a final line with fewer fields than the header (an answer truncated
mid-line) is dropped; a short line anywhere else is an error.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from console.haproxy.errors import ParseError
from console.haproxy.lines import split_lf
from console.haproxy.parsers_common import JsonValue, classify_error, json_value
from console.haproxy.parsers_common import fail as _fail
from console.haproxy.parsers_common import nonblank_lines as _lines
from console.haproxy.parsers_master import (
    CheckMessage,
    ProcEntry,
    ProcInfo,
    ReloadAnswer,
    parse_check_output,
    parse_proc,
    parse_reload_answer,
    uptime_seconds,
)

__all__ = [
    "CheckMessage", "MapInfo", "ProcEntry", "ProcInfo", "ReloadAnswer", "ServerStateRow",
    "StatHeader", "TableEntry", "TableInfo", "classify_error", "parse_acl_entries",
    "parse_acl_list", "parse_check_output", "parse_cli_level", "parse_info",
    "parse_map_entries", "parse_map_list", "parse_proc", "parse_reload_answer",
    "parse_servers_state", "parse_stat", "parse_stat_header", "parse_table",
    "parse_table_list", "server_state_json", "short_line_error", "uptime_seconds",
]

# --------------------------------------------------------------------------- show info

def parse_info(text: str) -> dict[str, str]:
    """``show info``: ``Name: value`` lines (names may contain spaces)."""
    info: dict[str, str] = {}
    for n, line in enumerate(split_lf(text), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _fail(f"'show info' line {n} is not 'Name: value'", text if n == 1 else line)
        info[name] = value[1:] if value.startswith(" ") else value
    if not info:
        raise _fail("'show info' answer has no fields", text)
    return info


# --------------------------------------------------------------------------- show stat

@dataclass(frozen=True, slots=True)
class StatHeader:
    """The header line of a ``show stat`` answer."""

    line: str  # as printed, with its "# "
    names: tuple[str, ...]  # every column, the "-" separator included
    drop_sep: bool  # a "-" column separates the module-specific tail

    @property
    def width(self) -> int:
        return len(self.names)


def parse_stat_header(lines: list[str], text: str) -> StatHeader:
    """The header of ``show stat`` (``lines`` is ``split_lf(text)``)."""
    if not lines or not lines[0].startswith("# "):
        raise _fail("'show stat' answer is not HAProxy's CSV", text,
                    "expected a header line starting with '# pxname,'")
    header = lines[0][2:].split(",")
    if header and header[-1] == "":
        header.pop()
    if "pxname" not in header or "svname" not in header:
        raise _fail("'show stat' header has no 'pxname' and 'svname' columns", text)
    return StatHeader(lines[0], tuple(header), "-" in header)


def short_line_error(line: int) -> ParseError:
    return ParseError(f"'show stat' line {line} has fewer fields than the header",
                      "show stat", "the answer is damaged; try again")


def parse_stat(text: str) -> list[dict[str, str]]:
    """``show stat`` CSV (also the stats page's ``;csv``): one dict per row.

    Keys are HAProxy's header names; the ``-`` column that separates the
    module-specific tail (``ssl_sess``, ``h2_*``…) is dropped, the tail is kept.
    Values stay strings exactly as printed (quoted fields unquoted by the csv module).
    """
    lines = split_lf(text)
    head = parse_stat_header(lines, text)
    header, width, drop_sep = head.names, head.width, head.drop_sep
    # Without quotes (and NULs, which the csv module refuses) a line is its fields
    # split on commas: the same result as the csv module, faster.
    plain = '"' not in text and "\0" not in text
    reader = (line.split(",") for line in lines[1:]) if plain else csv.reader(lines[1:])
    rows: list[dict[str, str]] = []
    short: int | None = None  # line number of a row with too few fields
    try:
        for n, row in enumerate(reader, 2):
            if not row or row == [""]:
                continue  # blank line (every answer ends with one)
            if short is not None:  # a short row followed by more rows: not a cut-off
                raise short_line_error(short)
            if len(row) < width:
                short = n  # dropped if it turns out to be the last one
                continue
            d = dict(zip(header, row, strict=False))
            if drop_sep:
                del d["-"]
            rows.append(d)
    except csv.Error as exc:
        raise ParseError("'show stat' CSV is malformed", "show stat", str(exc)) from None
    return rows


# --------------------------------------------------------------------------- servers state

SRV_ADMF_FMAINT = 0x01
SRV_ADMF_IMAINT = 0x02
SRV_ADMF_CMAINT = 0x04
SRV_ADMF_FDRAIN = 0x08
SRV_ADMF_IDRAIN = 0x10
SRV_ADMF_RMAINT = 0x20
SRV_ADMF_HMAINT = 0x40
_MAINT_MASK = (SRV_ADMF_FMAINT | SRV_ADMF_IMAINT | SRV_ADMF_CMAINT | SRV_ADMF_RMAINT
               | SRV_ADMF_HMAINT)


@dataclass(frozen=True, slots=True)
class ServerStateRow:
    """One row of ``show servers state`` (format version 1); ``-`` reads as None."""

    be_id: int
    be_name: str
    srv_id: int
    srv_name: str
    srv_addr: str | None
    srv_op_state: int  # 0 stopped, 1 starting, 2 running, 3 stopping
    srv_admin_state: int  # SRV_ADMF_* bits
    srv_uweight: int
    srv_iweight: int
    srv_time_since_last_change: int
    srv_check_status: int
    srv_check_result: int
    srv_check_health: int
    srv_check_state: int
    srv_agent_state: int
    bk_f_forced_id: int
    srv_f_forced_id: int
    srv_fqdn: str | None
    srv_port: int | None
    srvrecord: str | None
    srv_use_ssl: int | None
    srv_check_port: int | None
    srv_check_addr: str | None
    srv_agent_addr: str | None
    srv_agent_port: int | None
    fields: dict[str, str]  # every column by header name, as printed

    @property
    def in_maint(self) -> bool:
        return bool(self.srv_admin_state & _MAINT_MASK)

    @property
    def draining(self) -> bool:
        return bool(self.srv_admin_state & (SRV_ADMF_FDRAIN | SRV_ADMF_IDRAIN))


_STATE_INT = ("be_id", "srv_id", "srv_op_state", "srv_admin_state", "srv_uweight",
              "srv_iweight", "srv_time_since_last_change", "srv_check_status",
              "srv_check_result", "srv_check_health", "srv_check_state", "srv_agent_state",
              "bk_f_forced_id", "srv_f_forced_id")
_STATE_OPT_INT = ("srv_port", "srv_use_ssl", "srv_check_port", "srv_agent_port")
_STATE_STR = ("be_name", "srv_name")
_STATE_OPT_STR = ("srv_addr", "srv_fqdn", "srvrecord", "srv_check_addr", "srv_agent_addr")


def parse_servers_state(text: str, *, keep_fields: bool = True) -> list[ServerStateRow]:
    """``show servers state [backend]``: version line ``1``, ``#`` header, rows.

    ``keep_fields=False``: each row's ``fields`` is empty (a reader of the typed
    columns only: 10,000 servers then take some 3 MB rather than 15)."""
    lines = _lines(text)
    if not lines:
        raise _fail("'show servers state' answer is empty", text)
    if lines[0].strip() != "1":
        raise _fail("'show servers state' format version is not 1", text,
                    "only format 1 (HAProxy 1.6 to 3.x) is understood")
    if len(lines) < 2 or not lines[1].startswith("# "):
        raise _fail("'show servers state' has no '#' header line", text)
    header = lines[1][2:].split()
    missing = [h for h in _STATE_INT + _STATE_STR if h not in header]
    if missing:
        raise ParseError("'show servers state' header lacks " + ", ".join(missing),
                         "show servers state")
    body = lines[2:]
    rows: list[ServerStateRow] = []
    at = {name: i for i, name in enumerate(header)}  # the last of a repeated name wins
    for n, line in enumerate(body, 3):
        values = line.split()
        if len(values) < len(header):
            if n == len(body) + 2 and not text.endswith("\n"):
                break
            raise ParseError(f"'show servers state' line {n} has {len(values)} fields, "
                             f"the header {len(header)}", "show servers state")
        kw: dict[str, object] = {
            "fields": dict(zip(header, values, strict=False)) if keep_fields else {}}
        try:
            for k in _STATE_INT:
                kw[k] = int(values[at[k]])
            for k in _STATE_OPT_INT:
                v = values[at[k]] if k in at else "-"
                kw[k] = None if v == "-" else int(v)
        except ValueError:
            raise ParseError(f"'show servers state' line {n}: {k} is not a number",
                             "show servers state",
                             f"got {values[at[k]] if k in at else None!r}") from None
        for k in _STATE_STR:
            kw[k] = values[at[k]]
        for k in _STATE_OPT_STR:
            v = values[at[k]] if k in at else "-"
            kw[k] = None if v == "-" else v
        rows.append(ServerStateRow(**kw))  # type: ignore[arg-type]
    return rows


def server_state_json(row: ServerStateRow) -> dict[str, JsonValue]:
    """Every column of a ``show servers state`` row, typed: names and addresses as
    text, the numeric columns as ints, ``-`` as None."""
    text = set(_STATE_STR + _STATE_OPT_STR)
    return {k: json_value(v, k in text) for k, v in row.fields.items()}


# --------------------------------------------------------------------------- cli level

def parse_cli_level(text: str) -> str:
    """``show cli level``: exactly ``admin``, ``operator`` or ``user``."""
    level = text.strip()
    if level not in ("admin", "operator", "user"):
        raise _fail("'show cli level' did not answer admin, operator or user", text)
    return level


# --------------------------------------------------------------------------- tables

@dataclass(frozen=True, slots=True)
class TableInfo:
    name: str
    type: str  # ip, ipv6, integer, string, binary
    size: int
    used: int


@dataclass(frozen=True, slots=True)
class TableEntry:
    ptr: str
    key: str  # unescaped (HAProxy prints ' ', '=', '\\' escaped and bytes as \xHH)
    use: int
    exp: int | None  # milliseconds until expiry
    data: dict[str, str]  # stored data by HAProxy's name, e.g. "http_req_rate(10000)"
    shard: int | None = None  # 2.8+ only


_TABLE_HEAD = re.compile(r"^# table: (\S+), type: (\S+), size:([0-9]+), used:([0-9]+)")
_ENTRY_HEAD = re.compile(r"^(0x[0-9a-fA-F]+): ")
_UNESCAPED_SPACE = re.compile(r"(?<!\\)(?:\\\\)* ")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\(.)")


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    raw = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        raw += text[pos:m.start()].encode()
        raw += bytes([int(m[1], 16)]) if m[1] else m[2].encode()
        pos = m.end()
    raw += text[pos:].encode()
    return raw.decode("utf-8", errors="surrogateescape")


def _split_words(text: str) -> list[str]:
    """Split on spaces not escaped by a backslash."""
    words, start = [], 0
    for m in _UNESCAPED_SPACE.finditer(text):
        words.append(text[start:m.end() - 1])
        start = m.end()
    words.append(text[start:])
    return [w for w in words if w]


def _table_info(line: str) -> TableInfo:
    m = _TABLE_HEAD.match(line)
    if not m:
        raise _fail("'show table' line is not '# table: NAME, type: T, size:N, used:N'", line)
    return TableInfo(m[1], m[2], int(m[3]), int(m[4]))


def parse_table_list(text: str) -> list[TableInfo]:
    """``show table``: one ``# table: NAME, type: T, size:N, used:N`` line per table."""
    return [_table_info(line) for line in _lines(text)]


def parse_table(text: str) -> tuple[TableInfo, list[TableEntry]]:
    """``show table NAME``: its header line, then one line per entry."""
    lines = _lines(text)
    if not lines:
        raise _fail("'show table NAME' answer is empty", text)
    info = _table_info(lines[0])
    entries: list[TableEntry] = []
    for line in lines[1:]:
        m = _ENTRY_HEAD.match(line)
        if not m:
            raise _fail(f"'show table {info.name}' entry not understood", line)
        values: dict[str, str] = {}
        for word in _split_words(line[m.end():]):
            k, sep, v = word.partition("=")
            if not sep:
                raise _fail(f"'show table {info.name}' entry has a word without '='", line)
            values[k] = v
        try:
            key = _unescape(values.pop("key"))
            use = int(values.pop("use", "0"))
            exp = int(values.pop("exp")) if "exp" in values else None
            shard = int(values.pop("shard")) if "shard" in values else None
        except (KeyError, ValueError):
            raise _fail(f"'show table {info.name}' entry lacks key/use/exp", line) from None
        entries.append(TableEntry(m[1], key, use, exp, values, shard))
    return info, entries


# --------------------------------------------------------------------------- maps and acls

@dataclass(frozen=True, slots=True)
class MapInfo:
    id: int
    name: str  # the file name; empty for an acl written inline in the config
    description: str
    entry_count: int | None = None  # entry_cnt=, when printed


_MAP_ROW = re.compile(r"^(-?[0-9]+) \((.*?)\) ?(.*)$")
_ENTRY_CNT = re.compile(r"\bentry_cnt=([0-9]+)")
_PATTERN_ROW = re.compile(r"^(0x[0-9a-fA-F]+) (.*)$")


def parse_map_list(text: str) -> list[MapInfo]:
    """``show map`` or ``show acl``: ``# id (file) description`` then one line each."""
    lines = _lines(text)
    if not lines or not lines[0].startswith("# id"):
        raise _fail("'show map'/'show acl' answer has no '# id (file) description' header",
                    text)
    out: list[MapInfo] = []
    for line in lines[1:]:
        m = _MAP_ROW.match(line)
        if not m:
            raise _fail("'show map'/'show acl' line not understood", line)
        cnt = _ENTRY_CNT.search(m[3])
        out.append(MapInfo(int(m[1]), m[2], m[3], int(cnt[1]) if cnt else None))
    return out


parse_acl_list = parse_map_list


def _pattern_rows(text: str, what: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for line in _lines(text):
        m = _PATTERN_ROW.match(line)
        if not m:
            raise _fail(f"'{what}' entry not understood", text if not out else line)
        out.append((m[1], m[2]))
    return out


def parse_map_entries(text: str) -> list[tuple[str, str, str]]:
    """``show map #ID|FILE``: ``(ref, key, value)``; the value is the rest of the line."""
    out = []
    for ref, rest in _pattern_rows(text, "show map"):
        key, _, value = rest.partition(" ")
        out.append((ref, key, value))
    return out


def parse_acl_entries(text: str) -> list[tuple[str, str]]:
    """``show acl #ID|FILE``: ``(ref, pattern)``."""
    return _pattern_rows(text, "show acl")

