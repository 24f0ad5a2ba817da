"""Provides the one rule for comparing names: as text (Unicode NFC), never as bytes.

macOS writes file names decomposed (NFD: ``cafe`` + U+0301) while a keyboard types them composed
(NFC: ``café``); both spell the same name. Every prompt name, dataset path and export folder name goes
through ``nfc`` before it is compared or stored, and ``on_disk`` finds a file whatever form its name
was written in.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path


def nfc(name: str) -> str:
    """``name`` in Unicode normal form C: the form names are compared and stored in."""
    return unicodedata.normalize("NFC", name)


def same_name(a: str, b: str) -> bool:
    """Whether two names are the same text, whatever their Unicode normal form."""
    return nfc(a) == nfc(b)


def prompt_name(path: Path) -> str:
    """The name of the prompt stored in ``path`` (its file stem, normalised)."""
    return nfc(path.stem)


def on_disk(path: Path) -> Path:
    """``path`` as it is spelled on disk: each missing component is matched by its normalised name.

    Returns ``path`` unchanged when it exists or when no spelling of it does (callers report that).
    """
    if path.exists():
        return path
    found = Path(path.anchor) if path.is_absolute() else Path(".")
    for part in path.parts[1 if path.is_absolute() else 0:]:
        candidate = found / part
        if not candidate.exists():
            match = _entry(found, part)
            if match is None:
                return path
            candidate = match
        found = candidate
    return found


def _entry(folder: Path, part: str) -> Path | None:
    """The entry of ``folder`` whose normalised name equals ``part``'s, if there is one."""
    wanted = nfc(part)
    try:
        return next((entry for entry in folder.iterdir() if nfc(entry.name) == wanted), None)
    except OSError:  # not a folder, or not readable: no spelling of it is found
        return None
