"""``haconsole table|map|acl ...``: stick tables, maps and ACLs from a shell.

``list`` and ``show`` only read. ``clear`` (a table), ``add``, ``set`` and ``del`` (a
map or an ACL entry) are planned by :mod:`console.haproxy.tables` and sent like every
change (:func:`console.change_cli.change`): shown, confirmed, journaled.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from console.change_cli import change, out, sub, yes
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.instance import Target

READS = {("table", "list"), ("table", "show"), ("map", "list"), ("map", "show"),
         ("acl", "list"), ("acl", "show")}


def add_parsers(parsers: Any) -> None:
    """Add ``table``, ``map`` and ``acl`` to the main parser's subcommands."""
    table = sub(parsers.add_parser("table", help="stick tables: list, show, clear"))
    table.add_parser("list", help="every table")
    p = table.add_parser("show", help="entries of a table")
    p.add_argument("name", metavar="TABLE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key", metavar="K")
    g.add_argument("--data", metavar="'data.X OP V'", help="e.g. 'data.gpc0 gt 0'")
    p = table.add_parser("clear", help="clear one key, or every unused entry")
    p.add_argument("name", metavar="TABLE")
    p.add_argument("--key", metavar="K")
    yes(p)

    for kind in ("map", "acl"):
        sp = sub(parsers.add_parser(kind, help=f"{kind}s: list, show, change (runtime only)"))
        sp.add_parser("list", help=f"every {kind}")
        p = sp.add_parser("show", help="entries")
        p.add_argument("ref", metavar="#ID|FILE")
        p.add_argument("--filter", metavar="TEXT", help="only entries containing TEXT")
        verbs = ("add", "set", "del") if kind == "map" else ("add", "del")
        for verb in verbs:
            p = sp.add_parser(verb, help=f"{verb} an entry")
            p.add_argument("ref", metavar="#ID|FILE")
            p.add_argument("key", metavar="KEY" if kind == "map" else "PATTERN")
            if kind == "map" and verb != "del":
                p.add_argument("value", metavar="VALUE")
            yes(p)


async def run(args: argparse.Namespace, target: Target) -> int:
    """List, show, or change (planned, confirmed, sent) a table, map or acl."""
    from console.haproxy import tables
    from console.haproxy.transport import RuntimeClient
    from console.haproxy.validate import check_name, check_text

    kind, a = args.command, args.action
    client = RuntimeClient(target.socket or "")
    if a == "list":
        if kind == "table":
            for t in await tables.list_tables(client):
                out(f"{t.name}  type {t.type}  size {t.size}  used {t.used}")
        else:
            for m in await tables.list_maps(client, kind):
                count = "" if m.entry_count is None else f"  {m.entry_count} entries"
                out(f"#{m.id}  {m.name or '(inline)'}{count}")
        return ExitStatus.OK
    if a == "show":
        if kind == "table":
            info, entries = await tables.show_table(client, args.name, key=args.key,
                                                    data=args.data)
            out(f"# table {info.name}: type {info.type}, size {info.size}, used {info.used}")
            for e in entries:
                data = " ".join(f"{k}={v}" for k, v in e.data.items())
                out(f"{e.key}  use={e.use} exp={e.exp}  {data}".rstrip())
        elif kind == "map":
            for _, k, v in await tables.map_entries(client, args.ref, args.filter):
                out(f"{k}  {v}")
        else:
            for _, pattern in await tables.acl_entries(client, args.ref, args.filter):
                out(pattern)
        return ExitStatus.OK
    if kind == "table":
        check_name(args.name, "table name")
        if args.key is not None:
            check_text(args.key, "table key")
        what = "table_clear_key" if args.key is not None else "table_clear"
        return await change(args, target, what,
                            lambda c: tables.prepare_table_clear(c, args.name, args.key))
    what = f"{kind}_{a}"
    tables.check_map_ref(args.ref, kind)
    check_text(args.key, "map key" if kind == "map" else "acl pattern")
    if kind == "map":
        value = getattr(args, "value", None)
        if value is not None:
            check_text(value, "map value")
        return await change(args, target, what, lambda c: tables.prepare_map_change(
            c, what, args.ref, args.key, value))
    return await change(args, target, what,
                        lambda c: tables.prepare_acl_change(c, what, args.ref, args.key))
