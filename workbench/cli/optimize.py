"""Provides ``workbench optimize``: a budgeted prompt search, its progress on stderr and its report."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from workbench.cli import cli
from workbench.cli.commands import _load_prompt, _project
from workbench.cli.output import echo_json, percent, table
from workbench.costs import dollars
from workbench.store import Store

if TYPE_CHECKING:
    from workbench.optimize import SearchReport, SearchSettings
    from workbench.project import Project
    from workbench.prompts import Prompt


@cli.command()
@click.argument("prompt")
@click.option("--budget-calls", type=int, default=None,
              help="Model calls the search may make (default 500 when no --budget-usd is given).")
@click.option("--budget-usd", type=float, default=None,
              help="US dollars the search may spend, priced before each batch (needs a model litellm can price).")
@click.option("--strategies", default="fewshot,constrain,rewrite", show_default=True,
              help="Comma-separated: fewshot, constrain, rewrite.")
@click.option("--proposer", default=None,
              help="The model that proposes rewrites (default: [defaults] proposer_model, else the prompt's model).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the folds and the draws.")
@click.option("--apply", "apply_", is_flag=True,
              help="Write the winner to prompts/PROMPT.prompt when it beat the start on the confirmation fold.")
@click.option("--apply-search", "apply_search", default=None, metavar="ID|last",
              help="Search nothing: write the winner of that earlier search of PROMPT (when it beat the start on "
                   "its confirmation fold); the file's text is stored as a version first.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def optimize(ctx: click.Context, prompt: str, budget_calls: int | None, budget_usd: float | None, strategies: str,
             proposer: str | None, seed: int, apply_: bool, apply_search: str | None, as_json: bool) -> None:
    """Search for a better version of PROMPT: few-shot examples, a constrained format, rewrites by a
    proposer model; candidates scored on a search fold of the dev split, the winner confirmed on another.

    The test split is never used. Every candidate is stored as a version with its provenance; Ctrl+C keeps
    what finished.
    """
    from workbench.errors import WorkbenchError
    from workbench.optimize import ApplyError, SearchSettings, apply_winner, should_apply
    from workbench.optimize.report import INCONCLUSIVE

    project = _project(ctx)
    store = Store(project.db_path)
    start = _load_prompt(project, prompt)
    if apply_search is not None:
        _refuse_search_options(ctx, apply_)
        _apply_search(store, start, apply_search, as_json)
        return
    settings = SearchSettings(
        strategies=tuple(name.strip() for name in strategies.split(",") if name.strip()), budget_calls=budget_calls,
        budget_usd=budget_usd, seed=seed, proposer=proposer)
    settings.check()
    started: list[SearchReport] = []
    try:
        report = asyncio.run(_search(project, store, start, settings, started))
    except KeyboardInterrupt:
        # The search marked its report cancelled and kept it: a script still gets the report.
        if started:
            _echo_report(started[0], as_json)
        click.echo("\ninterrupted: the candidates scored so far are kept (see 'workbench history "
                   f"{start.name}')", err=True)
        raise click.exceptions.Exit(130) from None
    applied = None
    if apply_:
        why_not = should_apply(report)
        if why_not is None:
            try:
                applied = apply_winner(store, report, start.path)
            except ApplyError as error:
                # The search finished: its report is printed, with the refusal, before the error line.
                _echo_report(report, as_json, apply_refused=str(error))
                raise
        elif not as_json:
            click.echo(f"nothing applied: {why_not}", err=True)
    _echo_report(report, as_json)
    if applied is not None and not as_json:
        click.echo(f"\napplied: {start.path} now holds {applied.label}; run it on the whole dev split with "
                   f"'workbench run {start.name}'")
    if report.outcome in INCONCLUSIVE:
        # As 'workbench run' treats a run whose every case ended in an error: nothing was measured, which a
        # verdict and exit 0 would hide from a script.
        raise WorkbenchError(f"search {report.search_id} measured nothing ({report.outcome}): {report.verdict}",
                             hint="the candidates are kept: fix the cause and search again")


def _echo_report(report: SearchReport, as_json: bool, apply_refused: str | None = None) -> None:
    """The report on stdout, as JSON or text; ``apply_refused``: why ``--apply`` wrote nothing."""
    if as_json:
        data = report.to_dict()
        if apply_refused is not None:
            data["status"] = "apply refused"
            data["apply_refused"] = apply_refused
        echo_json(data)
        return
    click.echo(format_report(report, apply_refused=apply_refused))


def _apply_search(store: Store, prompt: Prompt, ref: str, as_json: bool) -> None:
    """``--apply-search ID|last``: the winner of a stored search of ``prompt`` written to its file."""
    from workbench.errors import StoreError, WorkbenchError
    from workbench.optimize import apply_stored
    from workbench.refs import is_last

    searches = store.searches(prompt.name)
    if is_last(ref):
        if not searches:
            raise WorkbenchError(f"no search of {prompt.name} yet", hint=f"run 'workbench optimize {prompt.name}'")
        chosen = searches[-1]
    else:
        try:
            chosen = store.search(int(ref))
        except (ValueError, StoreError):
            known = ", ".join(str(s.id) for s in searches) or "none"
            raise WorkbenchError(f"no search {ref!r} of {prompt.name}", hint=f"its searches: {known}") from None
        if chosen.prompt != prompt.name:
            raise WorkbenchError(f"search {chosen.id} searched {chosen.prompt}, not {prompt.name}")
    winner, kept = apply_stored(store, chosen, prompt.path)
    if as_json:
        echo_json({"search": chosen.id, "applied": winner.number, "kept": kept.number if kept else None})
        return
    if kept is not None:
        click.echo(f"the file's text was kept as {kept.label}")
    click.echo(f"applied: {prompt.path} now holds {winner.label} (search {chosen.id}); run it on the whole dev "
               f"split with 'workbench run {prompt.name}'")


async def _search(project: Project, store: Store, start: Prompt, settings: SearchSettings,
                  started: list[SearchReport]) -> SearchReport:
    """Run the search, drawing its progress on stderr; returns the report. ``started`` receives the report
    as the search starts (the search keeps it up to date, and marks it when it ends otherwise)."""
    from workbench.optimize import (
        CandidateDone,
        CandidateStarted,
        CaseScored,
        RoundDone,
        SearchFinished,
        SearchStarted,
        search,
    )

    report = None
    async for event in search(project, store, start, settings):
        if isinstance(event, SearchStarted):
            started.append(event.report)
            folds = event.folds
            pool = f", pool {len(folds.pool)} ({folds.pool_split})" if folds.pool else ""
            budget = event.report.budget
            limits = " and ".join(part for part in (
                f"{budget['calls']} calls" if budget["calls"] is not None else "",
                f"${budget['usd']:g}" if budget["usd"] is not None else "") if part)
            click.echo(f"search {event.search.id}: {event.start.label} on {event.model}; folds: search "
                       f"{len(folds.search)}, confirmation {len(folds.confirmation)}{pool}; budget {limits}", err=True)
        elif isinstance(event, CandidateStarted):
            step = f"round {event.round}" if event.round else ("confirm" if event.fold == "confirmation" else "start")
            click.echo(f"  {step:<8} {event.version.label:<16} {event.label} on the {event.fold} fold "
                       f"({event.total} cases)", err=True)
        elif isinstance(event, CaseScored):
            pass  # a line per candidate is enough on stderr; the TUI shows cases
        elif isinstance(event, CandidateDone):
            record = event.record
            if record.discarded:
                click.echo(f"  {'round ' + str(record.round):<8} {'discarded':<16} {record.label}: {record.discarded}",
                           err=True)
            else:
                click.echo(f"  {'':<8} {'':<16} {record.passed}/{record.n} pass ({percent(record.pass_rate)}), "
                           f"{record.calls} calls", err=True)
        elif isinstance(event, RoundDone):
            r = event.record
            gain = "" if r.gain is None or r.low is None or r.high is None else (
                f": best v{r.best} {r.gain * 100:+.1f} points over v{r.incumbent} (95% CI {r.low * 100:+.1f} to "
                f"{r.high * 100:+.1f})")
            click.echo(f"  round {r.round} done{gain}: {'supported gain' if r.supported else 'no supported gain'}",
                       err=True)
        elif isinstance(event, SearchFinished):
            report = event.report
    assert report is not None
    return report


def _refuse_search_options(ctx: click.Context, apply_: bool) -> None:
    """``--apply-search`` searches nothing: an option that would shape a search is a mistake, said at once."""
    from click.core import ParameterSource

    given = [f"--{name.replace('_', '-')}" for name in ("budget_calls", "budget_usd", "strategies", "proposer", "seed")
             if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    if apply_:
        given.append("--apply")
    if given:
        raise click.UsageError(f"--apply-search applies an earlier search and searches nothing: "
                               f"{', '.join(given)} would have no effect; drop {'it' if len(given) == 1 else 'them'}, "
                               "or leave out --apply-search to search again")


def format_report(report: SearchReport, apply_refused: str | None = None) -> str:
    """The search's report as text: candidates, rounds, the winner with both figures, the verdict;
    ``apply_refused``: why ``--apply`` wrote nothing (the status says so)."""
    folds = report.folds
    status = report.status if apply_refused is None else f"{report.status}, apply refused"
    lines = [f"search {report.search_id} of {report.prompt} on {report.model} ({report.dataset}, seed {report.seed}): "
             f"{status}",
             f"folds: search {len(folds['search'])} cases, confirmation {len(folds['confirmation'])}"
             + (f", few-shot pool {len(folds['pool'])} from {folds['pool_split']}" if folds["pool"] else "")
             + "; the test split is never used", ""]
    rows = [[f"v{c.version}" if c.version is not None else "-", c.round, c.label, f"v{c.parent}",
             (f"discarded: {c.discarded}" if c.discarded is not None else f"{c.passed}/{c.n} ({percent(c.pass_rate)})"
              + (f", {c.errors} errors" if c.errors else "") + ("" if c.measured else ": not measured")),
             c.calls if c.discarded is None else ""] for c in report.candidates]
    start_rate = percent(report.start_search_rate)
    lines.append(table(["version", "round", "candidate", "from", f"search fold (start v{report.start_version}: "
                        f"{start_rate}" + (f", {report.start_errors} errors" if report.start_errors else "") + ")",
                        "calls"], rows))
    lines.append("")
    for r in report.rounds:
        gain = "-" if r.gain is None or r.low is None or r.high is None else \
            f"{r.gain * 100:+.1f} points (95% CI {r.low * 100:+.1f} to {r.high * 100:+.1f})"
        lines.append(f"round {r.round}: {r.scored} scored, best v{r.best} vs v{r.incumbent}: {gain}: "
                     f"{'supported gain' if r.supported else 'no supported gain'}")
    lines.append(f"stopped: {report.stop_reason}")
    spent = f"{report.calls} calls" + (f", {dollars(report.usd)}" if report.usd else "")
    lines.append(f"spent: {spent} in {report.seconds:.1f} s")
    confirmed = report.confirmation_text()
    if confirmed is not None and report.confirmation is not None:
        lines += ["",
                  f"winner v{report.winner_version} ({report.winner_label}): {percent(report.winner_search_rate)} on "
                  f"the search fold against v{report.start_version}'s {start_rate}",
                  f"  note: {report.bias_note}",
                  f"confirmation fold ({report.confirmation.n} cases): {confirmed}"]
    lines += ["", f"verdict: {report.verdict or report.describe()}"]
    if apply_refused is not None:
        lines.append(f"apply refused: {apply_refused}")
    return "\n".join(lines)
