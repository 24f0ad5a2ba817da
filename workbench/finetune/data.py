"""Provides the reading of an export folder for training: its ``openai-chat`` train and validation files
(``{"messages": [...]}`` per line) and what its ``manifest.json`` says about where they came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import FinetuneError
from workbench.train_prompt import TrainPrompt

FORMAT = "openai-chat"
TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"

Conversation = list[dict[str, Any]]


@dataclass(frozen=True)
class ExportData:
    """The training material of one export."""

    folder: Path
    train_file: Path
    validation_file: Path | None
    train: list[Conversation]
    validation: list[Conversation]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The prompt the export came from (the folder name when the manifest does not say)."""
        return str(self.manifest.get("prompt") or self.folder.name)

    @property
    def train_prompt(self) -> TrainPrompt | None:
        """How the examples were prompted (the manifest's settings), None for a folder without a manifest."""
        settings = self.manifest.get("settings")
        if not isinstance(settings, dict):
            return None
        version = self.manifest.get("version")
        return TrainPrompt.from_dict({"mode": settings.get("train_prompt"), "instruction": settings.get("instruction"),
                                      "prompt": self.prompt, "version": version})

    def origin(self) -> dict[str, Any]:
        """Where the data came from, for ``model.json``: folder, prompt, version, run, test-case warning, and
        the training prompt (``train_prompt``: runs of the model render their cases the same way)."""
        keys = ("version", "version_label", "run_id", "model", "dataset", "includes_test_cases")
        train_prompt = self.train_prompt
        return {"export": str(self.folder), "prompt": self.prompt,
                **{key: self.manifest[key] for key in keys if key in self.manifest},
                "train_prompt": train_prompt.to_dict() if train_prompt is not None else None}


def _chat_files(folder: Path, manifest: dict[str, Any]) -> tuple[Path | None, Path | None]:
    """(train, validation) files of the ``openai-chat`` format: as the manifest lists them, else by name."""
    listed = manifest.get("files", {}).get(FORMAT) if isinstance(manifest.get("files"), dict) else None
    if isinstance(listed, list) and listed:
        paths = [folder / name for name in listed]
        train = next((p for p in paths if p.name == TRAIN_FILE), None)
        validation = next((p for p in paths if p.name == VALIDATION_FILE), None)
        return train, validation
    # A folder holding the files directly (the format's own folder, or a hand-made set) works too.
    for where in (folder / FORMAT, folder):
        if (where / TRAIN_FILE).is_file():
            found = where / VALIDATION_FILE
            return where / TRAIN_FILE, found if found.is_file() else None
    return None, None


def _read(path: Path) -> list[Conversation]:
    conversations: list[Conversation] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise FinetuneError("not a JSON line", path=path, line=number) from None
            messages = record.get("messages") if isinstance(record, dict) else None
            if not (isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages)
                    and messages[-1].get("role") == "assistant"):
                raise FinetuneError("expected {\"messages\": [...]} ending with an assistant message",
                                    path=path, line=number)
            conversations.append(messages)
    return conversations


def load_export(folder: str | Path) -> ExportData:
    """The export at ``folder``; a ``FinetuneError`` when it is missing or has no training file."""
    path = Path(folder)
    if not path.is_dir():
        raise FinetuneError("no export folder here", path=path,
                            hint="pass the folder 'workbench export PROMPT' wrote (under exports/)")
    manifest: dict[str, Any] = {}
    if (path / "manifest.json").is_file():
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        except ValueError:
            raise FinetuneError("manifest.json is not valid JSON", path=path / "manifest.json") from None
    train_file, validation_file = _chat_files(path, manifest)
    if train_file is None or not train_file.is_file():
        raise FinetuneError(f"the export has no {FORMAT} training file ({FORMAT}/{TRAIN_FILE})", path=path,
                            hint=f"export it with: workbench export PROMPT --format {FORMAT}")
    train = _read(train_file)
    if not train:
        raise FinetuneError("the training file holds no example", path=train_file)
    validation = _read(validation_file) if validation_file is not None and validation_file.is_file() else []
    return ExportData(path, train_file, validation_file if validation else None, train, validation, manifest)
