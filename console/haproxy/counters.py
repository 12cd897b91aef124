"""Counters "since last clear", and incident marks: deltas without clearing.

HAProxy's counters run from the process start or the last ``clear counters``.
An incident mark keeps a baseline snapshot; every counter is then shown as
its delta since the mark, and nothing is cleared in HAProxy (so Prometheus
and other readers see nothing change).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from console.haproxy.model import Row, Snapshot

# Cumulative counters of `show stat` (they only go up until a clear or reload).
COUNTER_FIELDS = frozenset({
    "stot", "bin", "bout", "dreq", "dresp", "ereq", "econ", "eresp", "wretr", "wredis",
    "chkfail", "chkdown", "downtime", "lbtot", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx",
    "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot", "cli_abrt", "srv_abrt",
    "comp_in", "comp_out", "comp_byp", "comp_rsp", "dcon", "dses", "wrew", "connect",
    "reuse", "cache_lookups", "cache_hits", "eint", "intercepted", "hanafail",
})
# Every cumulative counter of `show stat` on HAProxy 2.6 to 3.4 (nature "C" in `show stat
# typed`, but `srid`, a revision number): the ones above and those of the stats modules.
CUMULATIVE_FIELDS = COUNTER_FIELDS | frozenset({
    "conn_tot", "sess_other", "h1sess", "h2sess", "h3sess", "req_other", "h1req", "h2req",
    "h3req", "reqbin", "reqbout", "resbin", "resbout",
    "ssl_sess", "ssl_reused_sess", "ssl_failed_handshake", "ssl_ocsp_staple",
    "ssl_failed_ocsp_staple",
    "h1_total_connections", "h1_total_streams", "h1_bytes_in", "h1_bytes_out",
    "h1_spliced_bytes_in", "h1_spliced_bytes_out",
    "h2_headers_rcvd", "h2_data_rcvd", "h2_settings_rcvd", "h2_rst_stream_rcvd",
    "h2_goaway_rcvd", "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors", "h2_rst_stream_resp", "h2_goaway_resp",
    "h2_total_connections", "h2_backend_total_streams",
})
# Reset by `clear counters` (operator): the max values and activity counters.
MAX_FIELDS = frozenset({"qmax", "smax", "rate_max", "req_rate_max", "conn_rate_max",
                        "qtime_max", "ctime_max", "rtime_max", "ttime_max"})


@dataclass(frozen=True)
class Mark:
    """An incident mark: the baseline every counter is compared with."""

    snapshot: Snapshot
    wall_time: float
    label: str = ""
    # after a reload: what each row had counted since the mark (the new process counts
    # from zero, so its values are added to these)
    carried: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict,
                                                           compare=False, repr=False)

    @classmethod
    def now(cls, snapshot: Snapshot, label: str = "") -> Mark:
        return cls(snapshot, time.time(), label)

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.wall_time

    def delta(self, row: Row, field: str) -> int | None:
        """``row[field]`` minus its value at the mark; None if unknown.

        A counter lower than at the mark (cleared or reloaded since) counts
        from zero again: the delta is its current value.
        """
        cur = row.num(field)
        if cur is None:
            return None
        carried = self.carried.get(row.key) if self.carried else None
        if carried is not None:
            counted = cur + carried.get(field, 0)
            return counted if counted >= 0 else cur  # cleared since: from zero again
        base_row = self.snapshot.get(row.proxy, row.name)
        base = base_row.num(field) if base_row else 0
        if base is None:
            return cur
        return cur - base if cur >= base else cur

    def carry_over(self, before: Snapshot) -> None:
        """A reload restarted every counter: keep what each row counted from the mark to
        *before* (the last snapshot of the old process) and add the new process's
        counts to it. A row new in the reload counts from zero."""
        carried: dict[tuple[str, str], dict[str, int]] = {}
        for row in before.rows:
            counted = {name: d for name in COUNTER_FIELDS
                       if (d := self.delta(row, name))}
            carried[row.key] = counted
        self.carried.clear()
        self.carried.update(carried)


def is_counter(field: str) -> bool:
    return field in COUNTER_FIELDS


def format_age_minutes(seconds: float) -> str:
    """An age to the minute ("<1m", "42m", "3h05m", "2d04h"): for what is redrawn every
    refresh and should not change every second."""
    s = int(max(seconds, 0))
    if s < 60:
        return "<1m"
    if s < 3600:
        return f"{s // 60}m"
    return format_age(s)


def format_age(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
