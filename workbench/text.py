"""Provides the one way the workbench shortens text for a line of output: ``shorten`` (whitespace
collapsed, cut with an ellipsis) and ``clip`` (cut only). The CLI, the TUI and the scorers' reasons all
use these, each with its own width; and ``kind_of``, how a type error names a value without repeating it.
"""

from __future__ import annotations

import unicodedata
from typing import Any

ELLIPSIS = "…"


def clip(text: str, width: int) -> str:
    """``text`` if it fits in ``width`` characters, else its start and an ellipsis, ``width`` in all."""
    return text if len(text) <= width else text[: width - 1] + ELLIPSIS


def shorten(text: Any, width: int) -> str:
    """``text`` on one line (whitespace runs collapsed to a space) of at most ``width`` characters; None
    is empty."""
    if text is None:
        return ""
    return clip(" ".join(str(text).split()), width)


def visible(text: str) -> bool:
    """Whether ``text`` shows anything: not only spaces and invisible format characters (Unicode
    category Cf, e.g. zero-width spaces). The one test of "empty" for a rendered message or input."""
    return any(not char.isspace() and unicodedata.category(char) != "Cf" for char in text)


def one_line(error: BaseException) -> str:
    """An unexpected exception as one short line: its type and the first line of its message, clipped."""
    return clip(f"{type(error).__name__}: {error}".splitlines()[0], 300)


def kind_of(value: Any) -> str:
    """What ``value`` is, in words (``a string``, ``a list``, ``a mapping``, ``a number``, ...): how a type error
    names a wrong value without repeating it, since it may hold a key or an address with one."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    import datetime

    if isinstance(value, datetime.date | datetime.time):
        return "a date or time"
    return f"a {type(value).__name__}"
