"""``haconsole logs [summary]``: HAProxy traffic logs from a file, like halog.

``haconsole logs --file F [--filter EXPR] [--json] [--follow]`` prints the lines that
pass the filter (the line as written, or one JSON object per line with at least
``frontend backend server status termination client method path tq tw tc tr ta``);
``--follow`` keeps reading what is appended, across rotation and truncation.

Without ``--file``, the lines come from a ``ring`` of the instance (``-s SOCKET``,
``-i NAME``, ``--ssh``) read over the stats socket (:mod:`~.haproxy.logs.ring`): the
ring named by ``--ring``, else the only one the instance declares. ``--follow`` waits
for new lines (``show events RING -w -n``); without it the ring's content is read once.
``--journal [--unit haproxy]`` reads ``journalctl -u UNIT -o cat`` (``-f`` to follow).

``haconsole logs summary --file F [--window 5m] [--by server|backend|frontend|path|
client|termination|status] [--filter EXPR] [--json] [--pct]`` summarises the file
in one pass with bounded memory: a table (or a JSON array of groups with ``key``,
``requests``, ``status_classes``, ``termination``, ``ta_p50``/``ta_p95``/``ta_p99``);
``--pct`` prints ``halog -pct``'s table instead, computed the same way.

The format of each line: ``--format http|https|tcp|clf|tcpclf|"LOGFORMAT"``, else
each frontend's format from ``--config FILE`` (or the global ``-c``), else HAProxy's
predefined formats are tried. Lines that do not parse are counted and reported on
stderr with the first reasons, never dropped silently. Everything from the log goes
through :func:`~console.haproxy.safe_text.visible` before reaching the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from console.haproxy.errors import HAProxyError, NotFound, ValidationError
from console.haproxy.logs import (
    DIMENSIONS,
    PREDEFINED,
    Filter,
    HalogPct,
    LineParser,
    LogRecord,
    Summary,
    compile_format,
    explain_termination,
    parse_filter,
)
from console.haproxy.logs.journal import journal_argv
from console.haproxy.logs.parse import Result, parse_lines
from console.haproxy.logs.reader import Follower, read_lines
from console.haproxy.logs.summary import CLASSES, Group
from console.haproxy.logs.times import parse_duration, record_time
from console.haproxy.safe_text import visible
from console.instance import ExitStatus

JSON_FIELDS = ("frontend", "backend", "server", "status", "termination", "client",
               "method", "path", "tq", "tw", "tc", "tr", "ta")
TAIL_BYTES = 1 << 20  # how much of the file's end is read to find its last date
FOLLOW_INTERVAL = 0.25


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    d: Any = argparse.SUPPRESS if suppress else None
    p.add_argument("--file", metavar="FILE", default=d,
                   help="the log file ('-': standard input)")
    p.add_argument("--format", metavar="FMT", default=d,
                   help="http, https, tcp, clf, tcpclf, or a log-format string "
                   "(default: from --config, else HAProxy's formats are tried)")
    p.add_argument("--config", metavar="FILE", dest="logs_config", default=d,
                   help="HAProxy configuration: each frontend's log format")
    p.add_argument("--filter", metavar="EXPR", default=d,
                   help="e.g. 'be=be_api status>=500 term~^S client=10.1.0.0/16 Ta>500ms'")
    p.add_argument("--json", action="store_true", default=d, help="JSON output")
    p.add_argument("--ring", metavar="NAME", default=d,
                   help="without --file: the ring to read over the stats socket (-s/-i); "
                   "default: the instance's only ring")
    p.add_argument("--journal", action="store_true", default=d,
                   help="read journald (journalctl -u UNIT -o cat) instead")
    p.add_argument("--unit", metavar="UNIT", default=d,
                   help="with --journal: the systemd unit (default haproxy)")


def add_parser(sub: Any) -> None:
    """Add ``logs`` (and ``logs summary``) to the main parser's subcommands."""
    logs = sub.add_parser("logs", help="HAProxy traffic logs from a file, a ring over the "
                          "stats socket or journald: print, filter, summarise (like halog)")
    _common(logs, suppress=False)
    logs.add_argument("--follow", action="store_true",
                      help="keep reading what is appended (across rotation)")
    inner = logs.add_subparsers(dest="logs_action", metavar="ACTION")
    summary = inner.add_parser("summary", help="per server/backend/path/client/"
                               "termination/status: requests, status classes, errors, "
                               "Ta/Tr percentiles")
    _common(summary, suppress=True)
    summary.add_argument("--window", metavar="DURATION",
                         help="only the last DURATION of the file (5m, 1h...), up to its "
                         "newest line")
    summary.add_argument("--by", choices=DIMENSIONS, default="server")
    summary.add_argument("--sort", choices=("requests", "errors", "slow", "key"),
                         default="requests")
    summary.add_argument("--top", type=int, metavar="N", default=0,
                         help="only the first N groups")
    summary.add_argument("--pct", action="store_true",
                         help="halog -pct's table (TR, Tc, Tr, data-time percentiles)")


# -- setting up ----------------------------------------------------------------------

def make_parser(args: argparse.Namespace) -> LineParser:
    fmt = getattr(args, "format", None)
    if fmt:
        if fmt in PREDEFINED:
            return LineParser.for_format(compile_format(PREDEFINED[fmt]), fmt)
        if fmt.startswith("%") or "%" in fmt:
            return LineParser.for_format(compile_format(fmt), "custom")
        raise ValidationError(f"unknown log format {fmt!r}", "--format",
                              "give http, https, tcp, clf, tcpclf, or a log-format string "
                              "with % variables")
    one: str | None = getattr(args, "logs_config", None)
    configs: list[str] = [one] if one else list(getattr(args, "config", None) or [])
    if configs:
        return _parser_from_config(configs)
    return LineParser.auto()


def _parser_from_config(paths: list[str]) -> LineParser:
    from console.haproxy.logs.config_formats import parser_from_files

    return parser_from_files(paths)


def make_filter(args: argparse.Namespace) -> Filter | None:
    text = getattr(args, "filter", None)
    if text is None:
        return None
    if not text.strip():
        raise ValidationError("--filter needs an expression", "--filter",
                              "e.g. --filter 'status>=500 be=be_api'")
    return parse_filter(text)


def open_log(path: str | None) -> BinaryIO:
    if not path:
        raise ValidationError("no log file given", "haconsole logs",
                              "add --file /var/log/haproxy.log (or --file - for stdin)")
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise NotFound("the log file does not exist", path,
                       "check the path (rotated logs: haproxy.log.1...)") from None
    except IsADirectoryError:
        raise ValidationError("the log path is a directory", path,
                              "give a file") from None
    except OSError as exc:
        raise NotFound("cannot read the log file", path,
                       f"{exc.strerror or exc}: check its permissions") from None


# -- output helpers ------------------------------------------------------------------

def out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _safe(value: object) -> object:
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def record_json(rec: LogRecord) -> str:
    obj: dict[str, object] = {k: _safe(rec.fields.get(k)) for k in JSON_FIELDS}
    for k, v in rec.fields.items():
        if k not in obj:
            obj[k] = _safe(v)
    obj["format"] = rec.format
    if rec.line_no is not None:
        obj["line"] = rec.line_no
    return json.dumps(obj)


def report_unparsed(summary: Summary) -> None:
    if not summary.unparsed:
        return
    print(f"haconsole: {summary.unparsed} of {summary.lines} lines did not parse", file=sys.stderr)
    for line_no, reason, raw in summary.first_unparsed:
        where = f"line {line_no}" if line_no is not None else "a line"
        print(visible(f"  {where}: {reason}: {raw[:120]}"), file=sys.stderr)


# -- logs ----------------------------------------------------------------------------

def _results(parser: LineParser, lines: Iterator[bytes], start: int = 1) -> Iterator[Result]:
    for n, line in enumerate(lines, start):
        yield parser.parse(line, n)


def cmd_lines(args: argparse.Namespace) -> int:
    parser = make_parser(args)
    flt = make_filter(args)
    counts = Summary("server", max_groups=2)
    as_json = bool(getattr(args, "json", False))

    def emit(result: Result) -> None:
        if not isinstance(result, LogRecord):
            counts.add(result)
            return
        counts.lines += 1
        if flt is not None and not flt(result.fields):
            return
        out(record_json(result) if as_json else visible(result.raw))

    source = _source(args)
    if source == "journal":
        return _journal(args, parser, emit, counts, follow=bool(args.follow))
    if source == "ring":
        return _ring(args, emit, counts, follow=bool(args.follow))
    if args.follow:
        return _follow(args, parser, emit, counts)
    stream = open_log(getattr(args, "file", None))
    try:
        for result in _results(parser, read_lines(stream)):
            emit(result)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    report_unparsed(counts)
    if flt is not None and flt.degraded:
        print(visible("haconsole: " + "; ".join(flt.degraded)), file=sys.stderr)
    return ExitStatus.OK


def _follow(args: argparse.Namespace, parser: LineParser, emit: Any, counts: Summary) -> int:
    path = getattr(args, "file", None)
    if not path or path == "-":
        raise ValidationError("--follow needs a file", "--file",
                              "give the log file's path: --file /var/log/haproxy.log")
    if not os.path.exists(path):
        raise NotFound("the log file does not exist", path, "check the path")
    follower = Follower(path)
    n = 0
    try:
        while True:
            for line in follower.poll():
                n += 1
                emit(parser.parse(line, n))
            sys.stdout.flush()
            time.sleep(FOLLOW_INTERVAL)
    finally:
        follower.close()
        report_unparsed(counts)


# -- summary -------------------------------------------------------------------------

def newest_time(path: str, parser: LineParser) -> float | None:
    """The newest date among the lines of the last :data:`TAIL_BYTES` of *path*."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - TAIL_BYTES))
        if size > TAIL_BYTES:
            f.readline()  # a partial line
        newest: float | None = None
        for line in read_lines(f):
            rec = parser.parse(line)
            if isinstance(rec, LogRecord):
                t = record_time(rec.fields)
                if t is not None and (newest is None or t > newest):
                    newest = t
        return newest


def cmd_summary(args: argparse.Namespace) -> int:
    source = _source(args)
    if source != "file":
        return _summary_stream(args, source)
    parser = make_parser(args)
    flt = make_filter(args)
    path = getattr(args, "file", None)
    since: float | None = None
    window_text = ""
    if args.window:
        seconds = parse_duration(args.window)
        if seconds is None or seconds <= 0:
            raise ValidationError(f"{args.window!r} is not a duration", "--window",
                                  "write 1m, 5m, 15m, 1h...")
        if not path or path == "-":
            raise ValidationError("--window needs a file (it looks for the newest line "
                                  "first)", "--window", "give --file PATH")
        open_log(path).close()
        newest = newest_time(path, parser)
        if newest is not None:
            since = newest - seconds
            window_text = (f", window {args.window} up to "
                           f"{time.strftime('%d/%b/%Y:%H:%M:%S', time.gmtime(newest))}")
    summary = Summary(args.by)
    pct = HalogPct() if args.pct else None
    outside = 0
    stream = open_log(path)
    try:
        # in batches (parse_lines): the summary is printed at the end anyway
        for result in parse_lines(parser, read_lines(stream)):
            if isinstance(result, LogRecord):
                if since is not None:
                    t = record_time(result.fields)
                    if t is not None and t < since:
                        outside += 1
                        continue
                if flt is not None and not flt(result.fields):
                    summary.lines += 1
                    continue
                if pct is not None:
                    pct.add(result)
            summary.add(result)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    if pct is not None:
        _print_pct(pct, bool(args.json))
    elif args.json:
        rows = summary.rows(args.sort)
        if args.top > 0:
            rows = rows[: args.top]
        out(json.dumps([_safe_group(g.to_dict(key)) for key, g in rows]))
    else:
        _print_table(summary, args, window_text, outside)
    report_unparsed(summary)
    if flt is not None and flt.degraded:
        print(visible("haconsole: " + "; ".join(flt.degraded)), file=sys.stderr)
    return ExitStatus.OK


def _safe_group(d: dict[str, object]) -> dict[str, object]:
    d["key"] = visible(d["key"])
    term = d.get("termination")
    if isinstance(term, dict):
        d["termination"] = {visible(k): v for k, v in term.items()}
    return d


def _print_pct(pct: HalogPct, as_json: bool) -> None:
    if as_json:
        out(json.dumps([{"pct": p, "count": t, "req": v[0], "conn": v[1], "resp": v[2],
                         "data": v[3]} for p, t, v in pct.table()]))
        return
    sys.stdout.write(pct.text())


def _ms(v: int | None) -> str:
    return "-" if v is None else str(v)


def _print_table(summary: Summary, args: argparse.Namespace, window_text: str,
                 outside: int) -> None:
    rows = summary.rows(args.sort)
    if args.top > 0:
        rows = rows[: args.top]
    extra = f", {outside} before the window" if outside else ""
    out(visible(f"# {summary.lines} lines: {summary.records} requests, {summary.unparsed} "
                f"unparsed, {summary.events} HAProxy events{extra}{window_text}"))
    if summary.groups.dropped:
        out(f"# {summary.groups.dropped} light groups dropped to bound memory; counts may "
            f"be low by up to {summary.groups.error}")
    header = ["KEY", "REQ", "ERR%", *CLASSES, "Ta p50/p95/p99", "Tr p50/p95/p99",
              "TERMINATION"]
    table = [header]
    for key, g in [*rows, ("(all)", summary.total)]:
        table.append(_row(key, g, args.by == "termination"))
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    for r in table:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                 enumerate(zip(r, widths, strict=False))]
        out(visible("  ".join(cells) + "  " + r[-1]))


def _row(key: str, g: Group, explain: bool) -> list[str]:
    err = f"{100.0 * g.errors / g.requests:.1f}" if g.requests else "0.0"
    ta = "/".join(_ms(g.ta.quantile(q)) for q in (0.5, 0.95, 0.99))
    tr = "/".join(_ms(g.tr.quantile(q)) for q in (0.5, 0.95, 0.99))
    terms = sorted(g.termination.items(), key=lambda kv: -kv[1])
    if explain and key != "(all)":
        term_text = explain_termination(key)
    else:
        term_text = " ".join(f"{k}:{v}" for k, v in terms[:4]) + (" ..." if len(terms) > 4
                                                                  else "")
    return [key, str(g.requests), err, *map(str, g.classes), ta, tr, term_text]


# -- other sources: a ring over the stats socket, journald ------------------------------

def _source(args: argparse.Namespace) -> str:
    if getattr(args, "journal", None):
        if getattr(args, "file", None) or getattr(args, "ring", None):
            raise ValidationError("--journal reads journald: drop --file/--ring", "--journal")
        return "journal"
    if getattr(args, "unit", None):
        raise ValidationError("--unit goes with --journal", "--unit",
                              "haconsole logs --journal --unit haproxy")
    if getattr(args, "file", None):
        if getattr(args, "ring", None):
            raise ValidationError("give --file or --ring, not both", "--ring")
        return "file"
    return "ring"


def _ring_target(args: argparse.Namespace) -> Any:
    from console.instance import Request, resolve

    target = resolve(Request.from_args(args), discover=False)
    if not target.socket:
        raise ValidationError(
            "no log source: no --file, and no stats socket to read a ring from",
            "haconsole logs",
            "give --file /var/log/haproxy.log, --journal, or the instance (-s SOCKET, "
            "-i NAME) whose ring to read")
    return target


def _ring_parser(args: argparse.Namespace, target: Any) -> LineParser:
    if getattr(args, "format", None) or getattr(args, "logs_config", None):
        return make_parser(args)
    configs = [c for c in (getattr(target, "configs", None) or []) if os.path.exists(c)]
    if configs:
        try:
            return _parser_from_config(configs)
        except HAProxyError:
            pass
    return LineParser.auto()


async def _pick_ring(client: Any, wanted: str | None) -> str:
    from console.haproxy.logs.ring import check_ring_name, list_sinks, user_rings

    if wanted:
        return check_ring_name(wanted)
    rings = user_rings(await list_sinks(client))
    if len(rings) == 1:
        return rings[0].name
    if not rings:
        raise NotFound("this HAProxy declares no ring to read its logs from", client.where,
                       "add one: `haconsole config add-log-ring` (then `config diff` and "
                       "`config apply`), or read a file (--file PATH) or journald "
                       "(--journal)")
    raise ValidationError("this HAProxy has several rings: say which", "--ring",
                          "--ring " + " | --ring ".join(r.name for r in rings))


def _note(text: str) -> None:
    print(visible(f"haconsole: {text}"), file=sys.stderr, flush=True)


def _ring(args: argparse.Namespace, emit: Any, counts: Summary, *, follow: bool) -> int:
    from console.haproxy.transport import RuntimeClient

    target = _ring_target(args)
    parser = _ring_parser(args, target)
    client = RuntimeClient(target.socket, where=target.socket_where)

    async def main() -> None:
        from console.haproxy.logs.ring import (
            LineSplitter,
            RingFollower,
            RingNote,
            dropped_announcement,
        )

        name = await _pick_ring(client, getattr(args, "ring", None))
        if not follow:
            follower = RingFollower(client, name)
            await follower.check()
            text = await client.run(f"show events {name}", check=False)
            splitter = LineSplitter()
            lines = splitter.feed(text.encode("utf-8", "surrogateescape") + b"\n")
            for n, line in enumerate(lines, 1):
                lost = dropped_announcement(line) if line else None
                if lost is not None:
                    _note(f"HAProxy dropped {lost} line(s) here: the ring {name} was full")
                elif line:
                    emit(parser.parse(line, n))
            return
        follower = RingFollower(client, name, new_only=True)
        n = 0
        async for item in follower.follow():
            if isinstance(item, RingNote):
                _note(item.text)
                continue
            n += 1
            emit(parser.parse(item.data, n))
            sys.stdout.flush()

    try:
        asyncio.run(main())
    finally:
        report_unparsed(counts)
    return ExitStatus.OK



def _journal(args: argparse.Namespace, parser: LineParser, emit: Any, counts: Summary, *,
             follow: bool) -> int:
    for n, line in enumerate(journal_lines(getattr(args, "unit", None), follow=follow), 1):
        emit(parser.parse(line, n))
        if follow:
            sys.stdout.flush()
    report_unparsed(counts)
    return ExitStatus.OK


def journal_lines(unit: str | None, *, follow: bool) -> Iterator[bytes]:
    """The lines journalctl prints, bounded like a file's (see :class:`LineSplitter`)."""
    import subprocess

    from console.haproxy.logs.ring import LineSplitter

    argv = journal_argv(unit, follow=follow)
    exe = shutil.which(argv[0])
    if exe is None:
        raise NotFound("journalctl is not installed here (no systemd journal to read)",
                       "--journal", "read the log file instead (--file PATH) or the "
                       "instance's ring (-s SOCKET)")
    try:
        proc = subprocess.Popen([exe, *argv[1:]], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise NotFound(f"cannot run journalctl: {exc.strerror or exc}", "--journal") from None
    assert proc.stdout is not None and proc.stderr is not None
    splitter = LineSplitter()
    try:
        while True:
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            yield from splitter.feed(chunk)
        yield from (x for x in splitter.feed(b"\n") if x)
        rc = proc.wait()
        if rc != 0:
            err = proc.stderr.read(4096).decode("utf-8", "replace").strip()
            raise NotFound(f"journalctl failed (exit {rc})", " ".join(argv),
                           visible(err.splitlines()[0] if err else "see journalctl's "
                                   "message"))
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()


def _summary_stream(args: argparse.Namespace, source: str) -> int:
    if args.window:
        raise ValidationError("--window needs a file", "--window", "give --file PATH")
    summary = Summary(args.by)
    pct = HalogPct() if args.pct else None
    flt = make_filter(args)

    def emit(result: Result) -> None:
        if isinstance(result, LogRecord):
            if flt is not None and not flt(result.fields):
                summary.lines += 1
                return
            if pct is not None:
                pct.add(result)
        summary.add(result)

    if source == "journal":
        parser = make_parser(args)
        for n, line in enumerate(journal_lines(getattr(args, "unit", None), follow=False), 1):
            emit(parser.parse(line, n))
    else:
        _ring(args, emit, Summary("server", max_groups=2), follow=False)
    if pct is not None:
        _print_pct(pct, bool(args.json))
    elif args.json:
        rows = summary.rows(args.sort)
        if args.top > 0:
            rows = rows[: args.top]
        out(json.dumps([_safe_group(g.to_dict(key)) for key, g in rows]))
    else:
        _print_table(summary, args, "", 0)
    report_unparsed(summary)
    return ExitStatus.OK


def run(args: argparse.Namespace) -> int:
    """``haconsole logs`` / ``haconsole logs summary``."""
    if getattr(args, "logs_action", None) == "summary":
        return cmd_summary(args)
    return cmd_lines(args)

