"""The grammar of ``server``, ``default-server``, ``server-template`` and ``bind`` lines.

Keyword tables come from HAProxy's own keyword registrations (``srv_kws`` in
``src/server.c``, ``src/check.c``, ``src/cfgparse-ssl.c``, ``src/cfgparse-tcp.c``;
``bind_kws`` likewise), 2.6 to 3.x: for each keyword, whether it takes a value.

Rule for words not in the tables (newer or build-specific keywords): an unknown
word takes the next word as its value when that next word is not a known keyword
itself; otherwise it is a flag. Every word is kept as written either way.

Addresses are split as HAProxy's ``str2sa_range()`` does: an optional family
prefix (``ipv4@``, ``ipv6@``, ``unix@``, ``abns@``, ``fd@``, ``sockpair@``…), then
for ``[v6]:port`` the bracketed part, for unix paths the whole rest, otherwise
the port is what follows the *last* colon — so a bare IPv6 address must end with
``:`` when it has no port (``::1:``), exactly as in HAProxy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from console.haproxy.config.lexer import argument_end
from console.haproxy.config.model import Line

# Server keywords that take one value.
SERVER_VALUE_KEYWORDS = frozenset("""
addr agent-addr agent-inter agent-port agent-send alpn ca-file check-alpn
check-pool-conn-name check-proto check-sni ciphers ciphersuites client-sigalgs cookie
crl-file crt curves downinter error-limit fall fastinter guid hash-key id idle-ping
init-addr init-state inter interface log-bufsize log-proto max-reuse maxconn maxqueue
minconn namespace npn observe on-error on-marked-down on-marked-up pool-conn-name
pool-low-conn pool-max-conn pool-purge-delay port proto proxy-v2-options redir
resolve-net resolve-opts resolve-prefer resolvers rise set-proxy-v2-tlv-fmt shard
sigalgs slowstart sni socks4 source ssl-max-ver ssl-min-ver tcp-md5sig tcp-ut track
usesrc verify verifyhost weight ws
""".split())

# Server keywords that are flags (no value).
SERVER_FLAG_KEYWORDS = frozenset("""
agent-check allow-0rtt backup check check-reuse-pool check-send-proxy check-ssl
check-via-socks4 disabled enabled force-sslv3 force-tlsv10 force-tlsv11 force-tlsv12
force-tlsv13 no-agent-check no-backup no-check no-check-send-proxy no-check-ssl
no-renegotiate no-send-proxy no-send-proxy-v2 no-send-proxy-v2-ssl
no-send-proxy-v2-ssl-cn no-ssl no-ssl-reuse no-sslv3 no-tfo no-tls-tickets no-tlsv10
no-tlsv11 no-tlsv12 no-tlsv13 non-stick renegotiate send-proxy send-proxy-v2
send-proxy-v2-ssl send-proxy-v2-ssl-cn ssl ssl-reuse stick strict-maxconn tfo
tls-tickets
""".split())

SERVER_KEYWORDS = SERVER_VALUE_KEYWORDS | SERVER_FLAG_KEYWORDS

# A flag and the flag that cancels it (both directions).
_PAIRS = {
    "disabled": "enabled", "check": "no-check", "backup": "no-backup", "stick": "non-stick",
    "agent-check": "no-agent-check", "check-send-proxy": "no-check-send-proxy",
    "check-ssl": "no-check-ssl", "send-proxy": "no-send-proxy",
    "send-proxy-v2": "no-send-proxy-v2", "send-proxy-v2-ssl": "no-send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn": "no-send-proxy-v2-ssl-cn", "ssl": "no-ssl",
    "ssl-reuse": "no-ssl-reuse", "tls-tickets": "no-tls-tickets", "tfo": "no-tfo",
    "renegotiate": "no-renegotiate",
}
FLAG_OPPOSITES: dict[str, str] = {**_PAIRS, **{v: k for k, v in _PAIRS.items()}}
# The cancelling half of each pair ("enabled", "no-check"…).
NEGATIVE_FLAGS = frozenset(_PAIRS.values())

BIND_VALUE_KEYWORDS = frozenset("""
accept-netscaler-cip alpn backlog ca-file ca-ignore-err ca-sign-file ca-sign-pass
ca-verify-file ciphers ciphersuites client-sigalgs crl-file crt crt-ignore-err crt-list
curves default-crt ecdhe expose-fd gid group guid-prefix id idle-ping interface label
level maxconn mode mss name namespace nbconn nice npn process proto quic-cc-algo
quic-socket severity-output shards sigalgs ssl-max-ver ssl-min-ver tcp-md5sig tcp-ut
thread tls-ticket-keys uid user verify
""".split())

BIND_FLAG_KEYWORDS = frozenset("""
accept-proxy allow-0rtt defer-accept force-sslv3 force-tlsv10 force-tlsv11 force-tlsv12
force-tlsv13 generate-certificates no-alpn no-ca-names no-sslv3 no-tls-tickets no-tlsv10
no-tlsv11 no-tlsv12 no-tlsv13 prefer-client-ciphers quic-force-retry ssl strict-sni tfo
transparent v4v6 v6only
""".split())

BIND_KEYWORDS = BIND_VALUE_KEYWORDS | BIND_FLAG_KEYWORDS

_PREFIX_RE = re.compile(r"(?:(?:stream|dgram)\+)?[a-z][a-z0-9]*@")
PATH_PREFIXES = frozenset({"unix@", "abns@", "abnsz@", "uxst@", "uxdg@", "sockpair@",
                            "fd@", "rhttp@"})
SERVER_LINE_KEYWORDS = ("server", "default-server", "server-template")


def base_keyword(word: str) -> str:
    """``set-proxy-v2-tlv-fmt(0x20)`` → ``set-proxy-v2-tlv-fmt`` (HAProxy ignores from '(')."""
    return word.split("(", 1)[0]


class Param(NamedTuple):
    """One parameter: ``key`` alone (a flag) or ``key value``; indexes into the line's words.

    (Immutable; a tuple, cheap to make: a big configuration has hundreds of thousands.)
    """

    key: str
    value: str | None
    key_index: int
    value_index: int | None

    @property
    def is_flag(self) -> bool:
        return self.value_index is None


@dataclass(frozen=True)
class Address:
    text: str  # as HAProxy reads it
    prefix: str | None  # "ipv4@", "unix@"…
    host: str
    port: str | None  # text after the port colon; None without one ("" is None too)

    def __str__(self) -> str:
        return self.text


def parse_address(text: str) -> Address:
    return Address(text, *address_parts(text))


def address_parts(text: str) -> tuple[str | None, str, str | None]:
    """``(prefix, host, port)`` of an address, as :class:`Address` holds them (without
    making one: every server of a big file has an address)."""
    prefix = None
    rest = text
    m = _PREFIX_RE.match(text)
    if m:
        prefix = m.group()
        rest = text[m.end():]
    if (prefix and prefix.split("+")[-1] in PATH_PREFIXES) or rest.startswith("/"):
        return prefix, rest, None
    if rest.startswith("["):
        close = rest.find("]")
        if close > 0:
            after = rest[close + 1:]
            port = after[1:] if after.startswith(":") else None
            return prefix, rest[1:close], port or None
    host, colon, port = rest.rpartition(":")
    if not colon:
        return prefix, rest, None
    return prefix, host, port or None


def parse_params(line: Line, start: int, values: frozenset[str],
                 known: frozenset[str]) -> tuple[Param, ...]:
    words = line.words
    end = argument_end(words)  # HAProxy reads nothing after an empty word
    params: list[Param] = []
    i = start
    while i < end:
        key = words[i].value
        base = base_keyword(key)
        takes_value = base in values or (
            base not in known and i + 1 < end
            and base_keyword(words[i + 1].value) not in known)
        if takes_value and i + 1 < end:
            params.append(Param(key, words[i + 1].value, i, i + 1))
            i += 2
        else:
            params.append(Param(key, None, i, None))
            i += 1
    return tuple(params)


@dataclass(frozen=True)
class ServerLine:
    """``server NAME ADDR[:PORT] [params]``, ``default-server [params]`` or
    ``server-template PREFIX N FQDN[:PORT] [params]`` (``name`` is the prefix)."""

    kind: str
    name: str | None
    address: str | None  # host part, without prefix or port
    port: str | None
    params: tuple[Param, ...]
    addr: Address | None = None
    addr_index: int | None = None
    count: str | None = None  # server-template: "N" or "LOW-HIGH"

    def param(self, key: str) -> Param | None:
        """The last occurrence of *key* (the one HAProxy keeps)."""
        last = self.__dict__.get("_last")
        if last is None:  # each key's last parameter, once (every server of a big file asks)
            last = {p.key: p for p in self.params}
            object.__setattr__(self, "_last", last)
        return last.get(key)

    def _flags(self) -> dict[str, bool]:
        """:meth:`flag` of every flag the line names, or cancels, found in one pass."""
        state = self.__dict__.get("_flag_states")
        if state is None:
            state = {}
            for p in self.params:
                if p.is_flag:
                    state[p.key] = True
                    opposite = FLAG_OPPOSITES.get(p.key)
                    if opposite:
                        state[opposite] = False
            object.__setattr__(self, "_flag_states", state)
        return state

    @property
    def options(self) -> dict[str, str | bool]:
        """Params as a dict, last occurrence wins; flags map to True."""
        out: dict[str, str | bool] = {}
        for p in self.params:
            out[p.key] = True if p.value is None else p.value
        return out

    def flag(self, name: str) -> bool | None:
        """True/False if the line sets flag *name* or its opposite (last wins), else None."""
        return self._flags().get(name)


def parse_server_line(line: Line) -> ServerLine | None:
    """Parse a server, default-server or server-template line; None for other lines."""
    values = line.values
    if not values or values[0] not in SERVER_LINE_KEYWORDS:
        return None
    kind = values[0]
    if kind == "default-server":
        return ServerLine(kind, None, None, None,
                          parse_params(line, 1, SERVER_VALUE_KEYWORDS, SERVER_KEYWORDS))
    addr_index = 3 if kind == "server-template" else 2
    name = values[1] if len(values) > 1 else None
    count = values[2] if kind == "server-template" and len(values) > 2 else None
    addr = parse_address(values[addr_index]) if len(values) > addr_index else None
    params = parse_params(line, addr_index + 1, SERVER_VALUE_KEYWORDS, SERVER_KEYWORDS)
    return ServerLine(kind, name, addr.host if addr else None, addr.port if addr else None,
                      params, addr, addr_index if addr else None, count)


@dataclass(frozen=True)
class BindLine:
    """``bind ADDR[:PORT][,ADDR…] [params]``."""

    addresses: tuple[Address, ...]
    params: tuple[Param, ...]

    @property
    def options(self) -> dict[str, str | bool]:
        out: dict[str, str | bool] = {}
        for p in self.params:
            out[p.key] = True if p.value is None else p.value
        return out


def parse_bind_line(line: Line) -> BindLine | None:
    values = line.values
    if not values or values[0] != "bind":
        return None
    addrs = tuple(parse_address(a) for a in values[1].split(",")) if len(values) > 1 else ()
    return BindLine(addrs, parse_params(line, 2, BIND_VALUE_KEYWORDS, BIND_KEYWORDS))


def template_names(prefix: str, count: str) -> list[str]:
    """Names a ``server-template`` creates: PREFIX1…PREFIXN, or PREFIXLOW…PREFIXHIGH."""
    m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", count)
    if not m:
        return []
    low, high = (1, int(m.group(1))) if m.group(2) is None else (int(m.group(1)),
                                                                  int(m.group(2)))
    if high < low or high - low > 100_000:
        return []
    return [f"{prefix}{n}" for n in range(low, high + 1)]
