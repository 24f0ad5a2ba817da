"""Provides the compare view: the statistics and verdict of ``workbench compare``, the flipped cases
(regressions first) with both outputs side by side, and the template diff."""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from workbench.tui.loading import load_in_thread
from workbench.tui.messages import DataLoaded, RunFailed
from workbench.tui.text import join, literal, markup, plain


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


class CompareScreen(Screen[None]):
    """Run B against run A, case by case."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="back")]

    def __init__(self, run_a: int, run_b: int) -> None:
        super().__init__()
        self.run_a = run_a
        self.run_b = run_b

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="compare"):
            yield Static("", id="compare-summary")
            with TabbedContent(id="compare-tabs"):
                with TabPane("Flips", id="flips-tab"):
                    yield DataTable(id="flips", cursor_type="row", zebra_stripes=True)
                with TabPane("Template diff", id="diff-tab"), VerticalScroll():
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

        def comparison(store: Any) -> Any:
            sides = []
            for run_id in (self.run_a, self.run_b):
                run = store.run(run_id)
                label = f"{store.version_by_id(run.version_id).label} (run {run.id}, {run.model})"
                sides.append(run_side(store, run, label))
            return compare(sides[0], sides[1], shared_only=True)

        load_in_thread(self, "compare", comparison)

    @on(RunFailed)
    def show_failure(self, message: RunFailed) -> None:
        summary = self.query_one("#compare-summary", Static)
        summary.loading = False
        summary.update(markup("[b $error]✗[/] $error", error=message.error))

    @on(DataLoaded)
    def show_comparison(self, message: DataLoaded) -> None:
        result = message.data
        lines = []
        for name, side in (("A", result.a), ("B", result.b)):
            cost = "-" if side.cost_per_1k_usd is None else f"${side.cost_per_1k_usd:.4f}/1k"
            lines.append(markup(f"[b]{name}[/b] $label: $figures", label=side.label, figures=(
                f"{_percent(side.pass_rate)} [{_percent(side.pass_rate_low)}, {_percent(side.pass_rate_high)}] "
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
