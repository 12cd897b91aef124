"""Command line: global options, one-shot commands, the lab, the console.

Every failure ends as one line on stderr and a non-zero exit; an unexpected
internal error is logged with its traceback to a file whose path is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field

from console import __version__
from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import visible
from console.haproxy.statefs import StateError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

log = logging.getLogger("haconsole")


@dataclass
class Target:
    """Where the instance is, after flags, settings and discovery are merged."""

    name: str = "haproxy"
    socket: str | None = None
    master: str | None = None
    config: str | None = None  # the first file of the configuration
    url: str | None = None
    url_user: str | None = None
    url_password: str | None = None
    haproxy: str | None = None
    haproxy_origin: str = "given"  # "settings", "running instance"…
    configs: list[str] = field(default_factory=list)  # every -f, files or directories
    read_only: bool = False
    interval: float = 2.0
    notes: list[str] = field(default_factory=list)
    check_args: list[str] = field(default_factory=list)

    @property
    def config_paths(self) -> list[str]:
        """The configuration's ``-f`` paths in order (files or directories)."""
        return list(self.configs) or ([self.config] if self.config else [])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="haconsole",
        description="A terminal operations console for HAProxy.",
        epilog="Without a command, opens the console. Start a lab to try it: haconsole lab",
    )
    p.add_argument("--version", action="version", version=f"haconsole {__version__}")
    g = p.add_argument_group("instance")
    g.add_argument("-s", "--socket", metavar="ADDR",
                   help="stats socket: unix path, or host:port (ipv4@, ipv6@ accepted)")
    g.add_argument("-m", "--master", metavar="ADDR", help="master CLI socket (-S of haproxy)")
    g.add_argument("-c", "--config", metavar="FILE", action="append",
                   help="HAProxy configuration file or directory (*.cfg read in order); "
                   "repeat it as haproxy's -f: -c haproxy.cfg -c conf.d/")
    g.add_argument("--url", metavar="URL",
                   help="stats page URL (http://[user:pass@]host:port/stats)")
    g.add_argument("-i", "--instance", metavar="NAME", help="named instance from the settings")
    g.add_argument("--settings", metavar="FILE", help="settings file (TOML)")
    g.add_argument("--interval", metavar="SECONDS",
                   help="refresh interval, 0.1 to 3600 (default 2)")
    g.add_argument("--read-only", action="store_true", help="never change anything")
    g.add_argument("--theme", metavar="NAME", help="colour theme")

    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    show = sub.add_parser("show", help="print info, stat, proc or servers and exit")
    show.add_argument("what", choices=["info", "stat", "proc", "servers"])
    show.add_argument("--json", action="store_true", help="JSON instead of a table")

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
    return p


# -- resolving the target ----------------------------------------------------------

def resolve_target(args: argparse.Namespace, *, discover: bool = True) -> Target:
    from console import settings as settings_mod

    settings = settings_mod.load(args.settings)
    settings.limits.apply()
    t = Target(interval=settings.ui.interval)
    inst = settings.instance(args.instance) if (args.instance or not (
        args.socket or args.master or args.config or args.url)) else None
    if inst:
        t.name = inst.name
        t.socket, t.master, t.url = inst.socket, inst.master, inst.stats_url
        t.configs = list(inst.configs)
        t.url_user, t.url_password = inst.stats_user, inst.stats_password
        t.haproxy, t.read_only = inst.haproxy, inst.read_only
        if inst.haproxy:
            t.haproxy_origin = "settings"
    from console.haproxy import shared_state

    shared_state.configure((inst.shared_state_dir if inst else None) or
                           settings.shared_state_dir)
    # Credentials for the stats page from the environment: never in an argv (ps).
    t.url_user = os.environ.get("HACONSOLE_STATS_USER") or t.url_user
    t.url_password = os.environ.get("HACONSOLE_STATS_PASSWORD") or t.url_password
    t.socket = args.socket or t.socket
    t.master = args.master or t.master
    if args.config:
        given = [args.config] if isinstance(args.config, str) else list(args.config)
        t.configs = [os.path.abspath(p) for p in given]
    _set_configs(t, t.configs)
    t.url = args.url or t.url
    t.read_only = args.read_only or t.read_only
    if args.interval is not None:
        t.interval = settings_mod.check_interval(args.interval, "--interval")
    if discover and (t.socket or t.master or t.config or not t.url):
        from console.haproxy.discovery import discover as run_discovery

        found = asyncio.run(run_discovery(t.socket, t.master, t.config))
        t.socket = t.socket or found.socket
        t.master = t.master or found.master
        if not t.configs and found.config_files:
            _set_configs(t, found.config_files)
        if found.cmdline:
            if not t.haproxy and found.cmdline.binary:
                t.haproxy, t.haproxy_origin = found.cmdline.binary, "running instance"
            t.check_args = found.cmdline.check_args
        t.notes += found.notes
    if t.socket and t.name == "haproxy":
        t.name = os.path.basename(os.path.dirname(t.socket)) or t.socket \
            if "/" in t.socket else t.socket
    return t


def _set_configs(t: Target, paths: list[str]) -> None:
    """The configuration's paths, and its first file as ``config``."""
    from console.haproxy.config.fileset import expand_paths

    t.configs = list(paths)
    files = expand_paths(paths) if paths else []
    t.config = files[0] if files else (paths[0] if paths else None)


NOTHING_FOUND = (
    "no HAProxy instance given or found.\n"
    "  Point haconsole at one:   haconsole -s /run/haproxy/admin.sock\n"
    "                            haconsole --url http://127.0.0.1:8404/stats\n"
    "                            haconsole -i NAME   (an [instances.NAME] in the settings)\n"
    "  Or try it on a lab:       make lab   (or: haconsole lab)"
)


# -- show --------------------------------------------------------------------------

def cmd_show(args: argparse.Namespace) -> int:
    from console import oneshot

    target = resolve_target(args)
    return asyncio.run(oneshot.show(target, args.what, as_json=args.json))


# -- lab ---------------------------------------------------------------------------

def cmd_lab(args: argparse.Namespace) -> int:
    from console import labcli
    from console.settings import check_interval

    if args.interval is not None:
        args.interval = check_interval(args.interval, "--interval")

    if args.no_ui:
        return labcli.run_headless(args.dir, args.haproxy)
    return labcli.run_with_console(args)


# -- console -----------------------------------------------------------------------

def cmd_console(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    if not (target.socket or target.url):
        print(f"haconsole: {NOTHING_FOUND}", file=sys.stderr)
        return EXIT_ERROR
    from console.oneshot import run_console

    return run_console(target, theme=args.theme)


# -- main --------------------------------------------------------------------------

def _internal_error(exc: BaseException) -> int:
    from console.haproxy.statefs import open_nofollow
    from console.settings import state_dir

    try:
        path = state_dir() / "haconsole.log"
        fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600,
                           what="the log file")
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write("".join(traceback.format_exception(exc)))
        where = str(path)
    except (OSError, HAProxyError) as log_exc:
        where = f"(could not write the log file: {log_exc})"
    print(visible(f"haconsole: internal error: {type(exc).__name__}: {exc} — details in "
                  f"{where}"), file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            return cmd_show(args)
        if args.command == "lab":
            return cmd_lab(args)
        if args.command == "config":
            from console.config_cli import run_config

            return run_config(args)
        if args.command in ("server", "frontend", "counters", "table", "map", "acl"):
            from console.actions_cli import run as run_action

            return run_action(args)
        return cmd_console(args)
    except StateError as exc:
        print(f"haconsole: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HAProxyError as exc:
        print(f"haconsole: {visible(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback on screen
        return _internal_error(exc)


if __name__ == "__main__":
    raise SystemExit(main())
