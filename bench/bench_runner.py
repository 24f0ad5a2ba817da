"""Benchmark of the run engine: N cases at concurrency C against a fake model answering after a fixed latency.

It builds a temporary workbench project whose model alias ``fake`` points at the loopback
OpenAI-compatible server of ``tests/support/openai_server.py``, started as a separate process so it does
not share this process's GIL, then runs the prompt twice through the real core (``open_project``,
``Store``, ``load_prompt``, ``plan_run``, ``execute`` with ``make_client``): once against the server and
once more, unchanged, when every answer comes from the response cache. It prints figures and asserts
nothing.

Run it from the repository root::

    .venv/bin/python bench/bench_runner.py                      # 1000 cases, concurrency 32, 50 ms
    .venv/bin/python bench/bench_runner.py --cases 200 --concurrency 500
    .venv/bin/python bench/bench_runner.py --latencies 0.05,0.5 --workers 2
    .venv/bin/python bench/bench_runner.py --matrix             # the scaling table, median of 3 per cell
    .venv/bin/python bench/bench_runner.py --matrix --promptfoo /tmp/promptfoo/node_modules/.bin/promptfoo

``--matrix`` runs every cell of cases x latency x workers (``--matrix-cases``, ``--matrix-latencies``,
``--matrix-workers``; C=``--concurrency``) ``--repeat`` times, each on new cases (nothing cached), and
prints the medians: wall time of ``execute`` (worker start-up included: the fork server is stopped between
runs), its ratio to the limit N*latency/C, CPU per call (this process's and the workers' user+system time
over the calls), peak RSS (the largest process), and the recorded p50 latency against the server's. Then the
cost of a run against N (wall = fixed + N x per-case, from the smallest and largest N).

With ``--promptfoo CMD`` (promptfoo 0.121.20, e.g. ``npm install --prefix /tmp/promptfoo promptfoo@0.121.20``;
optional), whole processes side by side, alternating, median of ``--repeat``: ``workbench run`` (default
workers) and ``promptfoo eval`` (openai:chat provider at the same loopback server, an ``equals`` assertion,
``--max-concurrency`` C, no cache) on 1 case and on ``--cases`` cases, and the throughput ratio.

Targets (issue 15):

- N=1000, C=32, 50 ms: at least 2x promptfoo's throughput (whole processes, same session);
- 500 ms latency: within 1.15x the limit N*latency/C;
- recorded p50 within 20% of the server's latency at C=32;
- the fully cached re-run of 1000 cases: under 1 s.

``--no-wire`` makes the calls over litellm's own transport, timed by litellm, instead of
``workbench.providers.wire`` (the transport that times each exchange on its own thread): the figures of
both, side by side, show what the wire costs and what it corrects.

Before each ``bench_latency`` run, a bare aiohttp client (no litellm, no workbench) makes the same number of
calls to the same server at the same concurrency: its recorded p50 is the floor any client records on this
machine, which the server's own CPU share and the load push above the configured latency.
``--switch-interval S`` runs with the interpreter's switch interval at S instead of the wire's 1 ms
(``workbench.providers.wire.SWITCH_INTERVAL_S``; Python's default is 5 ms), to compare.

``import litellm`` is timed once up front and printed on its own; the run figures exclude it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Before anything imports workbench, litellm or datasets: never reach the internet from a benchmark.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

REPO = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = REPO / "tests" / "support" / "openai_server.py"
sys.path.insert(0, str(REPO))  # the workbench package, when run without an editable install

API_KEY_ENV = "FAKE_KEY"


@dataclass
class RunFigures:
    """What one timed run measured."""

    label: str
    cases: int
    plan_seconds: float
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    server_requests: int
    errors: int
    cached: int
    passed: int
    ideal_seconds: float | None
    modules_imported: int
    workers: int = 1
    worker_cpu_seconds: float = 0.0
    worker_cases: int = 0
    worker_rss_mb: float = 0.0
    latency_p50_ms: float | None = None
    method: str | None = None

    @property
    def cpu_ms_per_call(self) -> float:
        """This process's and the workers' CPU time over the calls made, in ms."""
        return (self.cpu_seconds + self.worker_cpu_seconds) * 1000 / max(self.server_requests, 1)

    def lines(self) -> list[str]:
        """The figures as aligned lines."""
        rate = self.cases / self.wall_seconds if self.wall_seconds > 0 else float("inf")
        if self.ideal_seconds:
            ideal = f"{self.ideal_seconds:.3f} s (ratio {self.wall_seconds / self.ideal_seconds:.2f}x)"
        else:
            ideal = "-"
        return [
            f"  {self.label}",
            f"    plan_run          {self.plan_seconds:8.3f} s",
            f"    wall (execute)    {self.wall_seconds:8.3f} s",
            f"    ideal N*lat/C     {ideal}",
            f"    calls per second  {rate:8.1f}",
            f"    CPU (this proc)   {self.cpu_seconds:8.3f} s",
            f"    CPU (workers)     {self.worker_cpu_seconds:8.3f} s  ({self.workers} processes, workers answered "
            f"{self.worker_cases} cases; started by {self.method})",
            f"    CPU per call      {self.cpu_ms_per_call:8.2f} ms",
            f"    peak RSS          {self.peak_rss_mb:8.1f} MB  (largest worker {self.worker_rss_mb:.1f} MB)",
            f"    latency p50       {self.latency_p50_ms or 0:8.1f} ms  (recorded)",
            f"    server requests   {self.server_requests:8d}",
            f"    modules imported  {self.modules_imported:8d}  (lazy imports paid inside this run)",
            f"    results           {self.cases} done, {self.passed} passed, {self.errors} errors, "
            f"{self.cached} cached",
        ]


class ServerProcess:
    """The fake OpenAI server in a child process, stopped with SIGTERM."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--port", "0", "--latency", str(latency)],
            stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the fake server did not start (said {line!r})")
        self.base_url = line.split()[1]

    def chat_requests(self) -> int:
        """How many chat requests the server has received so far."""
        stats_url = self.base_url.removesuffix("/v1") + "/_fake/stats"
        with urllib.request.urlopen(stats_url, timeout=10) as response:  # loopback only
            return int(json.loads(response.read())["chat_requests"])

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (ru_maxrss is KB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def time_litellm_import() -> float:
    """Seconds ``import litellm`` takes (once, before any timed run)."""
    started = time.perf_counter()
    import litellm  # noqa: F401

    return time.perf_counter() - started


def floor_latency(base_url: str, n_calls: int, concurrency: int) -> tuple[float, float]:
    """The floor of what any client can record on this machine: a bare aiohttp client (no litellm, no
    workbench) making ``n_calls`` chat requests to the same server, ``concurrency`` in flight, each timed from
    send to the end of its body on an otherwise idle event loop. Returns (p50 in ms, wall in s)."""
    import aiohttp

    body = {"model": "fake-model", "messages": [{"role": "user", "content": "floor"}], "temperature": 0}
    headers = {"Authorization": "Bearer sk-bench-loopback"}
    times: list[float] = []

    async def calls() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n_calls):
            queue.put_nowait(i)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            async def worker() -> None:
                while not queue.empty():
                    queue.get_nowait()
                    sent = time.perf_counter()
                    async with session.post(f"{base_url}/chat/completions", json=body, headers=headers) as answer:
                        await answer.read()
                    times.append((time.perf_counter() - sent) * 1000)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(calls())
    return statistics.median(times), time.perf_counter() - started


def make_project(root: Path, base_url: str, n_cases: int, concurrency: int) -> None:
    """Write a project with one prompt, ``n_cases`` cases and a ``fake`` model alias for the server."""
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(
        f"[defaults]\nmodel = \"fake\"\nconcurrency = {concurrency}\ntimeout = 30\nretries = 2\n\n"
        f"[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base_url}\"\n"
        f"api_key_env = \"{API_KEY_ENV}\"\n", encoding="utf-8")
    # temperature 0 makes the answers cacheable, so the re-run makes no call.
    (root / "prompts" / "bench.prompt").write_text(
        "---\ndescription: benchmark of the run engine\nmodel: fake\nparams: {temperature: 0}\n"
        "dataset: datasets/cases.jsonl\nscorers:\n  - exact_match\n---\nQuestion: {{ question }}\n",
        encoding="utf-8")
    # The server echoes the user message, so every case passes exact_match.
    rows = [{"id": f"c{i:05d}", "question": f"case {i} of the benchmark",
             "expected": f"Question: case {i} of the benchmark"} for i in range(n_cases)]
    (root / "datasets" / "cases.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows),
                                                   encoding="utf-8")


def stop_fork_server() -> None:
    """Stop the worker processes' fork server, so that the next run pays their start-up as a new process does."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)  # private, but the only way to measure start-up
    if stop is not None:
        stop()


def timed_run(label: str, root: Path, server: ServerProcess, concurrency: int, latency: float | None,
              use_cache: bool = True, workers: int | None = 1) -> RunFigures:
    """Plan and execute the benchmark prompt once through the real core; returns its figures."""
    from workbench.project import open_project
    from workbench.prompts import load_prompt
    from workbench.runner import CaseDone, execute, make_client, plan_run
    from workbench.shard import Sharding
    from workbench.store import Store

    requests_before = server.chat_requests()
    modules_before = len(sys.modules)
    cpu_started = time.process_time()
    started = time.perf_counter()
    project = open_project(root)
    store = Store(project.db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("bench")))
    planned = time.perf_counter()
    counts = {"done": 0, "passed": 0, "errors": 0, "cached": 0}
    sharding = Sharding(store, project.root, workers)
    latencies: list[float] = []

    async def run() -> None:
        client = make_client(project, store, use_cache=use_cache)
        sharding.prepare(plan, client, concurrency)  # as `workbench run` does: the workers start now
        try:
            async for event in execute(plan, store, client, concurrency=concurrency, source=sharding):
                if isinstance(event, CaseDone):
                    if event.result.completion and not event.result.completion.cached:
                        latencies.append(event.result.completion.latency_ms or 0.0)
                    result = event.result
                    counts["done"] += 1
                    counts["passed"] += result.passed
                    counts["errors"] += result.error is not None
                    counts["cached"] += bool(result.completion and result.completion.cached)
        finally:
            sharding.release()

    asyncio.run(run())
    finished = time.perf_counter()
    cpu = time.process_time() - cpu_started
    store.close()
    n = len(plan.cases)
    return RunFigures(
        label=label, cases=counts["done"], plan_seconds=planned - started, wall_seconds=finished - planned,
        cpu_seconds=cpu, peak_rss_mb=peak_rss_mb(), server_requests=server.chat_requests() - requests_before,
        errors=counts["errors"], cached=counts["cached"], passed=counts["passed"],
        ideal_seconds=n * latency / concurrency if latency is not None else None,
        modules_imported=len(sys.modules) - modules_before, workers=sharding.used,
        worker_cpu_seconds=sharding.stats.get("cpu_seconds", 0.0), worker_cases=int(sharding.stats.get("cases", 0)),
        worker_rss_mb=sharding.stats.get("peak_rss_mb", 0.0), method=sharding.method,
        latency_p50_ms=statistics.median(latencies) if latencies else None,
    )


def bench_latency(n_cases: int, concurrency: int, latency: float, workers: int | None = 1) -> list[RunFigures]:
    """A first run and a cached re-run against a server answering after ``latency`` seconds."""
    server = ServerProcess(latency)
    try:
        with tempfile.TemporaryDirectory(prefix="wb-bench-") as folder:
            root = Path(folder) / "project"
            os.environ["WORKBENCH_HOME"] = str(Path(folder) / "home")
            make_project(root, server.base_url, n_cases, concurrency)
            floor_p50, floor_wall = floor_latency(server.base_url, n_cases, concurrency)
            print(f"  floor: a bare aiohttp client records p50 {floor_p50:.1f} ms "
                  f"({floor_p50 / (latency * 1000):.2f}x the server's latency), wall {floor_wall:.2f} s", flush=True)
            first = timed_run("first run", root, server, concurrency, latency, workers=workers)
            cached = timed_run("cached re-run", root, server, concurrency, None, workers=workers)
            return [first, cached]
    finally:
        server.stop()


@dataclass
class Cell:
    """The medians of one matrix cell's repetitions."""

    cases: int
    latency: float
    workers: int
    runs: list[RunFigures]


def bench_matrix(cases: list[int], latencies: list[float], workers: list[int], concurrency: int,
                 repeat: int) -> list[Cell]:
    """Every cell ``repeat`` times, each repetition on new cases of a new project (nothing cached), the
    repetitions of a latency's cells interleaved so that a change of the machine's load spreads over them."""
    cells = {(n, latency, w): Cell(n, latency, w, []) for latency in latencies for n in cases for w in workers}
    for latency in latencies:
        server = ServerProcess(latency)
        try:
            for i in range(repeat):
                for n in cases:
                    for w in workers:
                        with tempfile.TemporaryDirectory(prefix="wb-matrix-") as folder:
                            root = Path(folder) / "project"
                            os.environ["WORKBENCH_HOME"] = str(Path(folder) / "home")
                            make_project(root, server.base_url, n, concurrency)
                            stop_fork_server()
                            figures = timed_run(f"N={n} {latency * 1000:.0f} ms workers={w} #{i + 1}", root, server,
                                                concurrency, latency, workers=w)
                            cells[(n, latency, w)].runs.append(figures)
                            print(f"  {figures.label}: {figures.wall_seconds:.2f} s, "
                                  f"{figures.cpu_ms_per_call:.2f} ms CPU/call, "
                                  f"p50 {figures.latency_p50_ms or 0:.0f} ms, "
                                  f"load {os.getloadavg()[0]:.2f}", flush=True)
        finally:
            server.stop()
    return list(cells.values())


def matrix_table(cells: list[Cell], concurrency: int) -> list[str]:
    """The medians as a Markdown table, and the cost of a run against N."""
    lines = ["| cases | C | latency | workers | wall (median) | x limit | calls/s | CPU per call | peak RSS "
             "| p50 recorded / server |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for cell in cells:
        wall = statistics.median(run.wall_seconds for run in cell.runs)
        limit = cell.cases * cell.latency / concurrency
        cpu = statistics.median(run.cpu_ms_per_call for run in cell.runs)
        rss = statistics.median(max(run.peak_rss_mb, run.worker_rss_mb) for run in cell.runs)
        p50 = statistics.median(run.latency_p50_ms or 0.0 for run in cell.runs)
        lines.append(f"| {cell.cases} | {concurrency} | {cell.latency * 1000:.0f} ms | {cell.workers} | {wall:.2f} s "
                     f"| {wall / limit:.2f}x | {cell.cases / wall:.0f} | {cpu:.1f} ms | {rss:.0f} MB "
                     f"| {p50:.0f} / {cell.latency * 1000:.0f} ms ({p50 / (cell.latency * 1000):.2f}x) |")
    by_key = {(cell.cases, cell.latency, cell.workers): statistics.median(run.wall_seconds for run in cell.runs)
              for cell in cells}
    sizes = sorted({cell.cases for cell in cells})
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        lines.append("")
        lines.append(f"cost of a run against N (wall = fixed + N x per case, from N={small} and N={large}):")
        for latency, w in sorted({(cell.latency, cell.workers) for cell in cells}):
            if (small, latency, w) in by_key and (large, latency, w) in by_key:
                per_case = (by_key[(large, latency, w)] - by_key[(small, latency, w)]) / (large - small)
                fixed = by_key[(small, latency, w)] - small * per_case
                lines.append(f"  {latency * 1000:.0f} ms, workers {w}: fixed {fixed:.2f} s + N x "
                             f"{per_case * 1000:.2f} ms")
    return lines


PROMPTFOO_CONFIG = """description: workbench bench_runner side by side
prompts:
  - "Question: {{{{question}}}}"
providers:
  - id: openai:chat:fake-model
    config:
      apiBaseUrl: {base_url}
      apiKeyEnvar: {key_env}
      temperature: 0
tests: file://tests.yaml
"""


def promptfoo_pairs(promptfoo: str, cases: list[int], concurrency: int, latency: float, repeat: int) -> list[str]:
    """Whole ``workbench run`` and ``promptfoo eval`` processes on the same server and cases, alternating;
    their median wall times and the throughput ratio."""
    workbench = REPO / ".venv" / "bin" / "workbench"
    server = ServerProcess(latency)
    lines = []
    try:
        with tempfile.TemporaryDirectory(prefix="wb-promptfoo-") as folder:
            base = Path(folder)
            env = {name: value for name, value in os.environ.items() if not name.startswith("WORKBENCH_")}
            env.update({"WORKBENCH_HOME": str(base / "home"), API_KEY_ENV: "sk-bench-loopback",
                        "PROMPTFOO_CONFIG_DIR": str(base / "promptfoo-home"), "PROMPTFOO_DISABLE_TELEMETRY": "1",
                        "PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_SHARING": "1",
                        "PROMPTFOO_DISABLE_REMOTE_GENERATION": "1", "NO_PROXY": "127.0.0.1,localhost",
                        "WORKBENCH_WARM": "0", "TMPDIR": str(base)})
            env.pop("XDG_RUNTIME_DIR", None)
            # The warm start's column: a warm process started by an untimed run first.
            warm_env = {**env, "WORKBENCH_WARM": "1", "WORKBENCH_WARM_IDLE": "900"}
            starter = base / "wb-warm-starter"
            make_project(starter, server.base_url, 1, concurrency)
            (starter / "datasets" / "cases.jsonl").write_text(json.dumps(
                {"id": "c0", "question": "start", "expected": "Question: start"}) + "\n", encoding="utf-8")
            subprocess.run([str(workbench), "--project", str(starter), "run", "bench"], env=warm_env, check=True,
                           capture_output=True)
            deadline = time.monotonic() + 180
            while not list((base / f"workbench-{os.getuid()}").glob("warm-*.sock")):
                if time.monotonic() > deadline:
                    raise RuntimeError("no warm process started within 180 s")
                time.sleep(0.1)
            for n in cases:
                ours: list[float] = []
                warm: list[float] = []
                theirs: list[float] = []
                for i in range(repeat):
                    tag = f"n{n}-r{i}"
                    root = base / f"wb-{tag}"
                    make_project(root, server.base_url, n, concurrency)
                    rows = [f"case {i} {tag}" for i in range(n)]
                    (root / "datasets" / "cases.jsonl").write_text("".join(
                        json.dumps({"id": f"c{j:05d}", "question": q, "expected": f"Question: {q}"}) + "\n"
                        for j, q in enumerate(rows)), encoding="utf-8")
                    started = time.perf_counter()
                    done = subprocess.run([str(workbench), "--project", str(root), "run", "bench", "--json"], env=env,
                                          capture_output=True, text=True)
                    ours.append(time.perf_counter() - started)
                    if done.returncode != 0 or json.loads(done.stdout)["passed"] != n:
                        raise RuntimeError(f"workbench run failed: {done.stderr[-500:]}")
                    warm_root = base / f"wb-warm-{tag}"
                    make_project(warm_root, server.base_url, n, concurrency)
                    (warm_root / "datasets" / "cases.jsonl").write_text("".join(
                        json.dumps({"id": f"c{j:05d}", "question": f"warm {q}", "expected": f"Question: warm {q}"})
                        + "\n" for j, q in enumerate(rows)), encoding="utf-8")
                    started = time.perf_counter()
                    done = subprocess.run([str(workbench), "--project", str(warm_root), "run", "bench", "--json"],
                                          env=warm_env, capture_output=True, text=True)
                    warm.append(time.perf_counter() - started)
                    if done.returncode != 0 or json.loads(done.stdout)["passed"] != n:
                        raise RuntimeError(f"workbench run (warm) failed: {done.stderr[-500:]}")
                    pf = base / f"pf-{tag}"
                    pf.mkdir()
                    (pf / "promptfooconfig.yaml").write_text(PROMPTFOO_CONFIG.format(
                        base_url=server.base_url, key_env=API_KEY_ENV), encoding="utf-8")
                    (pf / "tests.yaml").write_text("".join(
                        f"- vars: {{question: {json.dumps(q)}}}\n  assert:\n    - type: equals\n"
                        f"      value: {json.dumps('Question: ' + q)}\n" for q in rows), encoding="utf-8")
                    before = server.chat_requests()
                    started = time.perf_counter()
                    done = subprocess.run([*promptfoo.split(), "eval", "-c", str(pf / "promptfooconfig.yaml"),
                                           "--no-cache", "--max-concurrency", str(concurrency), "--no-progress-bar",
                                           "--no-table"], cwd=pf, env=env, capture_output=True, text=True)
                    theirs.append(time.perf_counter() - started)
                    if done.returncode != 0 or server.chat_requests() - before != n:
                        raise RuntimeError(f"promptfoo eval failed ({done.returncode}): {done.stderr[-500:]}")
                    print(f"  N={n} #{i + 1}: workbench {ours[-1]:.2f} s, warm {warm[-1]:.2f} s, promptfoo "
                          f"{theirs[-1]:.2f} s, load {os.getloadavg()[0]:.2f}", flush=True)
                a, w, b = statistics.median(ours), statistics.median(warm), statistics.median(theirs)
                lines.append(f"| {n} | {concurrency} | {latency * 1000:.0f} ms | {a:.2f} s ({n / a:.1f}/s) "
                             f"| {w:.2f} s ({n / w:.1f}/s) | {b:.2f} s ({n / b:.1f}/s) | {b / a:.2f}x "
                             f"| {b / w:.2f}x |")
            subprocess.run([str(workbench), "warm", "--stop"], env=warm_env, capture_output=True)
    finally:
        server.stop()
    return ["| cases | C | latency | workbench run, cold | workbench run, warm start | promptfoo eval "
            "| throughput ratio, cold | ratio, warm |", "|---|---|---|---|---|---|---|---|", *lines]


def parse_latencies(text: str) -> list[float]:
    """``"0.05,0.5"`` -> ``[0.05, 0.5]``."""
    return [float(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=1000, help="test cases per run (default 1000)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight (default 32)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency in s (default 0.05)")
    parser.add_argument("--latencies", type=parse_latencies, default=None,
                        help="several latencies in one go, e.g. 0.05,0.5 (overrides --latency)")
    parser.add_argument("--workers", type=int, default=1, help="processes making the calls (default 1)")
    parser.add_argument("--matrix", action="store_true", help="run the scaling matrix instead")
    parser.add_argument("--matrix-cases", type=lambda text: [int(x) for x in text.split(",")], default=[100, 1000])
    parser.add_argument("--matrix-latencies", type=parse_latencies, default=[0.05, 0.5])
    parser.add_argument("--matrix-workers", type=lambda text: [int(x) for x in text.split(",")], default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per matrix cell (default 3)")
    parser.add_argument("--promptfoo", default=None, metavar="CMD",
                        help="promptfoo's command (e.g. /tmp/promptfoo/node_modules/.bin/promptfoo): also time "
                             "whole processes side by side")
    parser.add_argument("--no-wire", action="store_true",
                        help="litellm's own transport and timing, not workbench.providers.wire (to compare)")
    parser.add_argument("--switch-interval", type=float, default=None, metavar="S",
                        help="the run's switch interval instead of the wire's 0.001 s (Python's default: 0.005)")
    args = parser.parse_args(argv)
    if args.switch_interval is not None:
        from workbench.providers import wire

        wire.SWITCH_INTERVAL_S = args.switch_interval  # what the wire's install sets, instead of its own
        sys.setswitchinterval(args.switch_interval)
    if args.no_wire:
        from workbench.providers import wire

        wire.install = lambda litellm: None  # type: ignore[assignment]
    # Settings must come from the benchmark's workbench.toml, not from the caller's environment.
    for name in [name for name in os.environ if name.startswith("WORKBENCH_")]:
        del os.environ[name]
    os.environ[API_KEY_ENV] = "sk-bench-loopback"

    import_seconds = time_litellm_import()
    print(f"import litellm: {import_seconds:.2f} s (excluded from the figures below)", flush=True)
    if args.matrix or args.promptfoo:
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}", flush=True)
    if args.matrix:
        cells = bench_matrix(args.matrix_cases, args.matrix_latencies, args.matrix_workers, args.concurrency,
                             args.repeat)
        print(f"\nmedians of {args.repeat} runs per cell (load now {os.getloadavg()[0]:.2f}):")
        print("\n".join(matrix_table(cells, args.concurrency)), flush=True)
    if args.promptfoo:
        print("\nside by side with promptfoo, whole processes:", flush=True)
        table = promptfoo_pairs(args.promptfoo, [1, args.cases], args.concurrency, args.latency, args.repeat)
        print("\n".join(table), flush=True)
    if args.matrix or args.promptfoo:
        return 0
    for latency in args.latencies or [args.latency]:
        print(f"\n{args.cases} cases, concurrency {args.concurrency}, server latency {latency * 1000:.0f} ms",
              flush=True)
        for figures in bench_latency(args.cases, args.concurrency, latency, args.workers):
            print("\n".join(figures.lines()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
