"""Provides ``workbench generate``: new cases for a test set written by a model, shaped like the existing ones,
de-duplicated, never in the test split, appended to the file (``--dry-run`` previews them); the rules are
``workbench.generate``'s."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from workbench.cli import cli
from workbench.cli.commands import _project
from workbench.cli.output import echo_json, table
from workbench.costs import dollars


@cli.command()
@click.argument("dataset", type=click.Path(dir_okay=False))
@click.option("--model", "-m", required=True, help="The model that writes the new cases (an alias or litellm name).")
@click.option("--count", "-n", type=int, required=True, help="How many new cases to add.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the existing cases shown as examples (recorded in each case's provenance).")
@click.option("--instruction", default=None, help="More guidance for the model, e.g. 'vary the length'.")
@click.option("--budget-calls", "budget_calls", type=int, default=None,
              help="At most this many model calls (default: 3 times the calls the count needs, 10 cases a call).")
@click.option("--split", default="train", show_default=True, metavar="train|dev",
              help="The split of the new cases: train or dev, never test.")
@click.option("--expected-key", default="expected", show_default=True,
              help="The expected-answer column of the test set (not an input the model writes).")
@click.option("--dry-run", is_flag=True, help="Generate and show the cases, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result and the cases as JSON.")
@click.pass_context
def generate(ctx: click.Context, dataset: str, model: str, count: int, seed: int, instruction: str | None,
             budget_calls: int | None, split: str, expected_key: str, dry_run: bool, as_json: bool) -> None:
    """Ask MODEL for COUNT new cases like those of DATASET (a .jsonl test set) and append them.

    The new cases have the same input columns, no expected answer (a teacher run labels them), split train,
    synthetic: true and their provenance; duplicates and near-duplicates of any existing case (test cases
    included) or of each other are dropped, and so are bad generations, each counted.
    """
    from workbench.generate import GenerateOptions, generate_cases, prepare, write_generation
    from workbench.runner import make_client
    from workbench.store import Store

    project = _project(ctx)
    path = project.resolve(dataset)
    options = GenerateOptions(model=model, count=count, seed=seed, instruction=instruction,
                              budget_calls=budget_calls, split=split.strip().lower())
    prepare(path, options, expected_key)  # every check before the client (and litellm) is built
    client = make_client(project, Store(project.db_path), use_cache=False)
    client.preflight(model)
    found = asyncio.run(generate_cases(client, path, options, expected_key=expected_key))
    if not dry_run:
        write_generation(found)
    if as_json:
        echo_json(found.to_dict())
        return
    click.echo(format_generation(found, dataset, dry_run))


def format_generation(found: Any, dataset: str, dry_run: bool) -> str:
    """The generation as text: the new cases, then what was asked, made, dropped and written."""
    from workbench.text import shorten

    lines = []
    if found.rows:
        rows = [[row["id"], row["split"], *(shorten(str(row[column]), 60) for column in found.columns)]
                for row in found.rows]
        lines += [table(["id", "split", *found.columns], rows), ""]
    budget = f"{found.calls} of {found.budget_calls} calls" + (" (budget spent)" if found.budget_spent else "")
    lines.append(f"generated {len(found.rows)} of {found.asked} cases in {budget}"
                 + (f", {dollars(found.cost_usd)}" if found.cost_usd is not None else ""))
    if found.dropped:
        lines.append("dropped   " + ", ".join(f"{n} {why}" for why, n in sorted(found.dropped.items())))
    if dry_run:
        lines.append(f"not written (--dry-run): {dataset} is unchanged")
    elif found.written:
        lines.append(f"appended {len(found.rows)} cases to {dataset} (synthetic, no expected answer): "
                     "label them with a run, e.g. workbench run PROMPT --model TEACHER --split "
                     f"{found.rows[0]['split']}")
    else:
        lines.append(f"nothing to write: {dataset} is unchanged")
    return "\n".join(lines)
