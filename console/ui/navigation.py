"""Navigation to the console's other screens: drift, config file, journal, tables."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from console.haproxy.errors import HAProxyError
from console.haproxy.transport import RuntimeClient
from console.ui.header import HeaderBar

if TYPE_CHECKING:
    from console.ui.app import HAConsoleApp
    from console.ui.screens.config import ConfigScreen

log = logging.getLogger("haconsole.ui")


def _contents(snap: object) -> tuple[object, ...] | None:
    """What the rows of ``snap`` hold, clock fields aside (content objects are reused
    by the snapshot builder while a row does not change)."""
    rows = getattr(snap, "rows", None)
    if rows is None:
        return None
    return tuple(row.content if row.content is not None else row for row in rows)


class ScreensMixin:
    """Mixed into the app: opens the other screens, keeps the drift count."""

    drift_count: int | None

    def action_drift(self: HAConsoleApp) -> None:
        from console.ui.screens.drift import DriftScreen

        self.push_screen(DriftScreen(self.target), lambda _r: self.refresh_drift())

    def _drift_tick(self: HAConsoleApp) -> None:
        """The periodic recount: skipped while neither the rows nor the config file
        changed since the last one (at most 4 skipped in a row: a minute)."""
        snap = self.snapshot
        path = self.target.config
        try:
            stamp = os.stat(path).st_mtime_ns if path else None
        except OSError:
            stamp = None
        key = (stamp, _contents(snap))
        last, skipped = getattr(self, "_drift_key", None), getattr(self, "_drift_skipped", 0)
        if last is not None and key == last and skipped < 4:
            self._drift_skipped = skipped + 1
            return
        self._drift_key, self._drift_skipped = key, 0
        self.refresh_drift()

    def refresh_drift(self: HAConsoleApp) -> None:
        if self.target.socket and self.target.config:
            self.run_worker(self._count_drift(), group="drift-count", exclusive=True,
                            exit_on_error=False)

    async def _count_drift(self: HAConsoleApp) -> None:
        from console.ui.screens.drift import read_drift

        try:
            self.drift_count = len(await read_drift(self.target))
        except (HAProxyError, ValueError) as exc:
            log.info("drift not computed: %s", exc)
            self.drift_count = None
        header = self.query_one(HeaderBar)
        header.drift_count = self.drift_count
        header.refresh()

    def action_config(self: HAConsoleApp) -> None:
        if not self.target.config:
            self.notify("no config file known: start with -c FILE", severity="warning")
            return
        try:
            from console.ui.screens.config import ConfigScreen
        except ImportError as exc:
            self.notify(f"config screen unavailable: {exc}", severity="error")
            return
        self.run_worker(self._open_config(ConfigScreen), group="config", exclusive=True)

    async def _open_config(self: HAConsoleApp, screen: type[ConfigScreen]) -> None:
        """The config screen, with how this HAProxy loads a file read now (the same
        :func:`~console.instance.apply_target` as ``haconsole config apply``)."""
        from console.instance import apply_target

        at = await apply_target(self.target)
        self.push_screen(screen(self.target, at), lambda _r: self.refresh_drift())

    def action_journal(self: HAConsoleApp) -> None:
        try:
            from console.ui.screens.journal import JournalScreen
        except ImportError as exc:
            self.notify(f"journal screen unavailable: {exc}", severity="error")
            return
        client = RuntimeClient(self.target.socket) if self.target.socket else None

        async def restore(changes: list[Any], summary: str, intro: str) -> None:
            await self.send_actions(changes, summary=summary, intro=intro)

        self.push_screen(JournalScreen(self.target, client, self.allowed_kinds(), restore))

    def action_tables(self: HAConsoleApp) -> None:
        if not self.target.socket:
            self.notify("tables, maps and ACLs need the stats socket (-s)", severity="warning")
            return
        try:
            from console.ui.screens.tables import TablesScreen
        except ImportError as exc:
            self.notify(f"tables screen unavailable: {exc}", severity="error")
            return
        self.push_screen(TablesScreen(RuntimeClient(self.target.socket), self.target,
                                      self.allowed_kinds()))
