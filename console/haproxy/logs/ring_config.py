"""The staged edits that make an instance log to a ring (``config add-log-ring``).

A ``ring NAME`` section (checked with ``haproxy -c`` on 2.6, 2.8, 3.0, 3.2 and 3.4:
the same keywords in all of them; ``size`` is given in bytes, as 2.6 reads no unit)::

    ring NAME
        description "haconsole log ring"
        format rfc5424
        maxlen 4096
        size 1048576

``format`` is the header of the lines the ring keeps (a ``log ring@NAME`` line without
its own ``format`` uses it; the parser reads every header variant anyway); ``maxlen``
cuts longer lines. Then ``log ring@NAME local0 info`` in ``global`` (every proxy with
``log global`` then logs there) and ``log global`` in each ``defaults`` section with no
``log`` line, or, with frontends named, ``log ring@NAME local0 info`` in each of them.
A frontend without ``option httplog`` (or another format) logs only one line per
connection: the notes say which.
"""

from __future__ import annotations

import re
from typing import Any

from console.haproxy.config.model import ConfigFile
from console.haproxy.errors import ValidationError
from console.haproxy.logs.ring import check_ring_name

DEFAULT_NAME = "haconsole_logs"
DEFAULT_SIZE = 1 << 20
MAXLEN = 4096
_SIZE_RE = re.compile(r"^([0-9]{1,10})([kKmMgG]?)$")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """``1m``, ``512k``, ``65536`` → bytes (16 KiB to 1 GiB)."""
    m = _SIZE_RE.match(text.strip())
    if not m:
        raise ValidationError(f"{text!r} is not a size", "--size", "e.g. 1m, 512k, 65536")
    size = int(m.group(1)) * _UNITS[m.group(2).lower()]
    if not 16 << 10 <= size <= 1 << 30:
        raise ValidationError(f"ring size {size} out of range", "--size",
                              "between 16k and 1g (1m keeps several thousand lines)")
    return size


def ring_lines(size: int) -> list[str]:
    return ['description "haconsole log ring"', "format rfc5424", f"maxlen {MAXLEN}",
            f"size {size}"]


def _has_log(cfg: ConfigFile, section: Any) -> bool:
    return any(line.values[:1] == ["log"] or line.values[:2] == ["no", "log"]
               for _, line in cfg.section_lines(section))


def log_ring_ops(cfg: ConfigFile, name: str = DEFAULT_NAME, size: int = DEFAULT_SIZE,
                 frontends: list[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """The ops (see :mod:`console.haproxy.config.ops`) and notes for people."""
    check_ring_name(name)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise ValidationError(f"invalid ring name {name!r}", "--name",
                              "letters, digits, '_', '-', '.'")
    notes: list[str] = []
    all_files = [cfg, *cfg.others]
    if any(s.type == "ring" and s.name == name for f in all_files for s in f.sections):
        raise ValidationError(f"a ring named {name} already exists", "--name",
                              f"read it: haconsole logs --follow --ring {name}")
    target = f"ring@{name}"
    ops: list[dict[str, Any]] = [{"op": "section_add", "section": ["ring", name],
                                  "lines": ring_lines(size)}]
    proxies = {s.name: s for f in all_files for s in f.sections
               if s.type in ("frontend", "listen") and s.name}
    if frontends:
        for fe in frontends:
            if fe not in proxies:
                raise ValidationError(f"no frontend or listen section named {fe!r}",
                                      "--frontend", "its proxies: " + ", ".join(proxies))
            ops.append({"op": "keyword_set", "section": [proxies[fe].type, fe],
                        "keyword": ["log", target], "value": ["local0", "info"]})
    else:
        if not any(s.type == "global" for f in all_files for s in f.sections):
            raise ValidationError("the configuration has no global section",
                                  hint="name the frontends: --frontend FE")
        ops.append({"op": "keyword_set", "section": ["global"], "keyword": ["log", target],
                    "value": ["local0", "info"]})
        defaults = [s for f in all_files for s in f.sections if s.type == "defaults"]
        unnamed = [s for s in defaults if not s.name]
        for s in defaults:
            owner = next(f for f in all_files if s in f.sections)
            if _has_log(owner, s):
                continue
            if not s.name and len(unnamed) > 1:
                notes.append("several unnamed defaults sections: add 'log global' to them "
                             "by hand (config edit)")
                continue
            ops.append({"op": "keyword_set",
                        "section": ["defaults", s.name] if s.name else ["defaults"],
                        "keyword": ["log"], "value": ["global"]})
        if not defaults:
            for fe, s in proxies.items():
                owner = next(f for f in all_files if s in f.sections)
                if not _has_log(owner, s):
                    ops.append({"op": "keyword_set", "section": [s.type, fe],
                                "keyword": ["log"], "value": ["global"]})
    try:
        from console.haproxy.logs.config_formats import frontend_formats

        for choice in frontend_formats(cfg).values():
            if (not frontends or choice.frontend in frontends) and choice.name == "connect":
                notes.append(f"{choice.frontend} has no option httplog (or log-format): it "
                             "logs one line per connection, not per request")
    except Exception:  # noqa: BLE001 - a note, never a reason to fail
        pass
    return ops, notes
