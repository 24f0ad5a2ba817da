"""Provides ``workbench review``: walk through a run's outputs and record human verdicts."""

from __future__ import annotations

import json
import os

import click

from workbench.cli import cli
from workbench.cli.commands import _project
from workbench.store import Store

KEYS = "[g]ood  [b]ad  [c]orrect  [s]kip  [q]uit"


def _show_case(row: dict, expected: object, position: int, total: int) -> None:
    verdict = "pass" if row["passed"] else ("error" if row["error"] else "fail")
    click.echo(f"\n── case {row['case_id']} ({position}/{total}) · automatic verdict: {verdict} "
               f"· score {row['score']:.2f}")
    for message in json.loads(row["messages_json"] or "[]"):
        click.echo(click.style(f"[{message['role']}] ", bold=True) + str(message.get("content", "")))
    click.echo(click.style("expected: ", bold=True) + json.dumps(expected, ensure_ascii=False))
    click.echo(click.style("output:   ", bold=True) + str(row["error"] or row["output"]))
    for score in row["scores"]:
        click.echo(f"  {score['scorer']}: {score['value']:.2f} {score['reason'] or ''}".rstrip())


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
    from workbench.reports import resolve_run_ref

    project = _project(ctx)
    store = Store(project.db_path)
    run = resolve_run_ref(store, run_ref)
    expected = {case.id: case.expected for case in store.testset_cases(run.testset_hash)}
    done = {r["case_id"] for r in store.reviews(version_id=run.version_id)} if unreviewed else set()
    rows = [row for row in store.results(run.id, failures_only=failures) if row["case_id"] not in done]
    counts = {"good": 0, "bad": 0, "corrected": 0}
    for position, row in enumerate(rows, 1):
        _show_case(row, expected.get(row["case_id"]), position, len(rows))
        choice = click.prompt(KEYS, type=click.Choice(list("gbcsq")), show_choices=False, default="s")
        if choice == "q":
            break
        if choice == "g":
            store.set_review(run.version_id, row["case_id"], "good", output=row["output"])
            counts["good"] += 1
        elif choice == "b":
            store.set_review(run.version_id, row["case_id"], "bad", output=row["output"])
            counts["bad"] += 1
        elif choice == "c":
            text = _correction(row["output"])
            if text:
                store.set_review(run.version_id, row["case_id"], "bad", correction=text, output=row["output"])
                counts["corrected"] += 1
    click.echo(f"\nreviewed: {counts['good']} good, {counts['bad']} bad, {counts['corrected']} corrected")
