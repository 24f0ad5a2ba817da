"""Provides the workspace's review actions: mark the selected result good or bad, write a correction,
jump to the next failure. Reviews go through the core store; the verdict column and detail follow."""

from __future__ import annotations


from textual.widgets import DataTable

from workbench.records import Case
from workbench.reviews import reviewed
from workbench.store import Result, Review
from workbench.tui.formatting import verdict


class ReviewActions:
    """Mixed into the workspace screen, whose state (cases, results, reviews, version) it reads."""

    cases: list[Case]
    results: dict[str, Result]
    reviews: dict[str, Review]
    version_id: int | None

    def _review_target(self) -> tuple[Case, Result] | None:
        case = self._selected_case()
        row = self.results.get(case.id) if case else None
        if case is None or row is None or self.version_id is None:
            self.notify("Run this case first: reviews judge an output", severity="warning")
            return None
        return case, row

    def action_review(self, verdict_name: str) -> None:
        """Mark the selected case's output good or bad."""
        target = self._review_target()
        if target is None:
            return
        case, row = target
        self._store_review(case.id, verdict_name, None, row.output)
        self.action_next_failure()

    def action_correct(self) -> None:
        """Write a corrected output for the selected case."""
        from workbench.tui.screens.dialogs import CorrectionScreen

        target = self._review_target()
        if target is None:
            return
        case, row = target

        def keep(text: str | None) -> None:
            if text:
                self._store_review(case.id, "bad", text, row.output)

        self.app.push_screen(CorrectionScreen(case.id, row.output or ""), keep)

    def _store_review(self, case_id: str, verdict_name: str, correction: str | None, output: str | None) -> None:
        store = self.app.store  # type: ignore[attr-defined]
        assert self.version_id is not None
        store.set_review(self.version_id, case_id, verdict_name, correction=correction, output=output)
        self.reviews = store.reviews(self.version_id)
        self.query_one("#results", DataTable).update_cell(
            case_id, "verdict", verdict(self.results.get(case_id), self.reviews.get(case_id)))
        self._status_from_results()
        self.show_detail()

    def action_next_failure(self) -> None:
        """Move to the next failing, unreviewed case."""
        table = self.query_one("#results", DataTable)
        listed = [str(row.key.value) for row in table.ordered_rows]  # the filter may hide some cases
        count = len(listed)
        for step in range(1, count + 1):
            index = (table.cursor_row + step) % count
            case_id = listed[index]
            result = self.results.get(case_id)
            if result is not None and not reviewed(result, self.reviews.get(case_id))[0]:
                table.move_cursor(row=index)
                return
        self.notify("No unreviewed failure left")
