"""The decision (``workbench decide`` in the TUI), opened from a prompt's history: the recommendation and
the report's sections as tables, exactly as ``decision.sections`` gives them; without a run on the
held-out split, the ``DecisionError``'s message and hint in place of the report."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from support.cli import answer_by_question, hosted_tuned_model, invoke, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import settle
from workbench.decision import decide, sections
from workbench.project import open_project
from workbench.store import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.decision import DecisionScreen
from workbench.tui.screens.history import HistoryScreen

SIZE = (120, 40)
SIZES = [(80, 24), (120, 40)]
PROJECT_NAME = "demo-project"


def tuned_is_right(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """The tuned model gets every case right; the base model misses the 'odd' questions."""
    return "yes" if body["model"] == "ft-fake" else answer_by_question(messages, body)


def make_decision_project(root: Path, base_url: str) -> Path:
    """``yesno`` with 12 dev cases (they choose the version) and 40 test cases (they measure both sides),
    and a hosted tuned model of its base."""
    root = make_project(root, base_url)
    lines = [json.dumps({"id": f"{split[0]}{i:02d}", "question": f"case {i} {'odd' if i % 4 == 3 else 'even'}",
                         "expected": "yes", "split": split})
             for split, n in (("dev", 12), ("test", 40)) for i in range(n)]
    (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    hosted_tuned_model(root, base_url, trained_tokens=100_000)
    return root


def measure(root: Path) -> None:
    """Run the prompt on dev, then the prompt and the tuned model on the held-out test split."""
    for args in (("run", "yesno"), ("run", "yesno", "--split", "test", "--model", "fake"),
                 ("run", "yesno", "--split", "test", "--model", "tuned")):
        code, _, err = invoke(root, *args)
        assert code == 0, err


def text(screen: DecisionScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_decision(app: WorkbenchApp, pilot) -> DecisionScreen:
    """From the prompts screen: the history (h), then the decision (d, shown in the history's footer)."""
    await settle(app, pilot)
    await pilot.press("h")
    await settle(app, pilot)
    history = app.screen
    assert isinstance(history, HistoryScreen)
    assert "Decision" in [key.description for key in history.query(FooterKey)]
    assert "Decide: prompting or fine-tuning" in [command.title for command in app.get_system_commands(history)]
    await pilot.press("d")
    await settle(app, pilot)
    assert isinstance(app.screen, DecisionScreen)
    return app.screen


async def test_the_history_opens_the_decision_with_the_recommendation_and_its_sections(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=tuned_is_right) as server:
        root = make_decision_project(tmp_path, server.base_url)
        await asyncio.to_thread(measure, root)
        project = open_project(root)
        expected = decide(project, Store(project.db_path), "yesno")
        app = WorkbenchApp(project, warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_decision(app, pilot)
            assert screen.decision is not None and screen.decision.recommendation == expected.recommendation
            recommendation = text(screen, "#recommendation").replace("\n", " ")
            assert recommendation.startswith("recommendation fine-tune (tuned): +25 points")
            assert "40 held-out cases of datasets/q.jsonl" in text(screen, "#decision-summary").replace("\n", " ")
            titles = [str(title.render()) for title in screen.query(".section-title").results(Static)]
            assert titles == ["Accuracy", "Cost", "Latency (measured here)", "Deployment"]
            # Each table holds the section's headers and rows exactly as the core made them.
            for index, section in enumerate(sections(expected)):
                table = screen.query_one(f"#section-{index}", DataTable)
                assert [str(column.label) for column in table.columns.values()] == section.headers
                assert [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)] == \
                    section.rows
            assert [row[:2] for row in sections(expected)[0].rows] == [["prompt v1 on fake", "75.0%"],
                                                                       ["tuned", "100.0%"]]
            lines = " ".join(str(widget.render()) for widget in screen.query(".section-lines").results(Static))
            assert "tuned - prompt: +25.0 points" in lines.replace("\n", " ")
            assert "no prompt search was run on fake" in text(screen, "#decision-notes").replace("\n", " ")
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, HistoryScreen)


async def test_without_a_test_run_the_decision_says_what_to_run_and_reloads(tmp_path: Path,
                                                                           server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    lines = [json.dumps({"id": f"{split[0]}{i:02d}", "question": f"case {i}", "expected": "yes", "split": split})
             for split, n in (("dev", 6), ("test", 6)) for i in range(n)]
    (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0  # dev only
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_decision(app, pilot)
        # The DecisionError's message and hint stand in place of the report: no crash, no tables.
        assert screen.decision is None and app.crash is None
        summary = text(screen, "#decision-summary").replace("\n", " ")
        assert summary == "No decision yet: yesno has no run on the test split with fake"
        guidance = text(screen, "#recommendation").replace("\n", " ")
        assert "to measure it: workbench run yesno --split test" in guidance and "pick the test split (s)" in guidance
        assert not screen.query("#decision-sections DataTable")
        # Measured on the test split, the report appears on reload (r): no tuned model yet, the prompt stays.
        assert (await asyncio.to_thread(invoke, root, "run", "yesno", "--split", "test"))[0] == 0
        await pilot.press("r")
        await settle(app, pilot)
        assert screen.decision is not None
        assert text(screen, "#recommendation").replace("\n", " ").startswith(
            "recommendation keep the prompt (v1): no tuned model of fake was measured")
        assert len(screen.query("#decision-sections DataTable")) == 4


# Snapshot ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def decision_project() -> Iterator[Path]:
    """Measured on the test split with the prompt and the tuned model; latencies fixed."""
    parent = Path(tempfile.mkdtemp(prefix="workbench-decision-"))
    with FakeOpenAIServer(reply=tuned_is_right) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAKE_KEY", "sk-snapshot")
        root = make_decision_project(parent / PROJECT_NAME, server.base_url)
        measure(root)
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    db.execute("UPDATE results SET latency_ms = 100 + id % 7, created_utc = '2026-01-01T00:00:00.000+00:00'")
    db.commit()
    db.close()
    yield root
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_the_decision_from_the_history(snap_compare, decision_project: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await open_decision(pilot.app, pilot)
        await pilot.pause()

    app = WorkbenchApp(open_project(decision_project), warm_up=False, cursor_blink=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
