"""Provides the decision view (``workbench decide`` in the TUI), opened from a prompt's history: the best
prompt against every tuned model of its base on the same held-out cases, the recommendation, and the
report's sections (accuracy, cost, latency, deployment) as tables. Every figure and sentence comes from
``decision.decide`` and ``decision.sections``; when nothing is measured on the held-out split yet, the
``DecisionError``'s message and hint stand in place of the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.cases import TEST
from workbench.names import nfc
from workbench.store import Store
from workbench.tui.access import workbench_app
from workbench.tui.loading import load_in_thread
from workbench.tui.messages import DecisionLoaded, LoadFailed
from workbench.tui.text import join, literal, markup

if TYPE_CHECKING:
    from workbench.decision import Decision, Section

WORKSPACE_HINT = ("in the workspace: pick the {split} split (s) and run the prompt (ctrl+r); pick each tuned model "
                  "(m) and run it too; then r here reloads")
"""What to do in the TUI when the held-out split has no run: the same as the error's command-line hint."""


class DecisionScreen(Screen[None]):
    """Prompting or fine-tuning: ``prompt``'s decision report on the held-out ``split``."""

    BINDINGS = [
        Binding("r", "reload", "Reload", id="reload-decision"),
        Binding("escape", "app.pop_screen", "Back", id="back"),
    ]

    def __init__(self, prompt_name: str, split: str = TEST) -> None:
        super().__init__()
        self.prompt_name = nfc(prompt_name)
        self.split = split
        self.decision: Decision | None = None
        """The report shown (None while loading, or when there is none yet)."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(markup("[b]$name[/b]: prompting or fine-tuning", name=self.prompt_name), id="decision-title")
        with VerticalScroll(id="decision-body"):
            yield Static("", id="decision-summary")
            yield Static("", id="recommendation")
            yield Vertical(id="decision-sections")
            yield Static("", id="decision-notes")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#decision-body").loading = True
        self.load()

    def action_reload(self) -> None:
        """Build the report again (after a run on the held-out split, say)."""
        self.query_one("#decision-body").loading = True
        self.load()

    @work(thread=True, exclusive=True, group="load-decision", exit_on_error=False)
    def load(self) -> None:
        """The decision report, built in a thread with its own connection."""
        from workbench.decision import DecisionError, decide

        project = workbench_app(self).project

        def load(store: Store) -> DecisionLoaded:
            try:
                return DecisionLoaded(decide(project, store, self.prompt_name, self.split))
            except DecisionError as error:
                return DecisionLoaded(None, error=error.message, hint=error.hint or "")

        load_in_thread(self, load)

    @on(DecisionLoaded)
    async def show_decision(self, message: DecisionLoaded) -> None:
        """The report, or in its place why there is none yet."""
        self.decision = message.decision
        sections = self.query_one("#decision-sections", Vertical)
        await sections.remove_children()
        self.query_one("#decision-body").loading = False
        decision = message.decision
        if decision is None:
            self._show_missing(message.error, message.hint)
            return
        from workbench.decision import sections as report_sections

        p = decision.prompt_side
        self.query_one("#decision-summary", Static).update(markup(
            "Measured on the same $n held-out cases of $dataset (split $split); the prompt version was chosen "
            "on other cases: $chosen", n=p.n, dataset=decision.dataset, split=decision.split,
            chosen=decision.chosen_by))
        self.query_one("#recommendation", Static).update(markup(
            "[b]recommendation[/b] [b $accent]$text[/]", text=decision.recommendation))
        widgets = []
        for index, section in enumerate(report_sections(decision)):
            widgets += [Static(markup("[b]$title[/b]", title=section.title), classes="section-title"),
                        self._table(section, index)]
            if section.lines:
                widgets.append(Static(join([markup("  $line", line=line) for line in section.lines], "\n"),
                                      classes="section-lines"))
        await sections.mount_all(widgets)
        self.query_one("#decision-notes", Static).update(join(
            [markup("[b]notes[/b]")] + [markup("  $note", note=note) for note in decision.notes], "\n")
            if decision.notes else markup(""))

    @staticmethod
    def _table(section: Section, index: int) -> DataTable[object]:
        table: DataTable[object] = DataTable(id=f"section-{index}", cursor_type="none", zebra_stripes=True,
                                             classes="section")
        for column, header in enumerate(section.headers):
            table.add_column(header, key=str(column))
        for row in section.rows:
            table.add_row(*(literal(cell) for cell in row))
        return table

    def _show_missing(self, error: str, hint: str) -> None:
        self.query_one("#decision-summary", Static).update(markup("[b $warning]No decision yet[/]: $error",
                                                                  error=error))
        lines = [markup("[b]to measure it[/b]: $hint", hint=hint)] if hint else []
        lines.append(markup("[dim]$what[/dim]", what=WORKSPACE_HINT.format(split=self.split)))
        self.query_one("#recommendation", Static).update(join(lines, "\n"))
        self.query_one("#decision-notes", Static).update("")

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#decision-body").loading = False
        self.query_one("#decision-summary", Static).update(markup("[b $error]✗[/] $error", error=message.error))
        self.notify(message.error, severity="error")
