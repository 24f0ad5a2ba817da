"""Provides the records of a prompt search: each candidate (scored or discarded), each round, the
confirmation of the winner, the whole report, and ``SearchSummary``: what ``status`` and ``decide`` say
about the latest search of a prompt, read back from the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from workbench.names import nfc
from workbench.reports import percent
from workbench.store import Store
from workbench.store.rows import Search

BIAS_NOTE = ("the winner's search-fold figure is the best of {n} candidates on the same cases, so it is "
             "optimistically biased; the confirmation fold, never used to choose, gives the honest figure")


NO_GAIN = "no gain"
"""The search measured the start and at least one candidate, and none beat the start on the confirmation
fold: the only outcome that says prompting is exhausted."""
GAIN = "gain"
"""The winner beat the start on the confirmation fold, significantly."""
UNMEASURED = "unmeasured"
"""The start, or every candidate, ended (mostly) in errors: the search measured nothing."""
NOTHING_SCORED = "nothing scored"
"""Every candidate was discarded (or none was proposed): no candidate was measured."""
UNCONFIRMED = "unconfirmed"
"""A candidate led on the search fold but was never confirmed (the budget left no room): no finding either way."""
STOPPED = "stopped"
"""The search was cancelled or failed before a verdict: no finding."""
RUNNING = "running"
INCONCLUSIVE = frozenset({UNMEASURED, NOTHING_SCORED})
"""The finished searches that found nothing because they measured nothing: ``workbench optimize`` exits 2."""


def measured(n: int, errors: int) -> bool:
    """Whether a fold of ``n`` cases with ``errors`` of them ended in an error was measured: some cases,
    and at most half of them errors (a figure made mostly of errors measures the provider, not the prompt)."""
    return n > 0 and 2 * errors <= n


@dataclass(frozen=True)
class CandidateRecord:
    """One candidate of a search: scored on the search fold, or discarded with the reason."""

    round: int
    strategy: str
    label: str
    settings: dict[str, Any]
    parent: int
    """The version number it was derived from."""
    version: int | None = None
    """Its version number (None when discarded before it became one)."""
    hash: str | None = None
    passed: int | None = None
    n: int | None = None
    pass_rate: float | None = None
    mean_score: float | None = None
    calls: int = 0
    """Model calls made to score it (answers from the cache are free)."""
    usd: float = 0.0
    discarded: str | None = None
    """Why it was not scored."""
    errors: int = 0
    """Cases of the fold that ended in an error (no answer to score)."""

    @property
    def measured(self) -> bool:
        """Scored on the search fold, and not mostly errors: its figure measures the candidate, not the
        provider's failures (``measured``)."""
        return self.version is not None and self.discarded is None and measured(self.n or 0, self.errors)


@dataclass(frozen=True)
class RoundRecord:
    """One round: its best candidate against the incumbent, by the plateau rule."""

    round: int
    incumbent: int
    """The best version when the round started."""
    scored: int
    best: int | None
    gain: float | None
    """The best candidate's pass-rate gain over the incumbent on the search fold (a fraction)."""
    low: float | None
    high: float | None
    supported: bool
    """At least the minimum gain with a paired-bootstrap CI above zero (the plateau rule)."""


@dataclass(frozen=True)
class Confirmation:
    """The winner against the starting version on the confirmation fold (``compare.compare``)."""

    n: int
    start_passed: int
    winner_passed: int
    start_pass_rate: float
    winner_pass_rate: float
    gain: float
    low: float
    high: float
    p_value: float
    direction: str
    """``better``, ``worse`` or ``none``: the winner against the start, significant at 5%."""
    verdict: str


@dataclass
class SearchReport:
    """Everything a search found, kept in the store as it goes."""

    search_id: int
    prompt: str
    model: str
    dataset: str
    seed: int
    strategies: list[str]
    start_version: int
    folds: dict[str, Any]
    budget: dict[str, Any]
    status: str = "running"
    start_search_rate: float | None = None
    start_errors: int | None = None
    """Cases of the search fold the start's scoring ended in an error (None: not scored yet)."""
    start_n: int | None = None
    winner_version: int | None = None
    winner_label: str | None = None
    winner_search_rate: float | None = None
    candidates: list[CandidateRecord] = field(default_factory=list)
    rounds: list[RoundRecord] = field(default_factory=list)
    stop_reason: str | None = None
    confirmation: Confirmation | None = None
    calls: int = 0
    usd: float = 0.0
    seconds: float = 0.0
    applied: bool = False
    verdict: str = ""
    """One sentence: what the search found."""
    bias_note: str = ""

    @property
    def scored(self) -> list[CandidateRecord]:
        """The candidates measured on the search fold (scored, and not mostly errors)."""
        return [c for c in self.candidates if c.measured]

    @property
    def errored(self) -> list[CandidateRecord]:
        """The candidates scored on the search fold whose figures are mostly errors: not measured."""
        return [c for c in self.candidates if c.version is not None and c.discarded is None and not c.measured]

    @property
    def start_measured(self) -> bool:
        """The start's search-fold figure is a measurement (not mostly errors; a report that predates the
        count of errors is taken as measured)."""
        if self.start_search_rate is None:
            return False
        return self.start_n is None or measured(self.start_n, self.start_errors or 0)

    @property
    def found_gain(self) -> bool:
        """The winner beat the starting version on the confirmation fold, significantly."""
        return self.outcome == GAIN

    @property
    def outcome(self) -> str:
        """What the search found, the one definition every reader uses (the report, its exit status,
        ``status``, ``decide``, the readiness advice, the TUI): ``GAIN``, ``NO_GAIN`` (the only finding
        that says prompting is exhausted), ``UNMEASURED``, ``NOTHING_SCORED``, ``UNCONFIRMED``, ``STOPPED``
        or ``RUNNING``."""
        if self.confirmation is not None and self.confirmation.direction == "better":
            return GAIN
        if self.status == "running":
            return RUNNING
        if self.status != "finished":
            return STOPPED
        if not self.start_measured or (self.errored and not self.scored):
            return UNMEASURED
        if not self.scored:
            return NOTHING_SCORED
        if self.confirmation is None and self.winner_version not in (None, self.start_version):
            return UNCONFIRMED
        return NO_GAIN

    @property
    def exhausted(self) -> bool:
        """The search measured candidates and none beat the start: prompting is exhausted for this model."""
        return self.outcome == NO_GAIN

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the store keeps)."""
        data = asdict(self)
        data["evaluated"] = len(self.scored)
        data["found_gain"] = self.found_gain
        data["outcome"] = self.outcome
        data["exhausted"] = self.exhausted
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchReport:
        """A report as ``to_dict`` wrote it (the store's ``searches.report_json``); keys it does not know (a
        later release's) are left out."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["candidates"] = [CandidateRecord(**item) for item in data.get("candidates") or []]
        values["rounds"] = [RoundRecord(**item) for item in data.get("rounds") or []]
        if data.get("confirmation"):
            values["confirmation"] = Confirmation(**data["confirmation"])
        return cls(**values)

    def confirmation_text(self) -> str | None:
        """The confirmation figure in words (both front ends show it), or None without a confirmed winner:
        ``v1 3/16 (18.8%), v4 9/16 (56.2%): +37.5 points (paired bootstrap 95% CI +12.5 to +62.5), exact
        McNemar p = 0.0312``."""
        c = self.confirmation
        if c is None or self.winner_version is None:
            return None
        return (f"v{self.start_version} {c.start_passed}/{c.n} ({percent(c.start_pass_rate)}), v{self.winner_version} "
                f"{c.winner_passed}/{c.n} ({percent(c.winner_pass_rate)}): {c.gain * 100:+.1f} points (paired "
                f"bootstrap 95% CI {c.low * 100:+.1f} to {c.high * 100:+.1f}), exact McNemar p = {c.p_value:.3g}")

    def describe(self) -> str:
        """The one-sentence verdict, from the figures and ``outcome``."""
        n = len(self.scored)
        head = f"search {self.search_id} scored {n} candidate{'' if n == 1 else 's'} from v{self.start_version}"
        if self.status not in ("finished", "running"):
            head = f"{head} ({self.status})"
        outcome = self.outcome
        if outcome == UNMEASURED:
            if not self.start_measured:
                what = (f"v{self.start_version}'s scoring on the search fold ended in errors "
                        f"({self.start_errors or 0} of {self.start_n or 0} cases)")
            else:
                what = f"every candidate scored ({len(self.errored)}) ended mostly in errors"
            return f"{head}: {what}, so nothing was measured: no verdict"
        if outcome == NOTHING_SCORED:
            discarded = sum(1 for c in self.candidates if c.discarded is not None)
            return (f"{head}: no candidate was measured ({discarded} discarded): nothing was compared with "
                    f"v{self.start_version}: no verdict")
        if outcome in (STOPPED, RUNNING) and (self.winner_version is None or self.confirmation is None):
            lead = ("" if self.winner_version is None or self.winner_version == self.start_version else
                    f"; v{self.winner_version} ({self.winner_label}) led on the search fold so far")
            return f"{head}{lead}: {'still running' if outcome == RUNNING else 'stopped before a verdict'}"
        if self.winner_version is None or self.winner_version == self.start_version:
            return f"{head}: none beat v{self.start_version} on the search fold: no gain"
        c = self.confirmation
        if c is None:
            return (f"{head}: v{self.winner_version} ({self.winner_label}) led on the search fold but was not "
                    "confirmed")
        figures = (f"{c.gain * 100:+.1f} points on the {c.n}-case confirmation fold (95% CI {c.low * 100:+.1f} to "
                   f"{c.high * 100:+.1f}, McNemar p = {c.p_value:.2g})")
        if c.direction == "better":
            return f"{head}: v{self.winner_version} ({self.winner_label}) beats v{self.start_version}: {figures}"
        return (f"{head}: the best, v{self.winner_version} ({self.winner_label}), gained "
                f"{((self.winner_search_rate or 0) - (self.start_search_rate or 0)) * 100:+.1f} points on the "
                f"search fold but {figures}: no supported gain")


@dataclass(frozen=True)
class SearchSummary:
    """The latest search of a prompt on a model, as ``status`` and ``decide`` report it."""

    search_id: int
    status: str
    model: str
    dataset: str
    start_version: int
    evaluated: int
    winner_version: int | None
    found_gain: bool
    applied: bool
    verdict: str
    outcome: str = STOPPED
    """``SearchReport.outcome`` of the stored report."""

    @property
    def exhausted(self) -> bool:
        """The search measured candidates and none beat the start (``SearchReport.exhausted``): prompting
        is exhausted for this model. Never for a search that measured nothing, or stopped."""
        return self.outcome == NO_GAIN

    @classmethod
    def from_search(cls, search: Search) -> SearchSummary:
        """The summary of a stored search (from its report, as far as it got), read through
        ``SearchReport``: its outcome and verdict are worked out again from the figures, never taken from
        what an earlier release wrote."""
        if not search.report:
            return cls(search_id=search.id, status=search.status, model=search.model, dataset=search.dataset,
                       start_version=0, evaluated=0, winner_version=None, found_gain=False, applied=False,
                       verdict=f"search {search.id} is {search.status}: no verdict", outcome=STOPPED)
        report = SearchReport.from_dict({**search.report, "status": search.status})
        return cls(search_id=search.id, status=search.status, model=search.model, dataset=search.dataset,
                   start_version=report.start_version, evaluated=len(report.scored),
                   winner_version=report.winner_version, found_gain=report.found_gain, applied=report.applied,
                   verdict=report.describe(), outcome=report.outcome)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def latest_search(store: Store, prompt: str, model: str | None = None,
                  dataset: str | None = None) -> SearchSummary | None:
    """The newest search of ``prompt`` (on ``model`` and ``dataset`` when given) that scored anything
    or finished, or None."""
    for search in reversed(store.searches(nfc(prompt))):
        if (model is None or search.model == model) and (dataset is None or search.dataset == dataset):
            return SearchSummary.from_search(search)
    return None
