"""A review judges an output: a case that ended in an error has none, so it cannot be reviewed (a review
without an output would judge every later answer of the case unseen: QA's 0/3 that read 100%). The worst
failures after a run and ``show --json``'s ``passed`` count human reviews as every pass rate does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.cli import main
from workbench.errors import StoreError
from workbench.project import open_project
from workbench.store import NO_OUTPUT, Store


def _store(root: Path) -> Store:
    return Store(open_project(root).db_path)


def test_a_case_that_ended_in_an_error_cannot_be_reviewed(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=3)
    server.failures = lambda index, body: "400"  # every call refused: three errors
    invoke(root, "run", "yesno")
    store = _store(root)
    run = store.runs()[-1]
    assert all(result.error for result in store.results(run.id))
    with CliRunner().isolation(input="g\ng\ng\n") as (stdout, _, _):
        assert main(["--project", str(root), "review", "last"]) == 0
    said = stdout.getvalue().decode()
    assert said.count(NO_OUTPUT) == 3 and "reviewed: 0 good, 0 bad, 0 corrected" in said
    assert store.reviews(run.version_id) == {}
    with pytest.raises(StoreError, match="no output to review"):
        store.set_review(run.version_id, "q00", "good", output=None)
    # The next answers are judged by the scorers alone: all wrong, none passes.
    server.failures = None
    server.reply = lambda messages, body: "maybe"
    code, _, err = invoke(root, "run", "yesno")
    assert code == 0, err
    assert json.loads(invoke(root, "show", "last", "--json")[1])["summary"]["passed"] == 0


def test_the_worst_failures_and_show_json_count_a_human_review(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=8)
    # Every case expects "yes": q03 is answered so (it passes), the seven others "no" (they fail).
    server.reply = lambda messages, body: "yes" if "case 3 " in messages[-1]["content"] else "no"
    assert invoke(root, "run", "yesno")[0] == 0
    store = _store(root)
    store.set_review(store.runs()[-1].version_id, "q03", "bad", output="yes")  # passing, marked bad
    code, out, err = invoke(root, "run", "yesno")  # from the cache: the same outputs
    assert code == 0, err
    assert "8 of 8 cases failed; the worst 5:" in out, out
    listed = out.split("8 of 8 cases failed; the worst 5:", 1)[1]
    # By the score the workbench counts (the review's 0), in test-set order: q03 is among the worst five.
    assert [line.split()[0] for line in listed.strip().splitlines()[2:]] == ["q00", "q01", "q02", "q03", "q04"]
    rows = {row["case_id"]: row for row in json.loads(invoke(root, "show", "last", "--json")[1])["results"]}
    assert (rows["q03"]["passed"], rows["q03"]["score"], rows["q03"]["verdict"]) == (False, 0.0, "fail")
    assert (rows["q03"]["scorer_passed"], rows["q03"]["scorer_score"]) == (True, 1.0)
    assert rows["q00"]["passed"] is False and rows["q00"]["scorer_passed"] is False
