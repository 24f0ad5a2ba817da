"""Provides ``Store``: the project's SQLite database (versions, runs, results, reviews, cache).

One file per project, WAL mode and a busy timeout so the TUI and the CLI can write at once. A
``Store`` belongs to the thread that opened it: a thread worker opens its own.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import StoreError
from workbench.names import nfc
from workbench.records import Case, Completion, Score, canonical_json, sha256_hex
from workbench.store.locks import RunLock, RunLocks
from workbench.store.rows import Batch, Result, Review, Run, ScoreRow, Search, Version

NO_OUTPUT = "it ended in an error: there is no output to review"
"""Why a case that ended in an error cannot be reviewed (``Store.set_review``, the CLI and the TUI)."""

if TYPE_CHECKING:
    from workbench.prompts import Prompt


def _import_sqlite_utils() -> Any:
    """sqlite-utils' module, imported without pandas and numpy (about a second, pyarrow included).

    sqlite-utils imports them when installed (``datasets`` brings them) only to map their value types to
    column types; the store creates its columns with explicit types and writes plain Python values, so
    every command would pay the import for nothing. They stay importable for whoever needs them later.
    """
    if "sqlite_utils" in sys.modules:
        return sys.modules["sqlite_utils"]
    blocked = [name for name in ("pandas", "numpy") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # None in sys.modules: "import fails", by design
    try:
        import sqlite_utils
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return sqlite_utils


if TYPE_CHECKING:
    from sqlite_utils import Database
else:
    Database = _import_sqlite_utils().Database

BUSY_TIMEOUT_MS = 30_000
INTERRUPTED = "interrupted"
"""The status shown for a run left ``running`` by a process that died (resumable)."""


def _search_key(search_id: int) -> str:
    """The lock key of a prompt search (run keys are sha256 hex: this one cannot collide with them)."""
    return f"search-{search_id:025d}"


def utc_now() -> str:
    """The current UTC time as ISO text (the store's timestamp format)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """The project database."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is None:
            self.db = Database(memory=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.db = Database(self.path)
                self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.DatabaseError as error:
                raise StoreError(f"cannot open the database: {error}", path=self.path) from None
        self.db.execute("PRAGMA foreign_keys = ON")
        self._migrate()
        self._locks = RunLocks(self.path.parent / "locks" if self.path is not None else None)
        self._held: dict[int, RunLock] = {}
        self._searching: dict[int, RunLock] = {}

    def _wal(self) -> None:
        """Switch to WAL. Two processes opening a new database at once (a run and the TUI) can find it
        locked here: SQLite does not always call the busy handler for this switch, so it is retried for
        up to the busy timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def memory(cls) -> Store:
        """An in-memory store (tests)."""
        return cls(None)

    def close(self) -> None:
        """Close the connection (a run still open stays resumable: its lock is released)."""
        for lock in [*self._held.values(), *self._searching.values()]:
            lock.release()
        self._held.clear()
        self._searching.clear()
        self.db.close()

    def _migrate(self) -> None:
        # Imported here, after this module imported sqlite-utils its own way (_import_sqlite_utils).
        from workbench.store.migrations import migrations

        if not migrations.pending(self.db):
            return
        if self.path is None:
            migrations.apply(self.db)
            return
        # Two processes opening a new database at once must not both apply the same migration.
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            migrations.apply(self.db)

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction that takes the lock up front (no upgrade deadlock between processes)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # Versions ------------------------------------------------------------------------------------

    def save_version(self, prompt: Prompt, note: str | None = None,
                     provenance: dict[str, Any] | None = None) -> Version:
        """Record ``prompt``'s content as a version; identical content returns the existing one.

        ``provenance`` marks a version made by a prompt search (its ``parent_id`` is the version it was
        derived from). A hand-made version's parent is the version that joined the hand-made track last (saved
        by hand, or adopted from a search), so unadopted candidates never come between two hand-made versions.
        """
        name = nfc(prompt.name)  # a name is stored in one Unicode form, whatever the file system wrote
        existing = self.version_by_hash(name, prompt.hash)
        if existing is not None:
            return existing
        with self._write():
            row = self._one("SELECT * FROM versions WHERE prompt = ? AND hash = ?", [name, prompt.hash])
            if row is None:
                if not self._one("SELECT name FROM prompts WHERE name = ?", [name]):
                    self.db.table("prompts").insert(
                        {"name": name, "path": str(prompt.path), "created_utc": utc_now()})
                last = self._one("SELECT number FROM versions WHERE prompt = ? ORDER BY number DESC LIMIT 1",
                                 [name])
                if provenance is not None:
                    parent_id = provenance.get("parent_id")
                else:
                    # The version that joined the track last: hand-made when saved, a candidate when adopted.
                    track = [version for version in self.versions(name) if not version.search_candidate]
                    # Ids give the order versions were saved; an adopted candidate joined right after the
                    # version that was newest when it was adopted.
                    parent = max(track, key=lambda version: (
                        (version.provenance or {}).get("applied_after_id", version.id) + (
                            0.5 if version.provenance else 0.0)), default=None)
                    parent_id = parent.id if parent else None
                self.db.table("versions").insert({
                    "prompt": name, "number": (last["number"] + 1) if last else 1,
                    "hash": prompt.hash, "text": prompt.text, "parent_id": parent_id,
                    "note": note, "created_utc": utc_now(),
                    "provenance_json": canonical_json(provenance) if provenance is not None else None,
                })
        found = self.version_by_hash(name, prompt.hash)
        assert found is not None
        return found

    def mark_applied(self, version_id: int, search_id: int) -> Version:
        """Record that a search candidate was adopted (written to the prompt file by ``optimize --apply``):
        from now on it is a version of the hand-made track like any other."""
        version = self.version_by_id(version_id)
        if version.provenance is None:
            return version
        newest = self._one("SELECT max(id) AS id FROM versions WHERE prompt = ?", [version.prompt])
        # Its place in the order versions joined the track: after every version saved so far (timestamps
        # of one millisecond cannot order two events).
        provenance = {**version.provenance, "applied_utc": utc_now(), "applied_by_search": search_id,
                      "applied_after_id": newest["id"] if newest else version.id}
        with self._write():
            self.db.execute("UPDATE versions SET provenance_json = ? WHERE id = ?",
                            [canonical_json(provenance), version_id])
        return self.version_by_id(version_id)

    def version_by_hash(self, prompt: str, hash_: str) -> Version | None:
        """The version of ``prompt`` with content hash ``hash_``, if stored."""
        row = self._one("SELECT * FROM versions WHERE prompt = ? AND hash = ?", [nfc(prompt), hash_])
        return Version.from_row(row) if row else None

    def version(self, prompt: str, number: int) -> Version:
        """Version ``number`` of ``prompt``."""
        prompt = nfc(prompt)
        row = self._one("SELECT * FROM versions WHERE prompt = ? AND number = ?", [prompt, number])
        if row is None:
            known = self.versions(prompt)
            hint = f"known: v1..v{known[-1].number}" if known else "no version of it is stored yet: run it first"
            raise StoreError(f"no version v{number} of prompt {prompt!r}", hint=hint)
        return Version.from_row(row)

    def version_by_id(self, version_id: int) -> Version:
        """The version with database id ``version_id``."""
        row = self._one("SELECT * FROM versions WHERE id = ?", [version_id])
        if row is None:
            raise StoreError(f"no version with id {version_id}")
        return Version.from_row(row)

    def versions(self, prompt: str) -> list[Version]:
        """Every stored version of ``prompt``, oldest first."""
        return [Version.from_row(row) for row in self.db.query(
            "SELECT * FROM versions WHERE prompt = ? ORDER BY number", [nfc(prompt)])]

    def prompt_names(self) -> list[str]:
        """The names of every prompt with a stored version."""
        return [row["name"] for row in self.db.query("SELECT name FROM prompts ORDER BY name")]

    # Test sets -------------------------------------------------------------------------------------

    def save_testset(self, path: str, cases: list[Case], testset_hash: str) -> None:
        """Record a test set snapshot (its cases and their order) under ``testset_hash``."""
        if self._one("SELECT hash FROM testsets WHERE hash = ?", [testset_hash]):
            return
        with self._write():
            if self._one("SELECT hash FROM testsets WHERE hash = ?", [testset_hash]):
                return
            self.db.table("cases").insert_all(
                ({"key": case.fingerprint(), "case_id": case.id, "vars_json": canonical_json(case.vars),
                  "expected_json": canonical_json(case.expected), "split": case.split,
                  "held_out": int(case.held_out)} for case in cases),
                ignore=True,
            )
            self.db.table("testsets").insert({"hash": testset_hash, "path": nfc(path), "n_cases": len(cases),
                                        "created_utc": utc_now()})
            self.db.table("testset_cases").insert_all(
                {"testset_hash": testset_hash, "case_key": case.fingerprint(), "position": index}
                for index, case in enumerate(cases)
            )

    def testset_cases(self, testset_hash: str) -> list[Case]:
        """The cases of a stored test set, in file order."""
        return [
            Case(id=row["case_id"], vars=json.loads(row["vars_json"]), expected=json.loads(row["expected_json"]),
                 split=row["split"], held_out=bool(row["held_out"]))
            for row in self.db.query(
                "SELECT c.* FROM testset_cases t JOIN cases c ON c.key = t.case_key "
                "WHERE t.testset_hash = ? ORDER BY t.position", [testset_hash])
        ]

    def result_cases(self, run_id: int) -> dict[str, Case]:
        """The stored case each result of ``run_id`` was measured on (inputs, expected answer, split,
        held-out flag as they were then), by case id."""
        return {
            row["case_id"]: Case(id=row["case_id"], vars=json.loads(row["vars_json"]),
                                 expected=json.loads(row["expected_json"]), split=row["split"],
                                 held_out=bool(row["held_out"]))
            for row in self.db.query(
                "SELECT r.case_id, c.vars_json, c.expected_json, c.split, c.held_out FROM results r "
                "JOIN cases c ON c.key = r.case_key WHERE r.run_id = ?", [run_id])
        }

    # Runs -----------------------------------------------------------------------------------------

    def start_run(self, *, version: Version, model: str, params: dict[str, Any], testset_hash: str,
                  dataset: str, split: str, scorers: list[Any], n_cases: int, prompt_mode: str = "version",
                  instruction: str | None = None) -> tuple[Run, bool]:
        """Open a run, or resume the unfinished run with the same settings. Returns (run, resumed).

        ``prompt_mode`` and ``instruction`` say how the cases were rendered (``workbench.train_prompt``);
        a run in another mode is another run.

        Holds the run's lock until ``finish_run``: a second process (or a second run in this one) with
        the same settings is refused with ``RunBusy`` naming the process, never runs the same cases again.
        """
        identity: list[Any] = [version.id, model, params, testset_hash, split, scorers]
        if prompt_mode != "version":  # the runs of earlier releases keep their keys
            identity += [prompt_mode, instruction]
        run_key = sha256_hex(canonical_json(identity))
        lock = self._locks.acquire(run_key)
        try:
            run, resumed = self._open_run(run_key, version=version, model=model, params=params,
                                          testset_hash=testset_hash, dataset=dataset, split=split,
                                          scorers=scorers, n_cases=n_cases,
                                          mode={"prompt_mode": None if prompt_mode == "version" else prompt_mode,
                                                "instruction": instruction})
        except BaseException:
            lock.release()
            raise
        self._held[run.id] = lock
        return run, resumed

    def _open_run(self, run_key: str, *, version: Version, model: str, params: dict[str, Any],
                  testset_hash: str, dataset: str, split: str, scorers: list[Any], n_cases: int,
                  mode: dict[str, str | None]) -> tuple[Run, bool]:
        with self._write():
            row = self._one("SELECT id FROM runs WHERE run_key = ? AND status != 'finished' "
                            "ORDER BY id DESC LIMIT 1", [run_key])
            if row is not None:
                # A run waiting on a provider batch is not run again beside it: the batch's cases would be
                # paid twice.
                waiting = self._one("SELECT id, status FROM batches WHERE run_id = ? AND collected_utc IS NULL "
                                    "ORDER BY id DESC LIMIT 1", [row["id"]])
                if waiting is not None:
                    raise StoreError(f"run {row['id']} is waiting for provider batch {waiting['id']} "
                                     f"({waiting['status']})",
                                     hint=f"collect it with 'workbench batch collect {waiting['id']}' or cancel it "
                                          f"with 'workbench batch cancel {waiting['id']}'")
                self.db.execute("UPDATE runs SET status = 'running' WHERE id = ?", [row["id"]])
                run_id, resumed = row["id"], True
            else:
                run_id = self.db.table("runs").insert({
                    "prompt": version.prompt, "version_id": version.id, "model": model,
                    "params_json": canonical_json(params), "testset_hash": testset_hash, "dataset": nfc(dataset),
                    "split": split, "scorers_json": canonical_json(scorers), "run_key": run_key,
                    "status": "running", "n_cases": n_cases, "started_utc": utc_now(), **mode,
                }).last_pk
                resumed = False
            # Errored results are tried again on resume; passing and failing ones are kept.
            if resumed:
                self.db.execute("DELETE FROM scores WHERE result_id IN "
                                "(SELECT id FROM results WHERE run_id = ? AND error IS NOT NULL)", [run_id])
                self.db.execute("DELETE FROM results WHERE run_id = ? AND error IS NOT NULL", [run_id])
        return self.run(run_id), resumed

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        """Mark a run finished (or ``cancelled``/``failed``: it can then be resumed) and release its lock."""
        try:
            self.db.execute("UPDATE runs SET status = ?, finished_utc = ? WHERE id = ?",
                            [status, utc_now(), run_id])
            self.db.conn.commit()
        finally:
            lock = self._held.pop(run_id, None)
            if lock is not None:
                lock.release()

    def run(self, run_id: int) -> Run:
        """The run with id ``run_id``."""
        row = self._one("SELECT * FROM runs WHERE id = ?", [run_id])
        if row is None:
            raise StoreError(f"no run {run_id}", hint="'workbench history PROMPT' lists the runs")
        return self._run_from_row(row)

    def _run_from_row(self, row: dict[str, Any]) -> Run:
        run = Run.from_row(row)
        # A run marked running whose lock nobody holds was left by a process that died: it is
        # interrupted (and resumable), never shown as in progress.
        if run.status == "running" and run.id not in self._held and not self._locks.is_held(row["run_key"]):
            return replace(run, status=INTERRUPTED)
        return run

    def runs(self, prompt: str | None = None, version_id: int | None = None) -> list[Run]:
        """Runs, oldest first, optionally of one prompt or one version."""
        where: list[str] = []
        args: list[str | int] = []
        if prompt is not None:
            where.append("prompt = ?")
            args.append(nfc(prompt))
        if version_id is not None:
            where.append("version_id = ?")
            args.append(version_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return [self._run_from_row(row) for row in self.db.query(f"SELECT * FROM runs {clause} ORDER BY id", args)]

    def forget_results(self, run_id: int, case_ids: set[str]) -> None:
        """Delete these cases' results (and scores) from a run, so that they are run again."""
        if not case_ids:
            return
        marks = ", ".join("?" for _ in case_ids)
        with self._write():
            self.db.execute(f"DELETE FROM scores WHERE result_id IN (SELECT id FROM results WHERE run_id = ? "
                            f"AND case_id IN ({marks}))", [run_id, *case_ids])
            self.db.execute(f"DELETE FROM results WHERE run_id = ? AND case_id IN ({marks})", [run_id, *case_ids])

    def done_case_ids(self, run_id: int) -> set[str]:
        """Ids of the cases that already have a result in ``run_id``."""
        return {row["case_id"] for row in self.db.query("SELECT case_id FROM results WHERE run_id = ?", [run_id])}

    def error_share(self, run_id: int) -> float:
        """The share of ``run_id``'s results that ended in an error (0.0 with no result yet)."""
        row = next(iter(self.db.query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(error IS NOT NULL), 0) AS errors FROM results WHERE run_id = ?",
            [run_id])))
        return row["errors"] / row["n"] if row["n"] else 0.0

    def end_status(self, run_id: int, n_cases: int) -> str:
        """How ``run_id`` ends when it stops now: ``finished`` when each of its ``n_cases`` cases has a result,
        else ``partial`` (a later run resumes it)."""
        return "finished" if len(self.done_case_ids(run_id)) >= n_cases else "partial"

    def record_result(self, run_id: int, case: Case, *, messages: list[dict[str, Any]] | None,
                      completion: Completion | None, scores: Iterable[Score], passed: bool, score: float,
                      error: str | None = None, error_kind: str | None = None) -> int:
        """Write one case's result and its scores in one transaction; returns the result id."""
        with self._write():
            return self._insert_result(run_id, case, messages=messages, completion=completion, scores=scores,
                                       passed=passed, score=score, error=error, error_kind=error_kind)

    def record_results(self, run_id: int, results: Iterable[dict[str, Any]]) -> list[int]:
        """Write several cases' results in one transaction (a cached re-run writes a thousand at once);
        each item holds ``record_result``'s keyword arguments, ``case`` included. Returns the result ids."""
        with self._write():
            return [self._insert_result(run_id, **item) for item in results]

    def _insert_result(self, run_id: int, case: Case, *, messages: list[dict[str, Any]] | None,
                       completion: Completion | None, scores: Iterable[Score], passed: bool, score: float,
                       error: str | None = None, error_kind: str | None = None) -> int:
        # Plain SQL: sqlite-utils' insert quotes and inspects every column of every row, which cost more
        # than the rest of a cached case's work.
        conn = self.db.conn
        conn.execute("DELETE FROM scores WHERE result_id IN "
                     "(SELECT id FROM results WHERE run_id = ? AND case_id = ?)", [run_id, case.id])
        conn.execute("DELETE FROM results WHERE run_id = ? AND case_id = ?", [run_id, case.id])
        cursor = conn.execute(
            "INSERT INTO results (run_id, case_id, case_key, messages_json, output, passed, score, error, "
            "error_kind, latency_ms, input_tokens, output_tokens, cost_usd, cached, created_utc, finish_reason, "
            "tool_calls_json, deployment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, case.id, case.fingerprint(), canonical_json(messages) if messages is not None else None,
             completion.text if completion else None, int(passed), score, error, error_kind,
             completion.latency_ms if completion else None, completion.input_tokens if completion else None,
             completion.output_tokens if completion else None, completion.cost_usd if completion else None,
             int(completion.cached) if completion else 0, utc_now(),
             completion.finish_reason if completion else None,
             canonical_json(completion.tool_calls) if completion and completion.tool_calls else None,
             completion.deployment if completion else None])
        result_id = cursor.lastrowid
        assert result_id is not None  # an insert into a rowid table always sets it
        conn.executemany(
            "INSERT INTO scores (result_id, scorer, value, passed, weight, reason, detail_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(result_id, s.scorer, s.value, int(s.passed), s.weight, s.reason,
              canonical_json(s.detail) if s.detail is not None else None) for s in scores])
        return int(result_id)

    def results(self, run_id: int, *, scores: bool = True) -> list[Result]:
        """The per-case results of a run, in test-set order, each with its scores (none read when
        ``scores`` is False: a summary does not need them). Its failing ones are
        ``reviews.failing_results``': the scorers' verdict with human reviews applied."""
        sql = ("SELECT r.* FROM results r JOIN runs u ON u.id = r.run_id "
               "LEFT JOIN testset_cases t ON t.testset_hash = u.testset_hash AND t.case_key = r.case_key "
               "WHERE r.run_id = ? ORDER BY t.position, r.id")
        by_result: dict[int, list[ScoreRow]] = {}
        if scores:
            for row in self.db.query("SELECT s.* FROM scores s JOIN results r ON r.id = s.result_id "
                                     "WHERE r.run_id = ?", [run_id]):
                by_result.setdefault(row["result_id"], []).append(ScoreRow.from_row(row))
        return [Result.from_row(row, tuple(by_result.get(row["id"], ())))
                for row in self.db.query(sql, [run_id])]

    def result(self, run_id: int, case_id: str) -> Result | None:
        """One case's result in a run, with its scores, or None."""
        row = self._one("SELECT * FROM results WHERE run_id = ? AND case_id = ?", [run_id, case_id])
        if row is None:
            return None
        scores = tuple(ScoreRow.from_row(score) for score in
                       self.db.query("SELECT * FROM scores WHERE result_id = ?", [row["id"]]))
        return Result.from_row(row, scores)

    # Prompt searches -----------------------------------------------------------------------------

    def start_search(self, *, version: Version, model: str, dataset: str, seed: int,
                     settings: dict[str, Any]) -> Search:
        """Open a prompt search of ``version``'s prompt, starting from ``version``; it holds a lock until
        ``save_search`` ends it, so a search whose process died reads ``interrupted``."""
        with self._write():
            search_id = self.db.table("searches").insert({
                "prompt": version.prompt, "version_id": version.id, "model": model, "dataset": nfc(dataset),
                "seed": seed, "settings_json": canonical_json(settings), "status": "running",
                "started_utc": utc_now(), "finished_utc": None, "report_json": None,
            }).last_pk
        assert search_id is not None
        self._searching[int(search_id)] = self._locks.acquire(_search_key(int(search_id)))
        return self.search(int(search_id))

    def save_search(self, search_id: int, report: dict[str, Any], status: str | None = None) -> None:
        """Keep a search's report as far as it got, and end it with ``status`` when given."""
        with self._write():
            if status is None:
                self.db.execute("UPDATE searches SET report_json = ? WHERE id = ?",
                                [canonical_json(report), search_id])
            else:
                self.db.execute("UPDATE searches SET report_json = ?, status = ?, finished_utc = ? WHERE id = ?",
                                [canonical_json(report), status, utc_now(), search_id])
        if status is not None:
            lock = self._searching.pop(search_id, None)
            if lock is not None:
                lock.release()

    def search(self, search_id: int) -> Search:
        """The search with id ``search_id``."""
        row = self._one("SELECT * FROM searches WHERE id = ?", [search_id])
        if row is None:
            raise StoreError(f"no search {search_id}")
        return self._search_from_row(row)

    def searches(self, prompt: str) -> list[Search]:
        """The searches of ``prompt``, oldest first."""
        return [self._search_from_row(row) for row in self.db.query(
            "SELECT * FROM searches WHERE prompt = ? ORDER BY id", [nfc(prompt)])]

    def _search_from_row(self, row: dict[str, Any]) -> Search:
        search = Search.from_row(row)
        # Like a run: a search marked running that nobody's lock holds was left by a process that died.
        if search.status == "running" and search.id not in self._searching \
                and not self._locks.is_held(_search_key(search.id)):
            return replace(search, status=INTERRUPTED)
        return search

    # Reviews --------------------------------------------------------------------------------------

    def set_review(self, version_id: int, case_id: str, verdict: str, correction: str | None = None,
                   note: str | None = None, output: str | None = None) -> None:
        """Store a human verdict (good/bad) and an optional corrected output for (version, case).

        ``output`` is the output that was judged: the verdict then applies only where a run of the
        version produced that same output. A case that ended in an error has none (``NO_OUTPUT``): its
        review is refused, since one without an output would judge every later answer of the case unseen.
        """
        if verdict not in ("good", "bad"):
            raise StoreError(f"a review verdict is 'good' or 'bad', not {verdict!r}")
        if output is None:
            raise StoreError(f"case {case_id!r}: {NO_OUTPUT}", hint="run the case again, then review its answer")
        version = self.version_by_id(version_id)
        self.db.table("reviews").upsert({"version_id": version_id, "case_id": case_id, "prompt": version.prompt,
                                         "verdict": verdict, "correction": correction, "note": note,
                                         "output": output, "created_utc": utc_now()}, pk=("version_id", "case_id"))
        self.db.conn.commit()

    def reviews(self, version_id: int) -> dict[str, Review]:
        """The stored reviews of one version, by case id."""
        return {row["case_id"]: Review.from_row(row)
                for row in self.db.query("SELECT * FROM reviews WHERE version_id = ?", [version_id])}

    def prompt_reviews(self, prompt: str) -> list[Review]:
        """The stored reviews of every version of ``prompt``, oldest version first."""
        return [Review.from_row(row) for row in self.db.query(
            "SELECT * FROM reviews WHERE prompt = ? ORDER BY version_id, case_id", [nfc(prompt)])]

    # Provider batches -----------------------------------------------------------------------------

    def add_batch(self, *, provider_batch_id: str, run_id: int, model: str, api_base: str | None, status: str,
                  input_file_id: str | None, case_ids: list[str], request_counts: dict[str, int],
                  estimate_usd: float | None) -> Batch:
        """Record a batch just submitted to a provider for ``run_id`` (``api_base``: never a key)."""
        now = utc_now()
        with self._write():
            batch_id = self.db.table("batches").insert({
                "provider_batch_id": provider_batch_id, "run_id": run_id, "model": model, "api_base": api_base,
                "status": status, "input_file_id": input_file_id, "output_file_id": None, "error_file_id": None,
                "case_ids_json": canonical_json(case_ids), "request_counts_json": canonical_json(request_counts),
                "estimate_usd": estimate_usd, "created_utc": now, "updated_utc": now, "collected_utc": None,
            }).last_pk
        assert batch_id is not None
        return self.batch(int(batch_id))

    def update_batch(self, batch_id: int, *, status: str, output_file_id: str | None, error_file_id: str | None,
                     request_counts: dict[str, int], collected: bool = False) -> Batch:
        """Record what the provider last said of a batch; ``collected`` marks its results written."""
        with self._write():
            self.db.execute(
                "UPDATE batches SET status = ?, output_file_id = ?, error_file_id = ?, request_counts_json = ?, "
                "updated_utc = ?, collected_utc = CASE WHEN ? THEN coalesce(collected_utc, ?) ELSE collected_utc "
                "END WHERE id = ?",
                [status, output_file_id, error_file_id, canonical_json(request_counts), utc_now(), int(collected),
                 utc_now(), batch_id])
        return self.batch(batch_id)

    def batch(self, ref: int | str) -> Batch:
        """The batch with id ``ref`` (the workbench's number) or provider id ``ref``; a provider id two
        providers both gave (two servers number their batches alike) is refused as ambiguous."""
        text = str(ref).strip()
        if text.isdigit():
            row = self._one("SELECT * FROM batches WHERE id = ?", [int(text)])
        else:
            rows = list(self.db.query("SELECT * FROM batches WHERE provider_batch_id = ? ORDER BY id", [text]))
            if len(rows) > 1:
                numbers = ", ".join(str(found["id"]) for found in rows)
                raise StoreError(f"{len(rows)} batches have the provider id {text!r} (batches {numbers}, from "
                                 "different servers)", hint="name the batch by its number")
            row = rows[0] if rows else None
        if row is None:
            raise StoreError(f"no batch {text!r}", hint="'workbench batch list' lists the batches")
        return Batch.from_row(row)

    def batches(self, run_id: int | None = None) -> list[Batch]:
        """The project's batches (of one run), oldest first."""
        if run_id is None:
            rows = self.db.query("SELECT * FROM batches ORDER BY id")
        else:
            rows = self.db.query("SELECT * FROM batches WHERE run_id = ? ORDER BY id", [run_id])
        return [Batch.from_row(row) for row in rows]

    # Response cache (the ResponseCache protocol of the model client) ---------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        """A cached response, or None."""
        row = self._one("SELECT response_json FROM cache WHERE key = ?", [key])
        return json.loads(row["response_json"]) if row else None

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The cached responses of ``keys`` that are cached, by key (one query per 500 keys)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 500):  # under SQLite's limit on bound parameters
            chunk = wanted[start:start + 500]
            rows = self.db.conn.execute(f"SELECT key, response_json FROM cache WHERE key IN "
                                        f"({', '.join('?' * len(chunk))})", chunk)
            found.update((key, json.loads(text)) for key, text in rows)
        return found

    def put(self, key: str, *, model: str, kind: str, response: dict[str, Any]) -> None:
        """Cache a response."""
        self.db.execute("INSERT OR REPLACE INTO cache (key, model, kind, response_json, created_utc) "
                        "VALUES (?, ?, ?, ?, ?)", [key, model, kind, canonical_json(response), utc_now()])
        self.db.conn.commit()

    def put_many(self, entries: Iterable[dict[str, Any]]) -> None:
        """Cache several responses in one transaction; each entry holds ``key``, ``model``, ``kind`` and
        ``response`` (``put``'s arguments)."""
        now = utc_now()
        with self._write():
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO cache (key, model, kind, response_json, created_utc) VALUES (?, ?, ?, ?, ?)",
                [(e["key"], e["model"], e["kind"], canonical_json(e["response"]), now) for e in entries])

    # ------------------------------------------------------------------------------------------------

    def _one(self, sql: str, args: list[Any]) -> dict[str, Any] | None:
        for row in self.db.query(sql, args):
            return row
        return None

