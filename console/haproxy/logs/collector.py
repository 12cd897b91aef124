"""The console's own log reader: the instance's ring followed for as long as the console
runs, feeding the live summaries (:class:`~.windows.Windows`) behind the triage screen
(``w``), the summary screen and the incident export.

It follows the same ring the logs screen would (the instance's only user ring, else the
first one declared) with :class:`~.ring.RingFollower` from the lines written from now
on (``-n``). With no ring, or no socket, it stays idle and says why
(:attr:`LogCollector.state`, :attr:`LogCollector.why`): the triage screen then works
from the counters alone and says so.

Parsing runs on the event loop in bounded slices: after :data:`SLICE` lines the
collector yields to the loop so a key press is never behind more than one slice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from console.haproxy.errors import HAProxyError
from console.haproxy.logs.parse import LineParser, Result
from console.haproxy.logs.ring import RingFollower, RingNote, list_sinks, user_rings
from console.haproxy.logs.windows import Windows
from console.haproxy.safe_text import visible
from console.haproxy.transport import RuntimeClient

log = logging.getLogger("haconsole.logs")

SLICE = 200  # lines parsed between two yields to the event loop


class LogCollector:
    """Follows *client*'s ring into :attr:`windows` (see the module docstring)."""

    def __init__(self, client: RuntimeClient | None, parser_factory: Callable[[], LineParser],
                 *, ring: str | None = None, windows: Windows | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.parser_factory = parser_factory
        self.ring = ring
        self.windows = windows if windows is not None else Windows(clock=clock)
        self.clock = clock
        self.state = "starting"  # starting | following | no-ring | stopped
        self.why = ""
        self.notes: list[str] = []
        self.total = 0
        self.unparsed = 0
        self.dropped = 0
        self._follower: RingFollower | None = None
        self._stopped = False

    @property
    def following(self) -> bool:
        """Reading the ring now: lines HAProxy writes from now on are counted."""
        follower = self._follower
        return self.state == "following" and follower is not None and follower.connected

    def describe(self) -> str:
        """One line: where the logs come from, or why there are none."""
        if self.state == "following":
            lost = f", {self.dropped:,} lost by the ring" if self.dropped else ""
            return (f"logs: ring {visible(self.ring or '?')}, {self.total:,} lines since "
                    f"the console started{lost}")
        if self.state == "starting":
            return "logs: looking for a ring…"
        return f"logs: none ({self.why})" if self.why else "logs: none"

    def stop(self) -> None:
        self._stopped = True
        if self._follower is not None:
            self._follower.stop()

    async def run(self) -> None:
        """Follow until stopped; never raises (the reason is kept in :attr:`why`)."""
        if self.client is None:
            self._idle("no-ring", "no stats socket")
            return
        try:
            if self.ring is None:
                rings = user_rings(await list_sinks(self.client))
                if not rings:
                    self._idle("no-ring", "this HAProxy declares no ring: "
                               "`haconsole config add-log-ring` adds one")
                    return
                self.ring = rings[0].name
            parser = self.parser_factory()
            self.state = "following"
            follower = self._follower = RingFollower(self.client, self.ring, new_only=True)
            windows = self.windows
            n = 0
            async for item in follower.follow():
                if self._stopped:
                    break
                if isinstance(item, RingNote):
                    self._note(item)
                    continue
                self.total += 1
                result: Result = parser.parse(item.data, self.total)
                if not result.ok and not getattr(result, "event", False):
                    self.unparsed += 1
                windows.add(result)
                n += 1
                if n >= SLICE:
                    n = 0
                    await asyncio.sleep(0)
        except HAProxyError as exc:
            self._idle("stopped", f"following the ring {self.ring} stopped: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - kept as the reason, logged in full
            log.exception("following the ring %s", self.ring)
            self._idle("stopped", f"following the ring {self.ring} stopped after an internal "
                       f"error: {type(exc).__name__}: {exc}")
            return
        self._idle("stopped", "the console stopped following the ring")

    def _idle(self, state: str, why: str) -> None:
        self.state = state
        self.why = visible(why)

    def _note(self, note: RingNote) -> None:
        if note.kind == "dropped" and note.lost:
            self.dropped += note.lost
        if len(self.notes) >= 20:
            del self.notes[0]
        self.notes.append(visible(note.text))
