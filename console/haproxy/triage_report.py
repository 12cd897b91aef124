"""The triage part of the incident export (``x``): what was hurting when the report was
written, the log summaries of the incident window, and sample error lines.

The incident window is "since the mark" when a mark is set, else the last 15 minutes
the console's log collector holds. Everything read from HAProxy or from the logs is
made printable (:func:`~console.haproxy.safe_text.visible`) and escaped for Markdown
table cells; log lines go in indented code blocks (a backtick fence in a line cannot
end them).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from console.haproxy.hurting import Triage
from console.haproxy.logs.summary import CLASSES, Group, Summary
from console.haproxy.logs.termination import explain_termination
from console.haproxy.logs.windows import Windows
from console.haproxy.safe_text import visible

TOP = 10
WINDOW_WORDS = {"1m": "the last minute", "5m": "the last 5 minutes",
                "15m": "the last 15 minutes", "mark": "since the incident mark"}


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(visible(line.rstrip()) for line in text.strip().split("\n"))


def _ms(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _group_row(key: str, g: Group) -> str:
    classes = dict(zip(CLASSES, g.classes, strict=True))
    pct = 100.0 * g.errors / g.requests if g.requests else 0.0
    terms = ", ".join(f"{t}×{n}" for t, n in sorted(g.termination.items(), key=lambda x: -x[1])
                      if t[:1] not in ("-", ""))[:80]
    return (f"| {_cell(key)} | {g.requests:,} | {g.errors:,} | {pct:.1f} | "
            + " | ".join(f"{classes[c]:,}" for c in ("2xx", "3xx", "4xx", "5xx"))
            + f" | {_ms(g.ta.quantile(0.5))} | {_ms(g.ta.quantile(0.95))} | "
            f"{_ms(g.ta.quantile(0.99))} | {_cell(terms or '-')} |")


HEAD = ("| key | requests | errors | error % | 2xx | 3xx | 4xx | 5xx | Ta p50 | Ta p95 | "
        "Ta p99 | termination |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")


def _table(title: str, rows: Sequence[tuple[str, Group]]) -> list[str]:
    if not rows:
        return []
    return [f"### {title}", "", *HEAD, *(_group_row(k, g) for k, g in rows), ""]


def incident_window(windows: Windows) -> str:
    """``mark`` when a mark is set, else ``15m``."""
    return "mark" if windows.mark_at is not None else "15m"


def triage_markdown(triage: Triage | None, windows: Windows | None, *,
                    logs_state: str = "", now: float | None = None) -> list[str]:
    """The report's triage sections, as Markdown lines."""
    now = time.time() if now is None else now
    out = ["## What was hurting", ""]
    if triage is None:
        out += ["Not computed (no data from HAProxy).", ""]
    else:
        out.append("Ranked by impact (about how many requests per second go wrong), from "
                   + ", ".join(triage.sources) + ".")
        if triage.missing:
            out.append("Not used: " + _cell("; ".join(triage.missing)) + ".")
        out.append("")
        if not triage.impacts:
            out += ["Nothing was hurting: no errors, no queue, every check passing, no stuck "
                    "stream, nothing captured.", ""]
        else:
            out += ["| # | what | score | errors/s | queue | Ta p95 | state | stuck | why |",
                    "|---:|---|---:|---:|---:|---:|---|---:|---|"]
            for n, i in enumerate(triage.impacts[:30], 1):
                out.append(f"| {n} | {i.kind} {_cell(i.label)} | {i.score:,.1f} | "
                           f"{i.errors_per_s:.1f} | {i.queue} | {_ms(i.ta_p95)} | "
                           f"{_cell(i.status)} | {i.stuck} | {_cell('; '.join(i.reasons))} |")
            out.append("")
    if windows is None:
        out += ["## Log summaries", "", f"No logs: {_cell(logs_state) or 'no ring read'}.", ""]
        return out
    window = incident_window(windows)
    covered = windows.covered(window, now)
    by = {d: windows.summary(d, window, now) for d in
          ("server", "backend", "termination", "path", "client")}
    total: Summary = by["server"]
    out += [f"## Log summaries: {WINDOW_WORDS[window]}", "",
            f"{covered:,.0f} s of logs, {total.records:,} requests, {total.unparsed:,} lines "
            f"not understood. {_cell(logs_state)}", ""]
    out += _table("Per server", total.rows("requests")[:50])
    out += _table("Per backend", by["backend"].rows("requests")[:50])
    terms = by["termination"].rows("requests")
    if terms:
        out += ["### Termination states", "", "| state | requests | meaning |",
                "|---|---:|---|"]
        out += [f"| {_cell(k)} | {g.requests:,} | {_cell(explain_termination(k))} |"
                for k, g in terms[:20]]
        out.append("")
    paths = by["path"]
    out += _table("Top paths by errors", [kv for kv in paths.rows("errors") if kv[1].errors][:TOP])
    out += _table("Slowest paths (Ta p95)", paths.rows("ta_p95")[:TOP])
    clients = by["client"]
    out += _table("Top clients by requests", clients.rows("requests")[:TOP])
    out += _table("Top clients by errors",
                  [kv for kv in clients.rows("errors") if kv[1].errors][:TOP])
    since = windows.window_start(window, now)
    samples = [] if triage is None else [i for i in triage.impacts if i.kind != "frontend"]
    shown = False
    for i in samples[:10]:
        lines = windows.evidence.of(i.label, since)
        if not lines:
            continue
        if not shown:
            out += ["## Sample error lines", ""]
            shown = True
        out += [f"### {i.kind} {_cell(i.label)}", ""]
        out += ["    " + visible(s.record.raw[:2000]) for s in lines]
        out.append("")
    return out
