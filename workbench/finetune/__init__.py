"""Provides fine-tuning from an export: locally on the CPU (``local``: LoRA or full fine-tuning of a
GGUF base with transformers and PEFT) or through a provider's fine-tuning API (``hosted``), the
new models' folders under ``.workbench/models/NAME/`` (``models``; reading them, and serving a tuned
model, is ``workbench.providers``: ``tuned``, ``local`` and ``generate``), a local model written as GGUF
for llama.cpp (``gguf_writer``) with the file to serve chosen by its answers (``gguf_check``) and exported
for Ollama (``ollama``), and the verdict that sets a tuned model against the best prompt version
(``verdict``).

Nothing here imports torch, transformers, peft, gguf, llama_cpp or litellm at import time.
"""

from __future__ import annotations
