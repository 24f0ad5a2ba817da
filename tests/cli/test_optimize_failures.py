"""``workbench optimize`` when the model calls fail, when nothing is scored, when retries spend the call
budget, and the endings that still print the report (Ctrl+C with ``--json``, ``--apply`` refused)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from test_optimize import START, chat_requests, make_search_project, ticket_model

import workbench.optimize as optimize_package
from support.cli import invoke
from support.openai_server import FakeOpenAIServer
from workbench.optimize import CandidateDone, SearchStarted


def every_chat_request(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["path"].endswith("/chat/completions")]


def plateau_of_hand_made_versions(root: Path) -> None:
    """v1 and v2 on the whole dev split, no better: a plateau, so ``status`` gives readiness advice."""
    assert invoke(root, "run", "tickets")[0] == 0
    (root / "prompts" / "tickets.prompt").write_text(START.replace("Which team", "What team"), encoding="utf-8")
    assert invoke(root, "run", "tickets")[0] == 0


def test_a_search_whose_every_call_failed_measured_nothing_exits_2_and_is_not_exhausted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    down = {"on": False}
    with FakeOpenAIServer(reply=ticket_model(helpful=False),
                          failures=lambda index, body: "429" if down["on"] else None) as server:
        root = make_search_project(tmp_path, server.base_url, plateau_k=1)
        plateau_of_hand_made_versions(root)
        down["on"] = True
        before = len(every_chat_request(server))
        monkeypatch.setenv("WORKBENCH_RETRIES", "0")
        code, out, err = invoke(root, "optimize", "tickets", "--json", "--budget-calls", "300")
        sent = len(every_chat_request(server)) - before  # the proposer's calls count too
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: search 1 measured nothing (unmeasured)")
    report = json.loads(out)  # the report is still printed
    assert report["outcome"] == "unmeasured" and not report["exhausted"] and not report["found_gain"]
    assert "no gain" not in report["verdict"] and "nothing was measured" in report["verdict"]
    assert report["evaluated"] == 0 and report["calls"] == sent > 0  # the start came from the cache
    status = json.loads(invoke(root, "status", "tickets", "--json")[1])[0]
    assert status["plateau"]["on_plateau"] and status["search"]["outcome"] == "unmeasured"
    assert not status["recommendation"].startswith("searched") and "exhausted" not in status["recommendation"]
    code, text, _ = invoke(root, "status", "tickets")
    assert code == 0 and "no gain" not in text


def test_a_search_whose_every_candidate_was_discarded_is_not_a_no_gain(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model(proposer_reply="I cannot help with that.", helpful=False)) as server:
        root = make_search_project(tmp_path, server.base_url, plateau_k=1)
        plateau_of_hand_made_versions(root)
        code, out, err = invoke(root, "optimize", "tickets", "--strategies", "rewrite", "--proposer", "proposer")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: search 1 measured nothing (nothing scored)")
    assert "no gain" not in out and "verdict: " in out and "no candidate was measured" in out
    status = json.loads(invoke(root, "status", "tickets", "--json")[1])[0]
    assert status["search"]["evaluated"] == 0 and status["search"]["outcome"] == "nothing scored"
    assert not status["recommendation"].startswith("searched")
    assert "exhausted" not in status["recommendation"]


def test_candidates_mostly_errors_are_not_measured(tmp_path: Path) -> None:
    # The start is answered; from then on every call fails: the candidates' figures are all errors.
    with FakeOpenAIServer(reply=ticket_model(helpful=False),
                          failures=lambda index, body: "500" if index >= 12 else None) as server:
        root = make_search_project(tmp_path, server.base_url)
        code, out, err = invoke(root, "optimize", "tickets", "--json", "--strategies", "constrain")
    report = json.loads(out)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: search 1 measured nothing")
    errored = [c for c in report["candidates"] if c["version"] is not None]
    assert errored and all(c["errors"] == c["n"] for c in errored)
    assert report["evaluated"] == 0 and report["outcome"] == "unmeasured" and "no gain" not in report["verdict"]


def test_the_call_budget_counts_attempts_not_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_RETRIES", "2")
    seen: set[str] = set()

    def first_attempt_fails(index: int, body: dict[str, Any]) -> str | None:
        key = json.dumps(body["messages"])
        if key in seen:
            return None
        seen.add(key)
        return "500"

    # Every case's first request is refused, its retry answered: two requests a case.
    with FakeOpenAIServer(reply=ticket_model(), failures=first_attempt_fails) as server:
        root = make_search_project(tmp_path, server.base_url)
        # The start: 16 cases, 32 attempts; the candidate fits (32 + 16 + 32 kept for the confirmation <= 90)
        # and takes 32 more: the confirmation (32 at least) no longer fits in 90.
        code, out, err = invoke(root, "optimize", "tickets", "--json", "--budget-calls", "90",
                                "--strategies", "constrain")
        sent = len(chat_requests(server))
    report = json.loads(out)
    assert code == 0, err
    assert report["calls"] == sent == report["budget"]["spent_calls"] == 64 <= 90
    scored = [c for c in report["candidates"] if c["version"] is not None]
    assert [(c["calls"], c["n"]) for c in scored] == [(32, 16)]  # a candidate's calls are attempts
    assert report["confirmation"] is None and "did not fit" in report["stop_reason"]
    assert report["outcome"] == "unconfirmed" and not report["exhausted"] and "not confirmed" in report["verdict"]


def interrupting_search(monkeypatch: pytest.MonkeyPatch, on_started: Any = None, stop: bool = False) -> None:
    """Wrap ``optimize.search``: ``on_started`` runs at the search's start; ``stop``: Ctrl+C after the first
    scored candidate."""
    real = optimize_package.search

    async def wrapped(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
        events = real(*args, **kwargs)
        try:
            async for event in events:
                if isinstance(event, SearchStarted) and on_started is not None:
                    on_started()
                yield event
                if stop and isinstance(event, CandidateDone) and event.record.version is not None:
                    raise KeyboardInterrupt
        finally:
            await events.aclose()

    monkeypatch.setattr(optimize_package, "search", wrapped)


def test_an_interrupted_search_prints_its_report_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interrupting_search(monkeypatch, stop=True)
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        code, out, err = invoke(root, "optimize", "tickets", "--json", "--strategies", "fewshot")
    assert code == 130 and "interrupted" in err
    report = json.loads(out)
    assert report["status"] == "cancelled" and report["outcome"] == "stopped" and not report["exhausted"]
    assert len([c for c in report["candidates"] if c["version"] is not None]) == 1
    assert "no gain" not in report["verdict"]
    status = json.loads(invoke(root, "status", "tickets", "--json")[1])[0]
    assert "no gain" not in status["search"]["verdict"] and not status["search"]["found_gain"]


@pytest.mark.parametrize("as_json", [False, True])
def test_apply_refused_after_an_edit_prints_the_finished_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                as_json: bool) -> None:
    path = tmp_path / "prompts" / "tickets.prompt"
    interrupting_search(monkeypatch, on_started=lambda: path.write_text(
        START.replace("Which team", "Which group"), encoding="utf-8"))
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        code, out, err = invoke(root, "optimize", "tickets", "--apply", "--strategies", "fewshot,constrain",
                                *(["--json"] if as_json else []))
    assert code == 2 and "the prompt file changed during the search" in err.strip().splitlines()[-1]
    if as_json:
        report = json.loads(out)
        assert report["status"] == "apply refused" and report["found_gain"]
        assert "prompt file changed" in report["apply_refused"]
    else:
        assert ": finished, apply refused" in out and "verdict: " in out and "beats v1" in out
        assert "\napply refused: " in out and "the prompt file changed during the search" in out


def test_a_server_down_from_the_start_stops_the_search_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_RETRIES", "0")
    with FakeOpenAIServer(reply=ticket_model(), failures=lambda index, body: "429") as server:
        root = make_search_project(tmp_path, server.base_url)
        code, out, err = invoke(root, "optimize", "tickets", "--budget-calls", "300")
        sent = len(chat_requests(server))
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: search 1 measured nothing (unmeasured)")
    assert sent == 12  # the start's search fold, then nothing: no budget spent on errors
    assert "v1's scoring on the search fold ended in errors (12 of 12 cases)" in out and "no gain" not in out
