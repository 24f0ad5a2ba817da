"""Provides the ``llm_judge`` scorer: a judge model grades the output against a rubric.

The judge is called through ``ScoreContext.judge`` (the caller's client, which caches judge calls
separately and retries); a ``ProviderError`` from it, or a reply that holds no score, propagates to the
runner, which records the case as an error rather than a failure of the model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workbench.errors import ProviderError, ScorerError
from workbench.records import CompletionRequest
from workbench.scorers.registry import BuildEnv, Option, ScoreContext, ScoreFn, Verdict, scorer
from workbench.scorers.text import REASON_WIDTH, as_text, unfence
from workbench.text import shorten

SYSTEM_PROMPT = (
    "You are a strict grader. You judge one model output against a rubric and give it a score from 0 "
    "(fails the rubric) to 1 (fully meets it). Do not reward length or confidence. Reply with JSON only, "
    'in this form: {"reasoning": "<one or two sentences>", "score": <number from 0 to 1>}'
)
# A line that states the verdict: starts with it (after "Verdict:", "Final answer:", markdown stars).
_VERDICT_LINE = re.compile(
    r"^[\s*#>-]*(?i:(?:final\s+)?(?:verdict|grade|answer|result)[\s*]*[:=-][\s*]*)?(PASS|FAIL)(?:ED|ES)?\b",
    re.MULTILINE)
_REASONING_KEYS = ("reasoning", "reason", "explanation", "rationale")


def judge_messages(rubric: str, context: ScoreContext) -> list[dict[str, str]]:
    """The messages sent to the judge: the rubric, the conversation, the expected answer and the output."""
    conversation = "\n".join(
        f"[{message.get('role', 'user')}] {as_text(message.get('content', ''))}"
        for message in context.messages
    )
    parts = [f"Rubric:\n{rubric.strip()}", f"Conversation given to the model:\n{conversation or '(none)'}"]
    if context.case.expected is not None:
        parts.append(f"Reference answer:\n{as_text(context.case.expected)}")
    parts.append(f"Model output to grade:\n{context.output}")
    parts.append('Reply with JSON only: {"reasoning": "...", "score": <0 to 1>}')
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_reply(text: str) -> tuple[float, str] | None:
    """The judge's (score, reasoning) from JSON (fenced or amid text) or a stated verdict, else None.

    A JSON reply must hold a score in [0, 1] or a verdict field: its words are never searched (``"It
    would PASS only if ..."`` with ``"score": 2`` is no verdict). A plain reply counts only when a line
    states the verdict (``PASS``, ``FAIL: wrong team``, ``Verdict: FAIL``), and all such lines agree;
    ``PASS`` inside a sentence (``does not PASS``) is not one.
    """
    data = _json_object(text)
    if data is not None:
        reasoning = next((str(data[key]) for key in _REASONING_KEYS if data.get(key) not in (None, "")), "")
        value = _score_value(data.get("score"))
        if value is None:
            value = _verdict_value(data.get("verdict", data.get("passed", data.get("pass"))))
        return (value, reasoning) if value is not None else None
    stated = {match.group(1) for match in _VERDICT_LINE.finditer(text)}
    if len(stated) == 1:
        return (1.0 if stated.pop() == "PASS" else 0.0), text.strip()
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [unfence(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


def _score_value(raw: Any) -> float | None:
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 <= raw <= 1:
        return float(raw)
    return None


def _verdict_value(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, str) and raw.strip().upper() in ("PASS", "FAIL"):
        return 1.0 if raw.strip().upper() == "PASS" else 0.0
    return None


@scorer("llm_judge", Option("rubric", "str", required=True), Option("model", "str"),
        Option("pass_threshold", "number", 0.5, minimum=0, maximum=1), Option("params", "dict", {}))
def llm_judge(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Ask a judge model to grade the output against ``rubric``; keep its reasoning."""
    model = options["model"] or env.default_judge_model
    if not model:
        raise ScorerError("scorer 'llm_judge' has no judge model",
                          hint="set judge_model in workbench.toml [defaults] or model: in the scorer")
    params = {"temperature": 0, **options["params"]}

    async def evaluate(context: ScoreContext) -> Verdict:
        if context.judge is None:
            raise ScorerError("scorer 'llm_judge' was given no judge client",
                              hint="pass judge= in ScoreContext")
        completion = await context.judge(CompletionRequest(model, judge_messages(options["rubric"], context),
                                                           dict(params)))
        parsed = parse_reply(completion.text)
        if parsed is None:
            # A reply the judge botched is no verdict on the output: the case errors (and is judged
            # again on resume) instead of counting as the model's failure.
            shown = shorten(completion.text, 80) or "(empty)"
            raise ProviderError(f"{model} reply not understood: {shown}", kind="judge_unreadable",
                                hint="check the judge model, or ask for JSON in the rubric")
        value, reasoning = parsed
        detail = {"reasoning": reasoning, "judge_model": model, "raw": completion.text}
        reason = shorten(reasoning, REASON_WIDTH) or f"judge score {value:g}"
        return Verdict(value, value >= options["pass_threshold"], reason, detail)

    return evaluate
