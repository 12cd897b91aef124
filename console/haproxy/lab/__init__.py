"""The lab: a real HAProxy with live in-process backends, traffic and a control socket.

``run_lab(directory, haproxy)`` blocks until SIGINT/SIGTERM and stops everything it
started. ``control(directory, command)`` talks to a running lab.
"""

from __future__ import annotations

from .backends import PERSONALITIES
from .control import control
from .runner import run_lab

__all__ = ["PERSONALITIES", "control", "run_lab"]
