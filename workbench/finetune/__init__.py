"""Provides fine-tuning from an export: locally on the CPU (``local``: LoRA or full fine-tuning of a
GGUF base with transformers and PEFT) or through a provider's fine-tuning API (``hosted``), the
new models' folders under ``.workbench/models/NAME/`` (``models``; reading them, and serving a tuned
model, is ``workbench.providers``: ``tuned`` and ``generate``) and the verdict that sets a tuned model
against the best prompt version (``verdict``).

Nothing here imports torch, transformers, peft or litellm at import time.
"""

from __future__ import annotations
