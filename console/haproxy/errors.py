"""Typed errors with messages written for the person on call.

Every error carries three parts: what failed, where (socket, URL, file) and
what to check next. ``str(err)`` joins them on one line, suitable for a CLI
exit message or a notification in the UI.
"""

from __future__ import annotations


class HAProxyError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, what: str, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = self.what
        if self.where:
            text += f" ({self.where})"
        if self.hint:
            text += f": {self.hint}"
        return text

    def __str__(self) -> str:
        return self.message


class ConnectError(HAProxyError):
    """The socket or URL could not be reached at all."""


class SocketMissing(ConnectError):
    pass


class SocketPermission(ConnectError):
    pass


class ConnectionRefused(ConnectError):
    pass


class Timeout(HAProxyError):
    pass


class ConnectionLost(HAProxyError):
    """The peer closed the connection before answering."""


class CommandRejected(HAProxyError):
    """HAProxy answered with an error message instead of doing the command."""

    def __init__(self, what: str, where: str | None = None, hint: str | None = None,
                 *, answer: str = "") -> None:
        self.answer = answer
        super().__init__(what, where, hint)


class PermissionDenied(CommandRejected):
    pass


class UnknownCommand(CommandRejected):
    pass


class NoSuchObject(CommandRejected):
    """No such backend / server / frontend / table / map."""


class ParseError(HAProxyError):
    pass


class ValidationError(HAProxyError):
    """Input refused before anything was sent or written."""


class ConfigError(HAProxyError):
    """A settings, theme or HAProxy configuration file is unusable."""


class NotFound(HAProxyError):
    """A binary, a file or an instance could not be found."""
