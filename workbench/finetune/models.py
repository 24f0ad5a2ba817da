"""Provides the writing side of the tuned-model registry: a new model's folder (``reserve``, its name
checked by ``check_name``) and its ``model.json`` written atomically. The registry itself (reading those
folders) is ``workbench.providers.tuned``, which the providers serve from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from workbench.errors import FinetuneError
from workbench.providers.tuned import MODEL_FILE, NAME_PATTERN


def check_name(name: str) -> str:
    """``name`` if it is a safe folder name for a tuned model; else a ``FinetuneError``."""
    if not NAME_PATTERN.match(name):
        raise FinetuneError(f"bad model name {name!r}",
                            hint="use letters, digits, '.', '_' and '-' (at most 64 characters)")
    return name


def write_model_json(folder: Path, info: dict[str, Any]) -> None:
    """Write ``model.json`` atomically: a reader never sees half a file."""
    temp = folder / f".{MODEL_FILE}.tmp"
    temp.write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    temp.replace(folder / MODEL_FILE)


def reserve(models_dir: Path, name: str | None, default: str) -> Path:
    """Create the folder of a new model: ``name`` must be free; the default name gets a ``-N`` suffix."""
    models_dir.mkdir(parents=True, exist_ok=True)
    if name is not None:
        folder = models_dir / check_name(name)
        try:
            folder.mkdir()
        except FileExistsError:
            raise FinetuneError(f"a model called {name!r} already exists", path=folder,
                                hint="choose another --name or delete that folder") from None
        return folder
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", default).strip("-._")[:56] or "tuned"
    number = 1
    while True:
        candidate = models_dir / (base if number == 1 else f"{base}-{number}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1
