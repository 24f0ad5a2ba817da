"""Provides the fine-tuning export: ``build_export`` decides (version, examples, hygiene, split, tokens,
redaction, validation per format) and ``write_export`` writes the data files, ``manifest.json`` and a
dataset card into a new folder under ``exports/``. Exporters are registered by name in ``FORMATS``.

Nothing here imports ``datasets`` at import time: only the ``hf`` exporter does, when it writes.
"""

from __future__ import annotations

from workbench.export.formats import DEFAULT_FORMAT, FORMATS, Exporter, Shape, get_format, register
from workbench.export.plan import ExportOptions, ExportPlan, build_export, prepare
from workbench.export.rows import Row
from workbench.export.validate import FormatReport, check_format
from workbench.export.writer import write_export

__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "ExportOptions",
    "ExportPlan",
    "Exporter",
    "FormatReport",
    "Row",
    "Shape",
    "build_export",
    "check_format",
    "get_format",
    "prepare",
    "register",
    "write_export",
]
