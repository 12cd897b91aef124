"""The registry of action specs: every kind says all the console needs of it, and the
menu, the command line and the journal's restore are built from the registry alone.

Planned against the captured HAProxy 2.8 state (tests/data/captured/2.8): be_api/
agent_down has health checks and an agent, fe_main is OPEN.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from console import actions_cli
from console.haproxy.actions import (
    ALL_KINDS,
    TABLE_KINDS,
    Action,
    NoRestore,
    plan,
    preview_commands,
    registry,
    restore_actions,
)
from console.haproxy.actions.spec import (
    REF,
    ActionSpec,
    Builder,
    CliArg,
    CliVerb,
    MenuEntry,
    NotOffered,
    Recover,
    Refuse,
    Target,
    choice,
    differs,
    prompt_values,
    was,
)
from console.haproxy.model import Snapshot
from console.haproxy.parsers import parse_servers_state
from console.haproxy.validate import build_command
from console.ui.screens.actions import menu_items

CAPTURED = Path(__file__).resolve().parent.parent / "data" / "captured" / "2.8"
SNAP = Snapshot.from_text(None, (CAPTURED / "show_stat.txt").read_text())
STATES = parse_servers_state((CAPTURED / "show_servers_state.txt").read_text())
TARGETS: dict[str, tuple[Any, ...]] = {"server": (("be_api", "agent_down"),),
                                       "frontend": ("fe_main",), "counters": (),
                                       "session": ()}
SPECS = registry.specs()
# Kinds the menu or the command line does not offer (each says why): keep it short.
NOT_IN_MENU = {"server_del", "clear_counters", "clear_counters_all", "session_shutdown"}
NOT_ON_CLI = {"server_del", "session_shutdown"}


def example(spec: ActionSpec) -> Action:
    return Action(spec.kind, TARGETS[spec.scope], spec.example)


def test_the_registry_has_every_kind_once_and_no_table_kind() -> None:
    assert len({s.kind for s in SPECS}) == len(SPECS)
    assert {s.kind for s in SPECS} == ALL_KINDS - TABLE_KINDS
    assert all(s.scope in registry.SCOPES for s in SPECS)
    assert all(s.level in ("admin", "operator") for s in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_every_spec_has_commands_and_an_undo_or_says_why_not(spec: ActionSpec) -> None:
    p = plan(example(spec), SNAP, STATES, instance="lb1")
    assert p.commands and p.impact
    assert p.undo_actions or p.no_undo
    assert all(a.kind == spec.kind for a in p.undo_actions)
    assert preview_commands(example(spec)) == p.commands or spec.preview is not None


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_every_spec_is_in_the_menu_and_on_the_command_line_or_says_why_not(
        spec: ActionSpec) -> None:
    if isinstance(spec.menu, NotOffered):
        assert spec.kind in NOT_IN_MENU and spec.menu.why
    else:
        assert spec.kind not in NOT_IN_MENU and spec.menu
        assert all(e.label and (e.prompt_label or not e.prompt) for e in spec.menu)
    if isinstance(spec.cli, NotOffered):
        assert spec.kind in NOT_ON_CLI and spec.cli.why
    else:
        assert spec.kind not in NOT_ON_CLI and spec.cli
        assert all(v.verb and v.help for v in spec.cli)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_every_spec_has_a_restore_and_its_journal_words_recognise_its_command(
        spec: ActionSpec) -> None:
    assert isinstance(spec.restore, (Recover, Refuse))
    p = plan(example(spec), SNAP, STATES)
    for command in p.commands:
        assert registry.by_command(command)[0] is spec  # type: ignore[index]
    if not registry.SCOPES[spec.scope].restorable:
        return
    label = p.command_targets[0]
    entry = {"command": p.commands[0], "before": p.before[label]}
    if isinstance(spec.restore, Refuse):
        with pytest.raises(NoRestore, match=spec.restore.reason):
            restore_actions(entry)
    else:
        assert spec.kind in restore_actions(entry).kinds


def test_every_server_and_frontend_restore_is_one_of_its_scope() -> None:
    """A restore may only send kinds of its entry's scope, to the entry's target."""
    r = restore_actions({"command": "set server be_app/s1 weight 0",
                         "before": {"weight": 3, "maxconn": 0, "admin_state": "ready"}})
    assert [a.kind for a in r.actions] == ["server_maxconn", "weight", "server_state"]
    assert {a.targets for a in r.actions} == {(("be_app", "s1"),)}


def test_menu_and_command_line_offer_the_registry_in_its_order() -> None:
    menu = [i.kind for i in menu_items("server", ALL_KINDS, many=False)
            if i.kind in ALL_KINDS]
    assert list(dict.fromkeys(menu)) == [s.kind for s in registry.specs("server")
                                         if not isinstance(s.menu, NotOffered)]
    parser = _parser()
    for scope in ("server", "frontend", "counters"):
        verbs = list(_subcommands(_subcommands(parser)[scope]))
        assert verbs[:len(_verbs(scope))] == _verbs(scope)


def test_prompt_values() -> None:
    assert prompt_values(("value",), "  50% ") == {"value": "50%"}
    assert prompt_values(("addr", "port"), "10.0.0.5 8080") == {"addr": "10.0.0.5",
                                                                "port": "8080"}
    assert prompt_values(("addr", "port"), "10.0.0.5") == {"addr": "10.0.0.5"}


# --------------------------------------------------------------------------- a new kind

def _ssl_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    b.say(f"{t.name} talks {'TLS' if params['state'] == 'on' else 'clear text'} to the server")
    b.undo(state="off")


def _ssl_restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Any:
    if differs("ssl", before, current):
        return {"state": before["ssl"]}, was("ssl", before, current)
    return None


SSL = ActionSpec(
    "server_ssl", "server", "set ssl {state} on",
    command=lambda p, ref: build_command("set", "server", ref, "ssl", p["state"]),
    impact=_ssl_impact, params=(choice("state", "on", "off"),),
    menu=(MenuEntry("ssl: on", {"state": "on"}),),
    cli=(CliVerb("ssl", "use TLS to the server: on|off", (CliArg("state", "ON|OFF"),)),),
    journal=("set", "server", REF, "ssl"),
    restore=Recover(_ssl_restore, order=80),
    example={"state": "on"},
)


@pytest.fixture
def with_ssl(monkeypatch: pytest.MonkeyPatch) -> ActionSpec:
    monkeypatch.setitem(registry.SPECS, SSL.kind, SSL)
    return SSL


def test_a_new_spec_shows_in_the_menu_the_command_line_and_the_restore(with_ssl) -> None:
    items = menu_items("server", frozenset({"server_ssl", "server_state"}), many=False)
    assert [i.label for i in items][-2:] == ["ssl: on", "select this server in every backend"]
    assert items[-2].kind == "server_ssl" and items[-2].params == {"state": "on"}

    parser = _parser()
    assert "ssl" in _subcommands(_subcommands(parser)["server"])
    args = parser.parse_args(["server", "ssl", "be_api/agent_down", "on", "-y"])
    assert actions_cli.chosen(args) == (SSL, {"state": "on"})
    assert actions_cli._attempt(args) == "haconsole server ssl be_api/agent_down on"

    p = plan(Action.server("server_ssl", [("be_api", "agent_down")], state="ON"), SNAP, STATES)
    assert p.commands == ["set server be_api/agent_down ssl on"]
    assert p.impact[0] == "agent_down talks TLS to the server"
    assert p.undo_commands == ["set server be_api/agent_down ssl off"]

    before = dict(p.before["be_api/agent_down"], ssl="off")
    r = restore_actions({"command": p.commands[0], "before": before})
    assert [a.kind for a in r.actions][-2:] == ["server_ssl", "server_state"]
    assert r.actions[-2].params == {"state": "off"}
    # after another kind of change, only the kinds restored always come back
    r = restore_actions({"command": "set server be_api/agent_down weight 0", "before": before})
    assert "server_ssl" not in r.kinds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="haconsole")
    actions_cli.add_parsers(parser.add_subparsers(dest="command"))
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _verbs(scope: str) -> list[str]:
    return list(dict.fromkeys(v.verb for _, v in actions_cli._verbs(scope)))
