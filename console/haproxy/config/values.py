"""Checking values before they are written into the configuration file.

Per field:

- numbers are checked against HAProxy's ranges (``weight`` 0–256, ``maxconn``
  0–2147483647 where 0 means no limit, ``port`` 1–65535, ``rise``/``fall`` ≥ 1…);
- times (``inter``, ``slowstart``…) are a number with an optional unit
  (``us ms s m h d``);
- addresses must parse as HAProxy addresses and be a plain word;
- names (``track``) must use HAProxy's name charset;
- any other value is free text, written with :func:`quote_word` so HAProxy reads
  it back as one word; control characters and empty values are refused.
"""

from __future__ import annotations

import ipaddress
import re

from console.haproxy.config.grammar import (
    PATH_PREFIXES,
    SERVER_FLAG_KEYWORDS,
    SERVER_KEYWORDS,
    base_keyword,
    parse_address,
)
from console.haproxy.config.lexer import check_plain, quote_word
from console.haproxy.errors import ValidationError
from console.haproxy.validate import check_int, check_name

INT_MAX = 2**31 - 1
_INT_RANGES: dict[str, tuple[int, int]] = {
    "weight": (0, 256),
    "maxconn": (0, INT_MAX),
    "maxqueue": (0, INT_MAX),
    "minconn": (0, INT_MAX),
    "id": (1, INT_MAX),
    "rise": (1, INT_MAX),
    "fall": (1, INT_MAX),
    "error-limit": (1, INT_MAX),
    "port": (1, 65535),
    "agent-port": (1, 65535),
    "pool-max-conn": (-1, INT_MAX),
    "pool-low-conn": (0, INT_MAX),
    "max-reuse": (-1, INT_MAX),
    "shard": (0, INT_MAX),
}
_TIMES = frozenset({"inter", "fastinter", "downinter", "slowstart", "agent-inter",
                    "pool-purge-delay", "tcp-ut", "idle-ping"})
_TIME_RE = re.compile(r"[0-9]+(?:us|ms|s|m|h|d)?")
_ADDRESSES = frozenset({"addr", "agent-addr", "socks4", "source"})
_HOST_RE = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
                      r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?")
_PORT_RE = re.compile(r"[+-]?[0-9]{1,5}")
_KNOWN_PREFIXES = frozenset({"ipv4@", "ipv6@", "udp@", "udp4@", "udp6@", "tcp@", "tcp4@",
                             "tcp6@", "quic4@", "quic6@", "mptcp@", "mptcp4@", "mptcp6@",
                             *PATH_PREFIXES})


def check_address(text: str, what: str = "address", *, port_required: bool = False) -> str:
    """An ``ADDR[:PORT]`` HAProxy reads as one server address; returned unchanged."""
    if not isinstance(text, str) or not text:
        raise ValidationError(f"empty {what}", hint="give ADDR:PORT, e.g. 10.0.0.5:8080")
    check_plain(text, what)
    addr = parse_address(text)
    hint = "give ADDR:PORT, e.g. 10.0.0.5:8080, [2001:db8::1]:80 or unix@/path"
    if addr.prefix and addr.prefix.split("+")[-1] not in _KNOWN_PREFIXES:
        raise ValidationError(f"unknown address prefix {addr.prefix!r} in {what} {text!r}",
                              hint=hint)
    if addr.prefix and addr.prefix.split("+")[-1] in PATH_PREFIXES or text.startswith("/"):
        if not addr.host:
            raise ValidationError(f"{what} {text!r} has no path", hint=hint)
        return text
    if not addr.host:
        raise ValidationError(f"{what} {text!r} has no host", hint=hint)
    if not _valid_host(addr.host, bracketed="[" in text):
        raise ValidationError(f"invalid host {addr.host!r} in {what} {text!r}", hint=hint)
    if addr.port is None:
        if port_required:
            raise ValidationError(f"{what} {text!r} has no port", hint=hint)
        if ":" in addr.host and not text.endswith(":") and "[" not in text:
            raise ValidationError(
                f"{what} {text!r} is ambiguous",
                hint="HAProxy reads what follows the last ':' as the port: write "
                     "[v6]:port, or end a bare IPv6 address with ':'")
        return text
    if not _PORT_RE.fullmatch(addr.port) or not 0 <= abs(int(addr.port)) <= 65535:
        raise ValidationError(f"invalid port {addr.port!r} in {what} {text!r}",
                              hint="a port is 1-65535 (or +N / -N relative to the "
                                   "incoming port)")
    if addr.port.isascii() and addr.port.isdigit() and int(addr.port) == 0:
        raise ValidationError(f"port 0 in {what} {text!r}", hint="a port is 1-65535")
    return text


def _valid_host(host: str, *, bracketed: bool) -> bool:
    if bracketed or ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    if host == "*":
        return True
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return bool(_HOST_RE.fullmatch(host)) and len(host) <= 253


def server_value(key: str, value: object) -> str:
    """The text to write for server keyword *key* with *value* (validated, quoted)."""
    base = base_keyword(key)
    if base not in SERVER_KEYWORDS:
        raise ValidationError(f"unknown server keyword {key!r}",
                              hint="use a keyword from HAProxy's server options, "
                                   "or edit the file as text")
    if base in SERVER_FLAG_KEYWORDS:
        raise ValidationError(f"server keyword {key!r} is a flag",
                              hint="set it to true or false")
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"server keyword {key!r} needs a value, not {value!r}")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError(f"value of {key!r} must be text, not {type(value).__name__}")
    if base in _INT_RANGES:
        lo, hi = _INT_RANGES[base]
        return str(check_int(value, key, lo, hi))
    if base in _TIMES:
        if not _TIME_RE.fullmatch(value):
            raise ValidationError(f"invalid time {value!r} for {key!r}",
                                  hint="a number with an optional unit: us, ms, s, m, h, d")
        return value
    if base in _ADDRESSES:
        return check_address(value, f"{key} address")
    if base == "track":
        parts = value.split("/")
        if len(parts) > 2:
            raise ValidationError(f"invalid track target {value!r}",
                                  hint="write SERVER or BACKEND/SERVER")
        for part in parts:
            check_name(part, "track target")
        return value
    return quote_word(value, f"value of {key!r}")


def keyword_word(word: str, what: str = "keyword") -> str:
    """A word of a keyword (``timeout``, ``server``…): a plain word with no specials."""
    if not isinstance(word, str):
        raise ValidationError(f"{what} must be text, not {type(word).__name__}")
    return check_plain(word, what)
