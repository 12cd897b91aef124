"""``haconsole clients``, ``block`` and ``unblock``: who talks most, and stopping one.

``haconsole clients [--from tables|logs|all] [--window 5m] [--limit N] [--sort
requests|errors|rate] [--json]`` merges, per client address, what the stick tables
tracking addresses hold (request and connection rates and counts, errors) and what
the logs say (requests, errors, error %: a ring over the stats socket, or ``--file``),
and says whether each one is blocked already.

``haconsole block ADDR [--frontend FE] [--permanent] [--yes]`` adds ADDR (an address
or a network) at runtime to the pattern file of every block rule of the configuration
(:mod:`console.haproxy.blocking`), or of FE's only; ``unblock`` removes it. Both are
shown, confirmed and journaled like every change (:mod:`console.change_cli`);
``--permanent`` then writes the pattern file too (atomic, history, journal).
``haconsole block --add-rule --frontend FE [--file PATH]`` stages the rule for a
frontend that has none (then ``haconsole config diff`` / ``config apply``).

Exit codes as :mod:`console.change_cli`: 0 done, 1 HAProxy-side problem, 2 refused
before anything was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from console.change_cli import (
    Refused,
    check_level,
    err,
    failed,
    out,
    refuse_read_only,
    report,
    show_plan,
)
from console.haproxy.errors import HAProxyError, NoSuchObject, ValidationError
from console.haproxy.safe_text import visible
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.haproxy.blocking import BlockPlan, ClientRow, PatternRef, Rules
    from console.instance import Target

COMMANDS = ("clients", "block", "unblock")
DEFAULT_LIMIT = 20


def add_parsers(sub: Any) -> None:
    """Add ``clients``, ``block`` and ``unblock`` to the main parser's subcommands."""
    c = sub.add_parser("clients", help="top clients from the stick tables and the logs, "
                       "each with whether it is blocked")
    c.add_argument("--from", dest="source", choices=("tables", "logs", "all"), default="all",
                   help="where the counts come from (default all)")
    c.add_argument("--window", metavar="DURATION",
                   help="logs: only the last DURATION (5m, 1h...) up to the newest line")
    c.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"clients listed (default {DEFAULT_LIMIT})")
    c.add_argument("--sort", choices=("requests", "errors", "rate"), default="requests")
    c.add_argument("--file", metavar="FILE", help="logs: a log file instead of the ring")
    c.add_argument("--ring", metavar="NAME", help="logs: the ring to read (default: the only "
                   "one)")
    c.add_argument("--format", metavar="FMT", help="logs: http, tcp, ... or a log-format")
    c.add_argument("--json", action="store_true", help="JSON instead of a table")
    for name in ("block", "unblock"):
        p = sub.add_parser(name, help=("refuse a client address (or network) at runtime "
                                       "through the configuration's deny rule"
                                       if name == "block" else "let a blocked client in "
                                       "again"))
        p.add_argument("addr", metavar="ADDR", nargs="?",
                       help="an IP address or network (192.0.2.7, 2001:db8::/48)")
        p.add_argument("--frontend", metavar="FE", help="only the rules protecting FE")
        p.add_argument("--permanent", action="store_true",
                       help="write the pattern file too (atomic; history kept), so a "
                       "reload keeps it")
        p.add_argument("-y", "--yes", action="store_true",
                       help="confirm without asking (needed when stdin is not a terminal)")
        if name == "block":
            p.add_argument("--rules", action="store_true",
                           help="list the block rules, the frontends they protect and "
                           "those without one (reads only)")
            p.add_argument("--add-rule", action="store_true",
                           help="stage the deny rule for --frontend FE (then config diff / "
                           "config apply)")
            p.add_argument("--file", metavar="PATH", help="with --add-rule: the pattern file "
                           "(default: haconsole-blocked.acl next to the configuration)")


# --------------------------------------------------------------------------- the rules

OVER_SSH = ("{what} writes a file on this machine, and this instance is reached over SSH: "
            "nothing was sent; run haconsole on the node for it (the runtime block works "
            "from here without it)")


def _refuse_ssh(target: Any, what: str) -> None:
    if getattr(target, "ssh", None):
        raise Refused(OVER_SSH.format(what=what))

def _files(target: Target) -> list[tuple[str, bytes]]:
    from console.config_set import files_of
    from console.haproxy.atomic import read_bytes

    if not target.config:
        raise ValidationError("no configuration file given or found: the block rules are "
                              "read from it", hint="pass -c FILE")
    return [(f, read_bytes(f)) for f in files_of(target)]


def load_rules(target: Target) -> Rules:
    from console.haproxy.blocking import find_rules, parse_files

    return find_rules(parse_files(_files(target)))


def _chosen(rules: Rules, frontend: str | None, what: str) -> list[Any]:
    if frontend is not None and frontend not in rules.proxies:
        raise NoSuchObject(f"no frontend or listen section named {frontend}",
                           hint="its proxies: " + (", ".join(rules.proxies) or "none"))
    chosen = rules.for_frontend(frontend)
    if not chosen:
        for why in rules.skipped:
            err(f"note: {why}")
        fe = frontend or "FE"
        where = f" protects {frontend}" if frontend else " in the configuration"
        raise Refused(f"cannot {what}: no block rule{where} (a deny rule on src with "
                      f"patterns from a file); stage one: haconsole block --add-rule "
                      f"--frontend {fe}, then haconsole config apply")
    return chosen


async def _runtime(client: Any, refs: list[PatternRef]) -> list[tuple[PatternRef, list[Any]]]:
    from console.haproxy.blocking import entries_of, runtime_refs

    known = await runtime_refs(client, refs)
    return [(p, await entries_of(client, p)) for p in known]


def _ask(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused("not confirmed: stdin is not a terminal; add --yes to confirm")
    try:
        ok = input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        ok = False
    if not ok:
        raise Refused("not confirmed: nothing was sent")


async def _change(args: argparse.Namespace, target: Target, add: bool) -> int:
    from console.haproxy.actions import execute
    from console.haproxy.blocking import (
        check_client,
        edit_pattern_file,
        plan_block,
        plan_unblock,
        read_pattern_file,
        write_pattern_file,
    )
    from console.haproxy.transport import RuntimeClient

    verb = "block" if add else "unblock"
    addr = check_client(args.addr)
    if args.permanent:
        _refuse_ssh(target, "--permanent")
    if getattr(target, "ssh", None):
        from console.instance import attach_files

        attach_files(target)  # the node's configuration, mirrored: its rules
    from console.haproxy.blocking import refs_for

    rules = load_rules(target)
    _chosen(rules, args.frontend, f"{verb} {addr}")
    client = RuntimeClient(target.socket or "", where=target.socket_where)
    await check_level(client, target, "acl_add" if add else "acl_del",
                      f"{verb} {addr}")
    pairs = await _runtime(client, refs_for(rules, args.frontend))
    unprotected = [] if args.frontend else rules.unprotected()
    bp: BlockPlan = plan_block(addr, pairs, unprotected) if add else plan_unblock(addr, pairs)
    for note in bp.notes:
        out(f"note: {note}")
    writes: list[tuple[str, str]] = []
    if args.permanent:
        for p in bp.refs:
            new_data = read_pattern_file(p.path)  # refused here when unsafe: before sending
            _, done = edit_pattern_file(new_data, addr, p.kind, add=add)
            changes = done.startswith(("added", "removed"))
            out(f"file {p.path}: {addr} {done}" + ("" if changes else "; left as it is"))
            if changes:
                writes.append((p.path, p.kind))
    if bp.plan is None and not writes:
        state = "is already blocked" if add else "is in none of these pattern files"
        out(f"nothing to do: {addr} {state} at runtime"
            + ("" if args.permanent else "; --permanent writes the pattern file too"))
        return ExitStatus.OK if add or not any(
            "stays blocked" in n for n in bp.notes) else ExitStatus.USAGE
    if bp.plan is not None:
        show_plan(bp.plan)
    for path, _ in writes:
        out(f"  then:    write {path} ({'add' if add else 'remove'} {addr}; atomic, the "
            "previous content kept in its history)")
    _ask("Send?" if bp.plan is not None else "Write the file(s)?", args.yes)
    if bp.plan is not None:
        rc = report(await execute(bp.plan, client, target))
        if rc != ExitStatus.OK:
            if writes:
                err("the pattern file(s) were not written: the runtime change failed")
            return rc
    for path, kind in writes:
        try:
            change = write_pattern_file(path, addr, kind, add=add, target=target,
                                        message=f"haconsole {verb} {addr}")
        except HAProxyError as exc:
            if bp.plan is not None:
                err(f"the runtime change is done, but {path} was not written: "
                    f"{' '.join(str(exc).split())}")
                return ExitStatus.ERROR
            raise
        if change.changed:
            out(f"written: {path} ({addr} {change.done}), history version {change.version} "
                f"(haconsole -c {path} config history)")
        else:
            out(f"{path}: {addr} {change.done}")
        if change.warning:
            err(f"warning: {change.warning}")
    return ExitStatus.OK


def _list_rules(args: argparse.Namespace) -> int:
    from console.instance import Request, resolve

    target = resolve(Request.from_args(args), discover=not args.config)
    rules = load_rules(target)
    if args.addr or args.add_rule or args.permanent:
        raise ValidationError("--rules only lists the rules", hint="haconsole block --rules")
    for r in rules.rules:
        out(f"{r.where}  {r.section}: {r.text}")
        out(f"  {r.kind} {r.ref} ({r.fetch}) protects {', '.join(r.frontends) or 'nothing'}")
    if not rules.rules:
        out("no block rule")
    for why in rules.skipped:
        out(f"skipped: {why}")
    for fe in rules.unprotected():
        out(f"no block rule: {fe} ({rules.proxies[fe]}); stage one: haconsole block "
            f"--add-rule --frontend {fe}")
    return ExitStatus.OK


# --------------------------------------------------------------------------- add a rule

def _add_rule(args: argparse.Namespace) -> int:
    from console.config_cli import _refuse_read_only, _stagings
    from console.config_cli import _target as config_target
    from console.config_set import current_text, files_of
    from console.haproxy.blocking import (
        DEFAULT_FILE,
        add_rule_edit,
        check_pattern_path,
        create_pattern_file,
        parse_files,
        read_pattern_file,
    )

    if not args.frontend:
        raise ValidationError("--add-rule needs --frontend FE", hint="the frontend to protect")
    if args.addr or args.permanent:
        raise ValidationError("--add-rule only stages the rule: block an address once it is "
                              "applied", hint="haconsole block --add-rule --frontend FE")
    target = config_target(args, discover=True)
    _refuse_read_only(target)
    _refuse_ssh(target, "--add-rule")
    files = files_of(target)
    path = check_pattern_path(args.file or os.path.join(
        os.path.dirname(os.path.abspath(files[0])), DEFAULT_FILE))
    stagings = _stagings(target)
    parsed = parse_files([(f, current_text(stagings[f])) for f in files])
    k, new, line = add_rule_edit(parsed, args.frontend, path)
    if create_pattern_file(path, like=files[0]):
        out(f"created {path} (empty): haproxy -c refuses a -f file that does not exist")
    else:
        count = sum(1 for raw in read_pattern_file(path).splitlines()
                    if raw.strip() and not raw.strip().startswith(b"#"))
        out(f"{path} exists" + (f": its {count} entries are blocked once applied" if count
                                else " (empty)"))
    staging = stagings[files[k]]
    staging.set_candidate(new, note=f"block rule in {args.frontend}")
    out(f"staged: {args.frontend}: {line}" + (f" (in {files[k]})" if len(files) > 1 else ""))
    out("  review: haconsole config diff; apply: haconsole config apply; then: "
        "haconsole block ADDR")
    return ExitStatus.OK


# --------------------------------------------------------------------------- clients

async def _table_rows(client: Any, rows: dict[str, ClientRow], notes: list[str]) -> None:
    from console.haproxy.blocking import MAX_TABLE_ENTRIES, add_table_entries
    from console.haproxy.tables import list_tables, show_table

    tables = [t for t in await list_tables(client) if t.type in ("ip", "ipv6")]
    if not tables:
        notes.append("no stick table keyed by address (type ip or ipv6)")
    for t in tables:
        if t.used > MAX_TABLE_ENTRIES:
            notes.append(f"table {t.name} has {t.used} entries: not read (over "
                         f"{MAX_TABLE_ENTRIES}); haconsole table show {t.name} --data ...")
            continue
        _, entries = await show_table(client, t.name)
        add_table_entries(rows, t.name, entries)


def _log_args(args: argparse.Namespace) -> argparse.Namespace:
    ns = argparse.Namespace(**vars(args))
    for name in ("logs_config", "filter", "journal", "unit"):
        setattr(ns, name, None)
    return ns


def _log_rows(args: argparse.Namespace, rows: dict[str, ClientRow], notes: list[str]) -> None:
    from console import logs_cli
    from console.haproxy.blocking import add_log_groups
    from console.haproxy.logs import LogRecord, Summary
    from console.haproxy.logs.reader import read_lines
    from console.haproxy.logs.times import parse_duration, record_time

    ns = _log_args(args)
    since: float | None = None
    seconds = None
    if args.window:
        seconds = parse_duration(args.window)
        if seconds is None or seconds <= 0:
            raise ValidationError(f"{args.window!r} is not a duration", "--window",
                                  "write 1m, 5m, 15m, 1h...")
    summary = Summary("client")
    records: list[Any] = []
    if args.file:
        parser = logs_cli.make_parser(ns)
        if seconds is not None and args.file != "-":
            logs_cli.open_log(args.file).close()
            newest = logs_cli.newest_time(args.file, parser)
            since = newest - seconds if newest is not None else None
        stream = logs_cli.open_log(args.file)
        try:
            for n, line in enumerate(read_lines(stream), 1):
                result = parser.parse(line, n)
                if since is not None and isinstance(result, LogRecord):
                    t = record_time(result.fields)
                    if t is not None and t < since:
                        continue
                summary.add(result)
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
    else:
        logs_cli._ring(ns, records.append, Summary("server", max_groups=2), follow=False)
        if seconds is not None:
            times = [t for r in records if isinstance(r, LogRecord)
                     and (t := record_time(r.fields)) is not None]
            since = max(times) - seconds if times else None
        for result in records:
            if since is not None and isinstance(result, LogRecord):
                t = record_time(result.fields)
                if t is not None and t < since:
                    continue
            summary.add(result)
    logs_cli.report_unparsed(summary)
    if summary.groups.dropped:
        notes.append(f"{summary.groups.dropped} light clients dropped to bound memory")
    add_log_groups(rows, list(summary.groups))


async def _blocked(target: Target, client: Any, rows: list[ClientRow],
                   notes: list[str]) -> None:
    from console.haproxy.blocking import mark_blocked

    try:
        rules = load_rules(target)
        from console.haproxy.blocking import group_rules

        pairs = await _runtime(client, group_rules(rules.rules)) if rules.rules else []
    except HAProxyError as exc:
        notes.append(f"whether a client is blocked is unknown: {' '.join(str(exc).split())}")
        return
    if not rules.rules:
        notes.append("no block rule in the configuration: haconsole block --add-rule "
                     "--frontend FE stages one")
    mark_blocked(rows, pairs)


async def _clients(args: argparse.Namespace, target: Target) -> int:
    from console.haproxy.blocking import sorted_rows
    from console.haproxy.transport import RuntimeClient

    rows: dict[str, ClientRow] = {}
    notes: list[str] = []
    client = RuntimeClient(target.socket or "", where=target.socket_where) \
        if target.socket else None
    if args.source in ("tables", "all"):
        if client is None:
            raise ValidationError("the stick tables are read over the stats socket",
                                  hint="give -s SOCKET, or --from logs --file FILE")
        await _table_rows(client, rows, notes)
    if args.source in ("logs", "all"):
        try:
            await asyncio.to_thread(_log_rows, args, rows, notes)
        except HAProxyError as exc:
            if args.source == "logs":
                raise
            notes.append(f"logs not read: {' '.join(str(exc).split())}")
    ranked = sorted_rows(rows.values(), args.sort)[:args.limit]
    if client is not None and target.config:
        await _blocked(target, client, ranked, notes)
    elif ranked:
        notes.append("whether a client is blocked needs the stats socket (-s) and the "
                     "configuration (-c)")
    if args.json:
        json.dump({"clients": [r.to_json() for r in ranked], "total": len(rows),
                   "notes": [visible(n) for n in notes]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return ExitStatus.OK
    for n in notes:
        err(f"note: {n}")
    out(f"{len(rows)} clients" + (f", the first {len(ranked)} by {args.sort}"
                                  if len(ranked) < len(rows) else f", by {args.sort}"))
    if not ranked:
        return ExitStatus.OK
    width = max(len("client"), *(len(r.addr) for r in ranked))
    out(f"{'client':<{width}}  {'req':>7}  {'err':>6}  {'err%':>5}  {'req/s':>6}  "
        f"{'conn/s':>6}  {'cur':>4}  blocked")
    for r in ranked:
        t = r.table
        blocked = "?" if r.blocked is None else (", ".join(r.blocked) if r.blocked else "-")
        out(f"{r.addr:<{width}}  {r.requests:>7}  {r.errors:>6}  {r.error_pct:>5}  "
            f"{t.get('req_rate', '-'):>6}  {t.get('conn_rate', '-'):>6}  "
            f"{t.get('conn_cur', '-'):>4}  {blocked}")
    return ExitStatus.OK


# --------------------------------------------------------------------------- entry

def _attempt(args: argparse.Namespace) -> str:
    words = ["haconsole", args.command]
    if getattr(args, "add_rule", False):
        words.append("--add-rule")
    if args.addr:
        words.append(str(args.addr))
    if args.frontend:
        words += ["--frontend", str(args.frontend)]
    if args.permanent:
        words.append("--permanent")
    return visible(" ".join(words))


def run(args: argparse.Namespace) -> int:
    """Dispatch ``clients``, ``block`` and ``unblock``."""
    from console.actions_cli import _target

    changes = args.command in ("block", "unblock") and not getattr(args, "rules", False)
    target: Any = None
    try:
        if not changes and args.command == "block":
            return _list_rules(args)
        if changes and args.ssh and (args.permanent or getattr(args, "add_rule", False)):
            _refuse_ssh(args, "--permanent" if args.permanent else "--add-rule")
        if args.command == "block" and args.add_rule:
            if args.yes:
                raise ValidationError("--add-rule stages the rule; --yes goes to "
                                      "haconsole config apply")
            return _add_rule(args)
        if changes and not args.addr:
            raise Refused(f"give the address to {args.command}: haconsole {args.command} "
                          "ADDR" + (" (or --add-rule --frontend FE)"
                                    if args.command == "block" else ""))
        if changes:
            from console.haproxy.blocking import check_client

            check_client(args.addr)  # before anything else: nothing read, nothing sent
            if getattr(args, "file", None):
                raise ValidationError("--file goes with --add-rule")
        if not changes and args.limit < 0:
            raise ValidationError("--limit must be 0 or more")
        if not changes and args.source == "tables" and (args.file or args.window):
            raise ValidationError("--file and --window read the logs: not with --from "
                                  "tables")
        if changes or args.source != "logs" or not args.file:
            target = _target(args)
        else:
            from console.instance import Request, resolve

            target = resolve(Request.from_args(args), discover=False)
        if not changes:
            return asyncio.run(_clients(args, target))
        refuse_read_only(target)
        return asyncio.run(_change(args, target, args.command == "block"))
    except (Refused, HAProxyError) as exc:
        return failed(exc, changes=changes, target=target, socket=args.socket,
                      attempt=lambda: _attempt(args))
