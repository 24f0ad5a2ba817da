"""``workbench optimize``: the budgeted prompt search, end to end through the CLI (and the core for a
cancel), with real HTTP through litellm to the loopback server. The fake model routes a ticket right when
the prompt shows it two demonstrations or lists the labels, so the search has something to find (its draws
are of four demonstrations or more: the fewest that show all four labels)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from support.cli import invoke
from support.openai_server import FakeOpenAIServer
from workbench.cases import load_cases
from workbench.optimize import CandidateDone, SearchSettings, search
from workbench.optimize.folds import make_folds
from workbench.optimize.strategies import REWRITE_SYSTEM
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.store import Store

KEYWORDS = {"billing": "refund", "bug": "crash", "account": "password", "other": "weather"}
HELD_OUT = "HELDOUTMARK"
START = ("---\ndescription: route a ticket\ndataset: datasets/tickets.jsonl\nparams: {max_tokens: 20}\n"
         "scorers:\n  - exact_match: {normalize: true}\n---\nWhich team should handle this ticket?\n\n{{ text }}\n")
GOOD_REWRITES = ("Here you go.\n<rewrite>\nRoute the ticket. Answer with exactly one of these labels: billing, bug, "
                 "account, other.\n---\nTicket: {{ text }}\nTeam:\n</rewrite>\n<rewrite>\nBe brief.\n---\n"
                 "Ticket, no variable\n</rewrite>\n<rewrite>\n---\nTicket: {{ text }} {{ customer }}\n</rewrite>")


def case_text(messages: list[dict[str, Any]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def ticket_model(proposer_reply: str = GOOD_REWRITES, helpful: bool = True):
    """The fake model: two demonstrations make it right, a label list right except on 'other', else it
    only knows billing. The proposer model answers ``proposer_reply``."""
    def reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        if body["model"] == "proposer-model":
            return proposer_reply
        text = case_text(messages)
        label = next((name for name, word in KEYWORDS.items() if word in text), "other")
        if not helpful:
            return label if label == "billing" else "not sure"
        demos = sum(1 for m in messages if m["role"] == "assistant")
        system = " ".join(m["content"] for m in messages if m["role"] == "system")
        if demos >= 2:
            return label
        if "exactly one of these labels" in system:
            return label if label != "other" else "bug"
        return label if label == "billing" else "not sure"
    return reply


def make_search_project(root: Path, base_url: str, *, per_label: int = 8, train: int = 0, test: int = 2,
                        plateau_k: int = 1, extra_toml: str = "") -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(
        "[defaults]\nmodel = \"fake\"\nconcurrency = 4\ntimeout = 5\nretries = 1\n"
        f"[plateau]\nk = {plateau_k}\n"
        f"[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base_url}\"\napi_key_env = \"FAKE_KEY\"\n"
        f"[models.proposer]\nmodel = \"openai/proposer-model\"\napi_base = \"{base_url}\"\n"
        f"api_key_env = \"FAKE_KEY\"\n{extra_toml}", encoding="utf-8")
    (root / "prompts" / "tickets.prompt").write_text(START, encoding="utf-8")
    rows = []
    for split, n, mark in (("dev", per_label, ""), ("train", train, "train "), ("test", test, HELD_OUT + " ")):
        for label, word in KEYWORDS.items():
            for i in range(n):
                case_id = f"{split[:2]}-{label}-{i}"
                rows.append({"id": case_id, "text": f"[{case_id}] {mark}my {word} issue number {i}",
                             "expected": label, "split": split})
    (root / "datasets" / "tickets.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return root


def optimize_json(root: Path, *args: str) -> dict[str, Any]:
    code, out, err = invoke(root, "optimize", "tickets", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def chat_requests(server: FakeOpenAIServer, model: str = "fake-model", proposer: bool = False) -> list[dict[str, Any]]:
    """The chat requests to ``model``: the cases scored, or (``proposer``) the proposer's calls."""
    return [r for r in server.requests if r["path"].endswith("/chat/completions") and r["body"]["model"] == model
            and (r["body"]["messages"][0]["content"] == REWRITE_SYSTEM) == proposer]


def test_folds_are_disjoint_and_the_test_split_is_never_sent(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        report = optimize_json(root)
    folds = report["folds"]
    search_ids, confirm_ids, pool_ids = set(folds["search"]), set(folds["confirmation"]), set(folds["pool"])
    dev_ids = {f"de-{label}-{i}" for label in KEYWORDS for i in range(8)}
    assert folds["pool_split"] == "dev" and len(pool_ids) == 8  # no train split: demonstrations come from dev
    assert search_ids | confirm_ids | pool_ids == dev_ids
    assert len(search_ids) + len(confirm_ids) + len(pool_ids) == len(dev_ids)  # no case in two roles
    assert {len(search_ids), len(confirm_ids)} == {12}
    # Stratified: every label in both folds.
    assert {i.split("-")[1] for i in search_ids} == {i.split("-")[1] for i in confirm_ids} == set(KEYWORDS)
    requests = server.requests
    assert requests and not any(HELD_OUT in json.dumps(r["body"]) for r in requests)
    # A scored case is always a fold case, never a pool case (those are only ever demonstrations).
    scored = {re.search(r"\[([^\]]+)\]", case_text(r["body"]["messages"])).group(1) for r in chat_requests(server)}
    assert scored <= search_ids | confirm_ids and search_ids <= scored
    for candidate in report["candidates"]:
        if candidate["strategy"] == "fewshot" and candidate["version"] is not None:
            assert set(candidate["settings"]["demos"]) <= pool_ids
    assert report["status"] == "finished" and report["evaluated"] >= 4
    # The winner (four demonstrations: the fewest that show all four labels) is right everywhere; the start
    # only on billing.
    assert report["winner_label"].startswith("fewshot k=4")
    confirmation = report["confirmation"]
    billing = sum(1 for i in confirm_ids if "-billing-" in i)
    assert confirmation["n"] == 12 and confirmation["winner_passed"] == 12 and confirmation["start_passed"] == billing
    assert confirmation["direction"] == "better" and confirmation["low"] > 0 and report["found_gain"]
    assert "optimistically biased" in report["bias_note"]


def test_a_train_split_is_the_pool_and_the_whole_dev_split_is_scored(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url, per_label=4, train=3)
        report = optimize_json(root, "--strategies", "fewshot")
    folds = report["folds"]
    assert folds["pool_split"] == "train" and all(i.startswith("tr-") for i in folds["pool"])
    assert len(folds["search"]) + len(folds["confirmation"]) == 16
    # The grid's sizes that can show all four labels, in both layouts: the instruction repeated in each
    # question, or stated once in the system message (the start's instruction opens with a line that holds no
    # variable); the smaller sizes are discarded, with the reason.
    round_one = [c for c in report["candidates"] if c["round"] == 1]
    assert {c["label"] for c in round_one if c["version"] is not None} == {
        f"fewshot k={k}{layout}" for k in (4, 8) for layout in ("", ", instruction in system")}
    assert {(c["label"], c["discarded"]) for c in round_one if c["version"] is None} == {
        ("fewshot k=1", "1 demonstration cannot show all 4 labels"),
        ("fewshot k=2", "2 demonstrations cannot show all 4 labels")}
    hoisted = next(c for c in report["candidates"] if c["settings"].get("layout") == "system")
    text = Store(root / ".workbench" / "workbench.db").version("tickets", hoisted["version"]).text
    assert "system: Which team should handle this ticket?" in text and "[[user]]\n{{ text }}" in text


def test_the_same_seed_gives_the_same_candidates(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        first = optimize_json(make_search_project(tmp_path / "a", server.base_url), "--seed", "7")
        second = optimize_json(make_search_project(tmp_path / "b", server.base_url), "--seed", "7")

    def shape(report: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [(c["round"], c["label"], json.dumps(c["settings"], sort_keys=True), c["hash"], c["discarded"])
                for c in report["candidates"]]

    assert first["folds"] == second["folds"] and shape(first) == shape(second)
    assert first["winner_version"] == second["winner_version"]
    cases = load_cases(tmp_path / "a" / "datasets" / "tickets.jsonl")
    assert make_folds(cases, 8, 8).to_dict() != first["folds"] == make_folds(cases, 7, 8).to_dict()


def test_round_two_tries_other_orders_of_the_few_shot_incumbents_demonstrations(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        report = optimize_json(make_search_project(tmp_path, server.base_url), "--strategies", "fewshot")
    by_version = {c["version"]: c for c in report["candidates"] if c["version"] is not None}
    reorders = [c for c in report["candidates"] if "reorder" in c["settings"]]
    assert reorders and all(c["round"] >= 2 and c["strategy"] == "fewshot" for c in reorders)
    for candidate in reorders:
        parent = by_version[candidate["parent"]]["settings"]["demos"]
        # The parent's demonstrations (pool cases only), in another order: nothing new is shown.
        assert candidate["settings"]["demos"] == [parent[i] for i in candidate["settings"]["order"]] != parent
        assert set(candidate["settings"]["demos"]) <= set(report["folds"]["pool"])


def test_the_call_budget_stops_the_search_before_it_is_exceeded(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        # 12 calls for the start on the search fold, 24 kept back for the confirmation: room for one candidate.
        report = optimize_json(root, "--budget-calls", "50", "--strategies", "fewshot,constrain")
        sent = len(chat_requests(server))
    assert report["stop_reason"].startswith("the budget")
    assert len([c for c in report["candidates"] if c["version"] is not None]) == 1
    assert report["calls"] == sent <= 50
    code, _, err = invoke(root, "optimize", "tickets", "--budget-calls", "30")
    assert code == 2 and "budget is too small" in err and len(err.strip().splitlines()) == 1


def test_candidates_are_versions_with_provenance_shown_in_history_but_not_counted(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        assert invoke(root, "run", "tickets")[0] == 0  # the hand-made v1 on the whole dev split
        report = optimize_json(root, "--strategies", "fewshot,constrain")
        store = Store(root / ".workbench" / "workbench.db")
        versions = store.versions("tickets")
        v1, candidates = versions[0], versions[1:]
        assert v1.provenance is None and candidates and all(v.search_candidate for v in candidates)
        made = candidates[0].provenance
        assert made["search"] == report["search_id"] and made["parent"] == 1 and made["parent_id"] == v1.id
        assert made["strategy"] == "fewshot" and made["settings"]["k"] == 4 and made["round"] == 1
        assert candidates[0].parent_id == v1.id
        code, out, err = invoke(root, "history", "tickets")
        assert code == 0, err
        assert "v1★" in out and "search candidates" in out and "search 1, round 1: fewshot k=4 from v1" in out
        data = json.loads(invoke(root, "history", "tickets", "--json")[1])["testsets"][0]
        assert [v["version"] for v in data["versions"]] == [1] and data["best_version"] == 1
        assert data["search_candidates"][0]["provenance"]["strategy"] == "fewshot"
        # The plateau and the best version are the hand-made track's: v1 alone, whatever the candidates did.
        status = json.loads(invoke(root, "status", "tickets", "--json")[1])[0]
        assert status["versions"] == [1] and status["best_version"] == 1
        assert status["search"]["found_gain"] and status["recommendation"].startswith(
            "adopt the prompt search's winner")
        code, out, _ = invoke(root, "status", "tickets")
        assert "search    search 1 scored" in out and "beats v1" in out


def test_apply_writes_the_winner_and_adopts_it(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        path = root / "prompts" / "tickets.prompt"
        before = path.read_text(encoding="utf-8")
        code, out, err = invoke(root, "optimize", "tickets", "--strategies", "fewshot", "--apply")
        assert code == 0, err
        assert "applied:" in out and "verdict:" in out and "optimistically biased" in out
        assert "search 1:" in err and "round 1" in err  # progress on stderr
        store = Store(root / ".workbench" / "workbench.db")
        winner = store.version_by_hash("tickets", load_prompt(path).hash)
        assert winner is not None and winner.number > 1 and not winner.search_candidate
        assert winner.provenance["applied_utc"] and winner.provenance["label"] == "fewshot k=4"
        assert path.read_text(encoding="utf-8") == winner.text != before
        assert store.version("tickets", 1).text == before  # the previous text is a stored version
        assert "[[assistant]]" in winner.text
        # Adopted, the winner joins the hand-made track; the next hand edit follows it.
        history = json.loads(invoke(root, "history", "tickets", "--json")[1])["testsets"][0]
        assert winner.number in [v["version"] for v in history["versions"]]
        assert store.searches("tickets")[-1].report["applied"] is True


def test_a_proposer_answering_garbage_is_discarded_with_a_reason_and_the_search_goes_on(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model(proposer_reply="I am sorry, I cannot do that.")) as server:
        root = make_search_project(tmp_path, server.base_url)
        report = optimize_json(root, "--strategies", "rewrite,fewshot", "--proposer", "proposer")
        proposer_calls = len(chat_requests(server, "proposer-model", proposer=True))
    discarded = [c for c in report["candidates"] if c["strategy"] == "rewrite" and c["round"] == 1]
    assert discarded and all("holds no <rewrite> block" in c["discarded"] for c in discarded)
    # Once the incumbent fails no case of the search fold, the proposer is not asked again.
    later = [c["discarded"] for c in report["candidates"] if c["strategy"] == "rewrite" and c["round"] > 1]
    assert all("fails no case of the search fold" in reason for reason in later)
    assert proposer_calls >= 1
    assert any(c["strategy"] == "fewshot" and c["version"] is not None for c in report["candidates"])
    assert report["found_gain"]


def test_rewrites_that_drop_or_invent_a_variable_are_discarded(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        report = optimize_json(root, "--strategies", "rewrite", "--proposer", "proposer")
        proposer = chat_requests(server, "proposer-model", proposer=True)
    first = [c for c in report["candidates"] if c["round"] == 1]
    assert [c["discarded"] for c in first] == [None, "drops variable {{ text }}",
                                               "uses unknown variable {{ customer }}"]
    others = sum(1 for i in report["folds"]["search"] if "-other-" in i)
    # The listed labels: right except on 'other'. With no few-shot pool the whole dev split is in the folds.
    assert len(report["folds"]["search"]) == 16 and first[0]["pass_rate"] == 1 - others / 16
    # The proposer read the template, its variable and failures of the search fold only.
    asked = proposer[0]["body"]["messages"][-1]["content"]
    assert "Which team should handle this ticket?" in asked and "{{ text }}" in asked and "not sure" in asked
    failing = set(re.findall(r"\[(de-[a-z]+-\d+)\]", asked))
    assert failing and failing <= set(report["folds"]["search"])


def test_the_proposer_defaults_to_the_projects_proposer_model(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        toml = root / "workbench.toml"
        toml.write_text(toml.read_text(encoding="utf-8").replace(
            "[defaults]\n", "[defaults]\nproposer_model = \"proposer\"\n"), encoding="utf-8")
        report = optimize_json(root, "--strategies", "rewrite")
        assert chat_requests(server, "proposer-model", proposer=True)  # asked without --proposer
        assert not chat_requests(server, "fake-model", proposer=True)
    assert report["evaluated"] >= 1 and report["candidates"][0]["round"] == 1


def test_a_search_with_no_gain_says_prompting_is_exhausted_in_status_and_decide(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model(helpful=False)) as server:
        root = make_search_project(tmp_path, server.base_url, plateau_k=1)
        assert invoke(root, "run", "tickets")[0] == 0
        path = root / "prompts" / "tickets.prompt"
        path.write_text(START.replace("Which team", "What team"), encoding="utf-8")
        assert invoke(root, "run", "tickets")[0] == 0  # v2: no better: a plateau of hand-made versions
        status = json.loads(invoke(root, "status", "tickets", "--json")[1])[0]
        assert status["plateau"]["on_plateau"] and status["search"] is None
        report = optimize_json(root, "--strategies", "fewshot,constrain")
        assert not report["found_gain"] and "no gain" in report["verdict"]
        assert report["confirmation"] is None and report["stop_reason"]
        status = json.loads(invoke(root, "status", "tickets", "--json")[1])[0]
        assert status["recommendation"].startswith(
            f"searched {report['evaluated']} candidates, no gain: prompting is exhausted for this model")
        assert invoke(root, "run", "tickets", "--split", "test")[0] == 0
        code, out, err = invoke(root, "decide", "tickets")
        assert code == 0, err
        assert "prompt search: search 1 scored" in out and "fair opponent" in out
        data = json.loads(invoke(root, "decide", "tickets", "--json")[1])
        assert data["search"]["search_id"] == 1 and not data["search"]["found_gain"]


@pytest.mark.parametrize(("args", "message"), [
    (["--strategies", "fewshot,magic"], "unknown strategy 'magic'"),
    (["--budget-calls", "0"], "--budget-calls must be at least 1"),
    (["--budget-usd", "-1"], "--budget-usd must be more than 0"),
    (["--proposer", "no-such-model"], "unknown model 'no-such-model'"),
    (["--budget-usd", "1"], "cannot price fake before calling it"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, server: FakeOpenAIServer, args: list[str],
                                          message: str) -> None:
    root = make_search_project(tmp_path, server.base_url)
    code, _, err = invoke(root, "optimize", "tickets", *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not server.requests


def test_a_test_set_without_dev_cases_cannot_be_searched(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_search_project(tmp_path, server.base_url, per_label=0, test=3)
    code, _, err = invoke(root, "optimize", "tickets")
    assert code == 2 and "no dev cases to search on" in err and len(err.strip().splitlines()) == 1


def test_a_dollar_budget_is_priced_before_the_first_call(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_search_project(tmp_path, server.base_url, extra_toml=(
        f"[models.priced]\nmodel = \"openai/gpt-4o-mini\"\napi_base = \"{server.base_url}\"\n"
        "api_key_env = \"FAKE_KEY\"\n"))
    path = root / "prompts" / "tickets.prompt"
    path.write_text(START.replace("params:", "model: priced\nparams:"), encoding="utf-8")
    code, _, err = invoke(root, "optimize", "tickets", "--budget-usd", "0.00001")
    assert code == 2 and "budget is too small" in err and not server.requests


async def test_cancelling_keeps_the_scored_candidates(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model(), latency=0.01) as server:
        root = make_search_project(tmp_path, server.base_url)
        project = open_project(root)
        store = Store(project.db_path)
        events = search(project, store, load_prompt(project.prompt_path("tickets")),
                        SearchSettings(strategies=("fewshot",)))
        async for event in events:
            if isinstance(event, CandidateDone) and event.record.version is not None:
                break
        await events.aclose()
        found = store.searches("tickets")[-1]
        assert found.status == "cancelled" and len([c for c in found.report["candidates"] if c["version"]]) == 1
        assert all(run.status != "running" for run in store.runs("tickets"))
        # Nothing is left holding a run: the same search runs again, answered from the cache.
        sent = len(server.requests)
        again = [event async for event in search(project, store, load_prompt(project.prompt_path("tickets")),
                                                 SearchSettings(strategies=("fewshot",)))]
        assert again[-1].report.status == "finished"
        assert len(server.requests) > sent  # the rest of the search


def test_a_stored_searchs_winner_is_applied_later_without_searching_and_no_text_is_lost(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model()) as server:
        root = make_search_project(tmp_path, server.base_url)
        path = root / "prompts" / "tickets.prompt"
        assert invoke(root, "optimize", "tickets", "--strategies", "fewshot")[0] == 0
        calls = len(server.requests)
        # The user edits the file after the search: the edit is kept as a version before the winner is written.
        edited = path.read_text(encoding="utf-8").replace("Which team", "Which one team")
        path.write_text(edited, encoding="utf-8")
        code, out, err = invoke(root, "optimize", "tickets", "--apply-search", "last")
        assert code == 0, err
        assert len(server.requests) == calls  # nothing searched, nothing called
        store = Store(root / ".workbench" / "workbench.db")
        report = store.searches("tickets")[-1].report
        assert report["applied"] is True
        winner = store.version("tickets", report["winner_version"])
        assert path.read_text(encoding="utf-8") == winner.text
        assert f"now holds tickets@v{winner.number}" in out and "was kept as tickets@v" in out
        assert any(version.text == edited for version in store.versions("tickets"))
        # Applying again changes nothing and keeps nothing new.
        versions = len(store.versions("tickets"))
        code, out, err = invoke(root, "optimize", "tickets", "--apply-search", str(report["search_id"]))
        assert code == 0, err
        assert "kept" not in out and len(store.versions("tickets")) == versions


def test_apply_search_refuses_what_cannot_be_applied_in_one_line(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=ticket_model(helpful=False)) as server:
        root = make_search_project(tmp_path, server.base_url)
        for ref, words in (("last", "no search of tickets yet"), ("7", "no search '7' of tickets")):
            code, _, err = invoke(root, "optimize", "tickets", "--apply-search", ref)
            assert code == 2 and words in err and "Traceback" not in err
        assert invoke(root, "optimize", "tickets", "--strategies", "constrain")[0] == 0
        before = (root / "prompts" / "tickets.prompt").read_text(encoding="utf-8")
        code, _, err = invoke(root, "optimize", "tickets", "--apply-search", "last")
        assert code == 2 and "winner is not applied" in err and "Traceback" not in err
        assert (root / "prompts" / "tickets.prompt").read_text(encoding="utf-8") == before
