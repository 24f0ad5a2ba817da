"""Provides local fine-tuning on the CPU: LoRA (default) or full fine-tuning of a base model whose weights
are de-quantised from a GGUF file (the bundled SmolLM2 by default; never downloaded), with the loss on
the answer tokens only, validation loss after each epoch, a stop that ends cleanly at a step boundary
(Ctrl+C), and the result merged and saved under ``.workbench/models/NAME/`` for ``local/NAME``: written
as GGUF (``gguf_writer``: float16 and Q8_0) so llama.cpp serves it like the base, and as a transformers
model, which a further fine-tune starts from and which serves it when no GGUF could be written.

torch, transformers and peft are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.costs import CostSettings
from workbench.errors import FinetuneError
from workbench.finetune.data import Conversation, ExportData
from workbench.finetune.estimate import TrainingEstimate, local_estimate, planned_steps
from workbench.finetune.models import write_model_json
from workbench.providers.tuned import (
    GGUF_BACKEND,
    INSTALL_COMMAND,
    LLAMA_CPP_RUNTIME,
    TRANSFORMERS_BACKEND,
    TRANSFORMERS_RUNTIME,
    TunedModel,
    find_model,
)

METHODS = ("lora", "full")
REQUIRED = ("torch", "transformers", "peft", "gguf")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_LEARNING_RATE = {"lora": 1e-3, "full": 5e-5}
"""LoRA wants a far larger rate than full fine-tuning (measured: 1e-3 takes SmolLM2 from 2.5 to ~0.01)."""
IGNORE = -100
"""The label torch's cross-entropy skips: prompt tokens and padding carry no loss."""


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of a local fine-tune."""

    base: str = "local/smollm2"
    method: str = "lora"
    epochs: int = 3
    """Measured on the bundled tickets task (46 examples, short prompt): 2 epochs left the tuned model no
    better than the prompt (53.1% vs 53.1% on 32 held-out cases), 3 epochs gave 81.2% (+28 points)."""
    learning_rate: float | None = None
    """None: the method's default (``DEFAULT_LEARNING_RATE``)."""
    batch_size: int = 8
    max_steps: int | None = None
    """Stop after this many optimiser steps (tests and quick trials); None: every epoch."""
    max_length: int = 512
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    seed: int = 0

    @property
    def rate(self) -> float:
        """The learning rate actually used."""
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[self.method]

    def hyperparameters(self) -> dict[str, Any]:
        """What ``model.json`` records."""
        values = {**asdict(self), "learning_rate": self.rate}
        values.pop("base")
        if self.method != "lora":
            for key in ("lora_r", "lora_alpha", "lora_dropout"):
                values.pop(key)
        else:
            values["lora_targets"] = list(LORA_TARGETS)
        return values


@dataclass(frozen=True)
class Progress:
    """One optimiser step done (or, with ``validation_loss`` set, one epoch evaluated)."""

    step: int
    total_steps: int
    epoch: int
    loss: float
    elapsed_s: float
    eta_s: float
    validation_loss: float | None = None


@dataclass(frozen=True)
class TrainResult:
    """A finished (or stopped) local fine-tune."""

    name: str
    folder: Path
    steps: int
    total_steps: int
    train_losses: list[float]
    validation_losses: list[float]
    duration_s: float
    interrupted: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds_per_step(self) -> float | None:
        """Mean wall time of a training step (loading and saving excluded)."""
        return self.info.get("seconds_per_step")


def require_extra() -> None:
    """Raise a one-line ``FinetuneError`` naming the install command when the extra is missing."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise FinetuneError(f"local fine-tuning needs {', '.join(missing)}, which "
                            f"{'is' if len(missing) == 1 else 'are'} not installed",
                            hint=f"install the extra: {INSTALL_COMMAND}")


def resolve_base(base: str, models_dir: Path | None = None) -> tuple[str, Path]:
    """(kind, path) of a base: ``gguf`` (the bundled model or a .gguf file) or ``folder`` (a tuned model)."""
    from workbench.providers import local

    name = base.split("/", 1)[1] if base.startswith("local/") else base
    tuned = find_model(models_dir, name)
    if tuned is not None and tuned.is_local:
        if tuned.has_transformers:
            return "folder", tuned.folder
        files = tuned.gguf_files()
        source = files.get("F16") or tuned.gguf_path
        if source is not None:  # transformers de-quantises a GGUF base alike
            return "gguf", source
    if name == "smollm2" or (name.endswith(".gguf") and Path(name).is_file()):
        try:
            return "gguf", local.model_path(name)
        except Exception as error:
            raise FinetuneError(f"base model {base!r} is not available: {error}") from None
    raise FinetuneError(f"unknown base model {base!r} for local fine-tuning",
                        hint="use local/smollm2, local/PATH/TO/FILE.gguf or a tuned local/NAME; "
                             "for a hosted model pass --provider openai")


def gguf_source(base: str, models_dir: Path | None, depth: int = 0) -> Path | None:
    """The GGUF whose metadata (tokenizer, chat template, hyper-parameters) a model tuned from ``base``
    takes: the base's own GGUF, or for a tuned base its GGUF or, failing that, its own base's."""
    try:
        kind, path = resolve_base(base, models_dir)
    except FinetuneError:
        return None
    if kind == "gguf":
        return path
    tuned = find_model(models_dir, base)
    if tuned is None:
        return None
    files = tuned.gguf_files()
    found = files.get("F16") or tuned.gguf_path
    if found is not None:
        return found
    return gguf_source(tuned.base, models_dir, depth + 1) if tuned.base and depth < 8 else None


def write_gguf(model: Any, folder: Path, name: str, source: Path | None,
               say: Callable[[str], None] | None = None, *, tokenizer: Any = None,
               examples: list[Conversation] | None = None) -> dict[str, Any]:
    """Write the merged ``model`` as GGUF in ``folder`` and choose the file to serve (by ``gguf_check`` on
    ``examples`` when given); returns the ``model.json`` entries saying what serves it. A failure is
    recorded (``gguf_error``), never raised: the transformers model still serves."""
    from workbench.finetune.gguf_check import choose_served
    from workbench.finetune.gguf_writer import FAITHFUL_TYPE, PREFERRED_TYPES, WRITTEN_TYPES, write_model_ggufs

    fallback: dict[str, Any] = {"backend": TRANSFORMERS_BACKEND, "runtime": TRANSFORMERS_RUNTIME, "gguf": None}
    if source is None:
        return {**fallback, "gguf_error": "no base GGUF to take the tokenizer and metadata from"}
    if say:
        say(f"writing GGUF ({', '.join(WRITTEN_TYPES)}) for llama.cpp")
    started = time.perf_counter()
    try:
        written = write_model_ggufs(model, source, folder, name)
        seconds = time.perf_counter() - started
        paths = {item.qtype: item.path for item in written}
        served, check = choose_served(model, tokenizer, paths, examples or [], PREFERRED_TYPES, FAITHFUL_TYPE, say)
    except Exception as error:  # a failed conversion must not lose the trained model: it falls back
        for path in folder.glob(f"{name}.*.gguf"):
            path.unlink(missing_ok=True)
        if say:
            say(f"warning: no GGUF written ({error}); local/{name} runs in transformers instead")
        return {**fallback, "gguf_error": str(error) or type(error).__name__}
    files = {item.qtype: {"file": item.path.name, "bytes": item.size_bytes, "seconds": round(item.seconds, 2)}
             for item in written}
    if say and check.get("prompts"):
        same = check["same_answers"].get(served)
        say(f"serving {paths[served].name}: {same}/{check['prompts']} answers as the trained model's"
            + (f" (float16 kept in {paths[FAITHFUL_TYPE].name})" if served in PREFERRED_TYPES
               else f" ({check['note']})" if check.get("note") else ""))
    return {"backend": GGUF_BACKEND, "runtime": LLAMA_CPP_RUNTIME,
            "gguf": {"served": paths[served].name, "served_type": served, "files": files,
                     "metadata_from": source.name, "seconds": round(seconds, 2), "check": check,
                     "check_seconds": round(time.perf_counter() - started - seconds, 2)},
            "gguf_error": None}


def _recorded_examples(tuned: TunedModel) -> list[Conversation]:
    """The examples of the export a tuned model was trained on, when that export is still there."""
    from workbench.finetune.data import load_export

    export = tuned.info.get("export")
    if not isinstance(export, str) or not Path(export).is_dir():
        return []
    try:
        data = load_export(Path(export))
    except Exception:  # a moved or edited export: convert without the check (float16 is served)
        return []
    return [*data.validation, *data.train]


def convert_saved(tuned: TunedModel, models_dir: Path | None,
                  say: Callable[[str], None] | None = None) -> TunedModel:
    """Write the GGUF of a tuned model saved without one (its transformers folder), and record it."""
    if not tuned.has_transformers:
        raise FinetuneError(f"local/{tuned.name} has no transformers model to convert", path=tuned.folder)
    require_extra()
    source = gguf_source(tuned.base, models_dir)
    if source is None:
        raise FinetuneError(f"no GGUF of {tuned.base or 'the base model'} to take local/{tuned.name}'s "
                            "tokenizer and metadata from")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, tokenizer = load_base("folder", tuned.folder)
    except Exception as error:  # a damaged folder: one line, not transformers' traceback
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise FinetuneError(f"cannot load local/{tuned.name} to convert it: {first}", path=tuned.folder) from None
    entries = write_gguf(model, tuned.folder, tuned.name, source, say, tokenizer=tokenizer,
                         examples=_recorded_examples(tuned))
    if entries["gguf"] is None:
        raise FinetuneError(f"cannot write local/{tuned.name} as GGUF: {entries['gguf_error']}")
    info = {**tuned.info, **entries}
    write_model_json(tuned.folder, info)
    return TunedModel(tuned.name, tuned.folder, info)


_base_cache: dict[Path, Any] = {}
_base_lock = threading.Lock()


def load_base(kind: str, path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) of a base in float32; a GGUF is de-quantised once per process, then copied."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if kind == "folder":
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32), tokenizer
    with _base_lock:
        if path not in _base_cache:
            with _quiet_gguf():
                tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
                model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                             dtype=torch.float32)
            # The weights are plain float32 now; without this transformers refuses to save them
            # ("quantized with gguf and is not serializable").
            # transformers sets hf_quantizer at load time without declaring it, so mypy sees torch's
            # Module.__setattr__ (tensors and modules only).
            model.hf_quantizer = None  # type: ignore[assignment]
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            _base_cache[path] = (model, tokenizer)
        model, tokenizer = _base_cache[path]
        # Training changes the weights in place: each fine-tune starts from its own copy.
        return copy.deepcopy(model), tokenizer


@contextlib.contextmanager
def _quiet_gguf() -> Iterator[None]:
    """Hide transformers' own tqdm bar of the GGUF conversion: the CLI draws its own progress."""
    import functools

    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    original = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        gguf_utils.tqdm = original


def encode(tokenizer: Any, messages: Conversation, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one example: the loss falls on the final assistant answer only."""
    context = [{"role": m["role"], "content": m.get("content") or ""} for m in messages[:-1]]
    answer = {"role": "assistant", "content": messages[-1].get("content") or ""}
    prompt_ids = _ids(tokenizer.apply_chat_template(context, tokenize=True, add_generation_prompt=True))
    full_ids = _ids(tokenizer.apply_chat_template([*context, answer], tokenize=True))
    if full_ids[:len(prompt_ids)] != prompt_ids:
        # A template that does not extend the prompt: fall back to tokenising the answer after it.
        answer_text = answer["content"] + (tokenizer.eos_token or "")
        answer_ids = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
        full_ids = prompt_ids + list(answer_ids)
    labels = [IGNORE] * len(prompt_ids) + full_ids[len(prompt_ids):]
    if len(full_ids) > max_length:
        # Keep the end: the answer is what trains; the start of a long prompt is what can go.
        full_ids, labels = full_ids[-max_length:], labels[-max_length:]
    return full_ids, labels


def _ids(encoded: Any) -> list[int]:
    """Token ids from ``apply_chat_template``, which returns a list or a BatchEncoding by version."""
    if isinstance(encoded, dict) or hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    if encoded and isinstance(encoded[0], list):
        encoded = encoded[0]
    return [int(token) for token in encoded]


def _batches(examples: list[tuple[list[int], list[int]]], size: int, pad_id: int) -> Iterator[dict[str, Any]]:
    import torch

    for start in range(0, len(examples), size):
        chunk = examples[start:start + size]
        width = max(len(ids) for ids, _ in chunk)
        yield {
            "input_ids": torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in chunk]),
            "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in chunk]),
            "labels": torch.tensor([labels + [IGNORE] * (width - len(labels)) for _, labels in chunk]),
        }


def evaluate_loss(model: Any, examples: list[tuple[list[int], list[int]]], batch_size: int,
                  pad_id: int) -> float | None:
    """Mean loss per answer token over ``examples`` (None for none)."""
    import torch

    if not examples:
        return None
    model.eval()
    total, tokens = 0.0, 0
    with torch.inference_mode():
        for batch in _batches(examples, batch_size, pad_id):
            count = int((batch["labels"][:, 1:] != IGNORE).sum())
            if count:
                total += float(model(**batch).loss) * count
                tokens += count
    model.train()
    return total / tokens if tokens else None


@contextlib.contextmanager
def stop_on_sigint(stop: threading.Event) -> Iterator[None]:
    """While active, a first Ctrl+C asks training to stop after the current step; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def train_local(export: ExportData, folder: Path, settings: TrainSettings, *, models_dir: Path | None = None,
                progress: Callable[[Progress], None] | None = None, stop: threading.Event | None = None,
                status: Callable[[str], None] | None = None, costs: CostSettings | None = None) -> TrainResult:
    """Fine-tune ``settings.base`` on ``export`` and save the merged model and ``model.json`` in ``folder``.

    Before the first step, ``status`` receives the expected time and cost (``finetune.estimate``, priced
    with ``costs``, the project's ``[costs]``).

    ``stop`` (set by Ctrl+C through ``stop_on_sigint``) ends training after the current step; what was
    learnt so far is saved all the same, marked ``interrupted``.
    """
    with warnings.catch_warnings():
        # transformers and peft warn about deprecated internals and a vocabulary check that does not apply
        # to a GGUF base; none of it is actionable for the user.
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        return _train(export, folder, settings, models_dir, progress, stop, status, costs)


@dataclass
class _Prepared:
    """A base loaded for training: the model (LoRA-wrapped), its tokenizer and the encoded examples."""

    model: Any
    tokenizer: Any
    base_path: Path
    train: list[tuple[list[int], list[int]]]
    validation: list[tuple[list[int], list[int]]]
    pad_id: int
    parameters: int


def _prepare(export: ExportData, settings: TrainSettings, models_dir: Path | None,
             say: Callable[[str], None]) -> _Prepared:
    require_extra()
    if settings.method not in METHODS:
        raise FinetuneError(f"unknown method {settings.method!r}", hint="use --method lora or --method full")
    if settings.epochs < 1 or settings.batch_size < 1 or settings.rate <= 0:
        raise FinetuneError("epochs, batch size and learning rate must be positive")
    kind, base_path = resolve_base(settings.base, models_dir)
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(settings.seed)
    say(f"loading {settings.base} ({base_path.name})")
    model, tokenizer = load_base(kind, base_path)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train = [encode(tokenizer, messages, settings.max_length) for messages in export.train]
    validation = [encode(tokenizer, messages, settings.max_length) for messages in export.validation]
    parameters = sum(p.numel() for p in model.parameters())
    if settings.method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(
            r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
            target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"))
    return _Prepared(model, tokenizer, base_path, train, validation, pad_id, parameters)


def _estimate(ready: _Prepared, settings: TrainSettings, costs: CostSettings | None) -> TrainingEstimate:
    """Time one forward and backward pass of the first batch (gradients discarded) and scale it to every
    planned step (``workbench.finetune.estimate``)."""
    batch = next(_batches(ready.train[:settings.batch_size], settings.batch_size, ready.pad_id))
    ready.model.train()
    tick = time.perf_counter()
    ready.model(**batch).loss.backward()
    seconds = time.perf_counter() - tick
    ready.model.zero_grad(set_to_none=True)
    steps = planned_steps([len(ids) for ids, _ in ready.train], settings.batch_size, settings.epochs,
                          settings.seed, settings.max_steps)
    per_epoch = -(-len(ready.train) // settings.batch_size)
    epochs = min(settings.epochs, -(-len(steps) // per_epoch))  # --max-steps may end before the last epoch
    return local_estimate(steps, epochs, len(ready.train), seconds, int(batch["input_ids"].numel()),
                          costs or CostSettings())


def estimate_local(export: ExportData, settings: TrainSettings, *, models_dir: Path | None = None,
                   costs: CostSettings | None = None, status: Callable[[str], None] | None = None
                   ) -> TrainingEstimate:
    """What a local fine-tune of ``export`` with ``settings`` would take, without training (``--estimate``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=UserWarning)
        ready = _prepare(export, settings, models_dir, status or (lambda message: None))
        return _estimate(ready, settings, costs)


def _train(export: ExportData, folder: Path, settings: TrainSettings, models_dir: Path | None,
           progress: Callable[[Progress], None] | None, stop: threading.Event | None,
           status: Callable[[str], None] | None, costs: CostSettings | None = None) -> TrainResult:
    say = status or (lambda message: None)
    stop = stop or threading.Event()
    started = time.perf_counter()
    ready = _prepare(export, settings, models_dir, say)
    model, tokenizer, train, validation = ready.model, ready.tokenizer, ready.train, ready.validation
    pad_id, parameters, base_path = ready.pad_id, ready.parameters, ready.base_path
    import torch

    estimate = _estimate(ready, settings, costs)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.rate, weight_decay=0.0)
    total_steps = estimate.steps or 0
    say(f"training {settings.method} on {len(train)} examples ({len(validation)} validation): "
        f"{total_steps} steps; {estimate.text()}")
    validation_before = evaluate_loss(model, validation, settings.batch_size, pad_id)
    losses: list[float] = []
    validation_losses: list[float] = []
    order = random.Random(settings.seed)
    step, epoch, train_seconds = 0, 0, 0.0
    interrupted = False
    model.train()
    try:
        while step < total_steps and not stop.is_set():
            epoch += 1
            shuffled = list(train)
            order.shuffle(shuffled)
            for batch in _batches(shuffled, settings.batch_size, pad_id):
                tick = time.perf_counter()
                loss = model(**batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                train_seconds += time.perf_counter() - tick
                step += 1
                losses.append(loss.item())
                if progress:
                    per_step = train_seconds / step
                    progress(Progress(step, total_steps, epoch, losses[-1], train_seconds,
                                      per_step * (total_steps - step)))
                if step >= total_steps or stop.is_set():
                    break
            # Validation loss after every epoch (and after a stop), so a stopped run still reports one.
            if True:
                value = evaluate_loss(model, validation, settings.batch_size, pad_id)
                if value is not None:
                    validation_losses.append(value)
                    if progress:
                        progress(Progress(step, total_steps, epoch, losses[-1], train_seconds, 0.0, value))
    except KeyboardInterrupt:
        # A second Ctrl+C (or one with no handler installed) lands mid-step: keep what the last
        # completed steps learnt rather than lose the whole run.
        interrupted = True
    interrupted = interrupted or (stop.is_set() and step < total_steps)
    say("saving the model" + (" trained so far" if interrupted else ""))
    adapter_saved = False
    if settings.method == "lora":
        # The adapter alone is the checkpoint (a few MB); the merged copy is what inference loads.
        model.save_pretrained(str(folder / "adapter"))
        adapter_saved = True
        model = model.merge_and_unload()
    model.eval()
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    serving = write_gguf(model, folder, folder.name, gguf_source(settings.base, models_dir), say,
                         tokenizer=tokenizer, examples=[*export.validation, *export.train])
    duration = time.perf_counter() - started
    info = {
        "name": folder.name, **serving, "base": settings.base,
        "base_file": base_path.name, "method": settings.method, **export.origin(),
        "train_examples": len(train), "validation_examples": len(validation),
        "hyperparameters": settings.hyperparameters(), "parameters": parameters,
        "trainable_parameters": sum(p.numel() for p in trainable),
        "steps": step, "total_steps": total_steps, "epochs_run": epoch,
        "train_loss": losses[-1] if losses else None, "train_losses": [round(x, 5) for x in losses],
        "validation_loss_before": validation_before,
        "validation_loss": validation_losses[-1] if validation_losses else None,
        "validation_losses": validation_losses,
        "seconds_per_step": train_seconds / step if step else None, "duration_s": round(duration, 2),
        "train_seconds": round(train_seconds, 2), "estimated_seconds": round(estimate.seconds or 0.0, 2),
        "adapter": "adapter" if adapter_saved else None,
        "status": "interrupted" if interrupted else "completed",
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "workbench_version": __version__, "torch": torch.__version__,
    }
    write_model_json(folder, info)
    return TrainResult(folder.name, folder, step, total_steps, losses, validation_losses, duration,
                       interrupted, info)
