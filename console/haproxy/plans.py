"""What a runtime change is, what is sent for it, and what came of it: the data every
kind of change shares, whatever plans it.

An :class:`Action` says what to change (a kind, its targets, its parameters); a
:class:`Plan` says exactly what will be sent for it, what it does, whether it is
dangerous and what puts it back; a :class:`Result` says what came of each command.

Server, frontend and counter changes are planned by :mod:`console.haproxy.actions`;
map, ACL and stick-table changes by :mod:`console.haproxy.tables`. Both build these
plans, and :func:`console.haproxy.actions.execute` sends any of them. This module
imports neither, so neither imports the other to share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Action:
    """One change. *targets*: ``(backend, server)`` pairs, or frontend names."""

    kind: str
    targets: tuple[Any, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def server(cls, kind: str, refs: Iterable[tuple[str, str]], **params: Any) -> Action:
        return cls(kind, tuple(refs), params)

    @classmethod
    def frontend(cls, kind: str, names: Iterable[str], **params: Any) -> Action:
        return cls(kind, tuple(names), params)


@dataclass
class Plan:
    """What :func:`~console.haproxy.actions.execute` will send, and what it means."""

    kind: str
    summary: str
    commands: list[str]
    impact: list[str]
    dangerous: bool
    confirm_word: str | None
    required_level: str  # "admin" or "operator"
    before: dict[str, Any]  # per target label
    undo_commands: list[str]
    runtime_only_note: str | None
    command_targets: list[str] = field(default_factory=list)  # target label per command
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # label -> what to re-read
    no_undo: list[str] = field(default_factory=list)
    undo_targets: list[str] = field(default_factory=list)  # target label per undo command
    undo_actions: list[Action] = field(default_factory=list)  # what puts it back, in order
    # per target label: what its state reads as once done (key -> values accepted)
    expected: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)


@dataclass
class CommandOutcome:
    command: str
    sent: bool
    answer: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.sent and self.error is None


@dataclass
class Result:
    plan: Plan
    outcomes: list[CommandOutcome]
    after: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def error(self) -> str | None:
        return next((o.error for o in self.outcomes if o.error), None)

    @property
    def answers(self) -> list[str]:
        return [o.answer or "" for o in self.outcomes if o.sent]
