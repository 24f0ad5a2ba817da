"""Provides the registry of tuned models: one folder per model under the project's
``.workbench/models/``, described by its ``model.json`` (backend, base, method, export, hyper-parameters,
losses, duration), read without importing any heavy library so ``workbench models`` stays instant.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import FinetuneError

MODEL_FILE = "model.json"
TRANSFORMERS = "transformers"
HOSTED = "hosted"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class TunedModel:
    """A tuned model registered under ``models_dir/NAME``."""

    name: str
    folder: Path
    info: dict[str, Any]

    @property
    def backend(self) -> str:
        """``transformers`` (a local merged model) or ``hosted`` (a provider's model id)."""
        return str(self.info.get("backend", ""))

    @property
    def model_ref(self) -> str:
        """The name runs use: ``local/NAME`` for a local model, the alias NAME for a hosted one."""
        return f"local/{self.name}" if self.backend == TRANSFORMERS else self.name

    @property
    def base(self) -> str:
        """The model it was tuned from, as the user named it (``local/smollm2``, ``gpt-4.1-mini``)."""
        return str(self.info.get("base", ""))

    @property
    def usable(self) -> bool:
        """True when it can answer: a saved local model, or a hosted job that produced a model id."""
        if self.backend == TRANSFORMERS:
            return (self.folder / "config.json").is_file()
        return bool(self.info.get("provider_model"))

    def note(self) -> str:
        """One line for ``workbench models``."""
        status = self.info.get("status", "?")
        if self.backend == HOSTED:
            target = self.info.get("provider_model") or f"job {self.info.get('job_id', '?')}"
            return f"fine-tuned {self.base} via {self.info.get('provider', '?')}: {target} ({status})"
        losses = self.info.get("validation_loss")
        loss = f", validation loss {losses:.3f}" if isinstance(losses, int | float) else ""
        return f"{self.info.get('method', '?')} fine-tune of {self.base} ({status}{loss})"


def check_name(name: str) -> str:
    """``name`` if it is a safe folder name for a tuned model; else a ``FinetuneError``."""
    if not NAME_PATTERN.match(name):
        raise FinetuneError(f"bad model name {name!r}",
                            hint="use letters, digits, '.', '_' and '-' (at most 64 characters)")
    return name


def read_model(folder: Path) -> TunedModel | None:
    """The tuned model in ``folder``, or None when it has no readable ``model.json``."""
    try:
        info = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict):
        return None
    return TunedModel(folder.name, folder, info)


def find_model(models_dir: Path | None, name: str) -> TunedModel | None:
    """The tuned model called ``name`` (a bare name or ``local/NAME``), or None."""
    if models_dir is None:
        return None
    bare = name.split("/", 1)[1] if name.startswith("local/") else name
    if not NAME_PATTERN.match(bare):
        return None
    return read_model(models_dir / bare)


def list_tuned(models_dir: Path | None) -> list[TunedModel]:
    """Every tuned model under ``models_dir``, by name."""
    if models_dir is None or not models_dir.is_dir():
        return []
    found = (read_model(folder) for folder in sorted(models_dir.iterdir()) if folder.is_dir())
    return [model for model in found if model is not None]


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
