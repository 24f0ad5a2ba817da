"""Every number and every enumerated setting of workbench.toml, the WORKBENCH_* variables and the flags is
checked when the settings are read (``setting_values.setting_number``): a finite number within its range,
named with the file (or the variable, or the flag) that set it."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.project import load_settings
from workbench.setting_values import api_base_fault, setting_number


def refused(root: Path, text: str, env: dict[str, str] | None = None, **overrides: object) -> str:
    (root / "workbench.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(root, env=env or {}, **overrides)
    return str(caught.value)


@pytest.mark.parametrize(("text", "message"), [
    ("[plateau]\nk = 0\n", "[plateau] k must be a whole number of versions, at least 1, not 0"),
    ("[plateau]\nk = -1\n", "[plateau] k must be a whole number of versions, at least 1, not -1"),
    ("[plateau]\nk = true\n", "[plateau] k must be a whole number, not true or false"),
    ("[plateau]\nk = 2.5\n", "[plateau] k must be a whole number, not 2.5"),
    ("[plateau]\nalpha = 5\n", "[plateau] alpha must be a number between 0 and 1 (neither included), not 5"),
    ("[plateau]\nalpha = nan\n", "[plateau] alpha must be a number between 0 and 1 (neither included), not nan"),
    ("[plateau]\nalpha = 0\n", "[plateau] alpha must be a number between 0 and 1"),
    ("[plateau]\nalpha = 1\n", "[plateau] alpha must be a number between 0 and 1"),
    ("[plateau]\nmin_gain = 2\n", "[plateau] min_gain must be a fraction from 0 up to (not including) 1, not 2 "
                                  "(a gain in pass rate as a fraction: 0.02 means 2 points)"),
    ("[plateau]\nmin_gain = -0.1\n", "[plateau] min_gain must be a fraction"),
    ("[plateau]\nmin_gain = inf\n", "[plateau] min_gain must be a fraction"),
    ("[defaults]\ntimeout = inf\n", "[defaults] timeout must be a number of seconds above 0 and at most 86400"),
    ("[defaults]\ntimeout = 1e12\n", "[defaults] timeout must be a number of seconds above 0 and at most 86400"),
    ("[defaults]\ntimeout = nan\n", "[defaults] timeout must be a number of seconds above 0"),
    ("[defaults]\ntimeout = \"inf\"\n", "[defaults] timeout must be a number of seconds above 0"),
    ("[defaults]\nconcurrency = 0\n", "[defaults] concurrency must be a whole number of calls in flight, at least 1, "
                                      "not 0"),
    ("[defaults]\nconcurrency = 2.0\n", "[defaults] concurrency must be a whole number, not 2.0"),
    ("[defaults]\nretries = -1\n", "[defaults] retries must be 0 or more"),
    ("[defaults]\nretries = 5000\n", "[defaults] retries must be 0 or more (a whole number, at most 100), not 5000"),
    ("[costs]\nlocal_usd_per_hour = inf\n", "[costs] local_usd_per_hour must be a finite number of US dollars"),
    ("[costs]\nlocal_usd_per_hour = -inf\n", "[costs] local_usd_per_hour must be a finite number of US dollars"),
    ("[costs.training]\n\"my-base\" = inf\n", "[costs].training my-base must be a finite number of US dollars"),
    ("[costs]\npayback_months = 0\n", "[costs] payback_months must be a whole number of months, at least 1, not 0"),
    ("[costs]\npayback_months = inf\n", "[costs] payback_months must be a whole number, not inf"),
    ("[models.m]\nmodel = \"openai/m\"\n[[models.m.deployments]]\nrpm = inf\n",
     "[[models.m.deployments]] 1: rpm must be a whole number, not inf"),
    ("[models.m]\nmodel = \"openai/m\"\n[[models.m.deployments]]\ntpm = 0\n",
     "[[models.m.deployments]] 1: tpm must be a whole number of at least 1, not 0"),
    ("[models.m]\nmodel = \"openai/m\"\nparams = {temperature = inf}\n",
     "[models.m] params temperature must be a finite number, not inf"),
    ("[models.m]\nmodel = \"openai/m\"\nparams = {extra_body = {top_k = [1, nan]}}\n",
     "[models.m] params extra_body.top_k[1] must be a finite number, not nan"),
    ("[ui]\nthem = \"nord\"\n", "unknown setting [ui] them"),
])
def test_a_setting_out_of_its_range_is_refused_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    shown = refused(tmp_path, text)
    assert shown.startswith(str(tmp_path / "workbench.toml") + ": "), shown
    assert message in shown, shown


@pytest.mark.parametrize(("env", "message"), [
    ({"WORKBENCH_TIMEOUT": "inf"}, "WORKBENCH_TIMEOUT must be a number of seconds above 0"),
    ({"WORKBENCH_TIMEOUT": "nan"}, "WORKBENCH_TIMEOUT must be a number of seconds above 0"),
    ({"WORKBENCH_CONCURRENCY": "0"}, "WORKBENCH_CONCURRENCY must be a whole number of calls in flight, at least 1"),
    ({"WORKBENCH_RETRIES": "1000"}, "WORKBENCH_RETRIES must be 0 or more (a whole number, at most 100)"),
    ({"WORKBENCH_WARM": "of"}, "WORKBENCH_WARM must be 1, on, true or yes, or 0, off, false or no"),
    ({"WORKBENCH_WARM_IDLE": "inf"}, "WORKBENCH_WARM_IDLE must be a number of seconds above 0, not inf"),
    ({"WORKBENCH_WARM_IDLE": "-1"}, "WORKBENCH_WARM_IDLE must be a number of seconds above 0"),
])
def test_an_environment_setting_out_of_its_range_names_the_variable(tmp_path: Path, env: dict[str, str],
                                                                     message: str) -> None:
    shown = refused(tmp_path, "", env)
    assert shown.startswith(message), shown
    assert "workbench.toml" not in shown


def test_a_flag_out_of_its_range_names_the_flag_not_the_file(tmp_path: Path) -> None:
    shown = refused(tmp_path, "[defaults]\nconcurrency = 4\n", concurrency=0)
    assert shown.startswith("--concurrency must be a whole number of calls in flight, at least 1, not 0"), shown


def test_values_in_range_load_as_written(tmp_path: Path) -> None:
    (tmp_path / "workbench.toml").write_text(
        "[defaults]\nconcurrency = 1\ntimeout = 86400\nretries = 0\n[plateau]\nk = 1\nmin_gain = 0\nalpha = 0.1\n"
        "[ui]\ntheme = \"nord\"\n[costs]\nlocal_usd_per_hour = 0\n"
        "[models.m]\nmodel = \"openai/m\"\napi_base = \"http://u:p%3Fw@127.0.0.1:9/v1\"\n"
        "params = {temperature = 0.5}\n",
        encoding="utf-8")
    settings = load_settings(tmp_path, env={"WORKBENCH_WARM": "Off", "WORKBENCH_WARM_IDLE": "30",
                                            "WORKBENCH_RETRIES": "100"})
    assert (settings.concurrency, settings.timeout, settings.retries, settings.theme) == (1, 86400.0, 100, "nord")
    assert (settings.plateau.k, settings.plateau.min_gain, settings.plateau.alpha) == (1, 0.0, 0.1)
    assert isinstance(settings.timeout, float) and isinstance(settings.plateau.k, int)


SECRET = "sk-SECRET-in-the-query-123"


@pytest.mark.parametrize("address", [f"http://127.0.0.1:9/v1?api_key={SECRET}", f"http://127.0.0.1:9/v1#{SECRET}",
                                     "http://127.0.0.1:9/v1?", f"https://h.example/v1?api-version=1&k={SECRET}"])
@pytest.mark.parametrize("where", ["alias", "deployment"])
def test_an_api_base_with_a_query_or_a_fragment_is_refused_without_repeating_it(tmp_path: Path, address: str,
                                                                               where: str) -> None:
    table = (f"[models.m]\nmodel = \"openai/m\"\napi_base = \"{address}\"\n" if where == "alias" else
             f"[models.m]\nmodel = \"openai/m\"\n[[models.m.deployments]]\napi_base = \"{address}\"\n")
    shown = refused(tmp_path, table)
    assert "[models.m] api_base: it holds a query string or a fragment" in shown, shown
    assert "api_key_env" in shown and "proxy" in shown
    assert SECRET not in shown and "127.0.0.1" not in shown and "h.example" not in shown


def test_the_helper_refuses_every_non_finite_number() -> None:
    for value in (float("inf"), float("-inf"), float("nan"), "inf", "nan", "-inf"):
        with pytest.raises(ConfigError, match="must be a finite number"):
            setting_number(value, "x")
    assert setting_number("3", "x", whole=True, low=1) == 3
    assert setting_number(3, "x") == 3.0
    with pytest.raises(ConfigError, match="x must be a finite number above 0 and below 1, not 1"):
        setting_number(1, "x", low=0, high=1, low_open=True, high_open=True)
    assert api_base_fault("http://127.0.0.1:8080/v1") is None
    assert api_base_fault("http://u:p%3F@127.0.0.1:8080/v1") is None
