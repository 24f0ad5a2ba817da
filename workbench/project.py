"""Provides the project: a folder with prompts/, datasets/, exports/ and .workbench/, and its settings.

Settings resolve in this order: command-line flag > environment (``WORKBENCH_*``) > ``workbench.toml``
> built-in defaults. API keys are never part of the settings.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from workbench.costs import CostSettings
from workbench.errors import ConfigError, WorkbenchError
from workbench.names import nfc, on_disk, prompt_name
from workbench.providers.registry import parse_deployments
from workbench.records import CREDENTIAL_URL, SECRET_PARAM, params_fault, secret_name
from workbench.setting_values import API_BASE_HINT, api_base_fault, env_setting, setting_number
from workbench.text import kind_of

DEFAULT_MODEL = "local/smollm2"
CONFIG_NAME = "workbench.toml"


@dataclass(frozen=True)
class PlateauSettings:
    """The plateau rule (DESIGN.md §9)."""

    k: int = 3
    """How many recent versions must fail to beat the best earlier one (at least 1)."""
    min_gain: float = 0.02
    """The smallest gain in pass rate that counts as progress, a fraction: 0.02 is 2 points (from 0, below 1)."""
    alpha: float = 0.05
    """Significance level for the gain (above 0, below 1): the CI is at 1 - alpha."""


@dataclass(frozen=True)
class Settings:
    """Project settings."""

    model: str = DEFAULT_MODEL
    """Default model for prompts that name none."""
    concurrency: int = 4
    """Calls in flight at once, per model."""
    timeout: float = 60.0
    """Seconds before one call is abandoned (and retried)."""
    retries: int = 4
    """Retries after the first attempt for 429, 5xx, timeouts and connection errors."""
    judge_model: str | None = None
    """Default model of the ``llm_judge`` scorer."""
    proposer_model: str | None = None
    """Default model that proposes rewrites in ``workbench optimize`` (None: the searched model itself)."""
    theme: str = "textual-dark"
    """The TUI theme."""
    plateau: PlateauSettings = field(default_factory=PlateauSettings)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Model aliases: ``[models.NAME]`` tables with ``model``, ``api_base``, ``api_key_env``, ``params``."""
    costs: CostSettings = field(default_factory=CostSettings)
    """The ``[costs]`` table: local compute rate, payback horizon, training prices (``workbench.costs``)."""


_DEFAULTS_KEYS = {"model": str, "concurrency": int, "timeout": float, "retries": int, "judge_model": str,
                  "proposer_model": str}
MAX_TIMEOUT = 86_400.0
"""The longest timeout of a call, in seconds (a day): far longer and the HTTP client's socket timeout
overflows (a time_t), so every call would fail."""
MAX_RETRIES = 100
"""The most retries of a call: beyond, the backoff's 2 ** attempt would overflow before anything useful."""
_NUMBERS: dict[str, dict[str, Any]] = {
    "concurrency": {"whole": True, "low": 1, "meaning": "a whole number of calls in flight, at least 1"},
    "timeout": {"low": 0, "low_open": True, "high": MAX_TIMEOUT,
                "meaning": f"a number of seconds above 0 and at most {MAX_TIMEOUT:g} (a day)"},
    "retries": {"whole": True, "low": 0, "high": MAX_RETRIES,
                "meaning": f"0 or more (a whole number, at most {MAX_RETRIES})"},
}
"""Every number of ``[defaults]`` (and its ``WORKBENCH_*`` variable and flag): ``setting_number``'s range."""
_PLATEAU_NUMBERS: dict[str, dict[str, Any]] = {
    "k": {"whole": True, "low": 1, "meaning": "a whole number of versions, at least 1"},
    "min_gain": {"low": 0, "high": 1, "high_open": True, "meaning": "a fraction from 0 up to (not including) 1",
                 "hint": "a gain in pass rate as a fraction: 0.02 means 2 points"},
    "alpha": {"low": 0, "high": 1, "low_open": True, "high_open": True,
              "meaning": "a number between 0 and 1 (neither included)",
              "hint": "the significance level: 0.05 for a 95% confidence interval"},
}
"""Every setting of ``[plateau]`` (``PlateauSettings``): ``setting_number``'s range."""
_WARM_SWITCH = frozenset({"0", "off", "false", "no", "1", "on", "true", "yes"})
"""What ``WORKBENCH_WARM`` may say, in any case (``cli.warm.enabled``: 0, off, false and no turn the warm start
off; empty, as every blank ``WORKBENCH_*`` variable, counts as not set: ``env_setting``)."""
_ALIAS_PARAM_HINTS = {
    "model": "the alias's model is its own 'model' key",
    "api_base": "use the alias's own api_base key",
    "base_url": "use the alias's own api_base key",
    SECRET_PARAM: "name the variable that holds the key with the alias's api_key_env",
    CREDENTIAL_URL: "an address goes in the alias's own api_base key, its key in the variable api_key_env names",
}
"""What to do about a fault of a ``[models.NAME]`` alias's params, where it differs from a prompt's."""
ALIAS_KEYS = ("model", "api_base", "api_key_env", "params", "deployments")
"""What a ``[models.NAME]`` alias may set (its deployments: ``registry.DEPLOYMENT_KEYS``)."""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""An environment variable's name, as a POSIX shell can export it."""
_ALIAS_STRINGS = {
    "model": "a litellm model name, such as model = \"openai/gpt-4o-mini\"",
    "api_base": "the server's address, such as api_base = \"http://127.0.0.1:8080/v1\"",
    "api_key_env": "the name of the variable that holds the key, such as api_key_env = \"MY_KEY\"",
}
"""The keys of a ``[models.NAME]`` alias that must be strings -> what to write."""
_ENV_KEYS = {"MODEL": "model", "CONCURRENCY": "concurrency", "TIMEOUT": "timeout", "RETRIES": "retries",
             "JUDGE_MODEL": "judge_model", "PROPOSER_MODEL": "proposer_model", "THEME": "theme"}


def _value(key: str, value: Any, where: str, path: Path | None) -> Any:
    """``value`` of setting ``key`` from ``where`` (a line of the file at ``path``, a variable, a flag): a
    number in its range (``_NUMBERS``), or a string."""
    if key in _NUMBERS:
        return setting_number(value, where, path=path, **_NUMBERS[key])
    return _coerce(value, str, where, path)  # a theme the TUI does not have is said by the TUI


def _check_warm_variables(env: Mapping[str, str]) -> None:
    """Refuse a ``WORKBENCH_WARM`` that is no switch (a typo would leave the warm start on) and a
    ``WORKBENCH_WARM_IDLE`` that is no finite number of seconds above 0 (either blank counts as not set)."""
    switch = env_setting(env, "WORKBENCH_WARM")
    if switch is not None and switch.strip().lower() not in _WARM_SWITCH:
        raise ConfigError("WORKBENCH_WARM must be 1, on, true or yes, or 0, off, false or no",
                          hint="WORKBENCH_WARM=0 runs each command in its own process")
    idle = env_setting(env, "WORKBENCH_WARM_IDLE")
    if idle is not None:
        setting_number(idle, "WORKBENCH_WARM_IDLE", low=0, low_open=True,
                       meaning="a number of seconds above 0", hint="how long the warm process waits for a command")


def _coerce(value: Any, kind: type, where: str, path: Path | None) -> Any:
    """``value`` when it is a ``kind`` (a string: numbers go through ``setting_number``)."""
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where} must be {_KIND_WORDS[kind]}, not {kind_of(value)}", path=path)
    return value


_KIND_WORDS = {int: "a whole number", float: "a number", str: "a string"}
"""How ``_coerce`` names the type a setting must have (its value is never repeated: it may hold a key)."""


def _check_alias_params(name: str, params: Any, path: Path) -> None:
    """Refuse ``[models.NAME] params`` that are not a table, or where ``records.params_fault`` finds a fault:
    they are merged under every call's params of the alias (``registry.resolve_model``), so they are held to
    the rule of a prompt's params (a reserved keyword fails every call; a secret would be stored)."""
    where = f"[models.{name}] params"
    if not isinstance(params, dict):
        raise ConfigError(f"{where} must be a table", path=path, hint="such as params = {temperature = 0}")
    fault = params_fault(params, where, _ALIAS_PARAM_HINTS)
    if fault is not None:
        raise ConfigError(fault[1], path=path, hint=fault[2])


def load_settings(root: Path, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read ``workbench.toml`` under ``root``, then the environment, then ``overrides`` (flags)."""
    env = os.environ if env is None else env
    path = root / CONFIG_NAME
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"not valid TOML: {error}", path=path) from None
    values: dict[str, Any] = {}
    unknown = set(data) - {"defaults", "plateau", "models", "ui", "costs"}
    if unknown:
        raise ConfigError(f"unknown section {sorted(unknown)[0]!r}", path=path,
                          hint="sections: [defaults], [plateau], [models.NAME], [costs], [ui]")
    for section in ("defaults", "plateau", "models", "ui", "costs"):
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"[{section}] must be a table, not {kind_of(data[section])}", path=path,
                              hint=f"write it as a section: [{section}] on a line of its own, its settings below")
    for key, value in data.get("defaults", {}).items():
        if key not in _DEFAULTS_KEYS:
            raise ConfigError(f"unknown setting [defaults] {key}", path=path,
                              hint="known: " + ", ".join(_DEFAULTS_KEYS))
        values[key] = _value(key, value, f"[defaults] {key}", path)
    for key, value in data.get("ui", {}).items():
        if key != "theme":
            raise ConfigError(f"unknown setting [ui] {key}", path=path, hint="known: theme")
        values["theme"] = _value("theme", value, "[ui] theme", path)
    plateau = PlateauSettings()
    for key, value in data.get("plateau", {}).items():
        if key not in _PLATEAU_NUMBERS:
            raise ConfigError(f"unknown setting [plateau] {key}", path=path,
                              hint="known: " + ", ".join(item.name for item in fields(PlateauSettings)))
        plateau = replace(plateau, **{key: setting_number(value, f"[plateau] {key}", path=path,
                                                          **_PLATEAU_NUMBERS[key])})
    models = data.get("models", {})
    for name, table in models.items():
        # Any secret-named key (records.secret_name: API_KEY, Api-Key, token...), not only api_key: an alias
        # reads none of them, so a key written there would be ignored and left in a file that may be shared.
        secrets = sorted(str(key) for key in table if secret_name(key)) if isinstance(table, dict) else []
        if secrets:
            raise ConfigError(f"[models.{name}] must not hold an API key ({secrets[0]!r})", path=path,
                              hint="name the environment variable instead: api_key_env = \"MY_KEY\"")
        if not isinstance(table, dict) or not (isinstance(table.get("model"), str) or "deployments" in table):
            raise ConfigError(f"[models.{name}] needs a 'model' string (a litellm model name)", path=path)
        unknown_keys = sorted(str(key) for key in table if key not in ALIAS_KEYS)
        if unknown_keys:
            # A misspelt key (api_bse) would be ignored: the alias would call the provider's default address.
            raise ConfigError(f"[models.{name}] has an unknown key {unknown_keys[0]!r}", path=path,
                              hint="known: " + ", ".join(ALIAS_KEYS))
        deployments = table.get("deployments")
        places = [table, *(item for item in deployments if isinstance(item, dict))] \
            if isinstance(deployments, list) else [table]
        if any(isinstance(place.get("api_key_env"), str) and not _ENV_NAME.fullmatch(place["api_key_env"])
               for place in places):
            # Never repeated: what is written there is likely the key itself.
            raise ConfigError(f"[models.{name}] api_key_env must be the name of an environment variable", path=path,
                              hint="such as api_key_env = \"MY_KEY\" (letters, digits and _), with the key in it")
        for key in _ALIAS_STRINGS:
            if key in table and not isinstance(table[key], str):
                raise ConfigError(f"[models.{name}] {key} must be a string, not {kind_of(table[key])}", path=path,
                                  hint=_ALIAS_STRINGS[key])
        for place in places:
            fault = api_base_fault(place["api_base"]) if isinstance(place.get("api_base"), str) else None
            if fault:  # the address itself is never repeated: it may hold a password or a key
                raise ConfigError(f"[models.{name}] api_base: {fault}", path=path, hint=API_BASE_HINT)
        try:
            parse_deployments(name, table)
        except ConfigError as error:
            raise ConfigError(error.message, path=path, hint=error.hint) from None
        _check_alias_params(name, table.get("params", {}), path)
    for suffix, key in _ENV_KEYS.items():
        variable = env_setting(env, f"WORKBENCH_{suffix}")  # blank (WORKBENCH_MODEL=): not set
        if variable is not None:
            values[key] = _value(key, variable, f"WORKBENCH_{suffix}", None)
    _check_warm_variables(env)
    # A flag's value is checked as the file's and the environment's are, naming the flag.
    values.update({key: _value(key, value, f"--{key.replace('_', '-')}", None)
                   for key, value in overrides.items() if value is not None})
    costs_table = data.get("costs", {})
    if not isinstance(costs_table, dict):
        raise ConfigError("[costs] must be a table", path=path)
    try:
        costs = CostSettings.from_table(costs_table)
    except ConfigError as error:
        raise ConfigError(error.message, path=path, hint=error.hint) from None
    return Settings(plateau=plateau, models=dict(models), costs=costs, **values)


@dataclass(frozen=True)
class Project:
    """A workbench project folder and its settings."""

    root: Path
    settings: Settings

    @property
    def prompts_dir(self) -> Path:
        """Where prompt files live."""
        return self.root / "prompts"

    @property
    def datasets_dir(self) -> Path:
        """Where test sets live."""
        return self.root / "datasets"

    @property
    def exports_dir(self) -> Path:
        """Where fine-tuning exports are written."""
        return self.root / "exports"

    @property
    def state_dir(self) -> Path:
        """The git-ignored folder holding the database and local models."""
        return self.root / ".workbench"

    @property
    def db_path(self) -> Path:
        """The project's SQLite database."""
        return self.state_dir / "workbench.db"

    def prompt_path(self, name: str) -> Path:
        """The file of prompt ``name`` (a name or a path to a .prompt file), whatever its name's Unicode form."""
        candidate = Path(name)
        if candidate.suffix == ".prompt":
            return on_disk(candidate if candidate.is_absolute() else (Path.cwd() / candidate))
        wanted = nfc(name)
        path = self.prompts_dir / f"{wanted}.prompt"
        if path.is_file():
            return path
        files = sorted(self.prompts_dir.glob("*.prompt")) if self.prompts_dir.is_dir() else []
        return next((file for file in files if prompt_name(file) == wanted), path)

    def resolve(self, relative: str | Path) -> Path:
        """A path from a prompt or setting, relative to the project root, whatever its Unicode form on disk."""
        path = Path(relative)
        return on_disk(path if path.is_absolute() else self.root / path)


def find_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` holding workbench.toml or prompts/."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file() or (folder / "prompts").is_dir():
            return folder
    return None


def open_project(path: Path | str | None = None, **overrides: Any) -> Project:
    """Open the project at ``path`` (or the one containing the current folder)."""
    if path is not None and not Path(path).is_dir():
        raise WorkbenchError(f"no such project folder: {path}")
    root = find_root(Path(path) if path else None)
    if root is None:
        raise WorkbenchError("no workbench project here (no workbench.toml or prompts/ folder)",
                             hint="run 'workbench init' to create one, or pass --project DIR")
    return Project(root=root, settings=load_settings(root, **overrides))
