"""The commands the command line suggests, spelled so that they work when pasted.

A hint such as ``apply: haconsole config apply`` names the instance the way this
run was told to: with the ``--settings``, ``-i``, ``-s``, ``-m``, ``-c`` and
``--url`` it was given, shell-quoted (:func:`shlex.join`). A URL is repeated
without its credentials (a password is never printed back).
"""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit, urlunsplit

_given: list[str] = []
_MENTION = re.compile(
    r"\bhaconsole(?= (?:config|show|server|frontend|counters|table|map|acl)\b)")


def _without_credentials(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
    except ValueError:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def instance_flags(args: object) -> list[str]:
    """The flags of *args* (the parsed command line) that name the instance."""
    flags: list[str] = []
    for dest, flag in (("settings", "--settings"), ("instance", "-i"), ("socket", "-s"),
                       ("master", "-m")):
        value = getattr(args, dest, None)
        if value:
            flags += [flag, str(value)]
    config = getattr(args, "config", None)
    for path in [config] if isinstance(config, str) else list(config or []):
        flags += ["-c", str(path)]
    url = getattr(args, "url", None)
    if url:
        flags += ["--url", _without_credentials(str(url))]
    return flags


def remember(args: object) -> None:
    """Spell every hint of this run with the instance flags of *args*."""
    _given[:] = instance_flags(args)


def command(*words: str) -> str:
    """``haconsole`` with this run's instance flags, then *words*, shell-quoted."""
    return shlex.join(["haconsole", *_given, *words])


def spelled(text: str) -> str:
    """*text* with this run's instance flags after each ``haconsole SUBCOMMAND`` it
    mentions (hints written without them, by the layers below the command line)."""
    if not _given:
        return text
    flags = shlex.join(_given)
    return _MENTION.sub(lambda m: f"haconsole {flags}", text)
