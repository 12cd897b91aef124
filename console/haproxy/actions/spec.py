"""One kind of runtime change, as data: :class:`ActionSpec`.

Everything the console knows about a kind of change is in its spec, and every part
that offers, plans, undoes or restores changes reads the specs from the registry
(:mod:`console.haproxy.actions.registry`) instead of knowing the kinds:

* what it changes (*scope*: a server, a frontend, the counters of the instance), the
  socket level it needs, and its parameters, each checked by a :class:`Param`;
* its runtime command (*command*); its impact in words, its danger and its undo
  (*impact*, written on a :class:`Builder`); what a server becomes once it is done
  (*predict*), so that the backend as a whole is judged; what its target reads as
  once it is done (*expect*), checked after a fleet's node is changed;
* how it is offered: in the actions menu (:class:`MenuEntry`) and as
  ``haconsole SCOPE VERB`` (:class:`CliVerb`), or :class:`NotOffered` and why;
* how a journal entry it wrote is brought back: the leading words of its command
  (*journal*, :data:`REF` for the target) and a :class:`Recover` rule, or a
  :class:`Refuse` reason.

Pure data and functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.haproxy.actions.state import ServerView
from console.haproxy.errors import ValidationError
from console.haproxy.model import Row
from console.haproxy.safe_text import visible
from console.haproxy.validate import Command

MAX_MAXCONN = 10_000_000
REF = "{ref}"  # in a journal pattern: the server (BACKEND/SERVER) or frontend named


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class Param:
    """A parameter: *check* takes the value given (*default* when absent) and returns it
    cleaned, or raises :class:`ValidationError`; the result goes to *into* (or *name*)."""

    name: str
    check: Callable[[Any], Any]
    default: Any = None
    into: str | None = None


def choice(name: str, *allowed: str) -> Param:
    """A word among *allowed*, in any case."""
    def check(value: Any) -> str:
        word = str(value).lower()
        if word not in allowed:
            raise ValidationError(f"invalid {name} {str(value)[:40]!r}",
                                  hint="give one of " + ", ".join(allowed))
        return word
    return Param(name, check)


# --------------------------------------------------------------------------- offering

@dataclass(frozen=True)
class NotOffered:
    """The kind is not offered there; *why* says where it comes from instead."""

    why: str


@dataclass(frozen=True)
class MenuEntry:
    """One line of the actions menu. *prompt*: the values asked first, on one line."""

    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    prompt: tuple[str, ...] = ()
    prompt_label: str = ""


def prompt_values(keys: Sequence[str], text: str) -> dict[str, str]:
    """The values typed at a menu prompt: the whole text for one value; one word each for
    several (those not typed are left out)."""
    if len(keys) == 1:
        return {keys[0]: text.strip()}
    return dict(zip(keys, text.split(), strict=False))


@dataclass(frozen=True)
class CliArg:
    """A positional argument of a ``haconsole`` command (its *dest* is the parameter)."""

    dest: str
    metavar: str
    help: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class CliVerb:
    """``haconsole SCOPE VERB TARGET ARGS...``: *fixed* parameters come with the verb.

    With *flag* (``--all``), the verb is another kind's plus that flag: this spec is
    chosen when the flag is given, and *help* is the flag's. *rank* orders the verbs
    of a scope in the help (the registry's order otherwise).
    """

    verb: str
    help: str
    args: tuple[CliArg, ...] = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    flag: str | None = None
    rank: int = 0


@dataclass(frozen=True)
class Scope:
    """What a kind of change acts on; its name is also the ``haconsole`` command."""

    name: str
    cli_help: str
    target: CliArg | None  # how the command line names the target (None: the instance)
    restorable: bool  # its journal entries record a state to bring back


# --------------------------------------------------------------------------- restoring

Derived = tuple[dict[str, Any], str] | None  # (parameters, "weight 3 → 1"), or nothing


@dataclass(frozen=True)
class Recover:
    """How a restore brings back what this kind changes, from the state recorded before.

    *derive* gets that state and the state now (None when unknown) and gives the
    parameters and a line saying what changes, or None when nothing needs to. *order*
    places it among the changes of one restore (limits first, the admin state last);
    *always*: restored whatever the entry changed, not only after this kind.
    """

    derive: Callable[[Mapping[str, Any], Mapping[str, Any] | None], Derived]
    order: int
    always: bool = False


@dataclass(frozen=True)
class Refuse:
    """A change of this kind cannot be restored; *reason* says why."""

    reason: str


def differs(key: str, before: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
    """*key* was recorded and is not the same now (or the state now is unknown)."""
    return before.get(key) is not None and (current is None or current.get(key) != before[key])


def was(key: str, before: Mapping[str, Any], current: Mapping[str, Any] | None) -> str:
    now = "?" if current is None else current.get(key)
    return visible(f"{key} {now} → {before.get(key)}")


# --------------------------------------------------------------------------- steps

UndoChange = tuple[str, dict[str, Any]]  # (action kind, parameters) on the same target
Expected = dict[str, tuple[Any, ...]]
"""What a target reads as once a change is done: for keys of its state (the form of
``Plan.before``: ``admin_state``, ``weight``, ``status``...), the values accepted."""


@dataclass(frozen=True)
class Target:
    """One target of a change as its impact sees it. *after*: the servers of its
    backend once every change planned together is done (empty for a frontend)."""

    label: str  # "be_app/web1", "fe_main", "counters"
    name: str  # the server or frontend
    backend: str | None
    before: Mapping[str, Any]
    after: Sequence[ServerView] = ()


@dataclass
class Step:
    """Commands, impact and undo for one target of an action."""

    label: str
    commands: list[Command]
    impact: list[str]
    undo: list[Command]
    dangerous: bool = False
    no_undo: str | None = None  # why it cannot be undone
    undo_changes: list[UndoChange] = field(default_factory=list)
    expected: Expected = field(default_factory=dict)


class Builder:
    """Writes one target's step: the command, the impact lines, the danger, the undo
    (both the command it would send and the change that puts the target back)."""

    def __init__(self, spec: ActionSpec, step: Step, ref: str) -> None:
        self.spec, self.step, self.ref = spec, step, ref

    def send(self, params: Mapping[str, Any]) -> None:
        self.step.commands.append(self.spec.command(params, self.ref))

    def say(self, line: str) -> None:
        self.step.impact.append(line)

    def dangerous(self) -> None:
        self.step.dangerous = True

    def no_undo(self, why: str) -> None:
        self.step.no_undo = why

    def undo(self, **params: Any) -> None:
        """The same kind of change, with the parameters that put the target back."""
        self.step.undo.append(self.spec.command(params, self.ref))
        self.step.undo_changes.append((self.spec.kind, params))


# --------------------------------------------------------------------------- the spec

Impact = Callable[[Builder, Mapping[str, Any], Target], None]


@dataclass(frozen=True)
class ActionSpec:
    """Everything about one kind of change (see the module's description).

    *summary* names the change before its targets (``set weight {value} on``, with
    the parameters). *prepare* resolves parameters against a server's state before
    (``(params, before, backend row) -> params``); *preview* gives the parameters of a
    command shown without the state, or None when the command depends on it. *example*:
    parameters that make a valid change (for tests and help). *expect* gives, from the
    parameters of a step, what its target reads as once HAProxy has done it (None: a
    change whose result is not checked, as a forced health that checks move on).
    """

    kind: str
    scope: str
    summary: str
    command: Callable[[Mapping[str, Any], str], Command]
    impact: Impact
    menu: tuple[MenuEntry, ...] | NotOffered
    cli: tuple[CliVerb, ...] | NotOffered
    journal: tuple[str | tuple[str, ...], ...]
    restore: Recover | Refuse
    example: Mapping[str, Any]
    params: tuple[Param, ...] = ()
    level: str = "admin"
    predict: Callable[[ServerView, Mapping[str, Any]], ServerView] | None = None
    prepare: Callable[[dict[str, Any], Mapping[str, Any], Row | None],
                      dict[str, Any]] | None = None
    preview: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
    expect: Callable[[Mapping[str, Any]], Expected] | None = None

    def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters, each checked and cleaned."""
        p = dict(params)
        for param in self.params:
            p[param.into or param.name] = param.check(p.get(param.name, param.default))
        return p

    def journal_ref(self, command: str) -> str | None:
        """The target named by *command* when this kind sent it ("" for a change without
        a target), else None."""
        words = command.split()
        if len(words) < len(self.journal):
            return None
        ref = ""
        for want, word in zip(self.journal, words, strict=False):
            if want == REF:
                ref = word
            elif word != want and not (isinstance(want, tuple) and word in want):
                return None
        return ref
