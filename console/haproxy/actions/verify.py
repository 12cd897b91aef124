"""After HAProxy answered: is each target of a plan in the state the plan expected?

HAProxy's answer to a change says it took the command, not what the target reads as
afterwards: an agent check, another operator or a reload in between may have changed
it again, and an answer lost on the way (a forward through a dying ssh connection)
reads as an empty success. :func:`verify` reads every target of the plan again
(``show stat`` and ``show servers state`` of its backend, or ``show stat`` of the
frontend) and :func:`mismatches` compares what it reads with the plan's
:attr:`~console.haproxy.plans.Plan.expected` (written by each kind's spec: a drain
reads as admin state ``drain``, a weight N as weight N, a disabled frontend as
``PAUSED``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.haproxy.actions.run import read_scope
from console.haproxy.plans import Plan
from console.haproxy.safe_text import visible

Expectations = Mapping[str, Mapping[str, tuple[Any, ...]]]  # label -> key -> accepted


def _words(values: tuple[Any, ...]) -> str:
    return " or ".join("none" if v is None else str(v) for v in values)


def mismatches(expected: Expectations,
               after: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """One line per *expected* value (a plan's :attr:`~Plan.expected`) that the state
    *after* (per target label, in the form of ``Plan.before``; None or absent: not
    read) does not show."""
    problems: list[str] = []
    for label, want in expected.items():
        state = after.get(label)
        if not state:
            problems.append(visible(f"{label}: its state could not be read again"))
            continue
        for key, allowed in want.items():
            got = state.get(key)
            if got not in allowed:
                shown = "none" if got is None else got
                problems.append(visible(f"{label}: {key} is {shown}, expected "
                                        f"{_words(allowed)}"))
    return problems


def expected_text(plan: Plan) -> str:
    """The expected state in words: ``be_app/app1 admin_state drain``."""
    return visible("; ".join(f"{label} " + ", ".join(f"{k} {_words(v)}"
                                                     for k, v in want.items())
                             for label, want in plan.expected.items()))


async def verify(plan: Plan, client: Any) -> list[str]:
    """Read every target of *plan* again through *client*; the :func:`mismatches`.

    A target that cannot be read is a mismatch (its state is unknown), said with
    HAProxy's error; a plan without expectations (a forced health, counters) has none.
    """
    from console.haproxy.errors import HAProxyError

    after: dict[str, Mapping[str, Any] | None] = {}
    problems: list[str] = []
    for label in plan.expected:
        scope = plan.scopes.get(label)
        if scope is None:
            continue
        try:
            after[label] = await read_scope(client, scope)
        except HAProxyError as exc:
            problems.append(visible(f"{label}: its state could not be read again: {exc}"))
    failed = {label for label in plan.expected if label not in after
              and plan.scopes.get(label) is not None}
    return problems + mismatches({k: v for k, v in plan.expected.items() if k not in failed},
                                 after)
