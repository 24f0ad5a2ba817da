"""Provides the TUI's text rendering of core records: messages, case details, verdicts and diffs."""

from __future__ import annotations

import difflib
import json
from typing import Any

from textual.content import Content

from workbench.records import Case
from workbench.reports import dollars, milliseconds
from workbench.reviews import verdict_word
from workbench.store import Result, Review
from workbench.text import shorten
from workbench.tui.text import join, markup, plain

__all__ = ["case_detail", "expected_text", "messages_markup", "output_diff", "verdict"]


def expected_text(expected: Any) -> str:
    """An expected answer as text (structured answers as compact JSON)."""
    if expected is None:
        return ""
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)


def verdict(result: Result | None, review: Review | None = None) -> str:
    """A result's verdict as shown in tables (``reviews.verdict_word``; empty when not run)."""
    return "" if result is None else verdict_word(result, review)


def messages_markup(messages: list[dict[str, Any]]) -> Content:
    """Rendered chat messages, each under its role."""
    return join([markup("[b $accent]$role[/]\n$content", role=m["role"], content=m.get("content", ""))
                 for m in messages])


def output_diff(expected: str, output: str) -> Content:
    """A word-level diff of the output against the expected answer (red: missing, green: extra)."""
    want, got = expected.split(), output.split()
    parts = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(a=want, b=got, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(plain(" ".join(want[a0:a1])))
        if op in ("delete", "replace"):
            parts.append(markup("[b red strike]$text[/]", text=" ".join(want[a0:a1])))
        if op in ("insert", "replace"):
            parts.append(markup("[b green]$text[/]", text=" ".join(got[b0:b1])))
    return join(parts, " ")


def case_detail(case: Case, row: Result | None, review: Review | None,
                messages: list[dict[str, Any]] | None) -> Content:
    """Everything about one case: inputs, prompt, expected, output, scores with reasons, cost."""
    parts = [markup("[b]case $id[/b] · split $split" + (" · held out" if case.held_out else ""),
                    id=case.id, split=case.split)]
    parts.append(join([markup("[b]inputs[/b]")] + [markup("  $name: $value", name=k, value=shorten(v, 200))
                                                   for k, v in case.vars.items()], "\n"))
    if messages:
        parts.append(join([markup("[b]prompt[/b]"), messages_markup(messages)], "\n"))
    parts.append(markup("[b]expected[/b]\n$text", text=expected_text(case.expected) or "(none)"))
    if row is None:
        parts.append(markup("[dim]not run yet with this version and split: ctrl+r runs it[/dim]"))
        return join(parts)
    parts.append(markup("[b]output[/b] ($verdict)\n$text", verdict=verdict(row, review),
                        text=row.error or row.output or ""))
    if row.tool_calls:
        parts.append(join([markup("[b]tool calls[/b]")] + [
            markup("  $name($arguments)", name=call.get("name"),
                   arguments=json.dumps(call.get("arguments"), ensure_ascii=False)) for call in row.tool_calls],
            "\n"))
    if row.finish_reason == "length":
        parts.append(markup("[b $warning]cut at max_tokens[/]: the answer stopped at the token limit; raise "
                            "max_tokens in the prompt's params"))
    elif row.finish_reason == "content_filter":
        parts.append(markup("[b $warning]stopped by the content filter[/]: the provider withheld the rest"))
    expected = expected_text(case.expected)
    if expected and row.output is not None and row.output != expected:
        parts.append(join([markup("[b]diff against expected[/b] ([red strike]missing[/] [green]extra[/])"),
                           output_diff(expected, row.output)], "\n"))
    for score in row.scores:
        line = markup(("[green]✓[/]" if score.passed else "[red]✗[/]") + " $scorer $value (weight $weight)",
                      scorer=score.scorer, value=f"{score.value:.2f}", weight=f"{score.weight:g}")
        if score.reason:
            line = line + markup(": $reason", reason=score.reason)
        if isinstance(score.detail, dict) and score.detail.get("reasoning"):
            line = line + markup("\n      judge: $reasoning", reasoning=score.detail["reasoning"])
        parts.append(markup("  ") + line)
    if review is not None:
        parts.append(markup("[b]review[/b] $verdict", verdict=review.verdict) +
                     (markup("; correction:\n$text", text=review.correction) if review.correction else plain("")))
    cost = dollars(row.cost_usd)
    # A batch answer has no latency of its own: '-', never 0 ms.
    parts.append(plain(f"latency {milliseconds(row.latency_ms)} · tokens {row.input_tokens or 0} in / "
                       f"{row.output_tokens or 0} out · cost {cost}" + (" · cached" if row.cached else "")
                       + (f" · finish {row.finish_reason}" if row.finish_reason else "")))
    return join(parts)
