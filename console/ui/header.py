"""The header: which instance, how it is doing, and how fresh the data is."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from rich.style import Style
from rich.text import Span, Text
from textual.widget import Widget

from console.haproxy.counters import Mark, format_age, format_age_minutes
from console.haproxy.model import ProcessInfo, Snapshot
from console.haproxy.poller import PollStatus
from console.haproxy.safe_text import visible

BAR_WIDTH = 10
HELD_STEP = 10  # seconds: the age of the rows off screen is shown in steps of this
HELD_KEPT = 60.0  # seconds of full reads only after which that age is no longer shown


def _bar(cur: int | None, limit: int | None, width: int = BAR_WIDTH) -> str:
    if not cur or not limit:
        return "░" * width
    filled = min(width, round(width * cur / limit))
    return "█" * filled + "░" * (width - filled)


def _num(v: int | float | None) -> str:
    if v is None:
        return "-"
    if v >= 1_000_000:
        return f"{v / 1_000_000:.1f}M"
    if v >= 10_000:
        return f"{v / 1000:.1f}k"
    return f"{v:g}" if isinstance(v, float) else str(v)


class HeaderBar(Widget):
    """Two lines: identity and process figures; connection state and level."""

    DEFAULT_CSS = """
    HeaderBar { height: 2; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, instance: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.instance = instance
        self.info: ProcessInfo | None = None
        self.status = PollStatus()
        self.level: str | None = None
        self.read_only_reason: str | None = None
        self.mark: Mark | None = None
        self.binary_note: str = ""
        self.styles_map: dict[str, Style] = {}
        self.req_rate: int | None = None
        # a partial poll of a large instance: how old the oldest row off screen is
        self.held_age: float | None = None
        self._held_at: float | None = None  # when the last partial poll was taken
        self.drift_count: int | None = None
        self.replay_label: Callable[[], str] | None = None  # a replay: where it is
        self.clock: Callable[[], float] = time.time  # a replay: the recorded time
        self._shown: tuple[str, list[Span]] | None = None  # what the last render drew

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        """"stale for N s" and "Δ since mark" keep counting; while live, each refresh
        redraws the header anyway."""
        if self.status.state != "live" or self.mark:
            self.refresh()

    def update_state(self, *, snapshot: Snapshot | None = None, status: PollStatus | None = None,
                     level: str | None = None, mark: Mark | None | bool = False) -> None:
        if snapshot is not None:
            if snapshot.info is not None:
                self.info = snapshot.info
            rates = [r.num("req_rate") for r in snapshot.frontends]
            known = [r for r in rates if r is not None]
            self.req_rate = sum(known) if known else None
            held = snapshot.held
            if held:
                self.held_age = snapshot.taken_at - min(held.values())
                self._held_at = snapshot.taken_at
            elif self._held_at is not None and snapshot.first_look is None and \
                    snapshot.taken_at - self._held_at <= HELD_KEPT:
                # a full read between partial polls (under churn, most polls): every
                # row is fresh; the bound stays (the line does not jump at each poll)
                self.held_age = 0.0
            else:  # no partial poll for a while (a small instance, a sorted table)
                self.held_age, self._held_at = None, None
        if status is not None:
            self.status = status
        if level is not None:
            self.level = level
        if mark is not False:
            self.mark = mark  # type: ignore[assignment]
        if self._looks(self._text()) != self._shown:
            self.refresh()  # (a refresh that changes nothing costs a render of both lines)

    def _connection(self) -> Text:
        st = self.status
        style = self.styles_map
        if self.replay_label is not None:
            text = Text(visible(self.replay_label()), style=Style(bold=True))
            if st.state in ("stale", "disconnected"):
                text.append("  ✖ this poll failed when recorded",
                            style=style.get("down", Style(bold=True)))
            return text
        if st.state == "live":
            text = Text("● live", style=style.get("up", Style(bold=True)))
            if st.reading is not None:
                text.append(f"  frontends and backends only: reading every server "
                            f"({st.reading:,} serving)…", style=style.get("transition"))
            if st.stretched:
                text.append(f"  interval stretched to {st.interval:g}s (a refresh takes "
                            f"{st.last_work:.1f}s)", style=style.get("transition"))
            return text
        if st.state == "paused":
            return Text("‖ paused (p to resume)", style=style.get("drain", Style(bold=True)))
        if st.state == "connecting":
            return Text("… connecting", style=style.get("nocheck", ""))
        age = st.stale_for()
        retry = f", retrying in {st.retry_in:.0f}s" if st.retry_in else ""
        waiting = st.waiting_for()
        if st.state == "stale" and age is not None and waiting is not None:
            return Text(f"◌ stale for {age:.0f}s — no answer yet after {waiting:.0f}s "
                        f"(gives up at {st.deadline:g}s)", style=style.get("stale", ""))
        if st.state == "stale" and age is not None:
            return Text(f"◌ stale for {age:.0f}s{retry}", style=style.get("stale", ""))
        return Text(f"✖ disconnected — retrying{retry.replace(', retrying', '')}"
                    + (f" (data {age:.0f}s old)" if age is not None else ""),
                    style=style.get("down", Style(bold=True, reverse=True)))

    @staticmethod
    def _looks(text: Text) -> tuple[str, list[Span]]:
        return text.plain, text.spans

    def render(self) -> Text:
        text = self._text()
        self._shown = self._looks(text)
        return text

    def _text(self) -> Text:
        """Both lines as they look now (at the widget's width)."""
        info = self.info
        line1 = Text(no_wrap=True, overflow="ellipsis")
        line1.append(f" {visible(self.instance)} ", style=Style(bold=True, reverse=True))
        if info:
            line1.append(f" HAProxy {visible(info.version)}")
            if info.uptime_sec is not None:
                line1.append(f"  up {format_age_minutes(info.uptime_sec)}")
            line1.append(f"  pid {info.pid or '-'}")
            if info.nbthread:
                line1.append(f"×{info.nbthread}thr")
            line1.append(f"  conn {_num(info.curr_conns)}/{_num(info.max_conn)} ")
            line1.append(_bar(info.curr_conns, info.max_conn), style=Style(dim=True))
            line1.append(f"  sess/s {_num(info.sess_rate)}")
            if self.req_rate is not None:
                line1.append(f"  req/s {_num(self.req_rate)}")
            line1.append(f"  runq {_num(info.run_queue)}  idle {_num(info.idle_pct)}%")
            mem = info.memory_mb
            if mem is not None:
                line1.append(f"  mem {mem}MB")
        else:
            line1.append("  (no process info yet)", style=Style(dim=True))

        line2 = Text(no_wrap=True, overflow="ellipsis")
        line2.append(" ")
        line2.append_text(self._connection())
        if self.held_age is not None and self.status.state == "live":
            # a sort or filter over every row uses these values for the rows off screen
            line2.append(f"  rows off screen ≤{held_bound(self.held_age)}s old",
                         style=Style(dim=True))
        level = self.level or "?"
        line2.append(f"  level: {level}")
        if self.read_only_reason == "spectator":
            line2.append("  spectator: watching only", style=Style(bold=True))
        elif self.read_only_reason:
            line2.append(f"  read-only ({self.read_only_reason})", style=Style(bold=True))
        line2.append("  counters since last clear" if not self.mark else "")
        if self.mark:
            line2.append(f"  Δ since mark {format_age(self.mark.age(self.clock()))} ago",
                         style=Style(bold=True))
        if self.drift_count:
            line2.append(f"  ⚑ {self.drift_count} runtime-only difference"
                         f"{'s' if self.drift_count != 1 else ''} from the config (v)",
                         style=self.styles_map.get("drain", Style(bold=True)))
        if self.status.last_error and self.status.state != "live":
            line2.append(f"  {visible(self.status.last_error)}", style=Style(dim=True))
        width = max(self.content_region.width, 20)
        for line in (line1, line2):
            line.truncate(width, overflow="ellipsis")
        return Text("\n").join([line1, line2])


def held_bound(age: float) -> int:
    """The age of the oldest row off screen, rounded up to a step of
    :data:`HELD_STEP` seconds: still a bound, and the header changes every few polls
    rather than at each one (a terminal over SSH gets fewer bytes)."""
    return max(HELD_STEP, math.ceil(age / HELD_STEP - 1e-9) * HELD_STEP)
