"""Prompt Workbench: iterate on prompts with data, then decide whether to fine-tune."""

import os

# The workbench never reaches the internet behind the user's back: litellm would otherwise fetch its
# cost map at import, and Hugging Face libraries would look up the hub. A user can still override both.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"
