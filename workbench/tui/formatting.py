"""Provides the TUI's text rendering of core records: messages, case details, verdicts and diffs."""

from __future__ import annotations

import difflib
import json
from typing import Any

from rich.markup import escape

from workbench.evaluation import review_applies
from workbench.records import Case


def short(text: Any, width: int = 40) -> str:
    """One line of at most ``width`` characters."""
    if text is None:
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def expected_text(expected: Any) -> str:
    """An expected answer as text (structured answers as compact JSON)."""
    if expected is None:
        return ""
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)


def verdict(row: dict[str, Any] | None, review: dict[str, Any] | None = None) -> str:
    """A result's verdict as shown in tables; a human review (on that output) wins."""
    if row is None:
        return ""
    if review is not None and review_applies(review, row):
        return "good (human)" if review["verdict"] == "good" else "bad (human)"
    if row["error"]:
        return "error"
    return "pass" if row["passed"] else "fail"


def messages_markup(messages: list[dict[str, Any]]) -> str:
    """Rendered chat messages, each under its role."""
    return "\n\n".join(f"[b $accent]{escape(m['role'])}[/]\n{escape(str(m.get('content', '')))}" for m in messages)


def output_diff(expected: str, output: str) -> str:
    """A word-level diff of the output against the expected answer, as markup (red: missing, green: extra)."""
    want, got = expected.split(), output.split()
    parts = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(a=want, b=got, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape(" ".join(want[a0:a1])))
        if op in ("delete", "replace"):
            parts.append(f"[b red strike]{escape(' '.join(want[a0:a1]))}[/]")
        if op in ("insert", "replace"):
            parts.append(f"[b green]{escape(' '.join(got[b0:b1]))}[/]")
    return " ".join(parts)


def case_detail(case: Case, row: dict[str, Any] | None, review: dict[str, Any] | None,
                messages: list[dict[str, Any]] | None) -> str:
    """Everything about one case: inputs, prompt, expected, output, scores with reasons, cost."""
    parts = [f"[b]case {escape(case.id)}[/b] · split {case.split}" + (" · held out" if case.held_out else "")]
    parts.append("[b]inputs[/b]\n" + "\n".join(f"  {escape(k)}: {escape(short(v, 200))}" for k, v in case.vars.items()))
    if messages:
        parts.append("[b]prompt[/b]\n" + messages_markup(messages))
    parts.append(f"[b]expected[/b]\n{escape(expected_text(case.expected)) or '(none)'}")
    if row is None:
        parts.append("[dim]not run yet with this version and split: ctrl+r runs it[/dim]")
        return "\n\n".join(parts)
    parts.append(f"[b]output[/b] ({verdict(row, review)})\n{escape(row['error'] or row['output'] or '')}")
    expected = expected_text(case.expected)
    if expected and row["output"] is not None and row["output"] != expected:
        parts.append("[b]diff against expected[/b] ([red strike]missing[/] [green]extra[/])\n"
                     + output_diff(expected, row["output"]))
    for score in row["scores"]:
        mark = "[green]✓[/]" if score["passed"] else "[red]✗[/]"
        line = f"  {mark} {escape(score['scorer'])} {score['value']:.2f} (weight {score['weight']:g})"
        if score["reason"]:
            line += f": {escape(score['reason'])}"
        detail = json.loads(score["detail_json"]) if score.get("detail_json") else {}
        if isinstance(detail, dict) and detail.get("reasoning"):
            line += f"\n      judge: {escape(str(detail['reasoning']))}"
        parts.append(line)
    if review is not None:
        parts.append(f"[b]review[/b] {review['verdict']}" +
                     (f"; correction:\n{escape(review['correction'])}" if review.get("correction") else ""))
    cost = "-" if row["cost_usd"] is None else f"${row['cost_usd']:.5f}"
    parts.append(f"latency {row['latency_ms'] or 0:.0f} ms · tokens {row['input_tokens'] or 0} in / "
                 f"{row['output_tokens'] or 0} out · cost {cost}" + (" · cached" if row["cached"] else ""))
    return "\n\n".join(parts)
