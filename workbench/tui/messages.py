"""Provides the messages the TUI's workers post, one class per flow: what a screen's thread worker loaded
(or the one line it failed with), a run's and a prompt search's progress events, a generation's outcome.
Handlers on the screens and widgets own every state change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from workbench.batch import BatchReport
    from workbench.compare import CaseOutcome, Comparison
    from workbench.decision import Decision
    from workbench.export import ExportPlan
    from workbench.generate import GenerateOptions, Generation
    from workbench.optimize import SearchEvent
    from workbench.overview import PromptRow
    from workbench.readiness import Readiness
    from workbench.records import Case
    from workbench.reports import TestsetHistory
    from workbench.runner import RunEvent
    from workbench.store import Batch
    from workbench.tui.cases_state import CasesState


@dataclass
class LoadFailed(Message):
    """A thread worker's load failed (one line, for the user)."""

    error: str


@dataclass
class PromptsLoaded(Message):
    """The home screen's overview: every prompt with its figures."""

    rows: list[PromptRow]


@dataclass
class CasesLoaded(Message):
    """A workspace's cases, with the results and reviews of the version and run they are shown for."""

    state: CasesState


@dataclass
class HistoryLoaded(Message):
    """A prompt's history on each (test set, split, model), and its readiness report on each."""

    tracks: list[TestsetHistory]
    reports: list[Readiness]


@dataclass
class ComparisonLoaded(Message):
    """A comparison of two runs, with what its flipped cases show beyond the ``Flip`` records."""

    comparison: Comparison
    cases: dict[str, Case]
    """Each flipped case as it was measured (inputs and expected answer), by case id."""
    outcomes: dict[str, tuple[CaseOutcome, CaseOutcome]]
    """Each flipped case's outcome on side A and side B (reviews applied), by case id."""


@dataclass
class ExportPlanned(Message):
    """An export plan, built for the export dialog's ``number``-th set of options."""

    plan: ExportPlan
    number: int


@dataclass
class RunEventArrived(Message):
    """A progress event of a running prompt."""

    event: RunEvent


@dataclass
class RunFailed(Message):
    """A run stopped on an error the user must fix, or was cancelled (one line)."""

    error: str


@dataclass
class BatchStepped(Message):
    """A provider batch step ended: submitted or polled (``report``: ``batch.BatchReport``), or cancelled
    (``cancelled``: the batch as the provider then reported it)."""

    report: BatchReport | None = None
    cancelled: Batch | None = None


@dataclass
class SearchEventArrived(Message):
    """A progress event of a running prompt search (``optimize.search``)."""

    event: SearchEvent


@dataclass
class SearchStopped(Message):
    """A prompt search stopped before its end: on an error the user must fix, or cancelled (one line)."""

    error: str
    cancelled: bool = False


@dataclass
class DecisionLoaded(Message):
    """A prompt's decision report, or why there is none yet (``decision.DecisionError``'s message and hint)."""

    decision: Decision | None
    error: str = ""
    hint: str = ""


@dataclass
class GenerationFinished(Message):
    """New cases a model proposed for a test set (``generate.generate_cases``), with the settings asked."""

    generation: Generation
    options: GenerateOptions


@dataclass
class GenerationFailed(Message):
    """A generation stopped on an error the user must fix, or was cancelled (one line); nothing was written."""

    error: str
    cancelled: bool = False
