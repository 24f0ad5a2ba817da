"""Provides ``ResultsTable``: a workspace's cases with their output and verdict, the results and reviews
behind them, and the review actions: mark the selected result good or bad, write a correction, jump to
the next failure. Reviews go through the core store; the verdict cell follows at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message

from workbench.cases import ALL
from workbench.prompts import Prompt
from workbench.records import Case
from workbench.reviews import failing, reviewed
from workbench.store import NO_OUTPUT, Result, Review
from workbench.tui.access import workbench_app
from workbench.tui.cases_state import read_cases_state
from workbench.tui.formatting import expected_text, verdict
from workbench.tui.loading import load_in_thread
from workbench.tui.messages import CasesLoaded
from workbench.tui.text import literal
from workbench.tui.widgets.table import Table

if TYPE_CHECKING:
    from workbench.runner import CaseDone, RunStarted

COLUMNS = ("case", "verdict", "split", "expected", "output")
"""The verdict right after the case: at 80 columns the long texts are cut, never the verdict."""


class ResultsTable(Table):
    """The cases of one version on one split and model, each with its latest output and verdict (a human
    review applied), filled in live during a run; the selected case is the one reviews apply to."""

    @dataclass
    class Reviewed(Message):
        """A review of ``case_id`` was stored (its verdict cell already shows it)."""

        case_id: str

    def __init__(self) -> None:
        super().__init__(id="results")
        self.cases: list[Case] = []
        """The listed cases: the test set's cases on the chosen split."""
        self.results: dict[str, Result] = {}
        """The shown results, by case id (the latest run of this version on the split and model)."""
        self.reviews: dict[str, Review] = {}
        """The version's reviews, by case id."""
        self.version_id: int | None = None
        """The version the results belong to (reviews are stored for it)."""
        self.run_id: int | None = None
        """The run the results come from (None when the version has not run on the split and model)."""
        self.running = False
        """True while a run fills the table in: a case with no result yet is pending (``…``)."""
        self.filter_text = ""
        """Only the cases whose id, expected answer, output or verdict contain this are listed."""
        self.last_failures: set[str] = set()
        """The cases that failed in the version shown before the last ``switch_version`` (for R on a
        version not run yet)."""

    def on_mount(self) -> None:
        for key in COLUMNS:
            self.add_column(key, key=key)

    # Contents ----------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load-cases", exit_on_error=False)
    def load(self, prompt: Prompt | None, split: str, model: str) -> None:
        """Read ``prompt``'s cases on ``split`` with its version's latest results on ``model``, in a thread
        with its own connection; ``CasesLoaded`` comes back here first, then goes on to the screen."""
        project = workbench_app(self).project
        load_in_thread(self, lambda store: CasesLoaded(read_cases_state(project, store, prompt, split, model)))

    @on(CasesLoaded)
    def show(self, message: CasesLoaded) -> None:
        """List the cases loaded with their results (during a run, the results that arrived since they were
        read are kept: they are newer)."""
        state = message.state
        self.cases = [case for case in state.cases if state.split == ALL or case.split == state.split]
        results = state.results
        if self.running and state.version is not None and state.version.id == self.version_id:
            results = {**results, **self.results}
        self.results, self.reviews = results, state.reviews
        if not self.running:
            self.run_id = state.run.id if state.run else None
        self.version_id = state.version.id if state.version else None
        self.fill()

    def fill(self) -> None:
        """List the cases that match the filter, with their output and verdict; the cursor stays on the
        selected case."""
        selected = self.selected_case()
        self.clear()
        for case in self.cases:
            row = self.results.get(case.id)
            word = verdict(row, self.reviews.get(case.id)) if row or not self.running else "…"
            output = (row.error or row.output) if row else ""
            if self.filter_text and self.filter_text not in " ".join(
                    [case.id, expected_text(case.expected), output or "", word]).casefold():
                continue
            self.add_row(literal(case.id), word, case.split, literal(expected_text(case.expected), 18),
                         literal(output, 30), key=case.id)
        if selected is not None and selected.id in self.rows:
            self.move_cursor(row=self.get_row_index(selected.id))

    def switch_version(self, version_id: int) -> None:
        """Show ``version_id`` (a version just saved; ``load`` reads its results): what failed in the
        version shown until now stays at hand in ``last_failures``."""
        self.last_failures = self.failing() or self.last_failures
        self.version_id = version_id

    def set_filter(self, text: str) -> None:
        """List only the cases containing ``text`` (case-insensitive; empty lists them all)."""
        self.filter_text = text.strip().casefold()
        self.fill()

    def selected_case(self) -> Case | None:
        """The case under the cursor (None when nothing is listed)."""
        if not self.row_count or not self.cases:
            return None
        case_id = str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        return next((case for case in self.cases if case.id == case_id), None)

    def failing(self) -> set[str]:
        """The listed cases whose result fails (a human review applied)."""
        return {case.id for case in self.cases
                if case.id in self.results and failing(self.results[case.id], self.reviews.get(case.id))}

    def summary(self) -> str:
        """``12 cases · 9/12 pass (75%)`` (or ``· not run yet``), reviews applied."""
        done = [self.results[case.id] for case in self.cases if case.id in self.results]
        passed = sum(1 for case in self.cases if case.id in self.results
                     and reviewed(self.results[case.id], self.reviews.get(case.id))[0])
        text = f"{len(self.cases)} cases"
        if done:
            text += f" · {passed}/{len(done)} pass ({passed / len(done) * 100:.0f}%)"
        elif self.cases:
            text += " · not run yet"
        return text

    # A run filling the table in ----------------------------------------------------------------------

    def start_run(self, event: RunStarted) -> None:
        """A run started: show the results it kept from an earlier attempt, every other case pending."""
        store, run = workbench_app(self).store, event.run
        self.run_id, self.version_id = run.id, run.version_id
        kept = {result.case_id: result for result in store.results(run.id)}
        self.results = {case.id: kept[case.id] for case in self.cases if case.id in kept}
        self.reviews = store.reviews(run.version_id)
        for case in self.cases:
            if case.id in self.rows:
                row = self.results.get(case.id)
                self.update_cell(case.id, "output", literal(row.output, 30) if row else "", update_width=True)
                self.update_cell(case.id, "verdict", verdict(row, self.reviews.get(case.id)) if row else "…",
                                 update_width=True)

    def case_done(self, event: CaseDone) -> None:
        """One more case completed: show its output (or error) and its stored result's verdict."""
        case_id = event.result.case.id
        row = workbench_app(self).store.result(event.run.id, case_id)
        if row is not None:
            self.results[case_id] = row
        if case_id in self.rows:
            # Widths follow the content as results arrive.
            self.update_cell(case_id, "output", literal(event.result.error or event.result.output, 30),
                             update_width=True)
            self.update_cell(case_id, "verdict", verdict(row, self.reviews.get(case_id)), update_width=True)

    # Reviews -----------------------------------------------------------------------------------------

    def _review_target(self) -> tuple[Case, Result, int] | None:
        case = self.selected_case()
        row = self.results.get(case.id) if case else None
        if case is None or row is None or self.version_id is None:
            self.notify("Run this case first: reviews judge an output", severity="warning")
            return None
        if row.error:  # a review of no output would judge the case's next answers unseen
            self.notify(f"This case {NO_OUTPUT}: run it again to review its answer", severity="warning")
            return None
        return case, row, self.version_id

    def review(self, verdict_name: str) -> None:
        """Mark the selected case's output good or bad, then move to the next failure."""
        target = self._review_target()
        if target is None:
            return
        case, row, version_id = target
        self._store_review(version_id, case.id, verdict_name, None, row.output)
        self.next_failure()

    def correct(self) -> None:
        """Write a corrected output for the selected case (a correction marks the output bad)."""
        from workbench.tui.screens.dialogs import CorrectionScreen

        target = self._review_target()
        if target is None:
            return
        case, row, version_id = target

        def keep(text: str | None) -> None:
            if text:
                self._store_review(version_id, case.id, "bad", text, row.output)

        self.app.push_screen(CorrectionScreen(case.id, row.output or ""), keep)

    def _store_review(self, version_id: int, case_id: str, verdict_name: str, correction: str | None,
                      output: str | None) -> None:
        store = workbench_app(self).store
        store.set_review(version_id, case_id, verdict_name, correction=correction, output=output)
        self.reviews = store.reviews(version_id)
        self.update_cell(case_id, "verdict", verdict(self.results.get(case_id), self.reviews.get(case_id)))
        self.post_message(self.Reviewed(case_id))

    def next_failure(self) -> None:
        """Move to the next listed case that fails and has no review saying otherwise."""
        listed = [str(row.key.value) for row in self.ordered_rows]  # the filter may hide some cases
        count = len(listed)
        for step in range(1, count + 1):
            index = (self.cursor_row + step) % count
            case_id = listed[index]
            result = self.results.get(case_id)
            if result is not None and failing(result, self.reviews.get(case_id)):
                self.move_cursor(row=index)
                return
        self.notify("No unreviewed failure left")
