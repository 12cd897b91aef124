"""A real OpenSSH server on loopback for the remote tests, touching no system config.

Host and user keys are generated in a fresh directory, sshd listens on a free loopback
port with its own config (key login only, root allowed by key), and an ssh config file
names it ``lb1`` (``HostKeyAlias lb1``, known_hosts in the same directory); ``lb1-badkey``
and ``lb1-unknown`` are the same server with a changed or no known host key,
``lb1-closed`` a port where nothing listens, ``lb1-sudo`` a login as a user that is
not root (:data:`SUDO_USER`). The client
side runs ssh as the unprivileged user ``nobody`` (``setpriv``), which cannot open the
root-owned HAProxy sockets or files: whatever reaches them went through sshd.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.instance import free_port

SSHD = "/usr/sbin/sshd"
NOBODY = 65534

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_ed25519
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
AllowStreamLocalForwarding yes
AllowTcpForwarding local
X11Forwarding no
PrintMotd no
LogLevel ERROR
MaxSessions 50
MaxStartups 50:30:100
"""

CLIENT_CONFIG = """\
Host lb1 lb1-badkey lb1-unknown
    HostName 127.0.0.1
    Port {port}
    User root
    IdentityFile {dir}/client/id_ed25519
    IdentitiesOnly yes
    GlobalKnownHostsFile /dev/null
    LogLevel ERROR
Host lb1
    HostKeyAlias lb1
    UserKnownHostsFile {dir}/client/known_hosts
Host lb1-badkey
    HostKeyAlias lb1
    UserKnownHostsFile {dir}/client/known_hosts.changed
Host lb1-unknown
    HostKeyAlias lb1
    UserKnownHostsFile /dev/null
Host lb1-closed lb1-sudo
    HostName 127.0.0.1
    IdentityFile {dir}/client/id_ed25519
    IdentitiesOnly yes
    GlobalKnownHostsFile /dev/null
    LogLevel ERROR
    HostKeyAlias lb1
    UserKnownHostsFile {dir}/client/known_hosts
Host lb1-closed
    Port {closed_port}
    User root
Host lb1-sudo
    Port {port}
    User {sudo_user}
"""
SUDO_USER = "haconsole-sudo"
"""The login user of ``lb1-sudo``: not root, so its sudo asks for a password unless the
sudoers say NOPASSWD (see :func:`sudo_user`)."""

# ssh as nobody; the console's private directory (the parent of -S PATH) is handed over
WRAPPER = """\
#!/bin/sh
prev=
for a in "$@"; do
    if [ "$prev" = "-S" ]; then chown -R {uid}:{uid} "$(dirname "$a")"; fi
    prev=$a
done
exec setpriv --reuid={uid} --regid={uid} --clear-groups --pdeathsig=TERM -- {ssh} "$@"
"""


@dataclass
class SSHServer:
    dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    config: str  # the client's ssh -F file
    wrapper: str  # the ssh program to use (runs ssh as nobody)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def cut(self, timeout: float = 10) -> None:
        """Kill sshd and every connection it serves (SIGKILL, as a crash or a node that
        goes away), then the ssh clients of this server's config (the ControlMasters
        of the consoles using it); return once they are all gone."""
        victims = _descendants(self.proc.pid) + [self.proc.pid] + _clients_of(self.config)
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while _clients_of(self.config) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _clients_of(self.config), "an ssh client of the killed sshd is still alive"

    def env(self) -> dict[str, str]:
        """The environment that makes haconsole use the unprivileged ssh."""
        return {"HACONSOLE_SSH": self.wrapper}


def _proc_stat(pid: str) -> tuple[int, bytes] | None:
    """The parent PID and state of *pid*, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), fields[0]
    except (OSError, IndexError, ValueError):
        return None


def _descendants(root: int) -> list[int]:
    """Every live process below *root* (children first found, then theirs)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        st = _proc_stat(entry) if entry.isdigit() else None
        if st is not None and st[1] != b"Z":
            parents.setdefault(st[0], []).append(int(entry))
    out: list[int] = []
    todo = [root]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _clients_of(config: str) -> list[int]:
    """Live ssh processes started with ``-F config`` (this server's clients only, not
    another test session's)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        st = _proc_stat(entry)
        if st is not None and st[1] != b"Z" and argv[0].endswith(b"ssh") \
                and config.encode() in argv:
            found.append(int(entry))
    return found


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL)
    return path.with_suffix(".pub").read_text().strip()


def start_sshd() -> SSHServer:
    if not os.access(SSHD, os.X_OK):
        pytest.fail(f"{SSHD} is missing: install Debian's openssh-server (.ci/run does)")
    d = Path(tempfile.mkdtemp(prefix="haconsole-sshd-"))
    os.chmod(d, 0o755)
    client = d / "client"
    client.mkdir()
    host_pub = _keygen(d / "host_ed25519")
    user_pub = _keygen(client / "id_ed25519")
    (d / "authorized_keys").write_text(user_pub + "\n")
    (client / "known_hosts").write_text(f"lb1 {host_pub}\n")
    other_pub = _keygen(d / "other_ed25519")
    (client / "known_hosts.changed").write_text(f"lb1 {other_pub}\n")
    port = free_port()
    (d / "sshd_config").write_text(SSHD_CONFIG.format(port=port, dir=d))
    (client / "config").write_text(CLIENT_CONFIG.format(port=port, dir=d,
                                                         closed_port=free_port(),
                                                         sudo_user=SUDO_USER))
    for path in client.iterdir():
        os.chown(path, NOBODY, NOBODY)
    os.chown(client, NOBODY, NOBODY)
    wrapper = d / "ssh-as-nobody"
    wrapper.write_text(WRAPPER.format(uid=NOBODY, ssh=shutil.which("ssh") or "/usr/bin/ssh"))
    wrapper.chmod(0o755)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(d / "sshd.log", "wb"))  # noqa: SIM115
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return SSHServer(d, port, proc, str(client / "config"), str(wrapper))
        except OSError:
            time.sleep(0.05)
    log = (d / "sshd.log").read_text(errors="replace")
    proc.kill()
    pytest.fail(f"sshd did not start on 127.0.0.1:{port}: {log}")


SUDOERS = Path("/etc/sudoers.d/haconsole-test")


@contextlib.contextmanager
def sudo_user() -> Iterator[str]:
    """:data:`SUDO_USER` on this machine (the node's side), with a shell, a login that
    sshd accepts by key, and a sudoers rule that asks for a password (no NOPASSWD).

    Real sudo is required (Debian's ``sudo``, installed by ``.ci/run``): a stand-in
    would prove nothing about what sudo does. The user and the rule are removed after,
    when this made them.
    """
    if not shutil.which("sudo"):
        pytest.fail("sudo is missing: install Debian's sudo (.ci/run does)")
    made = False
    try:
        pwd.getpwnam(SUDO_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/bin/sh", SUDO_USER], check=True)
        made = True
    # '*': no password, not a locked account ('!', which sshd refuses without PAM)
    subprocess.run(["usermod", "-p", "*", SUDO_USER], check=True)
    SUDOERS.write_text(f"{SUDO_USER} ALL=(ALL:ALL) ALL\n")
    SUDOERS.chmod(0o440)
    try:
        yield SUDO_USER
    finally:
        SUDOERS.unlink(missing_ok=True)
        if made:
            subprocess.run(["userdel", SUDO_USER], check=False)
