"""What a runtime change works on: the state of its target before, and the servers of
a backend as they decide whether it keeps serving.

Pure functions over one ``show stat`` snapshot and ``show servers state`` rows; no I/O.
:func:`server_before` and :func:`frontend_before` give the state a plan records (and the
journal keeps), from which the undo and a later restore are derived.

A server is *usable* when it can take new connections: its health is up (running),
it is neither in MAINT nor in DRAIN, and its weight is above 0. A backend whose usable
servers (active and backup) all go away goes DOWN: :func:`backend_impact` says so,
from the servers before and as each change's spec predicts them after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.haproxy.model import Row, Snapshot, normalize_status
from console.haproxy.parsers import SRV_ADMF_FDRAIN, SRV_ADMF_FMAINT, ServerStateRow

# check/agent state bits of `show servers state` (HAProxy's CHK_ST_*).
CHK_ST_CONFIGURED = 0x02
CHK_ST_ENABLED = 0x04

OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}
# `set server health` word that puts a server back in an operational state.
HEALTH_FOR_OP = {0: "down", 1: "up", 2: "up", 3: "stopping"}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _check_word(bits: int | None) -> str:
    if bits is None:
        return "unknown"
    if not bits & CHK_ST_CONFIGURED:
        return "none"
    return "enabled" if bits & CHK_ST_ENABLED else "disabled"


def admin_word(st: ServerStateRow | None, row: Row | None) -> str:
    """``maint``, ``drain`` or ``ready``: the state ``set server ... state`` gives back."""
    if st is not None:
        if st.srv_admin_state & SRV_ADMF_FMAINT:
            return "maint"
        if st.srv_admin_state & SRV_ADMF_FDRAIN:
            return "drain"
        return "ready"  # maint from the config, a tracked server or DNS is not forced here
    if row is not None and row.status.kind == "MAINT" and not row.status.via:
        return "maint"
    return "ready"


def server_before(row: Row | None, st: ServerStateRow | None) -> dict[str, Any]:
    """The state of one server that an action may change, for the journal and the undo."""
    status = row.status if row is not None else None
    out: dict[str, Any] = {
        "status": status.raw if status else None,
        "admin_state": admin_word(st, row),
        "admin_bits": st.srv_admin_state if st else None,
        "op_state": OP_STATES.get(st.srv_op_state) if st else None,
        "weight": st.srv_uweight if st else (row.user_weight if row else None),
        "configured_weight": st.srv_iweight if st else None,
        "maxconn": (_int(row.fields.get("slim")) or 0) if row else None,
        "addr": st.srv_addr if st else None,
        "port": st.srv_port if st else None,
        "check": _check_word(st.srv_check_state if st else None),
        "agent": _check_word(st.srv_agent_state if st else None),
        "agent_down": bool(status and status.agent and status.kind == "DOWN"),
        "scur": (row.num("scur") or 0) if row else None,
        "qcur": (row.num("qcur") or 0) if row else None,
    }
    if out["weight"] is None and row is not None:
        out["weight"] = row.weight
    return out


def frontend_before(row: Row | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {"status": row.status.raw, "maxconn": _int(row.fields.get("slim")),
            "scur": row.num("scur") or 0}


def frontend_enabled(before: Mapping[str, Any]) -> bool:
    return normalize_status(str(before.get("status") or "")).kind in ("OPEN", "FULL")


def state_index(states: Sequence[ServerStateRow] | None
                ) -> dict[tuple[str, str], ServerStateRow]:
    return {(s.be_name, s.srv_name): s for s in states or ()}


# --------------------------------------------------------------------------- usable servers

@dataclass(frozen=True)
class ServerView:
    """What decides whether a server takes new connections."""

    backend: str
    name: str
    active: bool  # False for a backup server
    healthy: bool  # running (checks or forced health say so)
    blocked: bool  # MAINT or DRAIN
    weight: int
    scur: int

    @property
    def usable(self) -> bool:
        return self.healthy and not self.blocked and self.weight > 0


def view(row: Row, st: ServerStateRow | None) -> ServerView:
    status = row.status
    if st is not None:
        healthy = st.srv_op_state == 2
        blocked = st.in_maint or st.draining
        weight = st.srv_uweight
    else:
        healthy = status.kind in ("UP", "NOCHECK") or (status.kind == "DRAIN" and not status.agent)
        blocked = status.kind == "MAINT"
        weight = row.user_weight if row.user_weight is not None else (row.weight or 0)
    active = row.fields.get("bck", "0") != "1"
    return ServerView(row.proxy, row.name, active, healthy, blocked, weight,
                      row.num("scur") or 0)


def backend_views(snapshot: Snapshot, states: Mapping[tuple[str, str], ServerStateRow],
                  backend: str) -> list[ServerView]:
    return [view(r, states.get((backend, r.name))) for r in snapshot.servers_of(backend)]


def _names(views: Sequence[ServerView]) -> str:
    return ", ".join(v.name for v in views) or "none"


def backend_impact(backend: str, before: Sequence[ServerView],
                   after: Sequence[ServerView], changed: set[str]) -> tuple[list[str], bool]:
    """Sentences about the backend as a whole, and whether it goes DOWN."""
    ub = [v for v in before if v.usable]
    ua = [v for v in after if v.usable]
    if {v.name for v in ub} == {v.name for v in ua}:
        return [], False
    lines: list[str] = []
    if not ua:
        if ub:
            if len(ub) == 1 and ub[0].name in changed:
                lines.append(f"{ub[0].name} is the last UP server of {backend}")
            lines.append(f"{backend} keeps 0 usable servers: the backend goes DOWN "
                         "(clients get 503 errors)")
            return lines, True
        return [f"{backend} has no usable server already"], False
    act_b = [v for v in ub if v.active]
    act_a = [v for v in ua if v.active]
    if act_b and not act_a:
        lines.append(f"{backend} keeps no usable active server: its backup server(s) "
                     f"{_names(ua)} take all the traffic")
    else:
        verb = "keeps" if len(ua) < len(ub) else "then has"
        lines.append(f"{backend} {verb} {len(ua)} usable server{'s' if len(ua) != 1 else ''} "
                     f"of {len(after)} ({_names(ua)})")
    return lines, False


def share(after: Sequence[ServerView], name: str) -> int | None:
    """Percent of the backend's new connections *name* should get (by weight)."""
    pool = [v for v in after if v.usable and v.active]
    if not any(v.name == name for v in pool):
        pool = [v for v in after if v.usable]
    total = sum(v.weight for v in pool)
    mine = next((v.weight for v in pool if v.name == name), None)
    if mine is None or total <= 0:
        return None
    return round(100 * mine / total)
