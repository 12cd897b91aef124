"""A real OpenSSH server on loopback for the remote tests, touching no system config.

Host and user keys are generated in a fresh directory, sshd listens on a free loopback
port with its own config (key login only, root allowed by key), and an ssh config file
names it ``lb1`` (``HostKeyAlias lb1``, known_hosts in the same directory). The client
side runs ssh as the unprivileged user ``nobody`` (``setpriv``), which cannot open the
root-owned HAProxy sockets or files: whatever reaches them went through sshd.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
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
"""

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

    def env(self) -> dict[str, str]:
        """The environment that makes haconsole use the unprivileged ssh."""
        return {"HACONSOLE_SSH": self.wrapper}


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
    (client / "config").write_text(CLIENT_CONFIG.format(port=port, dir=d))
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
