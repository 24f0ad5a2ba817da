"""Provides the compare view: the statistics and verdict of ``workbench compare``, the flipped cases
(regressions first) with both outputs side by side, and the template diff; ``enter`` on a flipped case
opens its inputs, expected answer and both outputs in full."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from workbench.reports import dollars, percent
from workbench.store import Store
from workbench.tui.access import workbench_app
from workbench.tui.loading import load_in_thread
from workbench.tui.messages import ComparisonLoaded, LoadFailed
from workbench.tui.screens.dialogs import FlipScreen, FlipSide
from workbench.tui.text import join, literal, markup, plain

if TYPE_CHECKING:
    from workbench.compare import CaseOutcome


class CompareScreen(Screen[None]):
    """Run B against run A, case by case."""

    BINDINGS = [
        # A priority binding, so the footer names it over the table's own (hidden) enter.
        Binding("enter", "open_flip", "Both outputs", priority=True, id="open-flip"),
        Binding("escape", "app.pop_screen", "Back", id="back"),
    ]
    AUTO_FOCUS = "#flips"  # the arrow keys move among the flipped cases at once, enter opens one

    def __init__(self, run_a: int, run_b: int) -> None:
        super().__init__()
        self.run_a = run_a
        self.run_b = run_b
        self.loaded: ComparisonLoaded | None = None
        """The comparison shown, with its flipped cases' inputs and outcomes (None until loaded)."""

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="compare"):
            yield Static("", id="compare-summary")
            with TabbedContent(id="compare-tabs"):
                with TabPane("Flips", id="flips-tab"):
                    yield DataTable(id="flips", cursor_type="row", zebra_stripes=True)
                with TabPane("Template diff", id="diff-tab"), VerticalScroll(id="diff-pane"):
                    yield Static("", id="template-diff")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#flips", DataTable)
        for key in ("case", "flip", "A output", "B output"):
            table.add_column(key, key=key)
        self.query_one("#compare-summary", Static).loading = True
        self.load()

    @work(thread=True, exclusive=True, group="load-compare", exit_on_error=False)
    def load(self) -> None:
        """Compute the comparison in a thread with its own connection."""
        from workbench.compare import compare
        from workbench.evaluation import run_side
        from workbench.reports import run_label

        costs = workbench_app(self).project.settings.costs  # a local model priced as decide prices it

        def comparison(store: Store) -> ComparisonLoaded:
            runs = [store.run(run_id) for run_id in (self.run_a, self.run_b)]
            sides = [run_side(store, run, run_label(store, run), costs) for run in runs]
            result = compare(sides[0], sides[1], shared_only=True)
            flipped = {flip.case_id for flip in result.flips}
            # A flipped case has the same inputs and expected answer in both runs (or it is not paired):
            # A's stored case, else B's when A's result predates the cases table.
            cases = {**store.result_cases(self.run_b), **store.result_cases(self.run_a)}
            by_a = {o.case_id: o for o in sides[0].outcomes if o.case_id in flipped}
            by_b = {o.case_id: o for o in sides[1].outcomes if o.case_id in flipped}
            return ComparisonLoaded(result, {case_id: cases[case_id] for case_id in flipped if case_id in cases},
                                    {case_id: (by_a[case_id], by_b[case_id]) for case_id in flipped})

        load_in_thread(self, comparison)

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        summary = self.query_one("#compare-summary", Static)
        summary.loading = False
        summary.update(markup("[b $error]✗[/] $error", error=message.error))

    @on(ComparisonLoaded)
    def show_comparison(self, message: ComparisonLoaded) -> None:
        self.loaded = message
        result = message.comparison
        lines = []
        for name, side in (("A", result.a), ("B", result.b)):
            cost = "-" if side.cost_per_1k_usd is None else f"{dollars(side.cost_per_1k_usd)}/1k"
            lines.append(markup(f"[b]{name}[/b] $label: $figures", label=side.label, figures=(
                f"{percent(side.pass_rate)} [{percent(side.pass_rate_low)}, {percent(side.pass_rate_high)}] "
                f"· score {side.mean_score:.3f} · errors {side.errors} · {cost}")))
        d = result.pass_diff
        lines.append(plain(f"B − A: {d.estimate * 100:+.1f} points (95% CI {d.low * 100:+.1f} to "
                           f"{d.high * 100:+.1f}) · {result.only_b} improved, {result.only_a} regressed · "
                           f"McNemar p = {result.mcnemar_p:.3g}"))
        if result.excluded:
            lines.append(markup(f"[dim]{result.excluded} cases on one side only were left out[/dim]"))
        if result.changed:
            # Cases edited between the runs are not paired: the verdict is on the unchanged cases only.
            noun = "case" if result.changed == 1 else "cases"
            lines.append(markup(f"[b $warning]{result.changed} {noun} changed between the runs (inputs or expected "
                                "answer), left out:[/] $ids", ids=", ".join(result.changed_cases)))
        colour = {"better": "$success", "worse": "$error"}.get(result.direction, "$warning")
        lines.append(markup(f"[b {colour}]$verdict[/]", verdict=result.verdict))
        summary = self.query_one("#compare-summary", Static)
        summary.loading = False
        summary.update(join(lines, "\n"))
        table = self.query_one("#flips", DataTable)
        for flip in result.flips:
            table.add_row(literal(flip.case_id), literal("regressed", style="red") if flip.regression
                          else literal("improved", style="green"),
                          literal(flip.output_a, 40), literal(flip.output_b, 40), key=flip.case_id)
        diff = result.template_diff or "the two templates are identical"
        self.query_one("#template-diff", Static).update(Syntax(diff, "diff", theme="ansi_dark", word_wrap=True))
        self.refresh_bindings()

    def _flip_key(self) -> str | None:
        table = self.query_one("#flips", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``enter`` opens a flipped case only on the flips tab, once they are loaded (else the key goes
        on to the focused widget)."""
        if action == "open_flip":
            tabs = self.query_one("#compare-tabs", TabbedContent)
            loaded = self.loaded
            return tabs.active == "flips-tab" and loaded is not None and bool(loaded.comparison.flips)
        return True

    @on(DataTable.RowSelected, "#flips")
    def flip_selected(self, event: DataTable.RowSelected) -> None:
        self.open_flip(str(event.row_key.value))

    @on(TabbedContent.TabActivated)
    def tab_changed(self) -> None:
        self.refresh_bindings()

    def action_open_flip(self) -> None:
        """Open the flipped case under the cursor: inputs, expected answer and both outputs."""
        key = self._flip_key()
        if key is not None:
            self.open_flip(key)

    def open_flip(self, case_id: str) -> None:
        """Show one flipped case in full."""
        if self.loaded is None:
            return
        result = self.loaded.comparison
        flip = next((flip for flip in result.flips if flip.case_id == case_id), None)
        if flip is None:
            return
        outcome_a, outcome_b = self.loaded.outcomes[case_id]
        sides = [_side(name, figures.label, outcome)
                 for name, figures, outcome in (("A", result.a, outcome_a), ("B", result.b, outcome_b))]
        self.app.push_screen(FlipScreen(case_id, flip.regression, self.loaded.cases.get(case_id), *sides))


def _side(name: str, label: str, outcome: CaseOutcome) -> FlipSide:
    """One side of a flipped case: its verdict (a human review already applied) and output or error."""
    verdict = "error" if outcome.error else ("pass" if outcome.passed else "fail")
    return FlipSide(name=name, label=label, passed=outcome.passed,
                    verdict=f"{verdict} · score {outcome.score:.2f}", output=outcome.error or outcome.output)
