"""Project discovery and settings precedence: flag > environment > workbench.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import ConfigError, WorkbenchError
from workbench.project import DEFAULT_MODEL, find_root, load_settings, open_project
from workbench.scaffold import create_project


def write_config(root: Path, text: str) -> None:
    (root / "workbench.toml").write_text(text, encoding="utf-8")


def test_defaults_without_a_config_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.model == DEFAULT_MODEL and settings.concurrency == 4 and settings.plateau.k == 3


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    write_config(tmp_path, '[defaults]\nmodel = "from-file"\nconcurrency = 2\n[plateau]\nk = 5\n')
    assert load_settings(tmp_path, env={}).model == "from-file"
    env = {"WORKBENCH_MODEL": "from-env", "WORKBENCH_CONCURRENCY": "7"}
    settings = load_settings(tmp_path, env=env)
    assert (settings.model, settings.concurrency, settings.plateau.k) == ("from-env", 7, 5)
    assert load_settings(tmp_path, env=env, model="from-flag", concurrency=None).model == "from-flag"


@pytest.mark.parametrize(("text", "message"), [
    ("[defaults\n", "not valid TOML"),
    ("[defaults]\nmodle = 'x'\n", "unknown setting \\[defaults\\] modle"),
    ("[defaults]\nconcurrency = 'many'\n", "concurrency must be a whole number: it is text that is not a number"),
    ("[nonsense]\n", "unknown section 'nonsense'"),
    ("[plateau]\nk = 'three'\n", "\\[plateau\\] k must be a whole number: it is text that is not a number"),
    ("[models.x]\nmodel = 'openai/x'\napi_key = 'sk-secret'\n", "must not hold an API key"),
    ("[models.x]\napi_base = 'http://127.0.0.1'\n", "needs a 'model' string"),
])
def test_bad_settings_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(tmp_path, env={})
    assert "workbench.toml" in str(caught.value)


def test_bad_environment_value_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKBENCH_TIMEOUT"):
        load_settings(tmp_path, env={"WORKBENCH_TIMEOUT": "soon"})


def test_the_project_is_found_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    create_project(tmp_path / "proj")
    inner = tmp_path / "proj" / "datasets"
    assert find_root(inner) == (tmp_path / "proj").resolve()
    monkeypatch.chdir(inner)
    project = open_project()
    assert project.db_path == (tmp_path / "proj").resolve() / ".workbench" / "workbench.db"


def test_no_project_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="no workbench project here"):
        open_project(tmp_path)
    with pytest.raises(WorkbenchError, match="no such project folder"):
        open_project(tmp_path / "missing")


def test_init_never_overwrites(tmp_path: Path) -> None:
    create_project(tmp_path)
    with pytest.raises(WorkbenchError, match="already exists"):
        create_project(tmp_path)


def test_the_costs_table_is_read_with_defaults_and_a_bad_value_names_the_file(tmp_path: Path) -> None:
    from workbench.costs import LOCAL_USD_PER_HOUR

    assert load_settings(tmp_path, env={}).costs.local_usd_per_hour == LOCAL_USD_PER_HOUR
    (tmp_path / "workbench.toml").write_text(
        "[costs]\nlocal_usd_per_hour = 0.5\npayback_months = 3\n[costs.training]\n\"my-base\" = 2.5\n",
        encoding="utf-8")
    costs = load_settings(tmp_path, env={}).costs
    assert (costs.local_usd_per_hour, costs.payback_months, costs.training_price("my-base")) == (0.5, 3, 2.5)
    (tmp_path / "workbench.toml").write_text("[costs]\nlocal_usd_per_hour = \"free\"\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    assert "workbench.toml" in str(caught.value) and "local_usd_per_hour" in str(caught.value)
