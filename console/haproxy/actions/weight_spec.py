"""Server weights: what a weight change means (:class:`WeightChange`, read by
:func:`parse_weight`), and the ``weight`` kind of change.

A weight is given as ``N`` (0-256), ``N%`` of the configured weight, ``+N`` / ``-N``
from the current one, or ``reset`` (the configured one). All but ``N`` depend on the
state, so the value sent is resolved when the change is planned (*prepare*).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from console.haproxy.actions.spec import (
    REF,
    ActionSpec,
    Builder,
    CliArg,
    CliVerb,
    Derived,
    MenuEntry,
    Param,
    Recover,
    Target,
    differs,
    was,
)
from console.haproxy.actions.state import ServerView, share
from console.haproxy.errors import ValidationError
from console.haproxy.model import Row
from console.haproxy.validate import build_command, check_int

MAX_WEIGHT = 256
STATIC_ALGOS = frozenset({"static-rr"})
# Hash algorithms are static with `hash-type map-based`, HAProxy's default.
HASH_ALGOS = frozenset({"source", "uri", "url_param", "hdr", "rdp-cookie", "hash"})

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


def _check(value: Any) -> WeightChange:
    return value if isinstance(value, WeightChange) else parse_weight(str(value))


def _prepare(params: dict[str, Any], before: Mapping[str, Any],
             backend: Row | None) -> dict[str, Any]:
    """The weight to send, from the server's weight now and its configured one."""
    cur, conf = before.get("weight") or 0, before.get("configured_weight")
    new, send, how = params["change"].resolve(cur, conf if conf is not None else cur)
    params.update(_new_weight=new, _send=send, _how=how,
                  _algo=backend.fields.get("algo", "") if backend else "")
    return params


def _preview(params: dict[str, Any]) -> dict[str, Any] | None:
    change = params["change"]
    if change.mode != "absolute":
        return None  # depends on the weight now
    params["_send"] = str(change.amount)
    return params


def _impact(b: Builder, params: Mapping[str, Any], t: Target) -> None:
    server, backend, before = t.name, t.backend, t.before
    new, old = int(params["_new_weight"]), before.get("weight")
    how = params.get("_how")
    prefix = f"weight {old} → {new}" + (f" ({how})" if how else "")
    if new == 0:
        b.say(f"{prefix}: {server} gets no new traffic (status DRAIN)")
    else:
        pct = share(t.after, server)
        tail = f"about {pct}% of {backend}'s new connections" if pct is not None else (
            "no traffic until it is usable again")
        b.say(f"{prefix}: {server} gets {tail}")
    algo = params.get("_algo") or ""
    configured = before.get("configured_weight")
    if algo in STATIC_ALGOS and new not in (0, configured):
        b.say(f"{backend} uses 'balance {algo}', a static algorithm: HAProxy accepts only "
              "0% or 100% of the configured weight and will refuse this one")
    elif algo in HASH_ALGOS and new not in (0, configured):
        b.say(f"{backend} uses 'balance {algo}': with hash-type map-based (the default) "
              "HAProxy accepts only 0% or 100% of the configured weight")
    if old is not None:
        b.undo(value=str(old))


def _predict(v: ServerView, params: Mapping[str, Any]) -> ServerView:
    return replace(v, weight=int(params["_new_weight"]))


def _restore(before: Mapping[str, Any], current: Mapping[str, Any] | None) -> Derived:
    if differs("weight", before, current):
        return ({"value": str(check_int(before["weight"], "weight", 0, MAX_WEIGHT))},
                was("weight", before, current))
    return None


WEIGHT = ActionSpec(
    "weight", "server", "set weight {value} on",
    # the value resolved by _prepare, or (an undo, a restore) the weight itself
    command=lambda p, ref: build_command("set", "server", ref, "weight",
                                         str(p["_send"] if "_send" in p else p["value"])),
    impact=_impact, predict=_predict, prepare=_prepare, preview=_preview,
    expect=lambda p: {"weight": (int(p["_new_weight"]),)},
    params=(Param("value", _check, into="change"),),
    menu=(MenuEntry("weight…", prompt=("value",),
                    prompt_label="weight: N (0-256), N%, +N, -N or reset"),
          MenuEntry("weight +1", {"value": "+1"}),
          MenuEntry("weight -1", {"value": "-1"}),
          MenuEntry("weight +10", {"value": "+10"}),
          MenuEntry("weight -10", {"value": "-10"}),
          MenuEntry("weight back to the configured value", {"value": "reset"})),
    cli=(CliVerb("weight", "set the weight: N, N%%, +N, -N or reset",
                 (CliArg("value", "VALUE", "N (0-256), N%% of configured, +N, -N, reset"),)),),
    journal=("set", "server", REF, "weight"),
    restore=Recover(_restore, order=30, always=True),
    example={"value": "5"},
)
