"""A host app that shows one screen under test, and a wait helper for Pilot tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.app import App


class Host(App[None]):
    """An app that only shows the screen under test."""

    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.under_test = screen

    def on_mount(self) -> None:
        self.push_screen(self.under_test)


async def until(pilot: Any, cond: Callable[[], Any], what: str, timeout: float = 10,
                detail: Callable[[], str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        extra = f": {detail()}" if detail else ""
        assert time.monotonic() < deadline, f"timed out waiting for {what}{extra}"
        await pilot.pause(0.05)
