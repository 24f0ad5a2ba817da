"""Benchmark of start-up: whole ``workbench`` processes, timed from outside, against a loopback model.

Each figure is the wall time of a subprocess ``.venv/bin/workbench --project DIR ...`` (interpreter
start, imports, planning, calls, writes and the summary: what a user or a CI job waits for), the median
of ``--repeat`` runs. The fake OpenAI server of ``tests/support/openai_server.py`` runs in a process of
its own. Measured:

- ``--help`` and ``status PROMPT``: the floor (no model, no run);
- a 1-case run, uncached (each repetition runs a case the cache has never seen);
- a ``--cases``-case run answered entirely from the response cache (the cache is filled by one untimed
  run first; a finished run is never reused, so each timed re-run opens a new run and writes every
  result, answered from the cache);
- the same two runs with the warm start (``WORKBENCH_WARM=1``: each run is a process forked by a warm
  process that imported litellm once; the warm process is started by an untimed run first);
- ``python -X importtime``: the top-level imports of the 1-case and the cached run, by cumulative time,
  and whether litellm was imported.

Every other figure is a cold start (``WORKBENCH_WARM=0``).

It prints figures and asserts nothing. Run it from the repository root::

    .venv/bin/python bench/bench_startup.py                 # 3 repetitions, 1000 cached cases
    .venv/bin/python bench/bench_startup.py --repeat 5 --cases 2000

Targets (issue 15): the cached re-run of 1000 cases under 1.5 s; the 1-case run no later than
promptfoo's 1-case eval in the same session.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench_runner import ServerProcess  # the loopback server in a child process

REPO = Path(__file__).resolve().parent.parent
WORKBENCH = REPO / ".venv" / "bin" / "workbench"
PYTHON = REPO / ".venv" / "bin" / "python"
API_KEY_ENV = "FAKE_KEY"
PROMPT = "bench"


def child_env(home: Path) -> dict[str, str]:
    """The environment of every timed process: offline, a loopback key, no caller ``WORKBENCH_*`` settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("WORKBENCH_")}
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost", API_KEY_ENV: "sk-bench-loopback",
                "WORKBENCH_HOME": str(home), "WORKBENCH_WARM": "0", "TMPDIR": str(home.parent)})
    env.pop("XDG_RUNTIME_DIR", None)
    return env


def make_project(root: Path, base_url: str) -> None:
    """A project with the prompt ``bench`` (temperature 0, exact_match) and the ``fake`` model alias."""
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(
        "[defaults]\nmodel = \"fake\"\nconcurrency = 32\ntimeout = 30\nretries = 2\n\n"
        f"[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base_url}\"\n"
        f"api_key_env = \"{API_KEY_ENV}\"\n", encoding="utf-8")
    (root / "prompts" / f"{PROMPT}.prompt").write_text(
        "---\ndescription: start-up benchmark\nmodel: fake\nparams: {temperature: 0}\n"
        "dataset: datasets/cases.jsonl\nscorers:\n  - exact_match\n---\nQuestion: {{ question }}\n",
        encoding="utf-8")


def write_cases(root: Path, n_cases: int, tag: str) -> None:
    """``n_cases`` cases whose text carries ``tag`` (a new tag: answers the cache has never seen)."""
    # The server echoes the user message, so every case passes exact_match.
    rows = [{"id": f"c{i:05d}", "question": f"case {i} {tag}", "expected": f"Question: case {i} {tag}"}
            for i in range(n_cases)]
    (root / "datasets" / "cases.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows),
                                                   encoding="utf-8")


def timed(command: Sequence[str], env: dict[str, str]) -> float:
    """Wall seconds of one process; raises if it fails (a failing run is no figure)."""
    started = time.perf_counter()
    done = subprocess.run(list(command), env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return seconds


def import_profile(command: Sequence[str], env: dict[str, str], top: int) -> tuple[list[tuple[str, float]], bool]:
    """The ``top`` top-level modules of one ``python -X importtime`` process by cumulative seconds, and
    whether it imported litellm."""
    done = subprocess.run([str(PYTHON), "-X", "importtime", *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"importtime run exited {done.returncode}: {done.stderr.strip()[-500:]}")
    rows: list[tuple[str, float]] = []
    litellm = False
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|", 2)
        litellm = litellm or name.strip() == "litellm"
        if not name.startswith(" ") or name.startswith("  "):  # nested imports are indented by two more
            continue
        rows.append((name.strip(), int(cumulative) / 1e6))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top], litellm


def median_line(label: str, samples: list[float]) -> str:
    """``label: median (min-max, n runs)``."""
    return (f"  {label:<34} median {statistics.median(samples):6.2f} s  "
            f"(min {min(samples):.2f}, max {max(samples):.2f}, {len(samples)} runs)")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure (default 3)")
    parser.add_argument("--cases", type=int, default=1000, help="cases of the cached re-run (default 1000)")
    parser.add_argument("--top", type=int, default=8, help="top-level importers shown (default 8)")
    args = parser.parse_args(argv)
    server = ServerProcess(latency=0.0)
    try:
        with tempfile.TemporaryDirectory(prefix="wb-startup-") as folder:
            root = Path(folder) / "project"
            env = child_env(Path(folder) / "home")
            make_project(root, server.base_url)
            base = [str(WORKBENCH), "--project", str(root)]
            run = [*base, "run", PROMPT, "--json"]
            write_cases(root, 1, "warm-up")
            timed(run, env)  # the database created and migrated, the OS caches warm: not timed
            figures: dict[str, list[float]] = {"help": [], "status": [], "one": [], "cached": []}
            for i in range(args.repeat):
                figures["help"].append(timed([str(WORKBENCH), "--help"], env))
                figures["status"].append(timed([*base, "status", PROMPT], env))
                write_cases(root, 1, f"uncached {i}")
                figures["one"].append(timed(run, env))
            write_cases(root, args.cases, "cached")
            fill = timed(run, env)
            for _ in range(args.repeat):
                figures["cached"].append(timed(run, env))
            # The warm start: an untimed run that calls the model starts the warm process.
            warm_env = {**env, "WORKBENCH_WARM": "1", "WORKBENCH_WARM_IDLE": "600"}
            write_cases(root, 1, "warm start")
            timed(run, warm_env)
            sockets = Path(folder) / f"workbench-{os.getuid()}"
            deadline = time.monotonic() + 180
            while not list(sockets.glob("warm-*.sock")):
                if time.monotonic() > deadline:
                    raise RuntimeError("no warm process started within 180 s")
                time.sleep(0.1)
            figures["warm one"], figures["warm cached"] = [], []
            for i in range(args.repeat):
                write_cases(root, 1, f"warm uncached {i}")
                figures["warm one"].append(timed(run, warm_env))
            write_cases(root, args.cases, "cached")
            for _ in range(args.repeat):
                figures["warm cached"].append(timed(run, warm_env))
            timed([str(WORKBENCH), "warm", "--stop"], warm_env)
            write_cases(root, 1, "importtime")
            one_imports, one_litellm = import_profile(run, env, args.top)
            write_cases(root, args.cases, "cached")
            cached_imports, cached_litellm = import_profile(run, env, args.top)
    finally:
        server.stop()

    print(f"whole processes, median of {args.repeat} (machine: {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f})")
    print(median_line("workbench --help", figures["help"]))
    print(median_line(f"workbench status {PROMPT}", figures["status"]))
    print(median_line("run, 1 case, uncached", figures["one"]))
    print(median_line(f"run, {args.cases} cases, all cached", figures["cached"]))
    print(median_line("warm start: run, 1 case, uncached", figures["warm one"]))
    print(median_line(f"warm start: run, {args.cases} cached", figures["warm cached"]))
    print(f"  (filling the cache: {args.cases} cases uncached, 1 run: {fill:.2f} s)")
    med = {name: statistics.median(samples) for name, samples in figures.items()}
    print(f"  warm start against cold: 1 case {med['one'] / med['warm one']:.1f}x faster, cached "
          f"{med['cached'] / med['warm cached']:.1f}x")
    floor = statistics.median(figures["help"])
    print(f"  ratios to --help: 1 case {statistics.median(figures['one']) / floor:.2f}x, cached "
          f"{statistics.median(figures['cached']) / floor:.2f}x")
    for label, rows, litellm in (("1-case run", one_imports, one_litellm),
                                 (f"{args.cases}-case cached run", cached_imports, cached_litellm)):
        print(f"\ntop-level imports of the {label} (-X importtime, cumulative; litellm imported: "
              f"{'yes' if litellm else 'no'})")
        for name, seconds in rows:
            print(f"  {name:<30} {seconds:6.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
