"""The SQLite store: migrations, versions, runs and results, reviews, cache, concurrent writers."""

from __future__ import annotations

import multiprocessing
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlite_utils import Database

from workbench.errors import StoreError
from workbench.records import Case, Completion, Score
from workbench.store import Store
from workbench.store.migrations import migrations


@dataclass(frozen=True)
class FakePrompt:
    """The only fields the store reads from a Prompt."""

    name: str
    hash: str
    text: str
    path: Path = Path("prompts/x.prompt")


CASES = [Case("c1", {"q": "a"}, "A"), Case("c2", {"q": "b"}, "B"), Case("c3", {"q": "c"}, "C")]

EXPECTED_TABLES = {"prompts", "versions", "cases", "testsets", "testset_cases", "runs", "results", "scores",
                   "reviews", "cache", "searches", "batches", "_sqlite_migrations"}
EXPECTED_VIEWS = {"runs_view", "results_view", "versions_view"}


def open_run(store: Store, text: str = "v1 text", split: str = "dev"):
    version = store.save_version(FakePrompt("p", text.upper(), text))
    store.save_testset("d.jsonl", CASES, "hash1")
    return store.start_run(version=version, model="echo", params={"temperature": 0}, testset_hash="hash1",
                           dataset="d.jsonl", split=split, scorers=["exact_match"], n_cases=len(CASES))


def test_a_new_database_gets_every_table_and_no_pending_migration(tmp_path: Path) -> None:
    store = Store(tmp_path / ".workbench" / "workbench.db")
    assert set(store.db.table_names()) == EXPECTED_TABLES
    assert set(store.db.view_names()) == EXPECTED_VIEWS
    assert migrations.pending(store.db) == []
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db["results"].columns_dict["latency_ms"] is float


def test_migrating_from_the_first_schema_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    first = migrations._migrations[0].name
    later = [m.name for m in migrations._migrations[1:]]
    migrations.apply(db, stop_before=later[0])
    assert [m.name for m in migrations.applied(db)] == [first]
    db["prompts"].insert({"name": "kept", "path": "p", "created_utc": "2026-01-01"})
    db["versions"].insert({"id": 1, "prompt": "kept", "number": 1, "hash": "h", "text": "t",
                           "created_utc": "2026-01-01"})
    db["reviews"].insert({"version_id": 1, "case_id": "c1", "prompt": "kept", "verdict": "good",
                          "created_utc": "2026-01-01"})
    db.close()
    store = Store(path)
    assert migrations.pending(store.db) == []
    assert store.prompt_names() == ["kept"]
    # m002 added the judged output to reviews; an old review keeps applying to any output.
    assert store.reviews(1)["c1"].output is None and store.reviews(1)["c1"].verdict == "good"
    # Every table ends with exactly the columns of a database created new (m003 added finish_reason and
    # tool_calls_json to results; m004 provenance_json to versions and the searches table).
    fresh = Store(tmp_path / "new.db")
    assert set(store.db.table_names()) == set(fresh.db.table_names()) == EXPECTED_TABLES
    for table in fresh.db.table_names():
        assert store.db[table].columns_dict == fresh.db[table].columns_dict, table
    # m006's read-only views exist on a migrated database too, with the same columns, and read its rows.
    assert set(store.db.view_names()) == set(fresh.db.view_names()) == EXPECTED_VIEWS
    for view in fresh.db.view_names():
        assert store.db[view].columns_dict == fresh.db[view].columns_dict, view
    assert [(row["prompt"], row["version"], row["runs"]) for row in store.db["versions_view"].rows] == [("kept", 1, 0)]
    assert {"finish_reason", "tool_calls_json"} <= set(store.db["results"].columns_dict)
    assert "provenance_json" in store.db["versions"].columns_dict
    # A version made before searches existed is hand-made.
    old = store.version("kept", 1)
    assert old.provenance is None and not old.search_candidate


def test_a_search_candidate_keeps_its_provenance_and_stays_off_the_hand_made_parent_chain() -> None:
    store = Store.memory()
    v1 = store.save_version(FakePrompt("p", "h1", "one"))
    v2 = store.save_version(FakePrompt("p", "h2", "two"))
    candidate = store.save_version(FakePrompt("p", "h3", "three"), provenance={
        "search": 1, "parent_id": v1.id, "parent": 1, "strategy": "fewshot", "settings": {"k": 2}})
    assert candidate.number == 3 and candidate.parent_id == v1.id and candidate.search_candidate
    assert candidate.provenance is not None and candidate.provenance["settings"] == {"k": 2}
    # The next hand-made version follows v2, not the candidate numbered after it.
    v4 = store.save_version(FakePrompt("p", "h4", "four"))
    assert v4.number == 4 and v4.parent_id == v2.id and v4.provenance is None
    adopted = store.mark_applied(candidate.id, search_id=1)
    assert not adopted.search_candidate and adopted.provenance is not None and adopted.provenance["applied_utc"]
    assert store.save_version(FakePrompt("p", "h5", "five")).parent_id == candidate.id
    search = store.start_search(version=v1, model="m", dataset="d.jsonl", seed=3, settings={"strategies": ["x"]})
    assert search.status == "running" and search.report is None and search.settings == {"strategies": ["x"]}
    store.save_search(search.id, {"calls": 4})
    assert store.search(search.id).report == {"calls": 4} and store.search(search.id).status == "running"
    store.save_search(search.id, {"calls": 5}, status="finished")
    done = store.searches("p")[0]
    assert done.status == "finished" and done.report == {"calls": 5} and done.finished_utc and done.seed == 3
    with pytest.raises(StoreError, match="no search 9"):
        store.search(9)


def test_a_search_left_running_by_a_process_that_ended_reads_interrupted(tmp_path: Path) -> None:
    path = tmp_path / ".workbench" / "workbench.db"
    store = Store(path)
    version = store.save_version(FakePrompt("p", "h1", "one"))
    first = store.start_search(version=version, model="m", dataset="d.jsonl", seed=0, settings={})
    second = store.start_search(version=version, model="m", dataset="d.jsonl", seed=0, settings={})
    assert Store(path).search(first.id).status == "running"  # its lock is held (by this process)
    store.save_search(second.id, {}, status="finished")
    store.close()  # the process that held the first search's lock is gone
    assert [s.status for s in Store(path).searches("p")] == ["interrupted", "finished"]


def test_versions_are_numbered_in_order_with_parents_and_identical_content_is_a_no_op() -> None:
    store = Store.memory()
    v1 = store.save_version(FakePrompt("p", "h1", "one"))
    v2 = store.save_version(FakePrompt("p", "h2", "two"))
    again = store.save_version(FakePrompt("p", "h1", "one"))
    other = store.save_version(FakePrompt("q", "h1", "one"))
    assert (v1.number, v2.number, other.number) == (1, 2, 1)
    assert v2.parent_id == v1.id and v1.parent_id is None
    assert again == v1
    assert [v.text for v in store.versions("p")] == ["one", "two"]
    assert store.version("p", 2).label == "p@v2"
    with pytest.raises(StoreError, match="no version v9 of prompt 'p'"):
        store.version("p", 9)


def test_results_are_written_per_case_and_an_unfinished_run_resumes() -> None:
    store = Store.memory()
    run, resumed = open_run(store)
    assert not resumed
    store.record_result(run.id, CASES[0], messages=[{"role": "user", "content": "a"}],
                        completion=Completion("A", 3, 1, 0.001, 12.0), scores=[Score("exact_match", 1.0, True)],
                        passed=True, score=1.0)
    store.record_result(run.id, CASES[1], messages=None, completion=None, scores=[], passed=False, score=0.0,
                        error="timed out", error_kind="timeout")
    again, resumed = open_run(store)
    assert resumed and again.id == run.id
    # The passing result is kept; the errored one is dropped so it is tried again.
    assert store.done_case_ids(run.id) == {"c1"}
    store.finish_run(run.id)
    fresh, resumed = open_run(store)
    assert not resumed and fresh.id != run.id
    rows = store.results(run.id)
    assert [(r.case_id, r.output, r.scores[0].scorer) for r in rows] == [("c1", "A", "exact_match")]


def test_recording_a_case_twice_replaces_it() -> None:
    store = Store.memory()
    run, _ = open_run(store)
    for output in ("first", "second"):
        store.record_result(run.id, CASES[0], messages=[], completion=Completion(output), scores=[],
                            passed=False, score=0.0)
    assert [r.output for r in store.results(run.id)] == ["second"]


def test_results_follow_test_set_order() -> None:
    store = Store.memory()
    run, _ = open_run(store)
    for case, passed in ((CASES[2], False), (CASES[0], True), (CASES[1], False)):
        store.record_result(run.id, case, messages=[], completion=Completion("x"), scores=[], passed=passed,
                            score=float(passed))
    assert [r.case_id for r in store.results(run.id)] == ["c1", "c2", "c3"]


def test_testset_snapshot_round_trips_cases() -> None:
    store = Store.memory()
    open_run(store)
    assert [(c.id, c.vars, c.expected) for c in store.testset_cases("hash1")] == [
        (c.id, c.vars, c.expected) for c in CASES]


def test_reviews_are_kept_per_version_and_case() -> None:
    store = Store.memory()
    run, _ = open_run(store)
    store.set_review(run.version_id, "c1", "bad", correction="A!", output="a")
    store.set_review(run.version_id, "c1", "good", output="A")
    reviews = store.reviews(run.version_id)
    assert [(r.case_id, r.verdict, r.correction) for r in reviews.values()] == [("c1", "good", None)]
    assert [r.case_id for r in store.prompt_reviews(run.prompt)] == ["c1"]
    with pytest.raises(StoreError):
        store.set_review(run.version_id, "c1", "maybe", output="A")


def test_the_cache_round_trips() -> None:
    store = Store.memory()
    assert store.get("k") is None
    store.put("k", model="m", kind="judge", response={"text": "hi", "input_tokens": 2})
    assert store.get("k") == {"text": "hi", "input_tokens": 2}


def test_unknown_run_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="no run 42"):
        Store.memory().run(42)


def test_a_corrupt_database_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(path)


def _write_many(path: str, worker: int, count: int) -> None:
    store = Store(path)
    version = store.save_version(FakePrompt("p", "shared", "same text"))
    cases = [Case(f"w{worker}-{i}", {"i": i}) for i in range(count)]
    store.save_testset("d", cases, f"set{worker}")
    run, _ = store.start_run(version=version, model="m", params={}, testset_hash=f"set{worker}", dataset="d",
                             split="dev", scorers=[], n_cases=count)
    for case in cases:
        store.record_result(run.id, case, messages=[], completion=Completion("x"), scores=[], passed=True,
                            score=1.0)
        store.put(f"{worker}-{case.id}", model="m", kind="run", response={"text": "x"})
    store.finish_run(run.id)


def test_two_processes_writing_at_once_both_succeed(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, n, 150)) for n in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [p.exitcode for p in workers] == [0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 300
    assert conn.execute("SELECT count(*) FROM versions").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM runs WHERE status = 'finished'").fetchone()[0] == 2


def test_the_read_only_views_count_as_the_workbench_does() -> None:
    from support.report_store import build_store
    from workbench.reports import summarize

    store, first, second = build_store(Store.memory())
    runs = {row["run_id"]: row for row in store.db["runs_view"].rows}
    assert set(runs) == {first.id, second.id}
    row = runs[first.id]
    summary = summarize(store, first)
    assert (row["prompt"], row["version"], row["model"], row["dataset"], row["split"], row["status"]) == (
        "p", 1, "echo", "datasets/d.jsonl", "dev", "finished")
    assert (row["completed"], row["passed"], row["failed"], row["errors"], row["cached"]) == (5, 3, 1, 1, 1)
    # The same figures as the run summary: reviews applied, money actually spent (cached answers are free).
    assert row["pass_rate"] == pytest.approx(summary.pass_rate) == pytest.approx(0.6)
    assert row["mean_score"] == pytest.approx(summary.mean_score)
    assert row["cost_usd"] == pytest.approx(summary.cost_usd) == pytest.approx(0.003)
    assert (row["input_tokens"], row["output_tokens"]) == (summary.input_tokens, summary.output_tokens) == (40, 8)
    assert row["mean_latency_ms"] == pytest.approx(250.0) and row["prompt_mode"] == "version"
    assert runs[second.id]["pass_rate"] == pytest.approx(0.8)
    results = {row["case_id"]: row for row in store.db["results_view"].rows_where("run_id = ?", [first.id])}
    assert [results[c]["verdict"] for c in ("c1", "c2", "c3", "c4", "c5")] == ["pass", "fail", "error", "pass", "pass"]
    # c4: the scorer failed it, a human review of that output passed it.
    assert (results["c4"]["passed"], results["c4"]["scorer_passed"], results["c4"]["human_review"]) == (1, 0, "good")
    assert results["c3"]["error_kind"] == "timeout" and results["c3"]["passed"] == 0
    assert results["c3"]["expected_json"] == '{"label":"C"}' and results["c2"]["case_split"] == "dev"
    # A review of another output of the version does not judge this one.
    store.set_review(second.version_id, "c1", "good", output="another answer")
    (c1,) = store.db["results_view"].rows_where("run_id = ? AND case_id = 'c1'", [second.id])
    assert (c1["verdict"], c1["human_review"]) == ("fail", None)
    versions = list(store.db["versions_view"].rows)
    assert [(v["version"], v["parent_version"], v["runs"], v["from_search"]) for v in versions] == [
        (1, None, 1, 0), (2, 1, 1, 0)]
    with pytest.raises(sqlite3.OperationalError, match="cannot modify runs_view because it is a view"):
        store.db.execute("DELETE FROM runs_view")
