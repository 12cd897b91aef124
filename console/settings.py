"""Settings: one TOML file with named instances and UI preferences.

Read and written with tomlkit, so when the console saves a preference (a
theme, say) the user's comments, order and layout survive. Default location:
``$XDG_CONFIG_HOME/haconsole/settings.toml``; ``HACONSOLE_SETTINGS`` or
``--settings FILE`` point elsewhere. Environment overrides, applied last:
``HACONSOLE_INSTANCE``, ``HACONSOLE_THEME``, ``HACONSOLE_INTERVAL``,
``HACONSOLE_TIMEOUT``, ``HACONSOLE_MAX_ANSWER_MB``. The file is read only if it is
a regular file of at most 1 MiB.

Saving keeps the file's mode, owner and group (a file holding a stats password
stays 0600) and writes through a symlinked settings file to its target.
``shared_state_dir`` (top level, or per instance) is where the operators of a
config file share its apply lock and history (see
:mod:`console.haproxy.shared_state`).

Example::

    default_instance = "edge"

    [ui]
    theme = "dark"
    interval = 2.0

    [keys]              # binding id = keys
    quit = "q"

    [limits]
    timeout = 10          # seconds for one whole exchange with HAProxy
    max_answer_mb = 256   # the largest answer read from HAProxy

    [instances.edge]
    socket = "/run/haproxy/admin.sock"
    master = "/run/haproxy-master.sock"
    config = "/etc/haproxy/haproxy.cfg"   # or a list: ["/etc/haproxy/haproxy.cfg",
                                          #   "/etc/haproxy/conf.d"] (haproxy's -f order)
    stats_url = "http://127.0.0.1:8404/stats"
    reload = "master"     # master | systemctl | command
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.haproxy import limits as limits_mod
from console.haproxy.errors import ConfigError
from console.paths import settings_file
from console.textfiles import read_text_capped

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

RELOAD_METHODS = ("master", "systemctl", "command")
DEFAULT_INTERVAL = limits_mod.DEFAULT_INTERVAL
INTERVAL_RANGE = limits_mod.INTERVAL_RANGE
DRAIN_TIMEOUT_RANGE = (1.0, 86400.0)


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def check_range(value: object, source: str, low: float, high: float, *,
                where: str | None = None, unit: str = "seconds") -> float:
    """*value* (a number, or the text of an environment variable or a flag) as a float
    between *low* and *high*; else a :class:`ConfigError` naming *source*
    (``ui.interval``, ``HACONSOLE_INTERVAL``, ``--interval``...)."""
    shown = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, float):
        shown = f"{value:g}"
    if isinstance(value, str):
        # ASCII digits only: float() would also take '٨٠' or '８０'
        if not _DECIMAL.fullmatch(value.strip()):
            raise ConfigError(f"{source}={shown} is not a number", where,
                              f"give {low:g} to {high:g} {unit}, in digits 0-9")
        value = float(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source} must be a number, not {shown}", where)
    number = float(value)
    if not low <= number <= high:  # NaN fails too
        raise ConfigError(f"{source} must be between {low:g} and {high:g} {unit} "
                          f"(got {shown})", where)
    return number


def check_interval(value: object, source: str, where: str | None = None) -> float:
    """The refresh interval from the settings, the environment or the command line:
    one range for all three."""
    return check_range(value, source, *INTERVAL_RANGE, where=where)


@dataclass
class Instance:
    name: str
    socket: str | None = None
    master: str | None = None
    config: str | None = None  # the first configuration path
    configs: list[str] = field(default_factory=list)  # every one, files or directories
    stats_url: str | None = None
    stats_user: str | None = None
    stats_password: str | None = None
    reload: str = "master"
    reload_command: str | None = None
    haproxy: str | None = None  # binary used for `haproxy -c`
    read_only: bool = False
    shared_state_dir: str | None = None  # overrides the top-level one
    ssh: str | None = None  # the node, as the user's ssh reads it (alias, user@host)
    ssh_config: str | None = None  # ssh -F FILE (default: the user's ~/.ssh/config)
    sudo: bool = False  # node-side commands through sudo -n


@dataclass
class UISettings:
    theme: str = "dark"
    interval: float = DEFAULT_INTERVAL
    drain_timeout: float = 300.0
    keys: dict[str, str] = field(default_factory=dict)


@dataclass
class LimitSettings:
    timeout: float = limits_mod.DEFAULT_TIMEOUT  # seconds, one whole exchange
    max_answer: int = limits_mod.DEFAULT_MAX_ANSWER  # bytes

    def apply(self) -> None:
        """Make these the limits of every client created from now on."""
        limits_mod.configure(timeout=self.timeout, max_answer=self.max_answer)


@dataclass
class Settings:
    path: Path
    # the file as tomlkit reads it (comments and layout kept on save); None without a
    # file (tomlkit is loaded when a file is read or saved: not for every command)
    document: TOMLDocument | None = None
    default_instance: str | None = None
    instances: dict[str, Instance] = field(default_factory=dict)
    fleets: dict[str, list[str]] = field(default_factory=dict)  # name -> instance names
    ui: UISettings = field(default_factory=UISettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    exists: bool = False
    shared_state_dir: str | None = None  # where operators share locks and history

    def instance(self, name: str | None = None) -> Instance | None:
        """The named instance, or the default one, or the only one."""
        key = name or self.default_instance
        if key:
            if key not in self.instances:
                known = ", ".join(sorted(self.instances)) or "none"
                raise ConfigError(f"no instance named {key!r} in the settings", str(self.path),
                                  f"known instances: {known}")
            return self.instances[key]
        if len(self.instances) == 1:
            return next(iter(self.instances.values()))
        return None

    def set_preference(self, section: str, key: str, value: object) -> None:
        """Set ``[section] key = value`` and save, keeping comments and layout."""
        import tomlkit

        if self.document is None:
            self.document = tomlkit.document()
        doc = self.document
        if section not in doc:
            doc.add(section, tomlkit.table())
        doc[section][key] = value
        self.save()
        if section == "ui" and hasattr(self.ui, key):
            setattr(self.ui, key, value)

    def save(self) -> None:
        """Write the document back: same mode, owner and group; through a symlink.

        The text goes to a ``mkstemp`` file beside the real file (a symlinked
        settings file is resolved: the link stays, its target is replaced), which
        gets the old file's mode, owner and group before it is renamed over it. A
        new file is created 0600: it may hold a stats password.
        """
        real = Path(os.path.realpath(self.path))
        try:
            real.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            st: os.stat_result | None = os.stat(real)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise ConfigError(f"cannot save the settings: {exc.strerror}", str(real),
                              "check the directory's permissions") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise ConfigError("cannot save the settings: not a regular file", str(real))
        try:
            import tempfile  # (only when the settings are written)

            fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        except OSError as exc:
            raise ConfigError(f"cannot save the settings: {exc.strerror}", str(real),
                              "check the directory's permissions and free space") from None
        try:
            try:
                if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(fd, st.st_uid, st.st_gid)
                    except PermissionError:
                        raise ConfigError("cannot save the settings without changing their "
                                          "owner or group", str(real),
                                          "save them as their owner") from None
                os.fchmod(fd, stat.S_IMODE(st.st_mode) if st is not None else 0o600)
                import tomlkit

                document = self.document if self.document is not None else \
                    tomlkit.document()
                data = tomlkit.dumps(document).encode("utf-8")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, real)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise ConfigError(f"cannot save the settings: {exc.strerror}", str(real),
                              "check the directory's permissions and free space") from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.M)
    m = pattern.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _where(path: Path, text: str, key: str) -> str:
    line = _line_of(text, key)
    return f"{path}:{line}" if line else str(path)


def _table_where(path: Path, text: str, dotted: str, key: str) -> str:
    """Where the table ``[dotted]`` starts, else where *key* is set (``[fleets]`` ``p = …``)."""
    parts = [re.escape(part) for part in dotted.split(".")]
    m = re.search(r"^[ \t]*\[[ \t]*" + r"[ \t]*\.[ \t]*".join(parts) + r"[ \t]*\]", text, re.M)
    if m:
        return f"{path}:{text.count(chr(10), 0, m.start()) + 1}"
    return _where(path, text, key)


def _get(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: Path, text: str,
         dotted: str) -> object:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ConfigError(f"{dotted} must be a number, not {value!r}", _where(path, text, key))
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "number"
        expected = {"str": "a string", "bool": "true or false", "dict": "a table"}.get(
            expected, f"a {expected}")
        raise ConfigError(f"{dotted} must be {expected}", _where(path, text, key))
    return value.unwrap() if hasattr(value, "unwrap") else value


def _table(table: Mapping[str, Any], key: str, path: Path, text: str,
           dotted: str) -> dict[str, Any]:
    """The table *key* of *table* (empty when absent)."""
    value = _get(table, key, dict, path, text, dotted)
    return value if isinstance(value, dict) else {}


def _set_limit(limits: LimitSettings, key: str, value: object, source: str,
               where: str | None) -> None:
    if key == "timeout":
        limits.timeout = check_range(value, source, *limits_mod.TIMEOUT_RANGE, where=where)
    else:
        low, high = limits_mod.MAX_ANSWER_MB_RANGE
        mib = check_range(value, source, low, high, where=where, unit="MiB")
        limits.max_answer = int(mib * limits_mod.MIB)


def _config_paths(table: dict, path: Path, text: str, name: str) -> list[str]:
    """``config``: one path, or a list of paths (files or directories, in -f order)."""
    value = table.get("config")
    if value is None:
        return []
    value = value.unwrap() if hasattr(value, "unwrap") else value
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise ConfigError(f"instances.{name}.config must be a path or a list of paths",
                          _where(path, text, "config"),
                          'e.g. config = ["/etc/haproxy/haproxy.cfg", "/etc/haproxy/conf.d"]')
    return [os.path.expanduser(v) for v in value]


def _parse(p: Path, text: str) -> TOMLDocument:
    import tomlkit
    import tomlkit.exceptions

    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        reason = str(exc).split(" at line ")[0]
        raise ConfigError(f"settings file is not valid TOML: {reason}",
                          f"{p}:{exc.line}:{exc.col}",
                          "fix that line, or move the file away to start fresh") from None


def load(path: str | Path | None = None) -> Settings:
    """Load the settings file; a missing file gives empty settings."""
    p = Path(path) if path else settings_file()
    try:
        text = read_text_capped(p, "settings file")
        exists = True
    except FileNotFoundError:
        if path:
            raise ConfigError("settings file not found", str(p),
                              "check the path given to --settings") from None
        text, exists = "", False
    document = _parse(p, text) if exists else None
    settings = Settings(path=p, document=document, exists=exists)
    doc: Mapping[str, Any] = document if document is not None else {}
    settings.default_instance = _get(doc, "default_instance", str, p, text,
                                     "default_instance")  # type: ignore[assignment]
    settings.shared_state_dir = _get(doc, "shared_state_dir", str, p, text,
                                     "shared_state_dir")  # type: ignore[assignment]
    ui = _table(doc, "ui", p, text, "[ui]")
    if ui:
        theme = _get(ui, "theme", str, p, text, "ui.theme")
        interval = _get(ui, "interval", (int, float), p, text, "ui.interval")
        drain_timeout = _get(ui, "drain_timeout", (int, float), p, text, "ui.drain_timeout")
        if drain_timeout is not None:
            settings.ui.drain_timeout = check_range(drain_timeout, "ui.drain_timeout",
                                                    *DRAIN_TIMEOUT_RANGE,
                                                    where=_where(p, text, "drain_timeout"))
        if theme:
            settings.ui.theme = theme  # type: ignore[assignment]
        if interval is not None:
            settings.ui.interval = check_interval(interval, "ui.interval",
                                                  _where(p, text, "interval"))
    limits = _table(doc, "limits", p, text, "[limits]")
    for key in ("timeout", "max_answer_mb"):
        value = _get(limits, key, (int, float), p, text, f"limits.{key}")
        if value is not None:
            _set_limit(settings.limits, key, value, f"limits.{key}", _where(p, text, key))
    keys = _table(doc, "keys", p, text, "[keys]")
    for binding_id, keyspec in keys.items():
        if not isinstance(keyspec, str):
            raise ConfigError(f"keys.{binding_id} must be a string such as \"ctrl+r\"",
                              _where(p, text, binding_id))
        settings.ui.keys[binding_id] = str(keyspec)

    instances = _table(doc, "instances", p, text, "[instances]")
    for name, table in instances.items():
        if not isinstance(table, dict):
            raise ConfigError(f"instances.{name} must be a table ([instances.{name}])",
                              _where(p, text, name))
        inst = Instance(name=name)
        inst.configs = _config_paths(table, p, text, name)
        inst.config = inst.configs[0] if inst.configs else None
        for attr in ("socket", "master", "stats_url", "stats_user",
                     "stats_password", "reload", "reload_command", "haproxy",
                     "shared_state_dir", "ssh", "ssh_config"):
            value = _get(table, attr, str, p, text, f"instances.{name}.{attr}")
            if value is not None:
                setattr(inst, attr, value)
        ro = _get(table, "read_only", bool, p, text, f"instances.{name}.read_only")
        inst.read_only = bool(ro)
        inst.sudo = bool(_get(table, "sudo", bool, p, text, f"instances.{name}.sudo"))
        if inst.ssh is not None:
            from console.haproxy.ssh import SSHError, check_host

            try:
                check_host(inst.ssh)
            except SSHError as exc:
                raise ConfigError(f"instances.{name}.ssh: {exc.what}", _where(p, text, "ssh"),
                                  exc.hint) from None
        if inst.reload not in RELOAD_METHODS:
            raise ConfigError(f"instances.{name}.reload must be one of "
                              f"{', '.join(RELOAD_METHODS)}", _where(p, text, "reload"))
        if inst.reload == "command" and not inst.reload_command:
            raise ConfigError(f"instances.{name}.reload = \"command\" needs reload_command",
                              _where(p, text, "reload"))
        settings.instances[name] = inst
    fleets = _table(doc, "fleets", p, text, "[fleets]")
    for name, table in fleets.items():
        where = _table_where(p, text, f"fleets.{name}", name)
        members = table.get("instances") if isinstance(table, dict) else None
        if not (isinstance(members, list) and members
                and all(isinstance(m, str) for m in members)):
            raise ConfigError(f"fleets.{name} needs instances = [\"lb1\", \"lb2\", …]",
                              where)
        unknown = [m for m in members if m not in settings.instances]
        if unknown:
            raise ConfigError(f"fleets.{name}: no [instances.{unknown[0]}]",
                              where, "define each instance of the fleet")
        if len(set(members)) != len(members):
            raise ConfigError(f"fleets.{name} names an instance twice", where)
        settings.fleets[name] = [str(m) for m in members]
    if settings.default_instance and settings.default_instance not in settings.instances:
        raise ConfigError(f"default_instance {settings.default_instance!r} is not defined",
                          _where(p, text, "default_instance"),
                          f"add [instances.{settings.default_instance}]")

    env_theme = os.environ.get("HACONSOLE_THEME")
    if env_theme:
        settings.ui.theme = env_theme
    env_interval = os.environ.get("HACONSOLE_INTERVAL")
    if env_interval:
        settings.ui.interval = check_interval(env_interval, "HACONSOLE_INTERVAL")
    for var, key in (("HACONSOLE_TIMEOUT", "timeout"), ("HACONSOLE_MAX_ANSWER_MB",
                                                         "max_answer_mb")):
        env_value = os.environ.get(var)
        if env_value:
            _set_limit(settings.limits, key, env_value, var, None)
    env_instance = os.environ.get("HACONSOLE_INSTANCE")
    if env_instance:
        settings.default_instance = env_instance
    return settings
