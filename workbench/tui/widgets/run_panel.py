"""Provides ``RunPanel``: a workspace's run. It runs the prompt (an async worker on the event loop, one run at
a time, cancellable), shows the run status and progress bar in the toolbar, and fills the results table in
as each runner event arrives (``RunEventArrived``); a failure or a cancel is one notification (``RunFailed``).
What completed is in the store whatever happens.

It also drives provider batch runs (``workbench.batch``): it submits the run's cases as one batch, checks
the batch (collecting its results once the provider has ended it) or cancels it, each step in the same
worker group as a run, and shows the pending batch of the prompt and model on the batch line under the
toolbar (``batch_line``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.widgets import ProgressBar, Static

from workbench.errors import WorkbenchError
from workbench.prompts import Prompt
from workbench.text import one_line
from workbench.tui.access import workbench_app
from workbench.tui.messages import BatchStepped, RunEventArrived, RunFailed
from workbench.tui.widgets.results import ResultsTable

if TYPE_CHECKING:
    from workbench.batch import BatchReport
    from workbench.runner import RunPlan
    from workbench.store import Batch

RUN_GROUP = "run"
CANCELLED = "cancelled: completed results are kept; run again to resume"
BATCH_CANCELLED = "cancelled: a batch already submitted goes on at the provider; f9 checks it"
CHECK_HINT = "f9 (Check provider batch) collects it once it has ended"
BATCH_HINT = "f9 checks it and collects it once it has ended; the palette cancels it"
BATCH_STEPS = frozenset({"submit", "check", "cancel"})


class RunPanel(Horizontal):
    """The run status (the listed cases' figures, or the progress of the run going) and the progress bar;
    the run itself, whose results fill ``results`` in."""

    def __init__(self, results: ResultsTable) -> None:
        super().__init__(id="run-panel")
        self.results = results
        self._run_going = False
        self._passed = 0
        """Cases of the run going that passed (automatic verdicts), kept ones included: the runner's count."""
        self._done = 0
        self.pending_batch: Batch | None = None
        """The pending provider batch of the prompt and model shown (``CasesState.batch``)."""
        self.pending_kept = 0
        """Cases of that batch's run answered without it (from the cache, or before)."""
        self.batch_line = Static("", id="batch-status", markup=False)
        """The pending batch, one line under the toolbar (the workspace places it; hidden without one)."""

    def compose(self) -> ComposeResult:
        # The status before the bar: at 80 columns the bar shrinks, the status stays readable.
        yield Static("", id="run-status")
        yield ProgressBar(id="progress", show_eta=True)

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        self.batch_line.display = False

    @property
    def running(self) -> bool:
        """True while a run goes (escape then cancels it, and the footer says so)."""
        return self._run_going

    @running.setter
    def running(self, value: bool) -> None:
        self._run_going = self.results.running = value
        self.refresh_bindings()  # the footer shows "Cancel run" during a run, "Back" otherwise

    @property
    def done(self) -> int:
        """Cases of the run going (or of the last one) that completed, kept ones included."""
        return self._done

    def show_summary(self) -> None:
        """Show the listed cases' figures (``12 cases · 9/12 pass (75%)``, ``· batch 1 pending`` while a
        provider batch is), and the pending batch on the batch line."""
        summary = self.results.summary()
        if self.pending_batch is not None:
            summary = summary.removesuffix(" · not run yet") + f" · batch {self.pending_batch.id} pending"
        self.query_one("#run-status", Static).update(summary)
        self.batch_line.display = self.pending_batch is not None
        if self.pending_batch is not None:
            self.batch_line.update(batch_text(self.pending_batch, self.pending_kept))

    def show_batch(self, batch: Batch | None, kept: int = 0) -> None:
        """Keep the pending batch loaded with the cases (None: there is none); ``show_summary`` shows it."""
        self.pending_batch, self.pending_kept = batch, kept

    # Running -----------------------------------------------------------------------------------------

    def run(self, prompt: Prompt, model: str, split: str, only: set[str] | None = None) -> None:
        """Run ``prompt`` on ``split`` with ``model`` (only the cases ``only`` when given); asking again for
        an answer the table already shows means a fresh call, not the cached one."""
        if self.running:
            return
        self.running = True
        fresh = only is not None and any(case_id in self.results.results for case_id in only)
        self.run_prompt(prompt, model, split, only, not fresh)

    def cancel(self) -> None:
        """Stop the run; what completed stays in the database."""
        self.workers.cancel_group(self, RUN_GROUP)

    @work(exclusive=True, group=RUN_GROUP, exit_on_error=False)
    async def run_prompt(self, prompt: Prompt, model: str, split: str, only: set[str] | None,
                         use_cache: bool) -> None:
        """Plan in a thread, then execute on the event loop, posting each event to the handlers."""
        from workbench.providers.client import ensure_litellm
        from workbench.runner import execute, make_client

        app = workbench_app(self)
        project = app.project
        async with self._reporting(CANCELLED):
            # The import may still be under way in the warm-up thread: wait for it off the UI thread.
            await asyncio.to_thread(ensure_litellm)
            run_plan = await self._plan(prompt, model, split)
            client = make_client(project, app.store, use_cache=use_cache,
                                 on_notice=lambda line: self.notify(line, severity="warning"))
            async for event in execute(run_plan, app.store, client, concurrency=project.settings.concurrency,
                                       only=only):
                self.post_message(RunEventArrived(event))

    async def _plan(self, prompt: Prompt, model: str, split: str) -> RunPlan:
        """``runner.plan_run`` in a thread (with a store of its own), its notices shown."""
        from workbench.runner import plan_run
        from workbench.store import Store

        project = workbench_app(self).project

        def plan() -> RunPlan:
            store = Store(project.db_path)
            try:
                return plan_run(project, store, prompt, model=model, split=split)
            finally:
                store.close()

        run_plan = await asyncio.to_thread(plan)
        for notice in run_plan.notices:  # a tuned model sent other messages than it learnt on
            self.notify(notice, severity="warning", timeout=12)
        return run_plan

    @asynccontextmanager
    async def _reporting(self, cancelled: str) -> AsyncIterator[None]:
        """Around a run or a batch step: a failure becomes one ``RunFailed`` line (the store keeps what was
        done; the app stays up), a cancel the ``cancelled`` line; the panel is free again afterwards."""
        try:
            yield
        except WorkbenchError as error:
            self.post_message(RunFailed(str(error)))
        except Exception as error:
            self.post_message(RunFailed(one_line(error)))
        except asyncio.CancelledError:
            self.post_message(RunFailed(cancelled))
            raise
        finally:
            self.running = False

    # Provider batches --------------------------------------------------------------------------------

    def submit_batch(self, prompt: Prompt, model: str, split: str) -> None:
        """Send ``prompt``'s cases on ``split`` to ``model`` as one provider batch (or, when its run already
        waits for one, check that batch, as ``workbench run --batch`` does)."""
        if not self.running:
            self.running = True
            self.batch_step("submit", prompt, model, split, None)

    def check_batch(self, batch_id: int) -> None:
        """Ask the provider how batch ``batch_id`` stands; collect its results once it has ended."""
        if not self.running:
            self.running = True
            self.batch_step("check", None, "", "", batch_id)

    def cancel_batch(self, batch_id: int) -> None:
        """Ask the provider to cancel batch ``batch_id`` (what it answered before is still collected)."""
        if not self.running:
            self.running = True
            self.batch_step("cancel", None, "", "", batch_id)

    @work(exclusive=True, group=RUN_GROUP, exit_on_error=False)
    async def batch_step(self, step: str, prompt: Prompt | None, model: str, split: str,
                         batch_id: int | None) -> None:
        """One batch step on the event loop (the provider calls go to threads): the outcome is a
        ``BatchStepped``, a failure one ``RunFailed`` line."""
        from workbench.batch import BatchError, batch_model, cancel, poll, submit
        from workbench.providers.client import ensure_litellm
        from workbench.runner import make_client

        assert step in BATCH_STEPS
        app = workbench_app(self)
        project = app.project
        async with self._reporting(BATCH_CANCELLED):
            await asyncio.to_thread(ensure_litellm)
            client = make_client(project, app.store, on_notice=lambda line: self.notify(line, severity="warning"))
            if step == "submit":
                try:  # an unsupported model is refused before the test set is rendered, and before any call
                    batch_model(model, client.models)
                except BatchError as error:
                    raise BatchError(error.message, hint="ctrl+r runs it without a batch; a batch needs an "
                                                         "openai/... model or an alias of one") from None
                assert prompt is not None
                run_plan = await self._plan(prompt, model, split)
                self.post_message(BatchStepped(report=await submit(project, app.store, run_plan, client)))
            elif step == "check":
                assert batch_id is not None
                batch = app.store.batch(batch_id)
                self.post_message(BatchStepped(report=await poll(project, app.store, batch, client)))
            else:
                assert batch_id is not None
                batch = app.store.batch(batch_id)
                self.post_message(BatchStepped(cancelled=await cancel(app.store, batch, client)))

    @on(BatchStepped)
    def show_batch_step(self, message: BatchStepped) -> None:
        """Say what the step did, in the words of ``workbench run --batch`` (the message goes on to the
        screen, which reloads the cases: the batch line and the results follow)."""
        if message.cancelled is not None:
            self.notify(f"{status_line(message.cancelled)}\n{CHECK_HINT}", timeout=12)
        elif message.report is not None:
            self.notify(report_text(message.report), timeout=12)

    @on(RunEventArrived)
    def show_event(self, message: RunEventArrived) -> None:
        """Fill the table in, move the bar and the status (the message goes on to the screen)."""
        from workbench.runner import CaseDone, RunFinished, RunStarted

        event = message.event
        progress = self.query_one(ProgressBar)
        if isinstance(event, RunStarted):
            self.results.start_run(event)
            self._done, self._passed = event.already_done, event.already_passed
            progress.display = True
            progress.update(total=event.total, progress=event.already_done)
            if event.resumed:
                self.notify(f"Resuming run {event.run.id}: {event.already_done} of {event.total} already done")
        elif isinstance(event, CaseDone):
            self.results.case_done(event)
            self._done, self._passed = event.done, event.passed
            progress.update(progress=event.done)
            self.query_one("#run-status", Static).update(
                f"{event.done}/{event.total} · pass {event.pass_rate * 100:.0f}%")
        elif isinstance(event, RunFinished):
            progress.display = False
            self.show_summary()
            self.notify(f"Run {event.run.id} {event.status}: {self._passed}/{self._done} pass")

    @on(RunFailed)
    def show_failure(self, message: RunFailed) -> None:
        """The run stopped: a warning when cancelled, an error otherwise."""
        message.stop()
        self.query_one(ProgressBar).display = False
        self.show_summary()
        severity: SeverityLevel = "warning" if message.error.startswith("cancelled") else "error"
        self.notify(message.error, severity=severity, timeout=8)


# Batch wording (``workbench run --batch`` says the same) ----------------------------------------------------

def status_line(batch: Batch) -> str:
    """``batch 1 (batch_abc): in_progress, 3 done, 0 failed of 12 requests; pending``."""
    collected = "collected" if batch.collected_utc else "pending"
    return f"batch {batch.id} ({batch.provider_batch_id}): {batch.status}, {_requests(batch)}; {collected}"


def _requests(batch: Batch) -> str:
    counts = batch.request_counts
    done = (f"{counts.get('completed', 0)} done, {counts.get('failed', 0)} failed of {counts.get('total', 0)}"
            if counts else "no counts yet")
    return f"{done} requests"


def batch_text(batch: Batch, kept: int) -> str:
    """The batch line: the batch, what it carries, its estimated price and how to collect it."""
    from workbench.reports import dollars

    price = (f"{dollars(batch.estimate_usd)} estimated at the batch discount" if batch.estimate_usd is not None
             else "price unknown")
    return (f"Provider batch {batch.id}: {batch.status}, {_requests(batch)} · {len(batch.case_ids)} sent, "
            f"{kept} cached · {price} · {BATCH_HINT}")


def report_text(report: BatchReport) -> str:
    """What a submit or a check did, in lines."""
    from workbench.reports import dollars

    batch = report.batch
    if report.action == "cached" or batch is None:
        return (f"run {report.run.id} ({report.run.status}): every case was answered from the cache "
                f"({report.from_cache} now); nothing to send")
    if report.action == "submitted":
        cached = f"; {report.from_cache} answered from the cache" if report.from_cache else ""
        price = dollars(report.estimate_usd) + ("" if report.estimate_usd is not None
                                                 else " (the model's price is unknown)")
        return (f"submitted batch {batch.id} ({batch.provider_batch_id}): {report.submitted} cases of run "
                f"{report.run.id} on {batch.model}{cached}\nestimated price at the batch discount: {price}\n"
                f"{CHECK_HINT}")
    if report.action == "pending":
        return f"{status_line(batch)}\nrun {report.run.id} waits for it: nothing written yet; check again later"
    wrote = f"wrote {report.written} results" if report.written else "nothing new to write"
    lines = [status_line(batch), f"{wrote}; run {report.run.id} is {report.run.status}"]
    if report.missing or report.errored:
        parts = [f"{report.missing} cases have no result" if report.missing else "",
                 f"{report.errored} errored" if report.errored else ""]
        lines.append(f"{' and '.join(part for part in parts if part)}: f8 (Run as a provider batch) sends them "
                     "again")
    return "\n".join(lines)
