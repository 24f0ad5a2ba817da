"""``workbench generate``: new cases shaped like the existing ones, bad generations and duplicates dropped and
counted, never in the test split, appended atomically with provenance; ``--dry-run`` and the call budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.cases import load_cases
from workbench.generate import Deduper, normalised, parse_reply

COLUMNS = ["question", "topic"]
EXISTING = [{"id": "d1", "question": "Where is my parcel?", "topic": "delivery"},
            {"id": "d2", "question": "Can I pay by card?", "topic": "payment"},
            {"id": "d3", "question": "How do I reset my password?", "topic": "account"},
            {"id": "t1", "question": "Is the shop open on Sunday?", "topic": "hours", "split": "test"}]


def write(root: Path) -> Path:
    path = root / "datasets" / "q.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in EXISTING), encoding="utf-8")
    return path


def batch(messages: list[dict], body: dict) -> str:
    """One good case per call number, plus every kind of bad generation and duplicate."""
    text = messages[-1]["content"]
    assert "Is the shop open" not in text  # a held-out input is never shown as an example
    return "\n".join([
        "```json",
        json.dumps({"question": "Do you ship to Norway?", "topic": "delivery"}),  # the same good case each call
        json.dumps({"question": "Where is my PARCEL?  ", "topic": "Delivery"}),  # exact duplicate, normalised
        json.dumps({"question": "Is the shop open on Sundays?", "topic": "hours"}),  # near a test input
        json.dumps({"question": "What is your refund policy?"}),  # missing column
        json.dumps({"question": "Hi", "topic": "x", "expected": "y"}),  # extra column
        json.dumps({"question": " ", "topic": "x"}),  # empty value
        "here are your cases:",  # unparseable
        "```",
    ])


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-loopback")


def test_parse_reply_keeps_well_shaped_cases_and_counts_the_rest() -> None:
    cases, dropped = parse_reply(batch([{}, {"content": ""}], {"temperature": 1.0}), COLUMNS)
    assert [case["topic"] for case in cases] == ["delivery", "Delivery", "hours"]
    assert dropped == {"missing columns": 1, "extra columns": 1, "empty values": 1, "unparseable": 1}
    array, none = parse_reply('[{"question": "a", "topic": "b"}, 3]', COLUMNS)
    assert array == [{"question": "a", "topic": "b"}] and none == {"unparseable": 1}


def test_dedupe_is_exact_after_normalising_and_near_above_the_ratio() -> None:
    seen = Deduper()
    seen.add(normalised({"question": "Where is my parcel?", "topic": "delivery"}, COLUMNS))
    assert seen.duplicate(normalised({"question": " where IS my\tparcel? ", "topic": "Delivery"}, COLUMNS)) == "exact"
    assert seen.duplicate(normalised({"question": "Where is my parcel??", "topic": "delivery"}, COLUMNS)) == "near"
    assert seen.duplicate(normalised({"question": "Can I pay by card?", "topic": "payment"}, COLUMNS)) is None


def test_generate_appends_synthetic_train_cases_with_provenance_and_keeps_every_line(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=batch) as server:
        root = make_project(tmp_path / "proj", server.base_url)
        path = write(root)
        before = path.read_bytes()
        code, out, err = invoke(root, "generate", "datasets/q.jsonl", "--model", "fake", "--count", "1",
                                "--seed", "7", "--instruction", "keep them short")
        assert code == 0, err
        calls = [r for r in server.requests if r["path"].endswith("/chat/completions")]
    assert len(calls) == 1 and calls[0]["body"]["temperature"] == 1.0
    assert "keep them short" in calls[0]["body"]["messages"][-1]["content"]
    after = path.read_bytes()
    assert after.startswith(before) and len(after.splitlines()) == len(EXISTING) + 1
    row = json.loads(after.splitlines()[-1])
    assert row["id"].startswith("syn-") and row["split"] == "train" and row["synthetic"] is True
    assert set(row) == {"id", "question", "topic", "split", "synthetic", "provenance"} and "expected" not in row
    assert row["provenance"]["model"] == "fake" and row["provenance"]["seed"] == 7
    assert row["provenance"]["instruction"] == "keep them short" and row["provenance"]["created_utc"]
    assert "generated 1 of 1 cases in 1 of 3 calls" in out and "appended 1 cases" in out
    for words in ("1 exact duplicate", "1 near duplicate", "1 missing columns", "1 extra columns",
                  "1 empty values", "1 unparseable"):
        assert words in out
    cases = load_cases(path)  # the file still loads; synthetic and provenance are not template variables
    assert cases[-1].vars == {"question": row["question"], "topic": "delivery"} and cases[-1].split == "train"
    assert not [case for case in cases if case.split == "test" and case.id.startswith("syn-")]


def test_dry_run_writes_nothing_and_the_budget_stops_generation(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=batch) as server:
        root = make_project(tmp_path / "proj", server.base_url)
        path = write(root)
        before = path.read_bytes()
        # Every call yields the same good case, so only the first is new: the budget of 2 calls stops it.
        code, out, err = invoke(root, "generate", "datasets/q.jsonl", "-m", "fake", "-n", "5", "--budget-calls", "2",
                                "--dry-run", "--json")
        assert code == 0, err
        calls = [r for r in server.requests if r["path"].endswith("/chat/completions")]
    data = json.loads(out)
    assert path.read_bytes() == before and data["written"] is False
    assert (data["generated"], data["calls"], data["budget_calls"], data["budget_spent"]) == (1, 2, 2, True)
    assert len(calls) == 2 and data["dropped"]["exact duplicate"] == 3  # the second call's good case too


@pytest.mark.parametrize(("args", "words"), [
    (("--count", "0"), "--count must be at least 1"),
    (("--count", "3", "--split", "test"), "generated cases never go in the 'test' split"),
    (("--count", "3", "--budget-calls", "0"), "--budget-calls must be at least 1"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    with FakeOpenAIServer(reply=batch) as server:
        root = make_project(tmp_path / "proj", server.base_url)
        write(root)
        code, _, err = invoke(root, "generate", "datasets/q.jsonl", "--model", "fake", *args)
        assert server.requests == []
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_test_set_it_cannot_extend_is_refused(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=batch) as server:
        root = make_project(tmp_path / "proj", server.base_url)
        (root / "datasets" / "q.csv").write_text("question\nhello\n", encoding="utf-8")
        code, _, err = invoke(root, "generate", "datasets/q.csv", "--model", "fake", "--count", "2")
        assert code == 2 and "generate into a JSON Lines file" in err
        (root / "datasets" / "held.jsonl").write_text('{"question": "a", "split": "test"}\n', encoding="utf-8")
        code, _, err = invoke(root, "generate", "datasets/held.jsonl", "--model", "fake", "--count", "2")
        assert code == 2 and "every case is held out" in err
        assert server.requests == []
