"""Settings: one TOML file with named instances and UI preferences.

Read and written with tomlkit, so when the console saves a preference (a
theme, say) the user's comments, order and layout survive. Default location:
``$XDG_CONFIG_HOME/haconsole/settings.toml``; ``HACONSOLE_SETTINGS`` or
``--settings FILE`` point elsewhere. Environment overrides, applied last:
``HACONSOLE_INSTANCE``, ``HACONSOLE_THEME``, ``HACONSOLE_INTERVAL``.

Example::

    default_instance = "edge"

    [ui]
    theme = "dark"
    interval = 2.0

    [keys]              # binding id = keys
    quit = "q"

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
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import tomlkit
import tomlkit.exceptions
from tomlkit.toml_document import TOMLDocument

from console.haproxy.errors import ConfigError

APP = "haconsole"
RELOAD_METHODS = ("master", "systemctl", "command")


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def state_dir() -> Path:
    """Journal, staged changes, history, logs. Created on demand, mode 0700."""
    path = Path(os.environ.get("HACONSOLE_STATE_DIR") or platformdirs.user_state_dir(APP))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_settings_path() -> Path:
    env = os.environ.get("HACONSOLE_SETTINGS")
    return Path(env) if env else config_dir() / "settings.toml"


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


@dataclass
class UISettings:
    theme: str = "dark"
    interval: float = 2.0
    drain_timeout: float = 300.0
    keys: dict[str, str] = field(default_factory=dict)


@dataclass
class Settings:
    path: Path
    document: TOMLDocument
    default_instance: str | None = None
    instances: dict[str, Instance] = field(default_factory=dict)
    ui: UISettings = field(default_factory=UISettings)
    exists: bool = False

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
        doc = self.document
        if section not in doc:
            doc.add(section, tomlkit.table())
        doc[section][key] = value  # type: ignore[index]
        self.save()
        if section == "ui" and hasattr(self.ui, key):
            setattr(self.ui, key, value)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(tomlkit.dumps(self.document))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"cannot save the settings: {exc.strerror}", str(self.path),
                              "check the directory's permissions and free space") from None


def _line_of(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^[ \t]*{re.escape(key)}[ \t]*=", re.M)
    m = pattern.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _where(path: Path, text: str, key: str) -> str:
    line = _line_of(text, key)
    return f"{path}:{line}" if line else str(path)


def _get(table: dict, key: str, kind: type | tuple[type, ...], path: Path, text: str,
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


def load(path: str | Path | None = None) -> Settings:
    """Load the settings file; a missing file gives empty settings."""
    p = Path(path) if path else default_settings_path()
    try:
        text = p.read_text(encoding="utf-8")
        exists = True
    except FileNotFoundError:
        if path:
            raise ConfigError("settings file not found", str(p),
                              "check the path given to --settings") from None
        text, exists = "", False
    except UnicodeDecodeError:
        raise ConfigError("settings file is not UTF-8 text", str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the settings file: {exc.strerror}", str(p)) from None
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        reason = str(exc).split(" at line ")[0]
        raise ConfigError(f"settings file is not valid TOML: {reason}",
                          f"{p}:{exc.line}:{exc.col}",
                          "fix that line, or move the file away to start fresh") from None

    settings = Settings(path=p, document=doc, exists=exists)
    settings.default_instance = _get(doc, "default_instance", str, p, text,
                                     "default_instance")  # type: ignore[assignment]
    ui = _get(doc, "ui", dict, p, text, "[ui]") or {}
    if ui:
        theme = _get(ui, "theme", str, p, text, "ui.theme")
        interval = _get(ui, "interval", (int, float), p, text, "ui.interval")
        drain_timeout = _get(ui, "drain_timeout", (int, float), p, text, "ui.drain_timeout")
        if drain_timeout is not None:
            if not 1 <= float(drain_timeout) <= 86400:  # type: ignore[arg-type]
                raise ConfigError("ui.drain_timeout must be between 1 and 86400 seconds",
                                  _where(p, text, "drain_timeout"))
            settings.ui.drain_timeout = float(drain_timeout)  # type: ignore[arg-type]
        if theme:
            settings.ui.theme = theme  # type: ignore[assignment]
        if interval is not None:
            if not 0.1 <= float(interval) <= 3600:  # type: ignore[arg-type]
                raise ConfigError("ui.interval must be between 0.1 and 3600 seconds",
                                  _where(p, text, "interval"))
            settings.ui.interval = float(interval)  # type: ignore[arg-type]
    keys = _get(doc, "keys", dict, p, text, "[keys]") or {}
    for binding_id, keyspec in keys.items():  # type: ignore[union-attr]
        if not isinstance(keyspec, str):
            raise ConfigError(f"keys.{binding_id} must be a string such as \"ctrl+r\"",
                              _where(p, text, binding_id))
        settings.ui.keys[binding_id] = str(keyspec)

    instances = _get(doc, "instances", dict, p, text, "[instances]") or {}
    for name, table in instances.items():  # type: ignore[union-attr]
        if not isinstance(table, dict):
            raise ConfigError(f"instances.{name} must be a table ([instances.{name}])",
                              _where(p, text, name))
        inst = Instance(name=name)
        inst.configs = _config_paths(table, p, text, name)
        inst.config = inst.configs[0] if inst.configs else None
        for attr in ("socket", "master", "stats_url", "stats_user",
                     "stats_password", "reload", "reload_command", "haproxy"):
            value = _get(table, attr, str, p, text, f"instances.{name}.{attr}")
            if value is not None:
                setattr(inst, attr, value)
        ro = _get(table, "read_only", bool, p, text, f"instances.{name}.read_only")
        inst.read_only = bool(ro)
        if inst.reload not in RELOAD_METHODS:
            raise ConfigError(f"instances.{name}.reload must be one of "
                              f"{', '.join(RELOAD_METHODS)}", _where(p, text, "reload"))
        if inst.reload == "command" and not inst.reload_command:
            raise ConfigError(f"instances.{name}.reload = \"command\" needs reload_command",
                              _where(p, text, "reload"))
        settings.instances[name] = inst
    if settings.default_instance and settings.default_instance not in settings.instances:
        raise ConfigError(f"default_instance {settings.default_instance!r} is not defined",
                          _where(p, text, "default_instance"),
                          f"add [instances.{settings.default_instance}]")

    env_theme = os.environ.get("HACONSOLE_THEME")
    if env_theme:
        settings.ui.theme = env_theme
    env_interval = os.environ.get("HACONSOLE_INTERVAL")
    if env_interval:
        try:
            settings.ui.interval = float(env_interval)
        except ValueError:
            raise ConfigError(f"HACONSOLE_INTERVAL={env_interval!r} is not a number") from None
    env_instance = os.environ.get("HACONSOLE_INSTANCE")
    if env_instance:
        settings.default_instance = env_instance
    return settings
