"""The CLI end to end: real litellm over real HTTP to a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.cli import N_CASES, answer_by_question, invoke, make_project, write_cases
from support.openai_server import FakeOpenAIServer


def test_run_scores_every_case_and_stores_it(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    code, out, err = invoke(root, "run", "yesno")
    assert code == 0, err
    assert "pass rate" in out and "75.0% (9/12)" in out
    assert "3 of 12 cases failed; the worst 3:" in out and "q03" in out
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert db.execute("SELECT count(*), sum(passed) FROM results").fetchone() == (N_CASES, 9)
    assert db.execute("SELECT count(*) FROM versions").fetchone() == (1,)
    # The key reached the server but never the database.
    assert server.requests[0]["headers"].get("Authorization") == "Bearer sk-loopback-secret"
    dump = "\n".join(db.iterdump())
    assert "sk-loopback-secret" not in dump


def test_rerunning_an_unchanged_version_makes_no_call_and_new_cases_run_alone(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    calls = len(server.requests)
    assert calls == N_CASES
    code, out, _ = invoke(root, "run", "yesno", "--json")
    assert code == 0 and len(server.requests) == calls
    assert json.loads(out)["cached"] == N_CASES
    write_cases(root, N_CASES + 3)
    assert invoke(root, "run", "yesno")[0] == 0
    assert len(server.requests) == calls + 3
    code, out, _ = invoke(root, "run", "yesno", "--no-cache", "--json")
    assert len(server.requests) == calls + 3 + N_CASES + 3


def test_fail_under_exits_1(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    code, _, err = invoke(root, "run", "yesno", "--fail-under", "0.9")
    assert code == 1 and "below --fail-under 90.0%" in err
    assert invoke(root, "run", "yesno", "--fail-under", "70")[0] == 0


def test_a_new_template_is_a_new_version_and_history_marks_the_best(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    prompt = root / "prompts" / "yesno.prompt"
    prompt.write_text(prompt.read_text().replace("Question:", "Q (odd):"), encoding="utf-8")
    assert invoke(root, "run", "yesno")[0] == 0
    code, out, _ = invoke(root, "history", "yesno")
    assert code == 0
    assert "v1★" in out and "v2 " in out and "75.0%" in out and "0.0%" in out
    code, out, _ = invoke(root, "history", "yesno", "--json")
    data = json.loads(out)
    assert data["testsets"][0]["best_version"] == 1
    assert [v["summary"]["passed"] for v in data["testsets"][0]["versions"]] == [9, 0]


def test_show_lists_results_and_failures(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    invoke(root, "run", "yesno")
    code, out, _ = invoke(root, "show", "yesno@v1", "--failures")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines() if line.startswith("q")] == ["q03", "q07", "q11"]
    code, out, _ = invoke(root, "show", "last", "--json")
    results = json.loads(out)["results"]
    assert len(results) == N_CASES
    # Rows come out typed: JSON columns decoded once (messages, scores), no raw *_json text.
    first = results[0]
    assert first["messages"][-1]["role"] == "user" and isinstance(first["scores"][0]["passed"], bool)
    assert not [key for key in first if key.endswith("_json")]
    assert {r["verdict"] for r in results} == {"pass", "fail"}


def test_provider_errors_are_recorded_per_case_and_the_run_goes_on(tmp_path: Path) -> None:
    # Case 2's request always fails with a 500; retries are exhausted and only that case errors.
    def fail_one(index: int, body: dict) -> str | None:
        return "500" if "case 2 " in body["messages"][-1]["content"] else None

    with FakeOpenAIServer(reply=answer_by_question, failures=fail_one) as srv:
        root = make_project(tmp_path, srv.base_url)
        code, out, _ = invoke(root, "run", "yesno", "--json")
    summary = json.loads(out)
    assert code == 0
    assert summary["errors"] == 1 and summary["completed"] == N_CASES and summary["passed"] == 8


def test_a_missing_api_key_is_one_clear_line(tmp_path: Path, server: FakeOpenAIServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, server.base_url)
    monkeypatch.delenv("FAKE_KEY")
    code, _, err = invoke(root, "run", "yesno", "--model", "gpt-4o-mini")
    assert code == 2
    assert "OPENAI_API_KEY" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("setup", "args", "message"), [
    (lambda root: None, ["run", "nope"], "no prompt 'nope'"),
    (lambda root: (root / "datasets" / "q.jsonl").write_text('{"question": "a", "expected": "yes"}\n{oops\n'),
     ["run", "yesno"], "q.jsonl:2:"),
    (lambda root: (root / "prompts" / "yesno.prompt").write_text("---\nscorers: [no_such]\n---\nhi\n"),
     ["run", "yesno"], "no_such"),
    (lambda root: (root / "prompts" / "yesno.prompt").write_text(
        "---\ndataset: datasets/q.jsonl\n---\n{{ missing }}\n"),
     ["run", "yesno"], "missing"),
    (lambda root: None, ["run", "yesno", "--split", "test"], "no cases in split 'test'"),
    (lambda root: None, ["show", "99"], "no run 99"),
    (lambda root: None, ["history", "yesno"], "no stored version"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, server: FakeOpenAIServer, setup, args, message) -> None:
    root = make_project(tmp_path, server.base_url)
    setup(root)
    code, _, err = invoke(root, *args)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert server.requests == []


def test_echo_model_needs_no_key_and_no_server(tmp_path: Path) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9/v1")
    code, out, err = invoke(root, "run", "yesno", "--model", "echo", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["completed"] == N_CASES and summary["errors"] == 0
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    outputs = [row[0] for row in db.execute("SELECT output FROM results ORDER BY case_id")]
    assert "Question: case 0 even" in outputs[0]


def test_init_creates_a_project_that_runs_with_echo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = invoke(tmp_path, "init", str(tmp_path / "new"))
    assert code == 0
    code, out, err = invoke(tmp_path / "new", "run", "example", "--model", "echo", "--json")
    assert code == 0, err
    assert json.loads(out)["completed"] == 6


def test_killing_a_run_loses_nothing_and_the_rerun_resumes(tmp_path: Path) -> None:
    """SIGKILL a real `workbench run` mid-way; the re-run completes with no lost or duplicated result."""
    with FakeOpenAIServer(reply=answer_by_question, latency=0.15) as srv:
        root = make_project(tmp_path, srv.base_url, n_cases=30)
        (root / "workbench.toml").write_text(
            (root / "workbench.toml").read_text().replace("concurrency = 4", "concurrency = 2"))
        env = {**os.environ, "FAKE_KEY": "sk-x"}
        command = [sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db_path = root / ".workbench" / "workbench.db"
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and done < 8:
            time.sleep(0.05)
            if db_path.exists():
                try:
                    done = sqlite3.connect(db_path).execute("SELECT count(*) FROM results").fetchone()[0]
                except sqlite3.OperationalError:
                    done = 0
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert 8 <= done < 30
        kept = sqlite3.connect(db_path).execute("SELECT count(*) FROM results").fetchone()[0]
        calls_before = len(srv.requests)
        code, out, err = invoke(root, "run", "yesno", "--json")
        assert code == 0, err
        assert "resuming run 1" in err
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*), count(DISTINCT case_id) FROM results").fetchone() == (30, 30)
    assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
    assert json.loads(out)["completed"] == 30
    # Only the cases without a result were asked again (in-flight ones at the kill may repeat).
    assert len(srv.requests) - calls_before <= 30 - kept + 2
