"""Provides the export's hygiene steps that ``workbench.examples`` leaves to it: the examples whose input
is a test case's left out, the seeded, stable train/validation split and the redaction of e-mail addresses
and phone numbers.

``workbench.examples`` leaves the test-split and held-out cases out; ``drop_test_inputs`` then leaves out
every other case with the same input as one of them (normalised as ``workbench.generate`` normalises inputs
for its duplicate check: a dev twin of a test case, or one that differs only in case or whitespace), which
would otherwise put the test input, and often its answer, in the training data.

The split hashes (seed, case id), so a case's side never depends on the other cases: adding cases to the
test set leaves every earlier case where it was.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import TYPE_CHECKING

from workbench.cases import is_held_out
from workbench.export.rows import EXPORT_TRAIN, EXPORT_VALIDATION
from workbench.generate import input_columns, normalised

if TYPE_CHECKING:
    from workbench.examples import Example
    from workbench.records import Case

SAME_INPUT_AS_TEST = "same input as a test case"
"""The manifest's ``dropped`` reason for an example whose input is a test-split or held-out case's."""

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# A phone number: an optional +country code, an optional (area code), then two to five digit groups
# separated by a space, dot or dash. The digit count (7 to 15, E.164) and the date guard weed out the
# look-alikes (ISO dates, version numbers, prices).
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
                   r"\d{2,5}(?:[ .-]\d{2,5}){1,4}(?![\w.-]?\d)"
                   r"|(?<![\w+])\+\d{7,15}(?!\d)")
DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


def drop_test_inputs(examples: list[Example], cases: list[Case]) -> tuple[list[Example], int]:
    """``examples`` without those whose case has the same input as a test-split or held-out case of
    ``cases`` (``generate.normalised`` over the test set's input columns: NFC, case folded, runs of
    whitespace made one space), and how many were left out. The held-out examples themselves (exported
    only with ``--include-test``) are the caller's to keep or not."""
    columns = input_columns(cases)
    held = {normalised(case.vars, columns) for case in cases if is_held_out(case)}
    if not held:
        return examples, 0
    by_id = {case.id: case for case in cases}
    kept = [example for example in examples
            if example.held_out or example.case_id not in by_id
            or normalised(by_id[example.case_id].vars, columns) not in held]
    return kept, len(examples) - len(kept)


def split_of(case_id: str, seed: int, valid_fraction: float) -> str:
    """``validation`` for about ``valid_fraction`` of the case ids, else ``train``; stable per case."""
    digest = hashlib.sha256(f"{seed}\x00{case_id}".encode()).digest()
    return EXPORT_VALIDATION if int.from_bytes(digest[:8], "big") / 2**64 < valid_fraction else EXPORT_TRAIN


class Redactor:
    """Replaces e-mail addresses and phone numbers with placeholders, the same value always with the same
    placeholder (``<EMAIL_1>``, ``<PHONE_2>``) so conversations stay coherent across one export."""

    def __init__(self) -> None:
        self._placeholders: dict[tuple[str, str], str] = {}
        self._per_kind: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        """Occurrences replaced, per kind (``email``, ``phone``)."""

    def __call__(self, text: str) -> str:
        """``text`` with every e-mail address and phone number replaced."""
        if "@" in text:
            text = EMAIL.sub(lambda m: self._placeholder("email", m.group(0).lower()), text)
        return PHONE.sub(self._phone, text)

    @property
    def distinct(self) -> dict[str, int]:
        """Distinct values replaced, per kind."""
        return dict(self._per_kind)

    def _phone(self, match: re.Match[str]) -> str:
        found = match.group(0)
        digits = re.sub(r"\D", "", found)
        if not 7 <= len(digits) <= 15 or DATE.match(found):
            return found
        return self._placeholder("phone", digits)

    def _placeholder(self, kind: str, key: str) -> str:
        self.counts[kind] += 1
        if (kind, key) not in self._placeholders:
            self._per_kind[kind] += 1
            self._placeholders[kind, key] = f"<{kind.upper()}_{self._per_kind[kind]}>"
        return self._placeholders[kind, key]
