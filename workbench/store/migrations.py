"""Provides the store's schema as append-only migrations (sqlite-utils ``Migrations``).

Never edit or rename a migration that has shipped: add a new one. The function name is its identity.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("workbench")


@migrations()
def m001_initial(db: Database) -> None:
    """Prompts, versions, test sets, cases, runs, results, scores, reviews and the response cache."""
    db.table("prompts").create({"name": str, "path": str, "created_utc": str}, pk="name")
    db.table("versions").create(
        {"id": int, "prompt": str, "number": int, "hash": str, "text": str, "parent_id": int,
         "note": str, "created_utc": str},
        pk="id", foreign_keys=[("prompt", "prompts", "name")],
    )
    db.table("versions").create_index(["prompt", "hash"], unique=True)
    db.table("versions").create_index(["prompt", "number"], unique=True)
    db.table("cases").create(
        {"key": str, "case_id": str, "vars_json": str, "expected_json": str, "split": str,
         "held_out": int},
        pk="key",
    )
    db.table("testsets").create({"hash": str, "path": str, "n_cases": int, "created_utc": str}, pk="hash")
    db.table("testset_cases").create(
        {"testset_hash": str, "case_key": str, "position": int},
        pk=("testset_hash", "case_key"),
        foreign_keys=[("testset_hash", "testsets", "hash"), ("case_key", "cases", "key")],
    )
    db.table("runs").create(
        {"id": int, "prompt": str, "version_id": int, "model": str, "params_json": str,
         "testset_hash": str, "dataset": str, "split": str, "scorers_json": str, "run_key": str,
         "status": str, "n_cases": int, "started_utc": str, "finished_utc": str},
        pk="id",
        foreign_keys=[("version_id", "versions", "id"), ("testset_hash", "testsets", "hash")],
    )
    db.table("runs").create_index(["prompt"])
    db.table("runs").create_index(["run_key"])
    db.table("results").create(
        {"id": int, "run_id": int, "case_id": str, "case_key": str, "messages_json": str,
         "output": str, "passed": int, "score": float, "error": str, "error_kind": str,
         "latency_ms": float, "input_tokens": int, "output_tokens": int, "cost_usd": float,
         "cached": int, "created_utc": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("results").create_index(["run_id", "case_id"], unique=True)
    db.table("scores").create(
        {"result_id": int, "scorer": str, "value": float, "passed": int, "weight": float,
         "reason": str, "detail_json": str},
        pk=("result_id", "scorer"), foreign_keys=[("result_id", "results", "id")],
    )
    db.table("reviews").create(
        {"version_id": int, "case_id": str, "prompt": str, "verdict": str, "correction": str,
         "note": str, "created_utc": str},
        pk=("version_id", "case_id"), foreign_keys=[("version_id", "versions", "id")],
    )
    db.table("cache").create(
        {"key": str, "model": str, "kind": str, "response_json": str, "created_utc": str}, pk="key"
    )


@migrations()
def m002_review_output(db: Database) -> None:
    """Reviews keep the output they judged: a verdict applies to that output, not to another model's."""
    db.table("reviews").add_column("output", str)


@migrations()
def m003_answer_shape(db: Database) -> None:
    """Results keep why the model stopped and the tool calls it made: an answer that is not plain text
    is recorded as what it is."""
    db.table("results").add_column("finish_reason", str)
    db.table("results").add_column("tool_calls_json", str)


@migrations()
def m004_search(db: Database) -> None:
    """Prompt search: a version keeps where a search made it (``provenance_json``: the search, the parent
    version, the strategy and its settings; NULL for a hand-made version), and each search keeps its
    settings, its status and its report."""
    db.table("versions").add_column("provenance_json", str)
    db.table("searches").create(
        {"id": int, "prompt": str, "version_id": int, "model": str, "dataset": str, "seed": int,
         "settings_json": str, "status": str, "started_utc": str, "finished_utc": str, "report_json": str},
        pk="id", foreign_keys=[("version_id", "versions", "id")],
    )
    db.table("searches").create_index(["prompt"])


@migrations()
def m005_run_prompt_mode(db: Database) -> None:
    """A run keeps the training-prompt mode its cases were rendered in (``workbench.train_prompt``: NULL is
    ``version``, the prompt as written) and the instruction of ``short``: a tuned model is measured on the
    prompt it learnt, and a run that was not can be told apart."""
    db.table("runs").add_column("prompt_mode", str)
    db.table("runs").add_column("instruction", str)
