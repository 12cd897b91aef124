"""Config rollout on a fleet: three real HAProxy instances, two reached over a real sshd
on loopback (ssh run as ``nobody``), one local.

The same ops are staged on each node's own file; ``config apply`` goes to a canary,
watches it, then the other nodes one by one; a failure stops it, and ``config revert``
returns the updated nodes to their previous file.
"""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.instance import Instance, start_instance
from tests.lab_helpers import send
from tests.sshd import SSHServer

pytestmark = pytest.mark.haproxy

LENIENT = "    default-server init-addr last,libc,none\n"


@pytest.fixture
def nodes(haproxy_binary: Any, tmp_path: Path) -> Iterator[list[Instance]]:
    started = []
    for i in range(3):
        d = tmp_path / f"node{i}"
        d.mkdir()
        started.append(start_instance(d, haproxy_binary.path))
    yield started
    for inst in started:
        inst.stop()


def settings(tmp_path: Path, sshd: SSHServer, nodes: list[Instance]) -> str:
    path = tmp_path / "settings.toml"
    path.write_text(f"""
[instances.lb1]
ssh = "lb1"
ssh_config = "{sshd.config}"
socket = "{nodes[0].admin}"
master = "{nodes[0].master}"

[instances.lb2]
ssh = "lb1"
ssh_config = "{sshd.config}"
socket = "{nodes[1].admin}"
master = "{nodes[1].master}"

[instances.lb3]
socket = "{nodes[2].admin}"
master = "{nodes[2].master}"

[fleets.prod]
instances = ["lb1", "lb2", "lb3"]
""")
    return str(path)


def haconsole(sshd: SSHServer, s: str, tmp_path: Path, *args: str,
              timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", "--settings", s, "--fleet", "prod",
                           *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL,
                          env={**os.environ, **sshd.env(),
                               "HACONSOLE_STATE_DIR": str(tmp_path / "console-state")})


def weight(node: Instance, server: str) -> str:
    rows = [r.split() for r in send(node.admin, "show servers state be_app").splitlines()
            if f" {server} " in f" {r} "]
    return rows[0][7] if rows else "absent"


def reloads(node: Instance) -> str:
    return send(node.master, "show proc").splitlines()[1].split()[2]


def lenient(node: Instance) -> None:
    """This node's be_app accepts servers whose name does not resolve (as lb1, lb2 in
    production might, and lb3 not)."""
    text = Path(node.config).read_text().replace("\nbackend be_app\n",
                                                 "\nbackend be_app\n" + LENIENT, 1)
    assert LENIENT in text
    Path(node.config).write_text(text)
    before = reloads(node)
    send(node.master, "reload")
    deadline = time.monotonic() + 20
    while reloads(node) == before and time.monotonic() < deadline:
        time.sleep(0.1)


def test_rollout_reaches_every_node(sshd: SSHServer, nodes: list[Instance],
                                    tmp_path: Path) -> None:
    s = settings(tmp_path, sshd, nodes)
    originals = [Path(n.config).read_text() for n in nodes]
    out = haconsole(sshd, s, tmp_path, "config", "set", "be_app/app1", "weight=7")
    assert out.returncode == 0, out.stdout + out.stderr
    assert all(f"── {n} ──" in out.stdout for n in ("lb1", "lb2", "lb3"))
    assert "lb1:/" in out.stdout + out.stderr or "weight 7" in out.stdout
    diff = haconsole(sshd, s, tmp_path, "config", "diff")
    assert diff.returncode == 1 and diff.stdout.count("+    server app1") == 3
    out = haconsole(sshd, s, tmp_path, "config", "apply", "--canary", "lb2", "--soak", "2",
                    "--yes")
    res = out.stdout + out.stderr
    assert out.returncode == 0, res
    assert res.index("── lb2: apply ──") < res.index("── lb1: apply ──") \
        < res.index("── lb3: apply ──")
    assert "soak: watching lb2 for 2 s" in res
    assert "differs from lb2's" in res  # each node's own ports: the ops applied to each file
    for node, original in zip(nodes, originals, strict=True):
        assert weight(node, "app1") == "7"
        text = Path(node.config).read_text()
        assert "weight 7" in text and text != original
    for name in ("lb1", "lb2", "lb3"):
        assert re.search(rf"{name}: updated \(version [0-9]+\)", res), res


def test_a_node_that_fails_the_check_stops_the_rollout_and_revert(
        sshd: SSHServer, nodes: list[Instance], tmp_path: Path) -> None:
    """lb1 and lb2 accept a server whose name does not resolve; lb3's file does not, so
    its ``haproxy -c`` fails: lb3 is left as it was, the summary says where each node
    stands, and ``config revert`` returns lb1 and lb2 to their previous file."""
    s = settings(tmp_path, sshd, nodes)
    lenient(nodes[0])
    lenient(nodes[1])
    originals = [Path(n.config).read_text() for n in nodes]
    out = haconsole(sshd, s, tmp_path, "config", "add-server", "be_app/app9",
                    "app9.invalid:80")
    assert out.returncode == 0, out.stdout + out.stderr
    out = haconsole(sshd, s, tmp_path, "config", "apply", "--soak", "0", "--yes")
    res = out.stdout + out.stderr
    assert out.returncode == 1, res
    assert "haproxy -c found errors" in res and "app9.invalid" in res
    assert re.search(r"lb1: updated \(version [0-9]+\)", res), res
    assert re.search(r"lb2: updated \(version [0-9]+\)", res)
    assert "lb3: FAILED" in res
    assert "haconsole --fleet prod config revert" in res
    assert Path(nodes[2].config).read_text() == originals[2]
    assert weight(nodes[0], "app9") != "absent" and weight(nodes[2], "app9") == "absent"
    out = haconsole(sshd, s, tmp_path, "config", "revert", "--yes")
    res = out.stdout + out.stderr
    assert out.returncode == 0, res
    assert res.index("── lb2: revert ──") < res.index("── lb1: revert ──")
    for node, original in zip(nodes[:2], originals[:2], strict=True):
        assert Path(node.config).read_text() == original
        assert weight(node, "app9") == "absent"
    again = haconsole(sshd, s, tmp_path, "config", "revert", "--yes")
    assert again.returncode == 0 and "no rollout to revert" in again.stdout


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_a_canary_worse_than_its_baseline_is_rolled_back(
        sshd: SSHServer, nodes: list[Instance], tmp_path: Path) -> None:
    """Real backends answer 200 on the canary; the change disables both servers that
    take traffic, so the canary answers 503: the soak sees it against the baseline,
    the canary goes back to its previous file, the other nodes are not touched."""
    s = settings(tmp_path, sshd, nodes)
    canary = nodes[0]
    text = Path(canary.config).read_text()
    ports = [int(p) for p in re.findall(r"server app[12] 127\.0\.0\.1:([0-9]+)", text)]
    fe = int(re.search(r"frontend fe_main\n    bind 127\.0\.0\.1:([0-9]+)", text)[1])  # type: ignore[index]
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", p), _Ok) for p in ports]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{fe}/", timeout=2).read()
            except OSError:
                pass
            time.sleep(0.02)

    gen = threading.Thread(target=traffic, daemon=True)
    gen.start()
    originals = [Path(n.config).read_text() for n in nodes]
    try:
        for server in ("app1", "app2"):
            out = haconsole(sshd, s, tmp_path, "config", "set", f"be_app/{server}",
                            "disabled=true")
            assert out.returncode == 0, out.stdout + out.stderr
        out = haconsole(sshd, s, tmp_path, "config", "apply", "--canary", "lb1",
                        "--soak", "8", "--yes")
    finally:
        stop.set()
        gen.join(5)
        for srv in servers:
            srv.shutdown()
            srv.server_close()
    res = out.stdout + out.stderr
    assert out.returncode == 1, res
    assert "lb1: soak failed: 5xx on" in res
    assert re.search(r"lb1: rolled back to its previous file \(soak failed", res), res
    assert "lb2: not attempted" in res and "lb3: not attempted" in res
    for node, original in zip(nodes, originals, strict=True):
        assert Path(node.config).read_text() == original
