"""Provides the run locks: one run at a time per run key, across processes, and a way to tell a run
that is going from one whose process died.

A lock is an advisory ``flock`` on ``.workbench/locks/<key>.lock`` holding the owner's process id. The
kernel releases it when the process ends, however it ends (``kill -9`` included), so a run marked
``running`` whose lock nobody holds was interrupted and can be resumed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from workbench.errors import StoreError


class RunBusy(StoreError):
    """The same run (prompt version, model, params, test set, split, scorers) is going elsewhere."""


class RunLock:
    """A held run lock; ``release`` is idempotent."""

    def __init__(self, handle: int | None) -> None:
        self._handle = handle

    def release(self) -> None:
        """Let another process take the run."""
        if self._handle is not None:
            os.close(self._handle)  # closing the descriptor drops the flock
            self._handle = None


class RunLocks:
    """The lock files of one project (``folder`` None: an in-memory store, nothing to lock)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _path(self, run_key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{run_key[:32]}.lock"

    def acquire(self, run_key: str) -> RunLock:
        """Take the lock of ``run_key``; raises ``RunBusy`` naming the process that holds it."""
        if self.folder is None:
            return RunLock(None)
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = os.open(self._path(run_key), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(handle, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            same = " (this process)" if owner == str(os.getpid()) else ""
            raise RunBusy(f"this run is already going in another process (pid {owner}){same}",
                          hint="wait for it to finish, or stop it; running again afterwards resumes it") from None
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode("ascii"), 0)
        return RunLock(handle)

    def is_held(self, run_key: str | None) -> bool:
        """Whether some process (this one included) holds the lock of ``run_key`` now."""
        if self.folder is None or not run_key:
            return False
        path = self._path(run_key)
        if not path.exists():
            return False
        handle = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(handle)
        return False
