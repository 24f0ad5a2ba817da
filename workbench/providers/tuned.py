"""Provides the registry of tuned models as the providers read it: one folder per model under the
project's ``.workbench/models/``, described by its ``model.json`` (backend, base, method, export,
hyper-parameters, losses, duration), read without importing any heavy library so ``workbench models``
stays instant. ``workbench.finetune`` writes these folders; the providers serve what they hold.

A local tuned model is served by llama.cpp from the GGUF file its ``model.json`` names (backend
``gguf``, key ``gguf.served``), like the bundled model; the transformers model saved in the same folder
is the fallback runtime, for a folder whose GGUF could not be written or that predates GGUF export
(backend ``transformers``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_FILE = "model.json"
GGUF_BACKEND = "gguf"
"""``backend`` of a local tuned model written as GGUF (served by llama.cpp); the folder also holds the
merged transformers model, which further fine-tunes start from."""
TRANSFORMERS_BACKEND = "transformers"
"""``backend`` of a local tuned model with no GGUF: the merged transformers model saved in its folder."""
LOCAL_BACKENDS = (GGUF_BACKEND, TRANSFORMERS_BACKEND)
LLAMA_CPP_RUNTIME = "llama.cpp"
TRANSFORMERS_RUNTIME = "transformers"
HOSTED_RUNTIME = "hosted"
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
        """``gguf`` or ``transformers`` (a local model) or ``hosted`` (a provider's model id)."""
        return str(self.info.get("backend", ""))

    @property
    def is_local(self) -> bool:
        """True for a model trained on this machine (``local/NAME``)."""
        return self.backend in LOCAL_BACKENDS

    @property
    def model_ref(self) -> str:
        """The name runs use: ``local/NAME`` for a local model, the alias NAME for a hosted one."""
        return f"local/{self.name}" if self.is_local else self.name

    def names(self) -> set[str]:
        """Every model name a run of it may carry: ``model_ref``, and for a hosted model the provider's id."""
        found = {self.model_ref}
        if self.backend == HOSTED_BACKEND:
            found |= {str(self.info[key]) for key in ("provider_model", "litellm_model") if self.info.get(key)}
        return found

    def gguf_files(self) -> dict[str, Path]:
        """The GGUF files written for this model, by type (``F16``, ``Q8_0``), that are on disk."""
        recorded = self.info.get("gguf")
        files = recorded.get("files") if isinstance(recorded, dict) else None
        if not self.is_local or not isinstance(files, dict):
            return {}
        found = {}
        for qtype, entry in files.items():
            file = entry.get("file") if isinstance(entry, dict) else entry
            if isinstance(file, str) and "/" not in file and "\\" not in file and (self.folder / file).is_file():
                found[str(qtype)] = self.folder / file
        return found

    @property
    def gguf_path(self) -> Path | None:
        """The GGUF file ``local/NAME`` runs (``gguf.served`` in ``model.json``), when it is on disk."""
        recorded = self.info.get("gguf")
        served = recorded.get("served") if isinstance(recorded, dict) else None
        if not self.is_local or not isinstance(served, str) or "/" in served or "\\" in served:
            return None
        path = self.folder / served
        return path if path.is_file() else None

    @property
    def has_transformers(self) -> bool:
        """True when the folder holds the merged transformers model (the fallback and the training base)."""
        return self.is_local and (self.folder / "config.json").is_file()

    @property
    def runtime(self) -> str:
        """What serves it: ``llama.cpp`` (its GGUF), ``transformers`` (the fallback) or ``hosted``."""
        if not self.is_local:
            return HOSTED_RUNTIME
        if self.gguf_path is not None:
            return LLAMA_CPP_RUNTIME
        return TRANSFORMERS_RUNTIME if self.has_transformers else ""

    @property
    def serving_path(self) -> Path | None:
        """The GGUF file llama.cpp loads, else the transformers folder, else None (hosted or unusable)."""
        if self.gguf_path is not None:
            return self.gguf_path
        return self.folder if self.has_transformers else None

    def size_bytes(self) -> int | None:
        """Bytes on disk of what serves it: the GGUF file, or the transformers weights; None when hosted."""
        path = self.serving_path
        if path is None:
            return None
        if path.is_file():
            return path.stat().st_size
        return sum(file.stat().st_size for file in path.glob("*.safetensors")) or None

    @property
    def base(self) -> str:
        """The model it was tuned from, as the user named it (``local/smollm2``, ``gpt-4.1-mini``)."""
        return str(self.info.get("base", ""))

    @property
    def usable(self) -> bool:
        """True when it can answer: a saved local model, or a hosted job that produced a model id."""
        if self.is_local:
            return self.serving_path is not None
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


def tuned_for(models_dir: Path | None, model: str) -> TunedModel | None:
    """The tuned model a run names as ``model``: ``local/NAME``, a hosted alias NAME, or the model id the
    provider returned (``ft:...``, as is or as litellm names it); None for any other model."""
    found = find_model(models_dir, model)
    if found is not None and model in found.names():
        return found
    return next((tuned for tuned in list_tuned(models_dir) if model in tuned.names()), None)


def list_tuned(models_dir: Path | None) -> list[TunedModel]:
    """Every tuned model under ``models_dir``, by name."""
    if models_dir is None or not models_dir.is_dir():
        return []
    found = (read_model(folder) for folder in sorted(models_dir.iterdir()) if folder.is_dir())
    return [model for model in found if model is not None]
