"""Provides the export's hygiene steps that ``workbench.examples`` leaves to it: the seeded, stable
train/validation split and the redaction of e-mail addresses and phone numbers.

The split hashes (seed, case id), so a case's side never depends on the other cases: adding cases to the
test set leaves every earlier case where it was.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

from workbench.export.rows import EXPORT_TRAIN, EXPORT_VALIDATION

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# A phone number: an optional +country code, an optional (area code), then two to five digit groups
# separated by a space, dot or dash. The digit count (7 to 15, E.164) and the date guard weed out the
# look-alikes (ISO dates, version numbers, prices).
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
                   r"\d{2,5}(?:[ .-]\d{2,5}){1,4}(?![\w.-]?\d)"
                   r"|(?<![\w+])\+\d{7,15}(?!\d)")
DATE = re.compile(r"^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{2,4}$")


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
