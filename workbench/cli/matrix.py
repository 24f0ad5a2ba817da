"""Provides matrix runs: ``workbench run P1,P2 --model a,b,c`` runs every (prompt, model) pair at once under
one progress display, then sets the runs side by side."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from workbench.cli import ThresholdFailed
from workbench.cli.output import Progress, echo_json, percent, table
from workbench.errors import WorkbenchError
from workbench.project import Project
from workbench.prompts import Prompt
from workbench.store import Store


def split_names(value: str, option: str, noun: str) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; a name given twice or left empty is a usage error naming
    ``option`` (``--model``) and what it names (``model``)."""
    names = [name.strip() for name in value.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise click.UsageError(f"{option} {value!r}: name each {noun} once, separated by commas")
    return names


def run_matrix(project: Project, store: Store, prompts: list[Prompt], models: list[str | None], *,
               dataset: str | None, split: str | None, as_written: bool, use_cache: bool, as_json: bool,
               fail_under: float | None) -> None:
    """Run each prompt on each model (a model of None: the prompt's own), every plan and every model's key
    checked before the first call; the runs go at once, each model's calls bounded by ``concurrency`` as
    in a single run, under one progress line. Prints a table of the runs (or their summaries as JSON) and
    the ``compare`` command that sets them against the first; ``fail_under`` (0-1 or a percentage) raises
    ``ThresholdFailed`` naming every pair below it."""
    from workbench.reports import dollars, milliseconds, summarize
    from workbench.runner import make_client, plan_run

    plans = [plan_run(project, store, prompt, model=model, dataset=dataset, split=split, as_written=as_written)
             for prompt in prompts for model in models]
    client = make_client(project, store, use_cache=use_cache,
                         on_notice=lambda line: click.echo(f"\n{line}", err=True))
    for name in dict.fromkeys(plan.model for plan in plans):
        # An unknown model or a missing key stops the matrix before any model is called.
        client.preflight(name)
    for plan in plans:
        for notice in plan.notices:
            click.echo(f"warning: {plan.version.label} on {plan.model}: {notice}", err=True)
    run_ids = asyncio.run(_execute_all(project, store, client, plans, quiet=as_json))
    summaries = [summarize(store, run_id) for run_id in run_ids]
    if as_json:
        echo_json([summary.to_dict() for summary in summaries])
    else:
        click.echo(table(["prompt", "model", "run", "pass rate", "errors", "cost", "latency p50/p95"], [
            [f"{s.prompt}@v{s.version}", s.model, f"{s.run_id} ({s.status})",
             f"{percent(s.pass_rate)} ({s.passed}/{s.completed})", str(s.errors), dollars(s.cost_usd),
             f"{milliseconds(s.latency_p50_ms)} / {milliseconds(s.latency_p95_ms)}"] for s in summaries]))
        if len({plan.testset_hash for plan in plans}) == 1:
            click.echo(f"\ncompare them: workbench compare {' '.join(str(s.run_id) for s in summaries)}")
        else:
            click.echo("\nthe runs used different test sets: compare only runs of the same cases")
    all_errors(store, summaries)
    if fail_under is not None:
        threshold = fail_under / 100 if fail_under > 1 else fail_under
        below = [f"{s.prompt}@v{s.version} on {s.model}" for s in summaries if s.pass_rate < threshold]
        if below:
            raise ThresholdFailed(f"pass rate below --fail-under {percent(threshold)}: {', '.join(below)}")


def all_errors(store: Store, summaries: list[Any]) -> None:
    """Raise a ``WorkbenchError`` (exit 2) when every case of a run ended in an error: nothing was measured
    (a server down, a key refused case by case), which a pass rate of 0% and exit 0 would hide from CI."""
    broken = [s for s in summaries if s.completed and s.errors == s.completed]
    if not broken:
        return
    first = next((r.error for r in store.results(broken[0].run_id, scores=False) if r.error), "")
    runs = ", ".join(f"run {s.run_id} ({s.prompt}@v{s.version} on {s.model})" for s in broken)
    raise WorkbenchError(f"every case of {runs} ended in an error, so nothing was measured; the first: {first}",
                         hint="the results are kept: fix the cause and run again, which retries them")


async def _execute_all(project: Project, store: Store, client: Any, plans: list[Any], *, quiet: bool) -> list[int]:
    """Execute ``plans`` concurrently with one client; returns their run ids in ``plans`` order. A fatal
    error in one run cancels the others (each keeps what it finished) and is raised."""
    from workbench.runner import CaseDone, RunStarted, execute

    run_ids = [-1] * len(plans)
    done = [0] * len(plans)
    passed = [0] * len(plans)
    errors = [0] * len(plans)
    totals = [len(plan.cases) for plan in plans]
    progress = None if quiet else Progress(sum(totals), f"{len(plans)} runs")

    def redraw() -> None:
        if progress is not None:
            progress.update(sum(done), sum(passed), sum(errors))

    async def one(index: int, plan: Any) -> None:
        # Each run's figures are the runner's (kept cases of a resumed run included), summed over the runs.
        async for event in execute(plan, store, client, concurrency=project.settings.concurrency):
            if isinstance(event, RunStarted):
                run_ids[index] = event.run.id
                totals[index] = event.total
                done[index], passed[index], errors[index] = (event.already_done, event.already_passed,
                                                             event.already_errors)
                if event.resumed:
                    click.echo(f"\nresuming run {event.run.id} ({plan.version.label} on {plan.model}): "
                               f"{event.already_done} of {event.total} cases already done", err=True)
                if progress is not None:
                    progress.total = max(sum(totals), 1)
                redraw()
            elif isinstance(event, CaseDone):
                done[index], passed[index], errors[index] = event.done, event.passed, event.errors
                redraw()

    try:
        async with asyncio.TaskGroup() as group:
            for index, plan in enumerate(plans):
                group.create_task(one(index, plan))
    except BaseExceptionGroup as failed:
        # One run's fatal error (a key refused mid-run) is the matrix's: raised as it would be alone.
        raise failed.exceptions[0] from None
    finally:
        if progress is not None:
            progress.close()
    return run_ids
