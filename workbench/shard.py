"""Provides worker processes for a run (``workbench run --workers N``): the cases are shared out between
this process's event loop and N-1 worker processes, each with its own event loop and model client, so
that the CPU litellm spends on every call (about 5-15 ms) is spread over the machine's cores.

This process stays the one writer: workers send their results (and the answers they would have cached)
back over a pipe, and ``runner.execute`` writes them in its group transactions as it does its own.
Cases are handed out a few at a time from one queue, behind one bound on the calls in flight
(``concurrency`` in all, not per process), so a worker still starting (a Python interpreter importing
litellm: a second or more) takes nothing until it is ready, and this process answers meanwhile; a run
that is short, or answered from the cache, never waits for one. Workers read the response cache (a
read-only use of the store) and write nothing. A fatal provider error in any process (a missing key, an
unknown model) stops them all, and a stopped run (cancel, Ctrl-C) waits briefly for the workers' answers
in flight, so what completed is kept and a later run resumes the rest.

Workers are forked from this process when it can be (Linux, litellm imported, no thread running that
might hold a lock: a warm-start command, or a cold one once its own import is done): they share its
imports, so a worker costs a fork. Otherwise they come from a fork server that imports litellm once
(POSIX), else each is a new interpreter (``spawn``).

Local models (``local/...``) and ``echo`` always run in this process: a worker would load the model again.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import resource
import signal
import sys
import threading
import traceback
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ProviderError, WorkbenchError
from workbench.providers.registry import CUSTOM_PROVIDERS, resolve_model
from workbench.records import Case, CompletionRequest
from workbench.runner import CaseResult, RunPlan, answer_queue, run_case

if TYPE_CHECKING:
    from workbench.providers.client import ModelClient
    from workbench.store import Store

CALLS_PER_WORKER = 200
"""The fewest model calls per process by default. A worker costs a fork and ~0.3 s of CPU on its first
call (and, from a fork server, that server's import of litellm: seconds, once per run), paid back at 5-15
ms of CPU per call it takes."""

CONCURRENCY_PER_WORKER = 4
"""The fewest calls in flight per process by default: one event loop spends ~12 ms of CPU per call, so
it sustains ~80 calls/s, 4 in flight at a 50 ms latency; with fewer, it keeps up on its own."""

STOP_WAIT_SECONDS = 5.0
"""How long a stopped run waits for the workers' calls in flight before it stops them anyway."""

Message = tuple[Any, ...]

_fork_safe: set[int] = set()
"""The idents of threads that wait in a system call holding no lock (``mark_fork_safe``)."""
_not_inherited: set[int] = set()
"""File descriptors a forked worker lets go at once (``mark_fork_safe``)."""


def mark_fork_safe(thread: threading.Thread, *, fds: tuple[int, ...] = ()) -> None:
    """Let workers be forked from this process while ``thread`` runs: only for a thread that spends its
    life waiting in a system call and holds no lock a worker could need (a forked process gets a copy of
    every lock, held or not, and none of the threads that would release them). ``fds``: what it waits
    on, let go in a forked worker (which would otherwise hold it open after this process is gone)."""
    if thread.ident is not None:
        _fork_safe.add(thread.ident)
        _not_inherited.update(fds)


def can_fork_here() -> bool:
    """Whether workers can be forked from this process now: on Linux (elsewhere forking without exec is
    unsafe: macOS's system libraries) with every other live thread marked by ``mark_fork_safe``."""
    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return False
    current = threading.current_thread()
    return all(thread is current or thread.ident in _fork_safe or not thread.is_alive()
               for thread in threading.enumerate())


def default_workers(calls: int, concurrency: int, cores: int | None = None) -> int:
    """How many processes make ``calls`` model calls at ``concurrency`` by default: one per core, but
    no more than one per ``CALLS_PER_WORKER`` calls and per ``CONCURRENCY_PER_WORKER`` calls in flight."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, calls // CALLS_PER_WORKER, concurrency // CONCURRENCY_PER_WORKER))


def worker_count(requested: int | None, model: str, models: dict[str, dict[str, Any]], *, calls: int,
                 concurrency: int, judges: tuple[str, ...] = ()) -> int:
    """The processes a run of ``model`` (scored by ``judges``) uses: 1 when any of them is a bundled model
    (a local one would be loaded in every process; echo costs nothing) or when no call is needed;
    ``requested`` when given, else ``default_workers``; never more than there are calls."""
    if calls <= 0 or any(resolve_model(name, models).provider in CUSTOM_PROVIDERS for name in (model, *judges)):
        return 1
    wanted = requested if requested is not None else default_workers(calls, concurrency)
    return max(1, min(wanted, calls))


@dataclass
class Sharding:
    """Shares a run's cases between this process and worker processes: pass it to ``runner.execute``
    (``source``). ``workers`` None chooses from the core count (``worker_count``)."""

    store: Store
    root: Path
    """The project's root (Python scorers are loaded from it)."""
    workers: int | None = None
    used: int = field(default=1, init=False)
    """The processes the last run used (this one included)."""
    method: str | None = field(default=None, init=False)
    """How the last run's workers were started: ``fork`` (from this process), ``forkserver`` or ``spawn``;
    None when it used none."""
    _forked: list[tuple[Any, Connection]] = field(default_factory=list, init=False, repr=False)
    """Workers forked by ``prepare`` and not yet given cases: each process and this end of its pipe."""
    stats: dict[str, float] = field(default_factory=dict, init=False)
    """What the workers of the last run reported: ``cases`` answered, ``cpu_seconds`` (their user and system
    time) and ``peak_rss_mb`` (the largest of them); for benchmarks."""

    def prepare(self, plan: RunPlan, client: ModelClient, concurrency: int) -> None:
        """Get the workers going before the run starts, when it will use them (a cached run starts none):
        forked from this process now if it can be (``can_fork_here``: litellm is imported first, as the
        first call would, the model checked, and the idle wire thread earlier runs left stopped), else the
        fork server is started, so that its import of litellm overlaps this process's work before the first
        call. Call ``release`` when the run ends."""
        requests = [CompletionRequest(plan.model, plan.messages[case.id], plan.params) for case in plan.cases]
        calls = client.prefetch(requests)
        count = worker_count(self.workers, plan.model, client.models, calls=calls, concurrency=concurrency,
                             judges=judge_models(plan)) - 1
        if count <= 0:
            return
        from workbench.providers import wire
        from workbench.providers.client import WARM_UP_THREAD

        client.preflight(plan.model)  # imports litellm (waiting for a warm-up already doing it)
        for thread in threading.enumerate():
            if thread.name == WARM_UP_THREAD:
                thread.join()  # its import is done: it is returning
        if wire.stop_idle() and can_fork_here():
            context = multiprocessing.get_context("fork")
            config = _child_config(plan, client, self.store, self.root, concurrency, count + 1)
            for _ in range(count):
                ours, theirs = context.Pipe()
                # A forked worker gets a copy of every descriptor: this process's ends of its own pipe and
                # of the workers' before it are let go there, or it would never see its pipe close (this
                # process killed, or ``release``) and would outlive it.
                parent_ends = [ours.fileno(), *(conn.fileno() for _, conn in self._forked)]
                process = context.Process(target=child_main, args=(theirs, config, parent_ends), daemon=True,
                                          name="workbench-worker")
                process.start()
                theirs.close()
                self._forked.append((process, ours))
            return
        if process_context().get_start_method() == "forkserver":
            from multiprocessing import forkserver

            # The fork server imports litellm first, then ignores Ctrl+C; started with SIGINT ignored (a
            # new interpreter keeps an ignored SIGINT), a Ctrl+C during that import prints no traceback.
            main_thread = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main_thread else None
            try:
                forkserver.ensure_running()
            finally:
                if main_thread:
                    signal.signal(signal.SIGINT, previous)

    def release(self) -> None:
        """Stop the workers ``prepare`` forked that no run took (they see their pipe closed and exit)."""
        forked, self._forked = self._forked, []
        for _, ours in forked:
            ours.close()
        for process, _ in forked:
            process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join()

    def start(self, plan: RunPlan, todo: asyncio.Queue[Case], finished: asyncio.Queue[CaseResult | BaseException],
              client: ModelClient, concurrency: int, calls: int) -> list[asyncio.Task[None]] | None:
        """Start the worker processes and the tasks that feed them, and this process's own workers; None
        when the run is better made by ``execute``'s own workers alone (one process)."""
        self.used = worker_count(self.workers, plan.model, client.models, calls=calls, concurrency=concurrency,
                                 judges=judge_models(plan))
        self.stats = {"cases": 0, "cpu_seconds": 0.0, "peak_rss_mb": 0.0}
        self.method = None
        # Each process counts a deployment's calls on its own: it may use its part of the rpm/tpm limits.
        client.share_limits(1 / self.used)
        if self.used <= 1:
            self.release()
            return None
        slots = asyncio.Semaphore(concurrency)
        config = _child_config(plan, client, self.store, self.root, concurrency, self.used)
        context = process_context()
        tasks = [asyncio.create_task(answer_queue(plan, client, todo, finished, slots)) for _ in range(concurrency)]
        self.method = "fork" if self._forked else context.get_start_method()
        for _ in range(self.used - 1):
            theirs = None
            if self._forked:  # forked by prepare: already going
                process, ours = self._forked.pop(0)
            else:
                ours, theirs = context.Pipe()
                process = context.Process(target=child_main, args=(theirs, config), daemon=True,
                                          name="workbench-worker")
            child = _Child(process, ours, todo, finished, slots, plan, self.store, self.stats, concurrency)
            if theirs is not None:
                # With a fork server, start() returns once the server has imported litellm (seconds): it
                # waits on a thread of its own, not on the event loop, which answers cases meanwhile.
                threading.Thread(target=child.launch, args=(theirs,), name="workbench-worker-start",
                                 daemon=True).start()
            tasks.append(asyncio.create_task(child.serve()))
        self.release()  # more than this run needs
        return tasks


def judge_models(plan: RunPlan) -> tuple[str, ...]:
    """The models the run's judge scorers call."""
    return tuple(str(scorer.options.get("model") or plan.judge_model) for scorer in plan.scorers
                 if scorer.kind == "llm_judge" and (scorer.options.get("model") or plan.judge_model))


PRELOAD = ["workbench.shard", "workbench.providers.client", "workbench.scorers", "litellm", "openai.resources",
           "litellm.llms.openai.openai", "litellm.proxy._types"]
"""What the fork server imports once, before it forks the workers: litellm's import (seconds) is paid once
per run, not once per worker."""


def process_context() -> Any:
    """How workers are started: forked from a fork server that has imported litellm once (POSIX), else
    spawned (each worker a new interpreter importing it)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


class _Child:
    """A worker process seen from this one: ``concurrency`` proxies each take a slot and a case, as this
    process's own workers do, send the case and hold the slot until its answer comes back, so the slots go
    round this process and the workers in turn: the one that answers sooner is given more."""

    def __init__(self, process: Any, conn: Connection, todo: asyncio.Queue[Case],
                 finished: asyncio.Queue[CaseResult | BaseException], slots: asyncio.Semaphore, plan: RunPlan,
                 store: Store, stats: dict[str, float], concurrency: int) -> None:
        self.process = process
        self.conn = conn
        self.todo = todo
        self.finished = finished
        self.slots = slots
        self.plan = plan
        self.store = store
        self.stats = stats
        self.concurrency = concurrency
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.ready = asyncio.Event()
        self.pending: dict[str, asyncio.Future[None]] = {}
        """The cases sent to the worker and not answered yet, by case id."""
        self.ended = False
        self.launch_error: str | None = None

    def _readable(self) -> None:
        try:
            while self.conn.poll():
                self.inbox.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            self.inbox.put_nowait(("gone",))
            asyncio.get_running_loop().remove_reader(self.conn.fileno())

    def launch(self, theirs: Connection) -> None:
        """Start the worker (on a thread: it may wait for the fork server); if it cannot start, its end of
        the pipe is closed all the same, and the run hears that it is gone."""
        try:
            self.process.start()
        except Exception as error:  # reported as the worker being gone
            self.launch_error = f"{type(error).__name__}: {error}"
        finally:
            theirs.close()

    async def serve(self) -> None:
        """Feed the worker until no case is left, then let it finish; on cancel, stop it, keeping what it
        answers within ``STOP_WAIT_SECONDS``."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self.conn.fileno(), self._readable)
        receiver = asyncio.create_task(self._receive())
        proxies = [asyncio.create_task(self._proxy()) for _ in range(self.concurrency)]
        try:
            waiting: set[asyncio.Task[None]] = {receiver, *proxies}
            # Until no case is left for the worker (every proxy returned), or it is gone.
            while not receiver.done() and not all(proxy.done() for proxy in proxies):
                _, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            self.ended = True
            if not receiver.done() and self.ready.is_set():
                self._send(("end",))
                await receiver
        except asyncio.CancelledError:
            # The run stopped: the worker stops calling, and what it has answered is still handed on.
            self._send(("stop",))
            for proxy in proxies:
                proxy.cancel()
            if self.ready.is_set():  # a worker still starting has answered nothing: it is not waited for
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    async with asyncio.timeout(STOP_WAIT_SECONDS):
                        await asyncio.shield(receiver)
            raise
        finally:
            for task in [*proxies, receiver]:
                task.cancel()
            await asyncio.gather(*proxies, receiver, return_exceptions=True)
            with contextlib.suppress(Exception):
                loop.remove_reader(self.conn.fileno())
            self._reap()

    async def _proxy(self) -> None:
        await self.ready.wait()
        loop = asyncio.get_running_loop()
        while True:
            async with self.slots:
                if self.todo.empty():
                    return
                case = self.todo.get_nowait()
                answered = self.pending[case.id] = loop.create_future()
                self._send(("cases", [(case, self.plan.messages[case.id])]))
                await answered

    async def _receive(self) -> None:
        """Hand on the worker's messages until it says goodbye (or dies)."""
        while True:
            message = await self.inbox.get()
            kind = message[0]
            if kind == "want":
                self.ready.set()
            elif kind == "results":
                results: list[CaseResult] = message[1]
                puts: list[dict[str, Any]] = message[2]
                if puts:
                    self.store.put_many(puts)
                self.stats["cases"] += len(results)
                for result in results:
                    answered = self.pending.pop(result.case.id, None)
                    if answered is not None and not answered.done():
                        answered.set_result(None)
                    self.finished.put_nowait(result)
            elif kind == "fatal":
                _, text, error_kind, hint, retryable = message
                self.finished.put_nowait(ProviderError(text, kind=error_kind, hint=hint, retryable=retryable))
            elif kind == "crash":
                self.finished.put_nowait(WorkbenchError(f"a worker process failed: {message[1]}"))
            elif kind == "gone":
                if not self.ended:
                    why = self.launch_error or f"exit code {self.process.exitcode}"
                    self.finished.put_nowait(WorkbenchError(
                        f"a worker process ended unexpectedly ({why})",
                        hint="run again to resume: finished cases are kept"))
                return
            elif kind == "bye":
                self.stats["cpu_seconds"] += message[1]
                self.stats["peak_rss_mb"] = max(self.stats["peak_rss_mb"], message[2])
                return

    def _send(self, message: Message) -> None:
        with contextlib.suppress(OSError, ValueError):  # a worker already gone
            self.conn.send(message)

    def _reap(self) -> None:
        # A worker that was told to end has said goodbye: it exits at once. One that never started to work
        # (the run ended first) is stopped; one still being started sees its pipe closed and exits.
        if self.process.pid is None:
            with contextlib.suppress(OSError):
                self.conn.close()
            return
        self.process.join(1.0 if self.ready.is_set() else 0.0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        with contextlib.suppress(OSError):
            self.conn.close()


def _child_config(plan: RunPlan, client: ModelClient, store: Store, root: Path, concurrency: int,
                  processes: int) -> dict[str, Any]:
    """What a worker needs, picklable: the plan without its cases, messages and scorers (built again in the
    worker: a Python scorer is a function), and the client's settings, with its part of the deployments'
    limits for a run shared by ``processes`` (a worker forked early keeps the part it was forked with: at
    most what the run then gives each process)."""
    return {
        "plan": replace(plan, cases=[], messages={}, scorers=[]),
        "scorers": plan.prompt.scorers, "project_root": str(root),
        "source": str(plan.prompt.path), "db_path": str(store.path) if store.path is not None else None,
        "client": {"timeout": client.timeout, "retries": client.retries, "concurrency": concurrency,
                   "use_cache": client.use_cache, "models": client.models, "models_dir": client.models_dir,
                   "backoff_base": client.backoff_base, "backoff_max": client.backoff_max,
                   "limit_share": 1 / processes},
        "concurrency": concurrency,
        # A worker forked from a fork server started earlier would otherwise see the environment (the
        # provider keys) and the folder of that moment: it gets this process's. Keys stay in memory.
        "environ": dict(os.environ), "cwd": os.getcwd(),
    }


class _RelayCache:
    """A worker's response cache: read from the project's store, written by the parent (``put`` collects)."""

    def __init__(self, db_path: str | None) -> None:
        from workbench.store import Store

        self.store = Store(Path(db_path)) if db_path else None
        self.pending: list[dict[str, Any]] = []

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get(key) if self.store is not None else None

    def put(self, key: str, *, model: str, kind: str, response: dict[str, Any]) -> None:
        self.pending.append({"key": key, "model": model, "kind": kind, "response": response})


def child_main(conn: Connection, config: dict[str, Any], parent_ends: list[int] | None = None) -> None:
    """A worker process: answers the cases it is sent until told the cases have ended, or to stop.
    ``parent_ends``: forked from the run's own process (``prepare``), the descriptors of its copy of that
    process's pipe ends, let go here with those ``mark_fork_safe`` names; its copies of the parent's event
    loop and signal handlers are dropped."""
    if parent_ends is not None:
        # Each is pointed at /dev/null rather than closed: the number stays taken, so the parent's objects
        # copied here (which would close it when collected) can never close a descriptor opened since.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in {*parent_ends, *_not_inherited}:
            with contextlib.suppress(OSError):
                os.dup2(null, fd)
        os.close(null)
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        signal.set_wakeup_fd(-1)  # the parent's loop's: a signal here would wake the parent
        for number in (signal.SIGTERM, signal.SIGQUIT):
            signal.signal(number, signal.SIG_DFL)
    # Ctrl-C and a terminal's hang-up reach the whole process group: the parent stops the workers itself,
    # keeping their answers (a worker whose parent is gone sees its pipe close and ends).
    for number in (signal.SIGINT, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    try:
        asyncio.run(_child(conn, config))
    except BaseException:
        with contextlib.suppress(OSError, ValueError):
            conn.send(("crash", traceback.format_exc(limit=8).strip().splitlines()[-1]))
    finally:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        rss_mb = usage.ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else usage.ru_maxrss / 1024
        with contextlib.suppress(OSError, ValueError):
            conn.send(("bye", usage.ru_utime + usage.ru_stime, rss_mb))
            conn.close()


async def _child(conn: Connection, config: dict[str, Any]) -> None:
    from workbench.providers.client import ModelClient, ensure_litellm
    from workbench.scorers import build_scorers

    os.environ.clear()
    os.environ.update(config["environ"])
    os.chdir(config["cwd"])
    ensure_litellm()
    plan: RunPlan = config["plan"]
    plan = replace(plan, scorers=build_scorers(config["scorers"], project_root=Path(config["project_root"]),
                                               default_judge_model=plan.judge_model, source=config["source"]))
    cache = _RelayCache(config["db_path"])
    settings = config["client"]
    client = ModelClient(timeout=settings["timeout"], retries=settings["retries"],
                         concurrency=settings["concurrency"], cache=cache, use_cache=settings["use_cache"],
                         models=settings["models"], models_dir=settings["models_dir"],
                         backoff_base=settings["backoff_base"], backoff_max=settings["backoff_max"])
    client.share_limits(settings["limit_share"])
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Message] = asyncio.Queue()

    def readable() -> None:
        try:
            while conn.poll():
                inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            inbox.put_nowait(("stop",))
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), readable)
    done: list[CaseResult] = []
    flushed = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    state = {"ended": False, "fatal": False}

    async def one(case: Case) -> None:
        try:
            done.append(await run_case(plan, case, client))
        except ProviderError as error:  # fatal (run_case keeps the others as the case's error)
            if not state["fatal"]:
                state["fatal"] = True
                conn.send(("fatal", error.message, error.kind, error.hint, error.retryable))
                inbox.put_nowait(("stop",))
        flushed.set()

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if state["ended"] and not tasks:
            inbox.put_nowait(("idle",))

    async def flush() -> None:
        # The results completed since the last send go in one message: one per loop turn at most.
        while True:
            await flushed.wait()
            flushed.clear()
            if done or cache.pending:
                batch, puts = done[:], cache.pending[:]
                done.clear()
                cache.pending.clear()
                conn.send(("results", batch, puts))

    sender = asyncio.create_task(flush())
    conn.send(("want", config["concurrency"]))
    try:
        while True:
            message = await inbox.get()
            if message[0] == "cases":
                for case, messages in message[1]:
                    plan.messages[case.id] = messages
                    task = asyncio.create_task(one(case))
                    tasks.add(task)
                    task.add_done_callback(finished)
            elif message[0] == "end":
                state["ended"] = True
                if not tasks:
                    break
            elif message[0] in ("stop", "idle"):
                break
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sender.cancel()
        if done or cache.pending:
            conn.send(("results", done[:], cache.pending[:]))
        loop.remove_reader(conn.fileno())
