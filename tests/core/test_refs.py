"""The one parser of version and run references (refs.py) and the one rule for a prompt's main track."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_store import CASES, FakePrompt

from workbench.errors import StoreError
from workbench.records import Completion
from workbench.refs import RefError, parse_version_number, parse_version_ref, resolve_run_ref
from workbench.reports import history, main_track
from workbench.store import Store


@pytest.mark.parametrize(("text", "prompt", "number"), [
    ("v3", None, 3), ("3", None, 3), (" V12 ", None, 12), ("tickets@v2", "tickets", 2),
    ("a@b@v4", "a@b", 4), ("café@v1", "café", 1),
])
def test_version_references_parse(text: str, prompt: str | None, number: int) -> None:
    ref = parse_version_ref(text)
    assert (ref.prompt, ref.number) == (prompt, number)


@pytest.mark.parametrize("text", ["latest", "v", "v0", "0", "-1", "v1.5", "@v2", "v٣", "x@", ""])
def test_a_malformed_version_reference_is_one_clear_error(text: str) -> None:
    with pytest.raises(RefError, match="not a version") as caught:
        parse_version_ref(text)
    assert "vN" in (caught.value.hint or "")


def test_a_blank_version_means_the_best_one() -> None:
    assert parse_version_number(None) is None and parse_version_number("  ") is None
    assert parse_version_number("v7") == 7


def _store_with_runs() -> tuple[Store, list[int]]:
    """Prompt p: v1 run on dev twice (the second left unfinished), v2 run on dev and on test."""
    store = Store.memory()
    store.save_testset("d.jsonl", CASES, "hash1")
    ids = []
    for text, split, finish in (("one", "dev", True), ("one", "dev", False), ("two", "dev", True),
                                ("two", "test", True)):
        version = store.save_version(FakePrompt("p", text.upper(), text))
        run, _ = store.start_run(version=version, model="echo", params={}, testset_hash="hash1",
                                 dataset="d.jsonl", split=split, scorers=["exact_match"], n_cases=len(CASES))
        store.record_result(run.id, CASES[0], messages=[], completion=Completion("A"), scores=[], passed=True,
                            score=1.0)
        if finish:
            store.finish_run(run.id)
        ids.append(run.id)
    return store, ids


def test_run_references_name_the_expected_run() -> None:
    store, (first, unfinished, dev, test) = _store_with_runs()
    assert resolve_run_ref(store, str(first)).id == first
    assert resolve_run_ref(store, "last").id == test
    # A version's latest finished run, not a newer unfinished one.
    assert resolve_run_ref(store, "p@v1").id == first
    # Beside another run, the run on the same split; a preference is honoured when any run meets it.
    assert resolve_run_ref(store, "p@v2", like=store.run(first)).id == dev
    assert resolve_run_ref(store, "p@v2", prefer=lambda run: run.split == "dev").id == dev
    assert unfinished not in (first, dev, test)


@pytest.mark.parametrize(("ref", "error", "message"), [
    ("v2", RefError, "name the prompt too"), ("nope", RefError, "not a run: 'nope'"),
    ("p@v9", StoreError, "v9"), ("99", StoreError, "99"),
])
def test_a_run_reference_that_names_nothing_is_a_clear_error(ref: str, error: type, message: str) -> None:
    store, _ = _store_with_runs()
    with pytest.raises(error, match=message):
        resolve_run_ref(store, ref)


def test_no_run_yet_is_a_clear_error() -> None:
    with pytest.raises(RefError, match="no run yet"):
        resolve_run_ref(Store.memory(), "last")


def test_the_main_track_has_the_most_versions_measured_then_the_newest_run() -> None:
    store, _ = _store_with_runs()
    tracks = history(store, "p")
    assert [(t.split, len(t.rows)) for t in tracks] == [("dev", 2), ("test", 1)]
    assert main_track(tracks).split == "dev"
    # Two tracks of one version each: the one run most recently wins, in whichever order they come.
    dev_v1 = replace(tracks[0], rows=tracks[0].rows[:1])
    assert main_track([dev_v1, tracks[1]]).split == "test" and main_track([tracks[1], dev_v1]).split == "test"
    assert main_track([]) is None


@pytest.mark.parametrize("text", ["last", "LAST", "Last", " last ", " LaSt\t"])
def test_last_is_read_in_any_case_for_runs_and_batches(text: str) -> None:
    from workbench.refs import is_last, resolve_batch_ref

    store, (*_, test) = _store_with_runs()
    assert is_last(text) and resolve_run_ref(store, text).id == test
    for number in range(2):
        store.add_batch(provider_batch_id=f"batch_{number}", run_id=test, model="echo", api_base=None,
                        status="in_progress", input_file_id=None, case_ids=[], request_counts={}, estimate_usd=None)
    assert resolve_batch_ref(store, text).provider_batch_id == "batch_1"


def test_a_version_written_with_a_capital_v_is_resolved_beside_the_other_run() -> None:
    from workbench.refs import resolve_run_pair

    store, (_, _, dev, test) = _store_with_runs()
    # A, a version, is resolved again beside B: never B itself, its run on the dev split; ``V`` as ``v``.
    assert [run.id for run in resolve_run_pair(store, "p@V2", str(test))] == [
        run.id for run in resolve_run_pair(store, "p@v2", str(test))] == [dev, test]
