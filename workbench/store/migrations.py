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


# The read-only views of m006: stable names for tools that read the database (sqlite-utils, Datasette,
# notebooks), documented in the README. JSON columns stay JSON text. A verdict is counted as the workbench
# counts it (``reviews.reviewed``): an errored case fails; else a human review of this very output (or an
# old review that kept no output) decides; else the scorers' verdict.
RESULTS_VIEW = """
SELECT res.id AS result_id, res.run_id, r.prompt, v.number AS version, r.version_id, r.model, r.dataset,
       r.split, res.case_id, res.case_key, c.split AS case_split, c.held_out, c.vars_json, c.expected_json,
       res.messages_json, res.output,
       CASE WHEN res.error IS NOT NULL THEN 'error'
            WHEN rv.verdict IS NOT NULL THEN CASE WHEN rv.verdict = 'good' THEN 'pass' ELSE 'fail' END
            WHEN res.passed THEN 'pass' ELSE 'fail' END AS verdict,
       CASE WHEN res.error IS NOT NULL THEN 0
            WHEN rv.verdict IS NOT NULL THEN rv.verdict = 'good' ELSE res.passed END AS passed,
       CASE WHEN res.error IS NOT NULL THEN 0.0
            WHEN rv.verdict IS NOT NULL THEN CASE WHEN rv.verdict = 'good' THEN 1.0 ELSE 0.0 END
            ELSE res.score END AS score,
       res.passed AS scorer_passed, res.score AS scorer_score, rv.verdict AS human_review, rv.correction,
       res.error, res.error_kind, res.finish_reason, res.latency_ms, res.input_tokens, res.output_tokens,
       res.cost_usd, res.cached, res.tool_calls_json, res.created_utc
FROM results res
JOIN runs r ON r.id = res.run_id
JOIN versions v ON v.id = r.version_id
LEFT JOIN cases c ON c.key = res.case_key
LEFT JOIN reviews rv ON rv.version_id = r.version_id AND rv.case_id = res.case_id
     AND res.error IS NULL AND (rv.output IS NULL OR rv.output = res.output)
"""

RUNS_VIEW = """
SELECT r.id AS run_id, r.prompt, v.number AS version, r.version_id, r.model, r.dataset, r.split, r.status,
       coalesce(r.prompt_mode, 'version') AS prompt_mode, r.n_cases,
       count(x.result_id) AS completed, coalesce(sum(x.passed), 0) AS passed,
       coalesce(sum(x.verdict = 'fail'), 0) AS failed, coalesce(sum(x.verdict = 'error'), 0) AS errors,
       CASE WHEN count(x.result_id) > 0 THEN 1.0 * sum(x.passed) / count(x.result_id) END AS pass_rate,
       avg(x.score) AS mean_score,
       coalesce(sum(x.input_tokens), 0) AS input_tokens, coalesce(sum(x.output_tokens), 0) AS output_tokens,
       CASE WHEN count(x.result_id) > 0 AND sum(x.cached = 0) = 0 THEN 0.0
            ELSE sum(CASE WHEN x.cached = 0 THEN x.cost_usd END) END AS cost_usd,
       coalesce(sum(x.cached), 0) AS cached,
       avg(CASE WHEN x.cached = 0 THEN x.latency_ms END) AS mean_latency_ms,
       r.params_json, r.scorers_json, r.testset_hash, r.started_utc, r.finished_utc
FROM runs r
JOIN versions v ON v.id = r.version_id
LEFT JOIN results_view x ON x.run_id = r.id
GROUP BY r.id
"""

VERSIONS_VIEW = """
SELECT v.id AS version_id, v.prompt, v.number AS version, v.hash, parent.number AS parent_version, v.note,
       v.created_utc, v.provenance_json IS NOT NULL AS from_search,
       v.provenance_json IS NOT NULL AND json_extract(v.provenance_json, '$.applied_utc') IS NULL
           AS search_candidate,
       (SELECT count(*) FROM runs r WHERE r.version_id = v.id) AS runs,
       (SELECT max(r.id) FROM runs r WHERE r.version_id = v.id) AS latest_run_id,
       p.path AS prompt_path, v.text, v.provenance_json
FROM versions v
LEFT JOIN versions parent ON parent.id = v.parent_id
LEFT JOIN prompts p ON p.name = v.prompt
"""


@migrations()
def m006_views(db: Database) -> None:
    """Read-only views with stable, documented column names (README, "Sharing the store"): ``runs_view``
    (one row per run: prompt, version number, model, split, status, pass rate, score, tokens, cost spent,
    mean latency), ``results_view`` (one row per result: the case, the output, the verdict as counted with
    human reviews applied and the scorers' own, latency, tokens, cost) and ``versions_view`` (one row per
    version: number, parent, origin, runs, text). A later migration that rebuilds a table these read
    (``Table.transform``) drops and recreates them around it."""
    db.create_view("results_view", RESULTS_VIEW)
    db.create_view("runs_view", RUNS_VIEW)
    db.create_view("versions_view", VERSIONS_VIEW)


@migrations()
def m007_batches(db: Database) -> None:
    """Provider batch runs (``workbench run --batch``): one row per batch submitted to a provider's batch API,
    with the run it answers, the model and endpoint (``api_base``; never a key), the provider's status, file
    ids and request counts, the case ids it carries, the price estimated when it was submitted, and when its
    results were collected (NULL: still pending)."""
    db.table("batches").create(
        {"id": int, "provider_batch_id": str, "run_id": int, "model": str, "api_base": str, "status": str,
         "input_file_id": str, "output_file_id": str, "error_file_id": str, "case_ids_json": str,
         "request_counts_json": str, "estimate_usd": float, "created_utc": str, "updated_utc": str,
         "collected_utc": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("batches").create_index(["run_id"])
    db.table("batches").create_index(["provider_batch_id"])


@migrations()
def m008_result_deployment(db: Database) -> None:
    """A result keeps which deployment of a routed alias answered it (``[[models.NAME.deployments]]``: its
    label), so a run's summary shows how its calls spread; NULL for other models and cached answers."""
    db.table("results").add_column("deployment", str)


SPENT_UNTIL_M009 = """CASE WHEN count(x.result_id) > 0 AND sum(x.cached = 0) = 0 THEN 0.0
            ELSE sum(CASE WHEN x.cached = 0 THEN x.cost_usd END) END AS cost_usd"""
# ``costs.money_spent``: the price of the answers not taken from the cache, unknown (NULL) when no answer of
# the run has a price; m006's view read a run of an unpriced model answered from the cache as $0.
SPENT = """CASE WHEN count(x.cost_usd) > 0 THEN coalesce(sum(CASE WHEN x.cached = 0 THEN x.cost_usd END), 0.0)
            END AS cost_usd"""
assert SPENT_UNTIL_M009 in RUNS_VIEW
RUNS_VIEW_M009 = RUNS_VIEW.replace(SPENT_UNTIL_M009, SPENT)


@migrations()
def m009_runs_view_unknown_cost(db: Database) -> None:
    """``runs_view.cost_usd`` as every report counts a run's spend (``costs.money_spent``): NULL, not 0, for a
    run no answer of which has a known price, even when every answer came from the cache. Same columns."""
    db.execute("DROP VIEW IF EXISTS runs_view")
    db.create_view("runs_view", RUNS_VIEW_M009)
