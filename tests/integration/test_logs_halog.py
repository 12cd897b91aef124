"""The log summaries agree with halog on logs written by a real HAProxy.

One HAProxy per version (``log stdout format rfc3164``, its stdout to a file, the
shape halog reads) in front of local servers that answer 200, 404 or 500 after a
few milliseconds, one that never answers in time (504 ``sH``), a closed port (503
``SC``), ``http-request return`` (404 ``LR``) and ``deny`` (403 ``PR``) rules, and
clients that give up before a full request (``CR``/``cR``). Then, on the same file:
per-server counts equal ``halog -srv``'s, status counts ``halog -st``'s,
termination states ``halog -tc``'s, and ``haconsole logs summary --pct`` prints
exactly ``halog -pct``'s table.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from console.haproxy.binaries import Binary
from console.haproxy.logs import HalogPct, LineParser, Summary
from console.haproxy.logs.reader import read_lines
from console.logs_cli import run
from tests.instance import free_port

pytestmark = pytest.mark.haproxy

HALOG = shutil.which("halog") or "/usr/sbin/halog"
REQUESTS = 400


def _server(status: int, delay_ms: tuple[int, int]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            time.sleep(random.uniform(*delay_ms) / 1000.0)
            code = status if status else random.choice((200, 200, 200, 404))
            body = b"x" * random.randint(0, 2000)
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def logfile(haproxy_binary: Binary, tmp_path: Path) -> Iterator[Path]:
    random.seed(14)
    servers = {"web1": _server(200, (0, 5)), "web2": _server(0, (1, 30)),
               "web3": _server(500, (0, 2)), "slow": _server(200, (400, 450))}
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections refused
    fe = free_port()
    port = {k: s.server_address[1] for k, s in servers.items()}
    (tmp_path / "haproxy.cfg").write_text(f"""\
global
    log stdout format rfc3164 local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 500ms
    timeout client 2s
    timeout server 250ms
    timeout http-request 300ms

frontend fe_main
    bind 127.0.0.1:{fe}
    http-request return status 404 if {{ path_beg /missing }}
    http-request deny if {{ path_beg /admin }}
    use_backend be_slow if {{ path_beg /slow }}
    use_backend be_dead if {{ path_beg /dead }}
    default_backend be_web

backend be_web
    balance roundrobin
    server web1 127.0.0.1:{port['web1']}
    server web2 127.0.0.1:{port['web2']}
    server web3 127.0.0.1:{port['web3']}

backend be_slow
    server slow1 127.0.0.1:{port['slow']}

backend be_dead
    retries 0
    server dead1 127.0.0.1:{closed.getsockname()[1]}
""")
    log = tmp_path / "haproxy.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([haproxy_binary.path, "-db", "-f", "haproxy.cfg"],
                                cwd=tmp_path, stdout=out, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", fe), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    "HAProxy did not start"
                time.sleep(0.05)
        _traffic(fe)
        time.sleep(0.5)
        yield log
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGUSR1)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for s in servers.values():
            s.shutdown()
        closed.close()


def _get(port: int, path: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        with contextlib.suppress(OSError):
            while s.recv(65536):
                pass


def _partial(port: int, wait: bool) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /partial HTTP/1.1\r\nHost: t\r\n")
        if wait:  # the http-request timeout strikes: 408 cR
            with contextlib.suppress(OSError):
                while s.recv(65536):
                    pass
        # else closed at once: 400 CR


def _traffic(port: int) -> None:
    paths = (["/page"] * 20 + ["/missing", "/admin", "/dead", "/slow", "/ok?x=1"])
    jobs = [random.choice(paths) for _ in range(REQUESTS)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: _get(port, p), jobs))
        list(pool.map(lambda w: _partial(port, w), [True, False, False, True]))


def _halog(flag: str, log: Path) -> str:
    with open(log, "rb") as f:
        return subprocess.run([HALOG, "-q", flag], stdin=f, capture_output=True,
                              timeout=60, check=True).stdout.decode()


def _summary(log: Path, by: str) -> Summary:
    parser = LineParser.auto()
    summary = Summary(by)
    with open(log, "rb") as f:
        for n, line in enumerate(read_lines(f), 1):
            summary.add(parser.parse(line, n))
    return summary


@pytest.mark.skipif(not Path(HALOG).exists(), reason="halog not installed (Debian's haproxy)")
def test_summaries_agree_with_halog(logfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    by_server = _summary(logfile, "server")
    assert by_server.unparsed == 0, by_server.first_unparsed
    assert by_server.records >= REQUESTS

    # halog -srv: #srv_name 1xx 2xx 3xx 4xx 5xx other tot_req ...
    halog_srv = {}
    for line in _halog("-srv", logfile).splitlines()[1:]:
        name, *counts = line.split()
        halog_srv[name] = [int(c) for c in counts[:7]]
    ours = {key: [*g.classes[:5], g.classes[5], g.requests] for key, g in by_server.groups}
    assert ours == halog_srv
    # the traffic reached every kind of outcome
    assert {"be_web/web1", "be_web/web3", "be_slow/slow1", "be_dead/dead1",
            "fe_main/<NOSRV>"} <= set(ours)

    halog_st = {int(a): int(b) for a, b in (ln.split() for ln in
                                             _halog("-st", logfile).splitlines())}
    by_status = _summary(logfile, "status")
    assert {int(k): g.requests for k, g in by_status.groups} == halog_st
    assert {200, 404, 403, 500, 503, 504} <= set(halog_st)

    halog_tc = {a: int(b) for a, b in (ln.split() for ln in
                                        _halog("-tc", logfile).splitlines())}
    by_term = _summary(logfile, "termination")
    assert {k: g.requests for k, g in by_term.groups} == halog_tc
    assert {"--", "LR", "PR", "SC", "sH", "CR", "cR"} <= set(halog_tc)

    # halog -pct, exactly, from the library and from the command line
    pct = HalogPct()
    parser = LineParser.auto()
    with open(logfile, "rb") as f:
        for line in read_lines(f):
            pct.add(parser.parse(line))
    expected = _halog("-pct", logfile)
    assert pct.n > REQUESTS // 2
    assert pct.text() == expected

    import argparse
    args = argparse.Namespace(logs_action="summary", file=str(logfile), format=None,
                              logs_config=None, config=None, filter=None, json=True,
                              window=None, by="server", sort="key", top=0, pct=False)
    assert run(args) == 0
    groups = json.loads(capsys.readouterr().out)
    assert {g["key"]: g["requests"] for g in groups} == {k: v[6] for k, v in
                                                          halog_srv.items()}
    for g in groups:
        assert set(g["status_classes"]) == {"1xx", "2xx", "3xx", "4xx", "5xx", "other"}
        assert g["ta_p50"] <= g["ta_p95"] <= g["ta_p99"]
    args.pct, args.json = True, False
    assert run(args) == 0
    assert capsys.readouterr().out == expected
