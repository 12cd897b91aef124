"""What's hurting now: backends and servers ranked by impact, each with its evidence.

The ranking puts together what an on-call engineer would otherwise read from five
places: the counters (5xx per second, queue, the state of the checks), the logs of the
window (errors per second, Ta p95, termination states, sample lines), the streams that
have been open too long (``show sess``) and the invalid requests/responses HAProxy
captured (``show errors``).

The score is meant to be read as "about how many requests per second go wrong here",
so that a backend with no server left outranks a slow one, and a slow one outranks a
captured invalid request:

===============================  ==============================================
backend with no usable server    1000 (everything sent to it fails)
5xx per second                   the rate (the larger of the counters' and the
                                 logs' errors per second)
queue                            the requests waiting (``qcur``)
Ta p95 over :data:`SLOW_MS`      requests per second × p95 / 10 s (capped at the
                                 requests per second)
server DOWN (not MAINT)          20; failing checks while still UP: 10
stuck streams                    one per stream older than :data:`STUCK_AGE`
captured invalid request         1 per proxy with one captured
===============================  ==============================================

A row is listed only when something is wrong (score > 0); each reason is said in
words, with its number, so the ranking can be checked by eye. Frontends are ranked too
when their connection limit is reached (``FULL``) or they are stopped.

Everything here is pure: the screen, the export and the tests pass what they have
(any of the sources may be missing: the triage then says which evidence it lacks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from console.haproxy.captured_errors import CapturedError, CapturedErrors
from console.haproxy.logs.summary import Group, Summary
from console.haproxy.logs.windows import Sample, Windows
from console.haproxy.model import Rates, Row, Snapshot
from console.haproxy.safe_text import visible
from console.haproxy.sessions import Session, Sessions

STUCK_AGE = 30.0  # seconds: a stream older than this counts as stuck
SLOW_MS = 1000  # Ta p95 above this is slow
OUTAGE = 1000.0
DOWN = 20.0
FAILING = 10.0
CAPTURED = 1.0
FULL = 100.0
MAX_STUCK_SHOWN = 3


@dataclass
class Impact:
    """One backend, server or frontend that hurts, why, and the evidence."""

    kind: str  # "backend", "server", "frontend"
    proxy: str
    name: str  # the server's name, or the proxy's for a backend/frontend
    score: float = 0.0
    contributions: list[tuple[float, str]] = field(default_factory=list)
    errors_per_s: float = 0.0
    queue: int = 0
    ta_p95: int | None = None
    status: str = ""
    stuck: int = 0
    captured: CapturedError | None = None
    samples: list[Sample] = field(default_factory=list)
    stuck_streams: list[Session] = field(default_factory=list)
    terminations: dict[str, int] = field(default_factory=dict)
    check: str = ""  # a failing server's last check, in HAProxy's words

    @property
    def label(self) -> str:
        return f"{self.proxy}/{self.name}" if self.kind == "server" else self.proxy

    @property
    def key(self) -> tuple[str, str]:
        """The main table's row key (proxy, name) of this object."""
        if self.kind == "server":
            return (self.proxy, self.name)
        return (self.proxy, "BACKEND" if self.kind == "backend" else "FRONTEND")

    @property
    def reasons(self) -> list[str]:
        """Why, the heaviest reason first."""
        return [r for _, r in sorted(self.contributions, key=lambda c: -c[0])]

    def add(self, score: float, reason: str) -> None:
        self.score += score
        self.contributions.append((score, reason))


@dataclass
class Triage:
    """The ranking, and what it was made from (for the status line and the export)."""

    impacts: list[Impact]
    sources: list[str]  # what was read ("counters", "logs 1m", "sessions", "errors")
    missing: list[str]  # what could not be, and why


def _rate(rates: Mapping[tuple[str, str], Rates], key: tuple[str, str], name: str) -> float:
    r = rates.get(key)
    v = r.get(name) if r is not None else None
    return v or 0.0


def _log_group(summary: Summary | None, key: str) -> Group | None:
    if summary is None:
        return None
    return summary.groups.items.get(key)


def _fmt_rate(v: float) -> str:
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"


def _logs(impact: Impact, group: Group | None, seconds: float) -> float:
    """The log evidence of *group*: errors per second (returned), Ta p95, terminations."""
    if group is None or seconds <= 0:
        return 0.0
    impact.terminations = {t: n for t, n in group.termination.items()
                           if t[:1] not in ("-", "L")}
    p95 = group.ta.quantile(0.95)
    impact.ta_p95 = p95
    per_s = group.requests / seconds
    if p95 is not None and p95 > SLOW_MS:
        impact.add(min(per_s, per_s * p95 / 10_000),
                   f"slow: Ta p95 {p95:,} ms over {group.requests:,} requests")
    return group.errors / seconds


def rank(snapshot: Snapshot | None, rates: Mapping[tuple[str, str], Rates], *,
         windows: Windows | None = None, window: str = "1m", now: float | None = None,
         sessions: Sessions | None = None, captured: CapturedErrors | None = None,
         missing: list[str] | None = None, stuck_age: float = STUCK_AGE) -> Triage:
    """Rank what hurts (see the module docstring). *missing*: evidence the caller could
    not read, and why (kept in the result)."""
    sources: list[str] = []
    gone = list(missing or ())
    if snapshot is None:
        return Triage([], sources, gone + ["counters: no data from HAProxy yet"])
    sources.append("counters")
    by_server = by_backend = None
    seconds = 0.0
    if windows is not None:
        seconds = windows.covered(window, now)
        if seconds > 0:
            by_server = windows.summary("server", window, now)
            by_backend = windows.summary("backend", window, now)
            sources.append(f"logs ({window})")
    stuck_by: dict[tuple[str, str], list[Session]] = {}
    if sessions is not None:
        sources.append("sessions")
        for s in sessions.rows:
            if s.age is None or s.age < stuck_age or not s.backend:
                continue
            stuck_by.setdefault((s.backend, "BACKEND"), []).append(s)
            if s.server:
                stuck_by.setdefault((s.backend, s.server), []).append(s)
    captured_by: dict[str, CapturedError] = {}
    if captured is not None:
        sources.append("captured errors")
        for e in captured.entries:
            captured_by.setdefault(e.proxy, e)

    impacts: list[Impact] = []
    for proxy in snapshot.proxies():
        servers = proxy.servers
        for srv in servers:
            impacts.append(_server(srv, rates, by_server, seconds, stuck_by, windows, now,
                                   window, stuck_age))
        be = proxy.backend
        if be is not None:
            impacts.append(_backend(be, servers, rates, by_backend, seconds, stuck_by,
                                    captured_by, windows, now, window, stuck_age))
        fe = proxy.frontend
        if fe is not None:
            impacts.append(_frontend(fe, rates, captured_by))
    ranked = sorted((i for i in impacts if i.score > 0),
                    key=lambda i: (-i.score, i.kind != "backend", i.label))
    return Triage(ranked, sources, gone)


def _common(impact: Impact, row: Row, rates: Mapping[tuple[str, str], Rates],
            group: Group | None, seconds: float,
            stuck: Mapping[tuple[str, str], list[Session]], stuck_age: float) -> None:
    impact.status = row.status.label
    counter_5xx = _rate(rates, row.key, "hrsp_5xx")
    log_errors = _logs(impact, group, seconds)
    rate = max(counter_5xx, log_errors)
    impact.errors_per_s = rate
    if rate > 0:
        where = "logs" if log_errors > counter_5xx else "counters"
        impact.add(rate, f"errors: {_fmt_rate(rate)}/s ({where})")
    q = row.num("qcur") or 0
    impact.queue = q
    if q > 0:
        impact.add(float(q), f"queue: {q:,} requests waiting")
    streams = stuck.get(row.key, [])
    impact.stuck = len(streams)
    if streams:
        impact.stuck_streams = sorted(streams, key=lambda s: -(s.age or 0))[:MAX_STUCK_SHOWN]
        impact.add(float(len(streams)),
                   f"stuck: {len(streams)} stream(s) open over {stuck_age:g} s")


def _server(row: Row, rates: Mapping[tuple[str, str], Rates], summary: Summary | None,
            seconds: float, stuck: Mapping[tuple[str, str], list[Session]],
            windows: Windows | None, now: float | None, window: str,
            stuck_age: float) -> Impact:
    impact = Impact("server", row.proxy, row.name)
    _common(impact, row, rates, _log_group(summary, f"{row.proxy}/{row.name}"), seconds, stuck,
            stuck_age)
    st = row.status
    if (st.kind == "DOWN" and st.via is None) or st.going == "down":
        words = " ".join(x for x in (row.check_status, row.get("check_desc") or "",
                                     row.get("last_chk") or "") if x)
        impact.check = visible(words)
    if st.kind == "DOWN" and st.via is None:
        why = f" ({visible(row.check_status)})" if row.check_status else ""
        impact.add(DOWN, f"DOWN{why}")
    elif st.going == "down":
        impact.add(FAILING, f"checks failing ({st.label}, {visible(row.check_status)})")
    if windows is not None and impact.score > 0:
        impact.samples = windows.evidence.of(f"{row.proxy}/{row.name}",
                                             windows.window_start(window, now))
    return impact


def _backend(row: Row, servers: tuple[Row, ...], rates: Mapping[tuple[str, str], Rates],
             summary: Summary | None, seconds: float,
             stuck: Mapping[tuple[str, str], list[Session]],
             captured: Mapping[str, CapturedError], windows: Windows | None,
             now: float | None, window: str, stuck_age: float) -> Impact:
    impact = Impact("backend", row.proxy, row.proxy)
    _common(impact, row, rates, _log_group(summary, row.proxy), seconds, stuck, stuck_age)
    if servers:
        usable = [s for s in servers if s.status.kind in ("UP", "NOCHECK", "DRAIN")]
        if not any(s.status.kind in ("UP", "NOCHECK") for s in usable):
            impact.add(OUTAGE, f"no usable server: {len(servers)} server(s), none UP")
    elif row.status.kind == "DOWN":
        impact.add(OUTAGE, "DOWN: no server")
    err = captured.get(row.proxy)
    if err is not None:
        impact.captured = err
        impact.add(CAPTURED, f"invalid response captured ({visible(err.reason)})")
    if windows is not None and impact.score > 0:
        impact.samples = windows.evidence.of(row.proxy, windows.window_start(window, now))
    return impact


def _frontend(row: Row, rates: Mapping[tuple[str, str], Rates],
              captured: Mapping[str, CapturedError]) -> Impact:
    impact = Impact("frontend", row.proxy, row.proxy)
    impact.status = row.status.label
    kind = row.status.kind
    if kind == "FULL":
        scur, slim = row.num("scur"), row.num("slim")
        impact.add(FULL, f"connection limit reached ({scur}/{slim}): new clients wait")
    elif kind in ("STOP", "PAUSED"):
        impact.add(FULL, f"{kind}: it accepts no connection")
    err = captured.get(row.proxy)
    if err is not None:
        impact.captured = err
        impact.add(CAPTURED, f"invalid request captured ({visible(err.reason)})")
    return impact
