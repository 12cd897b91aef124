"""Capture real HAProxy output for the parser tests.

Usage: python tests/data/capture.py HAPROXY_BINARY OUTDIR

Starts HAProxy in master-worker mode in a temporary directory, with small local
backends served by this script, drives the servers into as many states as it can,
and saves each CLI answer verbatim to OUTDIR/<name>.txt. Also records the output of
``haproxy -c`` for a few configs (exit code in OUTDIR/<name>.rc). Every process it
starts is stopped before it exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture_configs import CHECK_CONFIGS, conflict_section, lab_config  # noqa: E402

LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------- backends

class Backends:
    """Tiny HTTP, agent and TCP servers on loopback, run in a background event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.servers: list[asyncio.base_events.Server] = []
        self.flags: dict[str, bool] = {"flap_down_ok": True, "flap_up_ok": False}
        self.writers: set[asyncio.StreamWriter] = set()

    def start(self) -> dict[str, int]:
        self.thread.start()
        ports: dict[str, int] = {}
        specs: dict[str, Callable[[], bytes]] = {
            "ok": lambda: b"200 OK",
            "bad": lambda: b'503 Bad, "really" bad',
            "notfound": lambda: b"404 Not Found",
            "flap_down": lambda: b"200 OK" if self.flags["flap_down_ok"] else b"503 Nope",
            "flap_up": lambda: b"200 OK" if self.flags["flap_up_ok"] else b"503 Nope",
        }
        for name, status in specs.items():
            ports[name] = self._serve(self._http(status))
        ports["agent_down"] = self._serve(self._agent(b"down\n"))
        ports["agent_drain"] = self._serve(self._agent(b"drain\n"))
        ports["hold"] = self._serve(self._hold)
        return ports

    def _serve(self, handler: Callable[..., object]) -> int:
        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(handler, LOOPBACK, 0)  # type: ignore[arg-type]

        server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    @staticmethod
    def _http(status: Callable[[], bytes]) -> Callable[..., object]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                body = b"hello\n"
                writer.write(b"HTTP/1.1 " + status() + b"\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                             + body)
                await writer.drain()
            except (asyncio.IncompleteReadError, TimeoutError, ConnectionError,
                    asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()

        return handle

    @staticmethod
    def _agent(answer: bytes) -> Callable[..., object]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(answer)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()

        return handle

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def stop(self) -> None:
        async def close() -> None:
            for server in self.servers:
                server.close()
            for writer in list(self.writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def bound_unused(kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket bound to a loopback port that answers nothing (refused / no reply)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind((LOOPBACK, 0))
    return s


# --------------------------------------------------------------------------- CLI

def cli(path: Path, command: str, timeout: float = 10.0, retry_for: float = 0.0,
        half_close: bool = False, reset_ends: bool = False) -> bytes:
    """Send one non-interactive command, return the answer read to EOF.

    The master CLI (2.6 and 2.8) keeps the connection open after answering until the
    client shuts its sending side, hence ``half_close`` for it. A 2.6 master may reset
    the connection on ``reload`` (``reset_ends``: keep what was read) and refuses or
    resets connections for a moment afterwards (retried for ``retry_for`` seconds).
    """
    deadline = time.monotonic() + retry_for
    while True:
        chunks: list[bytes] = []
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(str(path))
                s.sendall(command.encode() + b"\n")
                if half_close:
                    s.shutdown(socket.SHUT_WR)
                while chunk := s.recv(65536):
                    chunks.append(chunk)
                return b"".join(chunks)
        except ConnectionResetError:
            if reset_ends:
                print(f"  ({command!r}: connection reset after {sum(map(len, chunks))} bytes)",
                      file=sys.stderr)
                return b"".join(chunks)
            if time.monotonic() >= deadline:
                raise
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


def http_get(port: int, path: str, source: str) -> None:
    with socket.create_connection((LOOPBACK, port), timeout=5,
                                  source_address=(source, 0)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: www.example.com\r\n"
                  "Connection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass


STATUS_RE = re.compile(r"^([^,]*),([^,]*),(?:[^,]*,){15}([^,]*),", re.M)


def statuses(stat: bytes) -> dict[tuple[str, str], str]:
    """(pxname, svname) -> status, for waiting loops only (status is column 17)."""
    return {(m[1], m[2]): m[3] for m in STATUS_RE.finditer(stat.decode())}


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    print(f"  (gave up waiting for {what})", file=sys.stderr)
    return False


# --------------------------------------------------------------------------- capture

class Capture:
    def __init__(self, binary: str, outdir: Path, work: Path, flags: dict[str, bool]) -> None:
        self.binary = binary
        self.flags = flags
        self.out = outdir
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None
        self.cfg_text = ""
        self.new_style_reload = False

    def save(self, name: str, data: bytes) -> bytes:
        (self.out / f"{name}.txt").write_bytes(data)
        return data

    def admin(self, cmd: str) -> bytes:
        return cli(self.work / "admin.sock", cmd)

    def master(self, cmd: str, timeout: float = 10.0) -> bytes:
        return cli(self.work / "master.sock", cmd, timeout=timeout, retry_for=10.0,
                   half_close=True, reset_ends=cmd == "reload")

    # -- haproxy -c
    def checks(self) -> None:
        cdir = self.work / "check"
        cdir.mkdir()
        for name, files in CHECK_CONFIGS.items():
            args = [self.binary, "-c"]
            for fname, text in files.items():
                (cdir / fname).write_text(text)
                args += ["-f", fname]
            res = subprocess.run(args, cwd=cdir, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=30)
            self.save(name, res.stdout)
            (self.out / f"{name}.rc").write_text(f"{res.returncode}\n")

    # -- runtime
    def start(self, ports: dict[str, int]) -> None:
        (self.work / "hosts.map").write_text(
            "www.example.com blue\napi.example.com green\n# comment\nold.example.com red\n")
        (self.work / "api.acl").write_text("/api\n/v1\n/v2/admin\n")
        self.cfg_text = lab_config(ports)
        (self.work / "haproxy.cfg").write_text(self.cfg_text)
        self.log = open(self.work / "haproxy.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [self.binary, "-W", "-S", "unix@master.sock", "-f", "haproxy.cfg"],
            cwd=self.work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self.log, start_new_session=True)
        try:
            cli(self.work / "admin.sock", "show info", retry_for=15)
        except OSError:
            log = (self.work / "haproxy.log").read_text(errors="replace")
            print(f"HAProxy did not start:\n{log}", file=sys.stderr)
            raise

    def traffic(self, fe_port: int) -> None:
        for source, paths in (("127.0.0.1", ["/", "/api/x", "/", "/v1/y"]),
                              ("127.0.0.2", ["/", "/api/z"]),
                              ("127.0.0.3", ["/static"])):
            for p in paths:
                http_get(fe_port, p, source)
        self.admin("set table st_strings key alice data.gpc0 3")
        self.admin("set table st_strings key bob data.http_req_cnt 7")
        self.admin("set table st_strings key carol,with\\ space data.gpc0 1")

    def runtime_changes(self) -> None:
        for cmd in ("set server be_app/drain_cli state drain",
                    "set server be_app/maint_cli state maint",
                    "set server be_app/weight0_cli weight 0",
                    "disable frontend fe_stopped",
                    "shutdown frontend fe_shut"):
            words = cmd.split()
            self.save(f"cmd_{words[0]}_{words[2].replace('/', '_')}_{words[-1]}",
                      self.admin(cmd))

    def wait_steady(self) -> None:
        want = {("be_app", "down_closed"): "DOWN", ("be_app", "bad_reason"): "DOWN",
                ("be_api", "api_nolb"): "NOLB", ("be_api", "agent_down"): "DOWN (agent)",
                ("be_api", "agent_drain"): "DRAIN (agent)",
                ("be_app", "flap_up"): "DOWN", ("be_dead", "BACKEND"): "DOWN"}

        def ok() -> bool:
            st = statuses(self.admin("show stat"))
            return all(st.get(k) == v for k, v in want.items())

        wait_for(ok, 25, "steady states")

    def catch_transitions(self) -> None:
        """Flip both flapping servers and save the stat with the most 'x/y' statuses."""
        self.flags["flap_down_ok"] = False
        self.flags["flap_up_ok"] = True
        best, best_n = b"", -1
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            stat = self.admin("show stat")
            st = statuses(stat)
            n = sum(1 for k in (("be_app", "flap_down"), ("be_app", "flap_up"))
                    if re.fullmatch(r"(UP|DOWN) \d+/\d+", st.get(k, "")))
            if n > best_n:
                best, best_n = stat, n
            if n == 2:
                break
            time.sleep(0.05)
        self.save("show_stat", best)
        self.save("show_stat_typed", self.admin("show stat typed"))

    def reads(self) -> None:
        sv = self.save
        sv("show_info", self.admin("show info"))
        sv("show_stat_servers_only", self.admin("show stat -1 4 -1"))
        sv("show_servers_state", self.admin("show servers state"))
        sv("show_servers_state_be_app", self.admin("show servers state be_app"))
        for level in ("admin", "operator", "user"):
            sv(f"show_cli_level_{level}", cli(self.work / f"{level}.sock", "show cli level"))
        sv("show_table", self.admin("show table"))
        sv("show_table_fe_main", self.admin("show table fe_main"))
        sv("show_table_st_strings", self.admin("show table st_strings"))
        sv("show_map", self.admin("show map"))
        sv("show_map_file", self.admin("show map hosts.map"))
        maps = self.admin("show map").decode()
        m = re.search(r"^(-?\d+) \(hosts\.map\)", maps, re.M)
        sv("show_map_id", self.admin(f"show map #{m[1] if m else 0}"))
        sv("show_acl", self.admin("show acl"))
        sv("show_acl_file", self.admin("show acl api.acl"))
        acls = self.admin("show acl").decode()
        m = re.search(r"^(-?\d+) \(\) acl 'src'", acls, re.M)
        sv("show_acl_id", self.admin(f"show acl #{m[1] if m else 0}"))

    def errors(self) -> None:
        user = self.work / "user.sock"
        oper = self.work / "operator.sock"
        cases = {
            "unknown_command": (None, "foo bar"),
            "no_such_backend": (None, "set server nosuch/srv state drain"),
            "no_such_server": (None, "set server be_app/nosuch state drain"),
            "require_backend_server": (None, "set server be_app state drain"),
            "bad_state": (None, "set server be_app/up1 state bogus"),
            "bad_weight": (None, "set server be_app/up1 weight abc"),
            "no_such_frontend": (None, "disable frontend nosuch"),
            "no_such_table": (None, "show table nosuch"),
            "no_such_map_id": (None, "show map #999"),
            "no_such_map_file": (None, "show map nosuch.map"),
            "no_such_acl_file": (None, "show acl nosuch.acl"),
            "servers_state_no_backend": (None, "show servers state nosuch"),
            "del_map_missing_key": (None, "del map hosts.map nokey"),
            "set_table_bad_data": (None, "set table st_strings key x data.nosuch 1"),
            "get_weight_no_server": (None, "get weight be_app/nosuch"),
            "user_clear_counters_all": (user, "clear counters all"),
            "user_clear_counters": (user, "clear counters"),
            "user_set_server": (user, "set server be_app/up1 state drain"),
            "user_show_table": (user, "show table"),
            "operator_set_server": (oper, "set server be_app/up1 state drain"),
        }
        for name, (sock, cmd) in cases.items():
            self.save("error_" + name, cli(sock or self.work / "admin.sock", cmd))

    # -- master CLI
    def master_cli(self, hold_port: int) -> None:
        self.save("master_show_proc", self.master("show proc"))
        self.save("master_show_cli_level", self.master("show cli level"))
        held = socket.create_connection((LOOPBACK, hold_port), timeout=5)
        held.sendall(b"hello\n")
        time.sleep(0.3)
        try:
            answer = self.master("reload", timeout=30)
            self.save("master_reload_success", answer)
            self.new_style_reload = b"Success=" in answer
            time.sleep(0.5 if self.new_style_reload else 2.0)
            self.save("master_show_proc_after_reload", self.master("show proc"))
            # a reload that fails at bind time: the port is held by this script
            blocker = socket.socket()
            blocker.bind((LOOPBACK, 0))
            blocker.listen(1)
            try:
                port = blocker.getsockname()[1]
                (self.work / "haproxy.cfg").write_text(self.cfg_text + conflict_section(port))
                self.save("master_reload_failure", self.master("reload", timeout=30))
                time.sleep(0.5 if self.new_style_reload else 2.0)
                self.save("master_show_proc_after_failed_reload", self.master("show proc"))
            finally:
                blocker.close()
                (self.work / "haproxy.cfg").write_text(self.cfg_text)
            if self.new_style_reload:
                self.save("master_show_startup_logs", self.master("show startup-logs"))
            self.save("master_reload_recovery", self.master("reload", timeout=30))
            time.sleep(0.5 if self.new_style_reload else 2.0)
            self.save("master_show_proc_after_recovery", self.master("show proc"))
        finally:
            held.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self._stop(self.proc)
        finally:
            if self.log:
                self.log.close()

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        pids = [int(p) for p in re.findall(rb"^(\d+)\s", self._try_master(b"show proc"), re.M)]
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        for pid in pids:  # workers the master may have left behind
            if wait_gone(pid, 5):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid, 5)

    def _try_master(self, cmd: bytes) -> bytes:
        try:
            return cli(self.work / "master.sock", cmd.decode(), timeout=5, half_close=True)
        except OSError:
            return b""


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        time.sleep(0.05)
    return False


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary, outdir = argv[1], Path(argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    backends = Backends()
    closed = bound_unused()
    dns = bound_unused(socket.SOCK_DGRAM)
    with tempfile.TemporaryDirectory(prefix="hacapture-") as tmp:
        cap = Capture(binary, outdir, Path(tmp), backends.flags)
        try:
            ports = backends.start()
            ports |= {"closed": closed.getsockname()[1], "dns": dns.getsockname()[1],
                      "fe": free_port(), "fe_stopped": free_port(), "fe_shut": free_port(),
                      "tcp_hold": free_port()}
            print(f"{binary}: checks", file=sys.stderr)
            cap.checks()
            print(f"{binary}: runtime", file=sys.stderr)
            cap.start(ports)
            cap.traffic(ports["fe"])
            cap.runtime_changes()
            cap.wait_steady()
            cap.catch_transitions()
            cap.reads()
            cap.errors()
            print(f"{binary}: master CLI", file=sys.stderr)
            cap.master_cli(ports["tcp_hold"])
        finally:
            cap.stop()
            backends.stop()
            closed.close()
            dns.close()
    print(f"saved to {outdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
