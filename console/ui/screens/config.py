"""The review screen of a configuration change, and its apply.

``ConfigScreen`` shows what is staged for the instance's configuration file (the
edits in words, the diff by section, whether the live file moved since), and runs
the apply pipeline of :mod:`console.haproxy.apply` in a thread worker: every step
appears as it ends (✓ ok, ✖ failed, ▲ warning, – skipped, … running). A failed
check shows HAProxy's ``[ALERT]`` lines on the candidate's lines and jumps there;
a rollback shows the startup-log lines that explain it. The failed candidate stays
staged, to edit again (``e``) or discard (``d``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import check_message, visible
from console.haproxy.staging import Hunk, Staging, hunks_of
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.apply_steps import (
    ApplySteps,
    apply_plan,
    check_errors,
)
from console.ui.widgets.diffview import DiffView, hunk_sections

if TYPE_CHECKING:
    from console.haproxy.apply import ApplyResult, ApplyTarget
    from console.instance import Target

log = logging.getLogger("haconsole.ui")
FILE_POLL = 2.0  # seconds between two looks at the files (changed outside the console?)


class ConfigScreen(Screen[None]):
    """Review, apply, edit or discard the staged change of ``target.config``."""

    DEFAULT_CSS = """
    ConfigScreen { layout: vertical; }
    ConfigScreen #cfg-title { height: 1; background: $panel; color: $foreground;
                              text-style: bold; padding: 0 1; }
    ConfigScreen #cfg-state { height: auto; max-height: 12; padding: 0 1; }
    ConfigScreen #cfg-state.stale { background: $warning 20%; }
    ConfigScreen #cfg-state.error { background: $error 25%; }
    ConfigScreen #cfg-edits { height: auto; max-height: 6; padding: 0 1; color: $text-muted; }
    ConfigScreen DiffView { height: 1fr; min-height: 4; border-top: solid $panel; }
    ConfigScreen #cfg-message { dock: bottom; display: none; }
    ConfigScreen #cfg-message.visible { display: block; }
    """
    BINDINGS = [
        Binding("a", "apply", "Apply", id="config.apply"),
        Binding("e", "edit", "Edit", id="config.edit"),
        Binding("E", "external_edit", "$EDITOR", id="config.edit_external"),
        Binding("d", "discard", "Discard", id="config.discard"),
        Binding("R", "rebase", "Rebase", id="config.rebase"),
        Binding("h", "history", "History", id="config.history"),
        Binding("m", "message", "Message", id="config.message"),
        Binding("escape", "back", "Back", id="config.back"),
    ]
    CHANGES = ("apply", "edit", "external_edit", "discard", "rebase", "message")

    def __init__(self, target: Target, apply_target: ApplyTarget) -> None:
        super().__init__()
        self.target = target
        self.apply_target = apply_target  # how this HAProxy loads a file: instance.py
        self.staging: Staging | None = None
        self.hunks: list[Hunk] = []
        self.status = "empty"
        self.error: str | None = None
        self.message = ""
        self.applying = False
        self.result: ApplyResult | None = None
        self.error_lines: list[int] = []
        self._errors_for: str | None = None  # the candidate hash the errors are about
        self.shared_notes: list[str] = []
        self._signature: tuple[Any, ...] | None = None
        self._file: str | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static("", id="cfg-title", markup=False)
        yield Static("", id="cfg-state", markup=False)
        yield Static("", id="cfg-edits", markup=False)
        yield DiffView(id="cfg-diff")
        yield ApplySteps(id="cfg-steps")
        yield Input(placeholder="why this change (kept in the history); enter keeps it, "
                    "escape cancels", id="cfg-message")
        yield Footer()

    def on_mount(self) -> None:
        self.reload_state()
        self.query_one(DiffView).focus()
        self.set_interval(FILE_POLL, self._poll_files)

    @property
    def config(self) -> str | None:
        """The file shown: of a configuration's files, the first with a staged change."""
        return self._file or self.target.config

    def _choose_file(self) -> str | None:
        from console.config_set import shown_file

        return shown_file(self.target)

    def _file_target(self) -> Target:
        """The target, its ``config`` being the file shown (for the editor, the history)."""
        return dataclasses.replace(self.target, config=self.config)

    @property
    def shown_config(self) -> str:
        """The file shown, as the engineer knows it (``lb1:/etc/…`` on a node)."""
        return self.target.shown_path(self.config)

    def _said(self, text: str) -> str:
        """*text* with a node's mirror paths said as the node's (``lb1:/etc/…``)."""
        return self.target.shown_text(text)

    def _said_result(self, result: ApplyResult) -> ApplyResult:
        """*result* with a node's mirror paths said as the node's, for the screen."""
        if self.target.files is None:
            return result
        said = self._said
        out = dataclasses.replace(
            result, reason=said(result.reason), warnings=[said(w) for w in result.warnings],
            steps=[dataclasses.replace(s, detail=said(s.detail)) for s in result.steps])
        if out.check is not None:
            out.check = dataclasses.replace(out.check,
                                            errors=[said(e) for e in out.check.errors])
        if out.reload is not None:
            out.reload = dataclasses.replace(out.reload, detail=said(out.reload.detail),
                                             log=[said(x) for x in out.reload.log])
        return out

    @property
    def no_reload(self) -> bool:
        return not self.apply_target.has_runtime

    # ------------------------------------------------------------------ state

    def reload_state(self) -> None:
        """Re-read the staging area and the live file; redraw everything but the steps."""
        self.staging, self.error, self.hunks = None, None, []
        if not self.applying:
            self._file = self._choose_file()
        self.shared_notes = self._shared_notes()
        if not self.config:
            self.status, self.error = "none", ("No configuration file is known for this "
                                               "instance: start haconsole with -c FILE.")
        else:
            try:
                self.staging = Staging.load(self.config)
                self.status = self.staging.status()
                self.hunks = self.staging.hunks_with_sections() if self.staging.pending else []
            except HAProxyError as exc:
                self.status, self.error = "error", self._said(str(exc))
        self._signature = self._files_signature()
        self._draw()
        self.refresh_bindings()

    def _shared_notes(self) -> list[str]:
        """Who else has a change staged; whether the lock and history are private."""
        from console.haproxy import shared_state

        if not self.config:
            return []
        try:
            return [self._said(n) for n in shared_state.notes(self.config)]
        except HAProxyError as exc:
            return [self._said(f"the shared place of this file is unusable: {exc}")]

    def _files_signature(self) -> tuple[Any, ...]:
        out: list[Any] = []
        paths = [self.config] if self.config else []
        if self.staging is not None:
            paths.append(str(self.staging.file))
        for path in paths:
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def _poll_files(self) -> None:
        """Follow changes made elsewhere (the CLI, another console, an editor)."""
        if not self.applying and self._files_signature() != self._signature:
            self.reload_state()

    def _draw(self, *, diff_too: bool = True) -> None:
        ro = "  (read-only)" if self.target.read_only else ""
        self.query_one("#cfg-title", Static).update(
            f"Configuration · {self.shown_config} · {self.target.name}{ro}")
        state = self.query_one("#cfg-state", Static)
        state.set_class(self.status == "stale", "stale")
        state.set_class(self.error is not None, "error")
        state.update(self._state_text())
        self.query_one("#cfg-edits", Static).update(self._edits_text())
        if diff_too:
            self._draw_diff()

    def _draw_diff(self) -> None:
        diff = self.query_one(DiffView)
        st = self.staging
        if st is None or self.status == "empty":
            hint = "" if self.target.read_only or st is None else \
                " Press e to start a raw edit of the live file, h for the history."
            diff.show_hunks([], placeholder=f"Nothing staged.{hint}")
            return
        diff.show_hunks(self.hunks)
        if self.error_lines and self._errors_for == st.candidate_hash:
            diff.mark_lines(set(self.error_lines))
            diff.jump_to(self.error_lines[0])

    def _state_text(self) -> Text:
        st = self.staging
        if self.error or st is None:
            return Text(visible(f"✖ {self.error or 'unknown state'}"))
        lines: list[str] = []
        if self.status == "empty":
            lines.append(f"Nothing staged for {self.shown_config}.")
        elif self.status == "stale":
            lines += self._stale_lines(st)
        elif self.status == "applied":
            lines.append("The live file already holds this change (a previous apply wrote "
                         "it): a clears it from the staging area.")
        else:
            who = st.user.get("user", "?")
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.updated))
            n = len(st.ops)
            lines.append(f"● {n} edit{'s' if n != 1 else ''} staged by {who} at {when}; "
                         "the live file is unchanged.")
        lines += [f"▲ {visible(note)}" for note in self.shared_notes]
        if self.target.read_only:
            lines.append("Read-only: the change can be reviewed, not applied or edited here.")
        elif self.status != "empty" and self.no_reload:
            lines.append("No running HAProxy known: apply checks and writes the file, "
                         "without a reload.")
        return Text("\n".join(visible(line) for line in lines))

    def _stale_lines(self, st: Staging) -> list[str]:
        lines = ["▲ STALE: the live file changed since this change was staged (another "
                 "console, the CLI, or by hand). It cannot be applied as is."]
        try:
            live = st.live()
            diff = st.live_diff()
        except HAProxyError as exc:
            return [*lines, self._said(f"  cannot read the live file: {exc}")]
        for hunk in hunks_of(diff, st.base, live):
            added = sum(1 for x in hunk.lines if x.startswith("+"))
            removed = sum(1 for x in hunk.lines if x.startswith("-"))
            changed = [x for x in hunk.lines if x[:1] in "+-"][:3]
            lines.append(f"  changed in {hunk.section or 'the top of the file'}: +{added} "
                         f"-{removed}  " + "  ".join(x.strip() for x in changed)[:120])
        if st.has_raw_edit:
            lines.append("It holds a raw edit (or a rollback), which cannot be re-applied on "
                         "the new file: d discards it, then edit again.")
        else:
            lines.append("R re-applies the staged edits on the new file; d discards them.")
        return lines

    def _edits_text(self) -> Text:
        st = self.staging
        if st is None or self.status == "empty":
            return Text("")
        lines = [f"• {d}" for d in st.descriptions()]
        sections = list(dict.fromkeys(s for h in self.hunks for s in hunk_sections(h)))
        if sections:
            lines.append("sections: " + ", ".join(sections))
        lines.append(f"message: {self.message}" if self.message else
                     "message: (none: the edits above; m sets one)")
        return Text("\n".join(visible(line) for line in lines))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in self.CHANGES:
            return True
        if self.target.read_only or self.staging is None:
            return False
        if self.applying:
            return None
        status = self.status
        return {
            "apply": status in ("pending", "applied"),
            "discard": status != "empty",
            "rebase": status == "stale",
            "message": status in ("pending", "applied"),
        }.get(action, status != "stale")

    # ------------------------------------------------------------------ simple actions

    def action_back(self) -> None:
        box = self.query_one("#cfg-message", Input)
        if box.has_class("visible"):
            box.value = self.message
            box.remove_class("visible")
            self.query_one(DiffView).focus()
            return
        if self.applying:
            self.notify("an apply is running: wait for it to end", severity="warning")
            return
        self.dismiss(None)

    def action_message(self) -> None:
        box = self.query_one("#cfg-message", Input)
        box.value = self.message
        box.add_class("visible")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "cfg-message":
            return
        event.stop()
        try:
            message = check_message(event.value.strip())
        except HAProxyError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.message = message
        event.input.remove_class("visible")
        self.query_one(DiffView).focus()
        self._draw(diff_too=False)

    def action_edit(self) -> None:
        from console.ui.screens.config_editor import ConfigEditorScreen

        line = self.error_lines[0] if self.error_lines and self.staging and \
            self._errors_for == self.staging.candidate_hash else None
        self.app.push_screen(ConfigEditorScreen(self._file_target(), line=line,
                                                apply_target=self.apply_target),
                             lambda _saved: self.reload_state())

    def action_history(self) -> None:
        from console.ui.screens.config_history import ConfigHistoryScreen

        self.app.push_screen(ConfigHistoryScreen(self._file_target(),
                                                 apply_target=self.apply_target),
                             lambda _staged: self.reload_state())

    def action_discard(self) -> None:
        st = self.staging
        if st is None or self.status == "empty":
            return
        body = "Drops every staged edit of " + self.shown_config + ":\n" + "\n".join(
            f"  • {d}" for d in st.descriptions()) + "\nThe live file is not touched."

        def done(yes: bool | None) -> None:
            if not yes:
                self.notify("kept: the change stays staged")
                return
            try:
                Staging.load(str(self.config)).discard()
            except HAProxyError as exc:
                self.notify(self._said(f"not discarded: {exc}"), severity="error", timeout=15)
                return
            self.error_lines = []
            self.query_one(ApplySteps).clear()
            self.reload_state()
            self.notify("discarded: nothing is staged")

        self.app.push_screen(ConfirmScreen("Discard the staged change?", body), done)

    def action_rebase(self) -> None:
        try:
            st = Staging.load(str(self.config))
            st.rebase()
        except HAProxyError as exc:
            self.notify(self._said(f"not rebased: {exc}"), severity="error", timeout=15)
            return
        self.reload_state()
        self.notify(f"re-applied {len(st.ops)} edit(s) on the current file: review the diff")

    def action_external_edit(self) -> None:
        from console.haproxy.statefs import create_file, read_edited, state_dir

        st = self.staging
        if st is None or self.status == "stale":
            return
        source = st.candidate
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        try:
            directory = tempfile.mkdtemp(prefix="edit-", dir=state_dir())
        except (HAProxyError, OSError) as exc:
            self.notify(f"cannot edit: {exc}", severity="error", timeout=15)
            return
        path = os.path.join(directory, os.path.basename(str(self.config)))
        keep = False
        try:
            create_file(path, source, what="the text to edit")
            try:
                with self.app.suspend():
                    rc = subprocess.call(["sh", "-c", f'{editor} "$@"', editor, path])
            except SuspendNotSupported:
                self.notify("this terminal cannot hand over to an editor: use e",
                            severity="error")
                return
            if rc != 0:
                self.notify(f"the editor ({editor}) exited with status {rc}: nothing staged",
                            severity="error", timeout=15)
                return
            data = read_edited(path)
            if data == source:
                self.notify("no change")
                return
            fresh = Staging.load(str(self.config))
            if fresh.candidate != source:
                keep = True
                self.notify(f"not staged: the staged change was modified while you edited "
                            f"(another console?). Your text is kept in {path}",
                            severity="error", timeout=30)
                return
            fresh.set_candidate(data, note=f"edit in {os.path.basename(editor.split()[0])}")
            self.notify("staged: the edited text; review the diff, then a to apply")
        except (HAProxyError, OSError) as exc:
            self.notify(self._said(f"not staged: {exc}"), severity="error", timeout=15)
        finally:
            if not keep:
                shutil.rmtree(directory, ignore_errors=True)
            self.reload_state()

    # ------------------------------------------------------------------ apply

    def action_apply(self) -> None:
        if self.applying or self.staging is None:
            return
        self.reload_state()
        if self.status == "stale":
            self.notify("the live file changed since this was staged: rebase (R) or "
                        "discard (d) first", severity="warning")
            return
        if self.status not in ("pending", "applied"):
            self.notify("nothing staged to apply")
            return
        self.run_worker(self._confirm_apply(), group="config-confirm", exclusive=True,
                        exit_on_error=False)

    async def _confirm_apply(self) -> None:
        from console.haproxy.apply import plan_apply

        if self.target.files is not None and not await self._resync():
            return
        st = self.staging
        if st is None:
            return
        at = self.apply_target
        no_reload = not at.has_runtime
        try:
            plan = await plan_apply(str(self.config), st.base, st.candidate, at,
                                    no_reload=no_reload)
        except (HAProxyError, OSError) as exc:
            self.notify(self._said(f"cannot tell what this apply would do: {exc}"),
                        severity="error", timeout=15)
            return
        edits = st.descriptions()
        c = plan.consequence
        body = self._said("\n".join([
            f"{self.shown_config}: {len(edits)} edit{'s' if len(edits) != 1 else ''}: "
            + "; ".join(edits)[:200],
            f"Message: {self.message or '(the edits)'}",
            f"Checked with: {plan.binary}",
            *([f"Files, in order: {', '.join(plan.files)}"] if len(plan.files) > 1 else []),
            *(["", f"{'▲ ' if c.needs_confirmation else ''}{c.summary()}",
               *(f"  {line}" for line in c.lines()[:8])] if c.phrase else []),
            "", *apply_plan(at, no_reload),
            *(["", "At the reload:", *(f"  {p}" for p in plan.runtime[:10])]
              if plan.runtime else []),
            "If anything fails, the change stays staged.",
        ]))
        confirmed = st.candidate_hash
        phrase = c.phrase if c.needs_confirmation else None

        def done(yes: bool | None) -> None:
            if yes:
                self._start_apply(at, no_reload, confirmed, phrase or False)
            else:
                self.notify("not applied: the change stays staged")

        title = "Write the staged change?" if no_reload else "Apply the staged change?"
        if phrase:
            title = "This takes service away. " + title
        self.app.push_screen(ConfirmScreen(title, body, type_to_confirm=phrase), done)

    async def _resync(self) -> bool:
        """A node's files copied again before the confirmation: a change made on the node
        since the screen opened shows as stale here, not only at the apply's own check."""
        import asyncio

        from console.instance import resync_files

        try:
            await asyncio.to_thread(resync_files, self.target)
        except HAProxyError as exc:
            self.notify(self._said(f"cannot read {self.target.name}'s configuration over "
                                   f"ssh: {exc}; nothing applied"), severity="error",
                        timeout=20)
            return False
        self.reload_state()
        if self.status == "stale":
            self.notify(f"{self.shown_config} changed on {self.target.name} since this was "
                        "staged: rebase (R) or discard (d) first", severity="warning")
            return False
        if self.status not in ("pending", "applied"):
            self.notify("nothing staged to apply")
            return False
        return True

    def _start_apply(self, at: ApplyTarget, no_reload: bool, confirmed: str,
                     allow_removal: bool | str = False) -> None:
        self.applying = True
        self.result = None
        self.refresh_bindings()
        steps = self.query_one(ApplySteps)
        steps.start(no_reload)
        config, message = str(self.config), self.message
        candidate = self.staging.candidate if self.staging else b""

        def run() -> None:  # in a thread: widgets only through call_from_thread
            from console.haproxy.apply import apply

            def on_step(step: str, status: str, detail: str) -> None:
                try:
                    self.app.call_from_thread(steps.step, step, status, self._said(detail))
                except Exception:  # noqa: BLE001 - the screen is gone: the pipeline goes on
                    log.info("apply step %s %s: %s", step, status, detail)

            try:
                result = apply(config, None, instance=at, message=message,
                               no_reload=no_reload, on_step=on_step, confirmed_hash=confirmed,
                               allow_removal=allow_removal)
            except Exception as exc:  # noqa: BLE001 - shown on screen, logged in full
                log.exception("apply failed")
                with contextlib.suppress(Exception):
                    self.app.call_from_thread(self._apply_crashed, exc)
                return
            try:
                self.app.call_from_thread(self._apply_done, result, candidate, no_reload)
            except Exception:  # noqa: BLE001 - the app closed during the apply
                log.info("apply ended: %s %s", result.outcome, result.reason)

        self.run_worker(run, thread=True, group="config-apply", exit_on_error=False)

    def _apply_crashed(self, exc: Exception) -> None:
        self.applying = False
        self.query_one(ApplySteps).fail(self._said(
            f"✖ internal error during the apply: {type(exc).__name__}: {exc}. The log file "
            "has the details; look at the live file and the history (h) before trying again."))
        self.reload_state()
        self.notify("apply failed with an internal error", severity="error", timeout=20)

    def _apply_done(self, result: ApplyResult, candidate: bytes, no_reload: bool) -> None:
        from console.haproxy.atomic import sha256

        self.applying = False
        result = self._said_result(result)
        self.result = result
        if result.check is not None and not result.check.ok:
            self.error_lines = [n for n, _ in check_errors(result.check.errors) if n]
            self._errors_for = sha256(candidate)
        else:
            self.error_lines, self._errors_for = [], None
        self.reload_state()
        outcome = self.query_one(ApplySteps).finish(
            result, candidate, no_reload=no_reload,
            still_staged=self.staging is not None and self.staging.pending)
        for warning in result.warnings:
            self.notify(warning, severity="error", timeout=30)
        if result.ok:
            self.notify(outcome.plain.split("\n")[0], timeout=10)
        else:
            self.notify(f"not applied: {result.outcome}: {result.reason}",
                        severity="error" if result.outcome != "nothing" else "information",
                        timeout=15)
