"""Provides ``workbench compare`` and ``workbench status``: the statistics, the plateau verdict and
the readiness report, as tables or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from workbench.cli import ThresholdFailed, cli
from workbench.cli.commands import _project
from workbench.cli.output import echo_json, percent, table
from workbench.reports import dollars, milliseconds
from workbench.store import Store
from workbench.text import shorten

if TYPE_CHECKING:
    from workbench.compare import Comparison
    from workbench.costs import CostSettings


@cli.command()
@click.argument("runs", metavar="A B [C ...]", nargs=-1, required=True)
@click.option("--shared", is_flag=True, help="Compare only the cases both runs have (when their case sets differ).")
@click.option("--fail-on-regression", is_flag=True,
              help="Exit 1 when a run is significantly worse than A (for CI; with several runs, after Holm's "
                   "adjustment).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the paired bootstrap.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Also write the comparison as JUnit XML (a regression verdict is a failing testcase; each "
                   "flipped case is a testcase). Two runs only.")
@click.pass_context
def compare(ctx: click.Context, runs: tuple[str, ...], shared: bool, fail_on_regression: bool, seed: int,
            as_json: bool, junit_file: str | None) -> None:
    """Compare run B against run A case by case (a run id, 'last' or PROMPT@vN for each).

    For PROMPT@vN the version's latest run on the same test set and split as the other side is used. With
    more runs (A B C ...), each is compared with A, and the McNemar p-values are adjusted together (Holm).
    """
    from workbench.evaluation import compare_runs
    from workbench.refs import resolve_run_pair

    if len(runs) < 2:
        raise click.UsageError("give at least two runs: A B")
    if len(runs) > 2 and junit_file is not None:
        raise click.UsageError("--junit takes exactly two runs")
    project = _project(ctx)
    store = Store(project.db_path)
    if len(runs) > 2:
        _compare_many(store, runs, shared, seed, as_json, fail_on_regression, project.settings.costs)
        return
    first, second = resolve_run_pair(store, *runs)
    result = compare_runs(store, first, second, shared_only=shared, seed=seed, costs=project.settings.costs)
    if junit_file is not None:
        from workbench.junit import write_comparison_junit

        write_comparison_junit(result, Path(junit_file))
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(format_comparison(result))
    if fail_on_regression and result.direction == "worse":
        raise ThresholdFailed(f"regression: {result.verdict}")


def _compare_many(store: Store, refs: tuple[str, ...], shared: bool, seed: int, as_json: bool,
                  fail_on_regression: bool, costs: CostSettings) -> None:
    """Each run of ``refs[1:]`` against ``refs[0]``, as a table (or JSON), with Holm-adjusted p-values."""
    from workbench.evaluation import compare_with_baseline
    from workbench.refs import resolve_run_pair

    items = compare_with_baseline(store, [resolve_run_pair(store, refs[0], ref) for ref in refs[1:]],
                                  shared_only=shared, seed=seed, costs=costs)
    baseline = items[0].comparison.a.label
    if as_json:
        echo_json({"baseline": baseline, "correction": f"Holm over {len(items)} comparisons",
                   "comparisons": [{**item.comparison.to_dict(), "holm_p": item.holm_p,
                                    "holm_direction": item.direction} for item in items]})
    else:
        rows = [[baseline, "", percent(items[0].comparison.a.pass_rate), "", "", "", "baseline"]]
        for item in items:
            result = item.comparison
            rows.append([result.b.label, str(result.n), percent(result.b.pass_rate),
                         f"{result.pass_diff.estimate * 100:+.1f} ({result.pass_diff.low * 100:+.1f} to "
                         f"{result.pass_diff.high * 100:+.1f})", f"{result.mcnemar_p:.3g}", f"{item.holm_p:.3g}",
                         item.direction])
        click.echo(table(["run", "n", "pass rate", "vs A, points (95% CI)", "McNemar p", "Holm p", "verdict"],
                         rows))
        click.echo(f"\n{len(items)} runs compared with {baseline}: p-values adjusted by Holm's method (the chance "
                   "of one false 'better' or 'worse' among them stays under 5%)")
    worse = [item.comparison.b.label for item in items if item.direction == "worse"]
    if fail_on_regression and worse:
        raise ThresholdFailed(f"regression: {', '.join(worse)} significantly worse than {baseline} after Holm's "
                              "adjustment")


def format_comparison(result: Comparison) -> str:
    """The comparison as text: figures, flip table, verdict, flips, template diff."""
    rows = []
    for side in (result.a, result.b):
        rows.append([side.label, side.n, f"{percent(side.pass_rate)} [{percent(side.pass_rate_low)}, "
                     f"{percent(side.pass_rate_high)}]", f"{side.mean_score:.3f}", side.errors,
                     dollars(side.cost_per_1k_usd),
                     f"{milliseconds(side.latency_p50_ms)} / {milliseconds(side.latency_p95_ms)}"])
    lines = [table(["", "n", "pass rate [95% Wilson]", "score", "errors", "cost/1k cases", "latency p50/p95"],
                   rows), ""]
    if result.excluded or result.changed:
        left_out = [f"{result.excluded} cases are on one side only"] if result.excluded else []
        if result.changed:
            cases = "case" if result.changed == 1 else "cases"
            left_out.append(f"{result.changed} {cases} changed between the two runs (inputs or expected answer), "
                            f"left out: {', '.join(result.changed_cases)}")
        lines.append(f"compared the {result.n} {'unchanged ' if result.changed else ''}shared cases; "
                     + "; ".join(left_out))
    d, s = result.pass_diff, result.score_diff
    lines += [
        f"pass rate B - A: {d.estimate * 100:+.1f} points (paired bootstrap 95% CI {d.low * 100:+.1f} to "
        f"{d.high * 100:+.1f})",
        f"mean score B - A: {s.estimate:+.3f} (95% CI {s.low:+.3f} to {s.high:+.3f})",
        f"flips: {result.only_b} improved, {result.only_a} regressed, {result.both_pass} pass in both, "
        f"{result.both_fail} fail in both; exact McNemar p = {result.mcnemar_p:.3g}",
        "",
        f"verdict: {result.verdict}",
    ]
    if result.flips:
        lines += ["", "flipped cases (regressions first):"]
        lines.append(table(["case", "", "A output", "B output"], [
            [f.case_id, "regressed" if f.regression else "improved", shorten(f.output_a, 36),
             shorten(f.output_b, 36)] for f in result.flips]))
    if result.template_diff:
        lines += ["", "template diff:", result.template_diff.rstrip("\n")]
    else:
        lines += ["", "the two templates are identical"]
    return "\n".join(lines)


@cli.command()
@click.argument("prompt", required=False)
@click.option("--run", "run_ref", default=None, metavar="RUN",
              help="Count the training examples of this run (a run id, 'last' or PROMPT@vN), as "
                   "'export --run' would take them.")
@click.option("--model", "-m", default=None, help="Only this model's test sets, and its runs as the source.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, prompt: str | None, run_ref: str | None, model: str | None, as_json: bool) -> None:
    """Where each prompt stands: best version, trend, plateau verdict, readiness to fine-tune."""
    from workbench.evaluation import can_be_chosen
    from workbench.names import nfc
    from workbench.readiness import describe, prompt_status
    from workbench.refs import resolve_run_ref

    project = _project(ctx)
    store = Store(project.db_path)
    # PROMPT@vN names a version: its latest run that can be a source (not one of held-out cases only).
    run = resolve_run_ref(store, run_ref, prefer=lambda run: can_be_chosen(store, run)) \
        if run_ref is not None else None
    if prompt:
        names = [nfc(prompt)]
    elif run is not None:
        names = [run.prompt]
    else:
        names = store.prompt_names()
    if not names:
        click.echo("no prompt has been run yet: workbench run PROMPT")
        return
    if model is not None and not prompt and run is None:
        # Every prompt run on that model; the others have nothing to say about it.
        names = [name for name in names if any(r.model == model for r in store.runs(prompt=name))] or names
    reports = [report for name in names for report in prompt_status(project, store, name, model=model, run=run)]
    if as_json:
        echo_json([report.to_dict() for report in reports])
        return
    for report in reports:
        click.echo(describe(report) + "\n")
