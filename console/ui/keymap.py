"""The settings' ``[keys]`` checked before the console applies them.

Textual applies a keymap silently: a binding remapped onto a key that another binding of
the same screen has takes that key, and the other binding is lost (``"view.http" = "s"``
removes Sort); an id that no binding has is ignored. Here each remap is checked against
the bindings that are active together (a *scope*: a screen, the widgets on it that have
remappable keys, and the app's own keys):

- an unknown id is reported (with the nearest known id) and ignored;
- a remap onto a key that another binding of one of its scopes keeps is reported and
  not applied: that binding keeps its key, and the remapped one keeps its default.

Two remaps may swap keys; of two remaps onto the same key, the earlier in the file is
refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.keys import key_to_character

from console.ui.textual_seam import normalized_keys


@dataclass(frozen=True)
class Scope:
    """Bindings active together, and where (for the messages)."""

    where: str
    bindings: tuple[Binding, ...]


@dataclass
class KeymapCheck:
    keymap: dict[str, str] = field(default_factory=dict)  # what is applied
    problems: list[str] = field(default_factory=list)  # what is not, and why, one line each


def class_bindings(*classes: type[DOMNode]) -> tuple[Binding, ...]:
    """The bindings of *classes* (screens and widgets), each with one key, their bases'
    included, as Textual merges them."""
    out: list[Binding] = []
    for cls in classes:
        for base in cls.__mro__:
            own: Sequence[BindingType] = base.__dict__.get("BINDINGS", ())
            out.extend(Binding.make_bindings(own))
    return tuple(out)


def console_scopes(app_bindings: Iterable[BindingType]) -> list[Scope]:
    """Every screen of the console with the widgets whose keys can be remapped, each
    with the app's bindings."""
    from console.ui.screens.actions import ActionMenu, DrainScreen, ValuePrompt
    from console.ui.screens.captured import CapturedScreen
    from console.ui.screens.clients import ClientsScreen
    from console.ui.screens.config import ConfigScreen
    from console.ui.screens.config_editor import ConfigEditorScreen
    from console.ui.screens.config_history import ConfigHistoryScreen
    from console.ui.screens.confirm import ConfirmScreen
    from console.ui.screens.drift import DriftScreen
    from console.ui.screens.fleet import FleetScreen
    from console.ui.screens.fleet_dialogs import FleetConfirmScreen, FleetResultScreen
    from console.ui.screens.help import HelpScreen
    from console.ui.screens.hurting import HurtingScreen
    from console.ui.screens.journal import JournalScreen
    from console.ui.screens.log_summary import LogSummaryScreen
    from console.ui.screens.logs import LogsScreen, LogTable
    from console.ui.screens.monitor import MonitorScreen
    from console.ui.screens.sessions import SessionsScreen
    from console.ui.screens.tables import PromptScreen, TablesScreen
    from console.ui.widgets.detail import DetailPane
    from console.ui.widgets.diffview import DiffView
    from console.ui.widgets.drill_banner import DRILL_BINDINGS
    from console.ui.widgets.table import ProxyTable

    app = tuple(Binding.make_bindings(list(app_bindings)))
    groups: list[tuple[str, tuple[type[DOMNode], ...]]] = [
        ("the main screen", (MonitorScreen, ProxyTable, DetailPane)),
        ("the config screen", (ConfigScreen, DiffView)),
        ("the config editor", (ConfigEditorScreen,)),
        ("the config history", (ConfigHistoryScreen, DiffView)),
        ("the drift screen", (DriftScreen,)),
        ("the tables screen", (TablesScreen,)),
        ("the clients screen", (ClientsScreen,)),
        ("the journal", (JournalScreen,)),
        ("the logs screen", (LogsScreen, LogTable)),
        ("what's hurting now", (HurtingScreen,)),
        ("the log summaries", (LogSummaryScreen,)),
        ("the captured errors screen", (CapturedScreen,)),
        ("the sessions screen", (SessionsScreen,)),
        ("a confirmation", (ConfirmScreen,)),
        ("the actions menu", (ActionMenu,)),
        ("a value prompt", (ValuePrompt,)),
        ("the drain dialog", (DrainScreen,)),
        ("the tables' prompt", (PromptScreen,)),
        ("the help", (HelpScreen,)),
        ("the fleet screen", (FleetScreen,)),
        ("a fleet confirmation", (FleetConfirmScreen,)),
        ("a fleet result", (FleetResultScreen,)),
    ]
    scopes = [Scope(where, app + class_bindings(*classes)) for where, classes in groups]
    # the drill's keys are known everywhere; their clashes with the main screen's keys
    # are checked by the drill's console alone (console.ui.drill.DrillApp)
    scopes.append(Scope("the main screen during a drill", app + tuple(DRILL_BINDINGS)))
    return scopes


def _keys(keyspec: str) -> list[str]:
    return [k for k in normalized_keys(keyspec).split(",") if k]


def _shown(key: str) -> str:
    """A key as a settings file may write it: ``?`` for question_mark, ``down``."""
    char = key_to_character(key)
    return char if char and char.isprintable() and not char.isspace() else key


def _name(binding: Binding) -> str:
    what = binding.description or binding.action
    return f"{what} ({binding.id})" if binding.id else what


def check_keymap(wanted: Mapping[str, str], scopes: Sequence[Scope]) -> KeymapCheck:
    """The remaps of *wanted* (binding id → keys) that can be applied, and the problems
    of the others."""
    known = {b.id for scope in scopes for b in scope.bindings if b.id}
    result = KeymapCheck()
    asked: dict[str, list[str]] = {}
    for binding_id, keyspec in wanted.items():
        if binding_id not in known:
            near = difflib.get_close_matches(binding_id, sorted(known), n=1)
            hint = f" (did you mean \"{near[0]}\"?)" if near else ""
            result.problems.append(f"[keys] \"{binding_id}\": no key has this id{hint}; "
                                   "ignored")
            continue
        keys = _keys(keyspec)
        if not keys:
            result.problems.append(f"[keys] \"{binding_id}\" = \"{keyspec}\": no key; ignored")
            continue
        asked[binding_id] = keys
    refused: dict[str, str] = {}
    changed = True
    while changed:  # a refused remap gives its default key back: check again
        changed = False
        applied = {i: k for i, k in asked.items() if i not in refused}
        for binding_id, keys in applied.items():
            why = _clash(binding_id, keys, applied, scopes)
            if why:
                refused[binding_id] = why
                changed = True
                break
    for binding_id, keys in asked.items():
        if binding_id in refused:
            result.problems.append(f"[keys] \"{binding_id}\" = \"{wanted[binding_id]}\" not "
                                   f"applied: {refused[binding_id]}")
        else:
            result.keymap[binding_id] = ",".join(keys)
    return result


def _clash(binding_id: str, keys: list[str], applied: Mapping[str, list[str]],
           scopes: Sequence[Scope]) -> str | None:
    """Why *binding_id* cannot have *keys*: another binding of one of its scopes has one
    of them once *applied* is applied; or None."""
    for scope in scopes:
        if not any(b.id == binding_id for b in scope.bindings):
            continue
        for other in scope.bindings:
            if other.id == binding_id:
                continue
            their = applied.get(other.id, [other.key]) if other.id else [other.key]
            taken = [k for k in keys if k in their]
            if taken:
                again = " (remapped there too)" if other.id in applied else ""
                key = _shown(taken[0])
                return (f"{key} is already {_name(other)} on {scope.where}{again}; "
                        f"remap {other.id or 'that key'} too, or choose another key"
                        if other.id else
                        f"{key} is already {_name(other)} on {scope.where}; "
                        "choose another key")
    return None


def keys_of(binding: Binding, keymap: Mapping[str, str]) -> str:
    """The keys *binding* has once *keymap* is applied (Textual's names, commas)."""
    return keymap.get(binding.id, binding.key) if binding.id else binding.key
