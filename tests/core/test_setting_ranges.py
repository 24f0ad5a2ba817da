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
    ("[defaults]\nconcurrency = 2.5\n", "[defaults] concurrency must be a whole number, not 2.5"),
    ("[defaults]\nconcurrency = \"2.5\"\n", "[defaults] concurrency must be a whole number, not 2.5"),
    ("[defaults]\nconcurrency = nan\n", "[defaults] concurrency must be a whole number, not nan"),
    ("[defaults]\nconcurrency = true\n", "[defaults] concurrency must be a whole number, not true or false"),
    ("[defaults]\nconcurrency = 0.0\n", "[defaults] concurrency must be a whole number of calls in flight, at least 1, "
                                        "not 0"),
    ("[defaults]\nretries = 3.5\n", "[defaults] retries must be a whole number, not 3.5"),
    ("[defaults]\nretries = -inf\n", "[defaults] retries must be a whole number, not -inf"),
    ("[defaults]\nconcurrency = \"4_0\"\n", "[defaults] concurrency must be a whole number: it is text that is "
                                            "not a number"),
    ("[costs]\npayback_months = 6.5\n", "[costs] payback_months must be a whole number, not 6.5"),
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
    ({"WORKBENCH_CONCURRENCY": "2.5"}, "WORKBENCH_CONCURRENCY must be a whole number, not 2.5"),
    ({"WORKBENCH_CONCURRENCY": "inf"}, "WORKBENCH_CONCURRENCY must be a whole number, not inf"),
    ({"WORKBENCH_RETRIES": "nan"}, "WORKBENCH_RETRIES must be a whole number, not nan"),
    ({"WORKBENCH_CONCURRENCY": "0.0"}, "WORKBENCH_CONCURRENCY must be a whole number of calls in flight, at least 1, "
                                       "not 0"),
    # Digit separators, hexadecimal and other scripts' digits are no plain decimal number (int() takes them).
    ({"WORKBENCH_CONCURRENCY": "4_0"}, "WORKBENCH_CONCURRENCY must be a whole number: it is text that is not a number"),
    ({"WORKBENCH_RETRIES": "1_0"}, "WORKBENCH_RETRIES must be a whole number: it is text that is not a number"),
    ({"WORKBENCH_TIMEOUT": "1_0.5"}, "WORKBENCH_TIMEOUT must be a number: it is text that is not a number"),
    ({"WORKBENCH_WARM_IDLE": "6_0"}, "WORKBENCH_WARM_IDLE must be a number: it is text that is not a number"),
    ({"WORKBENCH_CONCURRENCY": "0x10"}, "WORKBENCH_CONCURRENCY must be a whole number: it is text that is not a "
                                        "number"),
    ({"WORKBENCH_CONCURRENCY": "\u0664"}, "WORKBENCH_CONCURRENCY must be a whole number: it is text that is not a "
                                          "number"),
    ({"WORKBENCH_CONCURRENCY": "four"}, "WORKBENCH_CONCURRENCY must be a whole number: it is text that is not a "
                                       "number"),
])
def test_an_environment_setting_out_of_its_range_names_the_variable(tmp_path: Path, env: dict[str, str],
                                                                     message: str) -> None:
    shown = refused(tmp_path, "", env)
    assert shown.startswith(message), shown
    assert "workbench.toml" not in shown


@pytest.mark.parametrize("value", ["sk-pasted-key-1234", "4 0", "2.0.0", "1e", "true"])
def test_text_that_is_no_number_is_said_to_be_text_never_repeated(tmp_path: Path, value: str) -> None:
    shown = refused(tmp_path, "", {"WORKBENCH_CONCURRENCY": value})
    assert shown.startswith("WORKBENCH_CONCURRENCY must be a whole number: it is text that is not a number"), shown
    assert value not in shown and "not a string" not in shown
    shown = refused(tmp_path, f"[defaults]\ntimeout = \"{value}\"\n")
    assert "[defaults] timeout must be a number: it is text that is not a number" in shown, shown
    assert value not in shown


def test_whole_numbers_written_as_floats_are_whole_numbers(tmp_path: Path) -> None:
    # TOML tools and templates often write 2.0 for 2: a float with no fractional part is taken everywhere a
    # whole number is wanted, as an int.
    (tmp_path / "workbench.toml").write_text(
        "[defaults]\nconcurrency = 2.0\nretries = 3.0\n[plateau]\nk = 2.0\n[costs]\npayback_months = 6.0\n"
        "[models.m]\nmodel = \"openai/m\"\n[[models.m.deployments]]\nrpm = 60.0\ntpm = 1e5\n",
        encoding="utf-8")
    settings = load_settings(tmp_path, env={})
    assert (settings.concurrency, settings.retries, settings.plateau.k, settings.costs.payback_months) == (2, 3, 2, 6)
    assert all(type(value) is int for value in (settings.concurrency, settings.retries, settings.plateau.k,
                                                settings.costs.payback_months))
    from workbench.providers.registry import parse_deployments

    deployment = parse_deployments("m", settings.models["m"])[0]
    assert (deployment.rpm, deployment.tpm) == (60, 100000) and type(deployment.rpm) is int


@pytest.mark.parametrize(("env", "expected"), [
    ({"WORKBENCH_CONCURRENCY": "2.0", "WORKBENCH_RETRIES": "3.0"}, (2, 3, 60.0)),
    ({"WORKBENCH_CONCURRENCY": " 4 ", "WORKBENCH_RETRIES": "+0", "WORKBENCH_TIMEOUT": "1e1"}, (4, 0, 10.0)),
    ({"WORKBENCH_CONCURRENCY": "1e1", "WORKBENCH_TIMEOUT": ".5"}, (10, 4, 0.5)),
])
def test_environment_numbers_are_parsed_as_plain_decimal_numbers(tmp_path: Path, env: dict[str, str],
                                                                  expected: tuple[int, int, float]) -> None:
    settings = load_settings(tmp_path, env=env)
    assert (settings.concurrency, settings.retries, settings.timeout) == expected
    assert type(settings.concurrency) is int and type(settings.retries) is int


def test_a_string_in_the_file_is_parsed_as_a_number(tmp_path: Path) -> None:
    (tmp_path / "workbench.toml").write_text("[defaults]\nconcurrency = \"4.0\"\n[plateau]\nk = \"2\"\n",
                                             encoding="utf-8")
    settings = load_settings(tmp_path, env={})
    assert (settings.concurrency, settings.plateau.k) == (4, 2) and type(settings.concurrency) is int


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_workbench_variable_counts_as_not_set(tmp_path: Path, blank: str) -> None:
    # A CI variable left unset is exported empty: every WORKBENCH_* setting then falls back to the file.
    (tmp_path / "workbench.toml").write_text(
        "[defaults]\nmodel = \"openai/m\"\nconcurrency = 3\ntimeout = 7\nretries = 1\njudge_model = \"openai/j\"\n"
        "proposer_model = \"openai/p\"\n[ui]\ntheme = \"nord\"\n", encoding="utf-8")
    names = ["MODEL", "CONCURRENCY", "TIMEOUT", "RETRIES", "JUDGE_MODEL", "PROPOSER_MODEL", "THEME", "WARM",
             "WARM_IDLE", "HOME"]
    settings = load_settings(tmp_path, env={f"WORKBENCH_{name}": blank for name in names})
    assert (settings.model, settings.concurrency, settings.timeout, settings.retries, settings.judge_model,
            settings.proposer_model, settings.theme) == ("openai/m", 3, 7.0, 1, "openai/j", "openai/p", "nord")


def test_blank_workbench_variables_outside_the_settings_count_as_not_set(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.cli import warm
    from workbench.setting_values import env_setting
    from workbench.tui.settings import user_dir

    assert env_setting({"WORKBENCH_X": ""}, "WORKBENCH_X") is None
    assert env_setting({"WORKBENCH_X": " \t"}, "WORKBENCH_X") is None
    assert env_setting({}, "WORKBENCH_X") is None
    assert env_setting({"WORKBENCH_X": "0"}, "WORKBENCH_X") == "0"
    # An empty WORKBENCH_WARM is not set: on by default, off when CI is set (not "off" by its emptiness).
    if warm.enabled({}):
        assert warm.enabled({"WORKBENCH_WARM": ""})
    assert not warm.enabled({"WORKBENCH_WARM": "", "CI": "true"})
    monkeypatch.setenv("WORKBENCH_HOME", "  ")
    assert user_dir() != Path("  ")
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    assert user_dir() == tmp_path


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
    assert setting_number("3.0", "x", whole=True, low=1) == 3 and type(setting_number(3.0, "x", whole=True)) is int
    assert setting_number(3, "x") == 3.0 and type(setting_number(3, "x")) is float
    for refused_value in (2.5, "2.5", True, False, float("inf"), float("nan"), "1_000", "٣", "0b1"):
        with pytest.raises(ConfigError, match="x must be a whole number"):
            setting_number(refused_value, "x", whole=True)
    assert setting_number(3, "x") == 3.0
    with pytest.raises(ConfigError, match="x must be a finite number above 0 and below 1, not 1"):
        setting_number(1, "x", low=0, high=1, low_open=True, high_open=True)
    assert api_base_fault("http://127.0.0.1:8080/v1") is None
    assert api_base_fault("http://u:p%3F@127.0.0.1:8080/v1") is None
