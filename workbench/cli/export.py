"""Provides ``workbench export``: the collected examples of a prompt as a fine-tuning dataset, in one or
more trainers' formats, with a manifest and a dataset card; the validation report is printed whether the
export is written or refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from workbench.cli import cli
from workbench.cli.commands import _project
from workbench.cli.output import echo_json, table
from workbench.store import Store

# Spelled out rather than read from the registry so that --help imports nothing of the export package.
FORMAT_NAMES = ("openai-chat (default), openai-completion, openai-dpo, hf, trl, together, vertex, bedrock, "
                "alpaca")


@cli.command("export")
@click.argument("prompt")
@click.option("--version", "version_ref", default=None, metavar="vN",
              help="The version whose prompt and outputs are used (default: the best one).")
@click.option("--run", "run_ref", default=None, metavar="RUN",
              help="The run whose outputs are used: a run id, 'last' or PROMPT@vN (default: the best run "
                   "outside the held-out cases; a run on the test split is refused).")
@click.option("--model", "-m", default=None,
              help="Choose the version and run among this model's runs (default: the prompt's model).")
@click.option("--source", default="mixed", show_default=True, metavar="SOURCE",
              help="Targets: gold, passing, corrected, mixed (correction > gold > passing output), or outputs "
                   "(every non-error output of the run, unjudged: a teacher model's answers).")
@click.option("--train-prompt", "train_prompt", default=None, metavar="MODE",
              help="version (the full rendered prompt), short (the system text or --instruction, then the "
                   "bare input) or none (the bare input) [default: short for a few-shot version with a system "
                   "text, else version].")
@click.option("--instruction", default=None, help="The system text of --train-prompt short (implies it).")
@click.option("--format", "formats", multiple=True, metavar="FORMAT",
              help=f"Repeatable. {FORMAT_NAMES}.")
@click.option("--valid-fraction", type=float, default=0.1, show_default=True,
              help="Share of examples in the validation split (a stable hash of seed and case id).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the train/validation split.")
@click.option("--include-test", is_flag=True,
              help="Also export test-split and held-out cases (the manifest warns loudly).")
@click.option("--redact-pii", is_flag=True,
              help="Replace e-mail addresses and phone numbers with placeholders.")
@click.option("--force", is_flag=True, help="Write the export even when validation finds errors.")
@click.option("--out", "out_dir", type=click.Path(), default=None,
              help="Folder to create the export folder in (default: the project's exports/).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan, validation report and folder as JSON.")
@click.pass_context
def export(ctx: click.Context, prompt: str, version_ref: str | None, run_ref: str | None, model: str | None,
           source: str, train_prompt: str | None, instruction: str | None, formats: tuple[str, ...],
           valid_fraction: float, seed: int, include_test: bool, redact_pii: bool, force: bool,
           out_dir: str | None, as_json: bool) -> None:
    """Export PROMPT's collected examples as a fine-tuning dataset under exports/."""
    from workbench.evaluation import can_be_chosen
    from workbench.export import ExportOptions, build_export, write_export
    from workbench.names import nfc
    from workbench.refs import RefError, parse_version_ref, resolve_run_ref

    project = _project(ctx)
    prompt = nfc(prompt)
    store = Store(project.db_path)
    # PROMPT@vN names a version: its latest run that can be a source (not one of held-out cases only).
    run_id = resolve_run_ref(store, run_ref, prefer=lambda run: can_be_chosen(store, run)).id \
        if run_ref is not None else None
    version = parse_version_ref(version_ref) if version_ref is not None else None
    if version is not None and version.prompt not in (None, prompt):
        raise RefError(f"--version {version_ref} names another prompt than {prompt}",
                       hint=f"write it as vN, e.g. --version v{version.number}")
    options = ExportOptions(version=version.number if version else None, run=run_id, model=model, source=source,
                            train_prompt=train_prompt, instruction=instruction,
                            formats=formats or ("openai-chat",), valid_fraction=valid_fraction, seed=seed,
                            include_test=include_test, redact_pii=redact_pii)
    plan = build_export(project, store, prompt, options)
    parent = Path(out_dir) if out_dir is not None else project.exports_dir
    path: Path | None = None
    try:
        path = write_export(plan, parent, force=force)  # refuses an invalid plan unless forced
    finally:
        # The report is shown whether the export was written, refused or failed to write.
        if as_json:
            echo_json({**plan.to_dict(), "written": str(path) if path else None})
        else:
            click.echo(format_plan(plan, path))


def format_plan(plan: Any, path: Path | None) -> str:
    """The export as text: what was exported (or not), hygiene figures, then the validation report."""
    counts = plan.summary()
    origin = plan.origin
    where = f" (run {origin['run_id']}, {origin['model']})" if origin.get("run_id") else " (no run)"
    what = f"{origin.get('version_label', plan.prompt)}{where}: {counts['examples']} examples"
    head = f"exported {what} -> {path}" if path else f"not written: {what}"
    options = plan.options
    lines = [head]
    if options.include_test:
        lines.append(f"  WARNING   includes {counts['test_cases']} test-split or held-out cases "
                     "(--include-test)")
    lines += [
        "  targets   " + ", ".join(f"{count} {name}" for name, count in counts["by_source"].items()),
        f"  split     {counts['train']} train, {counts['validation']} validation "
        f"(seed {options.seed}, {options.valid_fraction:.0%} validation)",
        f"  prompt    {options.train_prompt}" + (f": {options.instruction!r}" if options.instruction else ""),
    ]
    lines += [f"  note      {note}" for note in plan.notes]
    if counts["preference_pairs"]:
        lines.append(f"  pairs     {counts['preference_pairs']} preference pairs "
                     "(target against a failing output)")
    if plan.dropped:
        lines.append("  left out  " + ", ".join(f"{count} {why}" for why, count in plan.dropped.items()))
    if plan.tokens:
        t = plan.tokens
        lines.append(f"  tokens    min {t.min}, p50 {t.p50:.0f}, p90 {t.p90:.0f}, max {t.max} "
                     f"({t.tokenizer})")
    if plan.redactions is not None:
        replaced = plan.redactions["replaced"]
        lines.append(f"  redacted  {replaced.get('email', 0)} e-mail addresses, {replaced.get('phone', 0)} "
                     "phone numbers")
    rows = []
    for name, report in plan.reports.items():
        records = _records(report.records)
        errors = ", ".join(f"{error} x{count}" for error, count in sorted(report.errors.items()))
        cases = sorted({s["case_id"] for s in report.samples if s["case_id"]})
        if cases:
            errors += " (cases " + ", ".join(cases[:5]) + (", ..." if len(cases) > 5 else "") + ")"
        rows.append([name, "ok" if report.ok else "ERRORS", records, errors])
    lines += ["", table(["format", "valid", "records (train+validation)", "errors"], rows)]
    warnings = [f"  {text}" for text in plan.warnings()]  # each once, however many formats it concerns
    if warnings:
        lines += ["", "warnings:", *warnings]
    return "\n".join(lines)


def _records(records: dict[str, int]) -> str:
    """``{"train": 9, "validation": 1}`` -> ``9+1``; with shapes, ``messages 9+1, preference 0+0``."""
    shapes: dict[str, dict[str, int]] = {}
    for stem, count in records.items():
        shape, _, split = stem.rpartition("/")
        shapes.setdefault(shape, {})[split] = count
    return ", ".join((f"{shape} " if shape else "") + f"{split.get('train', 0)}+{split.get('validation', 0)}"
                     for shape, split in shapes.items())
