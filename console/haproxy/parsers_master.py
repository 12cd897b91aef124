"""Parsers for the master CLI (``show proc``, ``reload``) and ``haproxy -c`` output.

Pure functions over text, checked against HAProxy 2.6, 2.8, 3.0, 3.2 and 3.4
captures in ``tests/data/captured/``. Re-exported by :mod:`console.haproxy.parsers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from console.haproxy.errors import ParseError
from console.haproxy.lines import split_lf
from console.haproxy.parsers_common import fail as _fail
from console.haproxy.parsers_common import nonblank_lines as _lines

# --------------------------------------------------------------------------- show proc

@dataclass(frozen=True, slots=True)
class ProcEntry:
    pid: int
    type: str  # "master", "worker", or the program's name
    reloads: int
    failed: int | None  # consecutive failed reloads (master row only)
    uptime: str  # as printed, e.g. "0d00h00m15s"
    uptime_seconds: int
    version: str


@dataclass(frozen=True, slots=True)
class ProcInfo:
    master: ProcEntry | None
    workers: list[ProcEntry] = field(default_factory=list)
    old_workers: list[ProcEntry] = field(default_factory=list)
    programs: list[ProcEntry] = field(default_factory=list)

    @property
    def current_worker(self) -> ProcEntry | None:
        """The worker that serves now.

        Up to 3.0 it is the one under ``# workers``. From 3.1 on, a failed reload
        leaves ``# workers`` empty and lists the worker that still serves under
        ``# old workers``, beside those really draining: it is the youngest of them
        (fewest reloads since it started).
        """
        if self.workers:
            return self.workers[0]
        if self.old_workers and self.master and self.master.failed:
            return min(self.old_workers, key=lambda w: (w.reloads, w.uptime_seconds))
        return None

    @property
    def draining(self) -> list[ProcEntry]:
        """Old workers that still finish their sessions (the serving one excluded)."""
        current = self.current_worker
        return [w for w in self.old_workers if w is not current]

    @property
    def all_workers(self) -> list[ProcEntry]:
        return self.workers + self.old_workers


_PROC_ROW = re.compile(
    r"^([0-9]+)\s+(\S+)\s+([0-9]+)(?:\s+\[failed:\s*([0-9]+)\])?\s+(\S+)(?:\s+(\S+))?\s*$")
_UPTIME = re.compile(r"^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")


def uptime_seconds(text: str) -> int:
    """``0d00h00m15s`` (``show proc``) or ``0d 0h00m15s`` (``show info``) -> 15."""
    m = _UPTIME.match("".join(text.split()))
    if not m or not any(m.groups()):
        raise ParseError(f"cannot read uptime {text!r}", None, "expected like 0d00h00m15s")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((d * 24 + h) * 60 + mi) * 60 + s


def parse_proc(text: str) -> ProcInfo:
    """``show proc`` on the master CLI (same layout in 2.6 and 2.8)."""
    lines = _lines(text)
    if not lines or not lines[0].startswith("#<PID>"):
        raise _fail("'show proc' answer has no '#<PID>' header", text,
                    "is this the master socket (the -S argument), not a stats socket?")
    section = "master"
    master: ProcEntry | None = None
    groups: dict[str, list[ProcEntry]] = {"workers": [], "old workers": [], "programs": []}
    for line in lines[1:]:
        if line.startswith("#"):
            section = line.lstrip("#").strip()
            if section not in groups:
                raise _fail("'show proc' has an unknown section", line)
            continue
        m = _PROC_ROW.match(line)
        if not m:
            raise _fail("'show proc' row not understood", line)
        entry = ProcEntry(pid=int(m[1]), type=m[2], reloads=int(m[3]),
                          failed=int(m[4]) if m[4] is not None else None,
                          uptime=m[5], uptime_seconds=uptime_seconds(m[5]), version=m[6] or "")
        if section == "master":
            master = entry
        else:
            groups[section].append(entry)
    return ProcInfo(master=master, workers=groups["workers"],
                    old_workers=groups["old workers"], programs=groups["programs"])


# --------------------------------------------------------------------------- haproxy -c

Level = Literal["ALERT", "WARNING", "NOTICE"]


@dataclass(frozen=True, slots=True)
class CheckMessage:
    level: Level
    file: str | None
    line: int | None
    message: str  # after "(PID) : ", continuation lines joined with "\n"
    raw: str  # the lines as printed


_MSG_HEAD = re.compile(r"^\[(ALERT|WARNING|NOTICE|DIAG|EMERG)\]\s*(?:\([0-9]+\)\s*)?:\s?(.*)$")
_LOCATION = re.compile(r"\[([^\]]+):([0-9]+)\]")
_NOT_A_FILE = re.compile(r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-fA-F:]*)$")


def _location(message: str) -> tuple[str | None, int | None]:
    for m in _LOCATION.finditer(message):
        if not _NOT_A_FILE.match(m[1]):
            return m[1], int(m[2])
    return None, None


def parse_check_output(text: str) -> list[CheckMessage]:
    """Messages printed by ``haproxy -c`` (or a startup log), in order.

    ``[ALERT]``, ``[WARNING]`` and ``[NOTICE]`` lines (``[DIAG]`` counts as NOTICE,
    ``[EMERG]`` as ALERT); the ``   | …`` lines that follow belong to the message
    before them. Other lines (``Configuration file is valid``) are not messages.
    """
    out: list[CheckMessage] = []
    head: tuple[Level, str, list[str]] | None = None

    def flush() -> None:
        if head:
            level, msg, raw = head
            cont = [r.split("|", 1)[1].strip() for r in raw[1:]]
            message = "\n".join([msg, *cont])
            file, line = _location(msg)
            out.append(CheckMessage(level, file, line, message, "\n".join(raw)))

    for line in split_lf(text):
        m = _MSG_HEAD.match(line)
        if m:
            flush()
            level: Level = {"DIAG": "NOTICE", "EMERG": "ALERT"}.get(m[1], m[1])  # type: ignore[assignment]
            head = (level, m[2].rstrip(), [line])
        elif head and line.lstrip().startswith("|"):
            head[2].append(line)
        else:
            flush()
            head = None
    flush()
    return out


# --------------------------------------------------------------------------- reload

_BUSY = "reload is still in progress"

@dataclass(frozen=True, slots=True)
class ReloadAnswer:
    success: bool | None  # None: no verdict (2.6 answers nothing; "still in progress")
    log: str  # the startup log after "--", or the answer itself
    busy: bool = False  # 3.1+: refused because another reload is still in progress

    @property
    def messages(self) -> list[CheckMessage]:
        return parse_check_output(self.log)


def parse_reload_answer(text: str) -> ReloadAnswer:
    """The master CLI's answer to ``reload``.

    2.7+: ``Success=1`` or ``Success=0``, a ``--`` line, then the startup log.
    2.6 answers nothing (success then only shows in ``show proc``): ``success=None``.
    3.1+ answers ``Success=0``, ``--``, ``Another reload is still in progress.`` while
    a new worker is still starting: nothing was reloaded, ``busy`` and no verdict.
    """
    if not text.strip():
        return ReloadAnswer(None, "")
    first, _, rest = text.lstrip("\n").partition("\n")
    m = re.fullmatch(r"Success=([01])", first.strip())
    if m:
        sep, _, log = rest.partition("\n")
        if sep.strip() != "--":
            log = rest
        if m[1] == "0" and _BUSY in log and not parse_check_output(log):
            return ReloadAnswer(None, log.strip(), busy=True)
        return ReloadAnswer(m[1] == "1", log)
    if _BUSY in first:
        return ReloadAnswer(None, text.strip(), busy=True)
    raise _fail("'reload' answer not understood", text, "expected 'Success=1' or 'Success=0'")
