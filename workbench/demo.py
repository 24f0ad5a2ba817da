"""Provides the example project's replay: each prompt's recorded history of versions, run for real.

The bundled project keeps the versions a prompt engineer went through in
``prompts/history/<prompt>/v1.prompt``, ``v2.prompt``, ... The demo runs them in order through the
normal runner, so the store holds real scores for each version (answered from the response cache
after the first time).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from workbench.names import nfc
from workbench.project import Project
from workbench.prompts import Prompt, load_prompt


def _version_number(path: Path) -> int:
    match = re.fullmatch(r"v(\d+)", path.stem)
    return int(match.group(1)) if match else 0


def history_prompts(project: Project) -> dict[str, list[Prompt]]:
    """Each prompt's recorded versions, oldest first, named after the prompt they belong to."""
    root = project.prompts_dir / "history"
    result: dict[str, list[Prompt]] = {}
    if not root.is_dir():
        return result
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted((p for p in folder.glob("v*.prompt") if _version_number(p)), key=_version_number)
        name = nfc(folder.name)  # the folder's name as text, whatever Unicode form the file system wrote
        result[name] = [dataclasses.replace(load_prompt(path), name=name) for path in files]
    return result
