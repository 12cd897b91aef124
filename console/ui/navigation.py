"""Navigation to the console's other screens: drift, config file, journal, tables, logs."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from console.haproxy.errors import HAProxyError
from console.haproxy.transport import RuntimeClient

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel
    from textual.screen import Screen

    from console.instance import Target
    from console.ui.screens.config import ConfigScreen
    from console.ui.screens.monitor import MonitorScreen

log = logging.getLogger("haconsole.ui")


def _contents(snap: object) -> tuple[object, ...] | None:
    """What the rows of ``snap`` hold, clock fields aside (content objects are reused
    by the snapshot builder while a row does not change)."""
    rows = getattr(snap, "rows", None)
    if rows is None:
        return None
    return tuple(row.content if row.content is not None else row for row in rows)


class Navigation:
    """The main screen's way to the other screens; keeps the drift count."""

    def __init__(self, screen: MonitorScreen) -> None:
        self.screen = screen
        self.drift_count: int | None = None
        self._drift_key: tuple[object, ...] | None = None
        self._drift_skipped = 0
        self._reading = False  # a node's configuration is being read over ssh

    @property
    def target(self) -> Target:
        return self.screen.console_app.target

    def push_screen(self, screen: Screen[Any],
                    callback: Callable[[Any], None] | None = None) -> None:
        self.screen.console_app.push_screen(screen, callback)

    def notify(self, message: str, *, severity: SeverityLevel = "information",
               timeout: float | None = None) -> None:
        if timeout is None:
            self.screen.notify(message, severity=severity)
        else:
            self.screen.notify(message, severity=severity, timeout=timeout)

    def open_drift(self) -> None:
        if self._over_ssh():
            self._read_node_files(self._push_drift)
            return
        self._push_drift()

    def _push_drift(self) -> None:
        from console.ui.screens.drift import DriftScreen

        self.push_screen(DriftScreen(self.target), lambda _r: self.refresh_drift())

    # -- a node's configuration, over ssh ------------------------------------------------
    def _over_ssh(self) -> bool:
        return bool(self.target.ssh and self.target.node is not None)

    def _read_node_files(self, then: Callable[[], None]) -> None:
        """Read the node's configuration into its mirror (the first time: attach it; after:
        copy it again, so a change made on the node since is seen), then *then* on the
        UI thread. The ssh round trips run in a thread: the screen stays live."""
        if self._reading:
            self.notify(f"still reading {self.target.name}'s configuration over ssh…")
            return
        self._reading = True
        self.notify(f"reading {self.target.name}'s configuration over ssh…", timeout=4)
        self.screen.run_worker(lambda: self._read_in_thread(then), thread=True,
                               group="node-files", exit_on_error=False)

    def _read_in_thread(self, then: Callable[[], None]) -> None:
        from console.haproxy.safe_text import visible
        from console.instance import attach_files

        target = self.target
        app = self.screen.app
        try:
            attach_files(target)
        except (HAProxyError, OSError) as exc:
            log.info("configuration of %s not read: %s", target.name, exc)
            message = visible(
                f"cannot read {target.name}'s configuration over ssh: {exc}. Nothing was "
                f"changed; monitoring and runtime changes go on. Check that {target.ssh} "
                "answers (ssh) and the instance's config and sudo settings, then press the "
                "key again")
            app.call_from_thread(self._read_done, None, message)
            return
        except Exception as exc:  # noqa: BLE001 - said on screen, logged in full
            log.exception("reading the configuration of %s", target.name)
            app.call_from_thread(self._read_done, None, visible(
                f"cannot read {target.name}'s configuration over ssh: internal error "
                f"{type(exc).__name__}: {exc} (the log has the details)"))
            return
        app.call_from_thread(self._read_done, then, None)

    def _read_done(self, then: Callable[[], None] | None, error: str | None) -> None:
        self._reading = False
        if error is not None:
            self.notify(error, severity="error", timeout=20)
            return
        if not self.screen.is_current:  # another screen came meanwhile: not over it
            self.notify(f"{self.target.name}'s configuration is read: press the key again "
                        "to open it")
            return
        self.refresh_drift()
        if then is not None:
            then()

    def drift_tick(self) -> None:
        """The periodic recount: skipped while neither the rows nor the config file
        changed since the last one (at most 4 skipped in a row: a minute)."""
        snap = self.screen.snapshot
        path = self.target.config
        try:
            stamp = os.stat(path).st_mtime_ns if path else None
        except OSError:
            stamp = None
        key = (stamp, _contents(snap))
        last, skipped = self._drift_key, self._drift_skipped
        if last is not None and key == last and skipped < 4:
            self._drift_skipped = skipped + 1
            return
        self._drift_key, self._drift_skipped = key, 0
        self.refresh_drift()

    def refresh_drift(self) -> None:
        if self.target.socket and self.target.config:
            self.screen.run_worker(self._count_drift(), group="drift-count", exclusive=True,
                                   exit_on_error=False)

    async def _count_drift(self) -> None:
        from console.ui.screens.drift import read_drift

        try:
            self.drift_count = len(await read_drift(self.target))
        except (HAProxyError, ValueError) as exc:
            log.info("drift not computed: %s", exc)
            self.drift_count = None
        header = self.screen.header
        header.drift_count = self.drift_count
        header.refresh()

    def open_config(self) -> None:
        if self._over_ssh():
            self._read_node_files(self._open_config_screen)
            return
        self._open_config_screen()

    def _open_config_screen(self) -> None:
        if not self.target.config:
            self.notify(self.target.remote_config_note
                        or "no config file known: start with -c FILE", severity="warning")
            return
        try:
            from console.ui.screens.config import ConfigScreen
        except ImportError as exc:
            self.notify(f"config screen unavailable: {exc}", severity="error")
            return
        self.screen.run_worker(self._open_config(ConfigScreen), group="config", exclusive=True)

    async def _open_config(self, screen: type[ConfigScreen]) -> None:
        """The config screen, with how this HAProxy loads a file read now (the same
        :func:`~console.instance.apply_target` as ``haconsole config apply``)."""
        from console.instance import apply_target

        at = await apply_target(self.target)
        self.push_screen(screen(self.target, at), lambda _r: self.refresh_drift())

    def stage_log_ring(self) -> None:
        """Stage the edit that makes the instance log to a ring (as ``haconsole config
        add-log-ring``), then open the config screen on it: diff, check, apply as any
        configuration change."""
        app = self.screen.console_app
        if app.read_only_reason:
            self.notify(f"read-only ({app.read_only_reason}): adding a ring is a "
                        "configuration change", severity="warning")
            return
        if self._over_ssh():
            self.notify(f"on a node, stage it from a shell: haconsole -i {self.target.name} "
                        "config add-log-ring (then F here to review and apply)",
                        severity="warning", timeout=15)
            return
        if not self.target.config:
            self.notify(self.target.remote_config_note
                        or "no config file known: start with -c FILE", severity="warning")
            return
        self.screen.run_worker(self._stage_log_ring(), group="config", exclusive=True)

    async def _stage_log_ring(self) -> None:
        from console.config_set import stage_log_ring
        from console.haproxy.logs.ring_config import DEFAULT_NAME, DEFAULT_SIZE
        from console.haproxy.safe_text import visible
        from console.instance import apply_target

        try:
            at = await apply_target(self.target)
            staged, notes, warnings = await asyncio.to_thread(
                stage_log_ring, self.target, at, DEFAULT_NAME, DEFAULT_SIZE)
        except HAProxyError as exc:
            hint = f" — {exc.hint}" if exc.hint else ""
            self.notify(visible(f"the ring could not be staged: {exc}{hint}"),
                        severity="error", timeout=15)
            return
        for line in warnings + notes:
            self.notify(visible(line), severity="warning", timeout=15)
        if staged:
            self.notify(visible("staged: " + "; ".join(staged)) + " — review the diff, "
                        "then a applies it (checked with haproxy -c, reloaded, verified)",
                        timeout=20)
        else:
            self.notify("the configuration already logs to that ring: apply the staged "
                        "change, or reload HAProxy", timeout=15)
        self._open_config_screen()

    def open_journal(self) -> None:
        try:
            from console.ui.screens.journal import JournalScreen
        except ImportError as exc:
            self.notify(f"journal screen unavailable: {exc}", severity="error")
            return
        client = RuntimeClient(self.target.socket) if self.target.socket else None
        operations = self.screen.operations

        async def restore(changes: list[Any], summary: str, intro: str) -> None:
            await operations.send_actions(changes, summary=summary, intro=intro)

        self.push_screen(JournalScreen(self.target, client, operations.allowed_kinds(),
                                       restore))

    def open_tables(self) -> None:
        if not self.target.socket:
            self.notify("tables, maps and ACLs need the stats socket (-s)", severity="warning")
            return
        try:
            from console.ui.screens.tables import TablesScreen
        except ImportError as exc:
            self.notify(f"tables screen unavailable: {exc}", severity="error")
            return
        self.push_screen(TablesScreen(RuntimeClient(self.target.socket), self.target,
                                      self.screen.operations.allowed_kinds()))

    def open_logs(self, row: Any = None, *, filter_text: str | None = None) -> None:
        """The logs screen, filtered on *row* (a server, backend or frontend of the
        main table) when one is given, or with *filter_text*."""
        try:
            from console.ui.screens.logs import LogsScreen, filter_for_row
        except ImportError as exc:
            self.notify(f"logs screen unavailable: {exc}", severity="error")
            return
        client = RuntimeClient(self.target.socket) if self.target.socket else None
        flt = filter_text if filter_text is not None else filter_for_row(row)
        self.push_screen(LogsScreen(self.target, client, initial_filter=flt))

    def open_hurting(self) -> None:
        """What's hurting now: the ranking, its evidence."""
        try:
            from console.ui.screens.hurting import HurtingScreen
        except ImportError as exc:
            self.notify(f"triage screen unavailable: {exc}", severity="error")
            return
        client = RuntimeClient(self.target.socket) if self.target.socket else None
        self.push_screen(HurtingScreen(self.screen.console_app, client))

    def open_log_summary(self) -> None:
        """The log summaries over a window."""
        from console.ui.screens.log_summary import LogSummaryScreen

        app = self.screen.console_app
        self.push_screen(LogSummaryScreen(app.collector, name=self.target.name))

    def open_captured_errors(self) -> None:
        """The captured errors screen (``show errors``)."""
        from console.ui.screens.captured import CapturedScreen

        client = RuntimeClient(self.target.socket) if self.target.socket else None
        self.push_screen(CapturedScreen(self.target, client))

    def open_sessions(self, row: Any = None) -> None:
        """The streams screen, only the streams of *row* (a server or backend of the
        main table) when one is given."""
        from console.ui.screens.sessions import SessionsScreen, filter_for_row

        app = self.screen.console_app
        snap = self.screen.snapshot
        info = snap.info if snap else None
        client = RuntimeClient(self.target.socket) if self.target.socket else None
        self.push_screen(SessionsScreen(
            self.target, client, operations=self.screen.operations,
            only=filter_for_row(row), level=app.level,
            read_only=bool(self.target.read_only),
            version=info.version if info and info.version else None))
