"""A verdict never mixes test sets silently: cases whose inputs or expected answer changed between two
runs are never paired, in ``compare``, the plateau rule, the history trend, the TUI and the tuned-model
verdict. Real runs against the loopback server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from support.cli import answer_by_question, hosted_tuned_model, invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.compare import CaseOutcome
from workbench.plateau import VersionOutcome, plateau
from workbench.project import PlateauSettings

# Two templates the fake model answers identically ("no" only for the 'odd' questions): any verdict
# difference between their runs comes from the test set, never from the prompt.
SAME_ANSWERS = ["Question: {{ question }}", "Question:  {{ question }}", "Question:   {{ question }}"]


def set_template(root: Path, body: str) -> None:
    path = root / "prompts" / "yesno.prompt"
    head = path.read_text(encoding="utf-8").rsplit("---\n", 1)[0]
    path.write_text(head + "---\n" + body + "\n", encoding="utf-8")


def run_template(root: Path, body: str, *args: str) -> None:
    set_template(root, body)
    code, _, err = invoke(root, "run", "yesno", *args)
    assert code == 0, err


def edit_cases(root: Path, **changes: dict) -> None:
    """Update some rows of datasets/q.jsonl: ``q00={"expected": "no"}``."""
    path = root / "datasets" / "q.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row.update(changes.get(row["id"], {}))
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_a_changed_expected_answer_is_not_a_regression(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    run_template(root, SAME_ANSWERS[0])
    edit_cases(root, q00={"expected": "no"})  # the model still answers "yes": v2 "fails" q00
    run_template(root, SAME_ANSWERS[1])
    code, out, err = invoke(root, "compare", "yesno@v1", "yesno@v2")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert ("ran on different versions of the test set: 1 case changed in between (inputs or expected answer): "
            "q00") in err and "--shared to compare the unchanged shared cases" in err
    code, out, err = invoke(root, "compare", "yesno@v1", "yesno@v2", "--shared", "--fail-on-regression")
    assert code == 0, err
    assert ("compared the 11 unchanged shared cases; 1 case changed between the two runs (inputs or expected "
            "answer), left out: q00") in out
    assert "flips: 0 improved, 0 regressed, 8 pass in both, 3 fail in both" in out
    assert "flipped cases" not in out
    data = json.loads(invoke(root, "compare", "1", "2", "--shared", "--json")[1])
    assert (data["n"], data["changed"], data["changed_cases"], data["flips"]) == (11, 1, ["q00"], [])
    assert data["shared_only"] is True and data["excluded"] == 0


def test_fail_on_regression_never_fails_on_changed_cases(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=16)
    run_template(root, SAME_ANSWERS[0])
    # Eight expected answers flipped: compared as the same cases this would be a significant regression.
    edit_cases(root, **{f"q{i:02d}": {"expected": "no"} for i in (0, 1, 2, 4, 5, 6, 8, 9)})
    run_template(root, SAME_ANSWERS[1])
    code, _, err = invoke(root, "compare", "1", "2", "--fail-on-regression")
    assert code == 2 and "8 cases changed in between" in err and "q00, q01, q02, q04, q05, ... (3 more)" in err
    code, out, err = invoke(root, "compare", "1", "2", "--shared", "--fail-on-regression")
    assert code == 0, err
    assert "8 cases changed between the two runs" in out and "q00, q01, q02, q04, q05, q06, q08, q09" in out
    assert "verdict: no detectable difference: with n=8" in out


def test_a_changed_input_is_left_out_too_and_flags_are_not_a_change(tmp_path: Path,
                                                                    server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    run_template(root, SAME_ANSWERS[0])
    edit_cases(root, q01={"held_out": True}, q02={"held_out": "yes"})  # flags only: the same cases
    run_template(root, SAME_ANSWERS[1])
    code, out, err = invoke(root, "compare", "1", "2", "--json")
    assert code == 0, err
    assert (json.loads(out)["changed"], json.loads(out)["n"]) == (0, 12)
    edit_cases(root, q03={"question": "case 3 even"})  # the input changed: the model now says yes
    run_template(root, SAME_ANSWERS[2])
    code, _, err = invoke(root, "compare", "2", "3")
    assert code == 2 and "1 case changed in between (inputs or expected answer): q03" in err
    data = json.loads(invoke(root, "compare", "2", "3", "--shared", "--json")[1])
    assert (data["n"], data["changed_cases"], data["only_b"]) == (11, ["q03"], 0)


def test_history_marks_a_point_measured_on_an_earlier_test_set(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    run_template(root, SAME_ANSWERS[0])
    edit_cases(root, q00={"expected": "no"}, q01={"held_out": True})
    run_template(root, SAME_ANSWERS[1])
    code, out, err = invoke(root, "history", "yesno")
    assert code == 0, err
    lines = out.splitlines()
    # v1 has the higher pass rate (75% against 67%), but on another test set: marked, with a footnote, and
    # never the best: the best is chosen among points on the newest test set.
    assert any(line.startswith("v1†  ") for line in lines) and any(line.startswith("v2★  ") for line in lines)
    assert "† v1: measured on an earlier version of the test set: 1 case changed" in lines
    data = json.loads(invoke(root, "history", "yesno", "--json")[1])
    v1, v2 = data["testsets"][0]["versions"]
    assert v1["earlier_testset"] is True and v2["earlier_testset"] is False and v2["testset_drift"] is None
    assert v1["testset_drift"] == {"changed": 1, "added": 0, "removed": 0,
                                   "footnote": "measured on an earlier version of the test set: 1 case changed"}
    # status shows the same mark on its trend
    code, out, _ = invoke(root, "status", "yesno")
    assert "v1:75%† v2:67%" in out
    assert "† v1: measured on an earlier version of the test set: 1 case changed" in out
    # only flags changed since v2: v2 is not marked against a v3 run on that same content
    edit_cases(root, q02={"held_out": True})
    run_template(root, SAME_ANSWERS[2])
    v1, v2, v3 = json.loads(invoke(root, "history", "yesno", "--json")[1])["testsets"][0]["versions"]
    assert (v1["earlier_testset"], v2["earlier_testset"], v3["earlier_testset"]) == (True, False, False)


def test_added_cases_are_counted_in_the_footnote(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=12)
    run_template(root, SAME_ANSWERS[0])
    path = root / "datasets" / "q.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + json.dumps({"id": "new", "question": "x",
                                                                   "expected": "yes"}) + "\n", encoding="utf-8")
    edit_cases(root, q05={"expected": "maybe"})
    run_template(root, SAME_ANSWERS[1])
    out = invoke(root, "history", "yesno")[1]
    assert "† v1: measured on an earlier version of the test set: 1 case changed, 1 added" in out


def test_the_plateau_rule_never_pairs_changed_cases() -> None:
    def version(number: int, passed: list[bool], contents: list[str]) -> VersionOutcome:
        return VersionOutcome(number, [CaseOutcome(f"c{i}", p, float(p), content=c)
                                       for i, (p, c) in enumerate(zip(passed, contents, strict=True))])

    old, new = ["a"] * 20, ["a"] * 10 + ["b"] * 10  # the last ten cases were rewritten after v1
    versions = [version(1, [True] * 10 + [False] * 10, old)] + [
        version(n, [True] * 20, new) for n in (2, 3, 4)]
    verdict = plateau(versions, PlateauSettings(k=3, min_gain=0.02))
    # Paired on the ten unchanged cases only, where nothing moved: a plateau, not a 50-point gain.
    assert verdict.on_plateau and all(a.n == 10 and a.gain == 0 for a in verdict.attempts)


async def test_tui_compare_shows_the_changed_cases(tmp_path: Path, server: FakeOpenAIServer) -> None:
    from workbench.project import open_project
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.compare import CompareScreen
    from workbench.tui.screens.history import HistoryScreen

    root = make_project(tmp_path, server.base_url)
    await asyncio.to_thread(run_template, root, SAME_ANSWERS[0])
    edit_cases(root, q00={"expected": "no"})
    await asyncio.to_thread(run_template, root, SAME_ANSWERS[1])
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("h")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one("#versions", DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(2)] == ["v1†", "v2★"]
        readiness = str(app.screen.query_one("#readiness", Static).render())
        assert "† v1: measured on an earlier version of the test set: 1 case changed" in readiness
        await pilot.press("space", "down", "space", "c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        summary = str(app.screen.query_one("#compare-summary", Static).render())
        assert "1 case changed between the runs (inputs or expected answer), left out: q00" in summary
        assert "0 improved, 0 regressed" in summary
        assert app.screen.query_one("#flips", DataTable).row_count == 0


def test_the_overview_marks_the_trend(tmp_path: Path, server: FakeOpenAIServer) -> None:
    from workbench.overview import prompt_rows
    from workbench.project import open_project
    from workbench.store import Store

    root = make_project(tmp_path, server.base_url)
    run_template(root, SAME_ANSWERS[0])
    edit_cases(root, q00={"expected": "no"})
    run_template(root, SAME_ANSWERS[1])
    project = open_project(root)
    [row] = prompt_rows(project, Store(project.db_path))
    assert row.earlier_testset == [True, False]


def test_the_tuned_verdict_leaves_out_changed_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def reply(messages: list[dict], body: dict) -> str:
        return "yes" if body["model"] == "ft-fake" else answer_by_question(messages, body)

    with FakeOpenAIServer(reply=reply) as server:
        root = make_project(tmp_path, server.base_url)
        lines = [json.dumps({"id": f"t{i:02d}", "question": f"case {i} {'odd' if i % 4 == 3 else 'even'}",
                             "expected": "yes", "split": "test"}) for i in range(40)]
        (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        hosted_tuned_model(root, server.base_url)
        assert invoke(root, "run", "yesno", "--split", "test", "--model", "fake")[0] == 0
        # t03 (an 'odd' case the base model fails) is rewritten before the tuned model runs.
        path = root / "datasets" / "q.jsonl"
        path.write_text(path.read_text(encoding="utf-8").replace("case 3 odd", "case 3 rewritten"),
                        encoding="utf-8")
        assert invoke(root, "run", "yesno", "--split", "test", "--model", "tuned")[0] == 0
        code, out, err = invoke(root, "status", "yesno", "--json")
        assert code == 0, err
        verdict = {report["model"]: report for report in json.loads(out)}["fake"]["tuned"][0]
        # 39 unchanged cases: the base model fails 9 of them (t03 is not counted as an improvement).
        assert (verdict["n"], verdict["prompt_pass_rate"], verdict["tuned_pass_rate"]) == (39, 30 / 39, 1.0)
