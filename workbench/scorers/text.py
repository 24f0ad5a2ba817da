"""Provides the text helpers the scorers share: normalisation, fenced-block stripping, short quoting
(shortening itself is ``workbench.text``)."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from workbench.text import clip

REASON_WIDTH = 200
"""A reason from a user's function or a judge is one line of at most this many characters."""
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)


def normalize(text: str) -> str:
    """Case-fold, collapse inner whitespace and strip surrounding whitespace and punctuation."""
    text = " ".join(text.casefold().split())
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_edge(char: str) -> bool:
    # Unicode categories P* cover quotes, full stops and markdown asterisks in every script.
    return char.isspace() or unicodedata.category(char).startswith("P")


def unfence(text: str) -> str:
    """The content of the first fenced code block in ``text`` (json or untagged), else ``text`` stripped."""
    for match in _FENCE.finditer(text):
        if match.group(1).lower() in ("", "json", "jsonc", "json5"):
            return match.group(2).strip()
    return text.strip()


def as_text(value: Any) -> str:
    """An expected answer as text: strings unchanged, anything else as JSON (``true``, ``3``, ``{...}``);
    a whole float is written as people write it (``3``, not ``3.0``: Parquet and pandas store integer
    columns with a gap as floats)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def quote(value: Any, limit: int = 60) -> str:
    """A one-line quoted form of ``value`` for reasons, shortened to about ``limit`` characters."""
    return repr(clip(value if isinstance(value, str) else as_text(value), limit))
