"""Provides ``workbench report``: one run, or two runs compared, as a self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.cli import cli
from workbench.cli.commands import _project
from workbench.store import Store


@cli.command()
@click.argument("runs", metavar="RUN | A B", nargs=-1, required=True)
@click.option("--html", "html_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the report to FILE [default: .workbench/reports/run-N.html, or compare-A-B.html].")
@click.option("--shared", is_flag=True, help="For two runs: compare only the cases both have (when their case "
                                             "sets differ).")
@click.pass_context
def report(ctx: click.Context, runs: tuple[str, ...], html_file: str | None, shared: bool) -> None:
    """Write the HTML report of RUN, or of run B against run A (a run id, 'last' or PROMPT@vN for each):
    summary, per-case table, the prompt's trend; for two runs the comparison, flipped cases and template
    diff. One file with nothing to fetch, fit to attach to a CI job or send to a teammate."""
    from workbench.html_report import comparison_report, default_report_path, run_report, write_report
    from workbench.refs import resolve_run_pair, resolve_run_ref

    if len(runs) > 2:
        raise click.UsageError(f"give one run, or two runs to compare (A B), not {len(runs)}")
    project = _project(ctx)
    store = Store(project.db_path)
    if len(runs) == 1:
        chosen = [resolve_run_ref(store, runs[0])]
        page = run_report(store, chosen[0])
    else:
        from workbench.evaluation import compare_runs

        first, second = resolve_run_pair(store, runs[0], runs[1])
        chosen = [first, second]
        page = comparison_report(store, first, second, compare_runs(store, first, second, shared_only=shared,
                                                                            costs=project.settings.costs))
    path = Path(html_file) if html_file is not None else default_report_path(project.state_dir, chosen)
    click.echo(f"wrote {write_report(path, page)}")
