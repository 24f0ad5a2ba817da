"""Provides ``RunPanel``: a workspace's run. It runs the prompt (an async worker on the event loop, one run at
a time, cancellable), shows the run status and progress bar in the toolbar, and fills the results table in
as each runner event arrives (``RunEventArrived``); a failure or a cancel is one notification (``RunFailed``).
What completed is in the store whatever happens."""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.notifications import SeverityLevel
from textual.widgets import ProgressBar, Static

from workbench.errors import WorkbenchError
from workbench.prompts import Prompt
from workbench.text import one_line
from workbench.tui.access import workbench_app
from workbench.tui.messages import RunEventArrived, RunFailed
from workbench.tui.widgets.results import ResultsTable

RUN_GROUP = "run"
CANCELLED = "cancelled: completed results are kept; run again to resume"


class RunPanel(Horizontal):
    """The run status (the listed cases' figures, or the progress of the run going) and the progress bar;
    the run itself, whose results fill ``results`` in."""

    def __init__(self, results: ResultsTable) -> None:
        super().__init__(id="run-panel")
        self.results = results
        self._run_going = False
        self._passed = 0
        """Cases of the run going that passed (automatic verdicts), kept ones included."""
        self._done = 0

    def compose(self) -> ComposeResult:
        # The status before the bar: at 80 columns the bar shrinks, the status stays readable.
        yield Static("", id="run-status")
        yield ProgressBar(id="progress", show_eta=True)

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

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
        """Show the listed cases' figures (``12 cases · 9/12 pass (75%)``)."""
        self.query_one("#run-status", Static).update(self.results.summary())

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
        from workbench.runner import RunPlan, execute, make_client, plan_run
        from workbench.store import Store

        app = workbench_app(self)
        project = app.project

        def plan() -> RunPlan:
            store = Store(project.db_path)
            try:
                return plan_run(project, store, prompt, model=model, split=split)
            finally:
                store.close()

        try:
            # The import may still be under way in the warm-up thread: wait for it off the UI thread.
            await asyncio.to_thread(ensure_litellm)
            run_plan = await asyncio.to_thread(plan)
            for notice in run_plan.notices:  # a tuned model sent other messages than it learnt on
                self.notify(notice, severity="warning", timeout=12)
            client = make_client(project, app.store, use_cache=use_cache,
                                 on_notice=lambda line: self.notify(line, severity="warning"))
            async for event in execute(run_plan, app.store, client, concurrency=project.settings.concurrency,
                                       only=only):
                self.post_message(RunEventArrived(event))
        except WorkbenchError as error:
            self.post_message(RunFailed(str(error)))
        except Exception as error:  # the run stops; what completed is in the store; the app stays up
            self.post_message(RunFailed(one_line(error)))
        except asyncio.CancelledError:
            self.post_message(RunFailed(CANCELLED))
            raise
        finally:
            self.running = False

    @on(RunEventArrived)
    def show_event(self, message: RunEventArrived) -> None:
        """Fill the table in, move the bar and the status (the message goes on to the screen)."""
        from workbench.runner import CaseDone, RunFinished, RunStarted

        event = message.event
        progress = self.query_one(ProgressBar)
        if isinstance(event, RunStarted):
            self.results.start_run(event)
            self._done = event.already_done
            self._passed = sum(result.passed for result in self.results.results.values())
            progress.display = True
            progress.update(total=event.total, progress=event.already_done)
            if event.resumed:
                self.notify(f"Resuming run {event.run.id}: {event.already_done} of {event.total} already done")
        elif isinstance(event, CaseDone):
            self.results.case_done(event)
            self._done, self._passed = event.done, self._passed + event.result.passed
            progress.update(progress=event.done)
            self.query_one("#run-status", Static).update(
                f"{event.done}/{event.total} · pass {self._passed / max(event.done, 1) * 100:.0f}%")
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
