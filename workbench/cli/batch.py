"""Provides provider batch runs on the command line: ``workbench run PROMPT --batch`` (``run_batch``) and
``workbench batch list|status|collect|cancel|forget``."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from workbench.cli import cli
from workbench.cli.output import echo_json, table
from workbench.errors import WorkbenchError
from workbench.project import Project, open_project
from workbench.store import Batch, Store


def _project(ctx: click.Context) -> Project:
    # Not commands._project: the run command imports this module (no cycle between the two).
    return open_project(ctx.obj.get("project_dir"))


def run_batch(project: Project, store: Store, prompt: Any, *, model: str | None, dataset: str | None,
              split: str | None, as_written: bool, use_cache: bool, as_json: bool) -> None:
    """``run PROMPT --batch``: submit the run's uncached cases as a provider batch, or poll the batch it waits
    for (writing its results once it has ended); returns at once either way."""
    from workbench.batch import batch_model, submit
    from workbench.runner import make_client, plan_run

    client = make_client(project, store, use_cache=use_cache)
    # An unsupported model is refused before the test set is even rendered, and before any call.
    batch_model(model or prompt.model or project.settings.model, client.models)
    plan = plan_run(project, store, prompt, model=model, dataset=dataset, split=split, as_written=as_written)
    for notice in plan.notices:
        click.echo(f"warning: {notice}", err=True)
    report = asyncio.run(submit(project, store, plan, client))
    if as_json:
        echo_json(report.to_dict())
        return
    _say(report)


def _say(report: Any) -> None:
    from workbench.reports import dollars

    batch: Batch | None = report.batch
    if report.action == "cached":
        click.echo(f"run {report.run.id} ({report.run.status}): every case was answered from the cache "
                   f"({report.from_cache} now); nothing to send")
        return
    assert batch is not None
    if report.action == "submitted":
        cached = f"; {report.from_cache} answered from the cache" if report.from_cache else ""
        click.echo(f"submitted batch {batch.id} ({batch.provider_batch_id}): {report.submitted} cases of run "
                   f"{report.run.id} on {batch.model}{cached}")
        click.echo(f"estimated price at the batch discount: {dollars(report.estimate_usd)}"
                   + ("" if report.estimate_usd is not None else " (the model's price is unknown)"))
        click.echo(f"follow it with 'workbench batch status {batch.id}'; collect it with 'workbench batch collect "
                   f"{batch.id}' or the same run command")
        return
    click.echo(_status_line(batch))
    if report.action == "pending":
        click.echo(f"run {report.run.id} waits for it: nothing written yet; poll again later")
        return
    wrote = f"wrote {report.written} results" if report.written else "nothing new to write"
    click.echo(f"{wrote}; run {report.run.id} is {report.run.status}")
    if report.missing or report.errored:
        parts = [f"{report.missing} cases have no result" if report.missing else "",
                 f"{report.errored} errored" if report.errored else ""]
        click.echo(f"{' and '.join(part for part in parts if part)}: 'workbench run {report.run.prompt} --batch "
                   f"--model {batch.model}' sends them again")


def _status_line(batch: Batch) -> str:
    counts = batch.request_counts
    done = (f"{counts.get('completed', 0)} done, {counts.get('failed', 0)} failed of {counts.get('total', 0)}"
            if counts else "no counts yet")
    collected = "collected" if batch.collected_utc else "pending"
    return f"batch {batch.id} ({batch.provider_batch_id}): {batch.status}, {done} requests; {collected}"


def _rows(batches: list[Batch]) -> list[list[Any]]:
    from workbench.reports import dollars

    return [[b.id, b.provider_batch_id, b.run_id, b.model, b.status,
             f"{b.request_counts.get('completed', 0)}/{b.request_counts.get('failed', 0)}/"
             f"{b.request_counts.get('total', len(b.case_ids))}",
             dollars(b.estimate_usd), "yes" if b.collected_utc else "no", b.created_utc[:19].replace("T", " ")]
            for b in batches]


HEADERS = ["batch", "provider id", "run", "model", "status", "done/failed/total", "estimate", "collected",
           "created (UTC)"]


@cli.group()
def batch() -> None:
    """Provider batch runs ('workbench run PROMPT --batch'): list, follow, collect, cancel or forget them."""


@batch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the batches as JSON.")
@click.pass_context
def list_batches(ctx: click.Context, as_json: bool) -> None:
    """The project's batches, as last seen (no provider call)."""
    from workbench.batch import batch_dict

    store = Store(_project(ctx).db_path)
    batches = store.batches()
    if as_json:
        echo_json([batch_dict(b) for b in batches])
    elif not batches:
        click.echo("no batches yet: 'workbench run PROMPT --batch' submits one")
    else:
        click.echo(table(HEADERS, _rows(batches)))


def _poll_each(ctx: click.Context, ref: str | None, as_json: bool) -> None:
    from workbench.batch import poll
    from workbench.refs import resolve_batch_ref
    from workbench.runner import make_client

    project = _project(ctx)
    store = Store(project.db_path)
    chosen = [resolve_batch_ref(store, ref)] if ref is not None else [b for b in store.batches() if b.pending]
    if not chosen:
        if as_json:
            echo_json([])
        else:
            click.echo("no batch is pending ('workbench batch list' shows them all)")
        return
    client = make_client(project, store)
    failed: list[tuple[Batch, WorkbenchError]] = []

    async def each() -> list[Any]:
        # Each batch on its own: one provider that cannot be reached does not hold up the others' results.
        done = []
        for b in chosen:
            try:
                done.append(await poll(project, store, b, client))
            except WorkbenchError as error:
                if ref is not None:
                    raise
                failed.append((b, error))
        return done

    reports = asyncio.run(each())
    if as_json:
        echo_json([report.to_dict() for report in reports])
    else:
        for report in reports:
            _say(report)
    if failed:
        for b, error in failed[1:]:
            click.echo(f"error: batch {b.id}: {error}", err=True)
        first, error = failed[0]
        raise WorkbenchError(f"batch {first.id}: {error.message}", path=error.path,
                             hint=(error.hint + "; " if error.hint else "") + "the other batches were polled")


@batch.command()
@click.argument("ref", metavar="[BATCH]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print what was found as JSON.")
@click.pass_context
def status(ctx: click.Context, ref: str | None, as_json: bool) -> None:
    """Ask the provider how BATCH (a batch number, provider id or 'last'; default: every pending batch) stands,
    and write its results once it has ended."""
    _poll_each(ctx, ref, as_json)


@batch.command()
@click.argument("ref", metavar="[BATCH]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def collect(ctx: click.Context, ref: str | None, as_json: bool) -> None:
    """Write the results of BATCH (a batch number, provider id or 'last'; default: every pending batch) once the
    provider has ended it; collecting again writes nothing twice."""
    _poll_each(ctx, ref, as_json)


@batch.command()
@click.argument("ref", metavar="BATCH")
@click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
@click.pass_context
def cancel(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Cancel BATCH (a batch number, provider id or 'last') at the provider; what it answered before is still
    collected."""
    from workbench.batch import batch_dict
    from workbench.batch import cancel as cancel_batch
    from workbench.refs import resolve_batch_ref
    from workbench.runner import make_client

    project = _project(ctx)
    store = Store(project.db_path)
    found = resolve_batch_ref(store, ref)
    done = asyncio.run(cancel_batch(store, found, make_client(project, store)))
    if as_json:
        echo_json(batch_dict(done))
        return
    click.echo(_status_line(done))
    click.echo(f"collect what it answered with 'workbench batch collect {done.id}'")


@batch.command()
@click.argument("ref", metavar="BATCH")
@click.option("--json", "as_json", is_flag=True, help="Print the batch as JSON.")
@click.pass_context
def forget(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Stop waiting for BATCH (a batch number, provider id or 'last') without asking its provider (gone for
    good, or its key lost): its run ends partial and the next run sends the cases without a result. The
    provider may still run the batch and charge for it: cancel it there if you can still reach it."""
    from workbench.batch import batch_dict
    from workbench.batch import forget as forget_batch
    from workbench.refs import resolve_batch_ref

    store = Store(_project(ctx).db_path)
    done = forget_batch(store, resolve_batch_ref(store, ref))
    if as_json:
        echo_json(batch_dict(done))
        return
    run = store.run(done.run_id)
    missing = run.n_cases - len(store.done_case_ids(run.id))
    click.echo(f"forgot batch {done.id} ({done.provider_batch_id}): run {run.id} is {run.status}; "
               f"{missing} cases have no result, and 'workbench run {run.prompt}' (with or without --batch) sends them")
    click.echo("the provider may still run the batch and charge for it: cancel it there if you can reach it")
