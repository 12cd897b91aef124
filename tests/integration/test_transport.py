"""The runtime API and master CLI clients against real HAProxy processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time

import pytest

from console.haproxy import errors
from console.haproxy.transport import MasterClient, RuntimeClient, parse_address

pytestmark = pytest.mark.haproxy


@pytest.mark.parametrize("which,level", [("admin", "admin"), ("operator", "operator"),
                                          ("user", "user"), ("tcp", "admin")])
async def test_cli_level_each_socket(instance, which, level) -> None:
    client = RuntimeClient(getattr(instance, which))
    assert (await client.run("show cli level")).strip() == level


async def test_interactive_and_per_command_agree(instance) -> None:
    per = RuntimeClient(instance.admin)
    inter = RuntimeClient(instance.admin, interactive=True)
    try:
        for _ in range(3):
            a = await per.run("show servers state be_app")
            b = await inter.run("show servers state be_app")
            cut = lambda t: [ln.split()[:9] for ln in t.splitlines()]  # noqa: E731
            assert cut(a) == cut(b)
            assert "app1" in a
        # a closed idle connection is reopened transparently
        await inter.close()
        assert (await inter.run("show cli level")).strip() == "admin"
    finally:
        await inter.close()


async def test_concurrent_commands(instance) -> None:
    client = RuntimeClient(instance.admin)
    answers = await asyncio.gather(*(client.run("show cli level") for _ in range(20)))
    assert {a.strip() for a in answers} == {"admin"}


async def test_unknown_command_is_typed(instance) -> None:
    with pytest.raises(errors.UnknownCommand) as exc:
        await RuntimeClient(instance.admin).run("show nonsense")
    assert instance.admin in str(exc.value)


async def test_permission_denied_is_typed(instance) -> None:
    with pytest.raises(errors.PermissionDenied) as exc:
        await RuntimeClient(instance.user).run("set server be_app/app1 state drain")
    assert "level admin" in str(exc.value)
    state = await RuntimeClient(instance.admin).run("show servers state be_app")
    assert " app1 " in state


async def test_no_such_server_is_typed(instance) -> None:
    with pytest.raises(errors.NoSuchObject):
        await RuntimeClient(instance.admin).run("set server be_app/nosuch state drain")
    with pytest.raises(errors.NoSuchObject):
        await RuntimeClient(instance.admin).run("set server nosuch/app1 state drain")


@pytest.mark.parametrize("line", [
    "show info;show stat", "show info\nshow stat", "show info\rx", "show\x00info",
    "set server be_app/app1 state drain;shutdown sessions server be_app/app1",
])
async def test_injection_refused_before_connecting(line) -> None:
    # The socket does not exist: a ValidationError (not SocketMissing) proves that
    # nothing was even connected, let alone sent.
    with pytest.raises(errors.ValidationError):
        await RuntimeClient("/nonexistent/admin.sock").run(line)


async def test_injection_leaves_state_identical(instance) -> None:
    client = RuntimeClient(instance.admin)
    before = await client.run("show servers state")
    for line in ("set server be_app/app1 state maint;show info",
                 "set server be_app/app1 state maint\n", "set weight be_app/app1 0\x00"):
        with pytest.raises(errors.ValidationError):
            await client.run(line)
    after = await client.run("show servers state")
    cut = lambda t: [ln.split()[:9] for ln in t.splitlines()]  # noqa: E731
    assert cut(before) == cut(after)


async def test_missing_socket() -> None:
    with pytest.raises(errors.SocketMissing) as exc:
        await RuntimeClient("/nonexistent/admin.sock").run("show info")
    msg = str(exc.value)
    assert "/nonexistent/admin.sock" in msg and "running" in msg


async def test_refused_on_stale_socket(tmp_path) -> None:
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()  # the file stays, nobody listens: what a stopped HAProxy leaves
    with pytest.raises(errors.ConnectionRefused) as exc:
        await RuntimeClient(path).run("show info")
    assert path in str(exc.value)


async def test_refused_on_tcp() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(errors.ConnectionRefused):
        await RuntimeClient(f"127.0.0.1:{port}").run("show info")


async def test_read_timeout(tmp_path) -> None:
    path = str(tmp_path / "mute.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    try:
        t0 = time.monotonic()
        with pytest.raises(errors.Timeout) as exc:
            await RuntimeClient(path, read_timeout=0.3).run("show info")
        assert time.monotonic() - t0 < 3
        assert "0.3 s" in str(exc.value)
    finally:
        server.close()


def test_permission_on_socket_file() -> None:
    """A user outside the socket's group gets a clear message, not a traceback."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root to act as another user")
    d = tempfile.mkdtemp(prefix="haconsole-perm-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "admin.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    os.chmod(path, 0o660)
    try:
        os.setegid(65534)
        os.seteuid(65534)
        try:
            with pytest.raises(errors.SocketPermission) as exc:
                asyncio.run(RuntimeClient(path).run("show info"))
        finally:
            os.seteuid(0)
            os.setegid(0)
        msg = str(exc.value)
        assert "permission denied" in msg and path in msg and "group" in msg
    finally:
        server.close()
        shutil.rmtree(d)


async def test_master_routing(instance) -> None:
    master = MasterClient(instance.master)
    assert (await master.run_on(1, "show cli level")).strip() == "admin"
    proc = await master.run("show proc")
    assert "master" in proc and "# workers" in proc
    worker_pid = int(proc.split("# workers")[1].split()[0])
    answer = await master.run_on(f"!{worker_pid}", "show info")
    assert f"Pid: {worker_pid}" in answer
    with pytest.raises(errors.NoSuchObject):
        await master.run_on("!999999", "show info")
    with pytest.raises(errors.ValidationError):
        await master.run_on("1;reload", "show info")


def test_parse_address_forms() -> None:
    assert parse_address("/run/haproxy/admin.sock").kind == "unix"
    assert parse_address("unix@/run/x.sock").path == "/run/x.sock"
    a = parse_address("ipv4@127.0.0.1:9999")
    assert (a.kind, a.host, a.port) == ("tcp", "127.0.0.1", 9999)
    b = parse_address("ipv6@[::1]:9999")
    assert (b.kind, b.host, b.port) == ("tcp", "::1", 9999)
    assert str(b) == "[::1]:9999"
    assert parse_address("localhost:80").kind == "tcp"
    assert parse_address("./admin.sock").kind == "unix"
    with pytest.raises(errors.ValidationError):
        parse_address("udp@1.2.3.4:5")


async def _worker_pids(master: MasterClient) -> list[int]:
    for _ in range(100):
        try:
            text = await master.run("show proc")
            workers = text.split("# workers")[1].split("#")[0]
            return [int(line.split()[0]) for line in workers.strip().splitlines()]
        except errors.ConnectError:
            await asyncio.sleep(0.1)  # the master re-executes during a reload
    raise AssertionError("master socket did not come back")


async def test_master_reload(instance, haproxy_binary) -> None:
    master = MasterClient(instance.master)
    before = await _worker_pids(master)
    answer = await master.reload()
    if haproxy_binary.branch >= (2, 7):
        assert answer.startswith("Success=1"), answer
    else:
        assert answer.strip() == ""  # 2.6 answers nothing and closes the connection
    deadline = time.monotonic() + 15
    after = before
    while time.monotonic() < deadline and after == before:
        await asyncio.sleep(0.2)
        after = await _worker_pids(master)
    assert after != before, "no new worker after reload"
    # the stats socket answers again after the reload
    for _ in range(50):
        try:
            assert (await RuntimeClient(instance.admin).run("show cli level")).strip() == "admin"
            break
        except errors.ConnectError:
            await asyncio.sleep(0.1)


# -- several commands in one exchange ---------------------------------------------------

def _cut_clocks(answer: str) -> list[list[str]]:
    """A ``show stat`` answer without the columns that move between two reads."""
    from console.haproxy.model import CLOCK_FIELDS

    lines = answer.splitlines()
    header = lines[0][2:].split(",")
    keep = [i for i, name in enumerate(header) if name not in CLOCK_FIELDS]
    return [[ln.split(",")[i] for i in keep] for ln in lines[1:] if ln]


async def test_a_batch_answers_as_its_commands_one_by_one(instance, monkeypatch) -> None:
    """HAProxy runs ``;``-joined commands in order and ends each answer with an empty
    line: the batch gives each command's own answer, in one connection."""
    from console.haproxy import transport

    client = RuntimeClient(instance.admin)
    stat = await client.run("show stat")
    iids = sorted({ln.split(",")[27] for ln in stat.splitlines()[1:] if ln})
    commands = ["show info", *(f"show stat {iid} -1 -1" for iid in iids), "show stat -1 3 -1",
                "show stat 999 -1 -1"]
    opened = 0
    real_open = RuntimeClient._open

    async def counting_open(self):
        nonlocal opened
        opened += 1
        return await real_open(self)

    monkeypatch.setattr(RuntimeClient, "_open", counting_open)
    batch = await client.run_batch(commands)
    assert opened == 1
    one_by_one = [await client.run(c) for c in commands]
    assert batch is not None and len(batch) == len(commands)
    assert batch[0].startswith("Name: HAProxy") and "Pid:" in batch[0]
    for command, got, want in zip(commands[1:], batch[1:], one_by_one[1:], strict=True):
        assert got.startswith("# pxname,"), command
        assert _cut_clocks(got) == _cut_clocks(want), command
    assert _cut_clocks(batch[-1]) == []  # no proxy 999: the header alone
    # past the line's size the batch takes more exchanges, each answer still its own
    monkeypatch.setattr(transport, "BATCH_LINE", 20)
    opened = 0
    again = await client.run_batch(commands[1:4])
    assert opened == 3 and again is not None
    assert [_cut_clocks(a) for a in again] == [_cut_clocks(a) for a in one_by_one[1:4]]


async def test_an_error_inside_a_batch_is_typed(instance) -> None:
    client = RuntimeClient(instance.admin)
    with pytest.raises(errors.NoSuchObject):
        await client.run_batch(["show stat -1 3 -1", "show stat nosuch -1 -1",
                                "show stat -1 3 -1"])
    with pytest.raises(errors.UnknownCommand):
        await client.run_batch(["show info", "show nonsense"])


@pytest.mark.parametrize("commands", [
    ["show info", "show stat;shutdown sessions server be_app/app1"],
    ["show info", "show stat\nset server be_app/app1 state maint"],
    ["show stat", "show\x00info"],
    ["show stat -1 3 -1", "set map /tmp/m <<"],
])
async def test_a_batch_checks_each_command_before_connecting(commands) -> None:
    """``;`` only joins the commands the console made: one holding it is refused, and
    nothing is sent (no socket there: a ValidationError, not SocketMissing)."""
    with pytest.raises(errors.ValidationError):
        await RuntimeClient("/nonexistent/admin.sock").run_batch(commands)


async def test_the_master_cli_runs_a_batch_one_by_one(instance) -> None:
    master = MasterClient(instance.master)
    answers = await master.run_batch(["show proc", "show version"])
    assert answers is not None and "master" in answers[0] and answers[1].strip()
