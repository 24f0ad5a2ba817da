"""The prompt search from the workspace (``workbench optimize`` in the TUI), driven with the pilot against
the loopback server: started from its key and from the palette, candidates filling the table as they are
scored, a cancel that keeps what was scored, the report's verdict and confirmation, and the winner applied
into the workspace. The fake model routes a ticket right when the prompt shows two demonstrations, and
right except on 'other' when the labels are listed, so the search has something to find."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, DataTable, Static, TextArea

from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.optimize.strategies import REWRITE_SYSTEM
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.store import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.history import HistoryScreen
from workbench.tui.screens.search import SearchScreen

SIZE = (120, 40)
SIZES = [(80, 24), (120, 40)]
PROJECT_NAME = "demo-project"
KEYWORDS = {"billing": "refund", "bug": "crash", "account": "password", "other": "weather"}
START = ("---\ndescription: route a ticket\ndataset: datasets/tickets.jsonl\nparams: {max_tokens: 20}\n"
         "scorers:\n  - exact_match: {normalize: true}\n---\nTicket: {{ text }}\nTeam:\n")
LABELS = "Answer with exactly one of these labels"
REWRITES = (f"<rewrite>\nRoute the ticket. {LABELS}: billing, bug, account, other.\n---\nTicket: {{{{ text }}}}\n"
            "Team:\n</rewrite>\n<rewrite>\nBe brief.\n---\nTicket, no variable\n</rewrite>")


def system_text(messages: list[dict[str, Any]]) -> str:
    return " ".join(m["content"] for m in messages if m["role"] == "system")


def ticket_model(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """Two demonstrations: right; the labels listed: right except on 'other'; else only billing is known.
    Asked for rewrites (the proposer is the prompt's model): one that lists the labels, one without the
    variable."""
    if messages[0]["content"] == REWRITE_SYSTEM:
        return REWRITES
    text = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    label = next((name for name, word in KEYWORDS.items() if word in text), "other")
    if sum(1 for m in messages if m["role"] == "assistant") >= 2:
        return label
    if LABELS in system_text(messages):
        return label if label != "other" else "bug"
    return label if label == "billing" else "not sure"


def make_search_project(root: Path, base_url: str) -> Path:
    """``tickets``: 16 dev cases (8 to search on, 8 to confirm), 4 train cases for demonstrations."""
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(
        "[defaults]\nmodel = \"fake\"\nconcurrency = 4\ntimeout = 5\nretries = 1\n[plateau]\nk = 1\n"
        f"[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base_url}\"\napi_key_env = \"FAKE_KEY\"\n",
        encoding="utf-8")
    (root / "prompts" / "tickets.prompt").write_text(START, encoding="utf-8")
    rows = [{"id": f"{split[:2]}-{label}-{i}", "text": f"my {word} issue number {i}", "expected": label,
             "split": split}
            for split, n in (("dev", 4), ("train", 1)) for label, word in KEYWORDS.items() for i in range(n)]
    (root / "datasets" / "tickets.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n",
                                                     encoding="utf-8")
    return root


def rows(table: DataTable) -> dict[str, list[str]]:
    return {str(key.value): [str(cell) for cell in table.get_row(key)] for key in table.rows}


def text(screen: SearchScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def open_search(app: WorkbenchApp, pilot, *keys: str) -> SearchScreen:
    await pilot.press(*keys)
    await pilot.pause()
    await pilot.pause()
    assert isinstance(app.screen, SearchScreen)
    return app.screen


async def test_a_search_from_its_key_fills_the_table_reports_and_applies_the_winner(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model) as server:
        root = make_search_project(tmp_path, server.base_url)
        path = root / "prompts" / "tickets.prompt"
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            workspace = await open_workspace(app, pilot)
            search = await open_search(app, pilot, "f4")
            # The form holds the command line's defaults.
            assert search.query_one("#budget-calls").value == "500" and search.query_one("#seed").value == "0"
            assert search.query_one("#budget-usd").value == ""
            assert all(search.query_one(f"#strategy-{name}").value for name in ("fewshot", "constrain", "rewrite"))
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            assert search.outcome == "finished" and app.screen is search
            table = search.query_one("#candidates", DataTable)
            shown = rows(table)
            # Every scored candidate and every discarded one has its row, with its search-fold figure.
            assert shown["v1"][:4] == ["v1", "-", "start", "2/8 (25.0%)"]
            assert shown["v2"][:4] == ["v2★", "1", "fewshot k=4", "8/8 (100.0%)"]  # the winner, starred
            assert shown["v3"][2:4] == ["constrain labels", "6/8 (75.0%)"]
            discarded = {row[2]: row[5] for key, row in shown.items() if key.startswith("discarded")}
            assert discarded["fewshot k=8"] == "the pool has only 4 cases"
            assert discarded["fewshot k=2"] == "2 demonstrations cannot show all 4 labels"
            assert discarded["rewrite 2"] == "drops variable {{ text }}"
            store = Store(root / ".workbench" / "workbench.db")
            report = store.searches("tickets")[-1].report
            scored = [c for c in report["candidates"] if c["version"] is not None]
            assert {f"v{c['version']}" for c in scored} | {"v1"} == {k for k in shown if not k.startswith("d")}
            # The calls so far grow row by row and end at what the search spent.
            calls = [int(row[4]) for key, row in shown.items() if key != "v1" and row[4]]
            assert calls == sorted(calls) and calls[-1] <= report["calls"]
            status = text(search, "#search-status")
            assert "search 1 finished" in status and f"spent {report['calls']} of 500 calls" in status
            verdict = text(search, "#search-verdict")
            assert report["verdict"] in verdict.replace("\n", " ")
            assert "v1 2/8 (25.0%), v2 8/8 (100.0%): +75.0 points" in verdict and "McNemar" in verdict
            assert "Apply writes v2 to tickets.prompt" in verdict
            assert not search.query_one("#apply", Button).disabled
            await pilot.press("ctrl+s")  # apply, as `workbench optimize --apply`
            await settle(app, pilot)
            assert app.screen is workspace
            winner = store.version("tickets", 2)
            assert not winner.search_candidate and winner.provenance["label"] == "fewshot k=4"
            assert path.read_text(encoding="utf-8") == winner.text
            assert store.searches("tickets")[-1].report["applied"] is True
            # The workspace shows the winner: the editor, the version label and its results.
            assert workspace.query_one("#editor", TextArea).text == winner.text and not workspace.dirty
            assert "[[assistant]]" in winner.text and workspace.toolbar.version_number == 2
            assert workspace.results.version_id == winner.id
            assert load_prompt(path).hash == winner.hash
            await pilot.press("f2")
            await settle(app, pilot)
            assert isinstance(app.screen, HistoryScreen)
            versions = [str(table_row[0]) for table_row in
                        (app.screen.query_one("#versions", DataTable).get_row(key)
                         for key in app.screen.query_one("#versions", DataTable).rows)]
            assert any(label.startswith("v2") for label in versions)  # adopted: on the hand-made track


async def test_a_search_from_the_palette_cancelled_mid_way_keeps_what_was_scored(tmp_path: Path) -> None:
    def hold_constrained(index: int, body: dict[str, Any]) -> str | None:
        # The candidate that lists the labels never gets an answer: the search is caught in the middle.
        return "timeout" if LABELS in system_text(body["messages"]) else None

    with FakeOpenAIServer(reply=ticket_model, failures=hold_constrained) as server:
        root = make_search_project(tmp_path, server.base_url)
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            workspace = await open_workspace(app, pilot)
            titles = [command.title for command in app.get_system_commands(workspace)]
            assert "Search prompts (optimize)" in titles
            await pilot.press("ctrl+p")
            await pilot.pause()
            assert isinstance(app.screen, CommandPalette)
            await pilot.press(*"Search prompts")
            found = app.screen.query_one(CommandList)
            for _ in range(200):  # the palette searches its commands in a worker
                if found.option_count and "Search prompts (optimize)" in str(found.get_option_at_index(0).prompt):
                    break
                await asyncio.sleep(0.025)
            assert "Search prompts (optimize)" in str(found.get_option_at_index(0).prompt)
            await pilot.press("enter")
            await pilot.pause()
            await pilot.pause()
            assert isinstance(app.screen, SearchScreen)
            search = app.screen
            await pilot.press("ctrl+r")
            table = search.query_one("#candidates", DataTable)
            for _ in range(600):  # until the held candidate (constrain labels) is being scored
                if any(row[2] == "constrain labels" for row in rows(table).values()):
                    break
                await asyncio.sleep(0.05)
            assert search.searching and search.query_one("#cancel", Button).display
            await pilot.press("escape")
            await settle(app, pilot)
            assert app.screen is search and search.outcome == "cancelled" and not search.searching
            store = Store(root / ".workbench" / "workbench.db")
            found = store.searches("tickets")[-1]
            assert found.status == "cancelled"
            kept = [c["version"] for c in found.report["candidates"] if c["version"] is not None]
            assert kept == [2]  # the few-shot candidate (k=4: the only size the pool fills that shows every label)
            for number in kept:
                version = store.version("tickets", number)
                assert version.search_candidate and version.provenance["search"] == found.id
            assert all(run.status != "running" for run in store.runs("tickets"))
            shown = rows(table)
            assert shown["v3"][2:4] == ["constrain labels", "cancelled"]
            assert [shown[f"v{n}"][3] for n in kept] == ["8/8 (100.0%)"]
            status = text(search, "#search-status")
            assert "search 1 cancelled" in status and "1 candidate scored so far, kept as versions" in status
            assert "nothing to apply: the search is cancelled" in text(search, "#search-verdict")
            assert not search.check_action("apply", ()) and search.query_one("#apply", Button).disabled
            await pilot.press("escape")  # closes: nothing applied, the file is the start's
            await pilot.pause()
            assert app.screen is workspace
            assert (root / "prompts" / "tickets.prompt").read_text(encoding="utf-8") == START


async def test_a_setting_the_search_cannot_use_is_shown_in_the_form(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_search_project(tmp_path, server.base_url)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_workspace(app, pilot)
        search = await open_search(app, pilot, "f4")
        search.query_one("#budget-calls").value = "20"  # the start and the confirmation take 24
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        # The search refuses before any call; the form stays to fix the budget.
        assert "budget is too small" in text(search, "#search-status") and not server.requests
        assert search.query_one("#search-form").display and not search.outcome
        for name in ("fewshot", "constrain", "rewrite"):
            search.query_one(f"#strategy-{name}").value = False
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "no strategy to search with" in text(search, "#search-status")
        assert Store(root / ".workbench" / "workbench.db").searches("tickets") == []


async def test_a_provider_refusing_the_key_stops_the_search_with_one_line(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model, failures=lambda index, body: "401") as server:
        root = make_search_project(tmp_path, server.base_url)
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            await open_workspace(app, pilot)
            search = await open_search(app, pilot, "f4")
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            assert search.outcome == "failed" and app.crash is None and app.screen is search
            status = text(search, "#search-status")
            assert status.startswith("search 1 stopped: ") and "0 candidates kept" in status
            assert "\n" not in search.error and search.error in status.replace("\n", " ")
            assert Store(root / ".workbench" / "workbench.db").searches("tickets")[-1].status == "failed"
            assert search.query_one("#apply", Button).disabled
            assert rows(search.query_one("#candidates", DataTable))["v1"][3] == "stopped"


# Snapshots ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def search_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply=ticket_model) as server:
        yield server


@pytest.fixture
def search_project(search_server: FakeOpenAIServer) -> Iterator[Path]:
    """A fresh project each time (only its folder's name is on screen): every search starts from v1."""
    parent = Path(tempfile.mkdtemp(prefix="workbench-search-"))
    yield make_search_project(parent / PROJECT_NAME, search_server.base_url)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_the_search_screen_after_a_finished_search(snap_compare, search_project: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        app = pilot.app
        await open_workspace(app, pilot)
        await pilot.press("f4")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert app.screen.outcome == "finished"
        app.clear_notifications()  # "Saved tickets as v1" lasts a few seconds: gone or not by timing alone
        await pilot.pause()

    app = WorkbenchApp(open_project(search_project), warm_up=False, cursor_blink=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
