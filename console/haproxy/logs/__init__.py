"""HAProxy's traffic logs: parsing, filtering, summaries (no Textual, no I/O policy).

- :mod:`.syslog`: the syslog header variants HAProxy emits, stripped;
- :mod:`.logformat`: ``log-format`` strings compiled into parsers, HAProxy's
  predefined formats (HTTP, HTTPS, TCP, CLF);
- :mod:`.parse`: one line → :class:`LogRecord` or :class:`Unparsed` (never raises);
- :mod:`.config_formats`: which format each frontend of a configuration writes;
- :mod:`.termination`: termination states in words;
- :mod:`.filter`: the filter language (``be=be_api status>=500 Ta>500ms``);
- :mod:`.sketch` and :mod:`.summary`: bounded-memory summaries, halog's -pct;
- :mod:`.reader`: lines from a file with bounded memory, following across rotation.
"""

from console.haproxy.logs.config_formats import FormatChoice, frontend_formats, parser_for_config
from console.haproxy.logs.filter import Filter, parse_filter
from console.haproxy.logs.logformat import PREDEFINED, CompiledFormat, compile_format, tokenize
from console.haproxy.logs.parse import LineParser, LogRecord, Unparsed, predefined
from console.haproxy.logs.summary import DIMENSIONS, Group, HalogPct, Summary
from console.haproxy.logs.syslog import Header, split_header
from console.haproxy.logs.termination import explain_termination

__all__ = [
    "DIMENSIONS", "PREDEFINED", "CompiledFormat", "Filter", "FormatChoice", "Group",
    "HalogPct", "Header", "LineParser", "LogRecord", "Summary", "Unparsed",
    "compile_format", "explain_termination", "frontend_formats", "parse_filter",
    "parser_for_config", "predefined", "split_header", "tokenize",
]
