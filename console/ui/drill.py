"""The console during a drill (``haconsole drill NAME`` on a terminal).

The normal console on the lab, every key as usual, with the drill banner under the
header (:class:`~console.ui.widgets.drill_banner.DrillBanner`) and two more keys on the
main screen: ``h`` reveals the next hint, ``G`` gives up (after a confirmation). The
drill's goal is checked about every second in a worker; a failing check is said in the
banner, never ends the console. Solved or given up, the debrief screen shows the
debrief (``q`` quits: exit code 0 solved, 1 given up). Quitting the main screen while
the drill runs asks to give up first, so the debrief is always seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from console.haproxy.errors import HAProxyError
from console.haproxy.safe_text import visible
from console.instance import Target
from console.settings import DEFAULT_INTERVAL, Settings
from console.ui.app import HAConsoleApp, log_where, prepare_run
from console.ui.header import HeaderBar
from console.ui.keymap import Scope, class_bindings
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.debrief import DebriefScreen, read_debrief
from console.ui.screens.monitor import MonitorScreen
from console.ui.widgets.detail import DetailPane
from console.ui.widgets.drill_banner import DRILL_BINDINGS, DrillBanner, clock
from console.ui.widgets.table import ProxyTable

if TYPE_CHECKING:
    from console.haproxy.drills.engine import DrillRun

log = logging.getLogger("haconsole.drill")

class GiveUpScreen(ConfirmScreen):
    """The confirmation before giving a drill up (nothing is sent to HAProxy)."""

    def compose_foot(self) -> ComposeResult:
        yield Static("y: yes, give up    n / escape: no, go on", classes="dialog-keys",
                     markup=False)


class DrillMonitorScreen(MonitorScreen):
    """The main screen with the drill banner under the header and the drill's keys."""

    BINDINGS: ClassVar[list[BindingType]] = list(DRILL_BINDINGS)

    def __init__(self, console_app: HAConsoleApp, run: DrillRun) -> None:
        super().__init__(console_app)
        self.drill_run = run

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield widget
            if isinstance(widget, HeaderBar):  # yielded first, outside any container
                yield DrillBanner(self.drill_run, id="drill-banner")

    @property
    def banner(self) -> DrillBanner:
        return self.query_one(DrillBanner)


def drill_target(info: dict[str, Any]) -> Target:
    """The console's target on a lab (its ``lab.json`` contents in *info*)."""
    target = Target(name="lab", socket=info["admin_socket"], master=info.get("master_socket"),
                    config=info.get("config"), url=info.get("stats_url"),
                    haproxy=info.get("haproxy"), interval=DEFAULT_INTERVAL)
    target.notes.append(f"lab: HAProxy {info.get('haproxy_version')} "
                        f"({info.get('haproxy_origin', '?')}) in {info.get('dir')}")
    return target


class DrillApp(HAConsoleApp):
    """The console on a drill's lab (see the module docstring)."""

    def __init__(self, target: Target, run: DrillRun, *,
                 lab_alive: Callable[[], bool] | None = None, theme: str | None = None,
                 settings: Settings | None = None, tick: float | None = None) -> None:
        super().__init__(target, theme=theme, settings=settings)
        from console.haproxy.drills.engine import TICK

        self.drill_run = run
        self.lab_alive = lab_alive or (lambda: True)
        self.tick_every = TICK if tick is None else tick
        self.debrief: DebriefScreen | None = None
        self._asking = False  # the give-up confirmation is open

    def get_default_screen(self) -> MonitorScreen:
        self._monitor = DrillMonitorScreen(self, self.drill_run)
        return self._monitor

    def keymap_scopes(self) -> list[Scope]:
        scopes = super().keymap_scopes()
        app = tuple(Binding.make_bindings([*self.BINDINGS, Binding(
            self.COMMAND_PALETTE_BINDING, "command_palette", "Palette")]))
        return [*scopes, Scope("the main screen during a drill",
                               app + class_bindings(DrillMonitorScreen, ProxyTable,
                                                    DetailPane))]

    @property
    def banner(self) -> DrillBanner | None:
        monitor = self._monitor
        if monitor is None or not monitor.is_mounted:
            return None
        found = monitor.query(DrillBanner)
        return found.first() if found else None

    def on_mount(self) -> None:
        self.run_worker(self._drill_loop(), name="drill", group="drill", exit_on_error=False)

    # -- the drill's check ------------------------------------------------------------------
    async def _drill_loop(self) -> None:
        """Check the goal about every ``TICK`` seconds until the drill is over."""
        run = self.drill_run
        while run.status == "running":
            problem = await self._tick_once()
            banner = self.banner
            if banner is not None:
                banner.set_problem(problem)
            if run.status != "running":
                break
            await asyncio.sleep(self.tick_every)
        if run.status == "solved":
            self.show_debrief()

    async def _tick_once(self) -> str | None:
        """One check of the goal; what went wrong, for the banner (None: nothing)."""
        try:
            await self.drill_run.tick()
        except Exception as exc:  # noqa: BLE001 - the console keeps running; the banner says it
            log.exception("drill check failed")
            return visible(f"the drill's check failed: {exc} (details in {log_where()})")
        if not self.lab_alive():
            lab = self.drill_run.lab
            return (f"the lab stopped (did HAProxy exit? see {lab.get('log')}); "
                    "G gives up and shows the debrief")
        return None

    # -- keys -------------------------------------------------------------------------------
    def action_drill_hint(self) -> None:
        """Reveal the next hint, in the banner and as a notification."""
        run = self.drill_run
        total = len(run.drill.hints)
        if run.status != "running":
            self.notify("The drill is over: the debrief says what to do.")
            return
        try:
            hint = run.next_hint()
        except HAProxyError as exc:  # the hint counts; drill.json could not say so
            hint = run.drill.hints[run.hints_shown - 1] if run.hints_shown else None
            self.notify(f"drill.json not updated: {exc}", severity="warning")
        if hint is None:
            self.notify(f"All {total} hints are shown." if total else "This drill has no hints.")
            return
        banner = self.banner
        if banner is not None:
            banner.hint_revealed()
        self.notify(hint, title=f"Hint {run.hints_shown}/{total}", timeout=10)

    def action_drill_give_up(self) -> None:
        self.ask_give_up("Give up the drill?")

    async def action_quit(self) -> None:
        """Quitting while the drill runs is giving up: asked first, then the debrief."""
        if self.drill_run.status == "running":
            self.ask_give_up("Quit: give up the drill first?")
        else:
            self.exit(self.exit_code, return_code=self.exit_code)

    @property
    def exit_code(self) -> int:
        return 0 if self.drill_run.status == "solved" else 1

    def ask_give_up(self, title: str) -> None:
        if self.drill_run.status != "running" or self._asking:
            return
        self._asking = True

        def answered(yes: bool | None) -> None:
            self._asking = False
            if yes:
                self.give_up()

        body = (f"The drill {self.drill_run.drill.name} ends now "
                f"({clock(self.drill_run.elapsed())} since the fault). The debrief says "
                "what happened and what an experienced engineer would have done; the lab "
                "runs until you quit.")
        self.push_screen(GiveUpScreen(title, body), answered)

    def give_up(self) -> None:
        """End the drill as given up (if it still runs) and show the debrief."""
        problem = None
        if self.drill_run.status == "running":
            try:
                self.drill_run.finish("given-up")
            except (OSError, HAProxyError) as exc:
                problem = visible(f"the debrief could not be written: {exc}")
                log.warning("drill debrief not written: %s", exc)
        self.show_debrief(problem)

    def show_debrief(self, problem: str | None = None) -> None:
        """Push the debrief screen (once)."""
        run = self.drill_run
        if self.debrief is not None:
            return
        banner = self.banner
        if banner is not None:
            banner.set_note(f"debrief: {run.debrief_path}" if run.debrief_path
                            else "no debrief written")
        self.debrief = DebriefScreen(status=run.status, elapsed=clock(run.elapsed()),
                                     path=run.debrief_path, text=read_debrief(run.debrief_path),
                                     problem=problem)
        self.clear_notifications()  # the hints' toasts would cover it
        self.push_screen(self.debrief)


async def run_drill_console(run: DrillRun, lab_alive: Callable[[], bool] | None = None, *,
                            theme: str | None = None) -> int:
    """The console on *run*'s lab until the trainee quits (the fault already injected);
    0 solved, 1 given up. SIGTERM gives the drill up and ends the console."""
    target = drill_target(run.lab)
    prepare_run(target)
    app = DrillApp(target, run, lab_alive=lab_alive, theme=theme)
    loop = asyncio.get_running_loop()

    def terminated() -> None:
        with contextlib.suppress(OSError, HAProxyError):
            if run.status == "running":
                run.finish("given-up")
        app.exit(app.exit_code, return_code=app.exit_code)

    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, terminated)
    try:
        await app.run_async()
    finally:
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)
    return app.exit_code
