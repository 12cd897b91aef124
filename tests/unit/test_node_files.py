"""The node-side scripts and guards of :mod:`console.haproxy.node_files`, run here.

The node is this machine: the argv that ssh would run on the node is run locally (the
scripts are the same POSIX sh + coreutils). The real ssh path is covered by
tests/integration/test_ssh_config.py; here the hostile and broken answers.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from console.haproxy import node_files
from console.haproxy.atomic import WriteError
from console.haproxy.errors import HAProxyError
from console.haproxy.limits import AnswerTooLarge
from console.haproxy.node_files import NodeFiles
from console.haproxy.ssh import SSHError


@dataclass
class HereNode:
    """Runs the node's argv on this machine; *answer* replaces it when set."""

    host: str = "lb1"
    sudo: bool = False
    answer: list[str] | None = None
    seen: list[list[str]] = field(default_factory=list)

    def ensure(self) -> None:
        pass

    def command(self, argv: list[str]) -> list[str]:
        self.seen.append(argv)
        return self.answer or argv


def files_on(tmp_path: Path, node: HereNode | None = None) -> NodeFiles:
    (tmp_path / "state").mkdir(mode=0o700, exist_ok=True)
    return NodeFiles.for_instance(node or HereNode(), "lb1", str(tmp_path / "state"))  # type: ignore[arg-type]


def test_mirror_paths_stay_under_the_mirror(tmp_path: Path) -> None:
    nf = files_on(tmp_path)
    m = nf.mirror("/etc/haproxy/haproxy.cfg")
    assert m.startswith(nf.mirror_root + "/") and nf.remote(m) == "/etc/haproxy/haproxy.cfg"
    assert nf.where(m) == "lb1:/etc/haproxy/haproxy.cfg"
    for bad in ("/etc/../root/.ssh/x", "/etc/haproxy/../../x", "etc/haproxy.cfg",
                "/etc/ha\nproxy.cfg", "/etc/a:b"):
        with pytest.raises(SSHError):
            nf.mirror(bad)


def test_the_mirror_refuses_a_symlinked_directory(tmp_path: Path) -> None:
    (tmp_path / "state" / "nodes").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "state" / "nodes" / "lb1")
    with pytest.raises(WriteError, match="not a directory"):
        files_on(tmp_path)


def test_an_odd_instance_name_gets_a_hashed_directory(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    nf = NodeFiles.for_instance(HereNode(), "../../etc", str(tmp_path / "s"))  # type: ignore[arg-type]
    assert nf.mirror_root.startswith(str(tmp_path / "s" / "nodes" / "h-"))


def test_write_temp_and_replace_keep_mode_and_refuse_a_changed_file(tmp_path: Path) -> None:
    live = tmp_path / "haproxy.cfg"
    live.write_bytes(b"old\n")
    os.chmod(live, 0o640)
    nf = files_on(tmp_path)
    temp = nf.write_temp(str(live), b"new\n")
    assert os.path.dirname(temp) == str(tmp_path)
    assert os.path.basename(temp).startswith(".haconsole.")
    assert stat.S_IMODE(os.stat(temp).st_mode) == 0o640
    live.write_bytes(b"changed by someone on the node\n")
    with pytest.raises(WriteError, match="changed on the node"):
        nf.replace(temp, str(live), b"old\n")
    assert live.read_bytes() == b"changed by someone on the node\n"
    assert not os.path.exists(temp)  # the temp file is removed
    temp = nf.write_temp(str(live), b"new\n")
    desc = nf.replace(temp, str(live), b"changed by someone on the node\n")
    assert live.read_bytes() == b"new\n" and desc.startswith("mode -rw-r-----")


def test_a_node_that_answers_another_temp_path_is_refused(tmp_path: Path) -> None:
    live = tmp_path / "haproxy.cfg"
    live.write_bytes(b"x\n")
    nf = files_on(tmp_path, HereNode(answer=["sh", "-c", "cat >/dev/null; echo /etc/passwd"]))
    with pytest.raises(WriteError, match="unexpected temp path"):
        nf.write_temp(str(live), b"new\n")


def test_discard_and_replace_touch_only_their_own_temp_files(tmp_path: Path) -> None:
    victim = tmp_path / "precious"
    victim.write_bytes(b"keep\n")
    nf = files_on(tmp_path)
    nf.discard(str(victim))
    assert victim.read_bytes() == b"keep\n"
    target = tmp_path / "haproxy.cfg"
    target.write_bytes(b"x\n")
    with pytest.raises(WriteError):
        nf.replace(str(victim), str(target), None)
    assert victim.exists() and target.read_bytes() == b"x\n"


def test_an_endless_answer_is_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nf = files_on(tmp_path, HereNode(answer=["yes"]))
    with pytest.raises(AnswerTooLarge):
        nf.run(["true"], cap=1 << 16)
    big = tmp_path / "big.cfg"
    big.write_bytes(b"#" * 5000)
    monkeypatch.setattr(node_files, "MAX_FILE", 4096)
    with pytest.raises(AnswerTooLarge):
        files_on(tmp_path).read(str(big))


def test_a_node_that_never_answers_times_out(tmp_path: Path) -> None:
    nf = files_on(tmp_path, HereNode(answer=["sleep", "30"]))
    with pytest.raises(SSHError, match="did not finish within 1 s"):
        nf.run(["true"], timeout=1, what="a test")


def test_a_sudo_that_would_prompt_is_a_clear_refusal(tmp_path: Path) -> None:
    node = HereNode(sudo=True, answer=["sh", "-c", "echo 'sudo: a password is required' >&2; "
                                       "exit 1"])
    with pytest.raises(SSHError, match="sudo on lb1 would prompt for a password") as err:
        files_on(tmp_path, node).read("/etc/haproxy/haproxy.cfg")
    assert "NOPASSWD" in (err.value.hint or "")


def test_an_ssh_failure_is_explained(tmp_path: Path) -> None:
    node = HereNode(answer=["sh", "-c", "echo 'Host key verification failed.' >&2; exit 255"])
    with pytest.raises(SSHError, match="host key of lb1 is not known"):
        files_on(tmp_path, node).read("/etc/haproxy/haproxy.cfg")


def test_a_directory_gives_only_its_cfg_files(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    for name in ("10-a.cfg", "20-b.cfg", ".hidden.cfg", "notes.txt", "bad\nname.cfg",
                 "x.cfg.bak"):
        (d / name).write_bytes(b"# " + name.encode(errors="replace") + b"\n")
    (d / "dir.cfg").mkdir()
    nf = files_on(tmp_path)
    assert nf.expand([str(d)]) == [str(d / "10-a.cfg"), str(d / "20-b.cfg")]
    mirrored = nf.sync([str(d)])
    assert sorted(os.listdir(mirrored[0])) == ["10-a.cfg", "20-b.cfg"]
    (d / "20-b.cfg").unlink()
    nf.sync([str(d)])
    assert os.listdir(mirrored[0]) == ["10-a.cfg"]  # gone on the node: gone in the mirror


def test_a_missing_file_says_where(tmp_path: Path) -> None:
    with pytest.raises(HAProxyError, match="not found on the node") as err:
        files_on(tmp_path).sync(["/nonexistent/haproxy.cfg"])
    assert err.value.where == "lb1:/nonexistent/haproxy.cfg"


def test_environment_names_are_checked_before_env_i(tmp_path: Path) -> None:
    node = HereNode()
    nf = files_on(tmp_path, node)
    done = nf.run_in(str(tmp_path), ["sh", "-c", "echo \"$GOOD|$(pwd)\""],
                     environ={"GOOD": "1; rm -rf /", "BAD NAME": "x", "-i": "y"},
                     timeout=10, what="env")
    assert done.text.strip() == f"1; rm -rf /|{tmp_path}"
    argv = node.seen[-1]
    assert "BAD NAME=x" not in argv and "-i=y" not in argv


def test_a_node_without_its_files_never_reads_this_machines_proc(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's master PID means nothing here: building the apply target of a node
    whose files are not read is refused, discovery of local processes is never run."""
    import asyncio

    from console.haproxy import discovery
    from console.instance import Target, apply_target

    def forbidden(*args: object, **kw: object) -> None:
        raise AssertionError("local /proc read for a node")

    monkeypatch.setattr(discovery, "read_cmdline", forbidden)
    monkeypatch.setattr(discovery, "discover", forbidden)
    t = Target(name="lb1", ssh="lb1", socket="/tmp/forwarded.sock", master="/tmp/m.sock")
    with pytest.raises(HAProxyError, match="not read yet"):
        asyncio.run(apply_target(t))
