"""Provides the run, show, history, models and init commands."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.cases import DEFAULT_SPLIT, RUN_SPLITS, or_list
from workbench.cli import ThresholdFailed, cli
from workbench.cli.output import FAIL_UNDER, Progress, echo_json, percent, table
from workbench.errors import WorkbenchError
from workbench.project import Project, open_project
from workbench.reports import size_text
from workbench.store import Result, Store
from workbench.text import shorten

if TYPE_CHECKING:
    from workbench.prompts import Prompt


def _project(ctx: click.Context, **overrides: Any) -> Project:
    return open_project(ctx.obj.get("project_dir"), **overrides)


def _load_prompt(project: Project, name: str) -> Prompt:
    from workbench.names import prompt_name
    from workbench.prompts import list_prompts, load_prompt

    path = project.prompt_path(name)
    if not path.is_file():
        known = ", ".join(prompt_name(p) for p in list_prompts(project.prompts_dir)) or "none"
        raise WorkbenchError(f"no prompt {name!r} in {project.prompts_dir}", hint=f"prompts: {known}")
    return load_prompt(path)


async def run_with_progress(project: Project, store: Store, plan: Any, *, use_cache: bool = True,
                            quiet: bool = False, workers: int | None = None) -> int:
    """Execute a run plan, drawing progress on stderr; returns the run id. ``workers``: the processes that
    make the calls (``workbench.shard``; None: chosen from the core count and the run's size)."""
    from workbench.runner import CaseDone, RunStarted, execute, make_client
    from workbench.shard import Sharding

    client = make_client(project, store, use_cache=use_cache,
                         on_notice=lambda line: click.echo(f"\n{line}", err=True))
    progress: Progress | None = None
    run_id = -1
    sharding = Sharding(store, project.root, workers)
    sharding.prepare(plan, client, project.settings.concurrency)
    try:
        async for event in execute(plan, store, client, concurrency=project.settings.concurrency, source=sharding):
            if isinstance(event, RunStarted):
                run_id = event.run.id
                label = f"{plan.version.label} on {plan.model}"
                if event.resumed:
                    click.echo(f"resuming run {run_id}: {event.already_done} of {event.total} cases already done",
                               err=True)
                if not quiet:
                    progress = Progress(event.total, label)
                    progress.update(event.already_done, event.already_passed, event.already_errors)
            elif isinstance(event, CaseDone) and progress:
                # The runner's running figures: the cases kept from an interrupted attempt count as passed
                # or failed as they did, as in the summary.
                progress.update(event.done, event.passed, event.errors)
    finally:
        sharding.release()
    if progress:
        progress.close()
    return run_id


@cli.command()
@click.argument("prompt")
@click.option("--model", "-m", default=None,
              help="A litellm model name or a configured alias; several, comma-separated, run one after another "
                   "and are compared in one table.")
@click.option("--dataset", "-d", default=None, help="Test set file (default: the prompt's 'dataset').")
@click.option("--split", "-s", default=None,
              help=f"{or_list(RUN_SPLITS)} (default: the prompt's, else {DEFAULT_SPLIT}).")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=None, help="Calls in flight at once.")
@click.option("--workers", "-w", type=click.IntRange(min=1), default=None,
              help="Processes making the calls, this one included (they share --concurrency) [default: one per "
                   "core, at most one per 200 uncached cases and per 4 calls in flight; 1 for local models].")
@click.option("--no-cache", is_flag=True, help="Call the model even when a cached answer exists.")
@click.option("--fail-under", type=FAIL_UNDER, default=None,
              help="Exit 1 if the pass rate is below this (0-1, or a percentage above 1 up to 100).")
@click.option("--as-written", is_flag=True,
              help="Send a tuned model the prompt as written, not the training prompt it learnt on.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Also write the results as JUnit XML for CI (a testcase per case; failures carry the "
                   "expected answer, the output and the scorers' reasons).")
@click.option("--batch", "batch", is_flag=True,
              help="Send the uncached cases as one provider batch (OpenAI-compatible models; the batch price) and "
                   "return at once; run it again, or 'workbench batch collect', to write the results.")
@click.pass_context
def run(ctx: click.Context, prompt: str, model: str | None, dataset: str | None, split: str | None,
        concurrency: int | None, no_cache: bool, fail_under: float | None, as_written: bool, as_json: bool,
        junit_file: str | None, batch: bool = False, workers: int | None = None) -> None:
    """Run PROMPT against its test set and score every output.

    A model fine-tuned here is sent the training prompt it learnt on (the export's --train-prompt, kept in
    its model.json), so it is measured as it will be served.
    """
    from workbench.reports import summarize
    from workbench.reviews import failing_results, reviewed
    from workbench.runner import default_params, plan_run

    if batch and ((model and "," in model) or junit_file is not None or fail_under is not None):
        raise click.UsageError("--batch takes one model and no --junit or --fail-under: its results arrive later "
                               "('workbench batch collect')")
    project = _project(ctx, concurrency=concurrency)
    if batch:
        from workbench.cli.batch import run_batch

        run_batch(project, Store(project.db_path), _load_prompt(project, prompt), model=model, dataset=dataset,
                  split=split, as_written=as_written, use_cache=not no_cache, as_json=as_json)
        return
    from workbench.cli.matrix import run_matrix, split_names

    # "P1,P2" names several prompts, unless a prompt file has that very name.
    names = split_names(prompt, "PROMPT", "prompt") if "," in prompt and not project.prompt_path(
        prompt).is_file() else [prompt]
    models = split_names(model, "--model", "model") if model and "," in model else None
    if junit_file is not None and (models is not None or len(names) > 1):
        raise click.UsageError("--junit takes one prompt and one model: run each pair with its own --junit FILE")
    if workers is not None and (models is not None or len(names) > 1):
        raise click.UsageError("--workers takes one prompt and one model: the pairs of several already run at once "
                               "in one process; run a large pair on its own with --workers N")
    if junit_file is not None:  # before any model call
        from workbench.junit import check_writable

        check_writable(Path(junit_file))
    prompts = [_load_prompt(project, name) for name in names]
    loaded = prompts[0]
    if no_cache or any(default_params(each.params).get("temperature") != 0 for each in prompts):
        from workbench.providers.client import warm_up

        # No answer can come from the cache: every case calls the model, so litellm's import (seconds)
        # starts now, while the test set loads and renders. A cacheable run imports it only when the
        # cache misses (never, when every answer is cached).
        warm_up()
    store = Store(project.db_path)
    if models is not None or len(prompts) > 1:
        pairs: list[str | None] = list(models) if models else [model]
        run_matrix(project, store, prompts, pairs, dataset=dataset, split=split,
                   as_written=as_written, use_cache=not no_cache, as_json=as_json, fail_under=fail_under)
        return
    plan = plan_run(project, store, loaded, model=model, dataset=dataset, split=split, as_written=as_written)
    for notice in plan.notices:
        click.echo(f"warning: {notice}", err=True)
    run_id = asyncio.run(run_with_progress(project, store, plan, use_cache=not no_cache, quiet=as_json,
                                           workers=workers))
    summary = summarize(store, run_id)
    if as_json:
        echo_json(summary.to_dict())
    else:
        click.echo(format_summary(summary))
        run = store.run(run_id)
        failures = failing_results(store, run)
        if failures:
            reviews = store.reviews(run.version_id)  # the worst by the score the workbench counts
            failures.sort(key=lambda result: reviewed(result, reviews.get(result.case_id))[1])
            click.echo(f"\n{len(failures)} of {summary.completed} cases failed; the worst {min(5, len(failures))}:")
            click.echo(failure_table(failures[:5]))
    # Written before the threshold check: a failing CI job still has its report.
    if junit_file is not None:
        from workbench.junit import write_run_junit

        write_run_junit(store, run_id, Path(junit_file))
    from workbench.cli.matrix import all_errors

    all_errors(store, [summary])
    if fail_under is not None:
        threshold = fail_under / 100 if fail_under > 1 else fail_under
        if summary.pass_rate < threshold:
            raise ThresholdFailed(f"pass rate {percent(summary.pass_rate)} is below --fail-under "
                                  f"{percent(threshold)}")


def format_summary(summary: Any) -> str:
    """The summary table of one run."""
    from workbench.reports import dollars, milliseconds

    cost = dollars(summary.cost_usd)
    p50, p95 = milliseconds(summary.latency_p50_ms), milliseconds(summary.latency_p95_ms)
    rows = [
        ["run", f"{summary.run_id} ({summary.status})"],
        ["version", f"{summary.prompt}@v{summary.version}"],
        ["model", summary.model],
        *([["messages", f"training prompt: {summary.prompt_mode}"]] if summary.prompt_mode != "version" else []),
        ["test set", f"{summary.dataset} [{summary.split}]"],
        ["pass rate", f"{percent(summary.pass_rate)} ({summary.passed}/{summary.completed})"],
        ["mean score", f"{summary.mean_score:.3f}"],
        ["errors", str(summary.errors)],
        ["tokens", f"{summary.input_tokens} in / {summary.output_tokens} out"],
        ["cost", cost],
        ["latency", f"p50 {p50}, p95 {p95}"],
        ["cached", f"{summary.cached} of {summary.completed}"],
        *([["deployments", ", ".join(f"{label}: {n}" for label, n in summary.deployments.items())]]
          if summary.deployments else []),
    ]
    text = table(["", ""], rows).split("\n", 2)[2]
    if summary.truncated:
        limit = f" ({summary.max_tokens})" if summary.max_tokens else ""
        text += (f"\nwarning: {summary.truncated} of {summary.completed} answers were cut at max_tokens{limit}: "
                 "raise max_tokens in the prompt's params")
    if summary.filtered:
        text += (f"\nwarning: {summary.filtered} of {summary.completed} answers were stopped by the provider's "
                 "content filter (show marks them 'filtered')")
    return text


def failure_table(results: list[Result]) -> str:
    """Failing results: case, output (or error) and the first failing scorer's reason."""
    lines = []
    for result in results:
        reasons = [s.reason for s in result.scores if not s.passed and s.reason]
        lines.append([result.case_id, shorten(result.error or result.output, 40),
                      shorten(result.error_kind or (reasons[0] if reasons else ""), 50)])
    return table(["case", "output", "why"], lines)


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--failures", is_flag=True, help="Only the failing cases.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def show(ctx: click.Context, run_ref: str, failures: bool, as_json: bool) -> None:
    """Show the per-case results of RUN (a run id, 'last' or PROMPT@vN)."""
    from workbench.reports import summarize

    project = _project(ctx)
    store = Store(project.db_path)
    from workbench.refs import resolve_run_ref
    from workbench.reviews import failing, review_applies, reviewed, verdict_word

    run = resolve_run_ref(store, run_ref)
    reviews = store.reviews(run.version_id)
    shown = []
    for result in store.results(run.id):
        review = reviews.get(result.case_id)
        passed, score = reviewed(result, review)
        if not failures or failing(result, review):
            shown.append((result, review, passed, score))
    if as_json:
        echo_json({"summary": summarize(store, run.id).to_dict(), "results": [
            # passed and score as the workbench counts them, the scorers' own beside them (as results_view)
            {**asdict(result), "passed": passed, "score": score, "scorer_passed": result.passed,
             "scorer_score": result.score, "verdict": "error" if result.error else ("pass" if passed else "fail"),
             "reviewed_score": score,
             "human_review": review.verdict if review is not None and review_applies(review, result) else None}
            for result, review, passed, score in shown]})
        return
    click.echo(format_summary(summarize(store, run.id)) + "\n")
    rows = [[result.case_id, verdict_word(result, review), f"{score:.2f}", shorten(result.error or result.output, 50)]
            for result, review, _, score in shown]
    click.echo(table(["case", "verdict", "score", "output"], rows,
                     empty="no failing cases" if failures else "no results yet"))


@cli.command()
@click.argument("prompt")
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.pass_context
def history(ctx: click.Context, prompt: str, as_json: bool) -> None:
    """Every version of PROMPT with its runs and scores, per test set; the best is marked."""
    from workbench.names import nfc
    from workbench.reports import DRIFT_MARK, drift_notes, origin, sparkline
    from workbench.reports import history as build_history

    project = _project(ctx)
    store = Store(project.db_path)
    prompt = nfc(prompt)
    if not store.versions(prompt):
        raise WorkbenchError(f"no stored version of prompt {prompt!r}", hint=f"workbench run {prompt}")
    histories = build_history(store, prompt)
    if as_json:
        echo_json({"prompt": prompt, "testsets": [h.to_dict() for h in histories]})
        return
    for item in histories:
        rates = [row.summary.pass_rate for row in item.rows if row.summary]
        click.echo(f"{prompt} on {item.dataset} [{item.split}] with {item.model}   trend {sparkline(rates)}")
        adopted = any(row.version.provenance for row in item.rows)
        rows = []
        for row in item.rows:
            s = row.summary
            mark = ("★" if row.version.number == item.best_version else "") + (DRIFT_MARK if row.drift else "")
            rows.append([f"v{row.version.number}{mark}", ",".join(map(str, row.runs)),
                         percent(s.pass_rate) if s else "-", f"{s.mean_score:.3f}" if s else "-",
                         f"{s.completed}/{s.n_cases}" if s else "-", s.errors if s else "-",
                         row.version.created_utc[:19].replace("T", " ")] + ([origin(row.version)] if adopted else []))
        click.echo(table(["version", "runs", "pass", "score", "cases", "errors", "created (UTC)"]
                         + (["origin"] if adopted else []), rows))
        for note in drift_notes(item.rows):
            click.echo(note)
        if item.candidates:
            # Measured on a search fold only, chosen among themselves: shown apart, never marked best.
            click.echo(f"\nsearch candidates ({len(item.candidates)}; scored on the search's folds only, never "
                       "counted in the trend, the best version or the plateau until adopted with 'optimize --apply'):")
            click.echo(table(["version", "runs", "pass", "cases", "origin"], [
                [f"v{row.version.number}", ",".join(map(str, row.runs)),
                 percent(row.summary.pass_rate) if row.summary else "-",
                 f"{row.summary.completed}/{row.summary.n_cases}" if row.summary else "-", origin(row.version)]
                for row in item.candidates]))
        click.echo("")


@cli.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """The bundled, tuned and configured models: what serves each, its size on disk, and whether its API
    key is set. 'workbench models export NAME --ollama DIR' exports a tuned local model."""
    if ctx.invoked_subcommand is not None:
        return
    from workbench.errors import ConfigError
    from workbench.providers.registry import list_models

    try:
        project = _project(ctx)
        configured, models_dir = project.settings.models, project.state_dir / "models"
    except ConfigError:
        raise  # a bad workbench.toml is said, not shown as a project without aliases
    except WorkbenchError:  # outside a project: the bundled and hosted models
        configured, models_dir = {}, None
    rows = [[m.name, m.kind, m.runtime, size_text(m.size_bytes), m.key_env or "-",
             "yes" if m.key_present else ("-" if not m.key_env else "no"), m.note]
            for m in list_models(configured, models_dir)]
    click.echo(table(["model", "kind", "runtime", "size", "key variable", "key set", "note"], rows))


@models.command("export")
@click.argument("name")
@click.option("--ollama", "directory", required=True, metavar="DIR",
              help="Write the GGUF and an Ollama Modelfile into DIR (created if needed).")
@click.option("--type", "qtype", type=click.Choice(["F16", "Q8_0"]), default=None,
              help="The GGUF to export [default: the one local/NAME runs]: F16 holds the trained weights, Q8_0 "
                   "is half the size ('workbench finetune' serves it when it answers as the trained model).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def export_model(ctx: click.Context, name: str, directory: str, qtype: str | None, as_json: bool) -> None:
    """Export the tuned local model NAME as GGUF + Modelfile, and print how to serve it."""
    from workbench.finetune.ollama import export_ollama, exportable

    project = _project(ctx)
    models_dir = project.state_dir / "models"
    tuned = exportable(models_dir, name)

    def convert(model: Any) -> Any:
        from workbench.finetune.local import convert_saved

        click.echo(f"local/{model.name} was saved without a GGUF: converting it once", err=True)
        return convert_saved(model, models_dir, say=lambda line: click.echo(line, err=True))

    done = export_ollama(tuned, Path(directory), qtype, convert=convert)
    if as_json:
        echo_json(done.to_dict())
        return
    how = "linked" if done.linked else "copied"
    click.echo(f"{how} {done.gguf.name} ({size_text(done.gguf.stat().st_size)}) and wrote {done.modelfile}")
    for note in done.notes:
        click.echo(f"note: {note}")
    click.echo("serve it with llama.cpp:  " + done.commands()[0])
    click.echo("or with Ollama:           " + done.commands()[1] + " && " + done.commands()[2])


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
def init(directory: str) -> None:
    """Create a workbench project in DIRECTORY with an example prompt and test set."""
    from workbench.scaffold import create_project

    root = create_project(Path(directory))
    click.echo(f"created a workbench project in {root}\n"
               f"next: cd {directory} && workbench run example --model echo")


@cli.command()
@click.option("--stop", is_flag=True, help="Stop every warm process.")
def warm(stop: bool) -> None:
    """List the warm processes, which run model commands without importing litellm again (see
    WORKBENCH_WARM in the README); with --stop, stop them."""
    from workbench.cli.warm import ask, enabled, folder_path, runtime_folder, warm_processes

    if runtime_folder() is None:
        raise WorkbenchError(f"the warm process folder {folder_path()} cannot be used: it must be a folder of "
                             "yours that only you can open", hint=f"remove it, or chmod 700 {folder_path()}")
    found = warm_processes()
    if not found:
        click.echo("no warm process" + ("" if enabled() else " (the warm start is off: WORKBENCH_WARM or CI is set)"))
        return
    rows = []
    for path, status in found:
        if status is None:
            path.unlink(missing_ok=True)  # nothing answers: a socket left by a killed process
            continue
        if stop:
            ask(path, "stop")
        rows.append([str(status.get("pid")), status.get("key", path.stem), str(status.get("served")),
                     f"{status.get('idle_left')} s", "stopped" if stop else "ready"])
    if rows:
        click.echo(table(["pid", "key", "commands served", "idle time left", "state"], rows))
    else:
        click.echo("no warm process")


@cli.command()
@click.option("--split", "-s", default=None, help="Split to replay on (default: each prompt's own).")
@click.option("--no-tui", is_flag=True, help="Print the histories instead of opening the TUI afterwards.")
@click.pass_context
def demo(ctx: click.Context, split: str | None, no_tui: bool) -> None:
    """Replay the example project's prompt versions on the offline model, then open the workbench.

    Each recorded version runs for real (answers are cached, so only the first demo waits for the
    model); without a terminal, or with --no-tui, the histories are printed instead.
    """
    import sys

    from workbench.cli import open_tui
    from workbench.demo import history_prompts
    from workbench.runner import plan_run

    project = _project(ctx)
    store = Store(project.db_path)
    replays = history_prompts(project)
    if not replays:
        raise WorkbenchError("this project has no prompts/history/ to replay",
                             hint="the demo runs in the workbench repository's own example project")
    for versions in replays.values():
        for prompt in versions:
            plan = plan_run(project, store, prompt, split=split)
            asyncio.run(run_with_progress(project, store, plan))
    store.close()
    if no_tui or not sys.stdout.isatty():
        for name in replays:
            ctx.invoke(history, prompt=name, as_json=False)
        return
    open_tui(str(project.root))
