"""A configuration made of several files, read in order as HAProxy reads them.

``haproxy -f /etc/haproxy/haproxy.cfg -f /etc/haproxy/conf.d/`` reads the first
file, then every ``*.cfg`` regular file of the directory whose name does not
start with a dot, in byte order (``scandir`` + ``alphasort`` in the C locale),
each file on its own: a section never spans two files, but the last
``defaults`` section, the named ``defaults`` sections and the environment
carry on from one file to the next, and names (backends, servers, ``track``)
are global.

:func:`expand_paths` lists the files; :func:`link` parses them into
:class:`~console.haproxy.config.model.ConfigFile` objects that know each other
(so edits resolve names across the set); :func:`route` says which file an edit
lands in: the one holding the line it changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.config.cond import UNKNOWN, CondContext
from console.haproxy.config.model import ConfigFile, Section
from console.haproxy.errors import ValidationError


def _is_cfg_name(name: str) -> bool:
    # HAProxy takes the first ".cfg" in the name and wants it at the very end
    at = name.find(".cfg")
    return not name.startswith(".") and at >= 0 and at + 4 == len(name)


def expand_paths(paths: Sequence[str], cwd: str | None = None) -> list[str]:
    """The files HAProxy reads for these ``-f`` arguments, in its order.

    Relative paths are taken from *cwd* (default: the current directory) and
    returned absolute. A path that does not exist is kept (reading it fails
    later with a clear message).
    """
    out: list[str] = []
    for path in paths:
        full = os.path.normpath(os.path.join(cwd or os.getcwd(), path))
        if not os.path.isdir(full):
            out.append(full)
            continue
        try:
            names = os.listdir(full)
        except OSError:
            out.append(full)
            continue
        for name in sorted((n for n in names if _is_cfg_name(n)), key=os.fsencode):
            entry = os.path.join(full, name)
            if os.path.isfile(entry):
                out.append(entry)
    return out


@dataclass(frozen=True)
class SetContext:
    """The rest of the set around the file an edit applies to (for name resolution)."""

    before: tuple[tuple[str, bytes], ...] = ()  # (path, text) of the files read before
    after: tuple[tuple[str, bytes], ...] = ()
    cond: CondContext = field(default=UNKNOWN)


def link(named: Sequence[tuple[str, bytes]], cond: CondContext = UNKNOWN, *,
         keep: bool = True) -> list[ConfigFile]:
    """Parse the files of a set, in order, and let each know the others (``keep``: see
    :meth:`ConfigFile.parse`)."""
    files = [ConfigFile.parse(data, name, keep=keep) for name, data in named]
    env = None
    for k, cfg in enumerate(files):
        cfg.cond = cond
        cfg.env_in = env
        cfg.before, cfg.after = files[:k], files[k + 1:]
        env = cfg.env_out()
    return files


def in_context(data: bytes, name: str, context: SetContext | None) -> ConfigFile:
    """*data* parsed as the file *name* of the set *context* describes."""
    if context is None or (not context.before and not context.after and
                           context.cond == UNKNOWN):  # (a file alone: parse() makes it)
        return ConfigFile.parse(data, name)
    files = link([*context.before, (name, data), *context.after], context.cond)
    return files[len(context.before)]


def _read(cfg: ConfigFile, section: Section) -> bool:
    return cfg.line_state(section.start) is not False


def _names(files: Sequence[ConfigFile]) -> str:
    return ", ".join(cfg.name for cfg in files) or "no file"


def _listing(what: str, names: Sequence[str]) -> str:
    if not names:
        return f"there are no {what}"
    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    return f"{what}: {shown}"


def find_backend_file(files: Sequence[ConfigFile], backend: str) -> int:
    """Index of the file holding ``backend``/``listen`` *backend*."""
    found = [(k, s) for k, cfg in enumerate(files) for s in cfg.backends()
             if s.name == backend and _read(cfg, s)]
    if not found:
        names = [s.name for cfg in files for s in cfg.backends() if s.name and _read(cfg, s)]
        raise ValidationError(f"no backend {backend} in {_names(files)}",
                              hint=_listing("backends", names))
    if len({k for k, _ in found}) > 1:
        where = ", ".join(files[k].where(s.start) for k, s in found)
        raise ValidationError(f"backend {backend} is declared in several files", where=where,
                              hint="HAProxy refuses two proxies with one name: fix the files")
    return found[0][0]


def find_section_file(files: Sequence[ConfigFile], type_: str, name: str | None) -> int:
    """Index of the one file holding the section ``type_ name``."""
    found = [k for k, cfg in enumerate(files) if any(_read(cfg, s) for s in
                                                      cfg.find_sections(type_, name))]
    label = f"{type_} {name}" if name else type_
    if not found:
        raise ValidationError(f"no {label} section in {_names(files)}")
    if len(found) > 1:
        raise ValidationError(f"{len(found)} files have a '{label}' section",
                              where=", ".join(files[k].name for k in found),
                              hint="name the file with -c FILE, or edit it as text")
    return found[0]


def route(files: Sequence[ConfigFile], op: Mapping[str, Any]) -> int:
    """Index of the file an edit operation applies to (the one holding its line).

    A new section goes to the last file holding a section of its type, else the
    first file. A raw edit (``replace``) names no line: it is refused here.
    """
    if not files:
        raise ValidationError("no configuration file")
    kind = op.get("op")
    if kind in ("server_set", "server_add", "server_del"):
        return find_backend_file(files, str(op.get("backend")))
    section = list(op.get("section") or [])
    if kind in ("keyword_set", "keyword_del") and section:
        return find_section_file(files, str(section[0]),
                                 section[1] if len(section) > 1 else None)
    if kind == "section_add" and section:
        holding = [k for k, cfg in enumerate(files)
                   if any(s.type == section[0] for s in cfg.sections)]
        return holding[-1] if holding else 0
    raise ValidationError(f"cannot tell which file a {kind!r} edit applies to",
                          hint="give that file alone with -c FILE")
