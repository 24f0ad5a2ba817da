"""Provides fine-tuning from an export: locally on the CPU (``local``: LoRA or full fine-tuning of a
GGUF base with transformers and PEFT) or through a provider's fine-tuning API (``hosted``), the
registry of tuned models under ``.workbench/models/NAME/model.json`` (``models``) and the verdict that
sets a tuned model against the best prompt version (``verdict``).

Nothing here imports torch, transformers, peft or litellm at import time.
"""

from __future__ import annotations

INSTALL_COMMAND = "pip install 'prompt-workbench[finetune]'"
"""The command that installs the optional local fine-tuning extra."""
