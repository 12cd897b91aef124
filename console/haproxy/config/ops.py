"""Serializable edit operations: what the staging area stores and re-applies.

Each operation is a JSON-friendly dict:

- ``{"op": "server_set", "backend": B, "server": S, "set": {"weight": "50", "disabled": true,
  "addr": "10.0.0.5:8080", …}}``
- ``{"op": "server_add", "backend": B, "server": S, "addr": "10.0.0.5:8080",
  "params": {"weight": "10", "check": true}}`` (``params`` optional)
- ``{"op": "server_del", "backend": B, "server": S}``
- ``{"op": "keyword_set", "section": ["backend", "be_app"], "keyword": ["timeout", "server"],
  "value": ["30s"]}`` (``["global"]`` or ``["defaults"]`` for unnamed sections)
- ``{"op": "keyword_del", "section": […], "keyword": […]}``
- ``{"op": "section_add", "section": ["backend", "be_new"], "lines": ["balance roundrobin", …]}``
- ``{"op": "replace", "text": "<the whole new file>", "base_sha256": "<hex>"}``: a raw edit.
  ``text`` is the file as ``str`` (non-UTF-8 bytes as ``surrogateescape``).
  ``base_sha256`` (optional, see :func:`replace_op`) is the SHA-256 of the bytes the
  edit was made on; when given, the op applies only to exactly those bytes and
  raises :class:`StaleBase` otherwise. ``note`` (optional) is shown by :func:`describe_op`.

:func:`apply_ops` is pure and deterministic: same bytes and ops, same result.
Unknown keys are refused, so a typo never passes silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from console.haproxy.config import edit, keywords
from console.haproxy.config.cond import UNKNOWN
from console.haproxy.config.fileset import SetContext, in_context
from console.haproxy.config.grammar import FLAG_OPPOSITES, NEGATIVE_FLAGS, SERVER_FLAG_KEYWORDS
from console.haproxy.config.model import ConfigFile
from console.haproxy.config.servers import inherited_lines, resolve_flag
from console.haproxy.errors import ValidationError


class StaleBase(ValidationError):
    """A raw edit made on other bytes than those it is applied to."""


_KEYS: dict[str, tuple[set[str], set[str]]] = {  # op → (required keys, optional keys)
    "server_set": ({"backend", "server", "set"}, set()),
    "server_add": ({"backend", "server", "addr"}, {"params"}),
    "server_del": ({"backend", "server"}, set()),
    "keyword_set": ({"section", "keyword", "value"}, set()),
    "keyword_del": ({"section", "keyword"}, set()),
    "section_add": ({"section", "lines"}, set()),
    "replace": ({"text"}, {"base_sha256", "note"}),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def replace_op(base: bytes, new: bytes) -> dict[str, str]:
    """A ``replace`` op that applies only to *base*."""
    return {"op": "replace", "text": new.decode("utf-8", "surrogateescape"),
            "base_sha256": sha256(base)}


def check_op(op: object) -> dict[str, Any]:
    """Check an op's shape (keys and their types); return it as a dict."""
    if not isinstance(op, Mapping):
        raise ValidationError(f"an edit operation must be a dict, not {type(op).__name__}")
    kind = op.get("op")
    if kind not in _KEYS:
        raise ValidationError(f"unknown edit operation {kind!r}",
                              hint="one of " + ", ".join(_KEYS))
    required, optional = _KEYS[kind]
    missing = required - op.keys()
    extra = op.keys() - required - optional - {"op"}
    if missing:
        raise ValidationError(f"{kind}: missing " + ", ".join(sorted(missing)))
    if extra:
        raise ValidationError(f"{kind}: unknown key(s) " + ", ".join(sorted(map(str, extra))))
    for key in ("backend", "server", "addr", "text", "base_sha256", "note"):
        if key in op and not isinstance(op[key], str):
            raise ValidationError(f"{kind}: {key} must be text")
    for key in ("set", "params"):
        if key in op and not isinstance(op[key], Mapping):
            raise ValidationError(f"{kind}: {key} must be a dict")
    for key in ("keyword", "value", "lines", "section"):
        if key in op and (isinstance(op[key], str) or not isinstance(op[key], Sequence)):
            raise ValidationError(f"{kind}: {key} must be a list")
    if "section" in op:
        _section(op)
    return dict(op)


def _section(op: Mapping[str, Any]) -> tuple[str, str | None]:
    sec = list(op["section"])
    if not 1 <= len(sec) <= 2 or not isinstance(sec[0], str) or (
            len(sec) == 2 and sec[1] is not None and not isinstance(sec[1], str)):
        raise ValidationError(f"{op['op']}: section must be [TYPE] or [TYPE, NAME]",
                              hint='e.g. ["backend", "be_app"] or ["global"]')
    return sec[0], sec[1] if len(sec) == 2 else None


def apply_op(cfg: ConfigFile, op: Mapping[str, Any]) -> ConfigFile:
    """Apply one op to *cfg* (in place, except ``replace`` which returns a new file)."""
    op = check_op(op)
    kind = op["op"]
    if kind == "server_set":
        edit.set_server_options(cfg, op["backend"], op["server"], op["set"])
    elif kind == "server_add":
        edit.add_server(cfg, op["backend"], op["server"], op["addr"], op.get("params") or {})
    elif kind == "server_del":
        edit.remove_server(cfg, op["backend"], op["server"])
    elif kind == "keyword_set":
        keywords.set_keyword(cfg, *_section(op), list(op["keyword"]), list(op["value"]))
    elif kind == "keyword_del":
        keywords.remove_keyword(cfg, *_section(op), list(op["keyword"]))
    elif kind == "section_add":
        keywords.add_section(cfg, *_section(op), list(op["lines"]))
    else:
        base = op.get("base_sha256")
        if base is not None and base != sha256(cfg.to_bytes()):
            raise StaleBase("the raw edit was made on another version of the file",
                            where=cfg.name,
                            hint="the file changed since; redo the edit on the current file")
        return ConfigFile.parse(op["text"].encode("utf-8", "surrogateescape"), cfg.name)
    return cfg


def apply_ops(data: bytes, ops: Sequence[Mapping[str, Any]], name: str = "haproxy.cfg", *,
              context: SetContext | None = None) -> bytes:
    """Apply *ops* in order to the file *data*; return the new bytes (nothing is written).

    *name* is the file's path (in messages); *context* the other files of its set and
    what ``.if`` conditions depend on (see :mod:`.fileset`).
    """
    cfg = in_context(data, name, context)
    for op in ops:
        new = apply_op(cfg, op)
        if new is not cfg:  # a raw edit: the whole text, same place in the set
            new = in_context(new.to_bytes(), name, context)
        cfg = new
    out = cfg.to_bytes()
    cfg.remember(out)
    return out


# -- describing ops for people --------------------------------------------------------------

def _label(section: tuple[str, str | None]) -> str:
    return f"{section[0]} {section[1]}" if section[1] else section[0]


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _server_now(cfg: ConfigFile | None, backend: str, server: str,
                key: str) -> str | None:
    """The server's current setting for *key*, as text (None if unknown)."""
    if cfg is None:
        return None
    try:
        section, index, parsed = edit.find_server(cfg, backend, server)
    except ValidationError:
        return None
    if key == "addr":
        return parsed.addr.text if parsed.addr else None
    flag = FLAG_OPPOSITES[key] if key in NEGATIVE_FLAGS else key
    if flag in SERVER_FLAG_KEYWORDS:
        state = resolve_flag([*inherited_lines(cfg, section, index, strict=False), parsed],
                             flag)
        return _show(state if flag == key else not state)
    p = parsed.param(key)
    return p.value if p else None


_READINGS: list[tuple[bytes, SetContext | None, ConfigFile]] | None = None


@contextmanager
def reusing_readings() -> Iterator[None]:
    """Within it, :func:`describe_op` parses a text once for all the edits it
    describes (one command describing the edits staged, then the new one, on a file of
    70,000 lines): the readings are dropped at the end, not kept by a long-lived
    process."""
    global _READINGS
    _READINGS = []
    try:
        yield
    finally:
        _READINGS = None


def _reading(data: bytes, context: SetContext | None) -> ConfigFile:
    """*data* parsed in *context*, for reading only (see :func:`reusing_readings`)."""
    if context is not None and not context.before and not context.after and \
            context.cond == UNKNOWN:
        context = None  # (a file alone: the same reading, see in_context)
    kept = _READINGS
    if kept is not None:
        for text, where, cfg in kept:
            if (text is data or text == data) and where == context:
                return cfg
    cfg = in_context(data, "haproxy.cfg", context)
    if kept is not None:
        kept[:] = [(data, context, cfg)]
    return cfg


def describe_op(op: Mapping[str, Any], data: bytes | None = None, *,
                context: SetContext | None = None) -> str:
    """One line for people, e.g. ``backend be_app: server web1 weight 10 → 50``.

    With *data* (the file the op applies to, in the set *context*) the old values
    are shown too.
    """
    try:
        op = check_op(op)
    except ValidationError as err:
        return f"invalid edit: {err}"
    cfg = None
    if data is not None:
        try:
            cfg = _reading(data, context)
        except Exception:  # describing must never fail
            cfg = None
    kind = op["op"]
    if kind == "server_set":
        parts = []
        for key, value in op["set"].items():
            old = _server_now(cfg, op["backend"], op["server"], str(key))
            arrow = f"{old} → {_show(value)}" if old is not None else f"→ {_show(value)}"
            parts.append(f"{key} {arrow}")
        return f"backend {op['backend']}: server {op['server']} " + ", ".join(parts)
    if kind == "server_add":
        params = " ".join(
            k if v is True else FLAG_OPPOSITES.get(k, f"not-{k}") if v is False else f"{k} {v}"
            for k, v in (op.get("params") or {}).items())
        text = f"backend {op['backend']}: add server {op['server']} {op['addr']}"
        return f"{text} {params}".rstrip()
    if kind == "server_del":
        return f"backend {op['backend']}: remove server {op['server']}"
    if kind in ("keyword_set", "keyword_del"):
        section = _section(op)
        kw = " ".join(map(str, op["keyword"]))
        if kind == "keyword_del":
            return f"{_label(section)}: remove {kw}"
        new = " ".join(map(str, op["value"]))
        old = _keyword_now(cfg, section, list(op["keyword"]))
        if old is None:
            return f"{_label(section)}: {kw} → {new}".rstrip()
        return f"{_label(section)}: {kw} {old} → {new}".rstrip()
    if kind == "section_add":
        n = len(op["lines"])
        return f"add {_label(_section(op))} ({n} line{'s' if n != 1 else ''})"
    return "raw edit of the whole file" + (f": {op['note']}" if op.get("note") else "")


def _keyword_now(cfg: ConfigFile | None, section: tuple[str, str | None],
                 words: list[str]) -> str | None:
    if cfg is None:
        return None
    try:
        sec = cfg.section(*section)
    except ValidationError:
        return None
    if sec is None:
        return None
    found = [line for _, line in cfg.section_lines(sec) if line.values[:len(words)] == words]
    if len(found) != 1:
        return None
    return " ".join(found[0].values[len(words):]) or "(no value)"
