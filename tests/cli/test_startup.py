"""Start-up behaviour of ``workbench run`` in a process of its own: what it imports, never how long it takes.

A run whose every answer is in the response cache makes no call and imports no litellm; a run that does
call still works in a fresh process (litellm imported for its first call); a key that is not set is
refused before the run opens either way; a cached answer keeps the latency and cost of its original call.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from support.cli import N_CASES, invoke, make_project, write_cases
from support.openai_server import FakeOpenAIServer

# Runs the CLI in this process's interpreter and reports what it imported after it, as the last line.
CHILD = """
import json, sys
from workbench.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "litellm": "litellm" in sys.modules, "pandas": "pandas" in sys.modules}))
"""


def run_process(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict, str, str]:
    """``workbench --project ROOT ARGS`` in a new interpreter; returns (its import report, stdout before
    the report, stderr)."""
    done = subprocess.run([sys.executable, "-c", CHILD, "--project", str(root), *args], capture_output=True,
                          text=True, env=env or dict(os.environ), timeout=300)
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1]), done.stderr


def test_a_fully_cached_rerun_imports_no_litellm_and_keeps_the_original_latency_and_cost(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    calls = len(server.requests)
    report, out, err = run_process(root, "run", "yesno", "--json")
    assert report["code"] == 0, err
    assert report["litellm"] is False and report["pandas"] is False
    summary = json.loads(out)
    assert summary["cached"] == N_CASES and summary["completed"] == N_CASES and summary["passed"] == 9
    assert summary["status"] == "finished"
    assert len(server.requests) == calls
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    first, second = (row[0] for row in db.execute("SELECT id FROM runs ORDER BY id"))
    original = dict(db.execute("SELECT case_id, latency_ms || '/' || cost_usd FROM results WHERE run_id = ?",
                               [first]).fetchall())
    replayed = dict(db.execute("SELECT case_id, latency_ms || '/' || cost_usd FROM results WHERE run_id = ? "
                               "AND cached = 1", [second]).fetchall())
    assert replayed == original and len(replayed) == N_CASES
    assert db.execute("SELECT count(*) FROM scores s JOIN results r ON r.id = s.result_id WHERE r.run_id = ?",
                      [second]).fetchone() == (N_CASES,)


def test_a_run_with_one_uncached_case_imports_litellm_and_calls_for_that_case_only(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    calls = len(server.requests)
    write_cases(root, N_CASES + 1)
    report, out, err = run_process(root, "run", "yesno", "--json")
    assert report["code"] == 0, err
    assert report["litellm"] is True
    summary = json.loads(out)
    assert summary["cached"] == N_CASES and summary["completed"] == N_CASES + 1
    assert len(server.requests) == calls + 1


def test_an_uncached_run_in_a_fresh_process_calls_every_case(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    report, out, err = run_process(root, "run", "yesno", "--json")
    assert report["code"] == 0, err
    summary = json.loads(out)
    assert summary["cached"] == 0 and summary["passed"] == 9 and summary["status"] == "finished"
    assert len(server.requests) == N_CASES


def test_no_cache_still_calls_every_case(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    report, out, err = run_process(root, "run", "yesno", "--no-cache", "--json")
    assert report["code"] == 0 and report["litellm"] is True, err
    assert json.loads(out)["cached"] == 0
    assert len(server.requests) == 2 * N_CASES


def test_a_missing_key_is_refused_before_a_fully_cached_run_opens(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    env = {name: value for name, value in os.environ.items() if name != "FAKE_KEY"}
    report, _, err = run_process(root, "run", "yesno", env=env)
    assert report["code"] == 2
    assert "FAKE_KEY" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert report["litellm"] is False
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)


def test_a_fully_cached_run_of_a_hosted_model_without_its_key_is_refused(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    db_path = root / ".workbench" / "workbench.db"
    assert invoke(root, "run", "yesno")[0] == 0
    # The cache holds answers of gpt-4o-mini for every case (as if an earlier run had made them).
    from workbench.project import open_project
    from workbench.prompts import load_prompt
    from workbench.providers.client import ModelClient
    from workbench.records import CompletionRequest
    from workbench.runner import plan_run
    from workbench.store import Store

    project = open_project(root)
    store = Store(db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("yesno")), model="gpt-4o-mini")
    client = ModelClient(cache=store)
    for case in plan.cases:
        request = CompletionRequest("gpt-4o-mini", plan.messages[case.id], plan.params)
        key = client._request_key(request)
        assert key is not None
        store.put(key, model="gpt-4o-mini", kind="completion", response={"text": "yes", "latency_ms": 5.0})
    assert client.prefetch([CompletionRequest("gpt-4o-mini", plan.messages[case.id], plan.params)
                            for case in plan.cases]) == 0
    store.close()
    report, _, err = run_process(root, "run", "yesno", "--model", "gpt-4o-mini")
    assert report["code"] == 2 and report["litellm"] is False
    assert "OPENAI_API_KEY" in err and len(err.strip().splitlines()) == 1
    env = {**os.environ, "OPENAI_API_KEY": "sk-never-sent"}
    report, _, err = run_process(root, "run", "yesno", "--model", "gpt-4o-mini", "--json", env=env)
    assert report["code"] == 0 and report["litellm"] is False, err
    assert len(server.requests) == N_CASES


def test_the_store_imports_no_pandas_yet_pandas_stays_importable() -> None:
    code = ("import sys, workbench.store\nassert 'pandas' not in sys.modules and 'numpy' not in sys.modules\n"
            "import pandas\nprint(pandas.__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pandas"
