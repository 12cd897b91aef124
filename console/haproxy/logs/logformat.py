"""HAProxy ``log-format`` strings compiled into line parsers.

:func:`tokenize` reads a format as HAProxy's ``lf_expr_compile()`` does (``src/log.c``):
``%var`` (an alias: a letter, then letters and digits), ``%{+Q,-X}var`` with options,
``%(name)var`` with an output name, ``%[sample,converter]`` sample fetches, ``%%`` for
a percent sign, runs of spaces as one separator, anything else literal text.
``%{+Q}o`` sets options for every later variable (what the CLF formats start with).

:func:`compile_format` turns the tokens into one anchored regular expression and a
list of field decoders. HAProxy writes a separator only after something that wrote
text, so a variable that may print nothing (``%hr``/``%hs`` without captures) is
matched together with its separator as an optional group. Values become:

* timers (``%TR %Tw %Tc %Tr %Ta %Tt %Tq %Th %Ti %Td %Tu``) and counters: ``int``;
  ``-1`` stays ``-1`` (the step was not reached); a ``+`` prefix (``option logasap``)
  is dropped and the record says ``logasap``; ``%{+X}`` hex values are decoded;
* ``-`` (or ``""`` when quoted) is ``None`` (absent);
* ``%hr``/``%hs``/``%hrl``/``%hsl``: a list of the captured values;
* anything else: the text as written (quotes removed).

Fields are named for what they mean (``client``, ``backend``, ``status``, ``tr``…, see
:data:`ALIASES`); a variable the module does not know keeps its alias (``"%xyz"``)
or its sample expression (``"[req.hdr(host)]"``) as name, its value as text. When a
request line (``%r``) is logged, ``method``, ``uri``, ``path`` (without the query)
and ``http_version`` are derived from it.

The predefined formats (:data:`PREDEFINED`) are HAProxy's own strings, read from the
2.6, 2.8, 3.0, 3.2 and 3.4 sources and binaries: identical in all of them, except
``option tcplog clf`` which exists from 3.2 on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from console.haproxy.errors import ValidationError

HTTP = ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc "
        "%ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r")
HTTPS = (HTTP + " %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/"
         "%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc")
TCP = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
CLF = ('%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta '
       "%tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl")
TCP_CLF = ('%{+Q}o %{-Q}ci - - [%T] "TCP " 000 %B "" "" %cp %ms %ft %b %s %Th %Tw %Tc %Tt '
           '%U %ts-- %ac %fc %bc %sc %rc %sq %bq "" "" ')

PREDEFINED: dict[str, str] = {"http": HTTP, "https": HTTPS, "tcp": TCP, "clf": CLF,
                              "tcpclf": TCP_CLF}

# alias -> field name
ALIASES: dict[str, str] = {
    "ci": "client", "cp": "client_port", "fi": "frontend_ip", "fp": "frontend_port",
    "bi": "backend_source_ip", "bp": "backend_source_port", "si": "server_ip",
    "sp": "server_port",
    "t": "accept_date", "T": "accept_date_gmt", "Tl": "accept_date_local",
    "Ts": "accept_timestamp", "ms": "accept_ms",
    "tr": "request_date", "trg": "request_date_gmt", "trl": "request_date_local",
    "f": "frontend", "ft": "frontend", "b": "backend", "s": "server",
    "TR": "treq", "Tw": "tw", "Tc": "tc", "Tr": "tr", "Ta": "ta", "Tt": "tt", "Tq": "tq",
    "Th": "th", "Ti": "ti", "Td": "td", "Tu": "tu",
    "ST": "status", "B": "bytes_read", "U": "bytes_uploaded",
    "CC": "cookie_client", "CS": "cookie_server",
    "tsc": "termination_cookie", "ts": "termination",
    "ac": "actconn", "fc": "feconn", "bc": "beconn", "sc": "srv_conn", "rc": "retries",
    "sq": "srv_queue", "bq": "backend_queue",
    "hr": "request_captures", "hs": "response_captures",
    "hrl": "request_captures", "hsl": "response_captures",
    "r": "request", "HM": "method", "HU": "uri", "HP": "path_full", "HPO": "path",
    "HQ": "query", "HV": "http_version",
    "pid": "pid", "rt": "request_counter", "lc": "log_counter", "ID": "unique_id",
    "sslv": "ssl_version", "sslc": "ssl_cipher", "H": "hostname", "OG": "log_origin",
}
TIMERS = frozenset({"TR", "Tw", "Tc", "Tr", "Ta", "Tt", "Tq", "Th", "Ti", "Td", "Tu"})
INTEGERS = TIMERS | frozenset({"ST", "B", "U", "ac", "fc", "bc", "sc", "rc", "sq", "bq",
                               "cp", "fp", "bp", "sp", "pid", "rt", "lc", "Ts", "ms"})
# what the text of a variable looks like, unquoted
_NUM = r"[+]?-?[0-9]+"
_HEX = r"[+]?-?[0-9A-Fa-f]+"
_DATE_MS = r"[0-9][0-9]/[A-Za-z]{3}/[0-9]{4}:[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]{3}"
_DATE_TZ = r"[0-9][0-9]/[A-Za-z]{3}/[0-9]{4}:[0-9][0-9]:[0-9][0-9]:[0-9][0-9] [+-][0-9]{4}"
SHAPES: dict[str, str] = {
    "t": _DATE_MS, "tr": _DATE_MS, "trl": _DATE_MS,
    "T": _DATE_TZ, "Tl": _DATE_TZ, "trg": _DATE_TZ,
    "tsc": r"[^ ]{4}", "ts": r"[^ ]{2}",
    "hr": r"\{[^}]*\}", "hs": r"\{[^}]*\}",
    "r": r"[^ ]+(?: [^ ]+)??(?: HTTP/[^ ]+)?",
}
_LOGASAP = TIMERS | {"B"}
UNQUOTED = INTEGERS | frozenset({"tsc", "ts", "t", "T", "Tl", "tr", "trg", "trl"})
MAY_BE_EMPTY = frozenset({"hr", "hs", "hrl", "hsl", "o"})
ABSENT = frozenset({"-", ""})


@dataclass(frozen=True, slots=True)
class Text:
    """Literal text of the format (``%%`` already made ``%``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Separator:
    """A run of spaces: HAProxy writes one space if something was written before it."""


@dataclass(frozen=True, slots=True)
class Var:
    """One ``%`` variable: an alias or a sample expression (``expr``), its options."""

    alias: str  # "" for a sample expression
    options: frozenset[str] = frozenset()  # "Q", "X", "E"... (the + ones)
    expr: str | None = None
    name: str | None = None  # %(name)

    @property
    def key(self) -> str:
        """The field name in a parsed record."""
        if self.name:
            return self.name
        if self.expr is not None:
            return f"[{self.expr}]"
        return ALIASES.get(self.alias, f"%{self.alias}")

    @property
    def quoted(self) -> bool:
        return "Q" in self.options


Token = Text | Separator | Var


def _error(what: str, fmt: str, pos: int, hint: str) -> ValidationError:
    return ValidationError(what, f"log-format {fmt[:120]!r}, character {pos + 1}", hint)


def tokenize(fmt: str) -> list[Token]:
    """The tokens of log-format *fmt*; :class:`ValidationError` says what and where
    when HAProxy would refuse it (an unclosed ``%{``, ``%[`` or ``%(``, a ``%`` at the
    end or before a blank or a digit)."""
    out: list[Token] = []
    text: list[str] = []
    i, n = 0, len(fmt)
    global_opts: dict[str, bool] = {}

    def flush() -> None:
        if text:
            out.append(Text("".join(text)))
            text.clear()

    while i < n:
        c = fmt[i]
        if c == " ":
            flush()
            while i < n and fmt[i] == " ":
                i += 1
            out.append(Separator())
            continue
        if c != "%":
            text.append(c)
            i += 1
            continue
        start = i
        i += 1
        if i < n and fmt[i] == "%":
            text.append("%")
            i += 1
            continue
        name = None
        if i < n and fmt[i] == "(":
            end = fmt.find(")", i)
            if end < 0:
                raise _error("unclosed %( in the log-format", fmt, start,
                             "close the output name with ')'")
            name = fmt[i + 1:end].split(":", 1)[0] or None
            i = end + 1
        opts: dict[str, bool] = {}
        if i < n and fmt[i] == "{":
            end = fmt.find("}", i)
            if end < 0:
                raise _error("unclosed %{ in the log-format", fmt, start,
                             "close the options with '}'")
            for opt in fmt[i + 1:end].split(","):
                opt = opt.strip()
                if opt[:1] in "+-" and len(opt) > 1:
                    opts[opt[1:].upper() if len(opt) == 2 else opt[1:]] = opt[0] == "+"
                elif opt:
                    opts[opt] = True
            i = end + 1
        if i < n and fmt[i] == "[":
            depth, j = 0, i
            while j < n:
                if fmt[j] in "[(":
                    depth += 1
                elif fmt[j] in "])":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= n:
                raise _error("unclosed %[ in the log-format", fmt, start,
                             "close the sample expression with ']'")
            flush()
            out.append(Var("", _merge(global_opts, opts), fmt[i + 1:j], name))
            i = j + 1
            continue
        if i < n and fmt[i].isalpha():
            j = i + 1
            while j < n and fmt[j].isalnum():
                j += 1
            alias = fmt[i:j]
            i = j
            flush()
            if alias == "o":
                global_opts.update(opts)
                out.append(Var("o"))
                continue
            out.append(Var(alias, _merge(global_opts, opts), None, name))
            continue
        raise _error("a '%' without a variable in the log-format", fmt, start,
                     "write '%%' for a literal percent sign")
    flush()
    return out


def _merge(global_opts: dict[str, bool], local: dict[str, bool]) -> frozenset[str]:
    merged = dict(global_opts)
    merged.update(local)
    return frozenset(k for k, on in merged.items() if on)


# -- decoding ------------------------------------------------------------------------

Decoder = Callable[[str], object]


def _int(raw: str) -> int | None:
    if raw in ABSENT:
        return None
    if raw[0] == "+":
        raw = raw[1:]
    try:
        return int(raw)
    except ValueError:
        return None


def _hex(raw: str) -> int | None:
    if raw in ABSENT:
        return None
    if raw[0] == "+":
        raw = raw[1:]
    try:
        return int(raw, 16)
    except ValueError:
        return None


def _text(raw: str) -> str | None:
    return None if raw in ABSENT else raw


def _captures_braced(raw: str) -> list[str]:
    return raw[1:-1].split("|") if raw.startswith("{") and raw.endswith("}") else [raw]


def _captures_list(raw: str) -> list[str]:
    return [v[1:-1] if v.startswith('"') else v for v in _QUOTED_ITEMS.findall(raw)]


_QUOTED_ITEMS = re.compile(r'"[^"]*"|[^ ]+')


@dataclass(slots=True)
class Field:
    """One captured group: its record key, its decoder, whether quoted."""

    key: str
    group: int
    decode: Decoder
    quoted: bool
    alias: str


def _var_pattern(var: Var, captures: int | None) -> tuple[str, Decoder]:
    alias = var.alias
    hexa = "X" in var.options
    decode: Decoder
    if var.expr is not None:
        inner, decode = r"[^ ]*", _text
    elif alias in INTEGERS:
        inner, decode = (_HEX, _hex) if hexa else (_NUM, _int)
        if alias == "ST" and not hexa:
            inner = r"-?[0-9]+"
    elif alias in ("hrl", "hsl"):
        item = r'"[^"]*"' if var.quoted else r"[^ ]+"
        count = f"{{{max(captures - 1, 0)}}}" if captures else "*"
        return f"{item}(?: {item}){count}", _captures_list
    elif alias in ("hr", "hs"):
        inner, decode = SHAPES[alias], _captures_braced
    else:
        inner, decode = SHAPES.get(alias, r"[^ ]+"), _text
    if var.quoted and alias not in UNQUOTED:
        # quoted text: HAProxy escapes '"' inside (http or '#' encoding); a line cut at
        # the logger's length limit may lose the closing quote
        return r'"[^"]*(?:"|$)', lambda raw: decode(_unquote(raw))
    return inner, decode


def _unquote(raw: str) -> str:
    if raw.startswith('"'):
        raw = raw[1:]
        if raw.endswith('"'):
            raw = raw[:-1]
    return raw


@dataclass
class CompiledFormat:
    """A log-format ready to parse lines: :meth:`parse` gives a dict or None."""

    source: str
    tokens: list[Token]
    regex: re.Pattern[str]
    fields: list[Field] = field(default_factory=list)
    keys: frozenset[str] = frozenset()
    has_request: bool = False
    parts: list[tuple[str, str]] = field(default_factory=list)  # (label, regex piece)
    _prefixes: list[tuple[str, re.Pattern[str]]] | None = None

    def __post_init__(self) -> None:
        # the fast decoding plan: every field once (no key logged twice), plain text,
        # plain integers and the rest apart
        keys = [f.key for f in self.fields]
        self._fast = len(set(keys)) == len(keys)
        self._keys = tuple(keys)
        self._texts = tuple(f.key for f in self.fields if f.decode is _text)
        self._ints = tuple(f.key for f in self.fields if f.decode is _int)
        self._others = tuple((f.key, f.decode) for f in self.fields
                             if f.decode is not _text and f.decode is not _int)
        self._plus = {f.key: ("rc" if f.alias == "rc" else "asap") for f in self.fields
                      if f.alias == "rc" or f.alias in _LOGASAP}
        self._pickers: dict[tuple[str, ...], Callable[[re.Match[str]], list[object]] | None] = {}
        self._groups: dict[tuple[str, ...], tuple[int, ...] | None] = {}

    def match(self, message: str) -> re.Match[str] | None:
        return self.regex.match(message)

    def picker(self, keys: tuple[str, ...]) -> Callable[[re.Match[str]], list[object]] | None:
        """A function that gives, from a match, the values :meth:`decode` would give for
        *keys* (``decode(m).get(key)``), without decoding the other fields; None when
        one of them needs the full decoding (a derived field other than
        ``termination``, a quoted, hexadecimal or list value, a key logged twice).
        What summaries use: most of a line's fields are never looked at."""
        cached = self._pickers.get(keys)
        if cached is not None or keys in self._pickers:
            return cached
        made = self._make_picker(keys)
        self._pickers[keys] = made
        return made

    def groups_of(self, keys: tuple[str, ...]) -> tuple[int, ...] | None:
        """The numbers of the regex groups :meth:`picker` reads for *keys* (None when
        there is no picker): two matches whose groups are equal there give the same
        values, so lines can be told alike without decoding them."""
        self.picker(keys)
        return self._groups.get(keys)

    def _make_picker(self, keys: tuple[str, ...]) -> Callable[[re.Match[str]], list[object]] | None:
        if not self._fast:
            return None
        by_key = {f.key: f for f in self.fields}
        plan: list[tuple[int, int]] = []  # (group number, how to decode)
        for key in keys:
            f = by_key.get(key)
            if f is None and key == "termination" and "termination_cookie" in by_key:
                f = by_key["termination_cookie"]
                if f.decode is not _text or f.quoted:
                    return None
                plan.append((f.group + 1, _PICK_TSC))
                continue
            if f is None:
                if key in _DERIVED:
                    return None
                plan.append((0, _PICK_NONE))
                continue
            if f.quoted:
                return None
            if key in _DERIVED_FROM and not (key == "termination"
                                             and "termination_cookie" not in by_key):
                return None  # logged, but _derive() may still set it
            if f.decode is _int:
                plan.append((f.group + 1, _PICK_INT))
            elif f.decode is _text:
                plan.append((f.group + 1, _PICK_FRONTEND if key == "frontend" else _PICK_TEXT))
            else:
                return None
        self._groups[keys] = tuple(g for g, _ in plan if g > 0) or (0,)
        return _compile_picker(plan)

    def frontend_of(self, m: re.Match[str]) -> object:
        """``decode(m).get("frontend")``, cheaply."""
        pick = self.picker(("frontend",))
        return pick(m)[0] if pick is not None else self.decode(m).get("frontend")

    def decode(self, m: re.Match[str]) -> dict[str, object]:
        """The record of a match: every field, decoded (see the module docstring)."""
        if not self._fast:
            return self._decode_slow(m)
        out: dict[str, object] = dict(zip(self._keys, m.groups(), strict=True))
        for k in self._texts:
            v = out[k]
            if v == "-" or v == "":
                out[k] = None
        plus = self._plus
        for k in self._ints:
            v = out[k]
            if v is None:
                continue
            if v == "-" or v == "":
                out[k] = None
                continue
            if v[0] == "+":  # type: ignore[index]
                if plus.get(k) == "rc":
                    out["redispatched"] = True
                elif k in plus:
                    out["logasap"] = True
            try:
                out[k] = int(v)  # type: ignore[call-overload]
            except ValueError:  # "+-1": a sign after the logasap mark
                out[k] = _int(v)  # type: ignore[arg-type]
        for k, fn in self._others:
            v = out[k]
            if v is not None:
                out[k] = fn(v)  # type: ignore[arg-type]
        _derive(out, self.has_request)
        return out

    def _decode_slow(self, m: re.Match[str]) -> dict[str, object]:
        groups = m.groups()
        out: dict[str, object] = {}
        logasap = False
        for f in self.fields:
            raw = groups[f.group]
            if raw is None:
                out.setdefault(f.key, None)
                continue
            if raw[:1] == "+":
                if f.alias == "rc":
                    out["redispatched"] = True
                elif f.alias in _LOGASAP:
                    logasap = True
            if f.key not in out or out[f.key] is None:
                out[f.key] = f.decode(raw)
        if logasap:
            out["logasap"] = True
        _derive(out, self.has_request)
        return out

    def parse(self, message: str) -> dict[str, object] | None:
        m = self.regex.match(message)
        return None if m is None else self.decode(m)

    def failure_point(self, message: str) -> str:
        """Where *message* stops matching the format, in words (for an unparsed line's
        reason): the first field whose prefix of the pattern no longer matches."""
        return self.failure(message)[1]

    def failure(self, message: str) -> tuple[int, str]:
        """``(how many pieces of the format matched, failure_point text)``."""
        if self._prefixes is None:
            self._prefixes = []
            acc = ""
            for label, pattern in self.parts:
                acc += pattern
                try:
                    self._prefixes.append((label, re.compile(acc)))
                except re.error:
                    break
        last = "the start of the line"
        sample = message[:8192]
        for k, (label, prefix) in enumerate(self._prefixes):
            if prefix.match(sample) is None:
                return k, f"does not match the format at {label} (after {last})"
            last = label
        return len(self._prefixes), \
            "does not match the format: unexpected text after its last field"


def compile_format(fmt: str, captures: dict[str, int] | None = None) -> CompiledFormat:
    """Compile log-format *fmt* (see the module docstring). *captures*: how many
    ``capture request/response header`` the frontend has (``{"hrl": 2, "hsl": 0}``),
    which tells apart the values of ``%hrl`` and ``%hsl`` in the CLF format."""
    # "%{+Q}o" prints nothing: drop it (its options are already in the later tokens)
    tokens = [t for t in tokenize(fmt) if not (isinstance(t, Var) and t.alias == "o")]
    parts: list[tuple[str, str]] = []
    fields: list[Field] = []
    group = 0
    n = len(tokens)
    k = 0
    # a separator first prints nothing: HAProxy starts as if a space was just written
    while k < n and isinstance(tokens[k], Separator):
        k += 1
    while k < n:
        tok = tokens[k]
        if isinstance(tok, Separator):
            parts.append(("a space", " "))
            k += 1
            continue
        if isinstance(tok, Text):
            parts.append((repr(tok.text), re.escape(tok.text)))
            k += 1
            continue
        label = f"%{tok.alias}" if tok.expr is None else f"%[{tok.expr}]"
        pattern, decode = _var_pattern(tok, (captures or {}).get(tok.alias))
        fields.append(Field(tok.key, group, decode, tok.quoted, tok.alias))
        group += 1
        if tok.alias in MAY_BE_EMPTY:
            nxt = tokens[k + 1] if k + 1 < n else None
            if isinstance(nxt, Separator):
                parts.append((label, f"(?:({pattern}) )?"))
                k += 2
                continue
            parts.append((label, f"({pattern})?"))
        else:
            parts.append((label, f"({pattern})"))
        k += 1
    while parts and parts[-1][1] == " ":
        parts.pop()
    source = "".join(p for _, p in parts)
    try:
        regex = re.compile(source + r" *\Z")
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValidationError("the log-format could not be compiled into a parser",
                              f"log-format {fmt[:120]!r}", f"{exc}") from None
    keys = frozenset(f.key for f in fields)
    return CompiledFormat(fmt, tokens, regex, fields, keys,
                          has_request=any(f.alias == "r" for f in fields), parts=parts)


def _slow_int(v: str) -> int | None:
    try:
        return int(v)
    except ValueError:
        return _int(v)


def _compile_picker(plan: list[tuple[int, int]]) -> Callable[[re.Match[str]], list[object]]:
    """The picker of *plan* as one function (generated: one ``m.group`` call, the values
    converted inline; see :meth:`CompiledFormat.picker`)."""
    wanted = sorted({g for g, kind in plan if kind != _PICK_NONE})
    names = {g: f"v{g}" for g in wanted}
    exprs: list[str] = []
    for g, kind in plan:
        if kind == _PICK_NONE:
            exprs.append("None")
            continue
        v = names[g]
        if kind == _PICK_INT:
            exprs.append(f"((int({v}) if {v}.isascii() and {v}.isdigit() else _slow_int({v})) "
                         f"if {v} and {v} != '-' else None)")
        elif kind == _PICK_TEXT:
            exprs.append(f"({v} if {v} and {v} != '-' else None)")
        elif kind == _PICK_TSC:
            exprs.append(f"({v}[:2] if {v} and {v} != '-' else None)")
        else:
            exprs.append(f"(({v}[:-1] if {v}[-1] == '~' else {v}) "
                         f"if {v} and {v} != '-' else None)")
    lines = ["def pick(m):"]
    if len(wanted) == 1:
        lines.append(f"    {names[wanted[0]]} = m.group({wanted[0]})")
    elif wanted:
        lines.append(f"    {', '.join(names[g] for g in wanted)}, = "
                     f"m.group({', '.join(map(str, wanted))})")
    lines.append(f"    return [{', '.join(exprs)}]")
    scope: dict[str, object] = {"_slow_int": _slow_int}
    exec("\n".join(lines), scope)  # noqa: S102 - generated from the plan above only
    return scope["pick"]  # type: ignore[return-value]


# picker kinds (see CompiledFormat.picker)
_PICK_NONE, _PICK_INT, _PICK_TEXT, _PICK_TSC, _PICK_FRONTEND = range(5)
# fields _derive() makes or changes: a picker cannot give them from one group
_DERIVED = frozenset({"method", "uri", "http_version", "path", "tq", "termination", "ssl"})
_DERIVED_FROM = frozenset({"method", "uri", "http_version", "path", "tq", "termination"})

_REQUEST = re.compile(r"([^ ]+) ([^ ]+)(?: (HTTP/[^ ]+))?")


def _derive(out: dict[str, object], has_request: bool) -> None:
    """Fields every consumer wants, from the ones logged: method/uri/path/version from
    ``%r``, the two-letter termination state from ``%tsc``, the SSL mark of ``%ft``."""
    if has_request:
        req = out.get("request")
        if isinstance(req, str):
            m = _REQUEST.fullmatch(req)
            if m:
                if out.get("method") is None:
                    out["method"] = m[1]
                if out.get("uri") is None:
                    out["uri"] = m[2]
                if out.get("http_version") is None:
                    out["http_version"] = m[3]
    uri = out.get("uri") if out.get("path") is None else None
    if isinstance(uri, str):
        out["path"] = uri.split("?", 1)[0]
    if out.get("tq") is None and out.get("treq") is not None:
        out["tq"] = out["treq"]  # no %Tq logged: TR, the request time (halog's 1st timer)
    tsc = out.get("termination_cookie")
    if isinstance(tsc, str) and out.get("termination") is None:
        out["termination"] = tsc[:2]
    fe = out.get("frontend")
    if isinstance(fe, str) and fe.endswith("~"):
        out["frontend"] = fe[:-1]
        out["ssl"] = True
