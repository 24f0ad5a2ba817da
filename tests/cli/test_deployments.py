"""One model name, several deployments: calls go through litellm's Router to two loopback servers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import N_CASES, answer_by_question, invoke, make_project, write_cases
from support.openai_server import FakeOpenAIServer


def routed_project(root: Path, *deployments: str, n_cases: int = N_CASES) -> Path:
    """The usual yes/no project whose default model ``duo`` is served by ``deployments`` (TOML tables)."""
    make_project(root, "http://127.0.0.1:9/v1", n_cases=n_cases)
    config = root / "workbench.toml"
    text = config.read_text(encoding="utf-8").replace('model = "fake"', 'model = "duo"', 1)
    text += '\n[models.duo]\nmodel = "openai/fake-model"\n'
    for table in deployments:
        text += f"\n[[models.duo.deployments]]\n{table}\n"
    config.write_text(text, encoding="utf-8")
    return root


def deployment(name: str, server: FakeOpenAIServer, extra: str = "") -> str:
    return f'name = "{name}"\napi_base = "{server.base_url}"\napi_key_env = "FAKE_KEY"\n{extra}'


@pytest.fixture
def failing() -> FakeOpenAIServer:
    with FakeOpenAIServer(reply=answer_by_question, failures=lambda index, body: "500") as server:
        yield server


@pytest.fixture
def second() -> FakeOpenAIServer:
    with FakeOpenAIServer(reply=answer_by_question) as server:
        yield server


def test_a_failing_deployment_is_routed_around_and_the_summary_shows_the_spread(
        tmp_path: Path, server: FakeOpenAIServer, failing: FakeOpenAIServer) -> None:
    root = routed_project(tmp_path, deployment("east", failing), deployment("west", server), n_cases=20)
    write_cases(root, 20)
    code, out, err = invoke(root, "run", "yesno")
    assert code == 0, err
    # Every case answered, by the working deployment, though calls were sent to the failing one too.
    assert "deployments" in out and "west: 20" in out and "east" not in out.split("deployments", 1)[1]
    assert len(server.requests) == 20
    assert len(failing.requests) >= 1
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert db.execute("SELECT count(*), sum(error IS NULL), min(deployment), max(deployment) "
                      "FROM results").fetchone() == (20, 20, "west", "west")
    assert "sk-loopback-secret" not in "\n".join(db.iterdump())


def test_rpm_limits_spread_the_calls_and_no_deployment_gets_more_than_its_limit(
        tmp_path: Path, server: FakeOpenAIServer, second: FakeOpenAIServer) -> None:
    root = routed_project(tmp_path, deployment("a", server, "rpm = 6"), deployment("b", second, "rpm = 6"),
                          n_cases=8)
    code, out, err = invoke(root, "run", "yesno", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["completed"] == 8 and summary["errors"] == 0
    # The loopback model has no price: unknown, not $0 (litellm's Router prices the models it routes at 0).
    assert summary["cost_usd"] is None
    # Routed by usage: both deployments serve, neither beyond its requests per minute.
    assert set(summary["deployments"]) == {"a", "b"} and sum(summary["deployments"].values()) == 8
    assert 2 <= len(server.requests) <= 6 and 2 <= len(second.requests) <= 6


def test_calls_beyond_every_deployments_limit_are_refused_not_sent_and_resume_later(
        tmp_path: Path, server: FakeOpenAIServer, second: FakeOpenAIServer) -> None:
    # Names of their own: litellm counts a deployment's calls per minute by its id across the process's Routers.
    root = routed_project(tmp_path, deployment("c", server, "rpm = 2"), deployment("d", second, "rpm = 2"))
    config = root / "workbench.toml"
    # A timeout shorter than the Router's cooldown (5 s): waiting it out would stall the run, so it stops.
    config.write_text(config.read_text(encoding="utf-8").replace("timeout = 5", "timeout = 4"), encoding="utf-8")
    code, out, err = invoke(root, "run", "yesno", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert len(server.requests) <= 2 and len(second.requests) <= 2
    answered = sum(summary["deployments"].values())
    assert answered == len(server.requests) + len(second.requests) and answered < N_CASES
    assert summary["errors"] == N_CASES - answered
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    reasons = [row[0] for row in db.execute("SELECT error FROM results WHERE error IS NOT NULL")]
    assert reasons and all("rate_limit" in reason and "run again later" in reason for reason in reasons)


def test_answers_are_cached_under_the_alias_whichever_deployment_gave_them(
        tmp_path: Path, server: FakeOpenAIServer, second: FakeOpenAIServer) -> None:
    root = routed_project(tmp_path, deployment("a", server), deployment("b", second))
    assert invoke(root, "run", "yesno")[0] == 0
    calls = len(server.requests) + len(second.requests)
    assert calls == N_CASES
    code, out, _ = invoke(root, "run", "yesno", "--json")
    assert code == 0 and json.loads(out)["cached"] == N_CASES
    assert json.loads(out)["deployments"] == {}
    assert len(server.requests) + len(second.requests) == calls


def test_a_deployment_whose_key_is_not_set_stops_the_run_before_any_call(
        tmp_path: Path, server: FakeOpenAIServer, second: FakeOpenAIServer) -> None:
    root = routed_project(tmp_path, deployment("a", server),
                          f'name = "b"\napi_base = "{second.base_url}"\napi_key_env = "UNSET_KEY_B"')
    code, _, err = invoke(root, "run", "yesno")
    assert code == 2
    assert "duo (b)" in err and "$UNSET_KEY_B" in err and "Traceback" not in err
    assert server.requests == [] and second.requests == []


@pytest.mark.parametrize(("table", "message"), [
    ('api_base = "http://127.0.0.1:9/v1"\napi_key = "sk-secret"', "must not hold an API key"),
    ('api_base = "http://127.0.0.1:9/v1"\nrpm = 0', "rpm must be a whole number of at least 1"),
    ('api_base = "http://127.0.0.1:9/v1"\ntpm = "lots"', "tpm must be a whole number: it is text that is not a number"),
    ('api_base = "http://127.0.0.1:9/v1"\nregion = "eu"', "unknown key 'region'"),
])
def test_a_bad_deployment_table_is_one_line_naming_the_file(tmp_path: Path, table: str, message: str) -> None:
    root = routed_project(tmp_path, table)
    for command in (("run", "yesno"), ("models",)):  # models too: it is where people check their aliases
        code, _, err = invoke(root, *command)
        assert code == 2, command
        assert message in err and "workbench.toml" in err and "[[models.duo.deployments]] 1" in err
        assert "Traceback" not in err and "sk-secret" not in err


def test_models_lists_a_routed_alias_with_its_deployments(tmp_path: Path, server: FakeOpenAIServer,
                                                         second: FakeOpenAIServer) -> None:
    root = routed_project(tmp_path, deployment("a", server), deployment("b", second))
    code, out, err = invoke(root, "models")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.lstrip("│ ").startswith("duo"))
    assert "openai/fake-model on 2 deployments: a, b" in line and "litellm Router" in line


def test_deployments_that_all_refuse_connections_are_not_reported_as_rate_limited(tmp_path: Path) -> None:
    closed = [f'name = "{name}"\napi_base = "http://127.0.0.1:{port}/v1"\napi_key_env = "FAKE_KEY"'
              for name, port in (("east", 9), ("west", 11))]  # nothing listens on these ports
    root = routed_project(tmp_path, *closed, n_cases=4)
    code, _, err = invoke(root, "run", "yesno", "--concurrency", "1")
    # The first case's retries find both deployments resting after their refused connections.
    assert code == 2 and "rate limited" not in err and "rate_limit" not in err
    assert "every deployment is resting after failing; the last failure:" in err and "Connection error" in err
    assert "lower --concurrency" not in err  # the rate limit's advice would mislead


def guarded_run(root: Path, *args: str, within: float = 90) -> tuple[int, dict, str]:
    """``workbench run yesno --no-cache --json ARGS`` in a child process that must end ``within`` seconds (a
    run that hangs fails the test instead of stalling it); returns (exit code, summary, stderr)."""
    command = [sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno", "--no-cache", "--json", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=within,
                              env={**os.environ, "FAKE_KEY": "sk-loopback-secret", "WORKBENCH_WARM": "0"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not end within {within:g} s")
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def long_timeout(root: Path) -> Path:
    """The project with the default 60 s call timeout: a Router's "wait a minute" is waited out, not refused."""
    config = root / "workbench.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("timeout = 5", "timeout = 60"), encoding="utf-8")
    return root


def test_a_deployment_with_rpm_and_no_name_answers_every_case(tmp_path: Path, server: FakeOpenAIServer) -> None:
    # Its label is its api_base, "http://127.0.0.1:PORT/v1": a ':' litellm's rpm counting cut the id at, so
    # the Router never found the deployment again and asked to wait a minute, call after call.
    unnamed = f'api_base = "{server.base_url}"\napi_key_env = "FAKE_KEY"\nrpm = 600'
    root = long_timeout(routed_project(tmp_path, unnamed))
    code, summary, err = guarded_run(root)
    assert code == 0, err
    assert summary["completed"] == N_CASES and summary["errors"] == 0
    assert summary["deployments"] == {server.base_url: N_CASES}  # named as before: by its address
    assert len(server.requests) == N_CASES
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert db.execute("SELECT count(*), sum(error IS NULL), min(deployment), max(deployment) FROM results"
                      ).fetchone() == (N_CASES, N_CASES, server.base_url, server.base_url)


@pytest.mark.parametrize("limit", ["rpm = 600", "tpm = 100000", ""])
def test_a_name_with_a_colon_is_routed_to_alongside_an_unnamed_deployment(
        tmp_path: Path, server: FakeOpenAIServer, second: FakeOpenAIServer, limit: str) -> None:
    root = long_timeout(routed_project(tmp_path, deployment("eu:1", server, limit),
                                       f'api_base = "{second.base_url}"\napi_key_env = "FAKE_KEY"\n{limit}'))
    code, summary, err = guarded_run(root)
    assert code == 0, err
    assert summary["completed"] == N_CASES and summary["errors"] == 0
    assert set(summary["deployments"]) <= {"eu:1", second.base_url} and sum(summary["deployments"].values()) == N_CASES
    assert len(server.requests) + len(second.requests) == N_CASES
    if limit:  # routed by usage: both serve
        assert server.requests and second.requests


def test_a_call_no_deployment_can_ever_take_fails_its_case_at_once(tmp_path: Path, server: FakeOpenAIServer) -> None:
    # A tpm below one request's tokens: the Router finds no deployment and asks to wait a minute, every minute.
    root = long_timeout(routed_project(tmp_path, deployment("tiny", server, "tpm = 1"), n_cases=4))
    _, summary, err = guarded_run(root, within=45)
    assert summary.get("errors") == 4 and server.requests == [], err
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    reasons = [row[0] for row in db.execute("SELECT error FROM results WHERE error IS NOT NULL")]
    assert len(reasons) == 4
    assert all("unroutable" in reason and "no deployment that can take this call" in reason and "tiny" in reason
               for reason in reasons), reasons
