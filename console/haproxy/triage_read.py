"""Reading the triage evidence over the runtime API: captured errors (``show errors``)
and streams (``show sess``, with ``older`` and ``show-uri`` where the version has them).

Shared by ``haconsole errors|sessions`` and the console's screens. A refusal for the
socket's level says which level is needed.
"""

from __future__ import annotations

from typing import Any

from console.haproxy.captured_errors import CapturedErrors, parse_errors
from console.haproxy.errors import PermissionDenied
from console.haproxy.sessions import Sessions, parse_sessions, show_sess_command


async def read_text(client: Any, command: str) -> str:
    """*command*'s answer; a refusal for the socket's level says which level it needs."""
    try:
        return str(await client.run(command))
    except PermissionDenied:
        what = " ".join(command.split()[:2])
        raise PermissionDenied(f"permission denied: '{what}' needs a socket at level "
                               "operator or admin", client.where,
                               "use a stats socket with 'level operator' or 'level admin'"
                               ) from None


async def read_errors(client: Any) -> CapturedErrors:
    """``show errors``, parsed."""
    return parse_errors(await read_text(client, "show errors"))


async def read_sessions(client: Any, older: float | None) -> tuple[Sessions, str]:
    """The streams (older than *older* seconds) and the command that listed them."""
    from console.haproxy.actions import haproxy_version

    command = show_sess_command(await haproxy_version(client), older)
    return parse_sessions(await read_text(client, command), older=older), command
