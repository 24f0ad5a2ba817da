"""Provides the prompt search dialog (``workbench optimize`` in the TUI), opened from the workspace.

The form holds the search's settings, prefilled with the command line's defaults (``SearchSettings()``):
the budget in calls (and in dollars), the strategies, the seed and the proposer. Starting runs
``optimize.search`` (the function the command line runs) in an async worker on the event loop, like a run;
each event it yields arrives as ``SearchEventArrived`` and fills the candidates' table and the status line.
Cancelling stops the worker; the search, closed, marks itself ``cancelled`` and keeps every candidate it
scored, each a stored version already (the command line's Ctrl+C). At the end the report's verdict and
the confirmation figure are shown, and the winner can be applied (``optimize.apply_winner``, the command
line's ``--apply``); the dialog then dismisses with the version applied, for the workspace to show.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from workbench.errors import WorkbenchError
from workbench.prompts import Prompt
from workbench.reports import dollars, percent
from workbench.store import Version
from workbench.text import one_line
from workbench.tui.access import workbench_app
from workbench.tui.messages import SearchEventArrived, SearchStopped
from workbench.tui.screens.dialogs import entered_number, entered_whole
from workbench.tui.text import join, literal, markup
from workbench.tui.widgets import Table
from workbench.tui.widgets.toolbar import model_options

if TYPE_CHECKING:
    from workbench.optimize import SearchReport, SearchSettings

SEARCH_GROUP = "search"
CANCELLED = "cancelled: the candidates scored so far are kept as versions"
KEYS_FORM = "ctrl+r start · escape close"
KEYS_RUNNING = "escape cancel (the candidates scored so far are kept)"
KEYS_APPLY = "ctrl+s apply the winner · escape close"
KEYS_DONE = "escape close"
COLUMNS = (("version", "version"), ("round", "round"), ("candidate", "candidate"), ("fold", "search fold"),
           ("calls", "calls so far"), ("note", ""))
"""The candidates' table, as the command line's: a candidate is named by its strategy and settings
(``fewshot k=2``, ``constrain labels``, ``rewrite 1``); the calls are the search's total when it was scored;
the note says why a candidate was discarded. At 80 columns everything but the note fits."""
LABEL_WIDTH = 24


class SearchScreen(ModalScreen[Version | None]):
    """Search for a better version of ``start`` on ``model``; dismisses with the winner's version when it
    was applied, else None."""

    BINDINGS = [
        Binding("ctrl+r", "start", "Start", id="start-search"),
        Binding("ctrl+s", "apply", "Apply", id="apply-winner"),
        Binding("escape", "escape", "Cancel / close", id="close-search"),
    ]

    def __init__(self, start: Prompt, model: str, version: int | None = None) -> None:
        super().__init__()
        self.start = start
        """The prompt searched from: the file's text, saved as a version."""
        self.model = model
        self.version = version
        """The start's version number (for the title)."""
        self.report: SearchReport | None = None
        """The search's report: the core's own object, filled in as the search goes."""
        self.outcome = ""
        """``finished``, ``cancelled`` or ``failed`` once the search stopped."""
        self.error = ""
        """The one line the search stopped on (a failure)."""
        self._searching = False
        self._current: str | None = None
        """The row of the version being scored on the search fold."""
        self._start_row: str | None = None
        """The start's row until its search-fold figure is known."""
        self._start_total = 0
        self._winner_row: str | None = None
        self._discarded = 0
        self._step = ""
        """What the search is doing, for the status line."""
        self._progress = ""
        """Cases of the version being scored (``5/12``)."""

    # The form ------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        from workbench.optimize import STRATEGIES, SearchSettings

        defaults = SearchSettings()  # the command line's defaults
        budget = defaults.budget()
        project = workbench_app(self).project
        start = f"v{self.version}" if self.version else "the saved text"
        with Vertical(classes="dialog search"):
            yield Static(markup("[b]Search prompts[/b] · $name from $start on $model · never on the test split",
                                name=self.start.name, start=start, model=self.model), id="search-title")
            with Vertical(id="search-form"):
                with Horizontal(classes="form-row"):
                    yield Label("calls")
                    yield Input("" if budget.calls is None else str(budget.calls), placeholder="no limit",
                                type="integer", id="budget-calls", compact=True)
                    yield Label("USD")
                    yield Input("" if budget.usd is None else f"{budget.usd:g}", placeholder="no limit",
                                type="number", id="budget-usd", compact=True)
                    yield Label("seed")
                    yield Input(str(defaults.seed), type="integer", id="seed", compact=True)
                with Horizontal(classes="form-row"):
                    yield Label("strategies")
                    for name in STRATEGIES:
                        yield Checkbox(name, value=name in defaults.strategies, id=f"strategy-{name}",
                                       compact=True)
                with Horizontal(classes="form-row"):
                    yield Label("proposer")
                    yield Select(model_options(project), prompt=f"the searched model ({self.model})",
                                 allow_blank=True, id="proposer", compact=True)
            yield Table(id="candidates")
            yield Static("", id="search-status")
            with VerticalScroll(id="search-report"):
                yield Static("", id="search-verdict")
            with Horizontal(classes="buttons"):
                yield Static(KEYS_FORM, id="search-keys", classes="keys")
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", variant="warning", id="cancel")
                yield Button("Apply", variant="success", id="apply")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        table = self.query_one("#candidates", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.query_one("#search-status", Static).update(markup(
            "[dim]A call budget left empty means none when a USD budget is given (the command line's "
            "--budget-calls and --budget-usd).[/dim]"))
        self._show_phase()
        self.query_one("#budget-calls", Input).focus()

    @property
    def searching(self) -> bool:
        """True while the search goes (escape then cancels it)."""
        return self._searching

    @searching.setter
    def searching(self, value: bool) -> None:
        self._searching = value
        self.refresh_bindings()

    def _settings(self) -> SearchSettings:
        """The form's settings, checked as the command line checks its options."""
        from workbench.optimize import STRATEGIES, SearchSettings

        proposer = self.query_one("#proposer", Select).value
        settings = SearchSettings(
            strategies=tuple(name for name in STRATEGIES if self.query_one(f"#strategy-{name}", Checkbox).value),
            budget_calls=entered_whole(self.query_one("#budget-calls", Input), "the call budget"),
            budget_usd=entered_number(self.query_one("#budget-usd", Input), "the USD budget"),
            seed=entered_whole(self.query_one("#seed", Input), "the seed") or 0,
            proposer=proposer if isinstance(proposer, str) else None)
        settings.check()
        return settings

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        """Start the search with the form's settings (a setting it cannot use is shown, nothing starts)."""
        if self.searching or self.outcome:
            return
        try:
            settings = self._settings()
        except WorkbenchError as error:
            self._show_error(str(error))
            return
        self.searching = True
        self._step, self._progress = "starting: the folds, the budget, the starting version", ""
        self._show_phase()
        self._show_status()
        self.search_prompts(settings)

    # The search ----------------------------------------------------------------------------------------

    @work(exclusive=True, group=SEARCH_GROUP, exit_on_error=False)
    async def search_prompts(self, settings: SearchSettings) -> None:
        """Run the search on the event loop, posting each event to the handlers; what the search scored
        is in the store whatever happens."""
        from workbench.optimize import search
        from workbench.providers.client import ensure_litellm
        from workbench.runner import make_client

        app = workbench_app(self)
        try:
            # The import may still be under way in the warm-up thread: wait for it off the UI thread.
            await asyncio.to_thread(ensure_litellm)
            client = make_client(app.project, app.store,
                                 on_notice=lambda line: self.notify(line, severity="warning"))
            events = search(app.project, app.store, self.start, settings, model=self.model, client=client)
            # Closed (cancelled or not), the search ends its run, marks itself and keeps what it scored.
            async with aclosing(events):
                async for event in events:
                    self.post_message(SearchEventArrived(event))
        except WorkbenchError as error:
            self.post_message(SearchStopped(str(error)))
        except Exception as error:  # the search stops; what it scored is in the store; the app stays up
            self.post_message(SearchStopped(one_line(error)))
        except asyncio.CancelledError:
            self.post_message(SearchStopped(CANCELLED, cancelled=True))
            raise
        finally:
            self.searching = False

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Stop the search; every candidate scored stays a stored version."""
        if self.searching:
            self._step, self._progress = "cancelling", ""
            self._show_status()
            self.workers.cancel_group(self, SEARCH_GROUP)

    @on(SearchEventArrived)
    def show_event(self, message: SearchEventArrived) -> None:
        """Fill the table in and move the status line."""
        from workbench.optimize import (
            CandidateDone,
            CandidateStarted,
            CaseScored,
            RoundDone,
            SearchFinished,
            SearchStarted,
        )

        event = message.event
        table = self.query_one("#candidates", DataTable)
        if isinstance(event, SearchStarted):
            self.report = event.report
            self.version = event.start.number
        elif isinstance(event, CandidateStarted):
            self._fill_start()
            step = f"round {event.round}: " if event.round else ""
            self._step = f"{step}scoring {event.label} on the {event.fold} fold"
            self._progress = f"0/{event.total}"
            self._current = None
            if event.fold == "search":
                key = f"v{event.version.number}"
                table.add_row(literal(key), str(event.round) if event.round else "-",
                              literal("start" if not event.round else event.label, LABEL_WIDTH),
                              f"0/{event.total}", "", "", key=key)
                table.move_cursor(row=table.row_count - 1)
                self._current = key
                if not event.round:
                    self._start_row, self._start_total = key, event.total
        elif isinstance(event, CaseScored):
            self._progress = f"{event.done}/{event.total}"
            if self._current is not None:
                table.update_cell(self._current, "fold", f"{event.done}/{event.total}")
        elif isinstance(event, CandidateDone):
            self._fill_start()
            record = event.record
            if record.discarded is not None or record.version is None:
                self._discarded += 1
                table.add_row("-", str(record.round), literal(record.label, LABEL_WIDTH), "discarded", "",
                              literal(record.discarded), key=f"discarded-{self._discarded}")
            else:
                key = f"v{record.version}"
                table.update_cell(key, "fold", f"{record.passed}/{record.n} ({percent(record.pass_rate)})",
                                  update_width=True)
                table.update_cell(key, "calls", str(self.report.calls if self.report else record.calls),
                                  update_width=True)
                self._current = None
            self._mark_winner()
        elif isinstance(event, RoundDone):
            r = event.record
            self._step = f"round {r.round} done: {'a supported gain' if r.supported else 'no supported gain'}"
            self._progress = ""
        elif isinstance(event, SearchFinished):
            self.report = event.report
            self._fill_start()
            self._mark_winner()
            if self._winner_row is not None:  # the table (smaller now, beside the report) shows the winner
                table.move_cursor(row=table.get_row_index(self._winner_row))
            self.outcome = "finished"
            self._show_report()
            self._show_phase()
        self._show_status()

    def _fill_start(self) -> None:
        """The start's row, once the search knows its search-fold figure (after its scoring). Its calls stay
        blank: by the next event the proposer may have been called too (the status line has the total)."""
        report = self.report
        if self._start_row is None or report is None or report.start_search_rate is None:
            return
        rate = report.start_search_rate
        self.query_one("#candidates", DataTable).update_cell(
            self._start_row, "fold", f"{round(rate * self._start_total)}/{self._start_total} ({percent(rate)})",
            update_width=True)
        if self._current == self._start_row:
            self._current = None
        self._start_row = None

    def _mark_winner(self) -> None:
        """Star the version leading on the search fold (the report's winner)."""
        report = self.report
        table = self.query_one("#candidates", DataTable)
        if report is None or report.winner_version is None:
            return
        key = f"v{report.winner_version}"
        if key == self._winner_row or key not in table.rows:
            return
        if self._winner_row is not None:
            table.update_cell(self._winner_row, "version", literal(self._winner_row))
        table.update_cell(key, "version", literal(f"{key}★"), update_width=True)
        self._winner_row = key

    @on(SearchStopped)
    def show_stop(self, message: SearchStopped) -> None:
        """Cancelled or failed: what was scored is kept (the report says so), the row being scored says why."""
        self.outcome = "cancelled" if message.cancelled else "failed"
        self.error = "" if message.cancelled else message.error
        table = self.query_one("#candidates", DataTable)
        if self._current is not None and self._current in table.rows:
            table.update_cell(self._current, "fold", "cancelled" if message.cancelled else "stopped",
                              update_width=True)
        if self.report is None:
            # Nothing started (a setting the search cannot use, a model it cannot call): fix the form.
            self.outcome = ""
            self._show_error(message.error)
            self._show_phase()
            return
        self._show_report()
        self._show_phase()
        self._show_status()
        self.notify(f"Search {self.report.search_id} {self.outcome}: {len(self.report.scored)} candidates kept "
                    "as versions", severity="warning" if message.cancelled else "error", timeout=8)

    # What is shown -------------------------------------------------------------------------------------

    def _show_phase(self) -> None:
        """The form before the search, the cancel button during it, apply and close after it."""
        done = bool(self.outcome)
        self.query_one("#search-form").display = not self.searching and not done
        self.query_one("#start", Button).display = not self.searching and not done
        self.query_one("#cancel", Button).display = self.searching
        self.query_one("#close", Button).display = not self.searching
        apply = self.query_one("#apply", Button)
        apply.display = done
        apply.disabled = not self._can_apply()
        keys = KEYS_RUNNING if self.searching else KEYS_FORM if not done else (
            KEYS_APPLY if self._can_apply() else KEYS_DONE)
        self.query_one("#search-keys", Static).update(keys)
        self.refresh_bindings()
        if self.searching:
            self.query_one("#candidates", DataTable).focus()
        elif done:
            self.query_one("#apply" if self._can_apply() else "#close", Button).focus()

    def _show_status(self) -> None:
        from workbench.optimize.report import INCONCLUSIVE

        report = self.report
        line: Content
        if report is None:
            line = markup("$what", what=self._doing())
        elif self.searching:
            line = markup("search $id · $what · spent $spent", id=report.search_id, what=self._doing(),
                          spent=spent(report))
        elif self.outcome == "finished" and report.outcome in INCONCLUSIVE:
            line = markup("[b $error]search $id measured nothing[/] ($outcome): no verdict · spent $spent",
                          id=report.search_id, outcome=report.outcome, spent=spent(report))
        elif self.outcome == "finished":
            line = markup("[b]search $id finished[/b]: $n scored · spent $spent", id=report.search_id,
                          n=scored(report), spent=spent(report))
        elif self.outcome == "cancelled":
            line = markup("[b $warning]search $id cancelled[/]: $n scored so far, kept as versions (history "
                          "lists them) · spent $spent", id=report.search_id, n=scored(report), spent=spent(report))
        else:
            line = markup("[b $error]search $id stopped[/]: $error · $n kept as versions · spent $spent",
                          id=report.search_id, error=self.error, n=scored(report), spent=spent(report))
        self.query_one("#search-status", Static).update(line)

    def _doing(self) -> str:
        return f"{self._step} {self._progress}" if self._progress else self._step

    def _show_error(self, error: str) -> None:
        self.query_one("#search-status", Static).update(markup("[b $error]✗[/] $error", error=error))

    def _show_report(self) -> None:
        """The verdict, the confirmation figure, why the search stopped, and whether Apply would write."""
        report = self.report
        if report is None:
            return
        lines = [markup("[b]verdict[/b] $verdict", verdict=report.verdict or report.describe())]
        confirmed = report.confirmation_text()
        if confirmed is not None and report.confirmation is not None:
            lines.append(markup("[b]confirmation[/b] on $n cases never used to choose: $text",
                                n=report.confirmation.n, text=confirmed))
        why_not = self._why_not()
        if why_not is None:
            lines.append(markup("[b $success]Apply[/] writes v$winner to $file (ctrl+s); its text now, v$start, "
                                "stays a stored version", winner=report.winner_version,
                                file=self.start.path.name, start=report.start_version))
        else:
            lines.append(markup("[dim]nothing to apply: $why[/dim]", why=why_not))
        if report.stop_reason and report.status == "finished":
            lines.append(markup("[b]stopped[/b] $reason", reason=report.stop_reason))
        if confirmed is not None:
            lines.append(markup("[dim]search fold: v$winner $wr against v$start's $sr; $note[/dim]",
                                winner=report.winner_version, wr=percent(report.winner_search_rate),
                                start=report.start_version, sr=percent(report.start_search_rate),
                                note=report.bias_note))
        self.query_one("#search-verdict", Static).update(join(lines, "\n"))

    def _why_not(self) -> str | None:
        """Why the winner cannot be applied (None: it can), by the command line's rule."""
        from workbench.optimize import should_apply

        if self.report is None:
            return "no search yet"
        if self.report.applied:
            return "the winner is applied"
        return should_apply(self.report)

    def _can_apply(self) -> bool:
        return not self.searching and bool(self.outcome) and self._why_not() is None

    # Apply and close -----------------------------------------------------------------------------------

    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        """Write the winner to the prompt file and adopt it (``--apply``); dismiss with its version."""
        from workbench.optimize import apply_winner

        if self.report is None or not self._can_apply():
            return
        try:
            version = apply_winner(workbench_app(self).store, self.report, self.start.path)
        except WorkbenchError as error:
            self._show_error(str(error))
            self.notify(str(error), severity="error", timeout=8)
            return
        self.dismiss(version)

    def action_escape(self) -> None:
        """Cancel the search while it goes, else close."""
        if self.searching:
            self.action_cancel()
        else:
            self.dismiss(None)

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        """Close (a search going is cancelled by escape or its button first)."""
        if not self.searching:
            self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Start only from the form, apply only a winner the rule lets through."""
        if action == "start":
            return not self.searching and not self.outcome
        if action == "apply":
            return self._can_apply()
        return True


def spent(report: SearchReport) -> str:
    """What the search spent, against its budget (``48 of 500 calls``, ``$0.0123 of $1``)."""
    budget = report.budget
    calls = f"{report.calls} of {budget['calls']} calls" if budget.get("calls") is not None else \
        f"{report.calls} calls"
    if budget.get("usd") is not None:
        return f"{calls}, {dollars(report.usd)} of ${budget['usd']:g}"
    return calls + (f", {dollars(report.usd)}" if report.usd else "")


def scored(report: SearchReport) -> str:
    """``3 candidates``: those scored on the search fold."""
    n = len(report.scored)
    return f"{n} candidate{'' if n == 1 else 's'}"

