"""Collected training examples: source preference, held-out exclusion, duplicates and contradictions."""

from __future__ import annotations

from workbench.examples import collect_examples, target_text
from workbench.prompts import parse_prompt
from workbench.records import Case, Completion, Score
from workbench.store import Store

PROMPT = parse_prompt("---\nsystem: Answer.\n---\nQ: {{ q }}\n", "prompts/qa.prompt")
CASES = [
    Case("a", {"q": "one"}, "1"),
    Case("b", {"q": "two"}, None),                       # no gold: only a passing output can teach it
    Case("c", {"q": "three"}, "3", split="test"),        # held out by split
    Case("d", {"q": "four"}, "4", held_out=True),        # held out by flag
    Case("e", {"q": "five"}, "5"),
    Case("f", {"q": "five"}, "5"),                       # exact duplicate of e
    Case("g", {"q": "six"}, "6"),
    Case("h", {"q": "six"}, "six"),                      # contradicts g
    Case("i", {"q": "seven"}, {"n": 7}),                 # structured gold becomes JSON
]


def stored_run(store: Store, outputs: dict[str, tuple[str, bool]]):
    version = store.save_version(PROMPT)
    store.save_testset("d.jsonl", CASES, "h")
    run, _ = store.start_run(version=version, model="m", params={}, testset_hash="h", dataset="d.jsonl",
                             split="all", scorers=[], n_cases=len(CASES))
    for case in CASES:
        if case.id in outputs:
            text, passed = outputs[case.id]
            store.record_result(run.id, case, messages=[], completion=Completion(text), passed=passed,
                                scores=[Score("exact_match", float(passed), passed)], score=float(passed))
    return version, run


def test_mixed_prefers_corrections_then_gold_then_passing_and_applies_hygiene() -> None:
    store = Store.memory()
    version, run = stored_run(store, {"a": ("uno", False), "b": ("2", True), "e": ("5", True)})
    store.set_review(version.id, "a", "bad", correction="one!", output="uno")
    found = collect_examples(store, version, CASES, run)
    by_case = {e.case_id: e for e in found.examples}
    assert [e.case_id for e in found.examples] == ["a", "b", "e", "i"]
    assert (by_case["a"].source, by_case["a"].target, by_case["a"].rejected) == ("corrected", "one!", "uno")
    assert (by_case["b"].source, by_case["b"].target) == ("passing", "2")
    assert by_case["e"].source == "gold" and by_case["i"].target == '{"n":7}'
    assert by_case["a"].messages == [{"role": "system", "content": "Answer."}, {"role": "user", "content": "Q: one"}]
    assert found.dropped == {"held out (test split or held_out)": 2, "exact duplicates": 1,
                             "contradictory duplicates": 2}
    assert sorted(found.contradictions) == ["g", "h"]


def test_single_sources_and_include_test() -> None:
    store = Store.memory()
    version, run = stored_run(store, {"a": ("1", True), "e": ("wrong", False)})
    passing = collect_examples(store, version, CASES, run, source="passing")
    assert [(e.case_id, e.target) for e in passing.examples] == [("a", "1")]
    gold = collect_examples(store, version, CASES, run, source="gold", include_test=True)
    assert {"c", "d"} <= {e.case_id for e in gold.examples}


def test_a_good_review_makes_a_failing_output_a_passing_one_only_for_that_output() -> None:
    store = Store.memory()
    version, run = stored_run(store, {"b": ("deux", False)})
    store.set_review(version.id, "b", "good", output="deux")
    assert [e.target for e in collect_examples(store, version, CASES, run, source="passing").examples] == ["deux"]
    store.set_review(version.id, "b", "good", output="something else")
    assert collect_examples(store, version, CASES, run, source="passing").examples == []


def test_target_text() -> None:
    assert target_text("x") == "x" and target_text(["a", "b"]) == "a" and target_text(3) == "3"
    assert target_text(None) is None


def test_an_input_that_shows_nothing_is_refused_in_every_training_prompt_mode() -> None:
    # Zero-width characters are no input, by the same test render applies to a message (text.visible).
    import pytest

    from workbench.errors import PromptError
    from workbench.train_prompt import training_messages

    blank = Case("z", {"q": "\u200b\u2060 "}, "x")
    for mode in ("short", "none"):
        with pytest.raises(PromptError, match="input is empty"):
            training_messages(PROMPT, blank, mode)
    with pytest.raises(PromptError, match="renders"):
        training_messages(parse_prompt("---\n---\n{{ q }}\n", "prompts/bare.prompt"), blank, "version")
    # An instruction of invisible characters is no system message.
    assert training_messages(PROMPT, Case("y", {"q": "hi"}, "x"), "short", "\u200b") == [
        {"role": "user", "content": training_messages(PROMPT, Case("y", {"q": "hi"}, "x"), "none")[0]["content"]}]
