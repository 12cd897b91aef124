"""Clearing the counters of the whole instance: max values and rates, or every counter.

These changes have no target and no state before: they are planned alone, and the
instance's name is typed to confirm clearing every counter. In the console they are
keys of the main view (``z``, ``Z``), not lines of the actions menu.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.haproxy.actions.spec import (
    ActionSpec,
    Builder,
    CliVerb,
    NotOffered,
    Refuse,
    Target,
)
from console.haproxy.validate import build_command

_NO_UNDO = "cleared counters cannot be restored"


def _clear_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    b.say("max values (smax, qmax, rate_max...) and activity counters reset for "
          "every proxy; Prometheus, the stats page and other consoles see it too")
    b.say("totals (sessions, bytes, errors, HTTP codes) are kept")
    b.no_undo(_NO_UNDO)


def _clear_all_impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    b.say("EVERY counter of every frontend, backend and server resets to 0: totals, "
          "bytes, errors, HTTP codes, max values")
    b.say("Prometheus graphs show a counter reset; other consoles and the stats page "
          "lose their history (an incident mark gives deltas without clearing)")
    b.dangerous()
    b.no_undo(_NO_UNDO)


CLEAR_COUNTERS = ActionSpec(
    "clear_counters", "counters", "clear counters",
    command=lambda p, ref: build_command("clear", "counters"),
    impact=_clear_impact, level="operator",
    menu=NotOffered("the key z of the main view"),
    cli=(CliVerb("clear", "clear max values and rates (--all: everything)"),),
    journal=("clear", "counters"),
    restore=Refuse(_NO_UNDO),
    example={},
)

CLEAR_COUNTERS_ALL = ActionSpec(
    "clear_counters_all", "counters", "clear counters all",
    command=lambda p, ref: build_command("clear", "counters", "all"),
    impact=_clear_all_impact,
    menu=NotOffered("the key Z of the main view"),
    cli=(CliVerb("clear", "every counter (needs level admin)", flag="--all"),),
    journal=("clear", "counters", "all"),
    restore=Refuse(_NO_UNDO),
    example={},
)
