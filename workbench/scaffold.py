"""Provides ``create_project``: the files ``workbench init`` writes."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.cases import DEV, TEST
from workbench.errors import WorkbenchError

CONFIG = """\
# Prompt Workbench settings. Flags override the environment (WORKBENCH_*), which overrides this file.
[defaults]
model = "local/smollm2"      # any litellm model name, e.g. "gpt-4o-mini" or "ollama/llama3.2"
concurrency = 4                # calls in flight at once, per model (1 or more)
timeout = 60                   # seconds before a call is abandoned (above 0, at most 86400)
retries = 4                    # retries after the first attempt (0 to 100)
# judge_model = "gpt-4o-mini"  # used by the llm_judge scorer

[plateau]
k = 3            # versions that must fail to beat the best earlier one (1 or more)
min_gain = 0.02  # smallest gain in pass rate that counts, a fraction: 0.02 = 2 points (0 to below 1)
alpha = 0.05     # significance level of the gain's CI (between 0 and 1): 0.05 = a 95% CI

# An OpenAI-compatible server (llama.cpp, vLLM, LM Studio, ...):
# [models.my-server]
# model = "openai/my-model"
# api_base = "http://127.0.0.1:8080/v1"
# api_key_env = "MY_SERVER_KEY"
"""

PROMPT = """\
---
description: Classify the sentiment of a product review
params: {temperature: 0, max_tokens: 5}
dataset: datasets/example.jsonl
scorers:
  - exact_match: {normalize: true}
system: |
  Classify the sentiment of the review. Answer with one word: positive or negative.
---
Review: {{ review }}
Sentiment:
"""

CASES = [
    ("Works perfectly, I use it every day.", "positive"),
    ("Broke after two days. Waste of money.", "negative"),
    ("Fast delivery and great quality.", "positive"),
    ("The battery dies within an hour.", "negative"),
    ("Exactly as described, very happy.", "positive"),
    ("Customer service never answered my emails.", "negative"),
    ("Best purchase I made this year.", "positive"),
    ("It arrived scratched and dented.", "negative"),
]


def create_project(root: Path) -> Path:
    """Write a new project (settings, one prompt, one test set) into ``root``; never overwrite."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        root / "workbench.toml": CONFIG,
        root / "prompts" / "example.prompt": PROMPT,
        root / "datasets" / "example.jsonl": "".join(
            json.dumps({"id": f"ex-{i + 1}", "review": text, "expected": label,
                        "split": TEST if i >= 6 else DEV}) + "\n"
            for i, (text, label) in enumerate(CASES)),
        root / "exports" / ".gitkeep": "",
        root / ".gitignore": ".workbench/\n",
    }
    existing = [path for path in files if path.exists() and path.name != ".gitignore"]
    if existing:
        raise WorkbenchError(f"{existing[0]} already exists", hint="init writes into a new or empty folder")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    return root.resolve()
