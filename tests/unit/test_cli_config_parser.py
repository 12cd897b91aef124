"""``haconsole config …`` builds the config command's parser alone: same arguments, same
help and errors; anything else (help first, an unknown option) gets the whole parser."""

from __future__ import annotations

import pytest

from console.cli import build_parser, command_of


@pytest.mark.parametrize("argv", [
    ["-c", "f.cfg", "config", "set", "be/s1", "weight=5"],
    ["-c", "config", "config", "diff"],
    ["--fleet", "web", "config", "apply", "--canary", "lb1", "--yes"],
    ["-i", "a", "-i", "b", "--read-only", "config", "add-server", "be/x", "1.2.3.4:80"],
    ["--interval=5", "-c", "a.cfg", "-c", "conf.d/", "config", "history", "3"],
])
def test_the_config_parser_reads_what_the_whole_one_reads(argv: list[str]) -> None:
    assert command_of(argv) == "config"
    assert vars(build_parser("config").parse_args(argv)) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv,command", [
    (["-h", "config", "diff"], None),
    (["--version", "config"], None),
    (["--bogus", "config", "diff"], None),
    (["-c"], None),
    ([], None),
    (["-s", "/run/a.sock", "show", "stat"], "show"),
])
def test_the_command_is_found_before_the_parser_is_built(argv: list[str],
                                                         command: str | None) -> None:
    assert command_of(argv) == command


def test_config_errors_read_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    out = []
    for parser in (build_parser("config"), build_parser()):
        with pytest.raises(SystemExit):
            parser.parse_args(["-c", "f.cfg", "config", "set", "be/s"])
        out.append(capsys.readouterr().err)
    assert out[0] == out[1] and "KEY=VALUE" in out[0]
