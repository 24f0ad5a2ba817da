"""Provides ``apply_winner``: a search's winner written to the prompt's file (``workbench optimize --apply``)
and adopted into the hand-made track. The text it replaces is a stored version already: the search
started from it.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.optimize.report import SearchReport
from workbench.prompts import load_prompt
from workbench.store import Store, Version
from workbench.store.rows import Search


class ApplyError(WorkbenchError):
    """A winner that cannot be written (the prompt file changed during the search, or cannot be written)."""


def should_apply(report: SearchReport) -> str | None:
    """Why the winner is not written (None: it is): only a winner that did better than the start on the
    confirmation fold replaces it."""
    if report.status != "finished":
        return f"the search is {report.status}"
    if report.winner_version is None or report.winner_version == report.start_version:
        return f"no candidate beat v{report.start_version} on the search fold"
    if report.confirmation is None or report.confirmation.gain <= 0:
        return f"v{report.winner_version} did not hold up on the confirmation fold"
    return None


def apply_winner(store: Store, report: SearchReport, path: Path) -> Version:
    """Write the winner of ``report`` over the prompt file at ``path`` (which must still hold the start's
    text) and mark it adopted; returns the winner's version."""
    assert report.winner_version is not None
    start = store.version(report.prompt, report.start_version)
    winner = store.version(report.prompt, report.winner_version)
    if load_prompt(path).hash != start.hash:
        raise ApplyError("the prompt file changed during the search: the winner was not written", path=path,
                         hint=f"{report.prompt}@v{winner.number} is stored; apply it with 'workbench optimize "
                              f"{report.prompt} --apply-search {report.search_id}'")
    _write(path, winner.text)
    return _adopt(store, report, winner)


def apply_stored(store: Store, search: Search, path: Path) -> tuple[Version, Version | None]:
    """Write the winner of the stored ``search`` over the prompt file at ``path``, later than the search
    (``workbench optimize PROMPT --apply-search ID``): only a winner ``should_apply`` accepts. The file's
    text is never lost: when it is neither the start's nor the winner's nor any stored version's, it is
    stored as a version first. Returns (the winner's version, the version the file's text was kept as, or
    None when it was stored already). Raises ``ApplyError`` with the reason when the winner is not to be
    applied."""
    if search.report is None:
        raise ApplyError(f"search {search.id} kept no report", hint="run the search again")
    report = SearchReport.from_dict(search.report)
    why_not = should_apply(report)
    if why_not is not None:
        raise ApplyError(f"search {search.id}'s winner is not applied: {why_not}")
    assert report.winner_version is not None
    current = load_prompt(path)
    winner = store.version(report.prompt, report.winner_version)
    kept = None
    if store.version_by_hash(report.prompt, current.hash) is None:
        kept = store.save_version(current, note=f"kept before applying search {search.id}")
    if current.hash != winner.hash:
        _write(path, winner.text)
    return _adopt(store, report, winner), kept


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.optimize")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        raise ApplyError(f"cannot write the winner: {error.strerror}", path=path) from None


def _adopt(store: Store, report: SearchReport, winner: Version) -> Version:
    adopted = store.mark_applied(winner.id, report.search_id)
    report.applied = True
    store.save_search(report.search_id, report.to_dict())
    return adopted
