"""The console on a recording (``haconsole replay FILE``): every view as live, read-only,
with the replay's keys: ``p`` play/pause, ``.`` speed 1×/10×/60×, ``>`` the next event,
``]`` the next incident mark. A mark set or cleared during the recording (from any
console on the instance) is set or cleared in the replay as it was: the counters show
their Δ since it as the operator saw them.
The header says where the replay is (``▶ replay 10× 2026-12-01 03:12:44``)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from console.haproxy.errors import HAProxyError
from console.haproxy.events import Event
from console.haproxy.journal import journal_path
from console.haproxy.model import Snapshot
from console.haproxy.poller import PollStatus, SocketSource, StatsPageSource
from console.haproxy.recording import (
    JournalTail,
    MarkWatch,
    Recording,
    RecordingError,
    RecordingSource,
    RecordingWriter,
    ReplaySource,
)
from console.haproxy.safe_text import visible
from console.instance import Target
from console.ui.app import HAConsoleApp

if TYPE_CHECKING:
    from console.haproxy.logs.collector import LogCollector
    from console.haproxy.logs.windows import Windows

REPLAY_BINDINGS = [
    Binding("full_stop", "replay_speed", "Replay speed 1×/10×/60×", id="replay.speed"),
    Binding("greater_than_sign", "replay_next", "Replay: next event", id="replay.next"),
    Binding("right_square_bracket", "replay_next_mark", "Replay: next incident mark",
            id="replay.next_mark"),
]


def replay_interval(source: ReplaySource) -> float:
    """The poll interval for the replay's speed: the recorded one divided by the speed,
    at least 0.1 s (at 60× polls are skipped; a change is still shown by its diff)."""
    recorded = source.recording.header.get("interval")
    base = float(recorded) if isinstance(recorded, int | float) and recorded > 0 else 1.0
    return max(0.1, min(1.0, base / source.speed))


class ReplayApp(HAConsoleApp):
    """:class:`HAConsoleApp` fed by a :class:`ReplaySource`; ``read_only_reason`` is
    ``replay``, so no action is offered."""

    BINDINGS = [*HAConsoleApp.BINDINGS, *REPLAY_BINDINGS]

    def __init__(self, recording: Recording, *, speed: int = 1,
                 theme: str | None = None) -> None:
        self.replay = ReplaySource(recording, speed=speed)
        name = visible(recording.instance)
        target = Target(name=f"{name} (replay)", read_only=True)
        super().__init__(target, theme=theme, source=self.replay, level="replay")
        self.read_only_reason = "replay"
        self.poller.set_interval(replay_interval(self.replay))
        self._said_end = False
        self._logs_bad = False
        self.collector = replayed_logs(self.replay)

    def start_polling(self) -> None:
        """The main screen is up: its header says where the replay is."""
        self.monitor.header.replay_label = self.replay.label
        self.monitor.header.clock = self.monitor.clock = self.replay_clock
        self.monitor.detail.clock = self.replay_clock
        super().start_polling()
        self._say_what_it_is()

    def _say_what_it_is(self) -> None:
        where = visible(self.replay.recording.path)
        end = self.replay.recording.end_reason
        note = (f"replay of {where}: p play/pause, . speed, > next event, ] next mark"
                + ("" if end is None else f" (recording {visible(end)})"))
        if self.replay.damage:
            note += f"; the file is {visible(self.replay.damage)}: replayed up to there"
        elif end is None:
            note += "; the recording has no end record (its recorder was killed): " \
                    "replayed up to its last complete record"
        self.notify(note, timeout=10)

    def _on_snapshot(self, snap: Snapshot, events: list[Event]) -> None:
        for entry in self.replay.take_journal():
            events = [*events, journal_event(entry)]
        super()._on_snapshot(snap, events)
        for at, doc in self.replay.take_marks():
            self._replay_mark(at, doc, snap)
        self._replay_logs()
        if self.replay.ended and not self._said_end:
            self._said_end = True
            self.notify("end of the recording" + (f" — {visible(self.replay.damage)}"
                                                  if self.replay.damage else ""))

    def _on_status(self, status: PollStatus, events: list[Event]) -> None:
        # a recorded failure is not retried with the live backoff (up to 30 s): the
        # replay goes on at its pace
        if status.retry_in:
            status.retry_in = replay_interval(self.replay)
        super()._on_status(status, events)

    def _replay_changed(self, message: str) -> None:
        self.poller.set_interval(replay_interval(self.replay))  # wakes the poller
        self.poller.refresh_now()
        self.monitor.header.refresh()
        self.notify(message, timeout=2)

    def replay_clock(self) -> float:
        """The recorded time the replay shows."""
        frame = self.replay.frame
        return frame.at if frame is not None else self.replay.position

    @property
    def keeps_marks(self) -> bool:
        return False  # a replay's marks are the recording's: nothing saved or restored

    def _replay_mark(self, at: float, doc: dict[str, Any] | None, snap: Snapshot) -> None:
        """A mark of the recording, set (or cleared) on the main screen as it was."""
        from console.haproxy import marks

        stamp = time.strftime("%H:%M:%S", time.localtime(at))
        stats = self.monitor.stats
        if doc is None:
            if self.monitor.mark is not None:
                stats.show_mark(None, f"incident mark cleared (recorded at {stamp})")
            return
        try:
            restored = marks.from_doc(doc, self.replay.recording.instance, snap,
                                      where=self.replay.where)
        except HAProxyError as exc:
            self.monitor.note(f"a recorded incident mark is not usable: {visible(exc)}")
            return
        label = f" ({visible(restored.mark.label)})" if restored.mark.label else ""
        set_at = time.strftime("%H:%M:%S", time.localtime(restored.mark.wall_time))
        stats.show_mark(restored.mark, f"incident mark of {set_at}{label} (recorded at "
                        f"{stamp}): counters show Δ since it")

    def _replay_logs(self) -> None:
        """The recorded log buckets reached, into the log windows (``s``, ``w``)."""
        states = self.replay.take_logs()
        if not states or self.collector is None:
            return
        if self.collector.state != "following":
            self.collector.replayed(self.replay.recording.path)
        for state in states:
            try:
                self.collector.windows.add_state(state)
            except ValueError:
                if not self._logs_bad:
                    self._logs_bad = True
                    self.monitor.note("a recorded log summary is not readable: skipped")

    def action_replay_next_mark(self) -> None:
        at = self.replay.next_mark()
        if at is None:
            self.notify("no further incident mark in the recording", timeout=3)
            return
        self._replay_changed(f"next mark: {time.strftime('%H:%M:%S', time.localtime(at))}"
                             " (paused; p to play)")

    def action_replay_toggle(self) -> None:
        playing = self.replay.toggle()
        self._replay_changed("playing" if playing else
                             "end of the recording" if self.replay.ended else "paused")

    def action_replay_speed(self) -> None:
        self._replay_changed(f"replay at {self.replay.next_speed()}×")

    def action_replay_next(self) -> None:
        at = self.replay.next_event()
        if at is None:
            self.notify("no further event in the recording", timeout=3)
            return
        self._replay_changed(f"next event: {time.strftime('%H:%M:%S', time.localtime(at))}"
                             " (paused; p to play)")


def replayed_logs(replay: ReplaySource) -> LogCollector:
    """A log collector fed by the recording (its log buckets), on the replay's clock;
    until a bucket is reached it says there are none yet."""
    from console.haproxy.logs.collector import LogCollector
    from console.haproxy.logs.windows import Windows

    def no_parser() -> Any:
        raise RecordingError("a replay parses no log line", replay.where)

    def clock() -> float:
        return replay.frame.at if replay.frame is not None else replay.position

    collector = LogCollector(None, no_parser, windows=Windows(clock=clock), clock=clock)
    collector.state = "stopped"
    collector.why = "no log summary in the recording yet (the recording console had logs " \
        "when it followed a ring, a file or journald)"
    return collector


def journal_event(entry: dict[str, object]) -> Event:
    """A journal entry of the recording as a line of the events pane."""
    ts = entry.get("ts")
    at = float(ts) if isinstance(ts, int | float) else time.time()
    ok = entry.get("ok") is not False
    text = f"journal: {entry.get('user', '?')} sent {entry.get('command', '?')}" + \
        ("" if ok else f" — failed: {entry.get('error', '')}")
    return Event(at, "note", "info" if ok else "warning", visible(text))


def start_recording(app: HAConsoleApp, path: str) -> RecordingSource:
    """The console's ``--record FILE``: its source's answers also go to a new recording
    (:class:`RecordingError` if the file cannot be created)."""
    source = app.source
    if not isinstance(source, SocketSource | StatsPageSource):
        raise RecordingError("--record: this source cannot be recorded", path)
    writer = RecordingWriter(path, instance=app.target.name, where=source.where,
                             interval=app.target.interval)
    try:
        journal: JournalTail | None = JournalTail(str(journal_path()), app.target.name)
    except HAProxyError:
        journal = None

    def stopped(message: str) -> None:
        app.notify(message, severity="error", timeout=30)

    def windows() -> Windows | None:
        return app.collector.windows if app.collector is not None else None

    recorder = RecordingSource(source, writer, journal=journal,
                               marks=MarkWatch(app.target.name), logs=windows,
                               on_stop=stopped)
    app.source = recorder
    app.poller.source = recorder
    app.target.notes.append(f"recording to {path} (haconsole replay {path} replays it)")
    return recorder


def run_replay(recording: Recording, *, speed: int = 1) -> int:
    """Open the console on *recording*; the exit code."""
    os.environ.setdefault("TEXTUAL_MAX_FPS", "30")
    try:
        app = ReplayApp(recording, speed=speed)
        app.run()
    finally:
        recording.close()
    return 0
