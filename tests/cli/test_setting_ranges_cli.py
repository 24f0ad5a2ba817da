"""A workbench.toml number out of its range, or an api_base no call could reach, is refused by every command
in one line naming the file and the setting (exit 2, no traceback, no model call): never a crash later, a
call bound to fail, or a silently wrong verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import invoke, make_project, one_line_error
from support.openai_server import FakeOpenAIServer

SECRET = "sk-SECRET-query-key-4242"


def chat_calls(server: FakeOpenAIServer) -> int:
    return sum(request["path"].endswith("/chat/completions") for request in server.requests)


def with_settings(root: Path, server: FakeOpenAIServer, extra: str) -> Path:
    make_project(root, server.base_url)
    config = root / "workbench.toml"
    config.write_text(config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return root


@pytest.mark.parametrize(("extra", "named"), [
    ("[plateau]\nk = 0\n", "[plateau] k must be a whole number of versions, at least 1, not 0"),
    ("[plateau]\nk = -1\n", "[plateau] k must be a whole number of versions, at least 1, not -1"),
    ("[plateau]\nalpha = 5\n", "[plateau] alpha must be a number between 0 and 1"),
    ("[plateau]\nalpha = nan\n", "[plateau] alpha must be a number between 0 and 1"),
    ("[plateau]\nmin_gain = 2\n", "[plateau] min_gain must be a fraction from 0 up to (not including) 1, not 2 "
                                  "(a gain in pass rate as a fraction: 0.02 means 2 points)"),
])
def test_status_refuses_a_plateau_rule_out_of_its_range(tmp_path: Path, server: FakeOpenAIServer, extra: str,
                                                         named: str) -> None:
    root = with_settings(tmp_path, server, extra)
    code, _, err = invoke(root, "status", "yesno")
    one_line_error(code, err)
    assert f"workbench.toml: {named}" in err, err


def test_an_infinite_timeout_is_refused_before_any_call(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = with_settings(tmp_path, server, "")
    config = root / "workbench.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("timeout = 5", "timeout = inf"), encoding="utf-8")
    code, _, err = invoke(root, "run", "yesno")
    one_line_error(code, err)
    expected = "workbench.toml: [defaults] timeout must be a number of seconds above 0 and at most 86400 (a day), "
    expected += "not inf"
    assert expected in err, err
    assert chat_calls(server) == 0


@pytest.mark.parametrize(("variable", "value"), [("WORKBENCH_TIMEOUT", "inf"), ("WORKBENCH_CONCURRENCY", "0")])
def test_an_environment_number_out_of_range_names_the_variable(tmp_path: Path, server: FakeOpenAIServer,
                                                               monkeypatch: pytest.MonkeyPatch, variable: str,
                                                               value: str) -> None:
    monkeypatch.setenv(variable, value)
    root = with_settings(tmp_path, server, "")
    code, _, err = invoke(root, "run", "yesno")
    one_line_error(code, err)
    assert err.startswith(f"error: {variable} must be "), err
    assert chat_calls(server) == 0


def test_a_concurrency_of_0_in_the_file_names_the_file_and_the_setting(tmp_path: Path,
                                                                       server: FakeOpenAIServer) -> None:
    root = with_settings(tmp_path, server, "")
    config = root / "workbench.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("concurrency = 4", "concurrency = 0"),
                      encoding="utf-8")
    code, _, err = invoke(root, "run", "yesno")
    one_line_error(code, err)
    assert "workbench.toml: [defaults] concurrency must be a whole number of calls in flight, at least 1, not 0" \
        in err, err
    assert chat_calls(server) == 0


@pytest.mark.parametrize("suffix", [f"?api_key={SECRET}", f"#{SECRET}"])
def test_an_alias_api_base_with_a_query_is_refused_without_repeating_it(tmp_path: Path, server: FakeOpenAIServer,
                                                                        suffix: str) -> None:
    root = with_settings(tmp_path, server, "")
    config = root / "workbench.toml"
    text = config.read_text(encoding="utf-8").replace(f'api_base = "{server.base_url}"',
                                                      f'api_base = "{server.base_url}{suffix}"')
    config.write_text(text, encoding="utf-8")
    code, out, err = invoke(root, "run", "yesno")
    one_line_error(code, err)
    assert "workbench.toml: [models.fake] api_base: it holds a query string or a fragment" in err, err
    assert "api_key_env" in err and "proxy" in err
    assert SECRET not in out + err and server.base_url not in err
    assert not server.requests


def test_finetune_refuses_an_api_base_flag_with_a_query(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = with_settings(tmp_path, server, "")
    code, out, err = invoke(root, "finetune", "exports/none", "--provider", "openai",
                            "--api-base", f"{server.base_url}?key={SECRET}")
    one_line_error(code, err)
    assert err.startswith("error: --api-base: it holds a query string or a fragment"), err
    assert SECRET not in out + err
    assert not server.requests


def test_a_concurrency_flag_of_0_names_the_flag(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = with_settings(tmp_path, server, "")
    code, _, err = invoke(root, "run", "yesno", "--concurrency", "0")
    one_line_error(code, err)
    assert "--concurrency" in err and "workbench.toml" not in err, err
    assert chat_calls(server) == 0


def test_whole_numbers_written_as_floats_run(tmp_path: Path, server: FakeOpenAIServer) -> None:
    # TOML tools and templates often write 2.0 for 2: taken as the whole number, by every whole-number setting.
    root = with_settings(tmp_path, server, "[plateau]\nk = 2.0\n[costs]\npayback_months = 6.0\n"
                                           "[[models.fake.deployments]]\nrpm = 6000.0\n")
    config = root / "workbench.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("concurrency = 4", "concurrency = 2.0")
                      .replace("retries = 2", "retries = 1.0"), encoding="utf-8")
    code, _, err = invoke(root, "run", "yesno")
    assert code == 0, err
    assert chat_calls(server) > 0


@pytest.mark.parametrize(("variable", "value"), [("WORKBENCH_CONCURRENCY", "2.0"), ("WORKBENCH_RETRIES", "0.0"),
                                                 ("WORKBENCH_CONCURRENCY", ""), ("WORKBENCH_MODEL", ""),
                                                 ("WORKBENCH_TIMEOUT", " "), ("WORKBENCH_THEME", "")])
def test_an_environment_number_as_a_float_or_a_blank_variable_runs(tmp_path: Path, server: FakeOpenAIServer,
                                                                   monkeypatch: pytest.MonkeyPatch, variable: str,
                                                                   value: str) -> None:
    # A blank WORKBENCH_* variable (a CI variable left unset) counts as not set: the file's value is used.
    monkeypatch.setenv(variable, value)
    root = with_settings(tmp_path, server, "")
    code, _, err = invoke(root, "run", "yesno")
    assert code == 0, err
    assert chat_calls(server) > 0


@pytest.mark.parametrize(("value", "named"), [
    ("2.5", "error: WORKBENCH_CONCURRENCY must be a whole number, not 2.5"),
    ("4_0", "error: WORKBENCH_CONCURRENCY must be a whole number: it is text that is not a number"),
    ("sk-pasted-key-77", "error: WORKBENCH_CONCURRENCY must be a whole number: it is text that is not a number"),
])
def test_an_environment_number_of_the_wrong_kind_is_named_not_called_a_string(
        tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, value: str, named: str) -> None:
    monkeypatch.setenv("WORKBENCH_CONCURRENCY", value)
    root = with_settings(tmp_path, server, "")
    code, out, err = invoke(root, "run", "yesno")
    one_line_error(code, err)
    assert err.startswith(named), err
    assert "not a string" not in err and "sk-pasted" not in out + err
    assert chat_calls(server) == 0
