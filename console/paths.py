"""Where haconsole keeps its files: settings, user themes, state (journal, staged
changes, history, the log).

Imports nothing of the project, so every layer may use it. These are locations
only: the state directory is checked (owner, mode, not a symlink) when it is
used, by :func:`console.haproxy.statefs.state_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "haconsole"
LOG_NAME = "haconsole.log"
JOURNAL_NAME = "journal.jsonl"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/haconsole``: the settings file and the user's themes."""
    return Path(platformdirs.user_config_dir(APP))


def settings_file() -> Path:
    """``HACONSOLE_SETTINGS``, else ``settings.toml`` in :func:`config_dir`."""
    env = os.environ.get("HACONSOLE_SETTINGS")
    return Path(env) if env else config_dir() / "settings.toml"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def state_location() -> Path:
    """``HACONSOLE_STATE_DIR``, else ``$XDG_STATE_HOME/haconsole`` (not yet checked)."""
    return Path(os.environ.get("HACONSOLE_STATE_DIR") or platformdirs.user_state_dir(APP))
