"""Provides ``Row``: one training example as every exporter sees it, after hygiene (split, redaction,
token count), with the provenance the manifest records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.cases import DEFAULT_SPLIT
from workbench.records import Message

EXPORT_TRAIN = "train"
EXPORT_VALIDATION = "validation"
EXPORT_SPLITS = (EXPORT_TRAIN, EXPORT_VALIDATION)
"""The export's own split of its examples (file names, manifest keys): not a test set's case splits."""


@dataclass(frozen=True)
class Row:
    """One example: the training prompt, its target, an optional rejected output, and where it came from."""

    case_id: str
    split: str
    """``train`` or ``validation`` (the export's split, not the test set's)."""
    prompt: list[Message]
    """The training prompt: uniform ``{role, content}`` messages, never ending with the target."""
    target: str
    source: str
    """``corrected``, ``gold`` or ``passing``."""
    version: int
    score: float | None
    tokens: int
    """Tokens of the prompt and the target together."""
    case_split: str = DEFAULT_SPLIT
    """The case's split in the test set (``test`` only with ``--include-test``)."""
    held_out: bool = False
    """The case is held out (test split or marked held_out, ``cases.is_held_out``): only with --include-test."""
    rejected: str | None = None
    """A failing output of the version: the rejected side of a preference pair."""

    @property
    def messages(self) -> list[Message]:
        """The whole conversation: the prompt, then the target as the assistant's reply."""
        return [*self.prompt, {"role": "assistant", "content": self.target}]

    @property
    def has_pair(self) -> bool:
        """True when the row can be a preference pair (a rejected output that differs from the target)."""
        return self.rejected is not None and self.rejected != self.target

    def provenance(self) -> dict[str, Any]:
        """The manifest's record of this row."""
        return {"case_id": self.case_id, "version": self.version, "source": self.source, "score": self.score,
                "split": self.split, "case_split": self.case_split, "tokens": self.tokens,
                "preference_pair": self.has_pair}
