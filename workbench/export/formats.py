"""Provides the export targets: a registry of exporters by name, each turning ``Row``s into the records
of one trainer's format, checking them, and writing them into its own folder of the export.

Provider files are written with ``json.dumps(..., ensure_ascii=False)`` line by line, never through
``datasets`` (whose JSON writer null-pads mixed message keys and escapes ``/``); ``datasets`` is imported
only by the ``hf`` exporter, when it writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from workbench.errors import ExportError
from workbench.export import validate as v
from workbench.export.rows import EXPORT_SPLITS, EXPORT_TRAIN, Row
from workbench.records import Message

Record = dict[str, Any]

# OpenAI's legacy prompt/completion conventions: a fixed separator ends every prompt, every completion
# starts with a space and ends with a fixed stop sequence.
SEPARATOR = "\n\n###\n\n"
STOP = " END"
OPENAI_MAX_TOKENS = 65_536
"""Training tokens per example of gpt-4o, gpt-4o-mini and gpt-4.1 (longer examples are truncated)."""


@dataclass(frozen=True)
class Shape:
    """One dataset an exporter writes: how a row becomes a record, and how a record is checked."""

    name: str
    """Empty for an exporter's only shape; else the sub-folder it is written to."""
    record: Callable[[Row], Record]
    check: Callable[[Any], list[str]]
    pairs: bool = False
    """Only rows with a preference pair (a rejected output) belong to this shape."""
    optional: bool = False
    """No rows is a warning, not ``too_few_examples`` (TRL's preference shape)."""


class Exporter:
    """One export target. Subclasses set the class attributes and ``shapes``; most write JSONL."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    min_examples: ClassVar[int] = 1
    """Fewest training records the target accepts (``too_few_examples`` below it)."""
    recommended_examples: ClassVar[int | None] = None
    """Fewer training records than this is a warning."""
    max_tokens: ClassVar[int | None] = None
    """Most tokens per example (``over_token_limit`` above it)."""
    max_validation: ClassVar[int | None] = None
    """Most validation records (``too_many_validation_examples`` above it)."""
    suffix: ClassVar[str] = ".jsonl"

    def shapes(self) -> list[Shape]:
        """The datasets this target consists of."""
        raise NotImplementedError

    def file(self, shape: Shape, split: str) -> str:
        """The path of one shape's split, relative to the exporter's folder."""
        return f"{shape.name}/{split}{self.suffix}" if shape.name else f"{split}{self.suffix}"

    def write(self, folder: Path, rows: dict[str, list[Row]]) -> list[Path]:
        """Write every shape's non-empty splits under ``folder``; returns the files written."""
        written = []
        for shape in self.shapes():
            for split in EXPORT_SPLITS:
                selected = [row for row in rows[split] if row.has_pair or not shape.pairs]
                if not selected:
                    continue
                path = folder / self.file(shape, split)
                path.parent.mkdir(parents=True, exist_ok=True)
                self.write_records(path, (shape.record(row) for row in selected))
                written.append(path)
        return written

    def write_records(self, path: Path, records: Iterable[Record]) -> None:
        """One JSON object per line, UTF-8 kept as is."""
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(dumps(record) + "\n" for record in records)


FORMATS: dict[str, Exporter] = {}
"""Every registered exporter by name, in registration order."""
DEFAULT_FORMAT = "openai-chat"


def register(cls: type[Exporter]) -> type[Exporter]:
    """Class decorator: make an exporter available by its ``name``."""
    FORMATS[cls.name] = cls()
    return cls


def get_format(name: str) -> Exporter:
    """The exporter called ``name``."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ExportError(f"unknown export format {name!r}", hint=f"formats: {', '.join(FORMATS)}") from None


# Shared pieces --------------------------------------------------------------------------------------------


def assistant(text: str) -> Message:
    """An assistant message with ``text``."""
    return {"role": "assistant", "content": text}


def weighted_messages(row: Row) -> list[Message]:
    """The conversation, with few-shot assistant turns of the prompt at weight 0 so only the target trains.

    A prompt without assistant turns gets no weights at all (every assistant message trains by default).
    """
    if not any(message["role"] == "assistant" for message in row.prompt):
        return row.messages
    context = [dict(m, weight=0) if m["role"] == "assistant" else dict(m) for m in row.prompt]
    return [*context, {"role": "assistant", "content": row.target, "weight": 1}]


def lift_system(prompt: list[Message]) -> tuple[str | None, list[Message]]:
    """(the leading system messages' text, the rest) for targets that keep the system prompt apart."""
    index = 0
    while index < len(prompt) and prompt[index]["role"] == "system":
        index += 1
    system = "\n\n".join(m["content"] for m in prompt[:index]) or None
    return system, prompt[index:]


def flatten(messages: list[Message]) -> str:
    """Messages as one text: a lone message's content, else ``Role: content`` paragraphs."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def _without_system(roles: list[Any]) -> list[Any]:
    index = 0
    while index < len(roles) and roles[index] == "system":
        index += 1
    return roles[index:]


# OpenAI -----------------------------------------------------------------------------------------------------


@register
class OpenAIChat(Exporter):
    """OpenAI chat JSONL: the common interchange format (Together, Fireworks, Azure and TRL read it too)."""

    name = "openai-chat"
    description = "OpenAI chat fine-tuning JSONL ({messages: [...]})"
    min_examples = 10
    recommended_examples = 50
    max_tokens = OPENAI_MAX_TOKENS

    def shapes(self) -> list[Shape]:
        """One shape: the chat example."""
        return [Shape("", lambda row: {"messages": weighted_messages(row)}, v.check_openai_chat)]


@register
class OpenAICompletion(Exporter):
    """OpenAI's legacy prompt/completion JSONL (babbage-002, davinci-002), separator and stop included."""

    name = "openai-completion"
    description = "OpenAI legacy prompt/completion JSONL ({prompt, completion})"
    min_examples = 10
    max_tokens = OPENAI_MAX_TOKENS

    def shapes(self) -> list[Shape]:
        """One shape: the prompt/completion pair."""
        return [Shape("", self.record, check_openai_completion)]

    @staticmethod
    def record(row: Row) -> Record:
        """The flattened prompt ending in the separator; the target after a space, ending in the stop."""
        return {"prompt": flatten(row.prompt) + SEPARATOR, "completion": " " + row.target + STOP}


def check_openai_completion(record: Any) -> list[str]:
    """Keys and types, plus the legacy guide's separator and stop-sequence rules."""
    keys = frozenset({"prompt", "completion"})
    errors = v.check_extra_keys(record, keys, keys)
    if "data_type" in errors:
        return errors
    prompt, completion = record.get("prompt"), record.get("completion")
    if not isinstance(prompt, str) or not prompt.removesuffix(SEPARATOR).strip():
        return [*errors, "missing_content"]
    if not isinstance(completion, str) or not completion.removesuffix(STOP).strip():
        return [*errors, "missing_content"]
    if not prompt.endswith(SEPARATOR):
        errors.append("separator_missing")
    elif SEPARATOR in prompt[: -len(SEPARATOR)]:
        errors.append("separator_in_prompt")  # the model could not tell where the prompt ends
    if not completion.startswith(" "):
        errors.append("completion_missing_leading_space")
    if not completion.endswith(STOP):
        errors.append("stop_sequence_missing")
    elif STOP in completion[: -len(STOP)]:
        errors.append("stop_sequence_in_completion")  # generation would stop early
    return errors


@register
class OpenAIDPO(Exporter):
    """OpenAI preference (DPO) JSONL: a correction or gold answer preferred over a failing output."""

    name = "openai-dpo"
    description = "OpenAI preference JSONL ({input: {messages}, preferred_output, non_preferred_output})"
    min_examples = 10
    max_tokens = OPENAI_MAX_TOKENS

    def shapes(self) -> list[Shape]:
        """One shape: the preference pair."""
        return [Shape("", self.record, check_openai_dpo, pairs=True)]

    @staticmethod
    def record(row: Row) -> Record:
        """The prompt as input, the target preferred, the rejected output not."""
        return {"input": {"messages": list(row.prompt)}, "preferred_output": [assistant(row.target)],
                "non_preferred_output": [assistant(row.rejected or "")]}


def check_openai_dpo(record: Any) -> list[str]:
    """One-turn input ending with a user message, one assistant message on each side, and they differ."""
    keys = frozenset({"input", "preferred_output", "non_preferred_output"})
    errors = v.check_extra_keys(record, keys, keys)
    if "data_type" in errors:
        return errors
    source = record.get("input")
    messages = source.get("messages") if isinstance(source, dict) else None
    if isinstance(source, dict) and set(source) - {"messages", "tools", "parallel_tool_calls"}:
        errors.append("extra_keys_not_allowed")
    found = v.check_openai_chat({"messages": messages})
    errors += [error for error in found if error != "example_missing_assistant_message"]
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        if any(m.get("role") == "assistant" for m in messages):
            errors.append("multi_turn_not_supported")  # OpenAI trains preferences on one-turn examples only
        if messages[-1].get("role") != "user":
            errors.append("last_input_message_not_user")
    preferred, other = record.get("preferred_output"), record.get("non_preferred_output")
    errors += v.check_single_assistant(preferred, "invalid_preferred_output")
    errors += v.check_single_assistant(other, "invalid_non_preferred_output")
    if preferred == other:
        errors.append("identical_outputs")
    return errors


# Hugging Face and TRL ---------------------------------------------------------------------------------------


def check_conversation(messages: Any) -> list[str]:
    """Uniform ``{role, content}`` messages ending with the assistant's answer."""
    errors = v.check_plain_messages(messages)
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
            errors.append("example_missing_assistant_message")
        elif messages[-1].get("role") != "assistant":
            errors.append("last_message_not_assistant")
    return errors


def check_prompt(messages: Any) -> list[str]:
    """A conversational prompt: uniform messages whose last one is the user's."""
    errors = v.check_plain_messages(messages)
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict) \
            and messages[-1].get("role") != "user":
        errors.append("last_prompt_message_not_user")
    return errors


HF_COLUMNS = ("messages", "case_id", "source", "version", "score")


@register
class HuggingFace(Exporter):
    """A Hugging Face ``DatasetDict`` (train, validation) saved with ``save_to_disk`` and as Parquet."""

    name = "hf"
    description = "Hugging Face DatasetDict (save_to_disk + Parquet), messages column with provenance"

    def shapes(self) -> list[Shape]:
        """One shape: the conversation plus provenance columns."""
        return [Shape("", self.record, self.check)]

    @staticmethod
    def record(row: Row) -> Record:
        """The conversation as uniform ``{role, content}`` messages (no optional keys: no null padding)."""
        return {"messages": row.messages, "case_id": row.case_id, "source": row.source,
                "version": row.version, "score": row.score}

    @staticmethod
    def check(record: Any) -> list[str]:
        """Exactly the dataset's columns, and a conversation ending with the assistant."""
        keys = frozenset(HF_COLUMNS)
        errors = v.check_extra_keys(record, keys, keys)
        return errors if "data_type" in errors else errors + check_conversation(record.get("messages"))

    def write(self, folder: Path, rows: dict[str, list[Row]]) -> list[Path]:
        """``dataset/`` (``load_from_disk``) and ``parquet/SPLIT.parquet`` (``load_dataset("parquet")``)."""
        import datasets

        # The CLI prints its own report: datasets' progress bars would only clutter stderr.
        quiet = datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()
        try:
            return self._write_datasets(folder, rows)
        finally:
            if not quiet:
                datasets.enable_progress_bars()

    def _write_datasets(self, folder: Path, rows: dict[str, list[Row]]) -> list[Path]:
        import pyarrow as pa
        from datasets import Dataset, DatasetDict, DatasetInfo, Features, List, Value
        from datasets.table import InMemoryTable

        # Explicit features: every message is exactly {role, content}, so nothing is null-padded, and an
        # all-null score column still has a type.
        features = Features({
            "messages": List({"role": Value("string"), "content": Value("string")}),
            "case_id": Value("string"), "source": Value("string"), "version": Value("int64"),
            "score": Value("float64"),
        })
        parts = {}
        for split in EXPORT_SPLITS:
            if rows[split] or split == EXPORT_TRAIN:
                records = [self.record(row) for row in rows[split]]
                columns = {column: [record[column] for record in records] for column in HF_COLUMNS}
                # The values are plain strings and numbers, so Arrow builds the table straight from the
                # schema; Dataset.from_dict would encode every nested value in Python first (3x slower).
                table = pa.Table.from_pydict(columns, schema=features.arrow_schema)
                parts[split] = Dataset(InMemoryTable(table), info=DatasetInfo(features=features), split=split)
        (folder / "parquet").mkdir(parents=True, exist_ok=True)
        DatasetDict(parts).save_to_disk(str(folder / "dataset"))
        written = [folder / "dataset"]
        for split, dataset in parts.items():
            path = folder / "parquet" / f"{split}.parquet"
            dataset.to_parquet(str(path))
            written.append(path)
        return written


@register
class TRL(Exporter):
    """TRL's conversational shapes: ``messages`` (SFT), ``prompt``/``completion`` (SFT, completion-only
    loss) and ``prompt``/``chosen``/``rejected`` (DPO, when there are preference pairs)."""

    name = "trl"
    description = "TRL JSONL: messages, prompt/completion and prompt/chosen/rejected shapes"

    def shapes(self) -> list[Shape]:
        """The three conversational shapes."""
        return [
            Shape("messages", lambda row: {"messages": row.messages}, self.check_messages),
            Shape("prompt_completion",
                  lambda row: {"prompt": list(row.prompt), "completion": [assistant(row.target)]},
                  self.check_prompt_completion),
            Shape("preference", lambda row: {"prompt": list(row.prompt), "chosen": [assistant(row.target)],
                                             "rejected": [assistant(row.rejected or "")]},
                  self.check_preference, pairs=True, optional=True),
        ]

    @staticmethod
    def check_messages(record: Any) -> list[str]:
        """Language-modelling shape."""
        keys = frozenset({"messages"})
        errors = v.check_extra_keys(record, keys, keys)
        return errors if "data_type" in errors else errors + check_conversation(record.get("messages"))

    @staticmethod
    def check_prompt_completion(record: Any) -> list[str]:
        """Prompt-completion shape."""
        keys = frozenset({"prompt", "completion"})
        errors = v.check_extra_keys(record, keys, keys)
        if "data_type" in errors:
            return errors
        completion = v.check_single_assistant(record.get("completion"), "invalid_completion")
        return errors + check_prompt(record.get("prompt")) + completion

    @staticmethod
    def check_preference(record: Any) -> list[str]:
        """Preference shape with an explicit prompt."""
        keys = frozenset({"prompt", "chosen", "rejected"})
        errors = v.check_extra_keys(record, keys, keys)
        if "data_type" in errors:
            return errors
        errors += check_prompt(record.get("prompt"))
        errors += v.check_single_assistant(record.get("chosen"), "invalid_chosen")
        errors += v.check_single_assistant(record.get("rejected"), "invalid_rejected")
        if record.get("chosen") == record.get("rejected"):
            errors.append("identical_outputs")
        return errors


# Other providers --------------------------------------------------------------------------------------------


@register
class Together(Exporter):
    """Together AI conversational JSONL: optional system first, then strictly alternating user/assistant."""

    name = "together"
    description = "Together AI conversational JSONL (strict alternation, integer weights)"

    def shapes(self) -> list[Shape]:
        """One shape: the conversation, few-shot turns at weight 0."""
        return [Shape("", lambda row: {"messages": weighted_messages(row)}, check_together)]


def check_together(record: Any) -> list[str]:
    """Together's validator rules: only ``messages``, three roles, alternation, weights 0 or 1."""
    keys = frozenset({"messages"})
    errors = v.check_extra_keys(record, keys, keys)
    if "data_type" in errors:
        return errors
    messages = record.get("messages")
    errors += v.check_plain_messages(messages, optional_keys=frozenset({"weight"}))
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        errors += v.check_weights(messages)
        if not v.alternates(_without_system([m.get("role") for m in messages])):
            errors.append("roles_not_alternating")
        if not any(m.get("role") == "assistant" for m in messages):
            errors.append("example_missing_assistant_message")
    return errors


@register
class Vertex(Exporter):
    """Vertex AI Gemini tuning JSONL: ``contents`` of ``parts``, ``model`` for the assistant, the system
    prompt lifted into ``systemInstruction``."""

    name = "vertex"
    description = "Vertex AI Gemini tuning JSONL ({systemInstruction, contents: [{role, parts}]})"
    recommended_examples = 100
    max_tokens = 131_072
    max_validation = 5_000

    def shapes(self) -> list[Shape]:
        """One shape: the Gemini example."""
        return [Shape("", self.record, check_vertex)]

    @staticmethod
    def record(row: Row) -> Record:
        """System lifted; ``assistant`` becomes ``model``; every content becomes one text part."""
        system, rest = lift_system(row.messages)
        contents = [{"role": "model" if m["role"] == "assistant" else m["role"],
                     "parts": [{"text": m["content"]}]} for m in rest]
        record: Record = {"contents": contents}
        if system is not None:
            record = {"systemInstruction": {"role": "system", "parts": [{"text": system}]}, **record}
        return record


def _parts_ok(parts: Any) -> bool:
    return (isinstance(parts, list) and bool(parts)
            and all(isinstance(p, dict) and set(p) == {"text"} and v.has_text(p["text"]) for p in parts))


def check_vertex(record: Any) -> list[str]:
    """Gemini rules: ``user``/``model`` turns alternating from the user, ending with the model, text parts."""
    errors = v.check_extra_keys(record, frozenset({"systemInstruction", "contents"}), frozenset({"contents"}))
    if "data_type" in errors:
        return errors
    system = record.get("systemInstruction")
    if system is not None and not (isinstance(system, dict) and _parts_ok(system.get("parts"))):
        errors.append("missing_content")
    contents = record.get("contents")
    if not contents or not isinstance(contents, list):
        return [*errors, "missing_messages_list"]
    for content in contents:
        if not isinstance(content, dict):
            errors.append("data_type")
            continue
        if not {"role", "parts"} <= set(content):
            errors.append("message_missing_key")
        if set(content) - {"role", "parts"}:
            errors.append("message_unrecognized_key")
        if content.get("role") not in ("user", "model"):
            errors.append("unrecognized_role")
        if not _parts_ok(content.get("parts")):
            errors.append("missing_content")
    roles = [c.get("role") for c in contents if isinstance(c, dict)]
    if not v.alternates(roles, "user", "model"):
        errors.append("roles_not_alternating")
    if roles and roles[-1] != "model":
        errors.append("last_message_not_assistant")
    return errors


@register
class Bedrock(Exporter):
    """Amazon Bedrock (Claude) fine-tuning JSONL: ``system`` lifted out, strictly alternating messages."""

    name = "bedrock"
    description = "Amazon Bedrock JSONL ({system, messages}, no other keys)"

    def shapes(self) -> list[Shape]:
        """One shape: the Bedrock example."""
        return [Shape("", self.record, check_bedrock)]

    @staticmethod
    def record(row: Row) -> Record:
        """Leading system messages become ``system``; the rest stay as messages."""
        system, rest = lift_system(row.messages)
        return {"system": system, "messages": rest} if system is not None else {"messages": rest}


def check_bedrock(record: Any) -> list[str]:
    """Bedrock rules: no extra keys, two or more messages, user first, assistant last, strict alternation."""
    errors = v.check_extra_keys(record, frozenset({"system", "messages"}), frozenset({"messages"}))
    if "data_type" in errors:
        return errors
    if "system" in record and not v.has_text(record["system"]):
        errors.append("missing_content")
    messages = record.get("messages")
    errors += v.check_plain_messages(messages, roles=frozenset({"user", "assistant"}))
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        roles = [m.get("role") for m in messages]
        if len(messages) < 2:
            errors.append("too_few_messages")
        if not v.alternates(roles):
            errors.append("roles_not_alternating")
        if roles[-1] != "assistant":
            errors.append("last_message_not_assistant")
    return errors


@register
class Alpaca(Exporter):
    """Stanford Alpaca: a JSON array of ``{instruction, input, output}`` (single turn)."""

    name = "alpaca"
    description = "Alpaca JSON array ([{instruction, input, output}])"
    suffix = ".json"

    def shapes(self) -> list[Shape]:
        """One shape: the instruction record."""
        return [Shape("", self.record, check_alpaca)]

    @staticmethod
    def record(row: Row) -> Record:
        """The system text as the instruction and the rest as the input; without a system text, the input
        is the instruction. Few-shot turns are flattened into the input (Alpaca has no history)."""
        system, rest = lift_system(row.prompt)
        if system is None:
            return {"instruction": flatten(rest), "input": "", "output": row.target}
        return {"instruction": system, "input": flatten(rest) if rest else "", "output": row.target}

    def write_records(self, path: Path, records: Iterable[Record]) -> None:
        """A JSON array, one record per line."""
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.write("[\n" + ",\n".join(dumps(record) for record in records) + "\n]\n")


def check_alpaca(record: Any) -> list[str]:
    """Exactly the three string fields; instruction and output not empty."""
    keys = frozenset({"instruction", "input", "output"})
    errors = v.check_extra_keys(record, keys, keys)
    if "data_type" in errors:
        return errors
    if not all(isinstance(record.get(key, ""), str) for key in keys):
        return [*errors, "data_type"]
    if not v.has_text(record.get("instruction")) or not v.has_text(record.get("output")):
        errors.append("missing_content")
    return errors
