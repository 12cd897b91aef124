"""Outside text (HAProxy's answers, map values, journal and history fields, config
lines) for a widget: never read as markup, and every control character shown as an
escape, so that nothing shown can drive the terminal.

Textual's ``DataTable`` reads a ``str`` cell as markup (``[/]`` in a map value
stops the console) and neither Rich nor Textual removes ESC from text: cells and
lines of outside text go through :func:`plain`.
"""

from __future__ import annotations

from rich.text import Text

from console.haproxy.safe_text import visible


def plain(value: object, style: str = "") -> Text:
    """*value* as a ``Text`` shown exactly as written, control characters escaped."""
    return Text(visible(value), style=style)
