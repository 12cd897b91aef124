"""Capture real HAProxy log lines for the log parser tests.

Usage: python tests/data/capture_logs.py HAPROXY_BINARY OUTDIR

Starts HAProxy (foreground, ``-db``) in a temporary directory with one frontend per
log format (``option httplog``, ``option httpslog``, ``option tcplog``, ``option
httplog clf``, ``option tcplog clf`` where the version has it, a custom
``log-format``, and no option at all: the "Connect from" default), sending every
line to one UNIX datagram socket per syslog header variant (``format rfc3164``,
``rfc5424``, ``local``, ``priority``, ``short``, ``timed``, ``iso``, ``raw``; a
variant the binary refuses is left out and listed in ``OUTDIR/formats.txt``).
Drives traffic that ends in many termination states (200, 404 from
``http-request return``, 403 from ``deny``, 503 from a refused server, 504 from a
server that never answers, 408 from a client that never finishes its request, a
client that closes at once), then saves each socket's datagrams, one per line, to
``OUTDIR/<variant>.log`` and the configuration to ``OUTDIR/haproxy.cfg``. Every
process it starts is stopped before it exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture import LOOPBACK, Backends, bound_unused, free_port  # noqa: E402

VARIANTS = ("rfc3164", "rfc5424", "local", "priority", "short", "timed", "iso", "raw")
CUSTOM_FORMAT = ('%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc '
                 '%sq/%bq %{+Q}r %HM %{+Q}HU %HP %HV %ID %pid %rt %lc %{+Q}[var(txn.host)] '
                 '%fi:%fp %si:%sp %Tq %Th %Ti %Tt %U %ms %{+X}Ts %%')


def config(p: dict[str, int], sockets: dict[str, Path], tcp_clf: bool) -> str:
    logs = "".join(f"    log {path} len 8192 format {variant} local0 info\n"
                   for variant, path in sockets.items())
    tcp_clf_section = f"""
frontend fe_tcpclf
    mode tcp
    option tcplog clf
    bind 127.0.0.1:{p['fe_tcpclf']}
    default_backend be_tcp
""" if tcp_clf else ""
    return f"""\
global
{logs}
defaults
    mode http
    log global
    timeout connect 1s
    timeout client 2s
    timeout server 500ms
    timeout http-request 500ms

frontend fe_http
    option httplog
    bind 127.0.0.1:{p['fe_http']}
    capture request header Host len 32
    capture response header Content-Type len 32
    http-request return status 404 content-type text/plain string nope if {{ path_beg /missing }}
    http-request deny if {{ path_beg /admin }}
    use_backend be_down if {{ path_beg /down }}
    use_backend be_slow if {{ path_beg /slow }}
    default_backend be_web

frontend fe_https
    option httpslog
    bind 127.0.0.1:{p['fe_https']}
    default_backend be_web

frontend fe_clf
    option httplog clf
    bind 127.0.0.1:{p['fe_clf']}
    capture request header User-Agent len 40
    default_backend be_web

frontend fe_custom
    unique-id-format %{{+X}}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
    log-format "{CUSTOM_FORMAT}"
    http-request set-var(txn.host) req.hdr(host)
    bind 127.0.0.1:{p['fe_custom']}
    use_backend be_down if {{ path_beg /down }}
    default_backend be_web

frontend fe_default
    bind 127.0.0.1:{p['fe_default']}
    default_backend be_web

frontend fe_tcp
    mode tcp
    option tcplog
    bind 127.0.0.1:{p['fe_tcp']}
    default_backend be_tcp
{tcp_clf_section}
backend be_web
    balance roundrobin
    server web1 127.0.0.1:{p['ok']}
    server web2 127.0.0.1:{p['notfound']}
    server web3 127.0.0.1:{p['bad']}

backend be_down
    server dead1 127.0.0.1:{p['closed']}

backend be_slow
    server hold1 127.0.0.1:{p['hold']}

backend be_tcp
    mode tcp
    server tcp1 127.0.0.1:{p['ok']}
"""


class Sink:
    """UNIX datagram sockets, read in a thread until stopped."""

    def __init__(self, work: Path) -> None:
        self.paths = {v: work / f"log-{v}.sock" for v in VARIANTS}
        self.socks: dict[str, socket.socket] = {}
        self.lines: dict[str, list[bytes]] = {v: [] for v in VARIANTS}
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        for v, path in self.paths.items():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.bind(str(path))
            s.settimeout(0.05)
            self.socks[v] = s
        self.thread.start()

    def _run(self) -> None:
        while not self.stop_flag.is_set():
            for v, s in self.socks.items():
                with contextlib.suppress(TimeoutError, BlockingIOError):
                    while True:
                        s.settimeout(0.01)
                        self.lines[v].append(s.recv(65536))

    def stop(self) -> None:
        time.sleep(0.5)
        self.stop_flag.set()
        self.thread.join(5)
        for s in self.socks.values():
            s.close()


def accepted(binary: str, variant: str, work: Path) -> bool:
    cfg = work / f"check-{variant}.cfg"
    cfg.write_text(f"global\n    log /dev/log format {variant} local0\n"
                   "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n"
                   "    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:1\n")
    res = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, timeout=30)
    return res.returncode == 0


def request(port: int, raw: bytes, source: str = LOOPBACK, read: bool = True) -> None:
    with socket.create_connection((LOOPBACK, port), timeout=5,
                                  source_address=(source, 0)) as s:
        if raw:
            s.sendall(raw)
        if read:
            with contextlib.suppress(OSError):
                while s.recv(65536):
                    pass


def get(port: int, path: str, source: str = LOOPBACK, extra: str = "") -> None:
    request(port, (f"GET {path} HTTP/1.1\r\nHost: www.example.com\r\n"
                   f"User-Agent: capture/1.0 (test)\r\n{extra}Connection: close\r\n\r\n")
            .encode(), source)


def traffic(p: dict[str, int]) -> None:
    clients = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    for i in range(6):
        get(p["fe_http"], f"/page/{i}?q={i}", clients[i % 3])
    get(p["fe_http"], "/missing/thing", clients[1])
    get(p["fe_http"], "/admin", clients[2])
    get(p["fe_http"], "/down/x", clients[0])
    get(p["fe_http"], "/slow", clients[0])  # the server never answers: 504 sH
    request(p["fe_http"], b"GET /incomplete HTTP/1.1\r\nHost: x\r\n")  # 408 cR
    request(p["fe_http"], b"", read=False)  # connect, close at once
    request(p["fe_http"], b"BOGUS\x01 \"q\" HTTP/1.1\r\n\r\n")  # 400
    get(p["fe_http"], '/odd"quote%20 and\tspace', clients[2])
    for i in range(3):
        get(p["fe_https"], f"/s/{i}", clients[i % 3])
        get(p["fe_clf"], f"/clf/{i}", clients[i % 3])
        get(p["fe_custom"], f"/c/{i}", clients[i % 3])
    get(p["fe_custom"], "/down/y")
    get(p["fe_default"], "/default")
    request(p["fe_tcp"], b"GET / HTTP/1.0\r\n\r\n")
    if "fe_tcpclf" in p:
        request(p["fe_tcpclf"], b"GET / HTTP/1.0\r\n\r\n")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary, outdir = argv[1], Path(argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    backends = Backends()
    closed = bound_unused()
    with tempfile.TemporaryDirectory(prefix="halogcap-") as tmp:
        work = Path(tmp)
        variants = [v for v in VARIANTS if accepted(binary, v, work)]
        (outdir / "formats.txt").write_text(
            "".join(f"{v} {'yes' if v in variants else 'refused'}\n" for v in VARIANTS))
        tcp_clf = subprocess.run(
            [binary, "-c", "-f", "/dev/stdin"], capture_output=True, timeout=30,
            input=b"defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n"
                  b"frontend f\n  mode tcp\n  option tcplog clf\n  bind 127.0.0.1:1\n"
        ).returncode == 0
        sink = Sink(work)
        ports = backends.start()
        ports |= {"closed": closed.getsockname()[1]}
        for fe in ("fe_http", "fe_https", "fe_clf", "fe_custom", "fe_default", "fe_tcp",
                   *(("fe_tcpclf",) if tcp_clf else ())):
            ports[fe] = free_port()
        text = config(ports, {v: sink.paths[v] for v in variants}, tcp_clf)
        (work / "haproxy.cfg").write_text(text)
        sink.start()
        proc = subprocess.Popen([binary, "-db", "-f", "haproxy.cfg"], cwd=work,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    request(ports["fe_default"], b"", read=False)
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        err = proc.stderr.read() if proc.poll() is not None else b""
                        print(err.decode(errors="replace"), file=sys.stderr)
                        raise
                    time.sleep(0.1)
            time.sleep(0.3)
            for lines in sink.lines.values():
                lines.clear()  # drop the start-up probe
            traffic(ports)
            time.sleep(1.0)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGUSR1)  # soft stop: the last lines get out
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            sink.stop()
            backends.stop()
            closed.close()
        for v in variants:
            (outdir / f"{v}.log").write_bytes(b"".join(line.rstrip(b"\n") + b"\n"
                                                       for line in sink.lines[v]))
        (outdir / "haproxy.cfg").write_text(text.replace(str(work) + "/", "/tmp/capture/"))
    print(f"saved to {outdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
