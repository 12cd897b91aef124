"""``haconsole config ...``: configuration changes through the file."""

from __future__ import annotations

import argparse


def add_config_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``haconsole config`` and its subcommands."""


def run_config(args: argparse.Namespace) -> int:
    return 2
