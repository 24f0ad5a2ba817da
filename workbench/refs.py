"""Provides the one parser for what users type to name a version or a run, shared by the CLI and the TUI.

A version: ``vN`` or ``N`` (of a prompt given elsewhere), or ``PROMPT@vN``. A run: its id, ``last`` (the
newest run), or ``PROMPT@vN`` (that version's latest run, see :func:`resolve_run_ref`). A provider batch: its
number, the provider's batch id, or ``last`` (the newest batch, see :func:`resolve_batch_ref`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workbench.errors import WorkbenchError
from workbench.names import nfc
from workbench.store import Batch, Run, Store

LAST = "last"
"""The reference naming the newest run (or batch): ``last``, in any case, spaces around it ignored."""


def is_last(text: str) -> bool:
    """Whether ``text`` is the ``last`` reference (``LAST``, ``Last``, `` last ``: any case, spaces around it
    ignored), the one test for it of every run, batch and search reference."""
    return text.strip().casefold() == LAST


class RefError(WorkbenchError):
    """A version or run reference that is malformed or names nothing."""


@dataclass(frozen=True)
class VersionRef:
    """A parsed version reference: ``number`` of ``prompt`` (None when the reference named no prompt)."""

    prompt: str | None
    number: int


def parse_version_ref(text: str) -> VersionRef:
    """``vN``, ``N`` or ``PROMPT@vN`` (spaces around it ignored, ``V`` as ``v``).

    Raises ``RefError`` (one line with the accepted forms) for anything else, or a number below 1.
    """
    cleaned = nfc(text.strip())
    prompt, sep, number = cleaned.rpartition("@")
    digits = number[1:] if number[:1] in ("v", "V") else number
    if not digits.isascii() or not digits.isdigit() or int(digits) < 1 or (sep and not prompt):
        raise RefError(f"not a version: {text!r}", hint="write it as vN or N (e.g. v3), or PROMPT@vN")
    return VersionRef(prompt if sep else None, int(digits))


def parse_version_number(text: str | None) -> int | None:
    """A version number from ``vN``/``N`` (None for None or blank, meaning "the best version")."""
    if text is None or not text.strip():
        return None
    return parse_version_ref(text).number


def resolve_run_ref(store: Store, ref: str, *, like: Run | None = None,
                    prefer: Callable[[Run], bool] | None = None) -> Run:
    """The run named by ``ref``: an id, ``last``, or ``PROMPT@vN`` (that version's latest finished run that
    measured something (at most half of its results errors, the search's rule), preferring one on the same
    test set and split as ``like``, then on its model, and one for which ``prefer`` holds). Raises
    ``RefError`` when the reference is malformed or names no run, ``StoreError`` for an
    unknown id or version."""
    text = ref.strip()
    if text.isascii() and text.isdigit():
        return store.run(int(text))
    if is_last(text):
        runs = store.runs()
        if not runs:
            raise RefError("no run yet", hint="run a prompt first: workbench run PROMPT")
        return runs[-1]
    try:
        version_ref = parse_version_ref(text)
    except RefError:
        raise RefError(f"not a run: {ref!r}", hint="give a run id, 'last', or PROMPT@vN") from None
    if version_ref.prompt is None:
        raise RefError(f"not a run: {ref!r}", hint="name the prompt too: PROMPT@vN (or give a run id or 'last')")
    version = store.version(version_ref.prompt, version_ref.number)
    candidates = store.runs(version_id=version.id)
    if not candidates:
        raise RefError(f"version {version.label} has no run yet", hint=f"workbench run {version.prompt}")
    if like is not None:
        # Never the other side itself (a tuned model's run of this version is still a run of it).
        candidates = [r for r in candidates if r.id != like.id] or candidates
        same = [r for r in candidates if (r.testset_hash, r.split) == (like.testset_hash, like.split)]
        candidates = same or candidates
        candidates = [r for r in candidates if r.model == like.model] or candidates
    # A run whose cases mostly ended in an error measured the provider, not the version: never picked for it
    # while another run of the version measured something.
    candidates = [r for r in candidates if store.error_share(r.id) <= 0.5] or candidates
    if prefer is not None:
        candidates = [r for r in candidates if prefer(r)] or candidates
    finished = [r for r in candidates if r.status == "finished"]
    return (finished or candidates)[-1]


def resolve_run_pair(store: Store, ref_a: str, ref_b: str) -> tuple[Run, Run]:
    """The two runs ``A B`` name, as ``compare`` and ``report`` read them: B is resolved like A (for
    ``PROMPT@vN``, its latest run on A's test set and split), then A again like B when A names a version, so
    a version's run on the same cases as B is taken when it has one. Raises as ``resolve_run_ref``."""
    first = resolve_run_ref(store, ref_a)
    second = resolve_run_ref(store, ref_b, like=first)
    if _names_version(ref_a):  # a version's run on the same cases as B, when it has one
        first = resolve_run_ref(store, ref_a, like=second)
    return first, second


def _names_version(ref: str) -> bool:
    """Whether a run reference is ``PROMPT@vN`` (``V`` as ``v``), as ``resolve_run_ref`` reads it."""
    try:
        return parse_version_ref(ref).prompt is not None
    except RefError:
        return False


def resolve_batch_ref(store: Store, ref: str) -> Batch:
    """The provider batch named by ``ref``: its number, the provider's batch id, or ``last`` (the newest batch),
    for every ``workbench batch`` command alike. Raises ``RefError`` for ``last`` when there is no batch,
    ``StoreError`` for an unknown batch or a provider id two servers both gave."""
    text = ref.strip()
    if is_last(text):
        batches = store.batches()
        if not batches:
            raise RefError("no batch yet", hint="'workbench run PROMPT --batch' submits one")
        return batches[-1]
    return store.batch(text)
