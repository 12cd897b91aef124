"""``haconsole record``: what the console polls, written to a recording file, headless.

Stops at ``--duration``, at SIGINT/SIGTERM, or at the size limit; the file is complete
in every case (each record is written whole as it comes; an end record says why it
stopped). ``haconsole replay FILE`` opens the console on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from console.haproxy.errors import HAProxyError, ParseError, ValidationError
from console.haproxy.journal import journal_path
from console.haproxy.recording import (
    DEFAULT_MAX_BYTES,
    JournalTail,
    MarkWatch,
    RecordingFull,
    RecordingWriter,
)
from console.haproxy.safe_text import visible
from console.haproxy.transport import RuntimeClient
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.haproxy.logs.collector import LogCollector

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``2h``, ``1d`` as seconds (1 s to 31 days)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*", text.lower())
    if not m:
        raise ValidationError(f"--duration {text!r}: give a number with s, m, h or d "
                              "(10m, 2h)", "--duration")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not 1 <= seconds <= 31 * 86400:
        raise ValidationError("--duration: from 1s to 31d", "--duration")
    return seconds


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``800k`` as bytes (1 MiB to 1 TiB)."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)i?b?\s*", text.lower())
    if not m:
        raise ValidationError(f"--max-size {text!r}: give a size (500M, 2G)", "--max-size")
    size = int(float(m.group(1)) * _SIZES[m.group(2)])
    if not 1 << 20 <= size <= 1 << 40:
        raise ValidationError("--max-size: from 1M to 1024G", "--max-size")
    return size


def add_parsers(sub: Any) -> None:
    rec = sub.add_parser(
        "record", help="record what the console polls (stat, info, failures, journal) to "
        "a file, headless, until --duration, SIGINT/SIGTERM or --max-size; replay it with "
        "haconsole replay FILE")
    rec.add_argument("-s", "--socket", metavar="ADDR", default=argparse.SUPPRESS,
                     help="stats socket (as the global -s)")
    rec.add_argument("--interval", metavar="SECONDS", default=argparse.SUPPRESS,
                     help="poll interval (as the global --interval; default 1)")
    rec.add_argument("-o", "--output", metavar="FILE", required=True,
                     help="the recording (a new file; never overwritten)")
    rec.add_argument("--duration", metavar="TIME", help="stop after TIME (90s, 10m, 2h)")
    rec.add_argument("--no-logs", action="store_true",
                     help="do not follow the instance's log ring (by default its 10-second "
                     "log summaries are recorded when it logs to a ring)")
    rec.add_argument("--max-size", metavar="SIZE",
                     help=f"stop when the file reaches SIZE (default "
                     f"{DEFAULT_MAX_BYTES >> 30}G)")
    rep = sub.add_parser("replay", help="open the console on a recording (read-only): "
                         "p play/pause, . speed 1×/10×/60×, > next event")
    rep.add_argument("file", metavar="FILE", help="a recording (haconsole record, --record)")
    rep.add_argument("--speed", type=int, choices=(1, 10, 60), default=1,
                     help="start at this speed (default 1)")


def run(args: argparse.Namespace) -> int:
    if args.command == "replay":
        return run_replay(args)
    return run_record(args)


def run_record(args: argparse.Namespace) -> int:
    from console.cli import resolve_target
    from console.settings import check_interval

    duration = parse_duration(args.duration) if args.duration else None
    max_bytes = parse_size(args.max_size) if args.max_size else DEFAULT_MAX_BYTES
    if args.interval is not None:
        args.interval = check_interval(args.interval, "--interval")
    target = resolve_target(args)
    if not target.socket:
        print("haconsole: record needs a stats socket (-s ADDR, or -i NAME)", file=sys.stderr)
        return ExitStatus.USAGE
    interval = args.interval or target.interval
    writer = RecordingWriter(args.output, instance=target.name, where=target.socket,
                             interval=interval, max_bytes=max_bytes)
    print(visible(f"haconsole: recording {target.name} ({target.socket}) every "
                  f"{interval:g}s to {args.output}"
                  + (f" for {args.duration}" if duration else "")
                  + "; stop with ctrl+c"), file=sys.stderr)
    logs = None
    if not args.no_logs:
        from console.haproxy.logs.collector import LogCollector
        from console.haproxy.logs.config_formats import parser_or_auto

        paths = [p for p in target.config_paths if os.path.exists(p)]
        logs = LogCollector(RuntimeClient(target.socket), lambda: parser_or_auto(paths))
    try:
        journal: JournalTail | None = JournalTail(str(journal_path()), target.name)
    except HAProxyError:
        journal = None
    marks = MarkWatch(target.name)
    reason: str = "interrupted"
    code: int = ExitStatus.INTERRUPTED
    try:
        reason, code = asyncio.run(record(RuntimeClient(target.socket), writer, interval,
                                          duration, journal, marks, logs))
    finally:
        writer.close(reason)
    took = time.time() - writer.started
    per_hour = writer.size / took * 3600 if took > 1 else 0
    print(visible(f"haconsole: {reason}: {writer.polls} polls in {took:.0f}s written to "
                  f"{args.output} ({writer.size / 1e6:.2f} MB; about "
                  f"{per_hour / 1e6:.1f} MB per hour at this rate)"), file=sys.stderr)
    return code


async def record(client: RuntimeClient, writer: RecordingWriter, interval: float,
                 duration: float | None, journal: JournalTail | None,
                 marks: MarkWatch | None = None,
                 logs: LogCollector | None = None) -> tuple[str, int]:
    """Poll and write until stopped; the reason and the exit status. With *logs*, its
    ring is followed and its complete 10 s buckets are written as they close (the one
    still filling at the end too)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    why: list[str] = []

    def on_signal(name: str) -> None:
        why.append(f"stopped by {name}")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    start = time.monotonic()
    end = start + duration if duration else None
    follow = asyncio.create_task(logs.run()) if logs is not None else None
    said = asyncio.create_task(_say_logs(logs)) if logs is not None else None
    serial = 0
    try:
        while not stop.is_set():
            began = time.monotonic()
            if end is not None and began >= end:
                return "duration reached", ExitStatus.OK
            try:
                try:
                    info, stat = await asyncio.gather(client.run("show info"),
                                                      client.run("show stat"))
                except HAProxyError as exc:
                    writer.failure(str(exc))
                else:
                    try:
                        writer.poll(info, stat, mono=began)
                    except ParseError as exc:
                        writer.failure(str(exc))
            except RecordingFull as exc:
                print(visible(f"haconsole: {exc}"), file=sys.stderr)
                return "size limit reached", ExitStatus.OK
            try:
                if journal is not None:
                    writer.journal(journal.read())
                for doc in marks.changes() if marks is not None else ():
                    writer.mark(doc)
                if logs is not None and logs.windows.buckets:
                    states, serial = logs.windows.closed_states(serial)
                    writer.logs(states)
            except RecordingFull as exc:
                print(visible(f"haconsole: {exc}"), file=sys.stderr)
                return "size limit reached", ExitStatus.OK
            delay = interval - (time.monotonic() - began)
            if end is not None:
                delay = min(delay, end - time.monotonic())
            try:
                await asyncio.wait_for(stop.wait(), max(delay, 0.0))
            except TimeoutError:
                pass
        return (why[0] if why else "stopped"), ExitStatus.OK
    finally:
        if said is not None:
            said.cancel()
        if logs is not None and follow is not None:
            logs.stop()
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follow
            if logs.windows.buckets:
                with contextlib.suppress(HAProxyError):
                    writer.logs(logs.windows.newest_state(serial)[0])
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _say_logs(logs: LogCollector) -> None:
    """Say once whether the log summaries are recorded: from when the ring's backlog
    is read (the lines written from then on are counted), or why not."""
    while True:
        if logs.caught_up:
            print(visible(f"haconsole: {logs.source}: log summaries recorded from now on"),
                  file=sys.stderr)
            return
        if logs.state in ("no-ring", "stopped"):
            print(visible(f"haconsole: no log summaries recorded: {logs.why}"),
                  file=sys.stderr)
            return
        await asyncio.sleep(0.1)


def run_replay(args: argparse.Namespace) -> int:
    from console.haproxy.recording import Recording
    from console.ui.replay import run_replay as run_ui

    recording = Recording(args.file)
    if not recording.polls:
        recording.close()
        print(visible(f"haconsole: {args.file}: the recording holds no poll"
                      + (f" ({recording.damage})" if recording.damage else "")),
              file=sys.stderr)
        return ExitStatus.ERROR
    return run_ui(recording, speed=args.speed)
