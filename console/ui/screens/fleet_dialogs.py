"""The fleet change's dialogs: the plans of every node confirmed once with the wave
chosen, then what was done where.

Every text shown is made visible first: names, impact and answers come from HAProxy.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from console.fleet import NodeChange
from console.haproxy.safe_text import visible, visible_lines
from console.ui.screens.dialog import Dialog


def plans_text(changes: Sequence[NodeChange]) -> str:
    """Each node's plan: its impact (``app1 is already DRAIN…``) and exact commands."""
    lines: list[str] = []
    for c in changes:
        lines.append(f"── {c.target.label} ──")
        if c.plan is None:
            lines.append("  (no plan)")
            continue
        lines += [f"• {line}" for line in c.plan.impact]
        lines += [f"• cannot be undone: {why}" for why in c.plan.no_undo]
        lines += [f"  will send: {cmd}" for cmd in c.plan.commands]
        if not c.plan.commands:
            lines.append("  nothing to send")
    notes = {c.plan.runtime_only_note for c in changes if c.plan and c.plan.runtime_only_note}
    lines += [f"\n{n}" for n in sorted(notes)]
    return "\n".join(lines)


class FleetConfirmScreen(Dialog[str | None]):
    """A fleet change confirmed once: ``y`` sends it in a rolling wave (node after node,
    stopping at the first failure), ``a`` to all nodes (each one, whatever happens on
    the others), ``n`` / escape sends nothing. A dangerous change needs the fleet's name
    typed, and goes rolling. Dismissed with the wave, or None."""

    DEFAULT_CSS = """
    FleetConfirmScreen > .dialog { width: 90; border: thick $warning; }
    """
    BINDINGS = [
        Binding("y", "answer('rolling')", "Yes, rolling", id="fleet_confirm.rolling"),
        Binding("a", "answer('all')", "Yes, all nodes", id="fleet_confirm.all"),
        Binding("n", "answer(None)", "No", id="fleet_confirm.no"),
        Binding("escape", "answer(None)", "Cancel", id="fleet_confirm.cancel"),
    ]

    def __init__(self, title: str, changes: Sequence[NodeChange],
                 type_to_confirm: str | None = None) -> None:
        super().__init__()
        self.dialog_title = visible(title)
        self.changes = list(changes)
        self.body = plans_text(changes)
        self.type_to_confirm = type_to_confirm

    def compose_body(self) -> ComposeResult:
        yield Static(visible_lines(self.body, tab=False), markup=False)

    def compose_foot(self) -> ComposeResult:
        n = len(self.changes)
        if self.type_to_confirm:
            yield Static(f"Dangerous on at least one node. Type "
                         f"{visible(self.type_to_confirm)!r} and press enter to send to the "
                         f"{n} nodes in a rolling wave; escape cancels.",
                         classes="dialog-keys", markup=False)
            yield Input(placeholder=visible(self.type_to_confirm), id="confirm-input")
        else:
            yield Static(f"{n} nodes.  y: rolling wave (node after node, stop at the first "
                         "failure)   a: all nodes (go on whatever fails)   n / escape: send "
                         "nothing", classes="dialog-keys", markup=False)

    def on_mount(self) -> None:
        if self.type_to_confirm:
            self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip() == self.type_to_confirm:
            self.dismiss("rolling")
        else:
            self.query_one(Input).value = ""
            self.notify(f"Not confirmed: type exactly {self.type_to_confirm!r}",
                        severity="warning")

    def action_answer(self, wave: str | None) -> None:
        if self.type_to_confirm and wave is not None:
            return  # typed, not a key
        self.dismiss(wave)


class FleetResultScreen(Dialog[None]):
    """What a fleet change did on each node, and the summary."""

    DEFAULT_CSS = """
    FleetResultScreen > .dialog { width: 90; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="fleet_result.close"),
        Binding("enter", "close", "Close", show=False, id="fleet_result.enter"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.dialog_title = visible(title)
        self.text = text

    def compose_body(self) -> ComposeResult:
        yield Static(visible_lines(self.text, tab=False), markup=False)

    def compose_foot(self) -> ComposeResult:
        yield Static("enter / escape: close   (u on the fleet screen undoes it on every "
                     "node it changed)", classes="dialog-keys", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


def result_text(changes: Sequence[NodeChange], lines: Sequence[str]) -> str:
    """Per node, each command and HAProxy's answer; then the summary lines."""
    out: list[str] = []
    for c in changes:
        out.append(f"── {c.target.label}: {c.outcome} ──")
        if c.result is not None:
            for o in c.result.outcomes:
                answer = (o.answer or "").strip()
                if o.sent:
                    out.append(f"  sent: {o.command}" + (f" — HAProxy: {answer}"
                                                         if answer else ""))
                else:
                    out.append(f"  not sent: {o.command}")
            out += [f"  warning: {w}" for w in c.result.warnings]
        if c.error:
            out.append(f"  {c.error}")
    out.append("")
    out.append("summary:")
    out += [f"  {line}" for line in lines]
    return "\n".join(out)
