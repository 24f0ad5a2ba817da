"""Provides the project overview the TUI's home screen shows: every prompt with its latest and best
pass rate, version count, trend and plateau badge, and the project's test sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.evaluation import prompt_tracks
from workbench.names import prompt_name
from workbench.plateau import plateau
from workbench.project import Project
from workbench.prompts import list_prompts, load_prompt
from workbench.reports import history, main_track
from workbench.store import Store

TESTSET_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")


@dataclass(frozen=True)
class PromptRow:
    """One prompt on the home screen (its most-run test set and model)."""

    name: str
    description: str = ""
    versions: int = 0
    latest_pass_rate: float | None = None
    best_pass_rate: float | None = None
    best_version: int | None = None
    trend: list[float] = field(default_factory=list)
    earlier_testset: list[bool] = field(default_factory=list)
    """For each trend point: measured on an earlier version of the test set than the newest point."""
    on_plateau: bool = False
    track: str = ""
    """The test set, split and model the figures are for."""
    problem: str | None = None
    """Why the prompt file cannot be used right now (a parse error), if it cannot."""


def prompt_rows(project: Project, store: Store) -> list[PromptRow]:
    """Every prompt in prompts/ or in the store, with its figures on its most-run track."""
    # A file named in decomposed Unicode (as macOS writes it) is the same prompt as its stored name.
    files = {prompt_name(path): path for path in list_prompts(project.prompts_dir)}
    rows = []
    for name in sorted(set(files) | set(store.prompt_names())):
        description, problem = "", None
        if name in files:
            try:
                description = load_prompt(files[name]).description
            except WorkbenchError as error:
                problem = str(error)
        else:
            problem = "its file is gone from prompts/"
        rows.append(_row(project, store, name, description, problem))
    return rows


def _row(project: Project, store: Store, name: str, description: str, problem: str | None) -> PromptRow:
    versions = store.versions(name)
    track = main_track(history(store, name))
    if track is None:
        return PromptRow(name, description, len(versions), problem=problem)
    points = [(r, r.summary) for r in track.rows if r.summary and r.summary.completed]
    rates = [summary.pass_rate for _, summary in points]
    best = next((r for r in track.rows if r.version.number == track.best_version), None)
    plateau_tracks = prompt_tracks(store, name, [track])  # that track's outcomes only, history not rebuilt
    on_plateau = bool(plateau_tracks) and plateau(plateau_tracks[0].versions, project.settings.plateau).on_plateau
    return PromptRow(
        name=name, description=description, versions=len(versions),
        latest_pass_rate=rates[-1] if rates else None,
        best_pass_rate=best.summary.pass_rate if best and best.summary else None,
        best_version=track.best_version, trend=rates, earlier_testset=[r.drift is not None for r, _ in points],
        on_plateau=on_plateau,
        track=f"{track.dataset} [{track.split}] · {track.model}", problem=problem,
    )


def testset_files(project: Project) -> list[Path]:
    """The test-set files and saved datasets under datasets/."""
    if not project.datasets_dir.is_dir():
        return []
    return sorted(path for path in project.datasets_dir.iterdir()
                  if path.suffix in TESTSET_SUFFIXES or (path.is_dir() and (path / "dataset_dict.json").exists()))
