"""One-shot commands for scripts and runbooks: ``haconsole show ...``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from console.haproxy.errors import NotFound, ValidationError
from console.haproxy.safe_text import visible
from console.haproxy.transport import MasterClient, RuntimeClient
from console.instance import ExitStatus

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


async def show(target: Target, what: str, *, as_json: bool = False) -> int:
    from console.haproxy import parsers

    if what == "info":
        info = parsers.parse_info(await _need_socket(target, what).run("show info"))
        if as_json:
            _emit_json(info)
        else:
            table = Table("field", "value", box=None, show_header=False)
            for key, value in info.items():
                table.add_row(_cell(key), _cell(value))
            _out().print(table)
        return ExitStatus.OK

    if what == "stat":
        rows = parsers.parse_stat(await fetch_stat_text(target))
        if as_json:
            from console.haproxy.model import Row, to_json_row

            _emit_json([to_json_row(Row.from_fields(r)) for r in rows])
            return ExitStatus.OK
        table = Table(box=None, pad_edge=False)
        for header, _field, right in STAT_COLUMNS:
            table.add_column(header, justify="right" if right else "left", no_wrap=True)
        for r in rows:
            values = [r.get(f, "") for _h, f, _r in STAT_COLUMNS]
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
                         "failed_reloads": e.failed, "uptime": e.uptime,
                         "uptime_seconds": e.uptime_seconds, "version": e.version}
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
        if as_json:
            _emit_json([{k: (None if v in ("", "-") else v) for k, v in s.fields.items()}
                        for s in state_rows])
            return ExitStatus.OK
        cols = ("be_name", "srv_name", "srv_addr", "srv_port", "srv_op_state",
                "srv_admin_state", "srv_uweight", "srv_iweight", "srv_check_status")
        table = Table(*cols, box=None)
        for state_row in state_rows:
            table.add_row(*(_cell(state_row.fields.get(c, "")) for c in cols))
        _out().print(table)
        return ExitStatus.OK
    raise ValidationError(f"unknown show target {what!r}")


def run_console(target: Target, *, theme: str | None = None) -> int:
    """Open the TUI on *target*."""
    from console.ui.app import run_app

    return run_app(target, theme=theme)
