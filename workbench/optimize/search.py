"""Provides the prompt search (``workbench optimize``): rounds of candidates scored on a search fold of
the dev split, within a budget of calls and dollars, stopped by the plateau rule applied to rounds, and
the winner confirmed against the starting version on a separate confirmation fold.

A candidate is scored through the one runner: its run is planned on the dev split like any run and
executed with ``only=`` the fold's case ids, so no dataset file is written, the response cache is
shared with normal runs, and the run stays ``partial`` (it covers a fold, not the split: running the
version whole later resumes it). Every scored candidate is a version with its provenance (search,
parent, strategy, settings); it stays off the hand-made track until adopted (``apply.apply_winner``).

Each round proposes from its incumbent: reorderings of its demonstrations, new few-shot draws (of the
sizes that can show every label, when the answers form a label set), constrain and rewrite candidates.

The search yields progress events, like ``runner.execute``; closing it early (Ctrl+C, a cancelled
worker) keeps every finished candidate and marks the search ``cancelled``.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

from workbench.cases import DEV, is_held_out, load_cases, select_split
from workbench.compare import CaseOutcome, Side, compare
from workbench.costs import dollars
from workbench.errors import ProviderError, WorkbenchError
from workbench.evaluation import run_outcomes
from workbench.optimize.budget import DEFAULT_CALLS, Budget, BudgetError, price_batch, price_per_token
from workbench.optimize.folds import MIN_FOLD, Folds, make_folds
from workbench.optimize.report import (
    BIAS_NOTE,
    CandidateRecord,
    Confirmation,
    RoundRecord,
    SearchReport,
    measured,
)
from workbench.optimize.strategies import (
    CONSTRAIN,
    FEWSHOT,
    FEWSHOT_GRID,
    PROPOSER_MAX_TOKENS,
    REORDERS,
    REWRITE,
    STRATEGIES,
    Discard,
    Outcome,
    constrain,
    cover_reason,
    covering_grid,
    demonstrations,
    fewshot,
    fewshot_layouts,
    label_set,
    parse_candidate,
    parse_rewrites,
    reorder,
    rewrite_request,
)
from workbench.plateau import VersionOutcome, plateau
from workbench.project import Project
from workbench.prompts import Prompt, render
from workbench.records import Case, CompletionRequest, Message
from workbench.runner import FATAL_KINDS, CaseDone, RunEvent, RunStarted, execute, make_client, plan_run
from workbench.store import Store, Version
from workbench.store.rows import Search

if TYPE_CHECKING:
    from workbench.providers.client import ModelClient

MAX_ROUNDS = 8
"""Rounds at most, whatever the budget."""


class OptimizeError(WorkbenchError):
    """A search that cannot start as asked (unknown strategy, no dev cases, too few of them)."""


@dataclass(frozen=True)
class SearchSettings:
    """What a search may try and spend."""

    strategies: tuple[str, ...] = STRATEGIES
    budget_calls: int | None = None
    """Model calls at most (default ``DEFAULT_CALLS`` when no dollar budget is given either)."""
    budget_usd: float | None = None
    seed: int = 0
    proposer: str | None = None
    """The model that proposes rewrites (default: the model the prompt runs on)."""
    rewrites: int = 4
    """Rewrites asked of the proposer per round."""
    grid: tuple[int, ...] = FEWSHOT_GRID
    reorders: int = REORDERS
    """Reorderings of a few-shot incumbent's demonstrations tried per round."""
    cover_labels: bool = True
    """When the expected answers form a label set, skip the few-shot sizes too small to show every label
    (``strategies.covering_grid``)."""
    patience: int | None = None
    """Rounds without a supported gain before the search stops (default: the plateau rule's k)."""
    max_rounds: int = MAX_ROUNDS

    def check(self) -> None:
        """Refuse settings the search cannot use (one line each)."""
        if not self.strategies:
            raise OptimizeError("no strategy to search with", hint=f"--strategies {','.join(STRATEGIES)}")
        unknown = [name for name in self.strategies if name not in STRATEGIES]
        if unknown:
            raise OptimizeError(f"unknown strategy {unknown[0]!r}", hint=f"known: {', '.join(STRATEGIES)}")
        if self.rewrites < 1 or self.max_rounds < 1 or (self.patience is not None and self.patience < 1):
            raise OptimizeError("rewrites, rounds and patience must be at least 1")
        if self.reorders < 0:
            raise OptimizeError("reorders must be 0 or more")
        if not self.grid or any(k < 1 for k in self.grid):
            raise OptimizeError("the few-shot grid needs numbers of demonstrations of at least 1")
        self.budget().check()

    def budget(self) -> Budget:
        """A fresh budget from these settings."""
        calls = self.budget_calls
        if calls is None and self.budget_usd is None:
            calls = DEFAULT_CALLS
        return Budget(calls=calls, usd=self.budget_usd)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (kept with the search)."""
        return {"strategies": list(self.strategies), "budget_calls": self.budget_calls, "budget_usd": self.budget_usd,
                "seed": self.seed, "proposer": self.proposer, "rewrites": self.rewrites, "grid": list(self.grid),
                "reorders": self.reorders, "cover_labels": self.cover_labels,
                "patience": self.patience, "max_rounds": self.max_rounds}


# Events ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SearchStarted:
    """The search is recorded; its folds are drawn."""

    search: Search
    start: Version
    model: str
    folds: Folds
    report: SearchReport


@dataclass(frozen=True)
class CandidateStarted:
    """A version is being scored on a fold (``search`` or ``confirmation``)."""

    round: int
    label: str
    version: Version
    fold: str
    total: int


@dataclass(frozen=True)
class CaseScored:
    """One more case of the version being scored."""

    label: str
    done: int
    total: int
    passed: bool


@dataclass(frozen=True)
class CandidateDone:
    """A candidate was scored on the search fold, or discarded (``record.discarded`` says why)."""

    record: CandidateRecord


@dataclass(frozen=True)
class RoundDone:
    """A round ended: its best candidate against the incumbent."""

    record: RoundRecord


@dataclass(frozen=True)
class SearchFinished:
    """The search ended (``report.status``), with its report."""

    report: SearchReport


SearchEvent = SearchStarted | CandidateStarted | CaseScored | CandidateDone | RoundDone | SearchFinished


@dataclass(frozen=True)
class Scored:
    """A version's outcomes on a fold."""

    prompt: Prompt
    version: Version
    label: str
    outcomes: list[CaseOutcome]
    calls: int
    """Model calls made to score it: attempts, retries included (answers from the cache are free)."""
    usd: float

    @property
    def errors(self) -> int:
        """Cases that ended in an error."""
        return sum(1 for o in self.outcomes if o.error is not None)

    @property
    def measured(self) -> bool:
        """Some cases, at most half of them errors (``report.measured``)."""
        return measured(len(self.outcomes), self.errors)

    @property
    def pass_rate(self) -> float:
        """Share of the fold passed."""
        return sum(o.passed for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def mean_score(self) -> float:
        """Mean case score on the fold."""
        return sum(o.score for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    def beats(self, other: Scored) -> bool:
        """Strictly better on the fold: pass rate, then mean score."""
        return (self.pass_rate, self.mean_score) > (other.pass_rate, other.mean_score)


# The search -------------------------------------------------------------------------------------------------

async def search(project: Project, store: Store, start: Prompt, settings: SearchSettings | None = None, *,
                 model: str | None = None, client: ModelClient | None = None) -> AsyncGenerator[SearchEvent, None]:
    """Search for a better version of ``start`` on the dev split of its test set; yields progress events,
    the last one ``SearchFinished`` with the report.

    Everything the user can fix (unknown strategy, a budget that is not positive or too small, no dev
    cases, an unknown proposer or model, a price that cannot be known for a dollar budget) is raised as a
    ``WorkbenchError`` before the first model call.
    """
    run = _SearchRun(project, store, start, settings or SearchSettings(), model, client)
    async with aclosing(run.events()) as events:
        async for event in events:
            yield event


class _SearchRun:
    """One search's state: folds, budget, the versions scored, the report."""

    def __init__(self, project: Project, store: Store, start: Prompt, settings: SearchSettings, model: str | None,
                 client: ModelClient | None) -> None:
        settings.check()
        self.project, self.store, self.start, self.settings = project, store, start, settings
        self.budget = settings.budget()
        if not start.dataset:
            raise OptimizeError(f"prompt {start.name!r} names no test set", path=start.path,
                                hint="add 'dataset: datasets/NAME.jsonl' to its front matter")
        dataset_path = project.resolve(start.dataset)
        self.all_cases = load_cases(dataset_path, expected_key=start.expected_key)
        dev = [case for case in self.all_cases if case.split == DEV and not is_held_out(case)]
        if not dev:
            raise OptimizeError("no dev cases to search on", path=dataset_path,
                                hint="the search scores candidates on the dev split and never reads the test "
                                     "split: give cases 'split: dev'")
        pool_size = max(settings.grid) if FEWSHOT in settings.strategies else 0
        self.folds = make_folds(self.all_cases, settings.seed, pool_size)
        if len(self.folds.search) < MIN_FOLD or len(self.folds.confirmation) < MIN_FOLD:
            raise OptimizeError(f"too few dev cases to search on ({len(dev)})", path=dataset_path,
                                hint=f"a search needs at least {2 * MIN_FOLD} dev cases besides the few-shot pool")
        # Planning the start's run checks everything (test set, scorers, rendering) and records it.
        self.base = plan_run(project, store, start, model=model, split=DEV)
        self.model = self.base.model
        self.client = client or make_client(project, store)
        self.client.preflight(self.model)
        self.proposer = settings.proposer or project.settings.proposer_model or self.model
        if REWRITE in settings.strategies:
            self.client.preflight(self.proposer)
        self.rates: tuple[float, float] = (0.0, 0.0)
        self.proposer_rates: tuple[float, float] = (0.0, 0.0)
        if self.budget.usd is not None:
            self.rates = self._rates(self.model)
            if REWRITE in settings.strategies:
                self.proposer_rates = self._rates(self.proposer)
        self.eval_cases = select_split(self.all_cases, DEV)
        self.by_id = {case.id: case for case in self.all_cases}
        # Gold answers the strategies may read: the search fold's and the pool's, never the confirmation's.
        self.answers = [case.expected for case in [*self.folds.search, *self.folds.pool]]
        labels = label_set(self.answers)
        self.labels = len(labels) if labels is not None and settings.cover_labels else None
        """How many labels the expected answers form (None: open answers, or the rule is off)."""
        self.started = time.monotonic()
        # What the confirmation costs at worst is kept back from the start: the start's side is priced now,
        # the winner's side at the dearest candidate scored so far.
        self.start_confirm_usd = self._price(self.base.prompt, self.folds.confirmation)
        self.winner_confirm_usd = self.start_confirm_usd
        need = len(self.folds.search) + 2 * len(self.folds.confirmation)
        first = self._price(start, self.folds.search)
        if not self.budget.allows(len(self.folds.search), first, self._reserve()):
            usd = first + self._reserve()[1]
            cost = f"{need} calls" + (f" and up to {dollars(usd)}" if self.budget.usd is not None else "")
            raise BudgetError(
                f"the budget is too small to search: scoring the start on the {len(self.folds.search)}-case search "
                f"fold and confirming on the {len(self.folds.confirmation)}-case confirmation fold take up to {cost}",
                hint=f"raise the budget above that (each candidate takes up to {len(self.folds.search)} calls more)")
        self.calls_base = 0
        self.record: Search | None = None
        self.report: SearchReport | None = None
        self._last: Scored | None = None
        self.seen: dict[str, int] = {}
        """Content hash -> version number of everything scored (or about to be)."""

    def _rates(self, model: str) -> tuple[float, float]:
        rates = price_per_token(model, self.client.models)
        if rates is None:
            raise BudgetError(f"cannot price {model} before calling it: litellm's cost map does not know it",
                              hint="give the search a call budget instead (--budget-calls)")
        return rates

    def _price(self, prompt: Prompt, cases: list[Case]) -> float:
        if self.rates == (0.0, 0.0):
            return 0.0
        return price_batch(self.rates, [render(prompt, case) for case in cases], prompt.params)

    def _reserve(self) -> tuple[int, float]:
        return 2 * len(self.folds.confirmation), self.start_confirm_usd + self.winner_confirm_usd

    # -- the rounds ---------------------------------------------------------------------------------------

    async def events(self) -> AsyncGenerator[SearchEvent, None]:
        """Run the search, yielding its events."""
        settings = self.settings
        start_version = self.base.version
        self.record = self.store.start_search(version=start_version, model=self.model, dataset=self.base.dataset,
                                              seed=settings.seed, settings=settings.to_dict())
        self.report = report = SearchReport(
            search_id=self.record.id, prompt=start_version.prompt, model=self.model, dataset=self.base.dataset,
            seed=settings.seed, strategies=list(settings.strategies), start_version=start_version.number,
            folds=self.folds.to_dict(), budget=self.budget.to_dict())
        self.seen[start_version.hash] = start_version.number
        self.calls_base = self.client.calls  # what the search spends is the attempts since (``_sync``)
        yield SearchStarted(self.record, start_version, self.model, self.folds, report)
        try:
            async with aclosing(self._rounds()) as rounds:
                async for event in rounds:
                    yield event
            report.status = "finished"
        except BaseException as error:
            # Ctrl+C, a closed iterator or a fatal provider error: what finished is kept.
            report.status = "failed" if isinstance(error, Exception) else "cancelled"
            self._save(final=True)
            raise
        self._save(final=True)
        yield SearchFinished(report)

    async def _rounds(self) -> AsyncGenerator[SearchEvent, None]:
        assert self.report is not None
        report, settings = self.report, self.settings
        start_label = f"v{self.base.version.number} (start)"
        async with aclosing(self._score(self.start, self.base.version, start_label, 0, "search")) as scoring:
            async for event in scoring:
                yield event
        start = self._take()
        report.start_search_rate = start.pass_rate
        report.start_errors, report.start_n = start.errors, len(start.outcomes)
        self._spend(start)
        if not start.measured:
            # Nothing to compare a candidate with: searching on would only spend the budget on errors.
            first = next((o.error for o in start.outcomes if o.error), "")
            report.stop_reason = (f"the start could not be measured: {start.errors} of {len(start.outcomes)} cases "
                                  f"of the search fold ended in an error (the first: {first})")
            report.verdict = report.describe()
            return
        incumbent = start
        patience = settings.patience or self.project.settings.plateau.k
        quiet_rounds = 0
        report.stop_reason = f"{settings.max_rounds} rounds, the most a search runs"
        for number in range(1, settings.max_rounds + 1):
            round_start = incumbent
            scored: list[Scored] = []
            fresh = 0
            out_of_budget = False
            for outcome in await self._propose(number, incumbent):
                if isinstance(outcome, Discard):
                    yield CandidateDone(self._discard(number, round_start, outcome))
                    continue
                try:
                    candidate = parse_candidate(outcome.text, self.start)
                    for case in self.eval_cases:
                        render(candidate, case)
                except WorkbenchError as error:
                    yield CandidateDone(self._discard(number, round_start, Discard(
                        outcome.strategy, outcome.label, f"does not render: {error}", outcome.settings)))
                    continue
                if candidate.hash in self.seen:
                    continue  # the same text as a version already scored: nothing new to learn
                fresh += 1
                confirm_usd = self._price(candidate, self.folds.confirmation)
                reserve = (2 * len(self.folds.confirmation),
                           self.start_confirm_usd + max(self.winner_confirm_usd, confirm_usd))
                if not self.budget.allows(len(self.folds.search), self._price(candidate, self.folds.search), reserve):
                    out_of_budget = True
                    break
                self.winner_confirm_usd = max(self.winner_confirm_usd, confirm_usd)
                version = self.store.save_version(candidate, provenance={
                    "search": report.search_id, "round": number, "strategy": outcome.strategy,
                    "label": outcome.label, "settings": outcome.settings, "parent": round_start.version.number,
                    "parent_id": round_start.version.id, "start": self.base.version.number, "seed": settings.seed,
                    "model": self.model})
                self.seen[candidate.hash] = version.number
                async with aclosing(self._score(candidate, version, outcome.label, number, "search")) as scoring:
                    async for event in scoring:
                        yield event
                done = self._take()
                self._spend(done)
                if done.measured:  # a figure made mostly of errors measures the provider: it takes no part
                    scored.append(done)
                record = CandidateRecord(
                    round=number, strategy=outcome.strategy, label=outcome.label, settings=outcome.settings,
                    parent=round_start.version.number, version=version.number, hash=version.hash[:12],
                    passed=sum(o.passed for o in done.outcomes), n=len(done.outcomes), pass_rate=done.pass_rate,
                    mean_score=done.mean_score, calls=done.calls, usd=done.usd, errors=done.errors)
                report.candidates.append(record)
                if done.measured and done.beats(incumbent):
                    incumbent = done
                    report.winner_version, report.winner_label = done.version.number, done.label
                    report.winner_search_rate = done.pass_rate
                self._save()
                yield CandidateDone(record)
            if scored:
                record_round = self._verdict(number, round_start, scored)
                report.rounds.append(record_round)
                quiet_rounds = 0 if record_round.supported else quiet_rounds + 1
                self._save()
                yield RoundDone(record_round)
            if out_of_budget:
                report.stop_reason = "the budget: the next candidate could have gone over it"
                break
            if not fresh:
                report.stop_reason = "no new candidate: every strategy's proposals were already scored"
                break
            if quiet_rounds >= patience:
                report.stop_reason = (f"{patience} round{'s' if patience > 1 else ''} in a row brought no supported "
                                      "gain (the plateau rule)")
                break
        if incumbent is not start:
            # Kept back from the start at one call a case; retries may have eaten into it since.
            if self.budget.allows(2 * len(self.folds.confirmation), self.start_confirm_usd + self.winner_confirm_usd):
                async with aclosing(self._confirm(start, incumbent)) as confirming:
                    async for event in confirming:
                        yield event
            else:
                report.stop_reason = (f"{report.stop_reason}; the confirmation did not fit in what retries left "
                                      f"of the budget ({self.budget.spent_calls} calls spent)")
        report.verdict = report.describe()

    def _verdict(self, number: int, incumbent: Scored, scored: list[Scored]) -> RoundRecord:
        """The plateau rule on one round: the incumbent is the earlier best, the round's candidates the
        recent versions; a supported gain is at least ``min_gain`` with a CI above zero."""
        rule = replace(self.project.settings.plateau, k=len(scored))
        verdict = plateau([VersionOutcome(0, incumbent.outcomes)]
                          + [VersionOutcome(index, done.outcomes) for index, done in enumerate(scored, 1)],
                          rule, seed=self.settings.seed)
        best = max(verdict.attempts, key=lambda attempt: attempt.gain, default=None)
        return RoundRecord(
            round=number, incumbent=incumbent.version.number, scored=len(scored),
            best=scored[best.number - 1].version.number if best else None, gain=best.gain if best else None,
            low=best.low if best else None, high=best.high if best else None,
            supported=any(attempt.beat for attempt in verdict.attempts))

    async def _confirm(self, start: Scored, winner: Scored) -> AsyncGenerator[SearchEvent, None]:
        """Score the start and the winner on the confirmation fold, and compare them there."""
        assert self.report is not None
        sides = []
        for scored in (start, winner):
            label = f"v{scored.version.number} (confirmation)"
            async with aclosing(self._score(scored.prompt, scored.version, label, 0, "confirmation")) as scoring:
                async for event in scoring:
                    yield event
            done = self._take()
            self._spend(done)
            sides.append(done)
        a, b = (Side(label=f"v{s.version.number}", outcomes=s.outcomes, template_text=s.version.text, model=self.model)
                for s in sides)
        result = compare(a, b, seed=self.settings.seed)
        self.report.confirmation = Confirmation(
            n=result.n, start_passed=result.a.passed, winner_passed=result.b.passed, start_pass_rate=result.a.pass_rate,
            winner_pass_rate=result.b.pass_rate, gain=result.pass_diff.estimate, low=result.pass_diff.low,
            high=result.pass_diff.high, p_value=result.mcnemar_p, direction=result.direction, verdict=result.verdict)
        self.report.bias_note = BIAS_NOTE.format(n=len(self.report.scored))

    # -- proposals ----------------------------------------------------------------------------------------

    async def _propose(self, number: int, incumbent: Scored) -> list[Outcome]:
        """The round's candidates of ``incumbent``, in a fixed order: few-shot (seeded reorderings of the
        incumbent's demonstrations when it has some; draws of the whole grid in round 1, then of the
        incumbent's k and its neighbours, each round a new draw; sizes too small to show every label
        skipped), constrain, rewrite."""
        settings = self.settings
        base = incumbent.prompt
        out: list[Outcome] = []
        if FEWSHOT in settings.strategies:
            out.extend(reorder(base, settings.reorders, seed=settings.seed, round_number=number,
                               demo_ids=self._demo_ids(incumbent.version)))
            if not self.folds.pool:
                out.append(Discard(FEWSHOT, "fewshot", "no case to draw demonstrations from"))
            else:
                drawn, skipped = covering_grid(settings.grid, self.labels, len(self.folds.pool))
                wanted = self._grid(number, base, drawn)
                for k in sorted(set(settings.grid)):
                    if k in skipped:
                        if number == 1:  # said once: the labels do not change
                            out.append(Discard(FEWSHOT, f"fewshot k={k}", cover_reason(k, self.labels or 0),
                                               {"k": k, "labels": self.labels}))
                    elif k not in wanted:
                        continue
                    elif k <= len(self.folds.pool):
                        out.extend(fewshot(base, self.folds.pool, k, seed=settings.seed, draw=number - 1, form=form)
                                   for form in fewshot_layouts(base))
                    elif number == 1:  # said once: the pool does not grow
                        out.append(Discard(FEWSHOT, f"fewshot k={k}", f"the pool has only {len(self.folds.pool)} "
                                                                      "cases", {"k": k}))
        if CONSTRAIN in settings.strategies:
            out.extend(constrain(base, self.answers))
        if REWRITE in settings.strategies:
            out.extend(await self._rewrites(number, incumbent))
        return out

    def _demo_ids(self, version: Version) -> list[str] | None:
        """The pool case ids of ``version``'s demonstrations, in order: from the provenance of the nearest
        candidate (itself or a parent) that set them; None for demonstrations written by hand."""
        for _ in range(len(self.seen) + 1):  # bounded by the versions this search made
            provenance = version.provenance or {}
            demos = (provenance.get("settings") or {}).get("demos")
            if demos is not None:
                return [str(case_id) for case_id in demos]
            if self.record is None or provenance.get("search") != self.record.id or provenance.get("parent") is None:
                return None
            version = self.store.version(version.prompt, int(provenance["parent"]))
        return None

    def _grid(self, number: int, base: Prompt, grid: list[int]) -> list[int]:
        """The few-shot sizes of ``grid`` drawn this round: all of them in round 1 (or when the incumbent's
        number of demonstrations is not one of them), else the incumbent's and its neighbours."""
        have = demonstrations(base)
        if number == 1 or have not in grid:
            return grid
        index = grid.index(have)
        return grid[max(0, index - 1): index + 2]

    async def _rewrites(self, number: int, incumbent: Scored) -> list[Outcome]:
        """Ask the proposer for rewrites of ``incumbent`` shown a sample of its search-fold failures."""
        failing = [o for o in incumbent.outcomes if not o.passed]
        if not failing:
            return [Discard(REWRITE, "rewrite", f"v{incumbent.version.number} fails no case of the search fold")]
        random.Random(f"workbench-rewrite:{self.settings.seed}:{number}").shuffle(failing)
        failures = [{"input": self.by_id[o.case_id].vars, "expected": self.by_id[o.case_id].expected,
                     "output": o.error or o.output} for o in failing[:5] if o.case_id in self.by_id]
        messages: list[Message] = rewrite_request(incumbent.prompt, failures, self.settings.rewrites)
        params = {"temperature": 0, "max_tokens": PROPOSER_MAX_TOKENS}
        price = price_batch(self.proposer_rates, [messages], params) if self.budget.usd is not None else 0.0
        if not self.budget.allows(1, price, self._reserve()):
            return [Discard(REWRITE, "rewrite", "no room left in the budget for the proposer's call")]
        try:
            completion = await self.client.complete(CompletionRequest(self.proposer, messages, params),
                                                    kind="proposer")
        except ProviderError as error:
            self._sync()
            if error.kind in FATAL_KINDS:
                raise
            return [Discard(REWRITE, "rewrite", f"the proposer's call failed: {error}")]
        if not completion.cached:
            self.budget.spent_usd += completion.cost_usd or 0.0
        self._sync()
        return parse_rewrites(completion.text, incumbent.prompt, self.settings.rewrites, round_number=number,
                              proposer=self.proposer)

    # -- scoring ------------------------------------------------------------------------------------------

    async def _score(self, prompt: Prompt, version: Version, label: str, number: int,
                     fold: str) -> AsyncGenerator[SearchEvent, None]:
        """Score ``version`` on a fold through the runner (``only=`` the fold's cases); ``_take`` returns it."""
        ids = set(self.folds.search_ids if fold == "search" else self.folds.confirmation_ids)
        plan = plan_run(self.project, self.store, prompt, model=self.model, split=DEV)
        yield CandidateStarted(number, label, version, fold, len(ids))
        attempts = self.client.calls
        run_id = None
        # ``execute`` is an async generator: closed with this one, it ends its run and releases its lock now.
        running = cast("AsyncGenerator[RunEvent, None]", execute(
            plan, self.store, self.client, concurrency=self.project.settings.concurrency, only=ids))
        async with aclosing(running) as events:
            async for event in events:
                if isinstance(event, RunStarted):
                    run_id = event.run.id
                elif isinstance(event, CaseDone):
                    yield CaseScored(label, event.done, event.total, event.result.passed)
        assert run_id is not None
        results = [result for result in self.store.results(run_id, scores=False) if result.case_id in ids]
        spent = [result for result in results if not result.cached]
        outcomes = run_outcomes(self.store, self.store.run(run_id), results)
        self._last = Scored(prompt, version, label, outcomes, calls=self.client.calls - attempts,
                            usd=sum(result.cost_usd or 0.0 for result in spent))

    def _take(self) -> Scored:
        """The version ``_score`` has just scored."""
        assert self._last is not None
        scored, self._last = self._last, None
        return scored

    def _spend(self, scored: Scored) -> None:
        self.budget.spent_usd += scored.usd
        self._sync()

    def _sync(self) -> None:
        """The calls spent: the client's attempts since the search started, retries included (what the
        provider received, and bills), not the cases scored."""
        assert self.report is not None
        self.budget.spent_calls = self.client.calls - self.calls_base
        self.report.calls, self.report.usd = self.budget.spent_calls, self.budget.spent_usd

    def _discard(self, number: int, incumbent: Scored, discard: Discard) -> CandidateRecord:
        assert self.report is not None
        record = CandidateRecord(round=number, strategy=discard.strategy, label=discard.label,
                                 settings=discard.settings, parent=incumbent.version.number, discarded=discard.reason)
        self.report.candidates.append(record)
        return record

    def _save(self, final: bool = False) -> None:
        assert self.report is not None and self.record is not None
        self.report.seconds = round(time.monotonic() - self.started, 3)
        self.report.budget = self.budget.to_dict()
        if final:
            self.report.verdict = self.report.describe()
        self.store.save_search(self.record.id, self.report.to_dict(), status=self.report.status if final else None)
