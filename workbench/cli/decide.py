"""Provides ``workbench decide``: the best prompt against the tuned models on the same held-out cases,
on accuracy, cost and deployment, with a recommendation; as text, JSON or a Markdown file."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.cases import TEST
from workbench.cli import cli
from workbench.cli.commands import _project
from workbench.cli.output import echo_json, table
from workbench.files import check_writable, write_file
from workbench.store import Store

MARKDOWN = (".md", ".markdown", ".txt")
"""What an existing file the Markdown report may replace is called."""


@cli.command()
@click.argument("prompt")
@click.option("--test-split", "split", default=TEST, show_default=True,
              help="The held-out split both sides are measured on.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--md", "md_file", type=click.Path(dir_okay=False), default=None,
              help="Also write the report as Markdown to this file (for a pull request or design doc).")
@click.pass_context
def decide(ctx: click.Context, prompt: str, split: str, as_json: bool, md_file: str | None) -> None:
    """Prompting or fine-tuning? PROMPT's best version against every tuned model of its base, on the same
    held-out cases: accuracy (CI, McNemar), cost per 1,000 cases and break-even, latency, deployment."""
    from workbench.decision import decide as build
    from workbench.decision import markdown, sections

    project = _project(ctx)
    if md_file is not None:  # before any work
        check_writable(Path(md_file), "the report", MARKDOWN)
    decision = build(project, Store(project.db_path), prompt, split)
    if md_file is not None:
        write_file(Path(md_file), markdown(decision), "the report", MARKDOWN)
    if as_json:
        echo_json(decision.to_dict())
        return
    lines = [f"{decision.prompt}: prompting or fine-tuning, on {decision.prompt_side.n} held-out cases of "
             f"{decision.dataset} [{decision.split}]",
             f"prompt version chosen on other cases: {decision.chosen_by}", ""]
    for section in sections(decision):
        lines += [section.title.upper(), table(section.headers, section.rows)]
        lines += [f"  {line}" for line in section.lines] + [""]
    lines += [f"note: {note}" for note in decision.notes]
    lines.append(f"recommendation: {decision.recommendation}")
    if md_file is not None:
        lines.append(f"written to {md_file}")
    click.echo("\n".join(lines))
