"""Benchmark of a tuned local model's latency next to its base, both under llama.cpp: ``local/smollm2`` (the
bundled Q4_1 GGUF) and the GGUF files a fine-tune writes (F16, the one ``local/NAME`` runs, and Q8_0), on
the same prompts, through llama-cpp-python as the ``local/*`` provider runs them (``local.load``, the
provider's sampling parameters, temperature 0).

The calls are interleaved (one prompt on every model, then the next) so that a busy machine slows every
side alike, in ``--repeats`` rounds, a prompt's latency the fastest of its rounds (what the runtime needs
when nothing else competes for the cores). It prints p50/p95 latency, generated tokens
and the tuned/base p50 ratio (the target: within 1.3x), then the same figures with the answers forced to a
fixed length (end-of-sequence banned), which compares the runtimes token for token whatever each model
answers, and the GGUF sizes. With ``--transformers`` it also times the transformers fallback on the same
prompts, for contrast.

Without ``--model-dir`` a throw-away LoRA model is trained first (a few steps on the tickets dev cases,
in a temporary folder): the figures measure the runtime, not the quality of the tune.

    .venv/bin/python bench/bench_tuned_latency.py [--cases 30] [--prompt-mode version|short]
        [--model-dir .workbench/models/NAME] [--train-steps 4] [--repeats 3] [--fixed-tokens 16] [--transformers]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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

TARGET_RATIO = 1.3


def prompt_cases(mode: str, limit: int) -> tuple[list[list[dict]], list[str], dict]:
    """Messages and expected answers of ``limit`` tickets cases, and the prompt's params.

    ``version``: the tickets prompt rendered in full (system text and its few-shot turns); ``short``: its
    system text and the ticket alone.
    """
    from workbench.cases import load_cases
    from workbench.prompts import load_prompt, render

    prompt = load_prompt(REPO / "prompts" / "tickets.prompt")
    cases = load_cases(REPO / (prompt.dataset or ""), prompt.expected_key)[:limit]
    if mode == "version":
        batch = [render(prompt, case) for case in cases]
    else:
        system = render(prompt, cases[0])[0]["content"]
        batch = [[{"role": "system", "content": system}, {"role": "user", "content": str(case.vars["text"])}]
                 for case in cases]
    return batch, [str(case.expected) for case in cases], {"temperature": 0, **prompt.params}


def train_throwaway(batch: list[list[dict]], answers: list[str], folder: Path, steps: int) -> Path:
    """A LoRA model trained for ``steps`` steps on the cases themselves, saved in ``folder/models/bench``."""
    from workbench.finetune.data import load_export
    from workbench.finetune.local import TrainSettings, train_local

    export = folder / "export" / "openai-chat"
    export.mkdir(parents=True)
    with open(export / "train.jsonl", "w", encoding="utf-8") as handle:
        for messages, answer in zip(batch, answers, strict=True):
            handle.write(json.dumps({"messages": [*messages, {"role": "assistant", "content": answer}]}) + "\n")
    target = folder / "models" / "bench"
    target.mkdir(parents=True)
    result = train_local(load_export(folder / "export"), target, TrainSettings(max_steps=steps, batch_size=4))
    gguf = result.info.get("gguf") or {}
    print(f"  trained a throw-away LoRA model: {result.steps} steps, {result.info['seconds_per_step']:.1f} s/step, "
          f"GGUF written in {gguf.get('seconds', float('nan')):.1f} s, {result.duration_s:.0f} s in all")
    return target


def time_calls(models: dict[str, Any], batch: list[list[dict]], params: dict,
               repeats: int = 1) -> dict[str, dict[str, Any]]:
    """Latency (s, the fastest of ``repeats`` rounds) and generated tokens of every prompt, per model.

    Each round asks every prompt in turn, each prompt on every model before the next prompt. An instance
    reuses the start of its previous prompt (llama-cpp-python keeps its cache), so a round in this order
    gets what a run gets (the shared few-shot turns) and never a whole prompt seen just before.
    """
    from workbench.providers import local

    sampling = local._sampling(params)
    for llama in models.values():  # warm-up: the first call pays for buffers
        llama.create_chat_completion(messages=batch[-1], **sampling)
    figures: dict[str, dict[str, Any]] = {label: {"seconds": [float("inf")] * len(batch), "tokens": [0] * len(batch),
                                                  "answers": [""] * len(batch)} for label in models}
    for _ in range(max(1, repeats)):
        for index, messages in enumerate(batch):
            for label, llama in models.items():
                started = time.perf_counter()
                raw = llama.create_chat_completion(messages=messages, **sampling)
                row = figures[label]
                row["seconds"][index] = min(row["seconds"][index], time.perf_counter() - started)
                row["tokens"][index] = raw["usage"]["completion_tokens"]
                row["answers"][index] = raw["choices"][0]["message"]["content"] or ""
    return figures


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(title: str, figures: dict[str, dict[str, Any]], base: str, served: str) -> float:
    """Print one table; returns the served tuned file's p50 over the base's."""
    print(f"\n{title}")
    base_p50 = statistics.median(figures[base]["seconds"])
    for label, row in figures.items():
        p50 = statistics.median(row["seconds"])
        tokens = sum(row["tokens"])
        per_token = sum(row["seconds"]) / tokens * 1000 if tokens else float("nan")
        print(f"  {label:<34} p50 {p50 * 1000:7.1f} ms  p95 {p95(row['seconds']) * 1000:7.1f} ms  "
              f"{tokens / len(row['tokens']):5.1f} tokens/answer  {per_token:6.1f} ms/token  "
              f"{p50 / base_p50:5.2f}x base")
    return statistics.median(figures[served]["seconds"]) / base_p50


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--prompt-mode", choices=["version", "short"], default="version")
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="a tuned model folder (default: train a throw-away one)")
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="calls per prompt and model; the fastest counts")
    parser.add_argument("--fixed-tokens", type=int, default=16, help="length of the forced answers (0: skip)")
    parser.add_argument("--transformers", action="store_true", help="also time the transformers fallback")
    args = parser.parse_args(argv)

    from workbench.providers import local
    from workbench.providers.tuned import read_model

    batch, answers, params = prompt_cases(args.prompt_mode, args.cases)
    print(f"bench_tuned_latency: {len(batch)} tickets cases ({args.prompt_mode} prompt), params {params}, "
          f"{os.cpu_count()} cores, llama.cpp threads: llama-cpp-python's default")
    with tempfile.TemporaryDirectory() as temp:
        folder = args.model_dir.resolve() if args.model_dir else train_throwaway(batch, answers, Path(temp),
                                                                                args.train_steps)
        tuned = read_model(folder)
        if tuned is None or tuned.gguf_path is None:
            print(f"{folder} holds no tuned model with a GGUF file", file=sys.stderr)
            return 2
        files = {"local/smollm2 (Q4_1, base)": local.bundled_gguf()}
        served = f"local/{tuned.name} ({tuned.gguf_path.name.rsplit('.', 2)[-2]}, served)"
        files[served] = tuned.gguf_path
        for qtype, path in sorted(tuned.gguf_files().items()):
            if path != tuned.gguf_path:
                files[f"local/{tuned.name} ({qtype})"] = path
        models = {label: local.load(path)[0] for label, path in files.items()}
        base = next(iter(files))
        figures = time_calls(models, batch, params, args.repeats)
        ratio = report("as served (the prompt's params):", figures, base, served)
        agree = {label: sum(a.strip() == b.strip() for a, b in zip(row["answers"], figures[served]["answers"],
                                                                    strict=True))
                 for label, row in figures.items() if label != served}
        if args.fixed_tokens:
            eos = models[served].token_eos()
            forced = {**params, "max_tokens": args.fixed_tokens, "stop": None}
            fixed = time_calls({label: _Forced(llama, eos) for label, llama in models.items()}, batch, forced,
                               args.repeats)
            fixed_ratio = report(f"forced to {args.fixed_tokens} tokens (end-of-sequence banned):", fixed, base,
                                 served)
        print("\nsizes on disk:")
        for label, path in files.items():
            print(f"  {label:<34} {path.stat().st_size / 1e6:7.1f} MB  {path.name}")
        conversion = (tuned.info.get("gguf") or {}).get("seconds")
        if conversion is not None:
            print(f"  GGUF conversion at the end of training: {conversion:.1f} s")
        print("\nanswers equal to the served file's: " + ", ".join(f"{label} {count}/{len(batch)}"
                                                                  for label, count in agree.items()))
        if args.transformers:
            from workbench.providers import generate

            generate.load(folder)
            generate.complete(folder, batch[-1], params)
            seconds = [float("inf")] * len(batch)
            for _ in range(max(1, args.repeats)):
                for index, messages in enumerate(batch):
                    started = time.perf_counter()
                    generate.complete(folder, messages, params)
                    seconds[index] = min(seconds[index], time.perf_counter() - started)
            p50 = statistics.median(seconds)
            base_p50 = statistics.median(figures[base]["seconds"])
            print(f"transformers fallback (fp32), not interleaved: p50 {p50 * 1000:.1f} ms, "
                  f"p95 {p95(seconds) * 1000:.1f} ms, {p50 / base_p50:.2f}x base")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"\ntuned/base p50: {ratio:.2f}x as served"
          + (f", {fixed_ratio:.2f}x at a fixed length" if args.fixed_tokens else "")
          + f" ({verdict} the {TARGET_RATIO}x target)")
    return 0 if ratio <= TARGET_RATIO else 1


class _Forced:
    """A ``Llama`` whose answers never end early: end-of-sequence is banned, so every call makes max_tokens."""

    def __init__(self, llama: Any, eos: int) -> None:
        self.llama, self.eos = llama, eos

    def create_chat_completion(self, **options: Any) -> Any:
        options.pop("stop", None)
        return self.llama.create_chat_completion(logit_bias={self.eos: -1e9}, **options)


if __name__ == "__main__":
    sys.exit(main())
