"""``python -m workbench``."""

from workbench.cli import entry_point

entry_point()
