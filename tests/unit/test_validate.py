from __future__ import annotations

import pytest

from console.haproxy.errors import ValidationError
from console.haproxy.validate import (
    build_command,
    check_command,
    check_int,
    check_name,
    check_server_ref,
    escape_value,
)


@pytest.mark.parametrize("name", ["be_app", "web-1", "a.b:c", "X9", "_"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "a;b", "a b", "a\nb", "a\rb", "a\x00b", "a/b", "ä",
                                  "a\tb", "a\\b", "x" * 300, "a#b", "$x"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        check_name(name, "server name")
    assert "server name" in str(exc.value)


def test_server_ref() -> None:
    assert check_server_ref("be/srv") == ("be", "srv")
    for bad in ("be", "be/srv/x", "be/", "/srv", "be/s;rv", "be/s rv"):
        with pytest.raises(ValidationError):
            check_server_ref(bad)


def test_int_range() -> None:
    assert check_int("256", "weight", 0, 256) == 256
    for bad in ("257", "-1", "abc", "1.5", ""):
        with pytest.raises(ValidationError):
            check_int(bad, "weight", 0, 256)


def test_escape_value() -> None:
    assert escape_value("a b;c\\d") == "a\\ b\\;c\\\\d"
    for bad in ("a\nb", "a\rb", "a\x00b", "a\x1bb"):
        with pytest.raises(ValidationError):
            escape_value(bad)


def test_escaped_value_passes_command_check() -> None:
    line = build_command("add", "map", "#1", escape_value("key;x"), escape_value("v a;l"))
    assert check_command(line) == line


@pytest.mark.parametrize("line", ["show info;show stat", "a\nb", "show info\\", "", "  ",
                                  "x " * 70])
def test_command_guard(line: str) -> None:
    with pytest.raises(ValidationError):
        check_command(line)
