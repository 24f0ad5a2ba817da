"""Provides version selection: which version of a prompt is the best, and the run and test-set cases its
training examples come from. Versions are chosen on the cases that are not held out only
(``evaluation.selection_rate``), so a run on the test split never makes a choice. ``workbench status``
and the fine-tuning export share it, so both name the same version.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.cases import RUN_SPLITS, is_held_out_split, load_cases, or_list
from workbench.compare import CaseOutcome
from workbench.errors import WorkbenchError
from workbench.evaluation import PromptTrack, prompt_tracks, run_outcomes, selection_rate
from workbench.names import nfc
from workbench.project import Project
from workbench.prompts import version_prompt
from workbench.records import Case
from workbench.store import Run, Store, Version


@dataclass(frozen=True)
class Selection:
    """A version of a prompt, the run that measured it (if any) and the cases its examples come from."""

    version: Version
    run: Run | None
    cases: list[Case]
    pass_rate: float | None
    """The run's pass rate on all its cases."""
    dataset: str | None
    selection_rate: float | None = None
    """Its pass rate on the cases that are not held out: what it was chosen on."""
    chosen_by: str = ""
    """How the run was chosen, for the manifest: named with --run, or the best on non-held-out cases."""


def track_best(project: Project, store: Store, track: PromptTrack, chosen: int | None = None) -> Selection:
    """The best version of one track and its run, chosen on the cases that are not held out.

    A track of held-out cases only (the test split) is never chosen on: it shows version ``chosen``
    (picked on other runs) when it was run there, else its newest version.
    """
    index, how = best_index(track, chosen)
    return _selection(project, store, store.run(track.run_ids[index]), track.versions[index].outcomes, how)


def best_index(track: PromptTrack, chosen: int | None) -> tuple[int, str]:
    """The index of ``track_best``'s version in ``track``, and how it was chosen."""
    rates = {i: rate for i, v in enumerate(track.versions) if (rate := selection_rate(v.outcomes)) is not None}
    if rates:
        return (max(rates, key=lambda i: (rates[i], track.versions[i].number)),
                "the best pass rate on the track's cases that are not held out")
    numbers = [v.number for v in track.versions]
    return (numbers.index(chosen) if chosen in numbers else len(numbers) - 1,
            "chosen on other runs: a track of held-out cases is never chosen on")


def select_version(project: Project, store: Store, prompt: str, number: int | None = None, *,
                   model: str | None = None, run: Run | None = None,
                   tracks: list[PromptTrack] | None = None) -> Selection:
    """Version ``number`` of ``prompt`` (default: the best one) with the run its training data comes from.

    Versions and runs are compared only on their cases that are not held out (``selection_rate``), so a
    run on the test split is never chosen. ``model`` limits the choice to that model's runs (default:
    the prompt's model when it has such a run, else every model); ``run`` names the run itself (refused
    when it measured held-out cases only). A version never run still yields its cases (from its prompt's
    test set), so gold answers and corrections can be exported without a run. ``tracks``: the prompt's
    ``prompt_tracks`` when the caller has already built them.
    """
    prompt = nfc(prompt)
    versions = store.versions(prompt)
    if not versions:
        raise WorkbenchError(f"no stored version of prompt {prompt!r}",
                             hint=f"run it first: workbench run {prompt}")
    if run is not None:
        return _named_run(project, store, prompt, run, number, model)
    wanted = store.version(prompt, number) if number is not None else None
    candidates = []
    for track in prompt_tracks(store, prompt) if tracks is None else tracks:
        for index, outcome in enumerate(track.versions):
            rate = selection_rate(outcome.outcomes)
            if rate is not None and (wanted is None or outcome.number == wanted.number):
                candidates.append((rate, outcome.number, track.run_ids[index], track.model, outcome.outcomes))
    if model is not None:
        if not any(r.model == model for r in store.runs(prompt=prompt)):
            # A typo in --model must not quietly export gold answers as if from that model.
            raise WorkbenchError(f"prompt {prompt!r} has no run on model {model!r}",
                                 hint=f"workbench run {prompt} --model {model}, or check 'workbench history "
                                      f"{prompt}'")
        candidates = [c for c in candidates if c[3] == model]
    else:
        # The model the user means is the one the prompt runs on; another model's runs (a tuned model, a
        # bigger one tried once) are the source only when the prompt's own model has none.
        default = version_prompt(versions[-1]).model or project.settings.model
        candidates = [c for c in candidates if c[3] == default] or candidates
    if candidates:
        _, _, run_id, on, outcomes = max(candidates, key=lambda item: item[:3])
        return _selection(project, store, store.run(run_id), outcomes,
                          f"the best pass rate on cases that are not held out, among the runs on {on}")
    version = wanted or versions[-1]
    parsed = version_prompt(version)
    path = project.resolve(parsed.dataset) if parsed.dataset else None
    cases = load_cases(path, parsed.expected_key) if path is not None and path.exists() else []
    return Selection(version, None, cases, None, parsed.dataset, None, "no run outside the held-out cases")


def _named_run(project: Project, store: Store, prompt: str, run: Run, number: int | None,
               model: str | None) -> Selection:
    """The selection of a run the user named (``--run``): refused when it cannot be a training source."""
    version = store.version_by_id(run.version_id)
    if run.prompt != prompt:
        raise WorkbenchError(f"run {run.id} is a run of {run.prompt!r}, not of {prompt!r}",
                             hint="name a run of this prompt, or leave out --run")
    if number is not None and version.number != number:
        raise WorkbenchError(f"run {run.id} is a run of {version.label}, not v{number}",
                             hint="give --run or --version, not both")
    if model is not None and run.model != model:
        raise WorkbenchError(f"run {run.id} ran on {run.model}, not {model}",
                             hint="give --run or --model, not both")
    outcomes = run_outcomes(store, run)
    if not outcomes:
        raise WorkbenchError(f"run {run.id} has no results yet", hint=f"finish it: workbench run {prompt}")
    if selection_rate(outcomes) is None:
        sources = or_list([split for split in RUN_SPLITS if not is_held_out_split(split)])
        raise WorkbenchError(f"run {run.id} measured held-out cases only (split {run.split}): training data "
                             "never comes from a held-out run", hint=f"name a run on the {sources} split")
    return _selection(project, store, run, outcomes, f"named with --run {run.id}")


def _selection(project: Project, store: Store, run: Run, outcomes: list[CaseOutcome], how: str) -> Selection:
    """``run`` as the source of training data, with the cases its examples come from."""
    version = store.version_by_id(run.version_id)
    path = project.resolve(run.dataset)
    # Training data may come from every split of the test set except the held-out ones, so read the
    # whole file when it is there; otherwise the cases the run recorded.
    cases = load_cases(path, version_prompt(version).expected_key) if path.exists() \
        else store.testset_cases(run.testset_hash)
    overall = sum(o.passed for o in outcomes) / len(outcomes) if outcomes else None
    return Selection(version, run, cases, overall, run.dataset, selection_rate(outcomes), how)
