"""What a runtime change works on: the state before it, weights, usable servers.

Pure functions over one ``show stat`` snapshot and ``show servers state`` rows; no I/O.
:mod:`console.haproxy.action_steps` turns one target's change into its command, impact
and undo; :mod:`console.haproxy.actions` builds plans with both.

A server is *usable* when it can take new connections: its health is up (running),
it is neither in MAINT nor in DRAIN, and its weight is above 0. A backend whose usable
servers (active and backup) all go away goes DOWN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from console.haproxy.errors import ValidationError
from console.haproxy.model import Row, Snapshot, normalize_status
from console.haproxy.parsers import (
    SRV_ADMF_FDRAIN,
    SRV_ADMF_FMAINT,
    ServerStateRow,
)
from console.haproxy.validate import check_int

# check/agent state bits of `show servers state` (HAProxy's CHK_ST_*).
CHK_ST_CONFIGURED = 0x02
CHK_ST_ENABLED = 0x04

OP_STATES = {0: "stopped", 1: "starting", 2: "running", 3: "stopping"}
# `set server health` word that puts a server back in an operational state.
HEALTH_FOR_OP = {0: "down", 1: "up", 2: "up", 3: "stopping"}
STATIC_ALGOS = frozenset({"static-rr"})
# Hash algorithms are static with `hash-type map-based`, HAProxy's default.
MAX_WEIGHT = 256
HASH_ALGOS = frozenset({"source", "uri", "url_param", "hdr", "rdp-cookie", "hash"})


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


# --------------------------------------------------------------------------- weights

_WEIGHT_RE = re.compile(r"(?P<sign>[+-])?(?P<num>[0-9]{1,7})(?P<pct>%)?")


@dataclass(frozen=True)
class WeightChange:
    mode: str  # "absolute", "percent", "relative" or "reset"
    amount: int = 0  # signed for "relative"

    def resolve(self, current: int, configured: int) -> tuple[int, str, str]:
        """(new weight, value to send, how it was computed) — range-checked."""
        if self.mode == "reset":
            return configured, str(configured), f"reset to the configured {configured}"
        if self.mode == "percent":
            new = min(MAX_WEIGHT, configured * self.amount // 100)
            return new, f"{self.amount}%", f"{self.amount}% of the configured {configured}"
        if self.mode == "relative":
            new = current + self.amount
            if not 0 <= new <= MAX_WEIGHT:
                raise ValidationError(
                    f"weight {current} {'+' if self.amount >= 0 else '-'} {abs(self.amount)} "
                    f"= {new} is out of range", hint=f"a weight is 0 to {MAX_WEIGHT}")
            return new, str(new), f"{current} {'+' if self.amount >= 0 else '-'} "\
                f"{abs(self.amount)}"
        return self.amount, str(self.amount), ""


def parse_weight(text: str) -> WeightChange:
    """``N`` (0-256), ``N%`` (of the configured weight), ``+N``, ``-N``, ``reset``."""
    raw = str(text).strip()
    if raw.lower() == "reset":
        return WeightChange("reset")
    m = _WEIGHT_RE.fullmatch(raw)
    if not m or (m["sign"] and m["pct"]):
        raise ValidationError(f"invalid weight {str(text)[:40]!r}",
                              hint=f"give N (0-{MAX_WEIGHT}), N% of the configured weight, "
                                   "+N, -N or reset")
    num = int(m["num"])
    if m["pct"]:
        return WeightChange("percent", check_int(num, "weight percentage", 0, 25600))
    if m["sign"]:
        return WeightChange("relative", num if m["sign"] == "+" else -num)
    return WeightChange("absolute", check_int(num, "weight", 0, MAX_WEIGHT))


_SCOPE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_addr(addr: str) -> str:
    """An IPv4 or IPv6 address; an IPv6 scope id must be an interface name (``%eth0``)."""
    import ipaddress

    text = str(addr).strip(" ")
    hint = "give an IPv4 or IPv6 address (no host name, no port)"
    head, sep, scope = text.partition("%")
    if sep and not (_SCOPE_ID.fullmatch(scope) and ":" in head):
        raise ValidationError(f"invalid address {text[:60]!r}: the scope id after '%' must be "
                              "an interface name", hint="e.g. fe80::1%eth0 (letters, digits, "
                              "'_', '.', '-')")
    if not text.isascii():
        raise ValidationError(f"invalid address {ascii(text[:60])}", hint=hint)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValidationError(f"invalid address {text[:60]!r}", hint=hint) from None


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


def predict(v: ServerView, kind: str, params: Mapping[str, Any]) -> ServerView:
    """The server as it should be once the action is done."""
    if kind == "server_state":
        state = params["state"]
        return replace(v, blocked=state != "ready", healthy=v.healthy or state == "ready")
    if kind == "weight":
        return replace(v, weight=int(params["_new_weight"]))
    if kind == "health":
        return replace(v, healthy=params["state"] == "up")
    if kind == "agent":
        return replace(v, healthy=params["state"] == "up")
    if kind == "server_del":
        return replace(v, blocked=True, weight=0)
    return v


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
