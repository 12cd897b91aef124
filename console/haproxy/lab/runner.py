"""Running the lab: backends, HAProxy, traffic, the control socket, lab.json, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.haproxy.binaries import Binary, resolve
from console.haproxy.errors import ConfigError, ValidationError

from . import process
from .backends import BackendPool, BackendServer
from .config import SERVERS, Layout, Ports, free_ports, has_prometheus_exporter, render, write_files
from .control import ControlServer
from .traffic import Traffic

log = logging.getLogger(__name__)
SLOW_STEP = 1.0  # a shutdown step slower than this (seconds) is reported

Announce = Callable[[dict[str, Any]], None]
WATCH_INTERVAL = 1.0
BIND_ATTEMPTS = 3


def prepare_directory(directory: str | None) -> Layout:
    """Create the lab directory (a new temporary one by default) and check it is free."""
    try:
        path = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="haconsole-lab-"))
        path = path.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the lab directory: {exc.strerror or exc}",
                          str(directory), "choose another --dir") from None
    layout = Layout(path)
    layout.check_socket_paths()
    if layout.control_socket.exists():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(layout.control_socket))
            running = True
        except OSError:
            running = False
        finally:
            probe.close()
        if running:
            raise ValidationError("a lab is already running in this directory", str(path),
                                  "stop it first (its pids are in lab.json) or choose another "
                                  "--dir")
    for stale in [*layout.sockets(), layout.pidfile, layout.info]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return layout


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


class Lab:
    """One lab run. ``await Lab(...).run()`` returns the exit code."""

    def __init__(self, layout: Layout, binary: Binary, announce: Announce | None = None) -> None:
        self.layout = layout
        self.binary = binary
        self.announce = announce
        self.pool = BackendPool(BackendServer(s.backend, s.name, s.personality)
                                for s in SERVERS)
        self.traffic: Traffic | None = None
        self.control: ControlServer | None = None
        self.proc: Any = None  # subprocess.Popen[bytes] once started
        self.workers: set[int] = set()  # current workers
        self.all_workers: set[int] = set()  # every worker seen since the start
        self.info: dict[str, Any] | None = None
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.request_stop)
                installed.append(sig)
            except (ValueError, RuntimeError):  # not the main thread: the caller stops us
                pass
        try:
            if not await self._start():
                return 0
            return await self._serve()
        finally:
            await self._shutdown()
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _start(self) -> bool:
        """Bring everything up; False if asked to stop meanwhile."""
        layout, binary = self.layout, self.binary
        await self.pool.start_all()
        self.control = ControlServer(layout.control_socket, self.pool, None, self._publish)
        await self.control.start()
        prometheus = await asyncio.to_thread(has_prometheus_exporter, binary.path)
        if not prometheus:
            log.warning("%s has no prometheus-exporter service: the lab has no /metrics",
                        binary.describe())
        ports, show_info = await self._launch(prometheus)
        if self._stop.is_set():
            return False
        self.workers = {int(show_info["Pid"])}
        self.workers |= await self._master_workers()
        self.all_workers |= self.workers
        for sock in (layout.operator_socket, layout.user_socket):
            await self._check_socket(sock)
        self.traffic = Traffic({"fe_web": ports.fe_web, "fe_api": ports.fe_api})
        self.control.traffic = self.traffic
        self.traffic.start()
        self.info = self._describe(ports, prometheus)
        self._publish()
        if self.announce is not None:
            self.announce(dict(self.info))
        return True

    async def _launch(self, prometheus: bool) -> tuple[Ports, dict[str, str]]:
        """Write and check the config, start HAProxy, wait for its admin socket.

        The listening ports are probed free before HAProxy binds them; if one was taken
        meanwhile, new ports are chosen and HAProxy started again.
        """
        layout, binary = self.layout, self.binary
        server_ports = {key: s.port for key, s in self.pool.servers.items()}
        for attempt in range(1, BIND_ATTEMPTS + 1):
            web, api, stats = free_ports(3)
            ports = Ports(fe_web=web, fe_api=api, stats=stats)
            write_files(layout, render(layout, ports, server_ports, prometheus=prometheus,
                                       version=binary.version))
            await asyncio.to_thread(process.check_config, binary, layout)
            if self._stop.is_set():
                return ports, {}
            self.proc = process.spawn(binary, layout)
            try:
                return ports, await process.wait_ready(self.proc, layout, self._stop)
            except process.StartError as exc:
                if "Address already in use" not in str(exc) or attempt == BIND_ATTEMPTS:
                    raise
                log.warning("a lab port was taken while HAProxy started; trying new ports")
                await asyncio.to_thread(self.proc.wait)
        raise AssertionError("unreachable")

    async def _master_workers(self) -> set[int]:
        """Worker pids from ``show proc`` on the master socket (retried briefly)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while True:
            try:
                text = await process.ask(self.layout.master_socket, "show proc", 3.0)
                found = process.parse_show_proc(text)
                if found["master"]:
                    return set(found["workers"]) | set(found["old"])
            except (TimeoutError, OSError):
                pass
            if loop.time() > deadline:
                raise process.StartError(
                    "the HAProxy master socket does not answer 'show proc'",
                    str(self.layout.master_socket), f"read {self.layout.log}")
            await asyncio.sleep(0.1)

    async def _check_socket(self, path: Path) -> None:
        try:
            answer = await process.ask(path, "show cli level", 3.0)
        except (TimeoutError, OSError) as exc:
            raise process.StartError(f"HAProxy's stats socket does not answer: {exc}",
                                     str(path), f"read {self.layout.log}") from None
        if not answer.strip():
            raise process.StartError("HAProxy's stats socket answered nothing", str(path),
                                     f"read {self.layout.log}")

    def _describe(self, ports: Ports, prometheus: bool) -> dict[str, Any]:
        layout = self.layout
        stats_base = f"http://127.0.0.1:{ports.stats}"
        return {
            "dir": str(layout.dir),
            "config": str(layout.config),
            "log": str(layout.log),
            "admin_socket": str(layout.admin_socket),
            "operator_socket": str(layout.operator_socket),
            "user_socket": str(layout.user_socket),
            "master_socket": str(layout.master_socket),
            "control_socket": str(layout.control_socket),
            "server_state_file": str(layout.server_state),
            "map_file": str(layout.hosts_map),
            "acl_file": str(layout.blocked_acl),
            "stats_url": f"{stats_base}/stats",
            "metrics_url": f"{stats_base}/metrics" if prometheus else None,
            "prometheus_exporter": prometheus,
            "frontends": {"fe_web": f"http://127.0.0.1:{ports.fe_web}",
                          "fe_api": f"http://127.0.0.1:{ports.fe_api}",
                          "stats": stats_base},
            "haproxy": self.binary.path,
            "haproxy_version": self.binary.version,
            "haproxy_origin": self.binary.origin,
            "haproxy_command": process.command(self.binary, layout),
            "pids": [],
            "processes": {},
            "backends": {},
            "held_port": None,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    def _publish(self) -> None:
        """(Re)write lab.json atomically with the current processes and servers."""
        if self.info is None:
            return
        self.info["pids"] = [os.getpid(), self.proc.pid, *sorted(self.all_workers)]
        self.info["processes"] = {"lab": os.getpid(), "master": self.proc.pid,
                                  "workers": sorted(self.workers)}
        self.info["backends"] = self.pool.describe()
        self.info["held_port"] = self.control.held_port if self.control else None
        try:
            _write_json(self.layout.info, self.info)
        except OSError as exc:
            log.error("cannot write %s: %s", self.layout.info, exc)

    async def _serve(self) -> int:
        """Run until asked to stop; 1 if HAProxy exits on its own."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), WATCH_INTERVAL)
            code = self.proc.poll()
            if code is not None:
                tail = " | ".join(process.log_tail(self.layout, 5))
                log.error("HAProxy (master pid %d) exited on its own with code %s; stopping "
                          "the lab. See %s: %s", self.proc.pid, code, self.layout.log, tail)
                return 1
            self._track_workers()
        return 0

    def _track_workers(self) -> None:
        current = process.children_of(self.proc.pid)
        if current and current != self.workers:
            self.all_workers |= current
            self.workers = current
            self._publish()

    async def _shutdown(self) -> None:
        """Stop everything this run started; leave config and logs in the directory."""
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("traffic", self._stop_traffic),
            ("haproxy", self._stop_haproxy),
            ("control socket", self._close_control),
            ("backends", self.pool.stop_all),
        ]
        loop = asyncio.get_running_loop()
        for name, step in steps:
            started = loop.time()
            try:
                await step()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                log.exception("lab: error while stopping the %s", name)
            took = loop.time() - started
            if took > SLOW_STEP:
                log.warning("lab: stopping the %s took %.1f s", name, took)
        layout = self.layout
        for path in [*layout.sockets(), layout.pidfile, layout.info]:
            with contextlib.suppress(OSError):
                path.unlink()

    async def _stop_traffic(self) -> None:
        if self.traffic is not None:
            await self.traffic.stop()

    async def _stop_haproxy(self) -> None:
        if self.proc is None:
            return
        left = await process.terminate(self.proc, self.binary.path, self.all_workers)
        if left:
            log.error("lab: HAProxy processes still running after SIGKILL: %s",
                      ", ".join(map(str, sorted(left))))

    async def _close_control(self) -> None:
        if self.control is not None:
            await self.control.close()


def run_lab(directory: str | None, haproxy: str | None, *,
            announce: Announce | None = None) -> int:
    """Run the lab until SIGINT/SIGTERM; return the exit code.

    *directory* is created if needed (default: a new temporary directory). *haproxy* is
    the binary to use (default: the bundled one, else the system one). *announce* is
    called once with the contents of lab.json when everything answers.
    """
    binary = resolve(haproxy)
    layout = prepare_directory(directory)
    return asyncio.run(Lab(layout, binary, announce).run())
