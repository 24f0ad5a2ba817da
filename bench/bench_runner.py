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
    .venv/bin/python bench/bench_runner.py --latencies 0.05,0.5

Targets:

- first run at C=32 and 50 ms latency: wall time within 2x the ideal N*latency/C;
- first run at 500 ms latency: within 1.1x the ideal;
- the fully cached re-run of 1000 cases: under 1 s.

``import litellm`` is timed once up front and printed on its own; the run figures exclude it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
            f"    peak RSS          {self.peak_rss_mb:8.1f} MB",
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


def timed_run(label: str, root: Path, server: ServerProcess, concurrency: int, latency: float | None,
              use_cache: bool = True) -> RunFigures:
    """Plan and execute the benchmark prompt once through the real core; returns its figures."""
    from workbench.project import open_project
    from workbench.prompts import load_prompt
    from workbench.runner import CaseDone, execute, make_client, plan_run
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

    async def run() -> None:
        client = make_client(project, store, use_cache=use_cache)
        async for event in execute(plan, store, client, concurrency=concurrency):
            if isinstance(event, CaseDone):
                result = event.result
                counts["done"] += 1
                counts["passed"] += result.passed
                counts["errors"] += result.error is not None
                counts["cached"] += bool(result.completion and result.completion.cached)

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
        modules_imported=len(sys.modules) - modules_before,
    )


def bench_latency(n_cases: int, concurrency: int, latency: float) -> list[RunFigures]:
    """A first run and a cached re-run against a server answering after ``latency`` seconds."""
    server = ServerProcess(latency)
    try:
        with tempfile.TemporaryDirectory(prefix="wb-bench-") as folder:
            root = Path(folder) / "project"
            os.environ["WORKBENCH_HOME"] = str(Path(folder) / "home")
            make_project(root, server.base_url, n_cases, concurrency)
            first = timed_run("first run", root, server, concurrency, latency)
            cached = timed_run("cached re-run", root, server, concurrency, None)
            return [first, cached]
    finally:
        server.stop()


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
    args = parser.parse_args(argv)
    # Settings must come from the benchmark's workbench.toml, not from the caller's environment.
    for name in [name for name in os.environ if name.startswith("WORKBENCH_")]:
        del os.environ[name]
    os.environ[API_KEY_ENV] = "sk-bench-loopback"

    import_seconds = time_litellm_import()
    print(f"import litellm: {import_seconds:.2f} s (excluded from the figures below)", flush=True)
    for latency in args.latencies or [args.latency]:
        print(f"\n{args.cases} cases, concurrency {args.concurrency}, server latency {latency * 1000:.0f} ms",
              flush=True)
        for figures in bench_latency(args.cases, args.concurrency, latency):
            print("\n".join(figures.lines()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
