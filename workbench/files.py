"""Provides the one way reports are written to a path the user names (``--junit``, ``--html``, ``--md``):
checked before any work, so a run never ends unable to write its report, and written whole or not at all.

Every failure is a ``WorkbenchError`` of one line naming the file and what to do: a folder on the way that
is a file, a path that is a folder, no permission, a file system that refuses writing (``/proc``, a
read-only mount).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from workbench.errors import WorkbenchError


def check_writable(path: Path, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Check before any work that ``what`` (``"the JUnit report"``) can be written at ``path``: its folder is
    created when missing, and a file is opened there for writing (and removed again unless it was there
    before; an existing file is never changed). An existing file whose suffix is none of ``suffixes``
    (``(".xml",)``) is refused: a report never replaces a prompt, a test set or any other kind of file.
    Returns ``path``; raises ``WorkbenchError`` otherwise."""
    _make_folder(path, what)
    _check_target(path, what, suffixes)
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as error:
        raise _error(path, what, error) from None
    if not existed:
        with contextlib.suppress(OSError):
            path.unlink()
    return path


def write_file(path: Path, data: str | bytes, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """Write ``data`` (text as UTF-8) to ``path``, creating its folder; atomically (a temporary file beside it,
    then renamed), so a reader never sees half a report and a failure leaves the old file as it was. The file
    gets the permissions a new file gets (the umask), or those of the file it replaces. An existing file of
    another kind than ``suffixes`` is refused, as by ``check_writable``. Returns ``path``; raises
    ``WorkbenchError`` (one line naming the file) when it cannot be written."""
    _make_folder(path, what)
    _check_target(path, what, suffixes)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temp: str | None = None
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.chmod(temp, mode)  # mkstemp makes it private (0600): a report is for teammates and CI too
        os.replace(temp, path)
        temp = None
    except OSError as error:
        raise _error(path, what, error) from None
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _check_target(path: Path, what: str, suffixes: tuple[str, ...]) -> None:
    if path.is_dir():
        raise WorkbenchError(f"cannot write {what}: it is a folder", path=path, hint="name a file")
    if suffixes and path.is_file() and path.suffix.lower() not in suffixes:
        raise WorkbenchError(f"not writing {what} over an existing {path.suffix or 'suffix-less'} file",
                             path=path, hint=f"name a new file, or a {' or '.join(suffixes)} file to replace")


def _make_folder(path: Path, what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((parent for parent in reversed(path.parents) if parent.is_file()), path.parent)
        raise WorkbenchError(f"cannot write {what}: the folder {blocker} is a file", path=path,
                             hint="name a path in a folder") from None
    except OSError as error:
        raise _error(path, what, error) from None


def _error(path: Path, what: str, error: OSError) -> WorkbenchError:
    reason = error.strerror or str(error)
    return WorkbenchError(f"cannot write {what}: {reason.lower() if reason else 'refused'}", path=path,
                          hint="choose a path you can write to")
