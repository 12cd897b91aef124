"""Values written into the config file take ASCII digits only: HAProxy reads 0-9."""

from __future__ import annotations

import pytest

from console.haproxy.config.values import check_address, server_value
from console.haproxy.errors import ValidationError

ARABIC_80 = "\u0668\u0660"  # "80" in Arabic-Indic digits: Python's \d and int() accept it


@pytest.mark.parametrize("key,value", [
    ("port", ARABIC_80), ("weight", ARABIC_80), ("maxconn", "\uff11\uff10"),
    ("inter", f"{ARABIC_80}s"), ("slowstart", "\u0968s"), ("rise", "\u00b2"),
])
def test_numbers_and_times_need_ascii_digits(key: str, value: str) -> None:
    with pytest.raises(ValidationError):
        server_value(key, value)


@pytest.mark.parametrize("addr", [f"10.0.0.1:{ARABIC_80}", "\u0661\u0660.0.0.1:80",
                                  f"[::1]:{ARABIC_80}"])
def test_addresses_need_ascii_digits(addr: str) -> None:
    with pytest.raises(ValidationError):
        check_address(addr)


def test_ascii_values_pass() -> None:
    assert server_value("port", "80") == "80"
    assert server_value("inter", "2s") == "2s"
    assert check_address("10.0.0.1:80") == "10.0.0.1:80"
