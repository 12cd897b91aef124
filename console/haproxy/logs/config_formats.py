"""Which log format each frontend of a configuration writes.

For every ``frontend`` and ``listen`` section (in every file of the set), the format
comes from its own lines, else from its ``defaults`` section (the one named by
``from``, else the last ``defaults`` before it), the last of these keywords winning
as in HAProxy:

* ``option httplog`` → ``http``; ``option httplog clf`` → ``clf``;
* ``option httpslog`` → ``https``; ``option tcplog`` → ``tcp``;
  ``option tcplog clf`` → ``tcpclf``;
* ``log-format STRING`` → ``custom`` (``${HAPROXY_HTTP_LOG_FMT}`` and the other
  predefined variables replaced by their strings);
* ``no option httplog`` (…) clears the option;
* none of them → ``connect`` (HAProxy's "Connect from" line at accept time).

It also counts ``capture request header`` / ``capture response header`` lines (the
number of values ``%hrl`` and ``%hsl`` print) and declared captures
(``declare capture``). Lines inside ``.if`` blocks are read as if the block applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from console.haproxy.config.model import ConfigFile, Section
from console.haproxy.errors import ConfigError, HAProxyError, ValidationError
from console.haproxy.logs.logformat import PREDEFINED, CompiledFormat, compile_format
from console.haproxy.logs.parse import LineParser, NamedFormat, predefined

ENV_FORMATS = {
    "HAPROXY_HTTP_LOG_FMT": PREDEFINED["http"],
    "HAPROXY_HTTPS_LOG_FMT": PREDEFINED["https"],
    "HAPROXY_HTTP_CLF_LOG_FMT": PREDEFINED["clf"],
    "HAPROXY_TCP_LOG_FMT": PREDEFINED["tcp"],
    "HAPROXY_TCP_CLF_LOG_FMT": PREDEFINED["tcpclf"],
}


@dataclass(frozen=True)
class FormatChoice:
    """The format of one frontend: its name, its log-format string, where it was set."""

    frontend: str
    name: str  # http, https, tcp, clf, tcpclf, custom, connect
    log_format: str | None  # None for "connect"
    where: str  # "file:line", or "" when nothing set it
    request_captures: int = 0
    response_captures: int = 0


@dataclass
class _State:
    name: str = "connect"
    fmt: str | None = None
    where: str = ""
    req_caps: int = 0
    rsp_caps: int = 0


def _expand(value: str) -> str:
    for var, fmt in ENV_FORMATS.items():
        value = value.replace("${" + var + "}", fmt).replace("$" + var, fmt)
    return value


def _read(cfg: ConfigFile, section: Section, state: _State) -> None:
    for index, line in cfg.section_lines(section):
        words = line.values
        if not words or index == section.start:
            continue
        where = f"{cfg.name}:{index + 1}"
        kw = words[0]
        if kw == "no" and len(words) >= 3 and words[1] == "option" \
                and words[2] in ("httplog", "httpslog", "tcplog"):
            state.name, state.fmt, state.where = "connect", None, where
        elif kw == "option" and len(words) >= 2:
            opt = words[1]
            clf = len(words) >= 3 and words[2] == "clf"
            if opt == "httplog":
                state.name = "clf" if clf else "http"
            elif opt == "httpslog":
                state.name = "https"
            elif opt == "tcplog":
                state.name = "tcpclf" if clf else "tcp"
            else:
                continue
            state.fmt, state.where = PREDEFINED[state.name], where
        elif kw == "log-format" and len(words) >= 2:
            state.name, state.fmt, state.where = "custom", _expand(words[1]), where
        elif kw == "capture" and len(words) >= 3 and words[2] == "header":
            if words[1] == "request":
                state.req_caps += 1
            elif words[1] == "response":
                state.rsp_caps += 1
        elif kw == "declare" and len(words) >= 3 and words[1] == "capture":
            if words[2] == "request":
                state.req_caps += 1
            elif words[2] == "response":
                state.rsp_caps += 1


def frontend_formats(cfg: ConfigFile) -> dict[str, FormatChoice]:
    """Frontend (or listen) name → :class:`FormatChoice`, over *cfg*'s file set."""
    out: dict[str, FormatChoice] = {}
    files = [*cfg.before, cfg, *cfg.after]
    defaults_by_name: dict[str, tuple[ConfigFile, Section]] = {}
    last_defaults: tuple[ConfigFile, Section] | None = None
    for f in files:
        for section in f.sections:
            if section.type == "defaults":
                if section.name:
                    defaults_by_name[section.name] = (f, section)
                last_defaults = (f, section)
                continue
            if section.type not in ("frontend", "listen") or not section.name:
                continue
            state = _State()
            base = defaults_by_name.get(section.from_) if section.from_ else last_defaults
            if base is not None:
                _read(base[0], base[1], state)
                state.req_caps = state.rsp_caps = 0  # captures are not inherited
            _read(f, section, state)
            out[section.name] = FormatChoice(section.name, state.name, state.fmt,
                                             state.where, state.req_caps, state.rsp_caps)
    return out


def parser_for_config(choices: dict[str, FormatChoice]) -> LineParser:
    """A :class:`~.parse.LineParser` trying each distinct format of *choices* (one
    per log-format string and capture count), each frontend's line with its own.

    A custom log-format that does not compile raises :class:`ValidationError` naming
    the frontend and the line that set it.
    """
    compiled: dict[tuple[str, int, int], NamedFormat] = {}
    by_frontend: dict[str, str] = {}
    for choice in choices.values():
        if choice.log_format is None:
            continue
        key = (choice.log_format, choice.request_captures, choice.response_captures)
        if key not in compiled:
            label = choice.name if choice.name != "custom" else f"custom:{choice.frontend}"
            if choice.name in PREDEFINED and not (choice.request_captures
                                                  or choice.response_captures):
                cf: CompiledFormat = predefined(choice.name)
            else:
                try:
                    cf = compile_format(choice.log_format,
                                        {"hrl": choice.request_captures,
                                         "hsl": choice.response_captures})
                except ValidationError as exc:
                    raise ValidationError(
                        f"the log-format of {choice.frontend} cannot be read: {exc.what}",
                        choice.where or exc.where, exc.hint) from None
            compiled[key] = NamedFormat(label, cf)
        by_frontend[choice.frontend] = compiled[key].name
    if not compiled:
        return LineParser.auto()
    return LineParser(list(compiled.values()), by_frontend)


def parser_from_files(paths: list[str]) -> LineParser:
    """The parser of the configuration *paths* (files, or directories of ``*.cfg``, in
    HAProxy's ``-f`` order). Raises :class:`ConfigError` when none can be read."""
    files: list[ConfigFile] = []
    for path in paths:
        p = Path(path)
        names = sorted(p.glob("*.cfg")) if p.is_dir() else [p]
        for name in names:
            try:
                data = name.read_bytes()
            except OSError as exc:
                raise ConfigError("cannot read the HAProxy configuration", str(name),
                                  exc.strerror or str(exc)) from None
            files.append(ConfigFile.parse(data, name=str(name)))
    if not files:
        raise ConfigError("no configuration file found", ", ".join(paths),
                          "give a file, or a directory holding *.cfg files")
    main = files[0]
    main.after = files[1:]
    return parser_for_config(frontend_formats(main))


def parser_or_auto(paths: list[str]) -> LineParser:
    """:func:`parser_from_files` of *paths*, else (none given, or unreadable) HAProxy's
    predefined formats."""
    if paths:
        try:
            return parser_from_files(paths)
        except HAProxyError:
            pass
    return LineParser.auto()
