"""Provides the error types the user sees: each renders as one clear line, never a traceback."""

from __future__ import annotations

from pathlib import Path


class WorkbenchError(Exception):
    """An error the user can act on.

    ``str(error)`` is the single line shown: ``path:line: message (hint)``.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(WorkbenchError):
    """A bad setting in workbench.toml, the environment or a flag."""


class PromptError(WorkbenchError):
    """A prompt file that cannot be parsed, validated or rendered."""


class CasesError(WorkbenchError):
    """A test set that cannot be loaded."""


class ScorerError(WorkbenchError):
    """A scorer that is unknown or misconfigured (never a wrong answer)."""


class ProviderError(WorkbenchError):
    """A model call that failed for good (after any retries)."""

    def __init__(self, message: str, *, kind: str = "error", retryable: bool = False,
                 path: str | Path | None = None, line: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, path=path, line=line, hint=hint)
        self.kind = kind
        self.retryable = retryable


class StoreError(WorkbenchError):
    """A store lookup that found nothing, or a database that cannot be used."""


class ExportError(WorkbenchError):
    """An export that cannot be built or written."""


class FinetuneError(WorkbenchError):
    """A fine-tuning job that cannot be started or failed."""
