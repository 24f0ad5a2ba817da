"""Provides the per-record checks of every export target and the validation report.

The OpenAI checks reuse the error names of the OpenAI cookbook's "Data preparation and analysis for chat
model fine-tuning" notebook (``data_type``, ``missing_messages_list``, ``message_missing_key``,
``message_unrecognized_key``, ``unrecognized_role``, ``missing_content``,
``example_missing_assistant_message``), extended for tool calls and weights as the reference notes advise.
The other targets add their own names: ``roles_not_alternating``, ``invalid_weight``,
``extra_keys_not_allowed``, ``last_message_not_assistant``, ``over_token_limit``, ``too_few_examples``
and a few format-specific ones documented where they are raised.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.export.rows import EXPORT_SPLITS, EXPORT_TRAIN, EXPORT_VALIDATION

if TYPE_CHECKING:
    from workbench.export.formats import Exporter
    from workbench.export.rows import Row

# Message keys and roles the OpenAI chat format accepts: the cookbook's, plus the tool-calling ones.
OPENAI_MESSAGE_KEYS = frozenset({"role", "content", "name", "function_call", "weight", "tool_calls",
                                 "tool_call_id", "refusal"})
OPENAI_ROLES = frozenset({"system", "user", "assistant", "function", "tool"})
OPENAI_EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
PLAIN_MESSAGE_KEYS = frozenset({"role", "content"})
PLAIN_ROLES = frozenset({"system", "user", "assistant"})
SAMPLES = 20
"""How many failing records the report lists by case (the counts cover them all)."""


@dataclass
class FormatReport:
    """The validation of one export target: error and warning counts, and where the first errors are."""

    format: str
    records: dict[str, int] = field(default_factory=dict)
    """Records per file stem (``train``, ``validation``, or ``SHAPE/train`` for several shapes)."""
    errors: Counter[str] = field(default_factory=Counter)
    warnings: dict[str, str] = field(default_factory=dict)
    """Warning name -> one line explaining it."""
    samples: list[dict[str, str]] = field(default_factory=list)
    """The first failing records: case id, export split, shape and error name."""
    subjects: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    """Warning name -> (what it is about: ``FORMAT`` or ``FORMAT/SHAPE``, what it says of it), for
    ``merged_warnings``."""

    @property
    def ok(self) -> bool:
        """True when no record and no dataset-level check failed."""
        return not self.errors

    def error(self, name: str, case_id: str = "", split: str = "", shape: str = "") -> None:
        """Count one error, remembering where for the first few."""
        self.errors[name] += 1
        if len(self.samples) < SAMPLES:
            self.samples.append({"error": name, "case_id": case_id, "split": split, "shape": shape})

    def warn(self, name: str, text: str, about: str = "", *, named: bool = True) -> None:
        """Record the warning ``name``: ``text`` of ``about`` (the target or one of its shapes; the format by
        default), its line naming ``about`` unless ``named`` is False (the report is the format's own)."""
        about = about or self.format
        self.warnings[name] = f"{about}: {text}" if named else text
        self.subjects[name] = (about, text)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"format": self.format, "ok": self.ok, "records": dict(self.records),
                "errors": dict(sorted(self.errors.items())), "warnings": dict(self.warnings),
                "samples": list(self.samples)}


def has_text(content: Any) -> bool:
    """True for a string with something other than white space."""
    return isinstance(content, str) and bool(content.strip())


def check_openai_chat(example: Any) -> list[str]:
    """The cookbook checks of one chat example, extended to tool calls, ``tool_call_id`` and weights."""
    if not isinstance(example, dict):
        return ["data_type"]
    messages = example.get("messages")
    if not messages or not isinstance(messages, list):
        return ["missing_messages_list"]
    errors: list[str] = []
    if set(example) - OPENAI_EXAMPLE_KEYS:
        errors.append("extra_keys_not_allowed")
    call_ids: set[object] = set()  # as written in the record: an id is not checked to be a string
    for message in messages:
        if not isinstance(message, dict):
            errors.append("data_type")
            continue
        role, content = message.get("role"), message.get("content")
        tool_calls = message.get("tool_calls")
        # An assistant message that calls tools may have no content (the cookbook predates tools).
        if "role" not in message or ("content" not in message and not tool_calls):
            errors.append("message_missing_key")
        if set(message) - OPENAI_MESSAGE_KEYS:
            errors.append("message_unrecognized_key")
        if role not in OPENAI_ROLES:
            errors.append("unrecognized_role")
        if tool_calls:
            call_ids |= {call.get("id") for call in tool_calls if isinstance(call, dict)}
            if content is not None and not isinstance(content, str):
                errors.append("missing_content")
        elif (not content and not message.get("function_call")) or not isinstance(content, str):
            errors.append("missing_content")
        if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)
                                    or isinstance(message["weight"], bool)):
            errors.append("invalid_weight")
        if role == "tool" and message.get("tool_call_id") not in call_ids:
            errors.append("tool_call_unmatched")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        errors.append("example_missing_assistant_message")
    return errors


def check_plain_messages(messages: Any, *, roles: frozenset[str] = PLAIN_ROLES,
                         optional_keys: frozenset[str] = frozenset()) -> list[str]:
    """Checks of a list of ``{role, content}`` messages (TRL, Hugging Face, Bedrock, Together), with the
    cookbook's error names; ``optional_keys`` may appear besides role and content."""
    if not messages or not isinstance(messages, list):
        return ["missing_messages_list"]
    errors: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            errors.append("data_type")
            continue
        if not PLAIN_MESSAGE_KEYS <= set(message):
            errors.append("message_missing_key")
        if set(message) - PLAIN_MESSAGE_KEYS - optional_keys:
            errors.append("message_unrecognized_key")
        if message.get("role") not in roles:
            errors.append("unrecognized_role")
        if not has_text(message.get("content")):
            errors.append("missing_content")
    return errors


def alternates(roles: list[Any], first: str = "user", second: str = "assistant") -> bool:
    """True when ``roles`` go first, second, first, ... (after any leading system messages were removed)."""
    return all(role == (first if index % 2 == 0 else second) for index, role in enumerate(roles))


def check_weights(messages: list[Any]) -> list[str]:
    """``invalid_weight`` for a weight other than the integer 0 or 1, or on a non-assistant turn."""
    for message in messages:
        if isinstance(message, dict) and "weight" in message:
            weight = message["weight"]
            if message.get("role") != "assistant" or isinstance(weight, bool) or weight not in (0, 1) \
                    or not isinstance(weight, int):
                return ["invalid_weight"]
    return []


def check_extra_keys(record: Any, allowed: frozenset[str],
                     required: frozenset[str] = frozenset()) -> list[str]:
    """``data_type`` for a non-object; ``extra_keys_not_allowed``, ``missing_key`` for its top-level keys."""
    if not isinstance(record, dict):
        return ["data_type"]
    errors = []
    if set(record) - allowed:
        errors.append("extra_keys_not_allowed")
    if required - set(record):
        errors.append("missing_key")
    return errors


def check_single_assistant(messages: Any, error: str) -> list[str]:
    """``error`` unless ``messages`` is exactly one assistant message with text content."""
    ok = (isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], dict)
          and messages[0].get("role") == "assistant" and has_text(messages[0].get("content")))
    return [] if ok else [error]


def check_format(exporter: Exporter, rows: list[Row]) -> FormatReport:
    """Validate every record ``exporter`` would write for ``rows``, and the dataset-level rules."""
    report = FormatReport(exporter.name)
    for shape in exporter.shapes():
        selected = [row for row in rows if row.has_pair or not shape.pairs]
        label = f"{exporter.name}/{shape.name}" if shape.name else exporter.name
        prefix = f"{shape.name}:" if shape.name else ""
        counts = Counter(row.split for row in selected)
        for split in EXPORT_SPLITS:
            report.records[f"{shape.name}/{split}" if shape.name else split] = counts[split]
        for row in selected:
            for name in dict.fromkeys(shape.check(shape.record(row))):  # each error once per record
                report.error(name, row.case_id, row.split, shape.name)
            if exporter.max_tokens is not None and row.tokens > exporter.max_tokens:
                report.error("over_token_limit", row.case_id, row.split, shape.name)
        if not selected and shape.optional:
            report.warn(f"{prefix}empty_shape", "no preference pairs (a correction or gold answer against a "
                                                "failing output): not written", label)
            continue
        if counts[EXPORT_TRAIN] < exporter.min_examples:
            report.error("too_few_examples", split=EXPORT_TRAIN, shape=shape.name)
            report.warn(f"{prefix}too_few_examples", f"{counts_of(counts[EXPORT_TRAIN], 'training record')}, the "
                                                     f"target needs at least {exporter.min_examples}", label)
        elif exporter.recommended_examples and counts[EXPORT_TRAIN] < exporter.recommended_examples:
            report.warn(f"{prefix}below_recommended_examples",
                        f"{counts_of(counts[EXPORT_TRAIN], 'training record')}; "
                        f"{exporter.recommended_examples} or more are recommended for a visible gain", label)
        if exporter.max_validation is not None and counts[EXPORT_VALIDATION] > exporter.max_validation:
            report.error("too_many_validation_examples", split=EXPORT_VALIDATION, shape=shape.name)
        if selected and not counts[EXPORT_VALIDATION]:
            report.warn(f"{prefix}empty_validation_split", "no validation records", label)
    missing_system = sum(1 for row in rows if not any(m["role"] == "system" for m in row.prompt))
    if missing_system and exporter.name.startswith("openai"):
        # The cookbook's warning: examples without the system prompt train a model that needs none.
        report.warn("n_missing_system", f"{counts_of(missing_system, 'example')} "
                                        f"{'has' if missing_system == 1 else 'have'} no system message", named=False)
    return report


def merged_warnings(reports: Iterable[FormatReport]) -> list[str]:
    """Every report's warnings, each said once however many targets it applies to, naming them all
    (``openai-chat, openai-completion: 8 examples have no system message``), in the order first seen: what
    the front ends show of an export to several formats."""
    about: dict[str, list[str]] = {}
    for report in reports:
        for subject, text in report.subjects.values():  # every warning is recorded by ``warn``
            subjects = about.setdefault(text, [])
            if subject not in subjects:
                subjects.append(subject)
    return [f"{', '.join(subjects)}: {text}" for text, subjects in about.items()]


def counts_of(n: int, noun: str) -> str:
    """``1 example``, ``2 examples``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
