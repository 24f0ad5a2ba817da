"""Provides ``CasePanes``: the workspace's side tabs: the results table with its filter, the preview of the
prompt rendered for the selected case, and that case's detail (inputs, prompt, output, scores, review)."""

from __future__ import annotations

from textual import on
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Input, Static, TabbedContent, TabPane

from workbench.errors import WorkbenchError
from workbench.prompts import Prompt, render
from workbench.tui.formatting import case_detail, messages_markup
from workbench.tui.text import markup
from workbench.tui.widgets.results import ResultsTable

RESULTS, PREVIEW, DETAIL = "results-tab", "preview-tab", "detail-tab"


class CasePanes(TabbedContent):
    """Results (``#filter``, ``#results``), preview (``#preview``) and detail (``#detail``) tabs."""

    def __init__(self, results: ResultsTable) -> None:
        super().__init__(id="side", initial=RESULTS)
        self.results = results
        field = Input(placeholder="filter: case, expected, output or verdict (e.g. fail)", id="filter",
                      compact=True)
        self.compose_add_child(TabPane("Results", field, results, id=RESULTS))
        self.compose_add_child(TabPane("Preview", VerticalScroll(Static("", id="preview")), id=PREVIEW))
        self.compose_add_child(TabPane("Detail", VerticalScroll(Static("", id="detail")), id=DETAIL))

    def on_mount(self) -> None:
        self.filter_field.display = False

    @property
    def filter_field(self) -> Input:
        """The filter above the results (shown by ``show_filter``)."""
        return self.query_one("#filter", Input)

    def open_tab(self, tab: str) -> None:
        """Show a tab (``results-tab``, ``preview-tab`` or ``detail-tab``); the results take the focus."""
        self.active = tab
        if tab == RESULTS:
            self.results.focus()

    def show_filter(self) -> None:
        """Show the filter above the results and type into it."""
        self.active = RESULTS
        self.filter_field.display = True
        self.filter_field.focus()

    @on(Input.Changed, "#filter")
    def apply_filter(self, event: Input.Changed) -> None:
        self.results.set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def leave_filter(self) -> None:
        self.results.focus()

    @on(DataTable.RowSelected, "#results")
    def open_detail(self) -> None:
        self.active = DETAIL

    def step_back(self) -> bool:
        """One step back: from the preview or detail to the results, else out of the filter (cleared).
        False when there is no step left (the results show, unfiltered)."""
        if self.active != RESULTS:
            self.open_tab(RESULTS)
        elif self.filter_field.display:
            self.filter_field.value = ""
            self.filter_field.display = False
            self.results.focus()
        else:
            return False
        return True

    def show_detail(self) -> None:
        """Show everything about the selected case."""
        case = self.results.selected_case()
        detail = self.query_one("#detail", Static)
        if case is None:
            detail.update("[dim]no case selected[/dim]")
            return
        row = self.results.results.get(case.id)
        detail.update(case_detail(case, row, self.results.reviews.get(case.id), row.messages if row else None))

    def show_preview(self, prompt: Prompt | None) -> WorkbenchError | None:
        """Render ``prompt`` (None: the template has an error) for the selected case; returns the error
        rendering it raised, if any (shown in the preview too)."""
        preview = self.query_one("#preview", Static)
        case = self.results.selected_case()
        if prompt is None:
            preview.update("[dim]fix the template error to see the preview[/dim]")
        elif case is None:
            preview.update("[dim]no case selected[/dim]")
        else:
            try:
                preview.update(markup("[dim]case $id[/dim]\n\n", id=case.id) + messages_markup(render(prompt, case)))
            except WorkbenchError as error:
                preview.update(markup("[b $error]✗[/] $error", error=error))
                return error
        return None
