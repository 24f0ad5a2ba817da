"""Provides the TUI's own user settings (the theme), kept in the user folder, never in the project."""

from __future__ import annotations

import json
import os
from pathlib import Path

from workbench.setting_values import env_setting


def user_dir() -> Path:
    """``$WORKBENCH_HOME``, else the platform's user config folder for the workbench."""
    home = env_setting(os.environ, "WORKBENCH_HOME")  # blank: not set, as every WORKBENCH_* variable
    if home is not None:
        return Path(home)
    from platformdirs import user_config_path

    return user_config_path("prompt-workbench")


def load_ui_settings() -> dict[str, str]:
    """The saved UI settings ({} when none, or when the file is unreadable)."""
    try:
        data = json.loads((user_dir() / "ui.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_ui_setting(key: str, value: str) -> None:
    """Remember one UI setting; a read-only home folder only loses the preference."""
    data = load_ui_settings()
    data[key] = value
    try:
        folder = user_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ui.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    except OSError:
        pass
