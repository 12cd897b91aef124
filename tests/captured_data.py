"""Real HAProxy output captured from 2.6 to 3.4 (see tests/data/captured/README.md)."""

from __future__ import annotations

from pathlib import Path

CAPTURED = Path(__file__).resolve().parent / "data" / "captured"
VERSIONS = ["2.6", "2.8", "3.0", "3.2", "3.4"]


def read(version: str, name: str) -> str:
    return (CAPTURED / version / name).read_text(encoding="utf-8")


def at_least(version: str, minimum: str) -> bool:
    """Whether the captured *version* ("3.2") is *minimum* ("2.8") or later."""
    return tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split(".")))
