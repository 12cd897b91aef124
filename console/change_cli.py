"""Sending one runtime change from a shell: the path every ``haconsole`` change takes.

:func:`change` checks the socket's level, plans, prints the exact command(s) and
their impact (:func:`show_plan`), asks for confirmation on a terminal (``y`` or, for a
dangerous one, the name typed: :func:`confirm`), sends, and prints HAProxy's answer
and the runtime-only note (:func:`report`). Sending journals every command.

Exit codes: 0 done; 1 HAProxy-side problem (no such server, socket level too low,
HAProxy refused, no connection); 2 refused before anything was sent (bad name or
value, no confirmation, ``--read-only``). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn

from console.haproxy.safe_text import visible, visible_lines
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.haproxy.plans import Plan
    from console.instance import Target



class Refused(Exception):
    """Refused before sending; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = ExitStatus.USAGE) -> None:
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(ExitStatus.USAGE, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


# --------------------------------------------------------------------------- parsers

READ_ONLY = ("read-only: this command changes HAProxy and --read-only (or the instance's "
             "read_only setting) forbids it; nothing was sent")


def refuse_read_only(target: Any) -> None:
    """Refused when *target* is read-only: nothing is sent to it."""
    if target.read_only:
        raise Refused(READ_ONLY)


def failed(exc: Exception, *, changes: bool, target: Any, socket: str | None,
           attempt: Callable[[], str]) -> int:
    """Say *exc* (a :class:`Refused` or an HAProxyError) in one line and return the exit
    status; a refused change is journaled unless it already was."""
    from console.haproxy.actions import record_refusal
    from console.haproxy.errors import ValidationError
    from console.haproxy.statefs import StateError

    if isinstance(exc, Refused):
        code = exc.code
    else:
        refused = isinstance(exc, (ValidationError, StateError))
        code = ExitStatus.USAGE if refused else ExitStatus.ERROR
    message = " ".join(str(exc).split())
    if changes and not getattr(exc, "journaled", False):
        record_refusal(target or socket or "?", attempt(), message)
    err(message)
    return code


def yes(p: argparse.ArgumentParser) -> None:
    p.add_argument("-y", "--yes", action="store_true",
                   help="confirm without asking (needed when stdin is not a terminal)")
    p.add_argument("--wave", choices=("all", "rolling"),
                   help="with --fleet (or -i given more than once): every node (all), or one "
                   "after the other, each read back, stopping at the first failure (rolling, "
                   "the default)")


def sub(parent: argparse.ArgumentParser) -> Any:
    return parent.add_subparsers(dest="action", metavar="ACTION", required=True,
                                 parser_class=OneLineParser)


# --------------------------------------------------------------------------- output

def out(text: str = "") -> None:
    """One line on stdout; control characters in it (from HAProxy, a map...) escaped."""
    print(visible(text), flush=True)


def out_lines(text: str) -> None:
    """Lines on stdout (an answer of HAProxy): line breaks kept, other controls escaped."""
    print(visible_lines(text, tab=False), flush=True)


def err(text: str) -> None:
    from console.hints import spelled

    print(f"haconsole: {visible(spelled(text))}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- sending

def show_plan(plan: Plan) -> None:
    out(plan.summary)
    for c in plan.commands:
        out(f"  command: {c}")
    for i, line in enumerate(plan.impact):
        out(f"  {'impact: ' if i == 0 else '        '} {line}")
    if plan.undo_commands:
        out("  undo:    " + " ; ".join(plan.undo_commands))
    for why in plan.no_undo:
        out(f"  undo:    none ({why})")
    out(f"  needs:   level {plan.required_level}")


def confirm(plan: Plan, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Refused("not confirmed: stdin is not a terminal; add --yes to confirm")
    try:
        if plan.dangerous and plan.confirm_word:
            answer = input(f"Dangerous. Type {plan.confirm_word} to confirm: ").strip()
            ok = answer == plan.confirm_word
        else:
            ok = input("Send? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        ok = False
    if not ok:
        raise Refused("not confirmed: nothing was sent")


def report(result: Any) -> int:
    for o in result.outcomes:
        if o.sent:
            out(f"sent: {o.command}")
            answer = (o.answer or "").strip()
            out_lines(f"HAProxy: {answer}" if answer else "HAProxy: (no answer: done)")
        elif o.error:
            out(f"failed (the answer is unknown): {o.command}")
        else:
            out(f"not sent: {o.command}")
    for w in result.warnings:
        err(f"warning: {w}")
    if not result.ok:
        err(str(result.error))
        return ExitStatus.ERROR
    if result.plan.runtime_only_note:
        out(result.plan.runtime_only_note)
    return ExitStatus.OK


async def check_level(client: Any, target: Target, kind: str, what: str) -> None:
    from console.haproxy.actions import haproxy_version, read_only, required_level, socket_level

    level = await socket_level(client)
    version = await haproxy_version(client)
    if kind not in read_only(level, False, version):
        need = required_level(kind, version)
        since = " on HAProxy 3.4 and later" if need != required_level(kind) else ""
        raise Refused(f"not allowed: the socket {target.socket_where} is at level {level or '?'}; "
                      f"'{what}' needs level {need}{since} (use a socket with 'level {need}')",
                      ExitStatus.ERROR)


async def change(args: argparse.Namespace, target: Target, kind: str,
                 make_plan: Callable[[Any], Awaitable[Plan]]) -> int:
    """Check the level for *kind*, plan with *make_plan*, show, confirm, send, report."""
    from console.haproxy.actions import execute
    from console.haproxy.transport import RuntimeClient

    client = RuntimeClient(target.socket or "")
    await check_level(client, target, kind, f"{args.command} {args.action}")
    plan = await make_plan(client)
    show_plan(plan)
    confirm(plan, args.yes)
    return report(await execute(plan, client, target))
