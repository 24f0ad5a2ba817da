"""Benchmark of the fine-tuning export: 100k synthetic examples written in every format.

Each measurement runs in a fresh child process (this script with ``--child``), so its peak resident memory
(``ru_maxrss``) is that of one export alone: building the synthetic examples, preparing them (token
counts, split, validation of the format) and writing the files, manifest and dataset card through the real
``workbench.export`` code (``prepare`` and ``write_export``; only the store lookup is skipped). It prints
figures and asserts nothing.

Run it from the repository root::

    .venv/bin/python bench/bench_export.py                 # 100k examples, every format, then chat + hf
    .venv/bin/python bench/bench_export.py --examples 20000 --formats openai-chat,hf

Target: openai-chat and hf together, under 10 s and under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Before anything imports datasets: never reach the internet from a benchmark.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the workbench package, when run without an editable install

WORDS = ["invoice", "refund", "password", "login", "shipping", "delay", "broken", "screen", "account", "billing",
         "charge", "order", "cancel", "upgrade", "plan", "discount", "crash", "error", "export", "report", "api",
         "token", "limit", "team", "support", "urgent", "please", "thanks"]
TEAMS = ["billing", "accounts", "shipping", "technical", "sales"]


def synthetic_examples(n: int, seed: int = 7) -> list:
    """``n`` distinct support-ticket examples, a few with a rejected output for the preference formats."""
    from workbench.examples import Example

    rng = random.Random(seed)
    system = f"You route support tickets to one team. Answer with the team name only: {', '.join(TEAMS)}."
    examples = []
    for index in range(n):
        ticket = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 60)))
        target = rng.choice(TEAMS)
        rejected = rng.choice([t for t in TEAMS if t != target]) if index % 5 == 0 else None
        examples.append(Example(
            case_id=f"t{index:06d}", split="dev",
            messages=[{"role": "system", "content": system},
                      {"role": "user", "content": f"Ticket #{index}: {ticket}"}],
            target=target, source="gold" if index % 3 else "passing", version=3, score=1.0,
            rejected=rejected))
    return examples


def child(formats: list[str], n: int, estimate: bool = False) -> dict:
    """Build, prepare and write one export; the figures of this process.

    The token counting inside ``prepare`` is timed on its own by wrapping it; with ``estimate`` it uses the
    four-characters-per-token fallback instead of the best offline tokenizer, to show the rest alone.
    """
    import workbench.export.plan as plan_module
    from workbench import tokens
    from workbench.export import ExportOptions, prepare, write_export

    if estimate:
        def estimate_counts(texts: list[str]) -> list[int]:
            return [max(1, round(len(text) / 4)) for text in texts]

        tokens.tokenizer = lambda: ("estimate (4 characters per token)", estimate_counts)
    counting = plan_module.token_lengths
    spent: list[float] = []

    def timed(examples: list) -> list[int]:
        begin = time.perf_counter()
        lengths = counting(examples)
        spent.append(time.perf_counter() - begin)
        return lengths

    plan_module.token_lengths = timed
    started = time.perf_counter()
    examples = synthetic_examples(n)
    built = time.perf_counter()
    plan = prepare("bench", examples, ExportOptions(formats=tuple(formats), valid_fraction=0.1, seed=0),
                   origin={"version": 3, "version_label": "bench@v3"})
    prepared = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        path = write_export(plan, Path(folder), force=True)
        written = time.perf_counter()
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {
        "formats": formats, "examples": n, "generate_s": built - started, "prepare_s": prepared - built,
        "write_s": written - prepared, "export_s": written - built, "tokens_s": sum(spent),
        "mb_written": size / 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tokenizer": plan.tokens.tokenizer if plan.tokens else "-", "valid": plan.ok,
    }


def measure(formats: list[str], n: int, estimate: bool = False) -> dict:
    """Run one export in a fresh interpreter and return its figures."""
    command = [sys.executable, __file__, "--child", ",".join(formats), "--examples", str(n)]
    out = subprocess.run(command + (["--estimate"] if estimate else []), capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Measure every format alone, then openai-chat + hf together, and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--formats", default=None, help="Comma-separated formats (default: every one).")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--estimate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child.split(","), args.examples, args.estimate)))
        return
    from workbench.export import FORMATS

    names = args.formats.split(",") if args.formats else list(FORMATS)
    both = ["openai-chat", "hf"]
    runs = [([name], False) for name in names] + [(both, False), (both, True)]
    print(f"export of {args.examples} synthetic examples; each line is a fresh process "
          "(export = prepare + write; prepare = token counts + split + validation)")
    print(f"{'formats':<26} {'export s':>9} {'tokens s':>9} {'prepare s':>10} {'write s':>8} {'MB out':>7} "
          f"{'peak RSS MB':>12}")
    for formats, estimate in runs:
        figures = measure(formats, args.examples, estimate)
        label = "+".join(formats) + (" (estimate)" if estimate else "")
        print(f"{label:<26} {figures['export_s']:>9.2f} {figures['tokens_s']:>9.2f} "
              f"{figures['prepare_s']:>10.2f} {figures['write_s']:>8.2f} {figures['mb_written']:>7.1f} "
              f"{figures['peak_rss_mb']:>12.0f}")
        if not estimate:
            tokenizer = figures["tokenizer"]
    print(f"tokenizer: {tokenizer}; '(estimate)' counts 4 characters per token instead, to show the export "
          "without the tokenizer; generating the synthetic data is excluded")
    print("target: openai-chat+hf under 10 s and under 1024 MB peak RSS")

if __name__ == "__main__":
    main()
