"""The HAProxy configuration file: a lossless model and structured edits.

- :class:`ConfigFile` (``model``): ``parse(bytes)`` / ``to_bytes()`` byte for byte,
  lines with their words, sections, conditional (``.if``) blocks.
- ``lexer``: HAProxy's word splitting; :func:`quote_word` writes a value as one word.
- ``grammar``: ``server`` / ``default-server`` / ``server-template`` / ``bind`` lines.
- ``edit`` and ``keywords``: edits that change only the lines they must.
- ``ops``: the same edits as JSON-friendly dicts, :func:`apply_ops`, :func:`describe_op`.
- ``servers``: :func:`server_lines`, the servers with ``default-server`` resolved.
- ``cond`` and ``environ``: which lines HAProxy reads (``.if`` blocks evaluated).
- ``fileset``: a configuration in several files (``-f a.cfg -f conf.d/``).

Nothing here imports textual.
"""

from console.haproxy.config.grammar import (
    Address,
    BindLine,
    Param,
    ServerLine,
    parse_address,
    parse_bind_line,
    parse_server_line,
)
from console.haproxy.config.lexer import Word, lex, quote_word
from console.haproxy.config.model import SECTION_KEYWORDS, ConfigFile, Line, Section
from console.haproxy.config.ops import StaleBase, apply_ops, describe_op, replace_op
from console.haproxy.config.servers import ServerInfo, server_lines

__all__ = [
    "SECTION_KEYWORDS", "Address", "BindLine", "ConfigFile", "Line", "Param", "Section",
    "ServerInfo", "ServerLine", "StaleBase", "Word", "apply_ops", "describe_op", "lex",
    "parse_address", "parse_bind_line", "parse_server_line", "quote_word", "replace_op",
    "server_lines",
]
