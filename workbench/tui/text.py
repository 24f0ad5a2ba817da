"""Provides the one way the TUI shows text that comes from users, files or models: literally.

Case values, outputs, expected answers, file and prompt names, error messages, reasons and diffs may
hold anything, ``[/b]`` and ``[docs](http://x)`` included. Parsed as markup they crash Rich/Textual or
lose characters, so they never are: table cells get ``literal`` (a Rich ``Text``, never parsed), and
widget text is built with ``markup(TEMPLATE, name=value)``, where only our own template is markup and
each ``$name`` is replaced by its value as plain text (Textual's template variables).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.content import Content

from workbench.text import shorten


def literal(value: Any, width: int | None = None, style: str = "") -> Text:
    """``value`` as a table cell shown exactly as written (one line of ``width`` when given)."""
    text = shorten(value, width) if width is not None else ("" if value is None else str(value))
    return Text(text, style=style, no_wrap=width is not None)


def markup(template: str, **values: Any) -> Content:
    """Our markup ``template`` with each ``$name`` replaced by ``values[name]`` as literal text."""
    return Content.from_markup(template, **{name: "" if value is None else str(value)
                                            for name, value in values.items()})


def escape_markup(value: Any) -> str:
    """``value`` for the few Textual APIs that take only a markup string (the command palette's titles):
    every ``[`` escaped, which Textual's own ``escape`` does not do for ``[BOLD]`` or ``[$x]``."""
    return ("" if value is None else str(value)).replace("[", "\\[")


def plain(value: Any) -> Content:
    """``value`` as content with no markup at all."""
    return Content("" if value is None else str(value))


def join(parts: list[Content], separator: str = "\n\n") -> Content:
    """Contents joined by ``separator`` (plain text)."""
    return Content(separator).join(parts)
