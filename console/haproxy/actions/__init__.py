"""Operational changes at runtime: validated, impact-checked, journaled, undoable.

An :class:`Action` says what to change (drain a server, set a weight, disable a
frontend...). :func:`plan` turns it into a :class:`Plan` against the current state:
the exact runtime commands, built only from validated names and values, what they
will do in words, whether the change is dangerous (then a name must be typed to
confirm), the socket level it needs, the state before, and the changes that put it
back. :func:`execute` sends the commands, stops at the first failure, and journals
every attempt with the state before and after.

Each kind of change is one spec (:mod:`.spec`) in the registry (:mod:`.registry`):
its parameters, command, impact, undo, prediction, how the menu and the command line
offer it, and how a journal entry it wrote is restored. The package:

* :mod:`.spec` — what a spec is; :mod:`.registry` — every spec, in the order offered;
* :mod:`.server_specs`, :mod:`.weight_spec`, :mod:`.check_specs`,
  :mod:`.frontend_specs`, :mod:`.counter_specs` — the specs;
* :mod:`.state` — the state a change works on, usable servers, the backend's fate;
* :mod:`.validation` — checks and socket levels; :mod:`.planning` — plans and undo;
* :mod:`.run` — reading the state, sending, journaling; :mod:`.restore` — from a
  journal entry back to the changes that undo it.

Every change here is runtime only: a reload or restart forgets it unless the
server-state file keeps it.
"""

from __future__ import annotations

from console.haproxy.actions.planning import (
    RUNTIME_ONLY,
    RUNTIME_ONLY_FRONTEND,
    plan,
    plan_all,
    preview_commands,
    undo_actions,
    undo_plan,
)
from console.haproxy.actions.restore import NoRestore, Restore, current_state, restore_actions
from console.haproxy.actions.run import (
    NotConfirmed,
    answer_problem,
    check_plan,
    execute,
    haproxy_version,
    read_scope,
    read_state,
    record_refusal,
    run_action,
    socket_level,
)
from console.haproxy.actions.spec import MAX_MAXCONN
from console.haproxy.actions.state import state_index
from console.haproxy.actions.validation import (
    ALL_KINDS,
    COUNTER_KINDS,
    FRONTEND_KINDS,
    OPERATOR_KINDS,
    SERVER_KINDS,
    TABLE_KINDS,
    describe,
    expand_same_name,
    read_only,
    required_level,
    validate,
)
from console.haproxy.actions.weight_spec import WeightChange, parse_weight
from console.haproxy.plans import Action, CommandOutcome, Plan, Result

__all__ = [
    "ALL_KINDS", "COUNTER_KINDS", "FRONTEND_KINDS", "MAX_MAXCONN", "OPERATOR_KINDS",
    "RUNTIME_ONLY", "RUNTIME_ONLY_FRONTEND", "SERVER_KINDS", "TABLE_KINDS", "Action",
    "CommandOutcome", "NoRestore", "NotConfirmed", "Plan", "Restore", "Result", "WeightChange",
    "answer_problem", "check_plan", "current_state", "describe", "execute", "expand_same_name",
    "haproxy_version", "parse_weight", "plan", "plan_all", "preview_commands", "read_only",
    "read_scope", "read_state", "record_refusal", "required_level", "restore_actions",
    "run_action", "socket_level", "state_index", "undo_actions", "undo_plan", "validate",
]
