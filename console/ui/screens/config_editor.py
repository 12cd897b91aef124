"""Edit the configuration text in the console: the staged candidate, else the live file.

``ctrl+s`` stages the text as a raw edit (a ``replace`` of the whole text) and
goes back to the review screen; nothing reaches the live file before an apply.
Escape asks before dropping unsaved edits. Bytes that are not UTF-8 survive the
round trip unchanged (see :mod:`console.ui.widgets.cfg_highlight`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from console.haproxy.atomic import sha256
from console.haproxy.errors import HAProxyError
from console.haproxy.staging import Staging
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.cfg_highlight import ConfigTextArea, decode_config, encode_config

if TYPE_CHECKING:
    from console.haproxy.apply_steps import ApplyTarget
    from console.instance import Target


class ConfigEditorScreen(Screen[bool]):
    """A highlighted ``TextArea`` on the candidate; dismissed with True when it staged."""

    DEFAULT_CSS = """
    ConfigEditorScreen { layout: vertical; }
    ConfigEditorScreen #editor-title { height: 1; background: $panel; text-style: bold;
                                       padding: 0 1; }
    ConfigEditorScreen #editor-status { height: auto; max-height: 3; padding: 0 1;
                                        color: $text-muted; }
    ConfigEditorScreen #editor-status.error { color: $error; }
    ConfigEditorScreen ConfigTextArea { height: 1fr; border: none; }
    ConfigEditorScreen #editor-goto { dock: bottom; display: none; }
    ConfigEditorScreen #editor-goto.visible { display: block; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Stage", priority=True, id="editor.save"),
        Binding("ctrl+g", "goto_prompt", "Go to line", priority=True, id="editor.goto"),
        Binding("escape", "back", "Back", priority=True, id="editor.back"),
    ]

    def __init__(self, target: Target, *, line: int | None = None,
                 apply_target: ApplyTarget) -> None:
        super().__init__()
        self.target = target
        self.start_line = line
        self.apply_target = apply_target
        self.source = b""
        self.original_text = ""
        self.raw_bytes = 0
        self.load_error: str | None = None
        self.what = "live file"
        self._load()

    def _load(self) -> None:
        if not self.target.config:
            self.load_error = (self.target.remote_config_note
                               or "no configuration file is known for this instance")
            return
        try:
            staging = Staging.load(self.target.config)
            self.source = staging.candidate
            self.what = "staged candidate" if staging.pending else "live file"
            self.original_text, self.raw_bytes = decode_config(self.source)
        except (HAProxyError, ValueError) as exc:
            self.load_error = self.target.shown_text(str(exc))

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        ro = " (read-only)" if self.read_only else ""
        yield Static(f"Edit · {self.target.shown_path(self.target.config)} · {self.what}{ro}",
                     id="editor-title", markup=False)
        yield ConfigTextArea(self.original_text, read_only=self.read_only, id="editor-text")
        yield Static(self._status_text(), id="editor-status", markup=False)
        yield Input(placeholder="line number; enter goes there, escape cancels",
                    id="editor-goto", type="integer")
        yield Footer()

    @property
    def read_only(self) -> bool:
        return bool(self.target.read_only or self.load_error)

    def on_mount(self) -> None:
        area = self.query_one(ConfigTextArea)
        area.focus()
        if self.load_error:
            self.query_one("#editor-status").add_class("error")
        if self.start_line:
            self.call_after_refresh(self.goto, self.start_line)

    def _status_text(self) -> str:
        if self.load_error:
            return f"✖ cannot edit: {self.load_error}"
        parts = ["ctrl+s: stage this text (the live file changes only at apply) · "
                 "escape: back"]
        if self.raw_bytes:
            parts.append(f"not UTF-8: {self.raw_bytes} byte(s) or control characters shown "
                         "highlighted are kept as they are")
        if self.target.read_only:
            parts = ["read-only: this text cannot be staged here"]
        return "\n".join(parts)

    # ------------------------------------------------------------------ actions

    @property
    def modified(self) -> bool:
        return self.query_one(ConfigTextArea).text != self.original_text

    def goto(self, line: int) -> None:
        """Move the cursor to *line* (1-based) of the text."""
        self.query_one(ConfigTextArea).goto(line)

    def action_goto_prompt(self) -> None:
        box = self.query_one("#editor-goto", Input)
        box.value = ""
        box.add_class("visible")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "editor-goto":
            return
        event.stop()
        event.input.remove_class("visible")
        area = self.query_one(ConfigTextArea)
        area.focus()
        if re.fullmatch(r"[0-9]{1,9}", event.value.strip()):
            self.goto(int(event.value))

    def action_back(self) -> None:
        box = self.query_one("#editor-goto", Input)
        if box.has_class("visible"):
            box.remove_class("visible")
            self.query_one(ConfigTextArea).focus()
            return
        if self.read_only or not self.modified:
            self.dismiss(False)
            return

        def done(yes: bool | None) -> None:
            if yes:
                self.dismiss(False)

        self.app.push_screen(ConfirmScreen(
            "Drop your edits?", "The text was changed and not staged. Leaving drops the "
            "changes (nothing was staged, the live file is untouched)."), done)

    def action_save(self) -> None:
        if self.read_only:
            self.notify("read-only: nothing can be staged here", severity="warning")
            return
        if not self.modified:
            self.notify("no change: nothing staged")
            self._back_to_review(False)
            return
        data = encode_config(self.query_one(ConfigTextArea).text)
        try:
            fresh = Staging.load(str(self.target.config))
        except HAProxyError as exc:
            self._error(f"not staged: {exc}")
            return
        if fresh.candidate_hash != sha256(self.source):
            def done(yes: bool | None) -> None:
                if yes:
                    self._stage(data)

            self.app.push_screen(ConfirmScreen(
                "Replace the staged change?", "The staged change was modified since this "
                "editor opened (another console or the CLI). Staging this text replaces it "
                "with yours."), done)
            return
        self._stage(data)

    def _stage(self, data: bytes) -> None:
        try:
            staging = Staging.load(str(self.target.config))
            staging.set_candidate(data, note="edit in the console")
        except HAProxyError as exc:
            self._error(f"not staged: {exc}")
            return
        if staging.pending:
            self.notify("staged: review the diff, then a to apply")
        else:
            self.notify("the text is the live file again: nothing is staged")
        self._back_to_review(True)

    def _error(self, message: str) -> None:
        message = self.target.shown_text(message)
        status = self.query_one("#editor-status", Static)
        status.add_class("error")
        status.update(f"✖ {message}")
        self.notify(message, severity="error", timeout=15)

    def _back_to_review(self, staged: bool) -> None:
        from console.ui.screens.config import ConfigScreen

        if any(isinstance(s, ConfigScreen) for s in self.app.screen_stack[:-1]):
            self.dismiss(staged)
        else:
            self.app.switch_screen(ConfigScreen(self.target, self.apply_target))
