"""The fine-tuning export's core: sources and pairs, training-prompt modes, split, redaction, token
statistics, every validator error name, each format's shape, real consumers (``datasets``, TRL), and
the folder it writes (atomic, never overwriting, manifest, dataset card)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import ExportError
from workbench.export import FORMATS, ExportOptions, Row, build_export, check_format, get_format, write_export
from workbench.export import formats as fmt
from workbench.export.hygiene import Redactor, split_of
from workbench.export.validate import check_openai_chat
from workbench.project import Project, Settings
from workbench.prompts import parse_prompt
from workbench.records import Case, Completion, Score
from workbench.store import Store
from workbench.tokens import count_tokens, token_lengths

SYSTEM = "Route the ticket. Reply with one word."
PROMPT = parse_prompt(f"---\nsystem: {SYSTEM}\n---\nTicket: {{{{ text }}}}\n", "prompts/route.prompt")
TEAMS = ["billing", "shipping", "technical"]


def make_cases() -> list[Case]:
    cases = [Case(f"c{i:02d}", {"text": f"ticket {i} about the café order"}, TEAMS[i % 3]) for i in range(20)]
    return [
        *cases,
        Case("c20", {"text": "ticket 20 kept for the test"}, "billing", split="test"),
        Case("c21", {"text": "ticket 21 held out"}, "billing", held_out=True),
        Case("c22", {"text": "ticket 0 about the café order"}, "billing"),       # exact duplicate of c00
        Case("c23", {"text": "ticket 1 about the café order"}, "billing"),       # contradicts c01 (shipping)
    ]


def output_for(case: Case) -> tuple[str | None, bool, str | None]:
    """(output, passed, error): every fifth case fails with 'sales', c07 errors, the rest answer right."""
    number = int(case.id[1:])
    if case.id == "c07":
        return None, False, "timeout"
    if number % 5 == 0:
        return "sales", False, None
    return case.expected, True, None


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(root=tmp_path, settings=Settings())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / ".workbench" / "workbench.db")
    version = store.save_version(PROMPT)
    cases = make_cases()
    store.save_testset("datasets/route.jsonl", cases, "h1")
    run, _ = store.start_run(version=version, model="m", params={}, testset_hash="h1",
                             dataset="datasets/route.jsonl", split="all", scorers=[], n_cases=len(cases))
    for case in cases:
        text, passed, error = output_for(case)
        store.record_result(run.id, case, messages=[], completion=Completion(text) if text else None,
                            passed=passed, score=float(passed), error=error,
                            scores=[Score("exact_match", float(passed), passed)])
    store.finish_run(run.id)
    store.set_review(version.id, "c05", "bad", correction="billing", output="sales")
    yield store
    store.close()


def plan_for(project: Project, store: Store, **options: Any):
    return build_export(project, store, "route", ExportOptions(**options))


# Sources, pairs, hygiene -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_mixed_sources_pairs_and_what_was_dropped(project: Project, store: Store) -> None:
    plan = plan_for(project, store, formats=("openai-dpo", "trl"))
    by_case = {row.case_id: row for row in plan.rows}
    assert sorted(by_case) == [f"c{i:02d}" for i in range(20) if i != 1]
    assert by_case["c05"].source == "corrected" and by_case["c05"].target == "billing"
    assert {row.source for row in plan.rows} == {"corrected", "gold"}
    # Pairs: a correction or gold answer against a failing output; an errored case has none.
    assert sorted(c for c, row in by_case.items() if row.has_pair) == ["c00", "c05", "c10", "c15"]
    assert by_case["c10"].rejected == "sales" and by_case["c07"].rejected is None
    assert plan.dropped == {"contradictory duplicates": 2, "exact duplicates": 1,
                            "held out (test split or held_out)": 2}
    assert sorted(plan.contradictions) == ["c01", "c23"]
    assert plan.origin["version"] == 1 and plan.origin["run_id"] == 1 and plan.origin["pass_rate"] == 18 / 24


def test_passing_source_never_exports_a_failing_output(project: Project, store: Store) -> None:
    plan = plan_for(project, store, source="passing")
    assert all(row.source == "passing" for row in plan.rows)
    assert {row.case_id for row in plan.rows}.isdisjoint({"c00", "c05", "c07", "c10", "c15"})
    assert all(row.target != "sales" for row in plan.rows)


def test_include_test_brings_the_held_out_cases_back(project: Project, store: Store) -> None:
    plan = plan_for(project, store, include_test=True)
    assert {"c20", "c21"} <= {row.case_id for row in plan.rows} and plan.test_cases == 2


def test_a_version_without_a_run_exports_gold_from_its_test_set(project: Project, store: Store) -> None:
    text = "---\ndataset: datasets/new.jsonl\n---\nT: {{ text }}\n"
    store.save_version(parse_prompt(text, "prompts/route.prompt"))
    with pytest.raises(ExportError, match=r"nothing to export from route@v2 .*no run of route@v2 yet"):
        plan_for(project, store, version=2)
    (project.root / "datasets").mkdir()
    case = '{"id": "n1", "text": "hi", "expected": "billing"}\n'
    (project.root / "datasets" / "new.jsonl").write_text(case)
    plan = plan_for(project, store, version=2)
    assert plan.origin["run_id"] is None and [(r.case_id, r.target, r.score) for r in plan.rows] == [
        ("n1", "billing", None)]
    assert plan_for(project, store).origin["version"] == 1  # the best version is still the measured one


def test_nothing_to_export_is_a_clear_error(project: Project, store: Store) -> None:
    store.db.execute("DELETE FROM reviews")
    store.db.conn.commit()
    with pytest.raises(ExportError, match="nothing to export from route@v1 with source 'corrected'"):
        plan_for(project, store, source="corrected")


@pytest.mark.parametrize(("options", "message"), [
    ({"source": "best"}, "unknown source 'best'"),
    ({"train_prompt": "long"}, "unknown training prompt 'long'"),
    ({"instruction": "x", "train_prompt": "none"}, "--instruction replaces the system text"),
    ({"valid_fraction": 1.0}, "validation fraction must be at least 0 and below 1"),
    ({"formats": ("openai-chat", "jsonl")}, "unknown export format 'jsonl'"),
])
def test_bad_options_are_export_errors(project: Project, store: Store, options: dict, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        plan_for(project, store, **options)


def test_training_prompt_modes(project: Project, store: Store) -> None:
    def prompt_of(**options: Any) -> list[dict]:
        return next(row.prompt for row in plan_for(project, store, **options).rows if row.case_id == "c02")

    text = "ticket 2 about the café order"
    assert prompt_of() == [{"role": "system", "content": SYSTEM},
                           {"role": "user", "content": f"Ticket: {text}"}]
    assert prompt_of(train_prompt="short") == [{"role": "system", "content": SYSTEM},
                                               {"role": "user", "content": text}]
    assert prompt_of(instruction="Route it.") == [{"role": "system", "content": "Route it."},
                                                  {"role": "user", "content": text}]
    assert prompt_of(train_prompt="none") == [{"role": "user", "content": text}]


def test_split_is_seeded_stable_and_near_the_fraction() -> None:
    ids = [f"case-{i}" for i in range(20_000)]
    first = {case_id: split_of(case_id, 3, 0.1) for case_id in ids}
    share = sum(side == "validation" for side in first.values()) / len(ids)
    assert 0.09 < share < 0.11
    # A case's side depends only on (seed, id): more cases never move the earlier ones.
    more = {case_id: split_of(case_id, 3, 0.1) for case_id in [*ids, *(f"new-{i}" for i in range(500))]}
    assert all(more[case_id] == side for case_id, side in first.items())
    assert any(split_of(case_id, 4, 0.1) != side for case_id, side in first.items())
    assert {split_of(case_id, 3, 0.0) for case_id in ids} == {"train"}


def test_plan_split_and_token_statistics(project: Project, store: Store) -> None:
    plan = plan_for(project, store, valid_fraction=0.3, seed=5)
    assert all(row.split == split_of(row.case_id, 5, 0.3) for row in plan.rows)
    assert {row.split for row in plan.rows} == {"train", "validation"}
    for row in plan.rows:  # each row's count is the count of its whole text
        assert row.tokens == count_tokens("\n".join(m["content"] for m in row.prompt) + "\n" + row.target)
    lengths = sorted(row.tokens for row in plan.rows)
    assert plan.tokens is not None
    assert (plan.tokens.min, plan.tokens.max) == (lengths[0], lengths[-1])
    assert lengths[0] <= plan.tokens.p50 <= plan.tokens.p90 <= lengths[-1]


def test_redaction_uses_stable_placeholders() -> None:
    redact = Redactor()
    first = redact("Mail Ann@Example.com or call +1 415-555-0142; cc bob@corp.io")
    second = redact("ann@example.com again, and (415) 555-0199. Order 2024-05-01, v1.2.3, total 12345.")
    assert first == "Mail <EMAIL_1> or call <PHONE_1>; cc <EMAIL_2>"
    assert second == "<EMAIL_1> again, and <PHONE_2>. Order 2024-05-01, v1.2.3, total 12345."
    assert redact.counts == {"email": 3, "phone": 2} and redact.distinct == {"email": 2, "phone": 2}


def test_redaction_reaches_prompts_targets_and_rejected_outputs(project: Project, store: Store) -> None:
    store.set_review(1, "c05", "bad", correction="write to help@shop.com", output="sales")
    plan = plan_for(project, store, redact_pii=True, formats=("openai-dpo",))
    row = next(row for row in plan.rows if row.case_id == "c05")
    assert row.target == "write to <EMAIL_1>" and plan.redactions == {"replaced": {"email": 1},
                                                                     "distinct": {"email": 1}}


# Validators: every error name from a crafted bad example ----------------------------------------------------

GOOD_CHAT = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                          {"role": "assistant", "content": "a"}]}


def with_message(index: int, **changes: Any) -> dict:
    messages = [dict(m) for m in GOOD_CHAT["messages"]]
    merged = {**messages[index], **changes}
    messages[index] = {key: value for key, value in merged.items() if value is not None}
    return {"messages": messages}


@pytest.mark.parametrize(("example", "error"), [
    (["not", "a", "dict"], "data_type"),
    ({"messages": []}, "missing_messages_list"),
    ({"prompt": "x"}, "missing_messages_list"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}, "message_missing_key"),
    (with_message(1, extra="x"), "message_unrecognized_key"),
    (with_message(1, role="human"), "unrecognized_role"),
    (with_message(2, content=""), "missing_content"),
    (with_message(2, content=["a"]), "missing_content"),
    ({"messages": GOOD_CHAT["messages"][:2]}, "example_missing_assistant_message"),
    (with_message(2, weight=2), "invalid_weight"),
    (with_message(1, weight=0), "invalid_weight"),
    ({**GOOD_CHAT, "metadata": {}}, "extra_keys_not_allowed"),
    ({"messages": [{"role": "user", "content": "u"}, {"role": "tool", "tool_call_id": "x", "content": "1"},
                   {"role": "assistant", "content": "a"}]}, "tool_call_unmatched"),
])
def test_cookbook_error_names(example: Any, error: str) -> None:
    assert error in check_openai_chat(example)


def test_valid_chat_tool_calls_and_weights_pass() -> None:
    assert check_openai_chat(GOOD_CHAT) == []
    tools = {"messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                              "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "21"},
        {"role": "assistant", "content": "21 C", "weight": 1}], "tools": [], "parallel_tool_calls": False}
    assert check_openai_chat(tools) == []


@pytest.mark.parametrize(("name", "record", "error"), [
    ("together", {"messages": [{"role": "user", "content": "u"}, {"role": "user", "content": "u"},
                               {"role": "assistant", "content": "a"}]}, "roles_not_alternating"),
    ("together", {"messages": [{"role": "user", "content": "u"},
                               {"role": "assistant", "content": "a", "weight": 1.0}]}, "invalid_weight"),
    ("together", {"messages": [{"role": "user", "content": "u"}, {"role": "tool", "content": "a"}]},
     "unrecognized_role"),
    ("bedrock", {"system": "s", "messages": [{"role": "user", "content": "u"},
                                             {"role": "assistant", "content": "a"}], "id": 1},
     "extra_keys_not_allowed"),
    ("bedrock", {"messages": [{"role": "assistant", "content": "a"}]}, "too_few_messages"),
    ("bedrock", {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"},
                              {"role": "user", "content": "u"}]}, "last_message_not_assistant"),
    ("vertex", {"contents": [{"role": "user", "parts": [{"text": "u"}]}]}, "last_message_not_assistant"),
    ("vertex", {"contents": [{"role": "assistant", "parts": [{"text": "u"}]}]}, "unrecognized_role"),
    ("vertex", {"contents": [{"role": "user", "parts": []}, {"role": "model", "parts": [{"text": "a"}]}]},
     "missing_content"),
    ("openai-dpo", {"input": {"messages": [{"role": "user", "content": "u"}]},
                    "preferred_output": [{"role": "assistant", "content": "a"}],
                    "non_preferred_output": [{"role": "assistant", "content": "a"}]}, "identical_outputs"),
    ("openai-dpo", {"input": {"messages": [{"role": "user", "content": "u"},
                                           {"role": "assistant", "content": "a"}]},
                    "preferred_output": [{"role": "assistant", "content": "a"}],
                    "non_preferred_output": [{"role": "assistant", "content": "b"}]},
     "multi_turn_not_supported"),
    ("openai-dpo", {"input": {"messages": [{"role": "user", "content": "u"}]},
                    "preferred_output": [{"role": "user", "content": "a"}],
                    "non_preferred_output": [{"role": "assistant", "content": "b"}]},
     "invalid_preferred_output"),
    ("openai-completion", {"prompt": "a\n\n###\n\nb" + fmt.SEPARATOR, "completion": " x END"},
     "separator_in_prompt"),
    ("openai-completion", {"prompt": "a" + fmt.SEPARATOR, "completion": " x END y END"},
     "stop_sequence_in_completion"),
    ("openai-completion", {"prompt": "a", "completion": "x END"}, "separator_missing"),
    ("trl", {"prompt": [{"role": "user", "content": "u"}],
             "completion": [{"role": "assistant", "content": "a"}], "chosen": []}, "extra_keys_not_allowed"),
    ("alpaca", {"instruction": "", "input": "", "output": "a"}, "missing_content"),
    ("hf", {"messages": [{"role": "user", "content": "u"},
                         {"role": "assistant", "content": "a", "weight": None}],
            "case_id": "c", "source": "gold", "version": 1, "score": None}, "message_unrecognized_key"),
])
def test_target_error_names(name: str, record: dict, error: str) -> None:
    checks = [shape.check for shape in get_format(name).shapes()]
    assert any(error in check(record) for check in checks)


def rows(n: int, **changes: Any) -> list[Row]:
    base = {"split": "train", "prompt": [{"role": "user", "content": "u"}], "target": "a", "source": "gold",
            "version": 1, "score": None, "tokens": 5}
    return [Row(case_id=f"r{i}", **{**base, **changes}) for i in range(n)]


def test_dataset_level_checks_too_few_over_long_and_validation_size() -> None:
    report = check_format(get_format("openai-chat"), rows(9))
    assert report.errors == {"too_few_examples": 1} and "at least 10" in report.warnings["too_few_examples"]
    assert check_format(get_format("openai-chat"), rows(10)).ok
    long = check_format(get_format("openai-chat"), rows(10, tokens=fmt.OPENAI_MAX_TOKENS + 1))
    assert long.errors == {"over_token_limit": 10} and long.samples[0]["case_id"] == "r0"
    vertex = check_format(get_format("vertex"), rows(3) + rows(5_001, split="validation"))
    assert vertex.errors == {"too_many_validation_examples": 1}
    assert "below_recommended_examples" in vertex.warnings
    trl = check_format(get_format("trl"), rows(2))
    assert trl.ok and "preference:empty_shape" in trl.warnings
    assert check_format(get_format("openai-dpo"), rows(12)).errors == {"too_few_examples": 1}  # no pairs


def test_every_registered_format_validates_a_clean_plan(project: Project, store: Store) -> None:
    plan = plan_for(project, store, formats=tuple(FORMATS), valid_fraction=0.2)
    assert list(plan.reports) == list(FORMATS)
    failing = {name: dict(report.errors) for name, report in plan.reports.items() if not report.ok}
    # 19 examples with only 4 pairs: the preference target of OpenAI is the only one short of examples.
    assert failing == {"openai-dpo": {"too_few_examples": 1}}


# Shapes of each format --------------------------------------------------------------------------------------

FEW_SHOT = Row(case_id="f1", split="train", prompt=[
    {"role": "system", "content": "Classify."}, {"role": "user", "content": "cat"},
    {"role": "assistant", "content": "animal"}, {"role": "user", "content": "rose"}],
    target="plant", source="gold", version=2, score=None, tokens=9, rejected="animal")


def record(name: str, row: Row = FEW_SHOT, shape: int = 0) -> dict:
    return get_format(name).shapes()[shape].record(row)


def test_format_shapes_of_a_few_shot_example() -> None:
    assert record("openai-chat")["messages"][2] == {"role": "assistant", "content": "animal", "weight": 0}
    assert record("openai-chat")["messages"][-1] == {"role": "assistant", "content": "plant", "weight": 1}
    assert record("together") == record("openai-chat")
    assert record("openai-completion") == {
        "prompt": "System: Classify.\n\nUser: cat\n\nAssistant: animal\n\nUser: rose\n\n###\n\n",
        "completion": " plant END"}
    assert record("openai-dpo") == {"input": {"messages": FEW_SHOT.prompt},
                                    "preferred_output": [{"role": "assistant", "content": "plant"}],
                                    "non_preferred_output": [{"role": "assistant", "content": "animal"}]}
    assert record("vertex") == {
        "systemInstruction": {"role": "system", "parts": [{"text": "Classify."}]},
        "contents": [{"role": "user", "parts": [{"text": "cat"}]},
                     {"role": "model", "parts": [{"text": "animal"}]},
                     {"role": "user", "parts": [{"text": "rose"}]},
                     {"role": "model", "parts": [{"text": "plant"}]}]}
    assert record("bedrock") == {"system": "Classify.", "messages": FEW_SHOT.messages[1:]}
    assert record("alpaca") == {"instruction": "Classify.",
                                "input": "User: cat\n\nAssistant: animal\n\nUser: rose", "output": "plant"}
    assert [record("trl", shape=i) for i in range(3)] == [
        {"messages": FEW_SHOT.messages},
        {"prompt": FEW_SHOT.prompt, "completion": [{"role": "assistant", "content": "plant"}]},
        {"prompt": FEW_SHOT.prompt, "chosen": [{"role": "assistant", "content": "plant"}],
         "rejected": [{"role": "assistant", "content": "animal"}]}]
    # Few-shot is valid everywhere except OpenAI's one-turn preference format.
    problems = {name: [e for shape in get_format(name).shapes() for e in shape.check(shape.record(FEW_SHOT))]
                for name in FORMATS}
    assert {name: errors for name, errors in problems.items() if errors} == {
        "openai-dpo": ["multi_turn_not_supported"]}


def test_plain_alpaca_record_without_system() -> None:
    row = Row("p", "train", [{"role": "user", "content": "2+2?"}], "4", "gold", 1, None, 3)
    assert record("alpaca", row) == {"instruction": "2+2?", "input": "", "output": "4"}
    assert record("bedrock", row) == {"messages": row.messages}
    assert "systemInstruction" not in record("vertex", row)


# Writing ----------------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 10, 15, 0, tzinfo=UTC)


def test_written_export_manifest_card_and_openai_chat_lines(project: Project, store: Store) -> None:
    plan = plan_for(project, store, valid_fraction=0.2, seed=1)
    folder = write_export(plan, project.exports_dir, now=NOW)
    assert folder == project.exports_dir / "route-20261123T101500Z"
    assert sorted(p.name for p in project.exports_dir.iterdir()) == ["route-20261123T101500Z"]  # no leftovers
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["includes_test_cases"] is False and "WARNING" not in manifest
    assert manifest["settings"]["source"] == "mixed" and manifest["settings"]["seed"] == 1
    assert manifest["dropped"]["contradictory duplicates"] == 2 and manifest["valid"] is True
    assert manifest["validation"]["openai-chat"]["ok"] is True
    assert set(manifest["tokens"]) == {"tokenizer", "min", "p50", "p90", "max"}
    assert manifest["rows"][0] == {"case_id": "c00", "version": 1, "source": "gold", "score": 0.0,
                                   "split": split_of("c00", 1, 0.2), "case_split": "dev",
                                   "tokens": plan.rows[0].tokens, "preference_pair": True}
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card.startswith("# route: fine-tuning data") and "openai-chat/train.jsonl" in card
    # The OpenAI chat files, line by line against the format.
    for split in ("train", "validation"):
        text = (folder / "openai-chat" / f"{split}.jsonl").read_text(encoding="utf-8")
        assert text.endswith("\n") and "café" in text  # UTF-8 kept, not \u-escaped
        lines = text[:-1].split("\n")
        expected = [row for row in plan.rows if row.split == split]
        assert len(lines) == len(expected)
        for line, row in zip(lines, expected, strict=True):
            example = json.loads(line)
            assert list(example) == ["messages"] and check_openai_chat(example) == []
            roles = [m["role"] for m in example["messages"]]
            assert roles == ["system", "user", "assistant"]
            assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) and m["content"]
                       for m in example["messages"])
            assert example["messages"][-1]["content"] == row.target


def test_include_test_is_said_loudly(project: Project, store: Store) -> None:
    folder = write_export(plan_for(project, store, include_test=True), project.exports_dir, now=NOW)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["includes_test_cases"] is True
    assert "INCLUDES 2 TEST-SPLIT OR HELD-OUT" in manifest["WARNING"]
    assert next(iter(manifest)) == "WARNING"
    assert "**Warning:**" in (folder / "README.md").read_text(encoding="utf-8")


def test_never_overwrites_an_earlier_export(project: Project, store: Store) -> None:
    plan = plan_for(project, store)
    first = write_export(plan, project.exports_dir, now=NOW)
    marker = first / "manifest.json"
    before = marker.read_bytes()
    second = write_export(plan, project.exports_dir, now=NOW)
    third = write_export(plan, project.exports_dir, now=NOW)
    assert (second.name, third.name) == ("route-20261123T101500Z-2", "route-20261123T101500Z-3")
    assert marker.read_bytes() == before


def test_invalid_plan_is_refused_unless_forced(project: Project, store: Store) -> None:
    plan = plan_for(project, store, formats=("openai-chat", "openai-dpo"))
    refused = r"export refused, validation failed \(openai-dpo: too_few_examples x1\)"
    with pytest.raises(ExportError, match=refused):
        write_export(plan, project.exports_dir, now=NOW)
    assert not project.exports_dir.exists()
    folder = write_export(plan, project.exports_dir, force=True, now=NOW)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["valid"] is False
    assert manifest["validation"]["openai-dpo"]["errors"] == {"too_few_examples": 1}
    assert len((folder / "openai-dpo" / "train.jsonl").read_text().splitlines()) == sum(
        1 for row in plan.rows if row.has_pair and row.split == "train")


def test_a_failure_midway_leaves_nothing_behind(project: Project, store: Store,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_for(project, store, formats=("openai-chat", "alpaca"))

    def broken(self: Any, path: Path, records: Any) -> None:
        path.write_text("[", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fmt.Alpaca, "write_records", broken)
    with pytest.raises(ExportError, match="cannot write the export: No space left on device"):
        write_export(plan, project.exports_dir, now=NOW)
    assert list(project.exports_dir.iterdir()) == []


def test_unwritable_output_folder(project: Project, store: Store, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="cannot write to the output folder"):
        write_export(plan_for(project, store), blocker / "sub", now=NOW)
    assert blocker.read_text() == "x"


def test_prompt_names_cannot_escape_the_output_folder(project: Project, store: Store) -> None:
    plan = plan_for(project, store)
    plan.prompt = "../../evil name"
    folder = write_export(plan, project.exports_dir, now=NOW)
    assert folder.parent == project.exports_dir and folder.name == "evil_name-20261123T101500Z"


# Real consumers ---------------------------------------------------------------------------------------------


def test_hf_dataset_round_trips_through_load_from_disk_and_parquet(project: Project, store: Store) -> None:
    import datasets

    plan = plan_for(project, store, formats=("hf",), valid_fraction=0.3)
    plan.rows.append(Row(**{**FEW_SHOT.__dict__, "split": "validation"}))  # mixed lengths, null score
    folder = write_export(plan, project.exports_dir, now=NOW)
    expected = {split: [{"messages": row.messages, "case_id": row.case_id, "source": row.source,
                         "version": row.version, "score": row.score}
                        for row in plan.rows if row.split == split]
                for split in ("train", "validation")}
    loaded = datasets.load_from_disk(str(folder / "hf" / "dataset"))
    assert isinstance(loaded, datasets.DatasetDict) and set(loaded) == {"train", "validation"}
    parquet = datasets.load_dataset("parquet", data_files={
        split: str(folder / "hf" / "parquet" / f"{split}.parquet") for split in ("train", "validation")})
    for dataset in (loaded, parquet):
        for split, rows_ in expected.items():
            assert dataset[split].to_list() == rows_  # exact: no null-padded keys, nothing reordered
    assert all(set(m) == {"role", "content"} for row in parquet["validation"]["messages"] for m in row)


def test_importing_the_export_package_loads_no_datasets() -> None:
    script = "import sys, workbench.export, workbench.cli.export\nprint('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """SmolLM2's real tokenizer and chat template, read offline from the bundled GGUF."""
    from transformers import AutoTokenizer

    from workbench.providers.local import bundled_gguf

    gguf = bundled_gguf()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def tiny_model(tokenizer: Any):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256)
    return LlamaForCausalLM(config)


@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")
@pytest.mark.slow
def test_trl_shapes_pass_trl_sft_and_dpo_data_preparation(project: Project, store: Store, tmp_path: Path,
                                                          smollm2_tokenizer: Any) -> None:
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    plan = plan_for(project, store, formats=("trl",), valid_fraction=0.0)
    folder = write_export(plan, project.exports_dir, now=NOW)

    def load(shape: str) -> Any:
        return load_dataset("json", data_files=str(folder / "trl" / shape / "train.jsonl"))["train"]

    messages, completion, preference = load("messages"), load("prompt_completion"), load("preference")
    assert all(is_conversational(dataset[0]) for dataset in (messages, completion, preference))
    text = maybe_apply_chat_template(completion[0], smollm2_tokenizer)
    assert text["prompt"].endswith("<|im_start|>assistant\n") and text["completion"].startswith("billing")
    common = {"output_dir": str(tmp_path / "trl-out"), "report_to": [], "max_length": 128, "use_cpu": True}
    tokenizer = smollm2_tokenizer
    sft = SFTTrainer(model=tiny_model(tokenizer), args=SFTConfig(**common), train_dataset=messages,
                     processing_class=tokenizer)
    assert len(sft.train_dataset) == len(messages)
    assert "billing" in tokenizer.decode(sft.train_dataset[0]["input_ids"])
    sft = SFTTrainer(model=tiny_model(tokenizer), args=SFTConfig(**common), train_dataset=completion,
                     processing_class=tokenizer)
    labels = sft.train_dataset[0]["labels"]
    trained = [token for token in labels if token != -100]
    assert labels[0] == -100 and tokenizer.decode(trained).startswith("billing")  # loss on the answer only
    dpo = DPOTrainer(model=tiny_model(tokenizer), ref_model=tiny_model(tokenizer), args=DPOConfig(**common),
                     train_dataset=preference, processing_class=tokenizer)
    first = dpo.train_dataset[0]
    assert len(dpo.train_dataset) == 4
    assert tokenizer.decode(first["chosen_ids"]).startswith("billing")
    assert tokenizer.decode(first["rejected_ids"]).startswith("sales")


def test_token_lengths_count_each_whole_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tokenizer may merge across a newline (cl100k has a ".\n" token), so an example is counted as its
    # joined text, never as the sum of its parts; an example text seen twice is counted once.
    from workbench import tokens
    from workbench.examples import Example

    calls: list[str] = []

    def count_many(texts: list[str]) -> list[int]:
        calls.extend(texts)
        return [len(text.split()) for text in texts]

    monkeypatch.setattr(tokens, "count_many", count_many)
    examples = [Example(f"e{i}", "dev", [{"role": "system", "content": "same long system prompt."},
                                         {"role": "user", "content": f"question {i % 2}"}], "yes", "gold", 1)
                for i in range(3)]
    assert token_lengths(examples) == [4 + 2 + 1] * 3
    assert calls == ["same long system prompt.\nquestion 0\nyes", "same long system prompt.\nquestion 1\nyes"]
