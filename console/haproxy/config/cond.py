"""Which lines HAProxy reads: ``.if`` / ``.elif`` / ``.else`` / ``.endif`` evaluated.

HAProxy (``src/cfgcond.c``, ``src/cfgparse.c``) merges the words after ``.if``
(environment variables in ``"…"`` expanded) into one expression with single
spaces, then parses: ``||`` of ``&&`` of terms; a term is ``!``… then a number
(non-zero is true), ``( EXPR )`` or a predicate with its arguments in
parentheses. Evaluated here: ``defined``, ``feature``, ``streq``, ``strneq``,
``strstr``, ``version_atleast``, ``version_before`` and ``ssllib_name_startswith``,
given the binary's version and ``-vv`` build information and the environment
the service parses its configuration with (:mod:`.environ`: ``setenv``,
``presetenv``, ``unsetenv`` and ``resetenv`` change it for the lines after them,
as they do in HAProxy, and it carries on from one file of a set to the next).

Anything not known (no environment, no version, an ``HAPROXY_*`` variable the
console does not model, ``enabled()``, ``openssl_version_*``…) makes the result
*unknown* (``None``): callers then refuse to guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.haproxy.config.environ import Env, environment_line, expand

if TYPE_CHECKING:
    from console.haproxy.config.model import ConfigFile, Line

Tri = bool | None  # True, False, or unknown


@dataclass(frozen=True)
class CondContext:
    """What ``.if`` conditions depend on; ``None`` fields are unknown."""

    version: str | None = None  # "2.8.25-5cf5d0683", as `haproxy -v` prints it
    features: frozenset[str] | None = None  # the "+NAME" words of `haproxy -vv`
    ssl_library: str | None = None  # "OpenSSL", "LibreSSL"…
    environ: Mapping[str, str] | None = None  # the service's environment at parse time
    source: str = ""  # where the environment comes from, for messages

    def describe(self) -> str:
        parts = [f"HAProxy {self.version}" if self.version else "HAProxy version unknown"]
        parts.append(f"environment of {self.source}" if self.environ is not None else
                     "environment unknown")
        return ", ".join(parts)


UNKNOWN = CondContext()


# --------------------------------------------------------------------------- expressions

def split_version(text: str) -> list[int] | None:
    """HAProxy's ``split_version()``: 7 numbers, None if it does not parse."""
    value = [0, 0, 0, 0, 3, 0, 0]
    m = re.match(r"([0-9]+)", text)
    if not m:
        return None
    pos, k = 0, 0
    while k < 4:
        m = re.match(r"[0-9]*", text[pos:])
        assert m is not None
        digits = m.group()
        value[k] = int(digits) if digits else 0
        pos += len(digits)
        sep = text[pos:pos + 1]
        pos += 1
        if sep == "":
            return value
        if sep == "-":
            break
        if sep != "." or k == 3:
            return None
        k += 1
    rest = text[pos:]
    if rest[:1].isascii() and rest[:1].isdigit():
        return _commit(value, rest)
    for tag, code in (("dev", 1), ("rc", 2), ("pre", 2)):
        if rest.startswith(tag):
            value[4] = code
            m = re.match(r"[0-9]*", rest[len(tag):])
            assert m is not None
            value[5] = int(m.group()) if m.group() else 0
            after = rest[len(tag) + len(m.group()):]
            if not after:
                return value
            if after[0] != "-":
                return None
            return _commit(value, after[1:])
    return _commit(value, rest)


def _commit(value: list[int], rest: str) -> list[int] | None:
    if "-" in rest:
        rest = rest.rsplit("-", 1)[1]
        if not rest:
            return None
    value[6] = int(rest) if rest.isascii() and rest.isdigit() else 0
    return value


def compare_version(current: str, wanted: str) -> int | None:
    """HAProxy's ``compare_current_version()``: -1 *wanted* older, 0 same, 1 newer."""
    loc, mod = split_version(current), split_version(wanted)
    if loc is None or mod is None:
        return None
    for a, b in zip(mod, loc, strict=True):
        if a != b:
            return -1 if a < b else 1
    return 0


class _Unparsable(Exception):
    pass


_PREDICATES = {"defined": 1, "feature": 1, "streq": 2, "strneq": 2, "strstr": 2,
               "version_atleast": 1, "version_before": 1, "openssl_version_atleast": 1,
               "openssl_version_before": 1, "ssllib_name_startswith": 1,
               "awslc_api_atleast": 1, "awslc_api_before": 1, "enabled": 1}


def _strtol(text: str) -> int:
    """A number as C's ``strtol(text, NULL, 0)`` reads it: ``0x`` hex, a leading ``0``
    octal (``010`` is 8), else decimal (Python's ``int(x, 0)`` refuses ``010``)."""
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    if digits[:2].lower() == "0x":
        return sign * int(digits[2:], 16)
    if len(digits) > 1 and digits[0] == "0":
        return sign * int(digits, 8)
    return sign * int(digits, 10)


_NUMBER = re.compile(r"[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")  # strtol(…, 0)
_WORD = re.compile(r"[^ (]+")


class _Parser:
    def __init__(self, text: str, ctx: CondContext, env: Env) -> None:
        self.text, self.pos, self.ctx, self.env = text, 0, ctx, env

    def blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expr(self) -> Tri:
        left = self.and_()
        self.blanks()
        if self.text.startswith("||", self.pos):
            self.pos += 2
            self.blanks()
            right = self.expr()
            return _or(left, right)
        return left

    def and_(self) -> Tri:
        left = self.term()
        self.blanks()
        if self.text.startswith("&&", self.pos):
            self.pos += 2
            self.blanks()
            right = self.and_()
            return _and(left, right)
        return left

    def term(self) -> Tri:
        self.blanks()
        neg = False
        while self.text.startswith("!", self.pos):
            neg = not neg
            self.pos += 1
            self.blanks()
        value = self._term()
        return (None if value is None else not value) if neg else value

    def _term(self) -> Tri:
        m = _NUMBER.match(self.text, self.pos)
        if m:
            self.pos = m.end()
            return _strtol(m.group()) != 0
        if self.text.startswith("(", self.pos):
            self.pos += 1
            self.blanks()
            value = self.expr()
            self.blanks()
            if not self.text.startswith(")", self.pos):
                raise _Unparsable
            self.pos += 1
            self.blanks()
            return value
        m = _WORD.match(self.text, self.pos)
        if not m or m.group() not in _PREDICATES:
            raise _Unparsable
        name = m.group()
        self.pos = m.end()
        args = self.args()
        if len(args) != _PREDICATES[name]:
            raise _Unparsable
        return self.predicate(name, args)

    def args(self) -> list[str]:
        if not self.text.startswith("(", self.pos):
            raise _Unparsable
        self.pos += 1
        args: list[str] = []
        current: list[str] = []
        quote = ""
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if quote:
                if c == quote:
                    quote = ""
                elif c == "\\" and quote == '"' and self.pos < len(self.text):
                    current.append(self.text[self.pos])
                    self.pos += 1
                else:
                    current.append(c)
            elif c in "'\"":
                quote = c
            elif c == "\\" and self.pos < len(self.text):
                current.append(self.text[self.pos])
                self.pos += 1
            elif c == ",":
                args.append("".join(current))
                current = []
            elif c == ")":
                args.append("".join(current))
                return [] if args == [""] else args
            else:
                current.append(c)
        raise _Unparsable

    def predicate(self, name: str, args: list[str]) -> Tri:
        ctx = self.ctx
        if name == "defined":
            known, value = self.env.get(args[0])
            return (value is not None) if known else None
        if name == "feature":
            return None if ctx.features is None else args[0] in ctx.features
        if name == "streq":
            return args[0] == args[1]
        if name == "strneq":
            return args[0] != args[1]
        if name == "strstr":
            return args[1] in args[0]
        if name in ("version_atleast", "version_before"):
            if ctx.version is None:
                return None
            cmp = compare_version(ctx.version, args[0])
            if cmp is None:
                return None
            return cmp <= 0 if name == "version_atleast" else cmp > 0
        if name == "ssllib_name_startswith":
            return None if ctx.ssl_library is None else ctx.ssl_library.startswith(args[0])
        return None  # enabled(), openssl_version_*, awslc_*: not known here


def _and(a: Tri, b: Tri) -> Tri:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a: Tri, b: Tri) -> Tri:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not(a: Tri) -> Tri:
    return None if a is None else not a


def evaluate(line: Line, ctx: CondContext, env: Env) -> Tri:
    """The condition of an ``.if`` / ``.elif`` line (None: unknown or unparsable)."""
    words: list[str] = []
    for word in line.words[1:]:
        value = expand(word, env)
        if value is None:
            return None
        words.append(value)
    text = " ".join(words)
    if not text:
        return False  # HAProxy: an empty condition is false
    parser = _Parser(text, ctx, env)
    try:
        result = parser.expr()
        parser.blanks()
        if parser.pos != len(text):
            return None
    except _Unparsable:
        return None
    return result


# --------------------------------------------------------------------------- lines

@dataclass
class LineStates:
    """For each line of a file: read by HAProxy (True), skipped (False), or unknown."""

    states: list[Tri]
    blame: list[int | None]  # the directive whose unknown condition makes a line unknown
    env_out: Env


@dataclass
class _Level:
    outer: Tri  # whether the block itself is read
    taken: Tri  # whether a branch was taken so far
    active: Tri  # the current branch
    blame: int | None  # directive with an unknown condition on this level


_BLOCK_KEYWORDS = frozenset({".if", ".elif", ".else", ".endif"})
_ENV_KEYWORDS = frozenset({"setenv", "presetenv", "unsetenv", "resetenv"})


def line_states(cfg: ConfigFile, ctx: CondContext, env: Env) -> LineStates:
    """Evaluate every conditional block of *cfg* (see the module docstring)."""
    env = env.copy()
    marks = cfg.marks  # the directives and environment lines, in order
    if not any(kw in _BLOCK_KEYWORDS for kw in marks.values()):  # no block: every line read
        for i, mark in marks.items():
            if mark in _ENV_KEYWORDS:
                environment_line(cfg.lines[i], env, certain=True)
        n = len(cfg.lines)
        return LineStates([True] * n, [None] * n, env)
    states: list[Tri] = []
    blame: list[int | None] = []
    stack: list[_Level] = []

    def current() -> tuple[Tri, int | None]:
        if not stack:
            return True, None
        top = stack[-1]
        outer_blame = next((lv.blame for lv in reversed(stack) if lv.blame is not None), None)
        return top.active, outer_blame

    for i, line in enumerate(cfg.lines):
        kw = line.keyword
        if kw == ".if":
            outer, outer_blame = current()
            states.append(outer)
            blame.append(outer_blame)
            cond: Tri = evaluate(line, ctx, env) if outer is not False else False
            stack.append(_Level(outer, cond, _and(outer, cond),
                                i if cond is None and outer is not False else None))
            continue
        if kw in (".elif", ".else") and stack:
            top = stack[-1]
            states.append(top.outer)
            blame.append(next((lv.blame for lv in reversed(stack[:-1])
                               if lv.blame is not None), None))
            if top.outer is False:
                top.active = False
                continue
            cond = True if kw == ".else" else (
                evaluate(line, ctx, env) if top.taken is not True else False)
            top.active = _and(_and(_not(top.taken), cond), top.outer)
            if top.taken is None or cond is None:
                top.blame = top.blame if top.blame is not None else i
            top.taken = _or(top.taken, cond)
            continue
        if kw == ".endif" and stack:
            top = stack.pop()
            state, who = current()
            states.append(state)
            blame.append(who)
            continue
        state, who = current()
        states.append(state)
        blame.append(who if state is None else None)
        if state is not False and kw in ("setenv", "presetenv", "unsetenv", "resetenv"):
            environment_line(line, env, certain=state is True)
    return LineStates(states, blame, env)
