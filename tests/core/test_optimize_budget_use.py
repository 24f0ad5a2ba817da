"""Where the search spends its calls: few-shot sizes too small to show every label are skipped (once said,
in round 1) when the expected answers form a label set, open answers keep the whole grid, and a start
that already has demonstrations has them reordered from round 1. Driven through ``search`` against the
loopback server, like the command line's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.cli import project_folders
from support.openai_server import FakeOpenAIServer
from workbench.optimize import SearchFinished, SearchReport, SearchSettings, search
from workbench.optimize.edits import layout
from workbench.optimize.strategies import FEWSHOT, cover_reason, covering_grid
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.store import Store

KEYWORDS = {"billing": "refund", "bug": "crash", "account": "password", "other": "weather"}
HEADER = ("---\ndescription: route a ticket\ndataset: datasets/{name}.jsonl\nparams: {{max_tokens: 20}}\n"
          "scorers:\n  - exact_match: {{normalize: true}}\n---\n")
START = "Which team should handle this ticket?\n\n{{ text }}\n"
WITH_DEMOS = ("my refund issue\n[[assistant]]\nbilling\n[[user]]\nmy crash issue\n[[assistant]]\nbug\n[[user]]\n"
              "my password issue\n[[assistant]]\naccount\n[[user]]\n{{ text }}\n")


def model(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """Right on every ticket when shown all four labels in its demonstrations, else 'billing'."""
    text = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    shown = {m["content"] for m in messages if m["role"] == "assistant"}
    if shown >= set(KEYWORDS):
        return next((name for name, word in KEYWORDS.items() if word in text), "other")
    if "order" in text:  # the open-answer task: the number after '#'
        return text.rsplit("#", 1)[-1].split()[0] if len(shown) >= 2 else "none"
    return "billing"


def make_project(root: Path, base_url: str, *, name: str = "tickets", start: str = START) -> Path:
    project_folders(root, base_url, retries=1, extra="[plateau]\nk = 2\n")
    (root / "prompts" / f"{name}.prompt").write_text(HEADER.format(name=name) + start, encoding="utf-8")
    if name == "tickets":
        rows = [{"id": f"{label}-{i}", "text": f"my {word} issue number {i}", "expected": label, "split": "dev"}
                for label, word in KEYWORDS.items() for i in range(8)]
    else:  # open answers: every case its own order number
        rows = [{"id": f"o-{i}", "text": f"where is my order #{1000 + i} please", "expected": str(1000 + i),
                 "split": "dev"} for i in range(32)]
    (root / "datasets" / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n",
                                                     encoding="utf-8")
    return root


async def run_search(root: Path, name: str = "tickets", **settings: Any) -> SearchReport:
    project = open_project(root)
    store = Store(project.db_path)
    report = None
    async for event in search(project, store, load_prompt(project.prompt_path(name)),
                              SearchSettings(**{"strategies": ("fewshot",), **settings})):
        if isinstance(event, SearchFinished):
            report = event.report
    assert report is not None
    return report


def test_the_covering_grid_skips_sizes_below_the_labels_only_when_a_size_can_show_them_all() -> None:
    assert covering_grid((1, 2, 4, 8), 4, 10) == ([4, 8], [1, 2])
    assert covering_grid((8, 1, 4, 2, 4), 3, 10) == ([4, 8], [1, 2])
    assert covering_grid((1, 2, 4, 8), 2, 10) == ([2, 4, 8], [1])
    assert covering_grid((1, 2, 4, 8), None, 10) == ([1, 2, 4, 8], [])  # open answers: the whole grid
    # No size both shows every label and fits the pool: nothing is skipped (the rule has nothing better).
    assert covering_grid((1, 2, 4, 8), 12, 20) == ([1, 2, 4, 8], [])
    assert covering_grid((1, 2, 4, 8), 4, 3) == ([1, 2, 4, 8], [])
    assert cover_reason(1, 4) == "1 demonstration cannot show all 4 labels"
    assert cover_reason(2, 4) == "2 demonstrations cannot show all 4 labels"


async def test_a_label_set_skips_the_small_draws_once_and_spends_on_draws_that_show_every_label(
        tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model) as server:
        report = await run_search(make_project(tmp_path, server.base_url), budget_calls=400)
    skipped = [c for c in report.candidates if c.discarded and "cannot show all" in c.discarded]
    assert [(c.round, c.label, c.discarded) for c in skipped] == [
        (1, "fewshot k=1", "1 demonstration cannot show all 4 labels"),
        (1, "fewshot k=2", "2 demonstrations cannot show all 4 labels")]
    assert all(c.settings == {"k": c.settings["k"], "labels": 4} for c in skipped)
    scored = [c for c in report.candidates if c.version is not None]
    assert scored and all(c.settings["k"] >= 4 for c in scored)
    assert {c.settings["k"] for c in scored if c.round == 1} == {4, 8}
    assert any(c.round > 1 for c in scored)  # later rounds say nothing more about the small sizes
    # Every draw scored shows every label, so the fake model is right everywhere: the winner confirms.
    assert report.confirmation is not None and report.confirmation.winner_passed == report.confirmation.n
    assert report.calls <= 400


async def test_the_rule_can_be_turned_off_and_the_same_seed_gives_the_same_candidates(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model) as server:
        off = await run_search(make_project(tmp_path / "off", server.base_url), budget_calls=400, cover_labels=False)
        first = await run_search(make_project(tmp_path / "a", server.base_url), budget_calls=400, seed=3)
        second = await run_search(make_project(tmp_path / "b", server.base_url), budget_calls=400, seed=3)
    assert {c.settings["k"] for c in off.candidates if c.round == 1 and c.version is not None} == {1, 2, 4, 8}
    assert not any(c.discarded for c in off.candidates)

    def shape(report: SearchReport) -> list[tuple[Any, ...]]:
        return [(c.round, c.label, json.dumps(c.settings, sort_keys=True), c.hash, c.discarded)
                for c in report.candidates]

    assert shape(first) == shape(second) and first.folds == second.folds


async def test_open_answers_keep_the_whole_grid(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model) as server:
        report = await run_search(make_project(tmp_path, server.base_url, name="order_number"), "order_number",
                                  budget_calls=400)
    round_one = [c for c in report.candidates if c.round == 1]
    assert {c.settings["k"] for c in round_one if c.version is not None} == {1, 2, 4, 8}
    assert not any(c.discarded and "cannot show" in c.discarded for c in report.candidates)


async def test_a_start_with_demonstrations_is_reordered_from_round_one(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model) as server:
        root = make_project(tmp_path, server.base_url, start=WITH_DEMOS)
        report = await run_search(root, budget_calls=400)
    store = Store(open_project(root).db_path)
    start = layout(load_prompt(root / "prompts" / "tickets.prompt"))
    reorders = [c for c in report.candidates if c.round == 1 and "reorder" in c.settings]
    assert len(reorders) == 3 and all(c.strategy == FEWSHOT and c.parent == report.start_version for c in reorders)
    for candidate in reorders:
        assert candidate.version is not None
        # Hand-written demonstrations have no pool ids: the order of the start's positions is the provenance.
        assert "demos" not in candidate.settings and sorted(candidate.settings["order"]) == [0, 1, 2]
        demos = layout(load_prompt_text(store, candidate.version, root)).demos
        assert list(demos) == [start.demos[i] for i in candidate.settings["order"]]


def load_prompt_text(store: Store, number: int, root: Path):
    from workbench.prompts import parse_prompt

    return parse_prompt(store.version("tickets", number).text, root / "prompts" / "tickets.prompt", name="tickets")

