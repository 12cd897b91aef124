"""Sending a fleet change by wave, its summary, and messages that name the node."""

from __future__ import annotations

import asyncio

import pytest

from console import fleet
from console.haproxy.errors import ValidationError
from console.instance import Target


def _changes(*names: str) -> list[fleet.NodeChange]:
    return [fleet.NodeChange(Target(name=n)) for n in names]


def _sender(failing: set[str], sent: list[str]) -> fleet.SendOne:
    async def send(change: fleet.NodeChange, index: int) -> bool:
        sent.append(change.target.name)
        if change.target.name in failing:
            change.error = "HAProxy refused it"
            return False
        return True

    return send


def test_a_rolling_wave_stops_at_the_first_failure() -> None:
    changes, sent = _changes("lb1", "lb2", "lb3"), []
    stopped = asyncio.run(fleet.send_wave(changes, "rolling", _sender({"lb2"}, sent)))
    assert stopped and sent == ["lb1", "lb2"]
    assert [c.outcome for c in changes] == ["done", "FAILED: HAProxy refused it",
                                            "not attempted"]
    lines = fleet.summary_lines(changes, stopped)
    assert lines[:3] == ["lb1: done", "lb2: FAILED: HAProxy refused it", "lb3: not attempted"]
    assert lines[3] == fleet.ROLLING_STOPPED


def test_a_wave_to_all_goes_on_after_a_failure() -> None:
    changes, sent = _changes("lb1", "lb2", "lb3"), []
    stopped = asyncio.run(fleet.send_wave(changes, "all", _sender({"lb1"}, sent)))
    assert not stopped and sent == ["lb1", "lb2", "lb3"]
    assert [c.ok for c in changes] == [False, True, True]


def test_an_unknown_wave_is_refused() -> None:
    with pytest.raises(ValidationError):
        asyncio.run(fleet.send_wave(_changes("lb1"), "sideways"))


def test_a_message_names_the_path_on_the_node_not_the_local_forward() -> None:
    t = Target(name="lb1", socket="/tmp/haconsole-ssh-x/stats.sock",
               master="/tmp/haconsole-ssh-x/master.sock", ssh="lb1",
               remote_socket="/run/haproxy/admin.sock", remote_master="/run/haproxy/m.sock")
    text = "cannot connect (/tmp/haconsole-ssh-x/stats.sock): is HAProxy running?"
    assert fleet.on_node(t, text) == \
        "cannot connect (lb1:/run/haproxy/admin.sock): is HAProxy running?"
    local = Target(name="lb3", socket="/run/haproxy/admin.sock")
    assert fleet.on_node(local, "x (/run/haproxy/admin.sock)") == "x (/run/haproxy/admin.sock)"


def test_the_config_hash_of_a_local_node_follows_its_file(tmp_path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("global\n")
    t = Target(name="lb3", config=str(cfg), configs=[str(cfg)])
    first = fleet.config_hash(t)
    assert first and len(first) == 12
    cfg.write_text("global\n    maxconn 10\n")
    assert fleet.config_hash(t) not in (None, first)
    assert fleet.config_hash(Target(name="lb1", ssh="lb1", configs=[str(cfg)])) is None
    assert fleet.config_hash(Target(name="x", configs=[str(tmp_path / "nope.cfg")])) is None


def test_the_config_hash_is_of_the_contents_in_order_not_the_paths(tmp_path) -> None:
    """Identical files give the same hash wherever they are (two local nodes, or a local
    and an SSH node: the node sends the sha256 of each file, combined the same way)."""
    from console.haproxy.atomic import sha256

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "conf.d").mkdir(parents=True)
        (d / "main.cfg").write_text("global\n")
        (d / "conf.d" / "10-x.cfg").write_text("backend x\n")
        (d / "conf.d" / "20-y.cfg").write_text("backend y\n")
    (b / "conf.d" / "notes.txt").write_text("not read by HAProxy\n")

    def node(d):
        return Target(name=d.name, configs=[str(d / "main.cfg"), str(d / "conf.d")])

    first = fleet.config_hash(node(a))
    assert first == fleet.config_hash(node(b))
    assert first == fleet.combined_hash([sha256(b"global\n"), sha256(b"backend x\n"),
                                         sha256(b"backend y\n")])
    # the order of the files counts: the same contents in another order differ
    (b / "conf.d" / "10-x.cfg").write_text("backend y\n")
    (b / "conf.d" / "20-y.cfg").write_text("backend x\n")
    assert fleet.config_hash(node(b)) != first
    # and the split between files too
    assert fleet.combined_hash([sha256(b"ab")]) != fleet.combined_hash(
        [sha256(b"a"), sha256(b"b")])


def test_the_hash_of_a_node_over_ssh_is_read_at_most_every_30_s(monkeypatch) -> None:
    calls: list[str] = []
    now = [1000.0]
    monkeypatch.setattr(fleet, "config_hash", lambda t: calls.append(t.name) or "h" + t.name)
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    cache = fleet.HashCache()
    ssh, local = Target(name="lb1", ssh="lb1"), Target(name="lb3")
    assert cache.get(ssh) == "hlb1" and cache.get(local) == "hlb3"
    now[0] += 29
    assert cache.get(ssh) == "hlb1" and cache.get(local) == "hlb3"
    assert calls == ["lb1", "lb3", "lb3"]  # a local file costs nothing: read each time
    now[0] += 2
    cache.get(ssh)
    assert calls == ["lb1", "lb3", "lb3", "lb1"]


class _Here:
    """A "node" that runs the node-side commands on this machine (no ssh)."""

    sudo = False
    host = "here"

    def ensure(self) -> None:
        pass

    def command(self, argv: list[str]) -> list[str]:
        return list(argv)


def test_the_node_side_hash_reads_the_files_haproxy_reads_in_its_order(tmp_path) -> None:
    """``NodeFiles.digests`` (one ``sh`` script on the node) picks and orders the files as
    a local ``expand_paths`` does, so a node's hash is the local hash of the same files."""
    from console.haproxy.atomic import WriteError
    from console.haproxy.node_files import NodeFiles

    conf = tmp_path / "conf.d"
    conf.mkdir()
    (tmp_path / "main.cfg").write_text("global\n")
    for name, text in (("20 b.cfg", "b\n"), ("10-a.cfg", "a\n"), ("x.cfg.cfg", "no\n"),
                       (".hidden.cfg", "no\n"), ("readme", "no\n"), ("é.cfg", "e\n")):
        (conf / name).write_text(text)
    (conf / "dir.cfg").mkdir()
    paths = [str(tmp_path / "main.cfg"), str(conf)]
    files = NodeFiles(_Here(), "", "lb1")  # type: ignore[arg-type]
    local = Target(name="lb3", configs=paths)
    assert fleet.combined_hash(files.digests(paths)) == fleet.config_hash(local)
    assert len(files.digests(paths)) == 4
    with pytest.raises(WriteError) as err:
        files.digests([str(tmp_path / "gone.cfg")])
    assert f"lb1:{tmp_path / 'gone.cfg'}" in str(err.value)
