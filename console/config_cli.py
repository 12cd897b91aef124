"""``haconsole config ...``: configuration changes through the file.

Changes are staged first (``set``, ``add-server``, ``del-server``, ``edit``,
``rollback``), reviewed (``diff``), then applied through the pipeline of
:mod:`console.haproxy.apply`: check, history, atomic write, reload, verify, and
roll back on failure. The staging area is shared with the console (TUI).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from console import hints
from console.haproxy.errors import HAProxyError, ValidationError
from console.haproxy.safe_text import check_message, visible, visible_lines
from console.haproxy.statefs import StateError
from console.haproxy.validate import whole_number
from console.instance import ExitStatus

if TYPE_CHECKING:
    from console.haproxy.apply_steps import ApplyTarget
    from console.instance import Target

STATUS = {"ok": "[ ok ]", "fail": "[FAIL]", "warn": "[warn]", "skip": "[skip]"}
TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")

USAGE = """\
staging:   set BACKEND/SERVER KEY=VALUE...      e.g. weight=50 maxconn=100 disabled=true
           add-log-ring [--name N] [--size 1m] [--frontend FE...]   logs to a ring
           add-server BACKEND/SERVER ADDR:PORT [KEY=VALUE...]
           del-server BACKEND/SERVER
           edit                                 the whole text in $VISUAL / $EDITOR
           rollback N                           back to version N (see history)
review:    diff                                 exit 0: nothing staged, 1: a change is staged
apply:     apply [--yes] [--allow-removal] [--no-reload] [-m MESSAGE]
other:     discard, rebase, history [N]
fleet:     --fleet NAME config set|add-server|del-server|diff|discard ...  on every node
           --fleet NAME config apply [--canary NODE] [--soak SECONDS] [--yes]
           --fleet NAME config revert                the nodes the last rollout updated

With several -c (haproxy's -f order; a directory means its *.cfg files), names
resolve across all the files and an edit lands in the file holding its line.
"""


def add_config_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``haconsole config`` and its subcommands."""
    p = sub.add_parser("config", help="change the configuration file: stage, review, apply",
                       description="Change HAProxy's configuration file: stage a change, "
                       "review the diff, apply it (check, write, reload, verify, roll back "
                       "on failure).", epilog=USAGE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    cs = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    s = cs.add_parser("set", help="stage new settings for a server")
    s.add_argument("server", metavar="BACKEND/SERVER")
    s.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    a = cs.add_parser("add-server", help="stage a new server")
    a.add_argument("server", metavar="BACKEND/SERVER")
    a.add_argument("address", metavar="ADDR:PORT")
    a.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    d = cs.add_parser("del-server", help="stage the removal of a server")
    d.add_argument("server", metavar="BACKEND/SERVER")
    e = cs.add_parser("edit", help="edit the staged text in $VISUAL or $EDITOR")
    e.add_argument("file", nargs="?", metavar="FILE",
                   help="which file of the configuration (default: the first)")
    lr = cs.add_parser("add-log-ring", help="stage a ring section and the log lines that "
                       "send the traffic logs to it (read with `haconsole logs --follow`)")
    lr.add_argument("--name", default="haconsole_logs", help="the ring's name")
    lr.add_argument("--size", default="1m", help="the ring's size (default 1m)")
    lr.add_argument("--frontend", action="append", metavar="FE",
                    help="log these frontends to the ring (default: global + log global)")
    cs.add_parser("diff", help="print the staged change (exit 1 when there is one)")
    ap = cs.add_parser("apply", help="check, write, reload and verify the staged change")
    ap.add_argument("-y", "--yes", action="store_true", help="do not ask (needed without a TTY)")
    ap.add_argument("--allow-removal", action="store_true",
                    help="apply even if it leaves no listener, drops the stats socket the "
                    "console uses or removes most running servers (the plan names it)")
    ap.add_argument("--no-reload", action="store_true",
                    help="write the file but do not reload HAProxy")
    ap.add_argument("-m", "--message", metavar="MESSAGE", help="why (kept in the history)")
    ap.add_argument("--canary", metavar="NODE",
                    help="with --fleet: the node applied first (default: the first node)")
    ap.add_argument("--soak", metavar="SECONDS",
                    help="with --fleet: how long the canary is watched before the other "
                    "nodes (default 30)")
    cs.add_parser("discard", help="drop the staged change")
    cs.add_parser("rebase", help="re-apply the staged edits on a file changed meanwhile")
    h = cs.add_parser("history", help="list saved versions, or show the change of one")
    h.add_argument("number", nargs="?", type=whole_number, metavar="N")
    r = cs.add_parser("rollback", help="stage the return to version N")
    r.add_argument("number", type=whole_number, metavar="N")
    rv = cs.add_parser("revert", help="with --fleet: return the nodes the last rollout "
                       "updated to their previous version")
    rv.add_argument("-y", "--yes", action="store_true", help="do not ask")


def run_config(args: argparse.Namespace) -> int:
    from console.haproxy.config.ops import reusing_readings

    action = args.config_command
    try:
        with reusing_readings():
            return _HANDLERS[action](args)
    except HAProxyError as exc:
        print(f"haconsole: {visible(hints.spelled(str(exc)))}", file=sys.stderr)
        usage = action == "diff" or isinstance(exc, StateError)
        return ExitStatus.USAGE if usage else ExitStatus.ERROR


def _shared_notes(config: str) -> None:
    """Say on stderr who else has a change staged, and when the history is private."""
    from console.haproxy import shared_state

    try:
        notes = shared_state.notes(config)
    except StateError as exc:
        notes = [f"the shared place of this file is unusable: {exc}"]
    for note in notes:
        print(f"haconsole: note: {visible(hints.spelled(note))}", file=sys.stderr)


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"haconsole: warning: {visible(hints.spelled(line))}", file=sys.stderr)


# --------------------------------------------------------------------------- context

def _target(args: argparse.Namespace, *, discover: bool = False) -> Any:
    from console.instance import Request, resolve

    target = resolve(Request.from_args(args), discover=False)
    if target.ssh:
        from console.instance import attach_files

        attach_files(target)  # the node's files, mirrored: staging works on the mirror
        if target.files is not None:
            _name_node_paths(target.files.mirror_root, target.name)
        return target
    if discover or not target.config:
        target = resolve(Request.from_args(args))
    if not target.config:
        raise ValidationError("no configuration file given or found",
                              hint="pass -c FILE (or -s SOCKET to find it from the process)")
    return target


class _NodePaths:
    """A text stream that prints nodes' mirror paths as ``lb1:/etc/haproxy/…``."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.roots: dict[str, str] = {}

    def write(self, text: str) -> int:
        shown = text
        for root, name in self.roots.items():
            shown = shown.replace(root, f"{name}:/")
        self._stream.write(shown)
        return len(text)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


def _name_node_paths(root: str, name: str) -> None:
    """From now on, print *root* (a node's mirror) as ``NAME:/``."""
    if not isinstance(sys.stdout, _NodePaths):
        sys.stdout = _NodePaths(sys.stdout)
    if not isinstance(sys.stderr, _NodePaths):
        sys.stderr = _NodePaths(sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        stream.roots[root.rstrip("/") + "/"] = name


def _config(args: argparse.Namespace) -> str:
    return str(_target(args).config)


def _staging(config: str) -> Any:
    from console.haproxy.atomic import clean_leftovers
    from console.haproxy.staging import Staging

    try:
        clean_leftovers(config)
    except OSError:
        pass
    return Staging.load(config)


def _refuse_read_only(target: Any) -> None:
    if getattr(target, "read_only", False):
        raise ValidationError("this instance is read-only", hint="drop --read-only "
                              "(or read_only in the settings) to change the configuration")


def _flag_keys() -> frozenset[str]:
    try:
        from console.haproxy.config.grammar import NEGATIVE_FLAGS, SERVER_FLAG_KEYWORDS
    except ImportError:
        return frozenset()
    return SERVER_FLAG_KEYWORDS | NEGATIVE_FLAGS


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` words into a dict; flags (``disabled``, ``backup``…) become booleans."""
    flags = _flag_keys()
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"expected KEY=VALUE, got {pair!r}",
                                  hint="e.g. weight=50 disabled=true")
        if key in flags:
            if value.lower() not in TRUE + FALSE:
                raise ValidationError(f"{key} takes true or false, not {value!r}")
            out[key] = value.lower() in TRUE
        else:
            out[key] = value
    return out


def _server_ref(ref: str) -> tuple[str, str]:
    from console.haproxy.validate import check_server_ref

    return check_server_ref(ref)


def apply_target(target: Target) -> ApplyTarget:
    """How the target's HAProxy loads a new file (:func:`console.instance.apply_target`)."""
    import asyncio

    from console.instance import apply_target as build

    return asyncio.run(build(target))


def _stagings(target: Any) -> dict[str, Any]:
    from console.config_set import files_of

    return {f: _staging(f) for f in files_of(target)}


def _later_apply_target(args: argparse.Namespace, target: Any) -> Any:
    """A function giving the :func:`apply_target` of the running HAProxy (found by
    discovery), made at its first call: an edit needs it only when the files have
    ``.if`` blocks (read as that HAProxy reads them) or already say what it asks."""
    made: list[ApplyTarget] = []

    def at() -> ApplyTarget:
        if not made:
            found = target if target.discovered or target.ssh else \
                _target(args, discover=True)
            made.append(apply_target(found))
        return made[0]

    return at


def _stage(args: argparse.Namespace, op: dict[str, Any]) -> int:
    from console.config_set import runtime_disagrees, stage_op
    from console.haproxy.staging import describe_op

    target = _target(args)
    _refuse_read_only(target)
    at = _later_apply_target(args, target)
    staged = stage_op(target, at, op, _stagings(target))
    staging = staged.staging
    _warn(getattr(staging, "warnings", []))
    if not staged.changed:
        disagree = runtime_disagrees(at(), op)
        if disagree:
            print(visible(f"haconsole: {staged.path} already says that, but "
                          + "; ".join(disagree) + ": HAProxy does not run the file as it "
                          "reads now (a line it skips, or a change not reloaded yet); "
                          "nothing staged"), file=sys.stderr)
            return ExitStatus.ERROR
        print(visible(f"no change: {staged.path} already says that"))
        return ExitStatus.OK
    print(visible(f"staged: {describe_op(op, staging.base, staged.context)}" +
                  (f" (in {staged.path})" if staged.files > 1 else "")))
    print(visible(f"  {len(staging.ops)} edit(s) pending on {staged.path}; review: "
                  f"{hints.command('config', 'diff')}; apply: "
                  f"{hints.command('config', 'apply')}"))
    return ExitStatus.OK


# --------------------------------------------------------------------------- staging

def cmd_set(args: argparse.Namespace) -> int:
    backend, server = _server_ref(args.server)
    return _stage(args, {"op": "server_set", "backend": backend, "server": server,
                         "set": parse_pairs(args.pairs)})


def cmd_add_server(args: argparse.Namespace) -> int:
    backend, server = _server_ref(args.server)
    op: dict[str, Any] = {"op": "server_add", "backend": backend, "server": server,
                          "addr": args.address}
    if args.pairs:
        op["params"] = parse_pairs(args.pairs)
    return _stage(args, op)


def cmd_del_server(args: argparse.Namespace) -> int:
    backend, server = _server_ref(args.server)
    return _stage(args, {"op": "server_del", "backend": backend, "server": server})


def cmd_add_log_ring(args: argparse.Namespace) -> int:
    from console.config_set import stage_log_ring
    from console.haproxy.logs.ring_config import parse_size

    size = parse_size(args.size)
    target = _target(args, discover=True)
    _refuse_read_only(target)
    at = apply_target(target)
    staged, notes, warnings = stage_log_ring(target, at, args.name, size, args.frontend)
    _warn(warnings)
    for line in staged:
        print(visible(f"staged: {line}"))
    for note in notes:
        print(visible(f"haconsole: note: {note}"), file=sys.stderr)
    if not staged:
        print("no change: the configuration already says that")
        return ExitStatus.OK
    print(visible(f"  review: {hints.command('config', 'diff')}; apply: "
                  f"{hints.command('config', 'apply')}; then read it: "
                  f"{hints.command('logs', '--follow')}"))
    return ExitStatus.OK


def describe(op: dict[str, Any], staged: Any) -> str:
    from console.haproxy.staging import describe_op

    return str(describe_op(op, None, staged.context))


def cmd_edit(args: argparse.Namespace) -> int:
    import shutil
    import subprocess
    import tempfile

    from console.config_set import files_of
    from console.haproxy.statefs import create_file, read_edited, state_dir

    target = _target(args)
    _refuse_read_only(target)
    path = str(target.config)
    if args.file:
        files = files_of(target)
        wanted = os.path.realpath(args.file)
        matches = [f for f in files if os.path.realpath(f) == wanted]
        if not matches:
            raise ValidationError(f"{args.file} is not a file of this configuration",
                                  hint="its files: " + ", ".join(files))
        path = matches[0]
    staging = _staging(path)
    if staging.is_stale():
        raise ValidationError("the file changed since the change was staged",
                              hint=f"{hints.command('config', 'rebase')} (or discard) "
                              "first")
    source = staging.candidate
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    directory = tempfile.mkdtemp(prefix="edit-", dir=state_dir())
    copy = os.path.join(directory, os.path.basename(path))
    try:
        create_file(copy, source, what="the text to edit")
        rc = subprocess.call(["sh", "-c", f'{editor} "$@"', editor, copy])
        if rc != 0:
            raise ValidationError(f"the editor ({editor}) exited with status {rc}",
                                  hint="nothing was staged")
        data = read_edited(copy)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if data == source:
        print("no change")
        return ExitStatus.OK
    staging.set_candidate(data, note=f"edit in {os.path.basename(editor.split()[0])}")
    _warn(staging.warnings)
    if not staging.pending:
        print("no change left: the staged text is the live file; nothing staged")
        return ExitStatus.OK
    print(visible(f"staged: the edited text of {path}; review: "
                  f"{hints.command('config', 'diff')}; apply: "
                  f"{hints.command('config', 'apply')}"))
    return ExitStatus.OK


def cmd_diff(args: argparse.Namespace) -> int:
    target = _target(args)
    rc = ExitStatus.OK
    for path, staging in _stagings(target).items():
        _shared_notes(path)
        status = staging.status()
        if status == "empty":
            continue
        if status == "applied":
            print(visible(f"{staging.path}: the live file already holds the staged change"),
                  file=sys.stderr)
            continue
        for line in _header(staging):
            print(line, file=sys.stderr)
        sys.stdout.write(visible_lines(staging.diff()))
        if status == "stale":
            print(visible(f"warning: the live file changed since this was staged; "
                          f"`{hints.command('config', 'rebase')}` or "
                          f"`{hints.command('config', 'discard')}`"), file=sys.stderr)
        rc = ExitStatus.DIFFERS
    return rc


def _header(staging: Any) -> list[str]:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(staging.updated))
    who = staging.user.get("user", "?")
    lines = [f"# staged for {staging.path} by {who}, last change {when}:"]
    lines += [f"#   {d}" for d in staging.descriptions()]
    sections = sorted({h.section for h in staging.hunks_with_sections() if h.section})
    if sections:
        lines.append("# sections touched: " + ", ".join(sections))
    return [visible(line) for line in lines]


def cmd_discard(args: argparse.Namespace) -> int:
    target = _target(args)
    _refuse_read_only(target)
    pending = [st for st in _stagings(target).values() if st.pending]
    if not pending:
        print("nothing staged")
        return ExitStatus.OK
    for staging in pending:
        staging.discard()
        _warn(staging.warnings)
        gone = "" if os.path.lexists(staging.real_path) else \
            " (the file itself no longer exists)"
        print(visible(f"discarded the staged change of {staging.path}{gone}"))
    return ExitStatus.OK


def cmd_rebase(args: argparse.Namespace) -> int:
    from console.config_set import current_text
    from console.haproxy.config.fileset import SetContext

    target = _target(args)
    _refuse_read_only(target)
    stagings = _stagings(target)
    stale = [path for path, st in stagings.items() if st.is_stale()]
    if not stale:
        print("nothing to rebase")
        return ExitStatus.OK
    named = [(f, current_text(st)) for f, st in stagings.items()]
    for path in stale:
        k = list(stagings).index(path)
        staging = stagings[path]
        staging.rebase(context=SetContext(tuple(named[:k]), tuple(named[k + 1:])))
        print(visible(f"re-applied {len(staging.ops)} edit(s) on the current {path}; "
                      f"review: {hints.command('config', 'diff')}"))
    return ExitStatus.OK


def cmd_history(args: argparse.Namespace) -> int:
    from console.haproxy import history_store as hist

    config = _config(args)
    if args.number is not None:
        sys.stdout.write(visible_lines(hist.diff_version(config, args.number)))
        return ExitStatus.OK
    versions, notes = hist.history_report(config)
    for note in notes:
        print(f"haconsole: note: {visible(note)}", file=sys.stderr)
    from console.haproxy import shared_state

    for marker in shared_state.others_staged(config):
        print(f"haconsole: note: {visible(hints.spelled(shared_state.describe_marker(marker)))}",
              file=sys.stderr)
    if not versions:
        print(f"no versions kept yet for {config} (the first apply keeps the file as found)")
        return ExitStatus.OK
    live = hist.live_version(config)
    print(f"  {'VER':>4}  {'WHEN':<19}  {'USER':<10} {'STATUS':<12} MESSAGE")
    for v in versions:
        mark = "*" if v.number == live else " "
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v.ts))
        user = (v.user or "?") + (f"@{v.ssh_origin}" if v.ssh_origin else "")
        print(f"{mark} {v.number:>4}  {when:<19}  {visible(user):<10} {visible(v.status):<12} "
              f"{visible(v.message)}")
    print(visible(f"(* the live file)  diff of one: {hints.command('config', 'history')} N; "
                  f"back to one: {hints.command('config', 'rollback')} N"))
    return ExitStatus.OK


def cmd_rollback(args: argparse.Namespace) -> int:
    from console.haproxy import history_store as hist

    target = _target(args)
    _refuse_read_only(target)
    staging = hist.stage_rollback(str(target.config), args.number)
    sys.stdout.write(visible_lines(staging.diff()))
    print(visible(f"staged: rollback to version {args.number}; apply it with: "
                  f"{hints.command('config', 'apply')}"))
    return ExitStatus.OK


# --------------------------------------------------------------------------- apply

def _print_step(step: str, status: str, detail: str) -> None:
    from console.haproxy.apply import STEP_TITLES

    first, *rest = str(detail).split("\n")
    print(f"{STATUS.get(status, status)} {STEP_TITLES.get(step, step):<11} "
          f"{visible(hints.spelled(first))}", flush=True)
    for line in rest:
        print(f"{'':19}{visible(hints.spelled(line))}", flush=True)


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _ask(question: str) -> str:
    try:
        return input(question).strip()
    except EOFError:
        return ""


def cmd_revert(args: argparse.Namespace) -> int:
    raise ValidationError("'config revert' undoes a fleet rollout: give --fleet NAME",
                          hint="on one instance: `config history`, then `config rollback N`")


def cmd_apply(args: argparse.Namespace) -> int:
    if getattr(args, "canary", None) or getattr(args, "soak", None) is not None:
        raise ValidationError("--canary and --soak are for a fleet rollout (--fleet NAME)")
    target = _target(args, discover=True)
    _refuse_read_only(target)
    if args.message:
        check_message(args.message, "message (-m)")
    stagings = _stagings(target)
    for path in stagings:
        _shared_notes(path)
    pending = [st for st in stagings.values() if st.status() != "empty"]
    if not pending:
        print(visible(f"nothing staged for {target.config}"))
        return ExitStatus.OK
    if not args.yes and not sys.stdin.isatty():
        print(visible(f"haconsole: not a terminal: review with "
                      f"`{hints.command('config', 'diff')}`, then add --yes to apply "
                      "without a question"), file=sys.stderr)
        return ExitStatus.USAGE
    at = apply_target(target)
    if len(pending) > 1:
        print(f"{len(pending)} files have staged changes: applied one after the other, each "
              "checked with the others as they are then")
    for staging in pending:
        rc = _apply_one(args, at, staging)
        if rc != 0:
            return rc
    return ExitStatus.OK


def _show_plan(plan: Any) -> None:
    print(visible(f"check with: {plan.binary}"))
    if len(plan.files) > 1:
        print(visible("configuration files, in order: " + ", ".join(plan.files)))
    c = plan.consequence
    if c.phrase:
        print(visible(f"{'WARNING: ' if c.needs_confirmation else ''}{c.summary()}"))
        for line in c.lines():
            print(f"  {visible(line)}")
    if plan.runtime:
        print("runtime changes at the reload:")
        for line in plan.runtime:
            print(f"  {visible(line)}")


def _apply_one(args: argparse.Namespace, at: Any, staging: Any) -> int:
    import asyncio

    from console.haproxy.apply import apply_async, plan_apply

    config = staging.path
    allow: bool | str = bool(args.allow_removal)
    if staging.status() == "pending":
        for line in _header(staging):
            print(line)
        sys.stdout.write(visible_lines(staging.diff()))
        plan = asyncio.run(plan_apply(config, staging.base, staging.candidate, at,
                                      no_reload=args.no_reload))
        _show_plan(plan)
        c = plan.consequence
        if c.needs_confirmation and not allow:
            if args.yes or not sys.stdin.isatty():
                print(f"haconsole: not applied: {c.summary()}. If that is meant, add "
                      f"--allow-removal (or answer on a terminal by typing '{c.phrase}')",
                      file=sys.stderr)
                return ExitStatus.USAGE
            typed = _ask(f"This takes service away. Type '{c.phrase}' to apply it anyway: ")
            if typed != c.phrase:
                print("not applied (the consequence was not typed); the change stays staged")
                return ExitStatus.ERROR
            allow = c.phrase
        elif not args.yes:
            what = "write the file" if args.no_reload or not at.running else \
                "write the file and reload HAProxy"
            if not _confirm(f"Apply to {config}: {what}?"):
                print("not applied; the change stays staged")
                return ExitStatus.ERROR
    result = asyncio.run(apply_async(config, staging, instance=at, message=args.message or "",
                                     no_reload=args.no_reload, on_step=_print_step,
                                     confirmed_hash=staging.candidate_hash,
                                     allow_removal=allow))
    _warn(result.warnings)
    if isinstance(result.error, StateError):
        print(visible(f"haconsole: apply refused: {hints.spelled(str(result.error))}"),
              file=sys.stderr)
        return ExitStatus.USAGE
    if result.ok:
        print(visible(f"done: {result.reason or result.outcome}") if result.outcome == "applied"
              else f"done: written as version {result.version}, not reloaded")
        return ExitStatus.OK
    if result.outcome == "nothing":
        print(visible(result.reason))
        return ExitStatus.OK
    extra = ""
    if result.outcome in ("rolled back", "rollback failed"):
        extra = f"; the change stays staged ({hints.command('config', 'diff')})"
    print(visible(f"haconsole: apply {result.outcome}: {hints.spelled(result.reason)}{extra}"),
          file=sys.stderr)
    return ExitStatus.ERROR


_HANDLERS = {
    "set": cmd_set, "add-server": cmd_add_server, "add-log-ring": cmd_add_log_ring,
    "del-server": cmd_del_server,
    "edit": cmd_edit, "diff": cmd_diff, "apply": cmd_apply, "discard": cmd_discard,
    "rebase": cmd_rebase, "history": cmd_history, "rollback": cmd_rollback,
    "revert": cmd_revert,
}
