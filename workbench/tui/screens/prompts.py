"""Provides the home screen: every prompt with its latest and best score, versions, trend and plateau
badge; the project's test sets and default model. Enter opens a prompt."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.reports import DRIFT_MARK, percent, sparkline
from workbench.tui.access import workbench_app
from workbench.tui.loading import load_in_thread
from workbench.tui.messages import LoadFailed, PromptsLoaded
from workbench.tui.text import literal, markup, plain
from workbench.tui.widgets import Table


class PromptsScreen(Screen[None]):
    """The project's prompts."""

    BINDINGS = [
        Binding("enter", "open", "Open", id="open-prompt"),
        Binding("h", "history", "History", id="prompt-history"),
        Binding("r", "refresh", "Refresh", id="refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="home"):
            with Vertical(id="prompts-pane"):
                yield Static("Prompts", classes="pane-title")
                yield Table(id="prompts")
            with Vertical(id="side-pane"):
                yield Static("", id="project-info")
                yield Static("Test sets", classes="pane-title")
                yield Static("", id="testsets")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#prompts", DataTable)
        table.add_column("prompt", key="prompt")
        table.add_column("latest", key="latest")
        table.add_column("best", key="best")
        table.add_column("vers", key="versions")
        table.add_column("trend", key="trend")
        table.add_column("", key="badge")
        table.loading = True
        self._show_project()

    def on_screen_resume(self) -> None:
        """Shown first, or back from a prompt (whose figures may have changed): load the overview."""
        self.load_rows()

    def _show_project(self) -> None:
        from workbench.overview import testset_files

        project = workbench_app(self).project
        self.query_one("#project-info", Static).update(markup(
            "project [b]$project[/b]\ndefault model [b]$model[/b]", project=project.root.name,
            model=project.settings.model))
        files = testset_files(project)
        self.query_one("#testsets", Static).update(
            plain("\n".join(path.name for path in files) or "none: add a .jsonl file under datasets/"))

    @work(thread=True, exclusive=True, group="load-prompts", exit_on_error=False)
    def load_rows(self) -> None:
        """Compute the overview in a thread (with its own database connection)."""
        from workbench.overview import prompt_rows

        project = workbench_app(self).project
        load_in_thread(self, lambda store: PromptsLoaded(prompt_rows(project, store)))

    @on(PromptsLoaded)
    def show_rows(self, message: PromptsLoaded) -> None:
        table = self.query_one("#prompts", DataTable)
        selected = table.cursor_row
        table.clear()
        for row in message.rows:
            badge = "[b $warning]plateau[/]" if row.on_plateau else ("[b $error]error[/]" if row.problem else "")
            best = f"{percent(row.best_pass_rate)} v{row.best_version}" if row.best_version else "-"
            # † when a shown point was measured on an earlier version of the test set (see the history).
            trend = sparkline(row.trend[-12:]) + (DRIFT_MARK if any(row.earlier_testset[-12:]) else "")
            table.add_row(literal(row.name), percent(row.latest_pass_rate), best, str(row.versions), trend,
                          badge, key=row.name)
        table.loading = False
        if message.rows:
            table.move_cursor(row=min(selected, len(message.rows) - 1))
        else:
            self.notify("No prompt yet: add a .prompt file under prompts/", severity="warning")

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#prompts", DataTable).loading = False
        self.notify(message.error, severity="error", timeout=10)

    def _selected(self) -> str | None:
        table = self.query_one("#prompts", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    @on(DataTable.RowSelected, "#prompts")
    def open_selected(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        """Open the selected prompt."""
        name = self._selected()
        if name:
            workbench_app(self).open_prompt(name)

    def action_history(self) -> None:
        """Open the selected prompt's history."""
        from workbench.tui.screens.history import HistoryScreen

        name = self._selected()
        if name:
            self.app.push_screen(HistoryScreen(name))

    def action_refresh(self) -> None:
        """Reload the figures."""
        self.load_rows()
