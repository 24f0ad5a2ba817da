"""Benchmark of a tuned local model's inference (transformers ``generate``, the ``local/NAME`` path of a
fine-tune) next to the base model's (llama.cpp on the bundled GGUF, ``local/smollm2``), on the same prompts.

Both go through ``ModelClient`` with the cache off, one call at a time, temperature 0. Without
``--model-dir`` a throw-away LoRA model is trained first (a few steps on the prompt's dev cases, in a
temporary folder), so the figures measure the inference path, not the quality of the tune. It prints
seconds, cases per minute and tokens per second for each side, and the time a 100-case test set takes.

    .venv/bin/python bench/bench_finetune.py [--cases 20] [--prompt tickets] [--model-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


FALLBACK_SYSTEM = "Route the support ticket to one team: billing, bug, account or other. Answer with the team only."


def prompt_cases(name: str, limit: int) -> tuple[list[list[dict]], list[str], dict]:
    """Rendered messages and expected answers of the first ``limit`` dev cases of ``name``, and its params.

    Without ``prompts/NAME.prompt`` the tickets test set is asked with a fixed routing prompt.
    """
    from workbench.cases import load_cases, select_split
    from workbench.prompts import load_prompt, render

    path = REPO / "prompts" / f"{name}.prompt"
    if not path.is_file():
        cases = select_split(load_cases(REPO / "datasets" / "tickets.jsonl"), "dev")[:limit]
        batch = [[{"role": "system", "content": FALLBACK_SYSTEM}, {"role": "user", "content": str(case.vars["text"])}]
                 for case in cases]
        return batch, [str(case.expected) for case in cases], {"temperature": 0, "max_tokens": 12}
    prompt = load_prompt(path)
    cases = select_split(load_cases(REPO / (prompt.dataset or ""), prompt.expected_key), "dev")[:limit]
    return [render(prompt, case) for case in cases], [str(case.expected) for case in cases], \
        {"temperature": 0, **prompt.params}


def train_throwaway(batch: list[list[dict]], answers: list[str], folder: Path, steps: int) -> Path:
    """A LoRA model trained for ``steps`` steps on the cases themselves, saved in ``folder/bench``."""
    from workbench.finetune.data import load_export
    from workbench.finetune.local import TrainSettings, train_local

    export = folder / "export" / "openai-chat"
    export.mkdir(parents=True)
    with open(export / "train.jsonl", "w", encoding="utf-8") as handle:
        for messages, answer in zip(batch, answers, strict=True):
            record = {"messages": [*messages, {"role": "assistant", "content": answer}]}
            handle.write(json.dumps(record) + "\n")
    target = folder / "models" / "bench"
    target.mkdir(parents=True)
    result = train_local(load_export(folder / "export"), target, TrainSettings(max_steps=steps, batch_size=4))
    print(f"  trained a throw-away LoRA model: {result.steps} steps, "
          f"{result.info['seconds_per_step']:.1f} s/step, loss {result.train_losses[0]:.3f} -> "
          f"{result.train_losses[-1]:.3f}, {result.duration_s:.0f} s in all")
    return target


async def run_side(model: str, batch: list[list[dict]], params: dict,
                   models_dir: Path) -> tuple[float, int, int]:
    """(seconds, prompt tokens, generated tokens) of answering every case once, after a warm-up call."""
    from workbench.providers.client import ModelClient
    from workbench.records import CompletionRequest

    client = ModelClient(use_cache=False, models_dir=models_dir, timeout=600)
    await client.complete(CompletionRequest(model, batch[0], params))  # loads the model
    tokens_in = tokens_out = 0
    started = time.perf_counter()
    for messages in batch:
        completion = await client.complete(CompletionRequest(model, messages, params))
        tokens_in += completion.input_tokens or 0
        tokens_out += completion.output_tokens or 0
    return time.perf_counter() - started, tokens_in, tokens_out


def report(label: str, seconds: float, n: int, tokens_in: int, tokens_out: int) -> float:
    """Print one side's figures; returns generated tokens per second."""
    per_case = seconds / n
    print(f"  {label:<34} {seconds:7.2f} s  {per_case:6.3f} s/case  {n / seconds * 60:7.1f} cases/min  "
          f"{tokens_out / seconds:7.1f} generated tok/s  "
          f"{(tokens_in + tokens_out) / seconds:8.1f} all tok/s  "
          f"100 cases in {per_case * 100 / 60:.1f} min")
    return tokens_out / seconds


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--prompt", default="tickets")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a tuned model folder (default: train a throw-away one)")
    parser.add_argument("--train-steps", type=int, default=3)
    args = parser.parse_args(argv)
    torch_threads = os.environ.get("OMP_NUM_THREADS", "default")
    batch, answers, params = prompt_cases(args.prompt, args.cases)
    print(f"bench_finetune: {len(batch)} dev cases of {args.prompt}, params {params}, "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS={torch_threads}")
    with tempfile.TemporaryDirectory() as temp:
        folder = args.model_dir.resolve() if args.model_dir else train_throwaway(batch, answers, Path(temp),
                                                                                args.train_steps)

        async def both() -> tuple[tuple[float, int, int], tuple[float, int, int]]:
            # One event loop for both sides: litellm's clients belong to the loop that made them.
            return (await run_side("local/smollm2", batch, params, folder.parent),
                    await run_side(f"local/{folder.name}", batch, params, folder.parent))

        base, tuned = asyncio.run(both())
    base_rate = report("local/smollm2 (llama.cpp, Q4_1 GGUF)", *base[:1], len(batch), *base[1:])
    tuned_rate = report(f"local/{folder.name} (transformers, fp32)", *tuned[:1], len(batch), *tuned[1:])
    print(f"  tuned/base generated tokens per second: {tuned_rate / base_rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
