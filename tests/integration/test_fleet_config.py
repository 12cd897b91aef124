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

from console.haproxy.binaries import Binary
from tests.conftest import BINARIES
from tests.instance import Instance, start_instance
from tests.lab_helpers import send
from tests.sshd import SSHServer, start_sshd

pytestmark = pytest.mark.haproxy

LENIENT = "    default-server init-addr last,libc,none\n"


def mixes(*offsets: int) -> Any:
    """Fleets of three nodes of different HAProxy versions (as during an upgrade), each
    test starting at another *offset* in the list of binaries, so that the module runs
    the rollout on every version the suite has (the pipeline on one node is tested on
    each version in test_ssh_config)."""
    def fleet(offset: int) -> list[Binary]:
        return [BINARIES[(offset + i) % len(BINARIES)] for i in range(3)]

    return pytest.mark.parametrize(
        "nodes", [fleet(o) for o in offsets], indirect=True,
        ids=["+".join(f"{b.branch[0]}.{b.branch[1]}" for b in fleet(o)) for o in offsets])


@pytest.fixture
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Instance]]:
    if not BINARIES:
        pytest.fail("no HAProxy binary found")
    started = []
    try:
        for i, binary in enumerate(request.param):
            d = tmp_path / f"node{i}"
            d.mkdir()
            started.append(start_instance(d, binary.path))
        yield started
    finally:
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


@mixes(0, 3)
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


@mixes(1)
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


@mixes(2)
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


def _settings_with(tmp_path: Path, tables: str, members: str) -> str:
    path = tmp_path / "settings.toml"
    path.write_text(tables + f"\n[fleets.prod]\ninstances = [{members}]\n")
    return str(path)


def _ssh_table(name: str, node: Instance, sshd: SSHServer, host: str = "lb1",
               extra: str = "") -> str:
    return (f'[instances.{name}]\nssh = "{host}"\nssh_config = "{sshd.config}"\n'
            f'socket = "{node.admin}"\nmaster = "{node.master}"\n{extra}\n')


def _local_table(name: str, node: Instance) -> str:
    return f'[instances.{name}]\nsocket = "{node.admin}"\nmaster = "{node.master}"\n'


@mixes(4)
def test_sshd_killed_during_a_rollout(nodes: list[Instance], tmp_path: Path) -> None:
    """lb1 (local, the canary) is updated; then sshd and every ssh connection die: lb2
    fails with its file untouched, lb3 is not attempted, and the updated canary can be
    reverted with the one command the summary gives."""
    own = start_sshd()
    try:
        s = _settings_with(tmp_path, _local_table("lb1", nodes[0])
                           + _ssh_table("lb2", nodes[1], own) + _ssh_table("lb3", nodes[2], own),
                           '"lb1", "lb2", "lb3"')
        originals = [Path(n.config).read_text() for n in nodes]
        out = haconsole(own, s, tmp_path, "config", "set", "be_app/app1", "weight=5")
        assert out.returncode == 0, out.stdout + out.stderr
        flag = tmp_path / "paused"
        cmd = [sys.executable, "-m", "console", "--settings", s, "--fleet", "prod", "config",
               "apply", "--soak", "0", "--yes"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **own.env(),
                                     "HACONSOLE_STATE_DIR": str(tmp_path / "console-state"),
                                     "HACONSOLE_FAULT": f"pause:rollout-before-node-2:{flag}"})
        try:
            deadline = time.monotonic() + 90
            while not flag.exists():
                assert proc.poll() is None and time.monotonic() < deadline, \
                    proc.communicate(timeout=5)
                time.sleep(0.05)
            assert weight(nodes[0], "app1") == "5"  # the canary is updated
            own.cut()
            flag.unlink()
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        res = stdout + stderr
        assert proc.returncode == 1, res
        assert "Traceback" not in res and "haconsole-ssh-" not in res, res
        assert re.search(r"lb1: updated \(version [0-9]+\)", res), res
        assert re.search(r"lb2: FAILED.*(ssh|lb1)", res), res
        assert "lb3: not attempted" in res
        assert "haconsole --fleet prod config revert" in res
        assert [Path(n.config).read_text() for n in nodes[1:]] == originals[1:]
        assert [weight(n, "app1") for n in nodes] == ["5", "10", "10"]
        out = haconsole(own, s, tmp_path, "config", "revert", "--yes")
        res = out.stdout + out.stderr
        assert out.returncode == 0, res
        assert Path(nodes[0].config).read_text() == originals[0]
        assert weight(nodes[0], "app1") == "10"
    finally:
        own.stop()


@mixes(3)
@pytest.mark.parametrize("host, words", [
    ("lb1-badkey", "the host key of lb1-badkey has changed"),
    ("lb1-closed", "cannot reach lb1-closed"),
])
def test_an_unusable_node_refuses_the_rollout_before_anything(
        sshd: SSHServer, nodes: list[Instance], tmp_path: Path, host: str, words: str) -> None:
    s = settings(tmp_path, sshd, nodes)
    out = haconsole(sshd, s, tmp_path, "config", "set", "be_app/app1", "weight=4")
    assert out.returncode == 0, out.stdout + out.stderr
    originals = [Path(n.config).read_text() for n in nodes]
    text = Path(s).read_text().replace('[instances.lb2]\nssh = "lb1"',
                                       f'[instances.lb2]\nssh = "{host}"')
    Path(s).write_text(text)
    out = haconsole(sshd, s, tmp_path, "config", "apply", "--soak", "0", "--yes")
    res = out.stdout + out.stderr
    assert out.returncode == 1, res
    assert words in res and "nothing was applied" in res, res
    assert "Traceback" not in res
    assert [Path(n.config).read_text() for n in nodes] == originals
    assert [weight(n, "app1") for n in nodes] == ["10", "10", "10"]
