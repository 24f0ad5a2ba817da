"""Benchmark of the whole escalation decision on the bundled ticket-routing task, end to end, as a user runs
it: the prompt (the example project's tickets prompt, a few-shot version) on ``local/smollm2`` on the dev
and test splits, an export of the dev gold answers (the short training prompt, the default for a few-shot
version), a local LoRA fine-tune (served by llama.cpp from the GGUF it writes), the tuned model on the test
split, and ``workbench decide``.

It prints the decision's figures (accuracy with CI and McNemar, cost per 1,000 cases, training cost,
break-even, latency p50/p95 of both sides, deployment), the training estimate against the measured time,
and the wall time of each step. Everything runs in a temporary copy of the example project.

    .venv/bin/python bench/bench_decide.py [--epochs 2] [--train-prompt version|short|none] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def workbench(root: Path, *args: str) -> tuple[str, float]:
    """Run ``workbench --project ROOT ARGS`` in-process; (stdout, seconds). Exits on a failure."""
    from click.testing import CliRunner

    from workbench.cli import main

    started = time.perf_counter()
    with CliRunner().isolation() as (out, err, _):
        code = main(["--project", str(root), *args])
    seconds = time.perf_counter() - started
    if code != 0:
        sys.exit(f"workbench {' '.join(args)} failed ({code}): {err.getvalue().decode()[-2000:]}")
    return out.getvalue().decode(), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-prompt", default=None, help="The export's --train-prompt (default: its own).")
    parser.add_argument("--keep", type=Path, default=None, help="Build the project here and keep it.")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-decide-"))
    root.mkdir(parents=True, exist_ok=True)
    for name in ("prompts", "datasets"):
        shutil.copytree(REPO / name, root / name, dirs_exist_ok=True)
    if (REPO / "workbench.toml").is_file():
        shutil.copy(REPO / "workbench.toml", root / "workbench.toml")
    steps: dict[str, float] = {}
    try:
        _, steps["run dev (base)"] = workbench(root, "run", "tickets", "--split", "dev", "--no-cache")
        _, steps["run test (base)"] = workbench(root, "run", "tickets", "--split", "test", "--no-cache")
        extra = ("--train-prompt", args.train_prompt) if args.train_prompt else ()
        out, steps["export"] = workbench(root, "export", "tickets", "--source", "gold", "--json", *extra)
        export = json.loads(out)
        folder = next(p for p in sorted((root / "exports").iterdir()) if p.is_dir())
        estimate_out, steps["finetune --estimate"] = workbench(root, "finetune", str(folder), "--estimate", "--json",
                                                               "--epochs", str(args.epochs))
        estimate = json.loads(estimate_out)
        out, steps["finetune"] = workbench(root, "finetune", str(folder), "--name", "tickets-lora", "--json",
                                           "--epochs", str(args.epochs))
        tuned = json.loads(out)
        _, steps["run test (tuned)"] = workbench(root, "run", "tickets", "--split", "test", "--model",
                                                 "local/tickets-lora", "--no-cache")
        out, steps["decide"] = workbench(root, "decide", "tickets", "--json")
        decision = json.loads(out)
        text, _ = workbench(root, "decide", "tickets")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    report(export, estimate, tuned, decision, text, steps)


def report(export: dict[str, Any], estimate: dict[str, Any], tuned: dict[str, Any], decision: dict[str, Any],
           text: str, steps: dict[str, float]) -> None:
    counts = export["counts"]
    print(f"export: {counts['train']} train, {counts['validation']} validation, training prompt "
          f"{export['settings']['train_prompt']}; tokens p50 {export['tokens']['p50']:.0f}")
    print(f"finetune: {tuned['steps']} steps, train {tuned['train_seconds']:.1f} s "
          f"(estimated {tuned['estimated_seconds']:.1f} s before the first step: "
          f"{tuned['estimated_seconds'] / max(tuned['train_seconds'], 1e-9):.2f}x; --estimate said "
          f"{estimate['seconds']:.1f} s), {tuned['duration_s']:.0f} s in all; served {tuned['runtime']} "
          f"{(tuned.get('gguf') or {}).get('served_type')}")
    print()
    print(text)
    print()
    for name, seconds in steps.items():
        print(f"  {name:<22} {seconds:7.1f} s")
    print(json.dumps({"prompt_side": decision["prompt_side"], "tuned": decision["tuned"]}, indent=1)[:4000])


if __name__ == "__main__":
    main()
