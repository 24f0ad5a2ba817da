"""Provides the history view: every version's scores on one test set, the trend chart with the best
version marked, the plateau verdict and readiness report; mark two versions to compare them, or open the
decision (prompting or fine-tuning, on the held-out split)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static
from textual_plotext import PlotextPlot

from workbench.names import nfc
from workbench.store import Store
from workbench.tui.access import workbench_app
from workbench.tui.loading import load_in_thread
from workbench.tui.messages import HistoryLoaded, LoadFailed
from workbench.tui.text import markup, plain
from workbench.tui.widgets import Table

if TYPE_CHECKING:
    from workbench.readiness import Readiness
    from workbench.reports import TestsetHistory


class HistoryScreen(Screen[None]):
    """A prompt's versions over time, on one (test set, split, model)."""

    BINDINGS = [
        Binding("space", "mark", "Mark", id="mark-version"),
        Binding("c", "compare", "Compare", id="compare-versions"),
        Binding("d", "decision", "Decision", tooltip="Decide: prompting or fine-tuning", id="open-decision"),
        Binding("escape", "app.pop_screen", "Back", id="back"),
    ]

    def __init__(self, prompt_name: str) -> None:
        super().__init__()
        self.prompt_name = nfc(prompt_name)
        self.tracks: list[TestsetHistory] = []
        self.reports: list[Readiness] = []
        self.marked: list[int] = []
        """Run ids marked for comparison (at most two)."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="history-top"):
            yield Static(markup("[b]$name[/b] history", name=self.prompt_name), id="history-title")
            yield Select([], id="track", prompt="test set", allow_blank=True, compact=True)
        with Horizontal(id="history"):
            with Vertical(id="versions-pane"):
                yield Table(id="versions")
                yield PlotextPlot(id="trend")
            with VerticalScroll(id="readiness-pane"):
                yield Static("", id="readiness")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#versions", DataTable)
        for key, label in (("version", "version"), ("pass", "pass"), ("score", "score"), ("cases", "cases"),
                           ("errors", "err"), ("run", "run"), ("mark", "●")):
            table.add_column(label, key=key)
        table.loading = True
        self.load()

    @work(thread=True, exclusive=True, group="load-history", exit_on_error=False)
    def load(self) -> None:
        """Histories and readiness reports, computed in a thread with its own connection."""
        from workbench.readiness import prompt_status
        from workbench.reports import history

        project = workbench_app(self).project

        def load(store: Store) -> HistoryLoaded:
            histories = history(store, self.prompt_name)
            return HistoryLoaded(histories, prompt_status(project, store, self.prompt_name, histories))

        load_in_thread(self, load)

    @on(HistoryLoaded)
    def show_history(self, message: HistoryLoaded) -> None:
        self.tracks, self.reports = message.tracks, message.reports
        select = self.query_one("#track", Select)
        select.set_options([(plain(f"{t.dataset} [{t.split}] · {t.model}"), index)
                            for index, t in enumerate(self.tracks)])
        from workbench.reports import main_track

        main = main_track(self.tracks)
        if main is not None:
            select.value = self.tracks.index(main)
        else:
            self.query_one("#versions", DataTable).loading = False
            self.query_one("#readiness", Static).update("No run yet: open the prompt and press ctrl+r.")

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#versions", DataTable).loading = False
        self.notify(message.error, severity="error")

    @on(Select.Changed, "#track")
    def show_track(self) -> None:
        value = self.query_one("#track", Select).value
        if not isinstance(value, int):
            return
        track = self.tracks[value]
        table = self.query_one("#versions", DataTable)
        table.clear()
        from workbench.reports import DRIFT_MARK, drift_notes

        for row in track.rows:
            summary = row.summary
            star = ("★" if row.version.number == track.best_version else "") + (DRIFT_MARK if row.drift else "")
            table.add_row(f"v{row.version.number}{star}",
                          f"{summary.pass_rate * 100:.1f}%" if summary else "-",
                          f"{summary.mean_score:.3f}" if summary else "-",
                          f"{summary.completed}/{summary.n_cases}" if summary else "-",
                          str(summary.errors) if summary else "-",
                          str(summary.run_id) if summary else "-", "",
                          key=str(summary.run_id) if summary else f"v{row.version.number}")
        table.loading = False
        table.focus()
        self._plot(track)
        report = next((r for r in self.reports if (r.dataset, r.split, r.model) ==
                       (track.dataset, track.split, track.model)), None)
        if report is not None:
            from workbench.readiness import describe

            # describe() footnotes the points measured on an earlier version of the test set (marked †).
            self.query_one("#readiness", Static).update(plain(describe(report)))
        elif track.rows and any(row.drift for row in track.rows):
            self.query_one("#readiness", Static).update(plain("\n".join(drift_notes(track.rows))))

    def _plot(self, track: TestsetHistory) -> None:
        plot = self.query_one("#trend", PlotextPlot)
        points = [(row.version.number, row.summary.pass_rate * 100) for row in track.rows if row.summary]
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if points:
            numbers, rates = zip(*points, strict=True)
            plt.plot(list(numbers), list(rates), marker="braille")
            best = [(n, r) for n, r in points if n == track.best_version]
            if best:
                plt.scatter([best[0][0]], [best[0][1]], marker="★")
            from workbench.reports import DRIFT_MARK

            marked = {row.version.number for row in track.rows if row.drift}
            plt.xticks(list(numbers), [f"v{n}" + (DRIFT_MARK if n in marked else "") for n in numbers])
        plt.ylim(0, 100)
        plt.title("pass rate by version (%)")
        plot.refresh()

    def action_mark(self) -> None:
        """Mark (or unmark) the selected version's run for comparison."""
        table = self.query_one("#versions", DataTable)
        if not table.row_count:
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if not key.isdigit():
            return
        run_id = int(key)
        if run_id in self.marked:
            self.marked.remove(run_id)
        else:
            self.marked = [*self.marked, run_id][-2:]
        for row_key in table.rows:
            table.update_cell(row_key, "mark", "●" if str(row_key.value).isdigit()
                              and int(str(row_key.value)) in self.marked else "")

    def action_compare(self) -> None:
        """Compare the two marked versions (older as A)."""
        from workbench.tui.screens.compare import CompareScreen

        if len(self.marked) != 2:
            self.notify("Mark two versions with space first", severity="warning")
            return
        first, second = sorted(self.marked)
        self.app.push_screen(CompareScreen(first, second))

    def action_decision(self) -> None:
        """Open the decision: the best prompt against the tuned models on the held-out split."""
        from workbench.tui.screens.decision import DecisionScreen

        self.app.push_screen(DecisionScreen(self.prompt_name))
