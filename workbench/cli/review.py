"""Provides ``workbench review``: walk through a run's outputs and record human verdicts."""

from __future__ import annotations

import json
import os

import click

from workbench.cli import cli
from workbench.cli.commands import _project
from workbench.reviews import failing_results, verdict_word
from workbench.store import NO_OUTPUT, Result, Store

KEYS = "[g]ood  [b]ad  [c]orrect  [s]kip  [q]uit"


def _show_case(result: Result, expected: object, position: int, total: int) -> None:
    click.echo(f"\n── case {result.case_id} ({position}/{total}) · automatic verdict: {verdict_word(result)} "
               f"· score {result.score:.2f}")
    for message in result.messages or []:
        click.echo(click.style(f"[{message['role']}] ", bold=True) + str(message.get("content", "")))
    click.echo(click.style("expected: ", bold=True) + json.dumps(expected, ensure_ascii=False))
    click.echo(click.style("output:   ", bold=True) + str(result.error or result.output))
    for score in result.scores:
        click.echo(f"  {score.scorer}: {score.value:.2f} {score.reason or ''}".rstrip())


def _correction(output: str | None) -> str | None:
    """The corrected output: from $VISUAL/$EDITOR when set, else typed at the prompt."""
    if os.environ.get("VISUAL") or os.environ.get("EDITOR"):
        edited = click.edit(output or "")
        return edited.strip() if edited is not None else None
    return click.prompt("corrected output", default=output or "", show_default=False).strip()


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--failures", is_flag=True, help="Only the cases that failed.")
@click.option("--unreviewed", is_flag=True, help="Skip cases already reviewed for this version.")
@click.pass_context
def review(ctx: click.Context, run_ref: str, failures: bool, unreviewed: bool) -> None:
    """Review RUN's outputs one by one: good, bad, correct (a corrected output) or skip.

    Reviews are kept per (case, version): they override the automatic verdict as the `human`
    scorer and corrections feed the fine-tuning export.
    """
    from workbench.refs import resolve_run_ref

    project = _project(ctx)
    store = Store(project.db_path)
    run = resolve_run_ref(store, run_ref)
    expected = {case.id: case.expected for case in store.testset_cases(run.testset_hash)}
    done = set(store.reviews(run.version_id)) if unreviewed else set()
    # Failing as everywhere (reviews.failing): the verdict with this version's human reviews applied.
    results = failing_results(store, run) if failures else store.results(run.id)
    rows = [result for result in results if result.case_id not in done]
    if not rows:
        what = "failing " if failures else ""
        click.echo(f"no {'unreviewed ' if unreviewed else ''}{what}cases to review")
        return
    counts = {"good": 0, "bad": 0, "corrected": 0}
    for position, result in enumerate(rows, 1):
        _show_case(result, expected.get(result.case_id), position, len(rows))
        if result.error:  # a review of no output would judge the case's next answers unseen
            click.echo(f"  ({NO_OUTPUT}; run the case again to review its answer)")
            continue
        choice = click.prompt(KEYS, type=click.Choice(list("gbcsq")), show_choices=False, default="s")
        if choice == "q":
            break
        if choice == "g":
            store.set_review(run.version_id, result.case_id, "good", output=result.output)
            counts["good"] += 1
        elif choice == "b":
            store.set_review(run.version_id, result.case_id, "bad", output=result.output)
            counts["bad"] += 1
        elif choice == "c":
            text = _correction(result.output)
            if text:
                store.set_review(run.version_id, result.case_id, "bad", correction=text, output=result.output)
                counts["corrected"] += 1
    click.echo(f"\nreviewed: {counts['good']} good, {counts['bad']} bad, {counts['corrected']} corrected")
