"""Provides the store's typed rows: what ``Store`` returns, frozen, with JSON columns decoded once here.

No module outside ``store/`` reads a row by column name or decodes a ``*_json`` column: it gets one of
these. The columns behind each field are in ``migrations.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Version:
    """One stored version of a prompt (``versions`` table)."""

    id: int
    prompt: str
    number: int
    """1, 2, ... per prompt, in the order versions were first saved."""
    hash: str
    """sha256 of the template text: the version's identity."""
    text: str
    parent_id: int | None
    note: str | None
    created_utc: str
    provenance: dict[str, Any] | None = None
    """Where a prompt search made this version (``search``, ``parent``, ``strategy``, ``settings``,
    ``round``; ``applied_utc`` once adopted with ``workbench optimize --apply``); None when hand-made."""

    @property
    def label(self) -> str:
        """``name@vN``."""
        return f"{self.prompt}@v{self.number}"

    @property
    def search_candidate(self) -> bool:
        """Made by a prompt search and not adopted: kept off the hand-made track (plateau, best version,
        selection), shown in history with its provenance."""
        return self.provenance is not None and not self.provenance.get("applied_utc")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Version:
        """A ``versions`` row as a ``Version``."""
        provenance = row.get("provenance_json")
        return cls(id=row["id"], prompt=row["prompt"], number=row["number"], hash=row["hash"], text=row["text"],
                   parent_id=row["parent_id"], note=row["note"], created_utc=row["created_utc"],
                   provenance=json.loads(provenance) if provenance else None)


@dataclass(frozen=True)
class Run:
    """One run of a prompt version on a test set (``runs`` table)."""

    id: int
    prompt: str
    version_id: int
    model: str
    params: dict[str, Any]
    """The model parameters sent (public ones only: never a key)."""
    testset_hash: str
    dataset: str
    split: str
    scorers: list[Any]
    status: str
    """``running``, ``finished``, ``partial``, ``cancelled``, ``failed``, ``interrupted`` or ``batch`` (waiting
    for a provider batch: ``workbench batch``)."""
    n_cases: int
    started_utc: str
    finished_utc: str | None
    prompt_mode: str = "version"
    """How its cases were rendered (``workbench.train_prompt``): ``version`` (as written), ``short`` or
    ``none``, the training prompt of the tuned model it ran."""
    instruction: str | None = None
    """The system text of ``short`` when the model was trained with a given instruction."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        """A ``runs`` row as a ``Run``."""
        return cls(
            id=row["id"], prompt=row["prompt"], version_id=row["version_id"], model=row["model"],
            params=json.loads(row["params_json"]), testset_hash=row["testset_hash"], dataset=row["dataset"],
            split=row["split"], scorers=json.loads(row["scorers_json"]), status=row["status"],
            n_cases=row["n_cases"], started_utc=row["started_utc"], finished_utc=row["finished_utc"],
            prompt_mode=row.get("prompt_mode") or "version", instruction=row.get("instruction"),
        )


@dataclass(frozen=True)
class ScoreRow:
    """One scorer's verdict on one result (``scores`` table)."""

    scorer: str
    value: float
    """0..1."""
    passed: bool
    weight: float
    reason: str | None
    detail: dict[str, Any] | None
    """Scorer-specific detail (e.g. a judge's reasoning), decoded from ``detail_json``."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ScoreRow:
        """A ``scores`` row as a ``ScoreRow``."""
        return cls(scorer=row["scorer"], value=float(row["value"] or 0.0), passed=bool(row["passed"]),
                   weight=float(row["weight"] if row["weight"] is not None else 1.0), reason=row["reason"],
                   detail=json.loads(row["detail_json"]) if row["detail_json"] else None)


@dataclass(frozen=True)
class Result:
    """One case's result in one run (``results`` table), with its scores."""

    id: int
    run_id: int
    case_id: str
    case_key: str
    """The fingerprint of the case as it was measured (inputs, expected answer, split, held-out flag)."""
    messages: list[dict[str, Any]] | None
    """The chat messages sent, or None when the case failed before rendering."""
    output: str | None
    """The model's text answer (None when it errored)."""
    passed: bool
    """The scorers' verdict (before any human review: see ``reviews.reviewed``)."""
    score: float
    """Weighted mean of the scores, 0..1."""
    error: str | None
    error_kind: str | None
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    """What the call cost when made (a cached answer still carries it: see ``cached``)."""
    cached: bool
    """Answered from the response cache: nothing was spent this time."""
    created_utc: str
    finish_reason: str | None
    tool_calls: list[dict[str, Any]] | None
    scores: tuple[ScoreRow, ...] = ()
    deployment: str | None = None
    """The deployment of a routed alias that answered (``Completion.deployment``)."""

    @classmethod
    def from_row(cls, row: dict[str, Any], scores: tuple[ScoreRow, ...] = ()) -> Result:
        """A ``results`` row as a ``Result``."""
        return cls(
            id=row["id"], run_id=row["run_id"], case_id=row["case_id"], case_key=row["case_key"],
            messages=json.loads(row["messages_json"]) if row["messages_json"] else None,
            output=row["output"], passed=bool(row["passed"]), score=float(row["score"] or 0.0),
            error=row["error"], error_kind=row["error_kind"], latency_ms=row["latency_ms"],
            input_tokens=row["input_tokens"], output_tokens=row["output_tokens"], cost_usd=row["cost_usd"],
            cached=bool(row["cached"]), created_utc=row["created_utc"], finish_reason=row["finish_reason"],
            tool_calls=json.loads(row["tool_calls_json"]) if row["tool_calls_json"] else None, scores=scores,
            deployment=row.get("deployment"),
        )


@dataclass(frozen=True)
class Review:
    """A human verdict on one (version, case) (``reviews`` table)."""

    version_id: int
    case_id: str
    prompt: str
    verdict: str
    """``good`` or ``bad``."""
    correction: str | None
    """A corrected output, used as the training answer when exporting."""
    note: str | None
    output: str | None
    """The output that was judged (None for reviews made before reviews kept it: they judge any output)."""
    created_utc: str

    @property
    def good(self) -> bool:
        """The verdict is ``good``."""
        return self.verdict == "good"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Review:
        """A ``reviews`` row as a ``Review``."""
        return cls(version_id=row["version_id"], case_id=row["case_id"], prompt=row["prompt"],
                   verdict=row["verdict"], correction=row["correction"], note=row["note"],
                   output=row.get("output"), created_utc=row["created_utc"])


@dataclass(frozen=True)
class Search:
    """One prompt search (``searches`` table): where it started, its settings, and its report."""

    id: int
    prompt: str
    version_id: int
    """The version the search started from."""
    model: str
    dataset: str
    seed: int
    settings: dict[str, Any]
    status: str
    """``running``, ``finished``, ``cancelled`` or ``failed``."""
    started_utc: str
    finished_utc: str | None
    report: dict[str, Any] | None
    """The search's report (``workbench.optimize.SearchReport.to_dict``), kept as far as it got."""

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Search:
        """A ``searches`` row as a ``Search``."""
        return cls(id=row["id"], prompt=row["prompt"], version_id=row["version_id"], model=row["model"],
                   dataset=row["dataset"], seed=row["seed"], settings=json.loads(row["settings_json"] or "{}"),
                   status=row["status"], started_utc=row["started_utc"], finished_utc=row["finished_utc"],
                   report=json.loads(row["report_json"]) if row["report_json"] else None)


BATCH_ENDED = frozenset({"completed", "expired", "cancelled", "failed"})
"""Provider batch statuses after which nothing more arrives."""


@dataclass(frozen=True)
class Batch:
    """One batch submitted to a provider's batch API for a run (``batches`` table)."""

    id: int
    provider_batch_id: str
    run_id: int
    model: str
    api_base: str | None
    """The endpoint it was sent to (None: the provider's own); never a key."""
    status: str
    """The provider's last reported status: ``validating``, ``in_progress``, ``finalizing``, ``completed``,
    ``expired``, ``cancelling``, ``cancelled`` or ``failed``."""
    input_file_id: str | None
    output_file_id: str | None
    error_file_id: str | None
    case_ids: list[str]
    """The cases it carries (their ``custom_id``)."""
    request_counts: dict[str, int]
    """``total``, ``completed`` and ``failed``, as the provider last reported them."""
    estimate_usd: float | None
    """The price estimated at submission, at the batch discount (None: the model's price is unknown)."""
    created_utc: str
    updated_utc: str
    collected_utc: str | None
    """When its results were written to the run after it ended; None while it is pending."""

    @property
    def ended(self) -> bool:
        """The provider will send nothing more."""
        return self.status in BATCH_ENDED

    @property
    def pending(self) -> bool:
        """Not yet ended and collected: the run waits for it."""
        return self.collected_utc is None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Batch:
        """A ``batches`` row as a ``Batch``."""
        return cls(id=row["id"], provider_batch_id=row["provider_batch_id"], run_id=row["run_id"], model=row["model"],
                   api_base=row["api_base"], status=row["status"], input_file_id=row["input_file_id"],
                   output_file_id=row["output_file_id"], error_file_id=row["error_file_id"],
                   case_ids=json.loads(row["case_ids_json"] or "[]"),
                   request_counts=json.loads(row["request_counts_json"] or "{}"), estimate_usd=row["estimate_usd"],
                   created_utc=row["created_utc"], updated_utc=row["updated_utc"], collected_utc=row["collected_utc"])
