"""Provides ``write_export``: writes a validated plan into ``<parent>/<prompt>-<UTC timestamp>/``.

Everything is written into a hidden temporary sibling folder that is renamed into place at the end, so
a failure leaves nothing half-written, an earlier export is never overwritten (a ``-2``, ``-3`` suffix
is added when the name is taken), and nothing is written outside ``parent``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

from workbench.errors import ExportError
from workbench.export.formats import get_format
from workbench.export.manifest import dataset_card, manifest
from workbench.export.plan import ExportPlan
from workbench.names import nfc


def folder_name(prompt: str, when: datetime) -> str:
    """``<prompt>-<YYYYmmddTHHMMSSZ>``, the prompt name (NFC) reduced to characters safe in a folder name."""
    # Letters of any script are kept, composed: ``café`` is one folder name whatever form it was typed in.
    safe = re.sub(r"[^\w.-]+", "_", nfc(prompt)).strip("._") or "prompt"
    return f"{safe}-{when.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def refusal(plan: ExportPlan) -> str:
    """The one-line reason an invalid export is not written."""
    failed = [f"{name}: " + ", ".join(f"{error} x{count}" for error, count in sorted(report.errors.items()))
              for name, report in plan.reports.items() if not report.ok]
    return "export refused, validation failed (" + "; ".join(failed) + ")"


def write_export(plan: ExportPlan, parent: Path, *, force: bool = False, now: datetime | None = None) -> Path:
    """Write the export under ``parent`` and return its folder; an invalid plan needs ``force``."""
    if not plan.ok and not force:
        raise ExportError(refusal(plan),
                          hint="fix the data, choose other formats, or pass --force to write it anyway")
    created = now or datetime.now(UTC)
    base = folder_name(plan.prompt, created)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        temp = parent / f".{base}.{secrets.token_hex(4)}.partial"
        temp.mkdir()
    except OSError as error:
        raise ExportError(f"cannot write to the output folder: {error.strerror or error}",
                          path=parent) from None
    try:
        files: dict[str, list[str]] = {}
        rows = plan.by_split
        for name in plan.options.formats:
            written = get_format(name).write(temp / name, rows)
            files[name] = [path.relative_to(temp).as_posix() for path in written]
        stamp = created.astimezone(UTC).isoformat(timespec="seconds")
        (temp / "manifest.json").write_text(
            json.dumps(manifest(plan, files, stamp), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (temp / "README.md").write_text(dataset_card(plan, files, stamp), encoding="utf-8")
        final = _free(parent, base)
        os.rename(temp, final)
    except OSError as error:
        shutil.rmtree(temp, ignore_errors=True)
        raise ExportError(f"cannot write the export: {error.strerror or error}", path=parent) from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return final


def _free(parent: Path, base: str) -> Path:
    """``parent/base``, or with the first free ``-N`` suffix: never an existing folder."""
    candidate, number = parent / base, 1
    while candidate.exists():
        number += 1
        candidate = parent / f"{base}-{number}"
    return candidate
