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
                         hint=f"{report.prompt}@v{winner.number} is stored; run the search again to apply it")
    temporary = path.with_name(f".{path.name}.optimize")
    try:
        temporary.write_text(winner.text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as error:
        raise ApplyError(f"cannot write the winner: {error.strerror}", path=path) from None
    adopted = store.mark_applied(winner.id, report.search_id)
    report.applied = True
    store.save_search(report.search_id, report.to_dict())
    return adopted
