"""Command line: global options, one-shot commands, the lab, the console.

Every failure ends as one line on stderr and a non-zero exit; an unexpected
internal error is logged with its traceback to a file whose path is printed.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from console import __version__, hints
from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import visible
from console.haproxy.statefs import StateError
from console.instance import ExitStatus, Request, Target, resolve
from console.settings import DEFAULT_INTERVAL


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with *command* ``"config"``, only that command's part
    (the other commands' modules are not imported: a config edit starts sooner)."""
    p = argparse.ArgumentParser(
        prog="haconsole",
        description="A terminal operations console for HAProxy.",
        epilog="Without a command, opens the console. Start a lab to try it: haconsole lab",
    )
    p.add_argument("--version", action="version", version=f"haconsole {__version__}")
    _global_options(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    if command == "config":
        from console.config_cli import add_config_parser

        add_config_parser(sub)
        return p
    _all_commands(sub)
    return p


def _global_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("instance")
    g.add_argument("-s", "--socket", metavar="ADDR",
                   help="stats socket: unix path, or host:port (ipv4@, ipv6@ accepted)")
    g.add_argument("-m", "--master", metavar="ADDR", help="master CLI socket (-S of haproxy)")
    g.add_argument("-c", "--config", metavar="FILE", action="append",
                   help="HAProxy configuration file or directory (*.cfg read in order); "
                   "repeat it as haproxy's -f: -c haproxy.cfg -c conf.d/")
    g.add_argument("--url", metavar="URL",
                   help="stats page URL (http://[user:pass@]host:port/stats)")
    g.add_argument("-i", "--instance", metavar="NAME", action="append",
                   help="named instance from the settings; repeated (-i lb1 -i lb2), an "
                   "ad-hoc fleet of those instances, as --fleet")
    g.add_argument("--ssh", metavar="HOST",
                   help="reach the instance on HOST over SSH (your ssh and ~/.ssh/config; "
                   "-s and -m are then paths on HOST, default -s /run/haproxy/admin.sock)")
    g.add_argument("--ssh-config", metavar="FILE", help="ssh -F FILE instead of ~/.ssh/config")
    g.add_argument("--fleet", metavar="NAME",
                   help="every instance of [fleets.NAME] in the settings: show stat|servers, "
                   "server and frontend changes (--wave all|rolling)")
    g.add_argument("--settings", metavar="FILE", help="settings file (TOML)")
    g.add_argument("--interval", metavar="SECONDS",
                   help=f"refresh interval, 0.1 to 3600 (default {DEFAULT_INTERVAL:g})")
    g.add_argument("--read-only", action="store_true", help="never change anything")
    g.add_argument("--theme", metavar="NAME", help="colour theme")
    g.add_argument("--log-file", metavar="PATH",
                   help="the console's log source for triage and the logs screen: this file, "
                   "followed across rotation (default: the instance's ring)")
    g.add_argument("--log-journal", metavar="UNIT",
                   help="the console's log source: journald, journalctl -u UNIT")
    g.add_argument("--spectator", action="store_true", help=argparse.SUPPRESS)
    g.add_argument("--record", metavar="FILE",
                   help="the console: also write what it polls to FILE, a new recording "
                   "(haconsole replay FILE; headless: haconsole record)")
    g.add_argument("--triage", action="store_true",
                   help="open on \"what's hurting now\" (w): what fails, ranked, with its "
                   "evidence")


def _all_commands(sub: argparse._SubParsersAction) -> None:
    show = sub.add_parser("show", help="print info, stat, proc or servers and exit")
    show.add_argument("what", choices=["info", "stat", "proc", "servers"])
    show.add_argument("--json", action="store_true", help="JSON instead of a table")
    show.add_argument("--filter", metavar="TEXT",
                      help="stat, servers: only rows whose proxy, name or proxy/name "
                      "contain TEXT (case-insensitive), or match it as a regex")
    show.add_argument("--since-mark", action="store_true",
                      help="stat: counters as Δ since the incident mark the console keeps "
                      "for this instance (set with m)")
    show.add_argument("--delta", metavar="SECONDS",
                      help="stat: two samples SECONDS apart (0.1 to 3600); cumulative "
                      "counters as rates per second, the rest as in the second sample")

    lab = sub.add_parser("lab", help="start a real HAProxy lab and open the console on it")
    lab.add_argument("--dir", metavar="DIR", help="lab directory (default: a new temp dir)")
    lab.add_argument("--haproxy", metavar="PATH",
                     help="HAProxy binary (default: bundled, else haproxy on PATH)")
    lab.add_argument("--no-ui", action="store_true",
                     help="run headless until SIGINT/SIGTERM; writes DIR/lab.json")
    from console.config_cli import add_config_parser

    add_config_parser(sub)
    from console.actions_cli import add_parsers as add_action_parsers

    add_action_parsers(sub)  # server, frontend, counters, table, map, acl
    from console.logs_cli import add_parser as add_logs_parser

    add_logs_parser(sub)  # logs, logs summary
    from console.triage_cli import add_parsers as add_triage_parsers

    add_triage_parsers(sub)  # errors, sessions, sessions shutdown
    from console.block_cli import add_parsers as add_block_parsers

    add_block_parsers(sub)  # clients, block, unblock
    from console.serve_cli import add_parser as add_serve_parser

    add_serve_parser(sub)  # serve
    from console.record_cli import add_parsers as add_record_parsers

    add_record_parsers(sub)  # record, replay
    from console.drill_cli import add_parser as add_drill_parser

    add_drill_parser(sub)  # drill list, drill NAME
    lab.add_argument("--drill", metavar="NAME", help="run this drill on the lab "
                     "(as: haconsole drill NAME)")


class _Probe(argparse.ArgumentParser):
    """The global options alone, to find the command before building its parser."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def command_of(argv: Sequence[str] | None) -> str | None:
    """The command *argv* runs (None: unknown, or help asked before it): the parser
    built for it then holds that command only. Anything unusual gets the whole parser,
    so that help and errors read the same."""
    probe = _Probe(prog="haconsole", add_help=False)
    _global_options(probe)
    try:
        _, rest = probe.parse_known_args(argv)
    except (ValueError, SystemExit):
        return None
    for word in rest:
        if word.startswith("-"):
            return None  # help, or an unknown option: the whole parser says it
        return word
    return None


# -- resolving the target ----------------------------------------------------------

def resolve_target(args: argparse.Namespace, *, discover: bool = True) -> Target:
    """The instance the flags name (see :func:`console.instance.resolve`)."""
    return resolve(Request.from_args(args), discover=discover)


NOTHING_FOUND = (
    "no HAProxy instance given or found.\n"
    "  Point haconsole at one:   haconsole -s /run/haproxy/admin.sock\n"
    "                            haconsole --url http://127.0.0.1:8404/stats\n"
    "                            haconsole -i NAME   (an [instances.NAME] in the settings)\n"
    "  Or try it on a lab:       make lab   (or: haconsole lab)"
)


# -- show --------------------------------------------------------------------------

DELTA_RANGE = (0.1, 3600.0)


def cmd_show(args: argparse.Namespace) -> int:
    import asyncio

    from console import oneshot
    from console.settings import check_range

    problem, delta = "", None
    if args.filter is not None and args.what not in ("stat", "servers"):
        problem = "--filter applies to 'show stat' and 'show servers' only"
    elif args.filter is not None and not args.filter.strip():
        problem = "--filter needs a text (a name, part of one, or a regex)"
    elif args.delta is not None and args.what != "stat":
        problem = "--delta applies to 'show stat' only"
    elif args.since_mark and args.what != "stat":
        problem = "--since-mark applies to 'show stat' only"
    elif args.since_mark and args.delta is not None:
        problem = "--since-mark and --delta do not go together: one or the other"
    elif args.delta is not None:
        try:
            delta = check_range(args.delta, "--delta", *DELTA_RANGE)
        except HAProxyError as exc:
            problem = str(exc)
    if problem:
        print(visible(f"haconsole: {problem}"), file=sys.stderr)
        return ExitStatus.USAGE
    target = resolve_target(args)
    return asyncio.run(oneshot.show(target, args.what, as_json=args.json,
                                    name_filter=args.filter, delta=delta,
                                    mark=args.since_mark))


# -- lab ---------------------------------------------------------------------------

def cmd_lab(args: argparse.Namespace) -> int:
    from console import labcli
    from console.settings import check_interval

    if args.interval is not None:
        args.interval = check_interval(args.interval, "--interval")

    if args.drill:
        from console import drill_cli
        from console.haproxy.drills import find

        return drill_cli.run_drill(find(args.drill, drill_cli.drill_dirs()), args.dir,
                                   args.haproxy, ui=not args.no_ui)
    if args.no_ui:
        return labcli.run_headless(args.dir, args.haproxy)
    return labcli.run_with_console(args)


# -- console -----------------------------------------------------------------------

def cmd_console(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    if not (target.socket or target.url):
        print(f"haconsole: {NOTHING_FOUND}", file=sys.stderr)
        return ExitStatus.ERROR
    from console.oneshot import run_console

    target.log_file, target.log_journal = _log_source(args)
    if args.spectator:
        target.read_only = True
    if args.record:
        from console.ui.app import run_app

        return run_app(target, theme=args.theme, triage=args.triage, record=args.record,
                       spectator=args.spectator)
    return run_console(target, theme=args.theme, triage=args.triage,
                       spectator=args.spectator)


def _log_source(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``--log-file`` / ``--log-journal``, checked (one of them at most)."""
    from console.haproxy.errors import ValidationError
    from console.haproxy.logs.journal import journal_argv

    log_file, unit = getattr(args, "log_file", None), getattr(args, "log_journal", None)
    if log_file is not None and unit is not None:
        raise ValidationError("give --log-file or --log-journal, not both", "--log-file")
    if unit is not None:
        journal_argv(unit, follow=True)  # the unit's name checked now
    if log_file is not None:
        if not log_file or any(ord(c) < 32 for c in log_file):
            raise ValidationError("--log-file: not a usable path", "--log-file")
        log_file = os.path.abspath(log_file)
    return log_file, unit


# -- main --------------------------------------------------------------------------

def _internal_error(exc: BaseException) -> int:
    import traceback

    from console.haproxy.statefs import log_path, open_nofollow

    try:
        path = log_path()
        fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600,
                           what="the log file")
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write("".join(traceback.format_exception(exc)))
        where = str(path)
    except (OSError, HAProxyError) as log_exc:
        where = f"(could not write the log file: {log_exc})"
    print(visible(f"haconsole: internal error: {type(exc).__name__}: {exc} — details in "
                  f"{where}"), file=sys.stderr)
    return ExitStatus.ERROR


def split_instances(args: argparse.Namespace) -> None:
    """``-i`` given once names one instance (``args.instance``, as always); given more
    than once, the instances of an ad-hoc fleet (``args.instances``, ``instance`` None)."""
    names = list(args.instance or [])
    args.instances = names if len(names) > 1 else []
    args.instance = names[0] if len(names) == 1 else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    split_instances(args)
    hints.remember(args)
    try:
        if args.fleet or args.instances:
            from console.fleet_cli import run as run_fleet

            return run_fleet(args)
        if getattr(args, "wave", None):
            print("haconsole: --wave is for fleet changes (--fleet NAME, or -i given more "
                  "than once)", file=sys.stderr)
            return ExitStatus.USAGE
        if args.record and args.command is not None:
            print("haconsole: --record is for the console; to record without it: "
                  "haconsole record -s ADDR -o FILE", file=sys.stderr)
            return ExitStatus.USAGE
        if args.command == "show":
            return cmd_show(args)
        if args.command == "lab":
            return cmd_lab(args)
        if args.command == "config":
            from console.config_cli import run_config

            return run_config(args)
        if args.command == "logs":
            from console.logs_cli import run as run_logs

            return run_logs(args)
        if args.command in ("errors", "sessions"):
            from console.triage_cli import run as run_triage

            return run_triage(args)
        if args.command == "serve":
            from console.serve_cli import run as run_serve

            return run_serve(args)
        if args.command == "drill":
            from console.drill_cli import run as run_drill

            return run_drill(args)
        if args.command in ("clients", "block", "unblock"):
            from console.block_cli import run as run_block

            return run_block(args)
        if args.command in ("record", "replay"):
            from console.record_cli import run as run_record

            return run_record(args)
        if args.command in ("server", "frontend", "counters", "table", "map", "acl"):
            from console.actions_cli import run as run_action

            return run_action(args)
        return cmd_console(args)
    except StateError as exc:
        print(f"haconsole: {hints.spelled(str(exc))}", file=sys.stderr)
        return ExitStatus.USAGE
    except HAProxyError as exc:
        print(f"haconsole: {visible(hints.spelled(str(exc)))}", file=sys.stderr)
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        return ExitStatus.OK
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback on screen
        return _internal_error(exc)


def entry() -> NoReturn:
    """The ``haconsole`` command (the installed script, ``python -m console``, the
    one-file archive): :func:`main`, whose status ends the process.

    Then ``gc.freeze()``: the interpreter's last collection at exit does not walk what
    the command built (a config command on a big file makes hundreds of thousands of
    objects, none in a cycle; at 30,000 servers that walk was 5-10 % of a command)."""
    code = main()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
