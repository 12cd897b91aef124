"""Where and how the HAProxy that loads a configuration file runs: :class:`ApplyTarget`.

Apart from the apply pipeline's steps (:mod:`console.haproxy.apply_steps`, which
re-exports it) so that staging an edit, which builds one, does not load the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.haproxy.node_files import NodeFiles


@dataclass
class ApplyTarget:
    """Where and how the HAProxy that loads the file runs (all optional but the method)."""

    name: str = "haproxy"
    socket: str | None = None  # stats socket
    master: str | None = None  # master CLI socket
    haproxy: str | None = None  # the service's binary, for `haproxy -c`
    haproxy_origin: str = "given"  # where `haproxy` comes from ("running instance"…)
    check_args: list[str] = field(default_factory=list)  # -W, -C DIR, -L NAME
    config_files: list[str] = field(default_factory=list)  # every -f of the service, in order
    cwd: str | None = None  # the service's working directory
    reload: str = "master"  # master | systemctl | command
    reload_command: str | None = None  # the command, or the unit for systemctl
    reload_timeout: float = 60.0
    running: bool = True  # False: nothing to reload (write only)
    environ: dict[str, str] | None = None  # the service's environment (None: ask /proc)
    environ_source: str = ""
    # A node over SSH: its files (the config path given to the pipeline is their local
    # mirror; see console.haproxy.node_files), the stats socket's path on the node, and
    # which node addresses reach it from here (socket and master are local forwards).
    files: NodeFiles | None = None
    node_socket: str | None = None
    forwards: dict[str, str] | None = None

    @property
    def has_runtime(self) -> bool:
        return self.running and bool(self.master or self.socket)

    @property
    def socket_name(self) -> str | None:
        """The stats socket as the configuration names it (the node's path on a node)."""
        return self.node_socket or self.socket

    def reachable(self, address: str) -> str | None:
        """Where to connect to reach the declared stats socket *address* (None: not
        from here: another node's loopback, an abstract socket…)."""
        if self.forwards is not None:
            return self.forwards.get(address)
        from console.haproxy.apply_guard import probe_address

        return probe_address(address)
