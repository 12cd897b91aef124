"""``-i`` once names one instance; more than once, an ad-hoc fleet (parsing only)."""

from __future__ import annotations

import argparse

import pytest

from console.cli import build_parser, main, split_instances
from console.fleet_cli import fleet_members
from console.haproxy.errors import ValidationError
from console.instance import Request


def parsed(*argv: str) -> argparse.Namespace:
    args = build_parser().parse_args(list(argv))
    split_instances(args)
    return args


def test_one_instance_stays_one_instance() -> None:
    args = parsed("-i", "lb1", "show", "stat")
    assert args.instance == "lb1" and args.instances == []
    assert Request.from_args(args).instance == "lb1"


def test_no_instance() -> None:
    args = parsed("show", "stat")
    assert args.instance is None and args.instances == []


def test_several_instances_are_a_fleet_in_their_order() -> None:
    args = parsed("-i", "lb2", "-i", "lb1", "show", "stat")
    assert args.instance is None and args.instances == ["lb2", "lb1"]
    assert fleet_members(args) == ["lb2", "lb1"]


def test_an_instance_named_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="-i lb1 is given twice"):
        fleet_members(parsed("-i", "lb1", "-i", "lb2", "-i", "lb1", "show", "stat"))


def test_a_request_never_takes_a_list_of_instances() -> None:
    raw = build_parser().parse_args(["-i", "a", "config", "diff"])  # before split_instances
    assert Request.from_args(raw).instance == "a"
    raw = build_parser().parse_args(["-i", "a", "-i", "b", "config", "diff"])
    with pytest.raises(ValidationError, match="names a fleet"):
        Request.from_args(raw)


def test_a_fleet_of_instances_takes_no_socket(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", "a", "-i", "b", "-s", "/x.sock", "show", "stat"]) == 2
    assert "-i given more than once takes its nodes from the settings" in \
        capsys.readouterr().err


def test_wave_without_a_fleet_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", "a", "server", "drain", "b/s", "--wave", "all", "--yes"]) == 2
    assert "--wave is for fleet changes" in capsys.readouterr().err
