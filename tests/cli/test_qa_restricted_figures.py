"""QA findings on the command line: ``compare --shared`` figures over the shared cases only, one definition
of a failing case for ``show``, ``review`` and ``run`` once a human has reviewed, ``LAST`` as ``last``, and
a small cost printed with its digits."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.cli import invoke, make_project, write_cases
from support.openai_server import FakeOpenAIServer
from workbench.cli import main
from workbench.project import open_project
from workbench.store import Store


def _db(root: Path) -> Path:
    return open_project(root).db_path


def test_compare_shared_reads_latency_and_cost_over_the_shared_cases(tmp_path: Path,
                                                                    server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=4)
    assert invoke(root, "run", "yesno")[0] == 0
    write_cases(root, 6)
    assert invoke(root, "run", "yesno")[0] == 0
    with sqlite3.connect(_db(root)) as db:  # the measured figures, set to known values
        db.execute("UPDATE results SET latency_ms = 100, cost_usd = 0.0000216")
        db.execute("UPDATE results SET latency_ms = 3048, cost_usd = 0.5 "
                   "WHERE run_id = 2 AND case_id IN ('q04', 'q05')")
    code, out, err = invoke(root, "compare", "1", "2", "--shared", "--json")
    assert code == 0, err
    compared = json.loads(out)
    assert compared["n"] == compared["b"]["n"] == 4 and compared["excluded"] == 2
    for side in ("a", "b"):
        assert compared[side]["latency_p50_ms"] == compared[side]["latency_p95_ms"] == 100
        assert abs(compared[side]["cost_per_1k_usd"] - 0.0216) < 1e-9
    code, out, err = invoke(root, "compare", "1", "2", "--shared")
    assert code == 0, err
    assert "3048" not in out and "$500" not in out and out.count("$0.0216") == 2
    # The HTML report says which cases each section covers: the summaries whole runs, the comparison 4 cases.
    page = tmp_path / "report.html"
    code, _, err = invoke(root, "report", "1", "2", "--shared", "--html", str(page))
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    assert "Summary: each run, all its cases" in html and "Comparison: the 4 cases both runs share" in html


def test_show_review_and_run_list_the_same_failing_cases_once_reviewed(tmp_path: Path,
                                                                       server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=8)  # q03 and q07 fail: the model says no
    assert invoke(root, "run", "yesno")[0] == 0
    store = Store(_db(root))
    run = store.runs()[-1]
    store.set_review(run.version_id, "q00", "bad", output="yes")  # passing, marked bad: failing
    store.set_review(run.version_id, "q03", "good", output="no")  # failing, marked good: not failing
    code, out, err = invoke(root, "show", "last", "--failures", "--json")
    assert code == 0, err
    shown = [row["case_id"] for row in json.loads(out)["results"]]
    assert shown == ["q00", "q07"]
    with CliRunner().isolation(input="s\ns\ns\n") as (stdout, _, _):
        assert main(["--project", str(root), "review", "last", "--failures"]) == 0
    reviewed = stdout.getvalue().decode()
    assert "── case q00 (1/2)" in reviewed and "── case q07 (2/2)" in reviewed and "q03" not in reviewed
    # A re-run answered from the cache keeps those outputs: its failures are the same two.
    code, out, err = invoke(root, "run", "yesno")
    assert code == 0, err
    listed = out.split("2 of 8 cases failed", 1)[1]
    assert "q00" in listed and "q07" in listed and "q03" not in listed


def test_last_in_capitals_names_the_newest_run(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=2)
    assert invoke(root, "run", "yesno")[0] == 0
    for ref in ("LAST", "Last", " last "):
        code, out, err = invoke(root, "show", ref, "--json")
        assert code == 0, err
        assert json.loads(out)["summary"]["run_id"] == 1


def test_batch_status_takes_last_in_any_case(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "project", server.base_url)
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'[models.mini]\nmodel = "openai/gpt-4o-mini"\napi_base = "{server.base_url}"\n'
                   'api_key_env = "FAKE_KEY"\n')
    server.batch_hold = True
    assert invoke(root, "run", "yesno", "--batch", "--model", "mini")[0] == 0
    code, out, err = invoke(root, "batch", "status", "LAST")
    assert code == 0, err
    assert out.startswith("batch 1 (batch_fake0000)")


def test_compare_prices_a_local_model_at_the_projects_hourly_rate_as_decide_does(tmp_path: Path,
                                                                                 server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=4)
    assert invoke(root, "run", "yesno")[0] == 0
    assert invoke(root, "run", "yesno", "--no-cache")[0] == 0
    with sqlite3.connect(_db(root)) as db:  # two runs of a local model, each case 360 ms of compute
        db.execute("UPDATE runs SET model = 'local/smollm2'")
        db.execute("UPDATE results SET latency_ms = 360.0, cost_usd = NULL")
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[costs]\nlocal_usd_per_hour = 36.0\n")
    for command in (["compare", "1", "2", "--json"], ["compare", "1", "2", "2", "--json"]):
        code, out, err = invoke(root, *command)
        assert code == 0, err
        found = json.loads(out)
        side = found["b"] if "b" in found else found["comparisons"][0]["b"]
        # 360 ms at $36/h is $0.0036 a case, $3.60 per 1,000 (the default $0.09/h would read $0.009)
        assert side["cost_per_1k_usd"] == pytest.approx(3.6) and side["cost_basis"] == "local compute at $36/h"
