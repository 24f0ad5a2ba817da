"""Provides the messages the TUI's workers post; handlers on the screens own every state change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class RunEventArrived(Message):
    """A progress event of a running prompt (``workbench.runner`` RunStarted, CaseDone or RunFinished)."""

    event: Any


@dataclass
class RunFailed(Message):
    """A run stopped on an error the user must fix (one line)."""

    error: str


@dataclass
class DataLoaded(Message):
    """A background load finished: ``what`` names it, ``data`` carries it."""

    what: str
    data: Any
