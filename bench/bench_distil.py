"""Benchmark of teacher to student on the bundled ticket-routing task, end to end as a user runs it: a
teacher model (the loopback server, answering right on 9 tickets in 10, wrong on a seeded tenth, and priced
as gpt-4o-mini through litellm's cost map, counting words as tokens) labels the dev cases; its answers,
not the gold ones, are exported (``--source outputs``, the short training prompt); the bundled SmolLM2 is
fine-tuned on them locally (LoRA, served by llama.cpp); the teacher, the student with the prompt and the
tuned student run on the test split; ``workbench decide`` sets the three side by side.

It prints the decision's teacher-to-student table, the share of the teacher's quality the student keeps,
and the wall time of each step. Everything runs in a temporary copy of the example project.

    .venv/bin/python bench/bench_distil.py [--teacher-accuracy 0.9] [--epochs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_decide import REPO, workbench  # also sets the offline environment

sys.path.insert(0, str(REPO / "tests"))


def teacher(accuracy: float) -> Any:
    """A reply hook: the gold team of the ticket in the last message, except on a seeded share of them."""
    from workbench.cases import load_cases

    cases = load_cases(REPO / "datasets" / "tickets.jsonl")
    gold = {str(case.vars["text"]).strip(): str(case.expected) for case in cases}
    teams = sorted(set(gold.values()))

    def reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        text = str(messages[-1].get("content") or "").strip()
        answer = next((team for ticket, team in gold.items() if ticket and ticket in text), "other")
        draw = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if draw >= accuracy:  # the teacher's share of mistakes: another team
            answer = teams[(teams.index(answer) + 1) % len(teams)] if answer in teams else "other"
        return answer

    return reply


def main() -> None:
    from support.openai_server import FakeOpenAIServer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher-accuracy", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-distil-"))
    root.mkdir(parents=True, exist_ok=True)
    for name in ("prompts", "datasets"):
        shutil.copytree(REPO / name, root / name, dirs_exist_ok=True)
    steps: dict[str, float] = {}
    os.environ.setdefault("BENCH_TEACHER_KEY", "loopback")  # the alias names a key; the server ignores it
    with FakeOpenAIServer(reply=teacher(args.teacher_accuracy)) as server:
        (root / "workbench.toml").write_text(
            f'[models.teacher]\nmodel = "openai/gpt-4o-mini"\napi_base = "{server.base_url}"\n'
            'api_key_env = "BENCH_TEACHER_KEY"\n', encoding="utf-8")
        try:
            for model in ("local/smollm2", "teacher"):
                for split in ("dev", "test"):
                    _, steps[f"run {split} ({model})"] = workbench(root, "run", "tickets", "--split", split,
                                                                   "--model", model, "--no-cache")
            out, steps["export (teacher outputs)"] = workbench(root, "export", "tickets", "--model", "teacher",
                                                               "--source", "outputs", "--json")
            export = json.loads(out)
            folder = next(p for p in sorted((root / "exports").iterdir()) if p.is_dir())
            out, steps["finetune"] = workbench(root, "finetune", str(folder), "--name", "student", "--json",
                                               "--epochs", str(args.epochs))
            tuned = json.loads(out)
            _, steps["run test (tuned student)"] = workbench(root, "run", "tickets", "--split", "test", "--model",
                                                             "local/student", "--no-cache")
            out, _ = workbench(root, "decide", "tickets", "--json")
            decision = json.loads(out)
            text, _ = workbench(root, "decide", "tickets")
        finally:
            if args.keep is None:
                shutil.rmtree(root, ignore_errors=True)
    counts = export["counts"]
    print(f"export: {counts['train']} train, {counts['validation']} validation from the teacher's outputs, "
          f"training prompt {export['settings']['train_prompt']}; notes: {export.get('notes')}")
    print(f"finetune: {tuned['steps']} steps, {tuned['duration_s']:.0f} s in all")
    print()
    print(text)
    print()
    for name, seconds in steps.items():
        print(f"  {name:<28} {seconds:7.1f} s")
    print(json.dumps(decision.get("distillations"), indent=1)[:3000])


if __name__ == "__main__":
    main()
