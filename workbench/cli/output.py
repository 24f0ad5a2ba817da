"""Provides plain-text output helpers for the CLI: tables, progress on stderr, JSON."""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import click

from workbench.reports import percent  # noqa: F401  (re-exported for the commands)


class Number(click.ParamType):
    """A finite number within ``[minimum, maximum]`` (``min_open``: above ``minimum``): NaN and infinity are
    refused like any other value that means nothing, so a threshold or a rate can never be one that no
    result can fall below or above. ``meaning`` says what it is in the refusal."""

    name = "number"

    def __init__(self, minimum: float | None = None, maximum: float | None = None, *, min_open: bool = False,
                 meaning: str = "") -> None:
        self.minimum, self.maximum, self.min_open, self.meaning = minimum, maximum, min_open, meaning

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        number = value if isinstance(value, float) else click.FLOAT.convert(value, param, ctx)
        below = self.minimum is not None and (number <= self.minimum if self.min_open else number < self.minimum)
        above = self.maximum is not None and number > self.maximum
        if not math.isfinite(number) or below or above:
            self.fail(f"{value!r} is not {self.meaning or self._range()}", param, ctx)
        return float(number)

    def _range(self) -> str:
        low = "" if self.minimum is None else f"{'above' if self.min_open else 'at least'} {self.minimum:g}"
        high = "" if self.maximum is None else f"at most {self.maximum:g}"
        return "a finite number" + (f" {' and '.join(part for part in (low, high) if part)}" if low or high else "")


FAIL_UNDER = Number(0, 100, meaning="a pass rate from 0 to 1, or a percentage above 1 up to 100")
"""``--fail-under``: 0.8 and 80 both mean 80%; NaN, a negative or a percentage above 100 could never fail."""


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str | None = None) -> str:
    """Align ``rows`` under ``headers`` in columns separated by two spaces; with no row, ``empty`` (one plain
    line saying there is nothing, e.g. ``no failing cases``) when given, rather than headers over nothing."""
    if not rows and empty is not None:
        return empty
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, a line per 10% otherwise."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last_decile = -1

    def update(self, done: int, passed: int, errors: int) -> None:
        """Show ``done`` of ``total`` with the running pass rate and an ETA."""
        elapsed = time.monotonic() - self.started
        rate = passed / done if done else 0.0
        eta = elapsed / done * (self.total - done) if done else 0.0
        width = 24
        filled = int(width * done / self.total)
        line = (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}  "
                f"pass {rate * 100:.0f}%  errors {errors}  ETA {eta:.0f}s")
        if self.tty:
            self.stream.write("\r" + line)
            self.stream.flush()
        elif done * 10 // self.total > self._last_decile or done == self.total:
            self._last_decile = done * 10 // self.total
            self.stream.write(line + "\n")
            self.stream.flush()  # a CI log shows each line as it is drawn

    def close(self) -> None:
        """End the progress line."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
