"""Provides the one way both front ends run a prompt: ``plan_run`` checks everything up front, then
``execute`` calls the model for each case, scores it and streams each result into the store.

A result is written as soon as its case completes, so a killed run loses nothing; running the same
plan again resumes the unfinished run instead of starting over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from workbench.cases import DEFAULT_SPLIT, RUN_SPLITS, cases_hash, load_cases, or_list, select_split
from workbench.errors import ProviderError, WorkbenchError
from workbench.project import Project
from workbench.prompts import Prompt
from workbench.records import Case, Completion, CompletionRequest, Score, public_params
from workbench.scorers import (
    SCORER_ERROR,
    ConfiguredScorer,
    ScoreContext,
    ScorerFailed,
    build_scorers,
    check_cases,
    combine,
)
from workbench.store import Run, Store, Version
from workbench.train_prompt import TrainPrompt, check_form

if TYPE_CHECKING:
    from workbench.providers.client import ModelClient

FATAL_KINDS = frozenset({"auth", "unknown_model", "missing_dependency", "not_found"})
"""Provider failures that no other case would escape: the run stops, keeping what it has."""

SAVE_BATCH = 500
"""The most results written in one transaction."""


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs, checked before the first model call."""

    prompt: Prompt
    version: Version
    model: str
    params: dict[str, Any]
    dataset: str
    split: str
    cases: list[Case]
    testset_hash: str
    scorers: list[ConfiguredScorer]
    messages: dict[str, list[dict[str, Any]]]
    judge_model: str | None = None
    form: TrainPrompt = field(default_factory=TrainPrompt)
    """How the cases were rendered: as written (``version``), or the tuned model's training prompt."""
    notices: tuple[str, ...] = ()
    """What the user should know before the run starts (a tuned model run on another prompt than it learnt)."""


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case."""

    case: Case
    output: str | None
    passed: bool
    score: float
    scores: list[Score] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    completion: Completion | None = None


@dataclass(frozen=True)
class RunStarted:
    """The run is open: ``already_done`` cases were kept from an earlier, interrupted attempt, of which
    ``already_passed`` passed and ``already_errors`` ended in an error."""

    run: Run
    total: int
    already_done: int
    resumed: bool
    already_passed: int = 0
    already_errors: int = 0

    @property
    def pass_rate(self) -> float:
        """The kept cases' pass rate (0 when none was kept): what a progress display starts from."""
        return self.already_passed / self.already_done if self.already_done else 0.0


@dataclass(frozen=True)
class CaseDone:
    """One more case completed: ``done`` cases of ``total`` so far, of which ``passed`` passed and ``errors``
    ended in an error, the cases kept from an earlier attempt included (``RunStarted.already_passed``). The
    live figures every front end shows: the run's summary counts the same results."""

    run: Run
    result: CaseResult
    done: int
    total: int
    passed: int = 0
    errors: int = 0

    @property
    def pass_rate(self) -> float:
        """``passed`` of ``done``: the running pass rate, kept cases included."""
        return self.passed / self.done if self.done else 0.0


@dataclass(frozen=True)
class RunFinished:
    """The run ended: ``status`` is ``finished``, ``partial`` (some cases only) or ``cancelled``."""

    run: Run
    status: str


RunEvent = RunStarted | CaseDone | RunFinished


def make_client(project: Project, store: Store, *, use_cache: bool = True,
                on_notice: Callable[[str], None] | None = None) -> ModelClient:
    """The model client configured from the project's settings, caching in ``store``; ``on_notice``
    receives one-line notices (a rate-limited model's concurrency lowered, then restored)."""
    from workbench.providers.client import ModelClient

    settings = project.settings
    return ModelClient(timeout=settings.timeout, retries=settings.retries, concurrency=settings.concurrency,
                       cache=store, use_cache=use_cache, models=settings.models,
                       models_dir=project.state_dir / "models", on_notice=on_notice)


def default_params(params: dict[str, Any]) -> dict[str, Any]:
    """The prompt's params, with temperature 0 unless it sets one: evaluations should be repeatable."""
    return {"temperature": 0, **params}


def plan_run(project: Project, store: Store, prompt: Prompt, *, model: str | None = None,
             dataset: str | Path | None = None, split: str | None = None, as_written: bool = False) -> RunPlan:
    """Resolve model, test set, split and scorers, render every case, and record the version.

    A tuned model's cases are rendered with its training prompt (``train_prompt``, as its ``model.json``
    records it) unless ``as_written``; a run on other messages than it learnt gets a notice.
    Raises a ``WorkbenchError`` naming the file, line or case for anything wrong, before any call.
    """
    dataset_ref = dataset or prompt.dataset
    if not dataset_ref:
        raise WorkbenchError(f"prompt {prompt.name!r} names no test set", path=prompt.path,
                             hint="add 'dataset: datasets/NAME.jsonl' to its front matter or pass --dataset")
    dataset_path = project.resolve(dataset_ref)
    all_cases = load_cases(dataset_path, expected_key=prompt.expected_key)
    chosen_split = split or prompt.split or DEFAULT_SPLIT
    cases = select_split(all_cases, chosen_split)
    if not cases:
        raise WorkbenchError(f"no cases in split {chosen_split!r}", path=dataset_path,
                             hint=f"pick another split with --split ({or_list(RUN_SPLITS)})")
    scorers = build_scorers(prompt.scorers, project_root=project.root,
                            default_judge_model=project.settings.judge_model, source=str(prompt.path))
    # Data a scorer cannot use is refused here, never scored as a model failure.
    check_cases(scorers, cases, expected_key=prompt.expected_key, source=str(dataset_path))
    model = model or prompt.model or project.settings.model
    form, notices = rendering(project, store, prompt, model, as_written)
    messages = {case.id: form.messages(prompt, case) for case in cases}
    version = store.save_version(prompt)
    testset_hash = cases_hash(cases)
    store.save_testset(_relative(project, dataset_path), cases, testset_hash)
    return RunPlan(
        prompt=prompt, version=version, model=model,
        params=default_params(prompt.params), dataset=_relative(project, dataset_path), split=chosen_split,
        cases=cases, testset_hash=testset_hash, scorers=scorers, messages=messages,
        judge_model=project.settings.judge_model, form=form, notices=tuple(notices),
    )


def rendering(project: Project, store: Store, prompt: Prompt, model: str,
              as_written: bool = False) -> tuple[TrainPrompt, list[str]]:
    """How a run of ``prompt`` on ``model`` renders its cases, and the notices to show: a tuned model with a
    recorded training prompt gets that prompt (unless ``as_written``); a mismatch with what it learnt is
    said in one line."""
    from workbench.providers.tuned import tuned_for

    tuned = tuned_for(project.state_dir / "models", model)
    trained = TrainPrompt.recorded(tuned.info, tuned.folder / "model.json") if tuned is not None else None
    if trained is None:
        return TrainPrompt(), []
    form = TrainPrompt() if as_written else TrainPrompt(trained.mode, trained.instruction)
    why = check_form(store, trained, form.mode, form.instruction, prompt)
    if why is None:
        return form, []
    return form, [f"{model} is run on other messages than it learnt: {why}; its score may not show what it learnt"]


class CaseSource(Protocol):
    """Another way to answer a run's cases than ``execute``'s own workers (``shard.Sharding``: worker
    processes): it takes cases from ``todo`` and puts each result, or the exception that stops the run,
    in ``finished``; returns its tasks (cancelled when the run ends), or None to leave the run to
    ``execute``. ``calls`` is how many of the run's cases need a model call (the rest are cached)."""

    def start(self, plan: RunPlan, todo: asyncio.Queue[Case], finished: asyncio.Queue[CaseResult | BaseException],
              client: ModelClient, concurrency: int, calls: int) -> list[asyncio.Task[None]] | None: ...


async def answer_queue(plan: RunPlan, client: ModelClient, todo: asyncio.Queue[Case],
                       finished: asyncio.Queue[CaseResult | BaseException],
                       slots: asyncio.Semaphore | None = None) -> None:
    """One of a run's workers: answer cases from ``todo`` until it is empty, putting each result in
    ``finished`` (or the exception that stops the run, then return); each case within one of ``slots`` when
    given (a bound shared with other processes' cases, ``workbench.shard``)."""
    while True:
        async with slots or contextlib.nullcontext():
            if todo.empty():
                return
            case = todo.get_nowait()
            try:
                result = await run_case(plan, case, client)
            except BaseException as error:  # handed to the consumer, which decides
                await finished.put(error)
                return
        await finished.put(result)


async def execute(plan: RunPlan, store: Store, client: ModelClient, *, concurrency: int = 4,
                  only: Collection[str] | None = None, source: CaseSource | None = None) -> AsyncIterator[RunEvent]:
    """Run ``plan``'s cases, writing each result as it completes, and yield progress events.

    Closing the iterator early cancels the run cleanly (status ``cancelled``, results kept). A fatal
    provider error (missing key, unknown model) stops the run and is raised after its state is saved.
    ``only`` runs just those cases, within the same run: their earlier results in it are replaced (asked
    again), and the run stays ``partial`` until every case has a result (running it whole resumes it).
    """
    asked = plan.cases if only is None else [case for case in plan.cases if case.id in set(only)]
    # Every answer already cached: no call will be made, so litellm (seconds to import) is not needed; the
    # checks that need no litellm (a key not set) still refuse the run before it opens.
    misses = client.prefetch([CompletionRequest(plan.model, plan.messages[case.id], plan.params) for case in asked])
    client.preflight(plan.model, calls=misses > 0)
    run, resumed = store.start_run(
        version=plan.version, model=plan.model, params=public_params(plan.params),
        testset_hash=plan.testset_hash, dataset=plan.dataset, split=plan.split,
        scorers=plan.prompt.scorers, n_cases=len(plan.cases), prompt_mode=plan.form.mode,
        instruction=plan.form.instruction,
    )
    if only is not None:
        chosen = set(only)
        store.forget_results(run.id, chosen)
        todo = [case for case in plan.cases if case.id in chosen]
        total = len(todo)
    else:
        done_ids = store.done_case_ids(run.id)
        todo = [case for case in plan.cases if case.id not in done_ids]
        total = len(plan.cases)
    # The kept results count in the live figures as they count in the run's summary (a run of ``only`` some
    # cases counts those alone: the others' results are not part of its progress).
    wanted = set() if only is not None else {case.id for case in plan.cases} - {case.id for case in todo}
    kept = [result for result in store.results(run.id, scores=False) if result.case_id in wanted] if wanted else []
    passed, errors = sum(result.passed for result in kept), sum(result.error is not None for result in kept)
    yield RunStarted(run=run, total=total, already_done=total - len(todo), resumed=resumed, already_passed=passed,
                     already_errors=errors)
    # The answers to cache are written with the results, a batch at a time, not one transaction per answer.
    deferred = _DeferredCache(client.cache) if hasattr(client.cache, "put_many") else None
    if deferred is not None:
        client.cache = deferred

    queue: asyncio.Queue[Case] = asyncio.Queue()
    for case in todo:
        queue.put_nowait(case)
    finished: asyncio.Queue[CaseResult | BaseException] = asyncio.Queue()

    calls = min(misses, len(todo))
    started = source.start(plan, queue, finished, client, concurrency, calls) if source and todo else None
    workers = started if started is not None else [asyncio.create_task(answer_queue(plan, client, queue, finished))
                                                    for _ in range(max(1, min(concurrency, len(todo))))]
    status = "cancelled"
    unsaved: list[CaseResult] = []
    try:
        done = total - len(todo)
        while done < total:
            # The results completed so far are written in one transaction before their events are yielded:
            # one per answer when answers arrive one by one, a thousand at once when the cache answers.
            items = [await finished.get()]
            while not finished.empty() and len(items) < SAVE_BATCH:
                items.append(finished.get_nowait())
            unsaved = [item for item in items if not isinstance(item, BaseException)]
            save_results(store, run.id, plan, unsaved)
            unsaved = []
            if deferred is not None:
                deferred.flush()
            for item in items:
                if isinstance(item, BaseException):
                    status = "failed"
                    raise item
                done += 1
                passed += item.passed
                errors += item.error is not None
                yield CaseDone(run=run, result=item, done=done, total=total, passed=passed, errors=errors)
        status = store.end_status(run.id, len(plan.cases))
    finally:
        # No new call starts once the run ends: the queue is emptied first, so even a worker whose
        # cancellation was swallowed (asyncio.wait_for can do that on Python 3.11) takes no further case;
        # calls in flight are cancelled (their HTTP requests closed). The run is marked and its lock
        # released even if a second cancel interrupts the wait.
        while not queue.empty():
            queue.get_nowait()
        for task in workers:
            task.cancel()
        try:
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            try:
                # Answers that completed but were not yet written (the run was stopped between them) are
                # kept, as a worker writing each answer itself would have kept them.
                while not finished.empty():
                    item = finished.get_nowait()
                    if not isinstance(item, BaseException):
                        unsaved.append(item)
                save_results(store, run.id, plan, unsaved)
            finally:
                if deferred is not None:
                    client.cache = deferred.cache
                    deferred.flush()
                store.finish_run(run.id, status)
    yield RunFinished(run=store.run(run.id), status=status)


async def run_case(plan: RunPlan, case: Case, client: ModelClient) -> CaseResult:
    """Call the model for one case and score the answer; non-fatal failures become the case's error."""
    messages = plan.messages[case.id]
    try:
        completion = await client.complete(CompletionRequest(plan.model, messages, plan.params))
    except ProviderError as error:
        if error.kind in FATAL_KINDS:
            raise
        return CaseResult(case, None, False, 0.0, error=str(error), error_kind=error.kind)
    return await score_answer(plan, case, completion, client)


async def score_answer(plan: RunPlan, case: Case, completion: Completion, client: ModelClient) -> CaseResult:
    """Score ``completion``, the model's answer to ``case`` however it was obtained (a call, the cache, a
    provider's batch): an empty answer is an error, never a wrong answer; a judge call that fails for good,
    or a scorer that raises or gives no score, is the case's error. Raises the ``ProviderError`` of a fatal
    judge failure."""
    messages = plan.messages[case.id]
    if completion.empty:
        # No text and no tool call is no answer to score: an error (tried again on resume), never a
        # wrong answer, and never cached.
        return CaseResult(case, completion.text, False, 0.0, error=empty_answer_message(completion, plan.params),
                          error_kind="empty_answer", completion=completion)

    async def judge(request: CompletionRequest) -> Completion:
        return await client.complete(request, kind="judge")

    context = ScoreContext(case=case, output=completion.text, messages=messages, judge=judge,
                           judge_model=plan.judge_model)
    try:
        scores = [await scorer.score(context) for scorer in plan.scorers]
    except ProviderError as error:
        if error.kind in FATAL_KINDS:
            raise
        # The kind names the judge's fault: judge_unreadable (no score in its reply), else judge_<the call's
        # kind> (judge_timeout, judge_rate_limit...), so a report tells a judge's failure from the model's.
        kind = error.kind if error.kind.startswith("judge_") else f"judge_{error.kind}"
        return CaseResult(case, completion.text, False, 0.0, error=f"judge: {error}", error_kind=kind,
                          completion=completion)
    except ScorerFailed as error:
        # A scorer that raised or gave no score said nothing about the answer: the case errors (and is
        # scored again on the next run), like a judge reply with no readable score.
        return CaseResult(case, completion.text, False, 0.0, error=f"scorer: {error}", error_kind=SCORER_ERROR,
                          completion=completion)
    value, passed = combine(scores)
    return CaseResult(case, completion.text, passed, value, scores, completion=completion)


def empty_answer_message(completion: Completion, params: dict[str, Any]) -> str:
    """Why an answer came back empty, and what to do, from its finish reason."""
    reason = completion.finish_reason or "not given"
    text = f"the model returned no text (finish_reason: {reason})"
    if completion.truncated:
        return text + f": it was cut at max_tokens before any text; {truncation_hint(params)}"
    if reason == "content_filter":
        return text + ": the provider's content filter withheld the answer"
    return text


def truncation_hint(params: dict[str, Any]) -> str:
    """What to do about answers cut at max_tokens."""
    limit = params.get("max_tokens") or params.get("max_completion_tokens")
    return f"raise max_tokens{f' (now {limit})' if limit else ''} in the prompt's params"


class _DeferredCache:
    """The response cache while a run writes: answers are kept until ``flush`` writes them in one
    transaction, and read back from here meanwhile."""

    def __init__(self, cache: Any) -> None:
        self.cache = cache
        self.pending: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self.pending.get(key)
        return entry["response"] if entry is not None else self.cache.get(key)

    def get_many(self, keys: Collection[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self.cache.get_many(keys)
        return {**found, **{key: self.pending[key]["response"] for key in keys if key in self.pending}}

    def put(self, key: str, *, model: str, kind: str, response: dict[str, Any]) -> None:
        self.pending[key] = {"key": key, "model": model, "kind": kind, "response": response}

    def flush(self) -> None:
        if self.pending:
            entries, self.pending = list(self.pending.values()), {}
            self.cache.put_many(entries)


def save_results(store: Store, run_id: int, plan: RunPlan, results: list[CaseResult]) -> None:
    """Write ``results`` of ``plan``'s cases into run ``run_id`` in one transaction (nothing when empty)."""
    if results:
        store.record_results(run_id, [
            {"case": result.case, "messages": plan.messages[result.case.id], "completion": result.completion,
             "scores": result.scores, "passed": result.passed, "score": result.score, "error": result.error,
             "error_kind": result.error_kind} for result in results])


def _relative(project: Project, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project.root.resolve()))
    except ValueError:
        return str(path)
