"""Node-side commands and ssh's messages, without a network (see
tests/integration/test_ssh.py for a real sshd)."""

from __future__ import annotations

import shlex

import pytest

from console.haproxy.ssh import SSHError, SSHNode, check_host, check_remote_path, explain


@pytest.mark.parametrize("host", ["lb1", "ops@lb1.example.net", "10.0.0.7", "::1",
                                  "edge-01_a"])
def test_hosts_ssh_reads_as_hosts(host: str) -> None:
    assert check_host(host) == host


@pytest.mark.parametrize("host", ["", "-oProxyCommand=x", "lb1 -v", "lb1\n", "a;b", "$(x)",
                                  "lb1'", "x" * 300])
def test_anything_else_is_refused(host: str) -> None:
    with pytest.raises(SSHError, match="not an SSH host"):
        check_host(host)


@pytest.mark.parametrize("path", ["run/admin.sock", "/a:b", "/a\nb", "/a\x7fb", ""])
def test_remote_paths_are_absolute_and_plain(path: str) -> None:
    with pytest.raises(SSHError):
        check_remote_path(path, "socket")


def test_a_node_command_is_one_quoted_word_per_argument(monkeypatch) -> None:
    monkeypatch.setenv("HACONSOLE_SSH", "/usr/bin/ssh")
    node = SSHNode("lb1", sudo=True)
    node.dir = __import__("pathlib").Path("/tmp/x")
    argv = node.command(["haproxy", "-c", "-f", "/etc/haproxy/my file; rm -rf /"])
    assert argv[:1] == ["/usr/bin/ssh"] and argv[-2] == "lb1" and argv[-3] == "--"
    assert "StrictHostKeyChecking=yes" in argv and "BatchMode=yes" in argv
    assert shlex.split(argv[-1]) == ["sudo", "-n", "--", "haproxy", "-c", "-f",
                                     "/etc/haproxy/my file; rm -rf /"]


def test_ssh_messages_become_what_to_do() -> None:
    changed = explain("lb1", "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\n"
                             "Host key verification failed.\n", 255)
    assert "has changed: refused" in changed.what and "ssh-keygen -R lb1" in changed.hint
    unknown = explain("lb1", "No ED25519 host key is known for lb1 and you have requested "
                             "strict checking.\nHost key verification failed.\n", 255)
    assert "is not known: refused" in unknown.what
    denied = explain("lb1", "root@127.0.0.1: Permission denied (publickey).\n", 255)
    assert "refused the login" in denied.what and "never asks for a password" in denied.hint
    other = explain("lb1", "ssh: connect to host 127.0.0.1 port 1: Connection refused\n", 255)
    assert other.what.startswith("cannot reach lb1 over ssh: ssh: connect to host")
