"""Provides the warm start: a background process that has imported litellm once and forks a fresh
process for each model-calling command, so that ``workbench run`` does not pay litellm's import
(5-7 s on a 2-core machine) every time. The pattern of Rails' Spring or Gradle's daemon, kept small:

- **When.** A ``run``, ``optimize``, ``generate`` or ``batch`` command that found no warm process runs
  as usual, in its own process; if it imported litellm, it then starts one in the background for the
  next command. Off when ``WORKBENCH_WARM=0`` (or ``off``, ``false``, ``no``), off by default when
  ``CI`` is set (a CI job starts on a fresh machine: nothing to reuse), off where there is no ``fork``.
- **Same process as a cold run.** The warm process is keyed by everything its imports depend on: the
  interpreter and ``sys.path``, the workbench's source files and the installed packages' folders (their
  modification times), the ``.env`` files litellm's import loads, and the whole environment except the
  variables a shell changes on its own (``PWD``, ``OLDPWD``, ``SHLVL``, ``_``, ``COLUMNS``, ``LINES``).
  A command whose key has no warm process runs cold; an edited source file or a changed variable starts
  a new one. The forked process takes the command's arguments, folder, umask, those shell variables, and
  its standard input, output and error (the file descriptors themselves, passed over the socket), so a
  terminal stays a terminal.
- **Signals and exit.** Ctrl+C, SIGHUP and SIGQUIT sent to the command are passed on to the forked
  process's group (as a terminal sends them), SIGTERM to the forked process, and Ctrl+Z suspends both
  (``fg`` resumes both); its exit status is the command's. If the command dies, the forked process gets
  SIGHUP, as from a closed terminal.
- **Lifetime.** The warm process exits after ``WORKBENCH_WARM_IDLE`` seconds without a command (default
  600). ``workbench warm`` lists the warm processes; ``workbench warm --stop`` stops them.
- **Safety.** The socket lives in a folder only the user can open (``$XDG_RUNTIME_DIR/workbench`` or
  ``$TMPDIR/workbench-UID``, mode 0700, checked), and the warm process serves only its own user's
  processes (``SO_PEERCRED``). Nothing is written but the socket and its lock file; no key or
  environment value is stored or sent.

The client's side (``run_warm``, ``start_warm``) imports only the standard library and
``setting_values.env_setting`` (the one rule for a blank ``WORKBENCH_*`` variable), whose module imports
``workbench.errors`` and ``workbench.text``: no third-party library, nothing that is slow to import.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.setting_values import env_setting

COMMANDS = frozenset({"run", "optimize", "generate", "batch"})
"""The commands that call models: the ones a warm process serves."""
SHELL_VARIABLES = ("PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES")
"""Environment variables a shell changes on its own: not part of the key, passed to the forked process."""
DEFAULT_IDLE = 600.0
"""Seconds a warm process waits for a command before it exits."""
FORWARDED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name))
"""Signals passed on from the command to the forked process's group."""
REPLY_TIMEOUT = 10.0
"""Seconds the command waits for the warm process to fork before it runs cold instead."""
_kept: list[Any] = []
"""The warm process's own standard streams, kept alive in a forked process (collecting one would close
the file descriptor now used by the command's stream)."""


# The client's side ----------------------------------------------------------------------------------------

def enabled(env: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """True when warm processes may be used: ``WORKBENCH_WARM`` says so, else unless ``CI`` is set."""
    env = os.environ if env is None else env
    if not hasattr(os, "fork") or not hasattr(socket, "AF_UNIX") or not hasattr(socket, "SCM_RIGHTS"):
        return False
    value = env_setting(env, "WORKBENCH_WARM")  # blank: not set, as every WORKBENCH_* variable
    if value is not None:
        return value.strip().lower() not in {"", "0", "off", "false", "no"}
    return not env.get("CI")


def command_of(argv: list[str]) -> str | None:
    """The command ``argv`` runs (after the group's ``--project DIR``), or None when it opens the TUI or
    asks for the group's help or version."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in ("--project", "-p"):
            index += 2
        elif arg.startswith("--project=") or (arg.startswith("-p") and not arg.startswith("--")):
            index += 1
        elif arg.startswith("-"):
            return None
        else:
            return arg
    return None


def folder_path() -> Path:
    """Where the user's warm process sockets live: ``$XDG_RUNTIME_DIR/workbench``, else
    ``$TMPDIR/workbench-UID`` (absolute)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return (Path(base) / "workbench" if base else Path(
        os.environ.get("TMPDIR") or "/tmp") / f"workbench-{os.getuid()}").absolute()


def runtime_folder() -> Path | None:
    """The user's socket folder (created mode 0700), or None when it cannot be trusted: not a folder, a
    symbolic link, someone else's, or open to others."""
    folder = folder_path()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = os.lstat(folder)
    except OSError:
        return None
    import stat

    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077:
        return None
    return folder


@dataclass(frozen=True)
class Target:
    """The warm process a command may use, fixed before the command runs: a command may change its own
    environment (litellm's import sets ``TIKTOKEN_CACHE_DIR``), and the warm process it starts afterwards
    must be the one the next command looks for."""

    path: Path
    """Its socket."""
    env: dict[str, str]
    """The environment as the command started (the warm process is started with it)."""


def target(argv: list[str]) -> Target | None:
    """The warm process ``argv`` may use or start, or None when the warm start does not apply (off, not a
    model command, no private folder, a socket path too long for the system)."""
    if command_of(argv) not in COMMANDS or not enabled():
        return None
    folder = runtime_folder()
    if folder is None:
        return None
    env = dict(os.environ)
    path = socket_path(folder, key(env))
    return None if len(os.fsencode(path)) >= 100 else Target(path, env)


def key(env: dict[str, str]) -> str:
    """The key of the warm process a command started in ``env`` may use (20 hex digits): see the module's
    docstring."""
    import hashlib

    digest = hashlib.sha256()
    digest.update(f"{os.getuid()}\0{sys.executable}\0{sys.path!r}\0".encode())
    for name in sorted(env):
        if name not in SHELL_VARIABLES:
            digest.update(f"{name}={env[name]}\0".encode("utf-8", "surrogateescape"))
    for path in _sources():
        try:
            status = path.stat()
        except OSError:
            continue
        digest.update(f"{path}:{status.st_mtime_ns}:{status.st_size}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:20]


def _sources() -> Iterator[Path]:
    """The workbench's source files, the folders of ``sys.path`` (an install changes their time; of the
    current folder, its Python files), and the places of the ``.env`` files litellm's import may read
    (python-dotenv looks from litellm's folder up)."""
    import importlib.util

    package = Path(__file__).resolve().parent.parent
    yield from sorted(package.rglob("*.py"))
    here = os.getcwd()
    for entry in sys.path:
        if entry and os.path.isdir(entry):
            # The current folder (on sys.path with ``python -m workbench``) changes its time with every file
            # written there, a report or an export: only the modules in it count.
            yield from (sorted(Path(entry).glob("*.py")) if os.path.abspath(entry) == here else [Path(entry)])
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        yield from (parent / ".env" for parent in Path(spec.origin).parents)  # a missing one is skipped


def socket_path(folder: Path, name: str) -> Path:
    """The socket of the warm process keyed ``name``."""
    return folder / f"warm-{name}.sock"


def run_warm(target: Target, argv: list[str]) -> int | None:
    """Run ``argv`` in a process forked by the warm process at ``target``, and return its exit status; None
    when it should run here instead (no warm process, a standard stream closed, or the warm process did
    not answer within ``REPLY_TIMEOUT``: it then never runs the command)."""
    path = target.path
    if not path.exists() or not _standard_streams_open():
        # A closed stream's descriptor would go to the socket below, and be passed on as that stream.
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(REPLY_TIMEOUT)
        connection.connect(os.fspath(path))
        umask = os.umask(0)
        os.umask(umask)
        request = {"op": "run", "argv": argv, "cwd": os.getcwd(), "umask": umask,
                   "shell": {name: os.environ.get(name) for name in SHELL_VARIABLES}}
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        reader = connection.makefile("rb")
        reply = json.loads(reader.readline() or b"null")
        pid = reply.get("pid") if isinstance(reply, dict) else None
        if not isinstance(pid, int):
            return None
        connection.sendall(b"go\n")  # the forked process starts the command only now
    except (OSError, ValueError):
        connection.close()
        return None
    connection.settimeout(None)
    return _wait(connection, reader, pid)


def _standard_streams_open() -> bool:
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return False
    return True


def _wait(connection: socket.socket, reader: Any, pid: int) -> int:
    """Pass signals on to process group ``pid`` until it reports its exit status."""
    forwarded: list[int] = []

    def send(number: int) -> None:
        try:
            # As a terminal sends Ctrl+C, Ctrl+backslash and a hang-up to the whole foreground group (the
            # run and its workers), and ``kill`` sends SIGTERM to the one process.
            if number == signal.SIGTERM:
                os.kill(pid, number)
            else:
                os.killpg(pid, number)
        except ProcessLookupError:
            pass

    def forward(number: int, _frame: object) -> None:
        forwarded.append(number)
        send(number)

    def suspend(number: int, _frame: object) -> None:
        # Ctrl+Z: stop the forked process's group, then this process; on fg (SIGCONT), resume both.
        send(signal.SIGSTOP)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        signal.signal(number, suspend)
        send(signal.SIGCONT)

    for number in FORWARDED:
        signal.signal(number, forward)
    if hasattr(signal, "SIGTSTP"):
        signal.signal(signal.SIGTSTP, suspend)
    try:
        while True:
            try:
                line = reader.readline()
            except InterruptedError:  # pragma: no cover - retried by Python itself (PEP 475)
                continue
            if not line:
                break
            message = json.loads(line)
            if isinstance(message, dict) and isinstance(message.get("exit"), int):
                return int(message["exit"])
    finally:
        connection.close()
    if forwarded:
        # The forked process died of the signal: so does this one, as a cold run would (the shell says so).
        signal.signal(forwarded[-1], signal.SIG_DFL)
        os.kill(os.getpid(), forwarded[-1])
        return 128 + forwarded[-1]
    sys.stderr.write("error: the warm workbench process ended without an exit status; run the command again "
                     "with WORKBENCH_WARM=0 to run it in its own process\n")
    return 1


def start_warm(target: Target) -> None:
    """After a cold run of a model command that imported litellm, start a warm process for the next one:
    in the background, in a session of its own, in ``/``, with the environment the command started with
    (it exits at once if one is starting already)."""
    if "litellm" not in sys.modules:
        return
    import subprocess

    idle = env_setting(target.env, "WORKBENCH_WARM_IDLE") or str(DEFAULT_IDLE)
    # As in the command: sys.path[0] is the console script's folder (``python -c`` would put the current
    # folder first, where a stray module could shadow a package), and __main__ has a file, so that
    # python-dotenv, called by litellm's import, looks for .env from litellm's folder up, not from the
    # current folder (it treats a __main__ without a file as an interactive session).
    script = sys.argv[0] if os.path.isfile(sys.argv[0]) else __file__
    code = (f"import sys, __main__; sys.path[0] = {sys.path[0]!r}; __main__.__file__ = {script!r}; "
            f"from workbench.cli.warm import serve; serve({os.fspath(target.path)!r}, {idle!r})")
    try:
        subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True, cwd="/",
                         env=target.env)
    except OSError:
        return


def ask(path: Path, op: str) -> dict[str, Any] | None:
    """Send ``op`` (``status`` or ``stop``) to the warm process at ``path``; its answer, or None."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(2.0)
    try:
        connection.connect(os.fspath(path))
        connection.sendall(json.dumps({"op": op}).encode() + b"\n")
        answer = json.loads(connection.makefile("rb").readline() or b"null")
    except (OSError, ValueError):
        return None
    finally:
        connection.close()
    return answer if isinstance(answer, dict) else None


def warm_processes() -> list[tuple[Path, dict[str, Any] | None]]:
    """Every warm process socket of this user, with its status (None: not answering, a stale socket)."""
    folder = runtime_folder()
    if folder is None:
        return []
    import stat

    return [(path, ask(path, "status")) for path in sorted(folder.glob("warm-*.sock"))
            if stat.S_ISSOCK(path.lstat().st_mode)]


# The warm process -----------------------------------------------------------------------------------------

def serve(path: str, idle: str | float = DEFAULT_IDLE) -> None:
    """Run the warm process on socket ``path``: import what a model command needs, then fork a process per
    command until ``idle`` seconds pass without one. Returns at once when another process holds the
    key's lock (it is starting or serving already)."""
    import fcntl

    try:
        idle_seconds = float(idle)
    except ValueError:
        idle_seconds = DEFAULT_IDLE
    lock = open(path + ".lock", "a")  # noqa: SIM115  (held for the process's life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return
    os.chdir("/")
    _preload()
    import gc

    gc.freeze()  # the preloaded objects stay shared with the forked processes (copy on write)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked processes are reaped by the kernel
    try:
        os.unlink(path)  # a socket left by a killed warm process (a folder there is refused by bind)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
    except OSError:
        listener.close()
        return  # something else is at the path: commands run cold
    listener.listen(16)
    inode = os.stat(path).st_ino
    started = last = time.time()
    served = 0
    try:
        while True:
            listener.settimeout(max(0.1, min(5.0, last + idle_seconds - time.time())))
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                if time.time() - last >= idle_seconds or not _still_ours(path, inode):
                    return
                continue
            with_fork = _serve_one(connection, listener, lock, {
                "pid": os.getpid(), "started": started, "served": served, "idle": idle_seconds,
                "idle_left": round(last + idle_seconds - time.time(), 1), "key": Path(path).stem})
            if with_fork is None:
                return  # asked to stop
            if with_fork:
                served += 1
                last = time.time()
    finally:
        if _still_ours(path, inode):
            os.unlink(path)
        listener.close()
        try:
            os.unlink(path + ".lock")  # a process that opened it before this is refused by its lock, or
        except OSError:  # gets it and serves: the socket goes to the newest, the older one exits
            pass


def _still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _preload() -> None:
    """Import what a model command imports: the commands, litellm and the run path."""
    from workbench.cli import load_commands
    from workbench.providers.client import ensure_litellm

    load_commands()
    ensure_litellm()
    import workbench.runner
    import workbench.store  # noqa: F401


def _serve_one(connection: socket.socket, listener: socket.socket, lock: Any,
               status: dict[str, Any]) -> bool | None:
    """Answer one connection: True when a process was forked for a command, False when nothing was
    (a status, a stranger, a bad request), None when asked to stop."""
    try:
        connection.settimeout(2.0)
        uid = _peer_uid(connection)
        if uid is not None and uid != os.getuid():
            connection.close()
            return False
        message, fds, _flags, _address = socket.recv_fds(connection, 65536, 3)
        request = json.loads(message.split(b"\n", 1)[0] or b"null")
    except (OSError, ValueError):
        connection.close()
        return False
    if not isinstance(request, dict) or request.get("op") != "run" or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        op = request.get("op") if isinstance(request, dict) else None
        if op in ("status", "stop"):
            try:
                connection.sendall(json.dumps({**status, "stopping": op == "stop"}).encode() + b"\n")
            except OSError:
                pass
        connection.close()
        return None if op == "stop" else False
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the forked process (measured through the tests' subprocesses)
        try:
            listener.close()
            lock.close()
            code = _child(connection, request, fds)
        except BaseException:  # the forked process must never return into the loop
            code = 1
        os._exit(code)
    for fd in fds:
        os.close(fd)
    connection.close()
    return True


def _peer_uid(connection: socket.socket) -> int | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    import struct

    credentials = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return int(struct.unpack("3i", credentials)[1])


def _child(connection: socket.socket, request: dict[str, Any], fds: list[int]) -> int:  # pragma: no cover
    """The forked process: become the command (its streams, folder, umask, shell variables), run it and
    report its exit status."""
    import atexit
    import threading

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)  # a group of its own: the command's signals go to it and its workers
    connection.settimeout(None)
    connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    if connection.makefile("rb").readline() != b"go\n":
        return 0  # the command gave up waiting and runs itself
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    _reopen_streams()
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    for name, value in (request.get("shell") or {}).items():
        if name in SHELL_VARIABLES:
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
    argv = [str(arg) for arg in request["argv"]]
    sys.argv = ["workbench", *argv]

    def hang_up_when_gone() -> None:
        # The command ended (killed, its terminal closed) before this process: as from a closed terminal.
        try:
            connection.recv(1)
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGHUP)

    watcher = threading.Thread(target=hang_up_when_gone, name="warm-client", daemon=True)
    watcher.start()
    from workbench.shard import mark_fork_safe

    mark_fork_safe(watcher, fds=(connection.fileno(),))  # it waits in recv: workers can be forked here
    from workbench.cli import main

    try:
        code: Any = main(argv)
    except SystemExit as done:
        code = done.code
    if not isinstance(code, int):
        if code is not None:
            sys.stderr.write(f"{code}\n")
        code = 0 if code is None else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        connection.sendall(json.dumps({"exit": code}).encode() + b"\n")
    except OSError:
        pass
    return code


def _reopen_streams() -> None:  # pragma: no cover - the forked process
    """New ``sys.stdin``/``stdout``/``stderr`` over file descriptors 0-2, buffered as Python buffers them at
    start-up (line-buffered output on a terminal; standard error always), in the same encoding."""
    import io

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        _kept.append(old)
        _kept.append(getattr(sys, f"__{name}__"))
        encoding = getattr(old, "encoding", None) or "utf-8"
        errors = getattr(old, "errors", None) or "strict"
        if fd == 0:
            raw: Any = open(fd, "rb", closefd=False)  # noqa: SIM115  (the process's stdin)
            stream = io.TextIOWrapper(raw, encoding=encoding, errors=errors)
        else:
            raw = open(fd, "wb", closefd=False)  # noqa: SIM115  (the process's stdout or stderr)
            stream = io.TextIOWrapper(raw, encoding=encoding, errors=errors, line_buffering=fd == 2 or os.isatty(fd))
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
