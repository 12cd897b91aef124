"""How long one exchange with HAProxy may take, and how big its answer may be.

Every read from a stats socket, the master CLI or the stats page has a total
deadline (connect + send + read, not a timeout per byte: a peer that trickles one
byte a second must not hold the console) and a size cap (an endless answer must
not grow the console's memory without bound).

The limits are process-wide: the command line sets them once from the settings
(``[limits]``, ``HACONSOLE_TIMEOUT``, ``HACONSOLE_MAX_ANSWER_MB``); every client
created afterwards uses them unless its caller gives its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.haproxy.errors import HAProxyError

MIB = 1024 * 1024
# `show stat` of 50,000 servers is about 13 MB (12.4 MB on 2.8, 13.1 MB on 3.4);
# `show table` of a big stick table can be much more.
DEFAULT_MAX_ANSWER = 256 * MIB
DEFAULT_TIMEOUT = 10.0
TIMEOUT_RANGE = (0.5, 600.0)  # seconds
MAX_ANSWER_MB_RANGE = (1, 4096)
DEFAULT_INTERVAL = 2.0  # seconds between two refreshes of the console
INTERVAL_RANGE = (0.1, 3600.0)


class AnswerTooLarge(HAProxyError):
    """An answer grew past the size cap: reading stopped and the connection was closed."""


@dataclass(frozen=True)
class Limits:
    timeout: float = DEFAULT_TIMEOUT  # seconds, total per exchange
    max_answer: int = DEFAULT_MAX_ANSWER  # bytes per answer


_current = Limits()


def current() -> Limits:
    return _current


def configure(*, timeout: float | None = None, max_answer: int | None = None) -> Limits:
    """Set the process-wide limits (None keeps the value); returns the new limits."""
    global _current
    _current = Limits(timeout=_current.timeout if timeout is None else float(timeout),
                      max_answer=_current.max_answer if max_answer is None else int(max_answer))
    return _current


def reset() -> None:
    """Back to the defaults (tests)."""
    global _current
    _current = Limits()


def too_large(what: str, where: str, cap: int) -> AnswerTooLarge:
    return AnswerTooLarge(
        f"the answer to {what} is larger than {format_size(cap)}: stopped reading", where,
        "if this instance really is that big, raise [limits] max_answer_mb in the settings "
        "(or HACONSOLE_MAX_ANSWER_MB)")


def format_size(n: int) -> str:
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


TIMEOUT_HINT = ("HAProxy may be busy or stuck; retry, or raise [limits] timeout in the "
                "settings (or HACONSOLE_TIMEOUT)")


__all__ = ["AnswerTooLarge", "Limits", "configure", "current", "format_size", "reset",
           "too_large"]
