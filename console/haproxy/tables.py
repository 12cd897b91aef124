"""Stick tables, maps and ACLs at runtime: read them, change entries, plan and undo.

Reading: :func:`list_tables`, :func:`show_table` (filtered by ``key K`` or
``data.X op V``), :func:`list_maps`, :func:`map_entries`, :func:`acl_entries`.

Changing: each change is a :class:`~console.haproxy.plans.Plan` like any other
action (exact commands, impact, undo) and is sent and journaled by
:func:`~console.haproxy.actions.execute`. Every kind here (:data:`TABLE_KINDS`) is
allowed at level operator up to HAProxy 3.3 (3.4 asks admin for maps and ACLs, which
:func:`~console.haproxy.actions.required_level` says for a known version). Map and ACL
changes live in memory only: the files are never written, so a reload or restart
brings the file's content back.

A map or ACL is named by ``#ID`` or by its file path as ``show map`` prints it. Keys,
values and patterns are escaped for the CLI (``\\`` before ``;``, blank and ``\\``);
control characters are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from console.haproxy.errors import NoSuchObject, ValidationError
from console.haproxy.parsers import (
    MapInfo,
    TableEntry,
    TableInfo,
    parse_acl_entries,
    parse_map_entries,
    parse_map_list,
    parse_table,
    parse_table_list,
)
from console.haproxy.plans import Plan
from console.haproxy.validate import Command, build_command, check_int, check_name, check_text

TABLE_KINDS = frozenset({"table_clear_key", "table_clear", "map_add", "map_set", "map_del",
                         "acl_add", "acl_del"})
LEVEL = "operator"  # what a table change needs when the version is not known

TEMPORARY_MAP = "temporary: the map file is not changed"
TEMPORARY_ACL = "temporary: the acl file is not changed"
RUNTIME_ONLY_MAP = "runtime only — lost at reload or restart (the file is not changed)"
RUNTIME_ONLY_TABLE = "runtime only — the table is rebuilt from traffic after a reload"

_REF_ID = re.compile(r"#[0-9]{1,9}")
_BAD_PATH = re.compile(r"[\s\x00-\x1f\x7f;\\]")
_DATA_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
OPERATORS = ("eq", "ne", "lt", "gt", "le", "ge")


def check_map_ref(ref: str, kind: str = "map") -> str:
    """``#ID`` or a file path: ``/`` and ``.`` are fine; no blanks, control chars, ``;``."""
    text = str(ref)
    if not text:
        raise ValidationError(f"empty {kind} name", hint=f"give #ID or the {kind} file path")
    if text.startswith("#"):
        if not _REF_ID.fullmatch(text):
            raise ValidationError(f"invalid {kind} id {text[:40]!r}",
                                  hint=f"write #ID with digits only, as 'show {kind}' lists")
        return text
    check_text(text, f"{kind} file")
    if _BAD_PATH.search(text) or len(text) > 4096:
        raise ValidationError(f"invalid {kind} file {text[:60]!r}",
                              hint="a path without blanks, control characters, ';' or '\\'")
    return text


def check_data_filter(spec: str) -> tuple[str, str, str]:
    """``data.X op V`` (``op``: eq ne lt gt le ge; V a whole number)."""
    words = str(spec).split()
    if len(words) != 3 or not words[0].startswith("data."):
        raise ValidationError(f"invalid table filter {str(spec)[:60]!r}",
                              hint="write it as 'data.NAME OP VALUE', e.g. "
                                   "'data.http_req_rate gt 10'")
    name, op, value = words[0][5:], words[1].lower(), words[2]
    if not _DATA_NAME.fullmatch(name):
        raise ValidationError(f"invalid data type {name[:40]!r}",
                              hint="a stick table data type such as gpc0 or http_req_rate")
    if op not in OPERATORS:
        raise ValidationError(f"invalid operator {op[:20]!r}", hint="one of " + ", ".join(
            OPERATORS))
    number = check_int(value, "filter value", 0, 2**63 - 1)
    return f"data.{name}", op, str(number)


def _key(value: str, kind: str = "key") -> str:
    """A key, value or pattern as given (checked; :func:`build_command` escapes it)."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"empty {kind}", hint=f"give a {kind}")
    return check_text(value, kind)


def _no_such(kind: str, ref: str) -> NoSuchObject:
    return NoSuchObject(f"no such {kind} {ref}", hint=f"list them with: haconsole {kind} list")


# --------------------------------------------------------------------------- reading

async def list_tables(client: Any) -> list[TableInfo]:
    return parse_table_list(await client.run("show table"))


async def show_table(client: Any, name: str, *, key: str | None = None,
                     data: str | None = None) -> tuple[TableInfo, list[TableEntry]]:
    words = ["show", "table", check_name(name, "table name")]
    if key is not None:
        words += ["key", _key(key, "table key")]
    elif data is not None:
        words += list(check_data_filter(data))
    try:
        text = await client.run(build_command(*words))
    except NoSuchObject:
        raise _no_such("table", name) from None
    if not text.strip():  # `key K` with no such entry prints nothing, not even the header
        info = next((t for t in await list_tables(client) if t.name == name), None)
        if info is None:
            raise _no_such("table", name)
        return info, []
    return parse_table(text)


async def list_maps(client: Any, kind: str = "map") -> list[MapInfo]:
    return parse_map_list(await client.run(f"show {'acl' if kind == 'acl' else 'map'}"))


async def _entries_text(client: Any, kind: str, ref: str) -> str:
    try:
        return await client.run(build_command("show", kind, check_map_ref(ref, kind)))
    except NoSuchObject:
        raise _no_such(kind, ref) from None


async def map_entries(client: Any, ref: str, contains: str | None = None
                      ) -> list[tuple[str, str, str]]:
    """``(ref, key, value)``; with *contains*, only entries whose key or value has it."""
    rows = parse_map_entries(await _entries_text(client, "map", ref))
    if contains:
        rows = [r for r in rows if contains in r[1] or contains in r[2]]
    return rows


async def acl_entries(client: Any, ref: str, contains: str | None = None
                      ) -> list[tuple[str, str]]:
    rows = parse_acl_entries(await _entries_text(client, "acl", ref))
    if contains:
        rows = [r for r in rows if contains in r[1]]
    return rows


# --------------------------------------------------------------------------- planning

def _plan(kind: str, summary: str, commands: Sequence[str], impact: list[str], before: Any,
          undo: Sequence[str], label: str, scope: tuple[str, ...], note: str, *,
          dangerous: bool = False, no_undo: str | None = None) -> Plan:
    return Plan(kind, summary, list(commands), impact, dangerous,
                label if dangerous else None, LEVEL, {label: before}, list(undo), note,
                [label] * len(commands), {label: scope}, [no_undo] if no_undo else [],
                [label] * len(undo))


def _undo(undo: list[Command], no_undo: list[str], *words: str) -> None:
    """Add the undo command, or say why a value HAProxy holds cannot be sent back."""
    try:
        undo.append(build_command(*words))
    except ValidationError as exc:
        no_undo.append(f"the value before cannot be sent back: {exc}")


def plan_map_change(kind: str, ref: str, key: str, value: str | None,
                    entries: Sequence[tuple[str, str, str]]) -> Plan:
    """``map_add`` / ``map_set`` / ``map_del`` of *key*; *entries* as the map is now."""
    ref = check_map_ref(ref, "map")
    k = _key(key, "map key")
    if kind not in ("map_add", "map_set", "map_del"):
        raise ValidationError(f"unknown map action {kind!r}")
    v = _key(value or "", "map value") if kind != "map_del" else ""
    old = [e[2] for e in entries if e[1] == key]
    label = f"{ref} {key}"
    before = {"key": key, "values": old}
    impact: list[str] = []
    undo: list[Command] = []
    no_undo: list[str] = []
    if kind == "map_add":
        commands = [build_command("add", "map", ref, k, v)]
        if old:
            impact.append(f"{key} is already in the map (→ {', '.join(old)}): a second entry "
                          "is added and lookups may keep returning the first; 'map set' "
                          "changes it instead")
            _undo(undo, no_undo, "del", "map", ref, k)
            for o in old:
                _undo(undo, no_undo, "add", "map", ref, k, o)
        else:
            impact.append(f"{key} → {value} is added")
            _undo(undo, no_undo, "del", "map", ref, k)
    elif kind == "map_set":
        if not old:
            raise NoSuchObject(f"no key {key} in map {ref}",
                               hint="'map add' adds a new key; 'map show' lists them")
        commands = [build_command("set", "map", ref, k, v)]
        impact.append(f"{key}: {', '.join(old)} → {value}")
        if len(set(old)) > 1:
            impact.append(f"{key} has {len(old)} entries with different values: all get "
                          f"{value}; undo gives them all {old[0]}")
        _undo(undo, no_undo, "set", "map", ref, k, old[0])
    else:
        if not old:
            raise NoSuchObject(f"no key {key} in map {ref}", hint="'map show' lists them")
        commands = [build_command("del", "map", ref, k)]
        impact.append(f"{key} (→ {', '.join(old)}) is removed: lookups of it get the "
                      "default value")
        for o in old:
            _undo(undo, no_undo, "add", "map", ref, k, o)
    impact.append(TEMPORARY_MAP)
    verb = {"map_add": "add", "map_set": "set", "map_del": "delete"}[kind]
    if no_undo:
        undo = []  # half an undo would leave the map in a third state
    return _plan(kind, f"{verb} {key} in map {ref}", commands, impact, before, undo, label,
                 ("map", ref, key), RUNTIME_ONLY_MAP, no_undo=no_undo[0] if no_undo else None)


def plan_acl_change(kind: str, ref: str, pattern: str,
                    entries: Sequence[tuple[str, str]]) -> Plan:
    """``acl_add`` / ``acl_del`` of *pattern*; *entries* as the ACL is now."""
    ref = check_map_ref(ref, "acl")
    pat = _key(pattern, "acl pattern")
    if kind not in ("acl_add", "acl_del"):
        raise ValidationError(f"unknown acl action {kind!r}")
    present = sum(1 for e in entries if e[1] == pattern)
    label = f"{ref} {pattern}"
    impact: list[str] = []
    if kind == "acl_add":
        commands = [build_command("add", "acl", ref, pat)]
        impact.append(f"{pattern} is already in the acl: a second copy is added" if present
                      else f"{pattern} is added to the acl")
        undo = [build_command("del", "acl", ref, pat)] if not present else []
    else:
        if not present:
            raise NoSuchObject(f"no pattern {pattern} in acl {ref}", hint="'acl show' lists them")
        commands = [build_command("del", "acl", ref, pat)]
        impact.append(f"{pattern} is removed from the acl")
        undo = [build_command("add", "acl", ref, pat)]
    impact.append(TEMPORARY_ACL)
    verb = "add" if kind == "acl_add" else "delete"
    return _plan(kind, f"{verb} {pattern} in acl {ref}", commands, impact,
                 {"pattern": pattern, "count": present}, undo, label, ("acl", ref, pattern),
                 RUNTIME_ONLY_MAP)


def plan_table_clear(table: str, key: str | None, info: TableInfo | None,
                     entries: Sequence[TableEntry] = ()) -> Plan:
    """``clear table T key K`` (one entry) or ``clear table T`` (every unused entry)."""
    name = check_name(table, "table name")
    if info is None:
        raise _no_such("table", table)
    if key is not None:
        k = _key(key, "table key")
        entry = next((e for e in entries if e.key == key), None)
        impact = [f"the entry of {key} in table {name} is removed: its counters "
                  + (f"({', '.join(entry.data)}) " if entry and entry.data else "")
                  + "start again from zero (rate limits reset for it)"
                  if entry else f"{key} has no entry in table {name}: nothing changes"]
        if entry and entry.use:
            impact.append(f"the entry is in use by {entry.use} connection(s) now: HAProxy "
                          "refuses to remove an entry in use")
        return _plan("table_clear_key", f"clear {key} in table {name}",
                     [build_command("clear", "table", name, "key", k)], impact,
                     {"key": key, "entry": dict(entry.data) if entry else None}, [],
                     f"{name} {key}", ("table", name, key), RUNTIME_ONLY_TABLE,
                     no_undo="a cleared entry cannot be restored")
    impact = [f"every entry of table {name} not in use is removed ({info.used} now): "
              "counters and rate limits start again from zero"]
    return _plan("table_clear", f"clear table {name}", [build_command("clear", "table", name)],
                 impact, {"used": info.used}, [], name, ("table", name, ""),
                 RUNTIME_ONLY_TABLE, dangerous=True,
                 no_undo="cleared entries cannot be restored")


async def prepare_map_change(client: Any, kind: str, ref: str, key: str,
                             value: str | None = None) -> Plan:
    check_map_ref(ref, "map")
    _key(key, "map key")
    if value is not None:
        _key(value, "map value")
    return plan_map_change(kind, ref, key, value, await map_entries(client, ref))


async def prepare_acl_change(client: Any, kind: str, ref: str, pattern: str) -> Plan:
    check_map_ref(ref, "acl")
    _key(pattern, "acl pattern")
    return plan_acl_change(kind, ref, pattern, await acl_entries(client, ref))


async def prepare_table_clear(client: Any, table: str, key: str | None = None) -> Plan:
    check_name(table, "table name")
    if key is not None:
        info, entries = await show_table(client, table, key=key)
        return plan_table_clear(table, key, info, entries)
    found = next((t for t in await list_tables(client) if t.name == table), None)
    return plan_table_clear(table, None, found)


async def read_scope(client: Any, scope: tuple[str, ...]) -> dict[str, Any]:
    """The state of a map key, an acl pattern or a table entry, as in ``Plan.before``."""
    kind, ref, key = scope
    if kind == "map":
        return {"key": key, "values": [e[2] for e in await map_entries(client, ref)
                                       if e[1] == key]}
    if kind == "acl":
        return {"pattern": key, "count": sum(1 for e in await acl_entries(client, ref)
                                             if e[1] == key)}
    if key:
        _, entries = await show_table(client, ref, key=key)
        entry = next((e for e in entries if e.key == key), None)
        return {"key": key, "entry": dict(entry.data) if entry else None}
    info = next((t for t in await list_tables(client) if t.name == ref), None)
    return {"used": info.used if info else None}
