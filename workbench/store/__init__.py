"""Provides the project database: ``Store`` and its typed rows."""

from workbench.store.rows import Batch, Result, Review, Run, ScoreRow, Version
from workbench.store.store import NO_OUTPUT, Store, utc_now

__all__ = ["NO_OUTPUT", "Batch", "Result", "Review", "Run", "ScoreRow", "Store", "Version", "utc_now"]
