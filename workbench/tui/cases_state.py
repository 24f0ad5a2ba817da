"""Provides ``CasesState``: what a workspace shows for the prompt in its editor (the test set, the version
that text is, its latest run on the chosen split and model, that run's results and the version's
reviews, and the provider batch one of its runs there waits for), and ``read_cases_state``, which reads it
(in a thread worker, with its own store)."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.project import Project
from workbench.prompts import Prompt
from workbench.records import Case
from workbench.store import Batch, Result, Review, Run, Store, Version


@dataclass(frozen=True)
class CasesState:
    """A workspace's cases with the results and reviews of the version and run they are shown for."""

    split: str
    """The split the results were read for (the workspace lists the cases of that split)."""
    cases: list[Case] = field(default_factory=list)
    """Every case of the prompt's test set."""
    version: Version | None = None
    """The stored version of the editor's text (None when it was never saved as one)."""
    run: Run | None = None
    """The version's latest run on the split and model (None when it has none)."""
    results: dict[str, Result] = field(default_factory=dict)
    """That run's results, by case id."""
    reviews: dict[str, Review] = field(default_factory=dict)
    """The version's reviews, by case id."""
    batch: Batch | None = None
    """The pending provider batch of the version's runs on the split and model (the newest), if any."""
    batch_kept: int = 0
    """Cases of that batch's run that had a result without it (answered from the cache, or before)."""


def read_cases_state(project: Project, store: Store, prompt: Prompt | None, split: str, model: str) -> CasesState:
    """The test set of ``prompt`` and the latest results of its version on ``split`` and ``model``."""
    from workbench.cases import load_cases

    if prompt is None or not prompt.dataset:
        return CasesState(split)
    cases = load_cases(project.resolve(prompt.dataset), prompt.expected_key)
    version = store.version_by_hash(prompt.name, prompt.hash)
    if version is None:
        return CasesState(split, cases)
    runs = [run for run in store.runs(version_id=version.id) if run.split == split and run.model == model]
    run = runs[-1] if runs else None
    results = {result.case_id: result for result in store.results(run.id)} if run else {}
    pending = [batch for listed in runs for batch in store.batches(listed.id) if batch.pending]
    batch = pending[-1] if pending else None
    kept = len(store.done_case_ids(batch.run_id) - set(batch.case_ids)) if batch is not None else 0
    return CasesState(split, cases, version, run, results, store.reviews(version.id), batch, kept)
