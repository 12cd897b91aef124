"""Where a configuration serves HAProxy's stats page: ``stats enable`` / ``stats uri``.

The console reads the stats socket; the page's address is shown (help screen) so an
engineer can open it in a browser too. Only what the file says plainly is used: a
``frontend`` or ``listen`` section with ``stats enable`` or ``stats uri`` (a
``defaults`` section's ``stats uri`` is the default path) and an IP ``bind`` with a
single port. Wildcard binds are shown on loopback.
"""

from __future__ import annotations

from console.haproxy.config.grammar import parse_bind_line
from console.haproxy.config.model import ConfigFile

DEFAULT_URI = "/haproxy?stats"  # HAProxy's default when only `stats enable` is given
WILDCARDS = {"", "*", "0.0.0.0", "::", "[::]"}


def stats_page_urls(cfg: ConfigFile) -> list[str]:
    """The stats page URLs *cfg* declares, in file order (``https`` for an ``ssl`` bind)."""
    urls: list[str] = []
    default_uri = DEFAULT_URI
    for section in cfg.sections:
        uri: str | None = None
        enabled = False
        binds: list[tuple[str, str, bool]] = []
        auth = False
        for index, line in cfg.section_lines(section):
            if cfg.line_state(index) is False:
                continue
            values = line.values
            if len(values) >= 2 and values[0] == "stats":
                if values[1] == "enable":
                    enabled = True
                elif values[1] == "uri" and len(values) >= 3:
                    uri, enabled = values[2], True
                elif values[1] == "auth":
                    auth = True
            elif values and values[0] == "bind":
                bind = parse_bind_line(line)
                if bind is None:
                    continue
                ssl = "ssl" in bind.options
                for addr in bind.addresses:
                    port = addr.port or ""
                    if port.isascii() and port.isdigit() and (addr.prefix or "") in (
                            "", "ipv4@", "ipv6@"):
                        binds.append((addr.host, port, ssl))
        if section.type == "defaults":
            if uri:
                default_uri = uri
            continue
        if section.type not in ("frontend", "listen") or not enabled:
            continue
        for host, port, ssl in binds:
            if host in WILDCARDS:
                host = "[::1]" if ":" in host else "127.0.0.1"
            elif ":" in host:
                host = f"[{host}]"
            scheme = "https" if ssl else "http"
            url = f"{scheme}://{host}:{port}{uri or default_uri}"
            urls.append(url + (" (login)" if auth else ""))
    return urls


def find_stats_pages(path: str, limit: int = 64 * 1024 * 1024) -> list[str]:
    """The stats page URLs of the configuration file *path* (none when unreadable)."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return []
    if len(data) > limit:
        return []
    return stats_page_urls(ConfigFile.parse(data, path))
