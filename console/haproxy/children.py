"""Child processes that must not outlive the console."""

from __future__ import annotations

import signal


def die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """``preexec_fn``: the child gets SIGTERM when the thread that started it ends (its
    process exiting, or killed with SIGKILL) — Linux ``PR_SET_PDEATHSIG``; elsewhere a
    no-op. Start such children from a thread that lives as long as the console."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
