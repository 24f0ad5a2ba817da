"""Provides the project database: ``Store`` and its records."""

from workbench.store.store import Run, Store, Version, utc_now

__all__ = ["Run", "Store", "Version", "utc_now"]
