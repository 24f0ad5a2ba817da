"""Prompt Workbench: iterate on prompts with data, then decide whether to fine-tune."""

__version__ = "0.1.0"
