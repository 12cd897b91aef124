"""The environment HAProxy reads its configuration with, as far as it is known.

Environment variables appear in a configuration inside weak quotes (``"$VAR"``,
``"${VAR}"``, ``"${VAR-default}"``, ``"${VAR[*]}"``) and in ``.if defined(VAR)``;
``setenv``, ``presetenv``, ``unsetenv`` and ``resetenv`` change them for the lines
that follow. :class:`Env` tracks what is known, :func:`expand` reads a word as
HAProxy does, :func:`environment_line` follows those four keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from console.haproxy.config.lexer import Word

if TYPE_CHECKING:
    from console.haproxy.config.model import Line


@dataclass
class Env:
    """The environment while the configuration is read.

    ``known`` variables have a value, ``unset`` ones are known to be absent,
    ``unknown`` ones may be anything; any other name is absent when ``rest_known``
    (the service's environment is known), else unknown.
    """

    known: dict[str, str] = field(default_factory=dict)
    rest_known: bool = False
    unset: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, environ: Mapping[str, str] | None) -> Env:
        """From the service's environment (None: unknown)."""
        if environ is None:
            return cls()
        return cls(dict(environ), rest_known=True)

    def copy(self) -> Env:
        return Env(dict(self.known), self.rest_known, set(self.unset), set(self.unknown))

    def get(self, name: str) -> tuple[bool, str | None]:
        """``(known, value)``: value None when the variable is not set."""
        if name in self.unknown:
            return False, None
        if name in self.known:
            return True, self.known[name]
        if name in self.unset:
            return True, None
        if not self.rest_known or name.startswith("HAPROXY_"):
            return False, None  # HAPROXY_*: set by HAProxy itself in ways not modelled
        return True, None

    def set(self, name: str, value: str | None) -> None:
        """*value* None: unknown."""
        self.unset.discard(name)
        if value is None:
            self.known.pop(name, None)
            self.unknown.add(name)
        else:
            self.known[name] = value
            self.unknown.discard(name)

    def unsetenv(self, name: str) -> None:
        self.known.pop(name, None)
        self.unknown.discard(name)
        self.unset.add(name)


# --------------------------------------------------------------------------- words

def expand(word: Word, env: Env) -> str | None:
    """What HAProxy reads from *word*, its ``"$VAR"`` expanded; None if unknown.

    The lexer has already split the word into its literal pieces and references
    (:attr:`Word.parts`); the internal ``.LINE``/``.FILE``/``.SECTION`` are not modelled.
    """
    if not word.expands:
        return word.value
    out: list[str] = []
    for part in word.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if not part.name or part.name.startswith("."):
            return None
        known, value = env.get(part.name)
        if not known:
            return None
        out.append(value if value is not None else part.default or "")
    return "".join(out)


def environment_line(line: Line, env: Env, *, certain: bool) -> None:
    """Follow ``setenv``/``presetenv``/``unsetenv``/``resetenv`` (global section)."""
    values = [expand(w, env) for w in line.words]
    kw, args = values[0], values[1:]
    if None in args[:1] and kw != "resetenv":
        env.known, env.rest_known, env.unset = {}, False, set()  # which one changed?
        return
    if kw in ("setenv", "presetenv") and len(args) >= 2:
        name, value = str(args[0]), args[1]
        if not certain or value is None:
            env.set(name, None)
            return
        known, now = env.get(name)
        if kw == "setenv" or (known and now is None):
            env.set(name, value)
        elif not known:
            env.set(name, None)  # presetenv: kept if it was set, which is unknown
    elif kw == "unsetenv":
        for unset in args:
            if unset is None:
                continue
            if certain:
                env.unsetenv(unset)
            else:
                env.set(unset, None)
    elif kw == "resetenv":
        if not certain or None in args:
            env.known, env.rest_known, env.unset, env.unknown = {}, False, set(), set()
            return
        keep = {str(a) for a in args}
        env.known = {k: v for k, v in env.known.items() if k in keep}
        env.unknown = {k for k in env.unknown if k in keep} | (
            keep - set(env.known) if not env.rest_known else set())
        env.unset = set()
        env.rest_known = True
