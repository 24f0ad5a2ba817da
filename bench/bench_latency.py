"""Benchmark of recorded latency: is the latency a run records the provider's, or the client's?

It runs N cases through the real core (``plan_run``, ``execute``, ``make_client``) against the loopback
OpenAI-compatible server of ``tests/support/openai_server.py`` (in its own process, as in
``bench_runner.py``), which answers after a known latency, at concurrency 1 and then 32, and prints the
latency the runs recorded (p50, p95, the process's very first call) against the server's true latency,
with the ratio. A ratio near 1 means the recorded figure is the provider's; client-side queueing (calls
waiting for this process's CPU) and the first call's library warm-up inflate it. Nothing is asserted.

Run it from the repository root::

    .venv/bin/python bench/bench_latency.py                   # 200 cases, concurrency 1 and 32, 50 ms
    .venv/bin/python bench/bench_latency.py --cases 500 --concurrencies 1,8,32 --latency 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# bench_runner sets the offline environment (no cost map download) when imported, before litellm is.
from bench_runner import API_KEY_ENV, ServerProcess, make_project


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def recorded_latencies(root: Path, concurrency: int) -> tuple[list[float], float]:
    """Run the benchmark prompt once; the recorded latency of each uncached call (ms, in completion order)
    and the run's wall time (s)."""
    from workbench.project import open_project
    from workbench.prompts import load_prompt
    from workbench.runner import CaseDone, execute, make_client, plan_run
    from workbench.store import Store

    project = open_project(root)
    store = Store(project.db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("bench")))
    latencies: list[float] = []

    async def run() -> None:
        client = make_client(project, store, use_cache=False)
        async for event in execute(plan, store, client, concurrency=concurrency):
            completion = event.result.completion if isinstance(event, CaseDone) else None
            if completion is not None and not completion.cached:
                latencies.append(completion.latency_ms)

    started = time.perf_counter()
    asyncio.run(run())
    wall = time.perf_counter() - started
    store.close()
    return latencies, wall


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=200, help="test cases per run (default 200)")
    parser.add_argument("--concurrencies", default="1,32", help="runs to make, by concurrency (default 1,32)")
    parser.add_argument("--latency", type=float, default=0.05, help="server latency in s (default 0.05)")
    args = parser.parse_args(argv)
    for name in [name for name in os.environ if name.startswith("WORKBENCH_")]:
        del os.environ[name]
    os.environ[API_KEY_ENV] = "sk-bench-loopback"
    true_ms = args.latency * 1000
    concurrencies = [int(part) for part in args.concurrencies.split(",") if part.strip()]
    print(f"{args.cases} cases per run, server latency {true_ms:.0f} ms; litellm is imported by the first run, "
          "so its first call is this process's first call", flush=True)
    print(f"  {'C':>4}  {'first call':>10}  {'p50':>8}  {'p95':>8}  {'p50/true':>8}  {'p95/true':>8}  "
          f"{'calls/s':>8}", flush=True)
    server = ServerProcess(args.latency)
    try:
        with tempfile.TemporaryDirectory(prefix="wb-bench-latency-") as folder:
            os.environ["WORKBENCH_HOME"] = str(Path(folder) / "home")
            for concurrency in concurrencies:
                root = Path(folder) / f"c{concurrency}"
                make_project(root, server.base_url, args.cases, concurrency)
                latencies, wall = recorded_latencies(root, concurrency)
                p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
                print(f"  {concurrency:>4}  {latencies[0]:>7.0f} ms  {p50:>5.1f} ms  {p95:>5.1f} ms  "
                      f"{p50 / true_ms:>7.2f}x  {p95 / true_ms:>7.2f}x  {len(latencies) / wall:>8.1f}",
                      flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
