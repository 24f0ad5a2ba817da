"""Provides the registry of tuned models as the providers read it: one folder per model under the
project's ``.workbench/models/``, described by its ``model.json`` (backend, base, method, export,
hyper-parameters, losses, duration), read without importing any heavy library so ``workbench models``
stays instant. ``workbench.finetune`` writes these folders; the providers serve what they hold.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.json"
TRANSFORMERS_BACKEND = "transformers"
"""``backend`` of a local tuned model: a merged transformers model saved in its folder."""
HOSTED_BACKEND = "hosted"
"""``backend`` of a model tuned by a provider's fine-tuning API: an alias of the model id it returned."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
INSTALL_COMMAND = "pip install 'prompt-workbench[finetune]'"
"""The command that installs the optional fine-tuning extra: training needs it, and so does a tuned
local model to answer."""


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
        return f"local/{self.name}" if self.backend == TRANSFORMERS_BACKEND else self.name

    @property
    def base(self) -> str:
        """The model it was tuned from, as the user named it (``local/smollm2``, ``gpt-4.1-mini``)."""
        return str(self.info.get("base", ""))

    @property
    def usable(self) -> bool:
        """True when it can answer: a saved local model, or a hosted job that produced a model id."""
        if self.backend == TRANSFORMERS_BACKEND:
            return (self.folder / "config.json").is_file()
        return bool(self.info.get("provider_model"))

    def note(self) -> str:
        """One line for ``workbench models``."""
        status = self.info.get("status", "?")
        if self.backend == HOSTED_BACKEND:
            target = self.info.get("provider_model") or f"job {self.info.get('job_id', '?')}"
            return f"fine-tuned {self.base} via {self.info.get('provider', '?')}: {target} ({status})"
        losses = self.info.get("validation_loss")
        loss = f", validation loss {losses:.3f}" if isinstance(losses, int | float) else ""
        return f"{self.info.get('method', '?')} fine-tune of {self.base} ({status}{loss})"


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
