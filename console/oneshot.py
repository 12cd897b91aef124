"""One-shot commands for scripts and runbooks: ``haconsole show ...``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from console.haproxy.counters import COUNTER_FIELDS
from console.haproxy.errors import NotFound, ValidationError
from console.haproxy.safe_text import visible
from console.haproxy.transport import MasterClient, RuntimeClient
from console.instance import ExitStatus
from console.name_filter import Matcher, make_matcher

if TYPE_CHECKING:
    from console.instance import Target

TYPE_NAMES = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}

STAT_COLUMNS = (
    # header, HAProxy field, right-aligned
    ("proxy", "pxname", False),
    ("name", "svname", False),
    ("type", "type", False),
    ("status", "status", False),
    ("check", "check_status", False),
    ("weight", "weight", True),
    ("cur", "scur", True),
    ("max", "smax", True),
    ("limit", "slim", True),
    ("total", "stot", True),
    ("queue", "qcur", True),
    ("req/s", "req_rate", True),
    ("5xx", "hrsp_5xx", True),
    ("bytes in", "bin", True),
    ("bytes out", "bout", True),
)
# The headers of the counters shown as rates (`show stat --delta`).
DELTA_HEADERS = {"stot": "sess/s", "hrsp_5xx": "5xx/s", "bin": "in B/s", "bout": "out B/s"}


def _cell(value: object) -> Text:
    """A value from HAProxy or a stats page: shown as written (never markup), control
    characters escaped."""
    return Text(visible(value))


def _out() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False,
                   width=None if sys.stdout.isatty() else 240)


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _need_socket(target: Target, what: str) -> RuntimeClient:
    if not target.socket:
        raise NotFound(f"'show {what}' needs the stats socket", hint="give -s SOCKET")
    return RuntimeClient(target.socket)


async def fetch_stat_text(target: Target) -> str:
    """`show stat` from the socket, or the stats page's CSV when only a URL is known."""
    if target.socket:
        return await RuntimeClient(target.socket).run("show stat")
    if target.url:
        from console.haproxy.statspage import StatsPage

        async with StatsPage(target.url, target.url_user, target.url_password) as page:
            return await page.fetch_csv()
    raise NotFound("no stats socket or stats page to read", hint="give -s SOCKET or --url URL")


def _matching(matcher: Matcher | None, keys: list[tuple[str, str]]) -> list[bool]:
    """Whether each key passes the name filter (all do without one)."""
    if matcher is None:
        return [True] * len(keys)
    matcher.begin_pass()
    out = [matcher(k) for k in keys]
    if matcher.simplified:
        print(visible(f"haconsole: note: the filter {matcher.text!r} is matched as plain "
                      "text (as a regex it is too big or too slow)"), file=sys.stderr)
    return out


def _rate_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def delta_rates(first: list[dict[str, str]], second: list[dict[str, str]],
                seconds: float) -> list[dict[str, float | None]]:
    """For each row of *second*: every cumulative counter as its increase per second
    since *first*; None when a sample lacks it, or it went down (cleared, reloaded)."""
    from console.haproxy.counters import CUMULATIVE_FIELDS

    before = {(r.get("pxname", ""), r.get("svname", "")): r for r in first}
    out: list[dict[str, float | None]] = []
    for row in second:
        prev = before.get((row.get("pxname", ""), row.get("svname", "")), {})
        rates: dict[str, float | None] = {}
        for name in CUMULATIVE_FIELDS.intersection(row):
            cur, base = _count(row.get(name)), _count(prev.get(name))
            rates[name] = None if cur is None or base is None or cur < base or \
                seconds <= 0 else round((cur - base) / seconds, 3)
        out.append(rates)
    return out


def _count(value: str | None) -> int | None:
    if value is None or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


async def _stat_samples(target: Target, delta: float | None
                        ) -> tuple[list[dict[str, str]], list[dict[str, float | None]] | None]:
    from console.haproxy import parsers

    rows = parsers.parse_stat(await fetch_stat_text(target))
    if delta is None:
        return rows, None
    taken = time.monotonic()
    await asyncio.sleep(delta)
    second = parsers.parse_stat(await fetch_stat_text(target))
    return second, delta_rates(rows, second, time.monotonic() - taken)


async def since_mark(target: Target, rows: list[dict[str, str]]) -> str:
    """Every counter of *rows* replaced by its Δ since the incident mark the console
    keeps for *target* (see :mod:`console.haproxy.marks`); returns when it was set."""
    from console.haproxy import marks
    from console.haproxy.model import ProcessInfo, Snapshot
    from console.haproxy.parsers import parse_info

    info_text = await RuntimeClient(target.socket).run("show info") if target.socket else None
    snap = Snapshot.from_rows(rows, None if info_text is None else
                              ProcessInfo.from_info(parse_info(info_text)))
    restored = marks.load(target.name, snap)
    if restored is None:
        raise NotFound(f"no incident mark is kept for {target.name}",
                       hint="set one with m in the console on this instance")
    for fields, row in zip(rows, snap.rows, strict=True):
        for name in COUNTER_FIELDS.intersection(fields):
            d = restored.mark.delta(row, name)
            if d is not None:
                fields[name] = str(d)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(restored.mark.wall_time))
    return when + (" (HAProxy reloaded since the console last saw it: what was counted "
                   "between then and the reload is missing)" if restored.reloaded else "")


async def show(target: Target, what: str, *, as_json: bool = False,
               name_filter: str | None = None, delta: float | None = None,
               mark: bool = False) -> int:
    """Print one answer of HAProxy (*name_filter*: ``show stat`` and ``show servers``
    rows whose proxy, name or ``proxy/name`` match, as in the console's filter;
    *delta*: ``show stat`` counters as rates over that many seconds)."""
    from console.haproxy import parsers

    matcher = make_matcher(name_filter) if name_filter else None
    if what == "info":
        info = parsers.parse_info(await _need_socket(target, what).run("show info"))
        if as_json:
            from console.haproxy.model import info_json

            _emit_json(info_json(info))
        else:
            table = Table("field", "value", box=None, show_header=False)
            for key, value in info.items():
                table.add_row(_cell(key), _cell(value))
            _out().print(table)
        return ExitStatus.OK

    if what == "stat":
        rows, rates = await _stat_samples(target, delta)
        if mark:
            when = await since_mark(target, rows)
            print(visible(f"haconsole: counters since the incident mark of {when}"),
                  file=sys.stderr)
        keep = _matching(matcher, [(r.get("pxname", ""), r.get("svname", "")) for r in rows])
        if as_json:
            from console.haproxy.model import Row, to_json_row

            out = []
            for i, r in enumerate(rows):
                if keep[i]:
                    row = to_json_row(Row.from_fields(r))
                    row.update(rates[i] if rates else {})
                    out.append(row)
            _emit_json(out)
            return ExitStatus.OK
        table = Table(box=None, pad_edge=False)
        for header, field, right in STAT_COLUMNS:
            if rates is not None and field in DELTA_HEADERS:
                header = DELTA_HEADERS[field]
            elif mark and field in COUNTER_FIELDS:
                header = f"Δ{header}"
            table.add_column(header, justify="right" if right else "left", no_wrap=True)
        for i, r in enumerate(rows):
            if not keep[i]:
                continue
            values = [r.get(f, "") for _h, f, _r in STAT_COLUMNS]
            if rates is not None:
                values = [_rate_text(rates[i].get(f)) if f in rates[i] else v
                          for (_h, f, _r), v in zip(STAT_COLUMNS, values, strict=True)]
            values[2] = TYPE_NAMES.get(values[2], values[2])
            table.add_row(*map(_cell, values))
        _out().print(table)
        return ExitStatus.OK

    if what == "proc":
        if not target.master:
            raise NotFound("'show proc' needs the master socket",
                           hint="give -m MASTER_SOCKET (the -S argument of haproxy)")
        proc = parsers.parse_proc(await MasterClient(target.master).run("show proc"))
        # 3.1+ list the serving worker under "old workers" after a failed reload
        current = proc.current_worker
        groups = [("master", [proc.master] if proc.master else []),
                  ("worker", [current] if current else []),
                  ("old worker", proc.draining), ("program", proc.programs)]
        if as_json:
            _emit_json([{"role": role, "pid": e.pid, "type": e.type, "reloads": e.reloads,
                         "failed_reloads": e.failed, "uptime": e.uptime or None,
                         "uptime_seconds": e.uptime_seconds, "version": e.version or None}
                        for role, entries in groups for e in entries])
            return ExitStatus.OK
        table = Table("role", "pid", "reloads", "failed", "uptime", "version", box=None)
        for role, entries in groups:
            for e in entries:
                failed = "" if e.failed is None else str(e.failed)
                table.add_row(*map(_cell, (role, e.pid, e.reloads, failed, e.uptime,
                                           e.version)))
        _out().print(table)
        return ExitStatus.OK

    if what == "servers":
        text = await _need_socket(target, what).run("show servers state")
        state_rows = parsers.parse_servers_state(text)
        keep = _matching(matcher, [(s.be_name, s.srv_name) for s in state_rows])
        state_rows = [s for s, k in zip(state_rows, keep, strict=True) if k]
        if as_json:
            _emit_json([parsers.server_state_json(s) for s in state_rows])
            return ExitStatus.OK
        cols = ("be_name", "srv_name", "srv_addr", "srv_port", "srv_op_state",
                "srv_admin_state", "srv_uweight", "srv_iweight", "srv_check_status")
        table = Table(*cols, box=None)
        for state_row in state_rows:
            table.add_row(*(_cell(state_row.fields.get(c, "")) for c in cols))
        _out().print(table)
        return ExitStatus.OK
    raise ValidationError(f"unknown show target {what!r}")


async def json_rows(target: Target, what: str, name_filter: str | None = None
                    ) -> list[dict[str, Any]]:
    """``show stat`` or ``show servers`` rows as ``--json`` prints them (typed)."""
    from console.haproxy import parsers
    from console.haproxy.model import Row, to_json_row

    matcher = make_matcher(name_filter) if name_filter else None
    if what == "stat":
        rows = parsers.parse_stat(await fetch_stat_text(target))
        keep = _matching(matcher, [(r.get("pxname", ""), r.get("svname", "")) for r in rows])
        return [to_json_row(Row.from_fields(r)) for r, k in zip(rows, keep, strict=True) if k]
    if what == "servers":
        state_rows = parsers.parse_servers_state(
            await _need_socket(target, what).run("show servers state"))
        keep = _matching(matcher, [(s.be_name, s.srv_name) for s in state_rows])
        return [parsers.server_state_json(s) for s, k in zip(state_rows, keep, strict=True)
                if k]
    raise ValidationError(f"unknown show target {what!r}")


def run_console(target: Target, *, theme: str | None = None, triage: bool = False,
                spectator: bool = False) -> int:
    """Open the TUI on *target* (on the triage screen with *triage*; watching only with
    *spectator*)."""
    from console.ui.app import run_app

    return run_app(target, theme=theme, triage=triage, spectator=spectator)
