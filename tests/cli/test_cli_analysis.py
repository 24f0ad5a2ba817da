"""compare, status and review end to end through the CLI, with real runs against the loopback server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from support.cli import invoke, make_project, write_cases
from support.openai_server import FakeOpenAIServer

# The fake model answers "no" when the question mentions "odd": the three templates score 9/12, 12/12, 0/12.
TEMPLATES = ["Question: {{ question }}", "Question: {{ question | replace('odd', 'even') }}", "Q (odd): {{ question }}"]




def set_template(root: Path, body: str) -> None:
    path = root / "prompts" / "yesno.prompt"
    head = path.read_text(encoding="utf-8").rsplit("---\n", 1)[0]
    path.write_text(head + "---\n" + body + "\n", encoding="utf-8")


def run_versions(root: Path, bodies: list[str]) -> None:
    for body in bodies:
        set_template(root, body)
        code, _, err = invoke(root, "run", "yesno")
        assert code == 0, err


def test_compare_reports_figures_flips_verdict_and_diff(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    run_versions(root, TEMPLATES[:2])
    code, out, err = invoke(root, "compare", "yesno@v1", "yesno@v2")
    assert code == 0, err
    assert "75.0% [46.8%, 91.1%]" in out and "100.0%" in out
    assert "flips: 3 improved, 0 regressed" in out and "McNemar p = 0.25" in out
    assert "verdict: no detectable difference: with n=12 only differences above ~" in out
    assert "+Question: {{ question | replace('odd', 'even') }}" in out
    code, out, _ = invoke(root, "compare", "1", "2", "--json")
    data = json.loads(out)
    assert (data["only_a"], data["only_b"], data["direction"]) == (0, 3, "none")
    assert [flip["case_id"] for flip in data["flips"]] == ["q03", "q07", "q11"]


def test_fail_on_regression_exits_1_only_for_a_significant_regression(tmp_path: Path,
                                                                       server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    run_versions(root, TEMPLATES)
    code, out, err = invoke(root, "compare", "yesno@v1", "yesno@v3", "--fail-on-regression")
    assert code == 1 and "regression: yesno@v3" in err and "is worse" in err
    assert "regressed" in out.split("flipped cases")[1].splitlines()[3]
    assert invoke(root, "compare", "yesno@v1", "yesno@v2", "--fail-on-regression")[0] == 0


def test_different_test_sets_are_refused_and_shared_compares_the_intersection(tmp_path: Path,
                                                                              server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    run_versions(root, TEMPLATES[:1])
    write_cases(root, 15)
    run_versions(root, TEMPLATES[1:2])
    code, _, err = invoke(root, "compare", "1", "2")
    assert code == 2 and "ran on different cases (12 and 15, 12 shared)" in err and "--shared" in err
    code, out, _ = invoke(root, "compare", "1", "2", "--shared")
    assert code == 0 and "compared the 12 shared cases; 3 cases are on one side only" in out


@pytest.mark.parametrize(("args", "message"), [
    (["compare", "yesno@v9", "1"], "no version v9"),
    (["compare", "1", "77"], "no run 77"),
    (["compare", "nope", "1"], "not a run: 'nope'"),
    (["status", "other"], "no stored version of prompt 'other'"),
])
def test_bad_references_exit_2_with_one_line(tmp_path: Path, server: FakeOpenAIServer, args, message) -> None:
    root = make_project(tmp_path, server.base_url)
    run_versions(root, TEMPLATES[:1])
    code, _, err = invoke(root, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_status_shows_the_trend_plateau_and_readiness(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    run_versions(root, TEMPLATES)
    code, out, err = invoke(root, "status", "yesno")
    assert code == 0, err
    assert "best      v2: 100.0%" in out and "v1:75% v2:100% v3:0%" in out
    assert "plateau   no: not enough versions yet: 3 measured" in out
    assert "examples  12 for training (12 gold)" in out
    assert "failing   none" in out and "next      keep iterating" in out  # the best version fails none
    run_versions(root, ["Question: {{ question }}   ", "Question: {{ question }}\r\n\n"])  # both still v1
    set_template(root, "Question: {{ question }}\nThat is all.")
    assert invoke(root, "run", "yesno")[0] == 0
    data = json.loads(invoke(root, "status", "--json")[1])[0]
    assert data["versions"] == [1, 2, 3, 4] and data["plateau"]["on_plateau"] is True
    assert data["recommendation"].startswith("collect more cases: 12 training examples")


def test_review_records_verdicts_and_corrections_that_override_the_scorers(
        tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, server.base_url)
    run_versions(root, TEMPLATES[:1])
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    # Failures are q03, q07, q11: mark q03 good, q07 bad, correct q11.
    result = CliRunner().invoke(_cli(), ["--project", str(root), "review", "last", "--failures"],
                                input="g\nb\nc\nyes indeed\n")
    assert result.exit_code == 0, result.output
    assert "reviewed: 1 good, 1 bad, 1 corrected" in result.output
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    rows = db.execute("SELECT case_id, verdict, correction, output FROM reviews ORDER BY case_id").fetchall()
    assert rows == [("q03", "good", None, "no"), ("q07", "bad", None, "no"), ("q11", "bad", "yes indeed", "no")]
    # The human verdict counts: q03 now passes in comparisons and status.
    data = json.loads(invoke(root, "status", "--json")[1])[0]
    assert data["pass_rates"] == [10 / 12]
    assert data["by_source"] == {"corrected": 1, "gold": 11}


def _cli():
    from workbench.cli import analysis, cli, commands, review  # noqa: F401

    return cli

