from __future__ import annotations

import pytest

from console.haproxy.errors import ValidationError
from console.haproxy.validate import (
    Command,
    build_command,
    check_command,
    check_int,
    check_name,
    check_server_ref,
    check_text,
    escape_value,
    seconds,
    split_words,
    verify_command,
    whole_number,
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


def test_built_command_reads_as_the_words_given() -> None:
    line = build_command("add", "map", "#1", "key;x", "v a;l\\")
    assert line == "add map #1 key\\;x v\\ a\\;l\\\\"
    assert check_command(line) == line
    assert isinstance(line, Command) and line.words == ("add", "map", "#1", "key;x", "v a;l\\")
    assert split_words(line) == list(line.words)
    assert verify_command(line) is line


@pytest.mark.parametrize("line", ["show info;show stat", "a\nb", "show info\\", "", "  ",
                                  "x " * 70])
def test_command_guard(line: str) -> None:
    with pytest.raises(ValidationError):
        check_command(line)


# --------------------------------------------------------------------------- payload mode

# HAProxy 2.6/2.8 read the lines after a command ending with "<<" as its payload; 3.x do
# so when the last blank-separated piece starts with "<<" (then a custom end pattern).
PAYLOAD_LINES = ["add acl #0 10.66.0.0/16<<", "add acl #0 <<", "add acl #0 <<EOF",
                 "add map #1 k v\\ <<x", "del map #1 <<", "add acl #0 x\\<<",
                 "show table t key <<k", "add acl #0 a<< "]


@pytest.mark.parametrize("line", PAYLOAD_LINES)
def test_command_guard_refuses_payload_mode(line: str) -> None:
    with pytest.raises(ValidationError, match="<<"):
        check_command(line)


@pytest.mark.parametrize("value", ["10.66.0.0/16<<", "<<", "<<EOF", "a <<b", "x<<", "a << b"])
def test_values_that_would_start_a_payload_are_refused_by_name(value: str) -> None:
    with pytest.raises(ValidationError, match="map value .*'<<'"):
        check_text(value, "map value")
    with pytest.raises(ValidationError, match="<<"):
        build_command("add", "map", "#1", "k", value)


@pytest.mark.parametrize("value", ["a<<b", "<a", "a<", "x < y", "<>"])
def test_lt_signs_elsewhere_are_fine(value: str) -> None:
    assert split_words(build_command("add", "map", "#1", "k", value))[-1] == value


# --------------------------------------------------------------------------- exact words

def test_a_command_with_other_words_than_intended_is_refused(monkeypatch) -> None:
    import console.haproxy.validate as v

    # an escaping that forgets blanks: the words HAProxy would read are not the intended
    monkeypatch.setattr(v, "escape_word", lambda w: w.replace(";", "\\;"))
    with pytest.raises(ValidationError, match="would be read as 7 word"):
        v.build_command("set", "server", "b/s", "addr", "fe80::1 port 1")


def test_only_built_commands_pass_the_plan_check() -> None:
    with pytest.raises(ValidationError, match="not built from checked words"):
        verify_command("set server b/s state maint")
    forged = Command("set server b/s addr 10.0.0.1 port 1", ["set", "server", "b/s", "addr",
                                                              "10.0.0.1 port 1"])
    with pytest.raises(ValidationError, match="not the 5 intended"):
        verify_command(forged)


def test_empty_words_are_refused() -> None:
    with pytest.raises(ValidationError, match="empty word"):
        build_command("del", "map", "#1", "")


# --------------------------------------------------------------------------- ASCII, UTF-8

@pytest.mark.parametrize("text", ["\u0668\u0660", "\u0968", "\uff18", "1_000", "\u00b2"])
def test_int_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValidationError, match="digits 0-9"):
        check_int(text, "maxconn", 0, 100_000)


def test_command_line_numbers_take_ascii_digits_only() -> None:
    assert seconds("1.5") == 1.5 and seconds("300") == 300.0 and whole_number("7") == 7
    for bad in ("\u0663\u0660", "1e3", "-1", "nan", "inf"):
        with pytest.raises(ValueError):
            seconds(bad)
    for bad in ("\u0663", "1.0", "-2"):
        with pytest.raises(ValueError):
            whole_number(bad)


def test_bytes_that_are_not_utf8_are_refused_by_name() -> None:
    key = b"k\xff".decode("utf-8", "surrogateescape")  # what argv gives for it
    with pytest.raises(ValidationError, match=r"map key 'k\\udcff' contains bytes that are "
                                              "not UTF-8"):
        check_text(key, "map key")
    with pytest.raises(ValidationError, match="not UTF-8"):
        check_command(f"del map #1 {key}")
    with pytest.raises(ValidationError, match="server name"):
        check_name(key, "server name")


@pytest.mark.parametrize("value", ["a\x1bb", "a\x9bb", "a\x85b", "a\x7fb"])
def test_escape_and_c1_controls_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="control character"):
        escape_value(value)


def test_line_separators_are_refused_in_values() -> None:
    """U+2028/U+2029 break lines for many readers (Python's splitlines included)."""
    from console.haproxy.validate import check_text

    for sep in ("\u2028", "\u2029"):
        with pytest.raises(ValidationError, match="control character"):
            check_text(f"be_web{sep}x", "map value")


def test_the_code_reads_digits_as_ascii_digits_only() -> None:
    """``\\d`` and ``str.isdigit`` also accept '٨' or '８' (and int() reads them): every
    pattern and digit check in the code says [0-9], or checks isascii first."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "console"
    found = [f"{path.relative_to(root)}:{n}: {line.strip()}"
             for path in sorted(root.rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1)
             if "\\d" in line or (".isdigit()" in line and ".isascii()" not in line)]
    assert not found, "\n".join(found)
