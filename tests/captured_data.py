"""Real HAProxy output captured from 2.6 and 2.8 (see tests/data/captured/README.md)."""

from __future__ import annotations

from pathlib import Path

CAPTURED = Path(__file__).resolve().parent / "data" / "captured"
VERSIONS = ["2.6", "2.8"]


def read(version: str, name: str) -> str:
    return (CAPTURED / version / name).read_text(encoding="utf-8")
