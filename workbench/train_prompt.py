"""Provides the training prompt: the messages a fine-tuned model was taught on, which are the messages it
must be measured on.

Three modes (``TRAIN_PROMPTS``):

- ``version``: the version's full rendered messages (system text, demonstrations, template);
- ``short``: the version's system text, or a given instruction, followed by the bare input;
- ``none``: the bare input alone.

The bare input is the case's variables as text. An export records the mode in its manifest; fine-tuning
copies it into ``model.json`` (key ``train_prompt``, with the prompt and version the examples came from);
a run of that model renders its cases the same way (``runner.plan_run``) and ``decide`` flags a tuned run
that did not. A few-shot version trains on its demonstrations once per example for nothing: the tuned
model learns the task from the examples themselves, so ``short`` is the default for such versions.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.errors import PromptError, WorkbenchError
from workbench.prompts import Prompt, render, version_prompt
from workbench.records import Case, Message, canonical_json
from workbench.store import Store
from workbench.text import visible

VERSION, SHORT, NONE = "version", "short", "none"
TRAIN_PROMPTS = (VERSION, SHORT, NONE)


def bare_input(case: Case) -> str:
    """The case's variables as text: a lone variable's value, else one ``name: value`` line each."""
    def text(value: Any) -> str:
        return value if isinstance(value, str) else canonical_json(value)

    if len(case.vars) == 1:
        return text(next(iter(case.vars.values())))
    return "\n".join(f"{name}: {text(value)}" for name, value in case.vars.items())


def training_messages(prompt: Prompt, case: Case, mode: str = VERSION, instruction: str | None = None) -> list[Message]:
    """The messages of ``case`` in training-prompt ``mode``; a ``PromptError`` naming the case when they
    would be empty (an empty input in ``short``/``none``, an empty message in ``version``)."""
    if mode == VERSION:
        return render(prompt, case)  # refuses a message that renders empty
    user: Message = {"role": "user", "content": bare_input(case)}
    if not visible(user["content"]):
        raise PromptError(f"case {case.id!r}: its input is empty, so the training prompt would be empty",
                          path=case.source or None, line=case.line or None,
                          hint="fill in the input or remove the case")
    if mode == NONE:
        return [user]
    if instruction is not None:
        return [{"role": "system", "content": instruction.strip()}, user] if visible(instruction) else [user]
    # The system text is a template too: render it alone (no body segments) with the case's variables.
    return [*render(replace(prompt, system=system_text(prompt), segments=()), case), user]


def system_text(prompt: Prompt) -> str | None:
    """The version's system text as a template: its ``system:`` key and the ``[[system]]`` sections that open
    its body (before any user message), joined by a blank line; None when it has none."""
    parts = [prompt.system] if prompt.system is not None else []
    for segment in prompt.segments:
        if segment.role != "system":
            break
        parts.append(segment.source)
    return "\n\n".join(part.strip("\n") for part in parts) if parts else None


def demonstrations(prompt: Prompt) -> int:
    """The worked examples a version carries: its ``[[assistant]]`` sections (few-shot demonstrations)."""
    return sum(1 for segment in prompt.segments if segment.role == "assistant")


@dataclass(frozen=True)
class TrainPrompt:
    """How a model's examples were prompted, and so how its runs render their cases."""

    mode: str = VERSION
    instruction: str | None = None
    """The system text of ``short`` when it replaced the version's (``--instruction``)."""
    prompt: str | None = None
    """The prompt the examples came from (None: not recorded)."""
    version: int | None = None
    """Its version whose template (``version``) or system text (``short``) the examples used."""

    def messages(self, prompt: Prompt, case: Case) -> list[Message]:
        """``case``'s messages with ``prompt`` in this mode."""
        return training_messages(prompt, case, self.mode, self.instruction)

    def describe(self) -> str:
        """The mode in words: ``the short prompt (system text + input)``."""
        if self.mode == VERSION:
            return "the version's full prompt"
        if self.mode == NONE:
            return "the bare input (no prompt)"
        return "the short prompt (" + ("the given instruction" if self.instruction is not None
                                      else "the version's system text") + " + the input)"

    def to_dict(self) -> dict[str, Any]:
        """What ``model.json`` records under ``train_prompt``."""
        return {"mode": self.mode, "instruction": self.instruction, "prompt": self.prompt, "version": self.version}

    @classmethod
    def from_dict(cls, data: Any) -> TrainPrompt | None:
        """A recorded training prompt; None when absent or unreadable (a model tuned before it was recorded,
        or from a hand-made export)."""
        if not isinstance(data, dict) or data.get("mode") not in TRAIN_PROMPTS:
            return None
        instruction, prompt, version = data.get("instruction"), data.get("prompt"), data.get("version")
        return cls(mode=str(data["mode"]), instruction=instruction if isinstance(instruction, str) else None,
                   prompt=prompt if isinstance(prompt, str) else None,
                   version=version if isinstance(version, int) and not isinstance(version, bool) else None)

    @classmethod
    def recorded(cls, info: dict[str, Any], path: Path) -> TrainPrompt | None:
        """The training prompt a tuned model's ``model.json`` (``info``, read from ``path``) records; None when
        it records none; a ``WorkbenchError`` naming the file when it records one that cannot be read whole
        (an unknown mode, a value of the wrong type): a run would otherwise send other messages silently."""
        data = info.get("train_prompt")
        if data is None:
            return None
        trained = cls.from_dict(data)
        if trained is None or not isinstance(data, dict) or any(
                data.get(key) is not None and data.get(key) != value for key, value in trained.to_dict().items()):
            raise WorkbenchError(f"the training prompt is not readable: {canonical_json(data)[:120]}", path=path,
                                 hint='expected "train_prompt": {"mode": "version", "short" or "none", '
                                      '"instruction": text or null, "prompt": name, "version": number}; fix it or '
                                      "delete the key")
        return trained

    def mismatch(self, mode: str, instruction: str | None, used: Prompt, trained: Prompt | None) -> str | None:
        """Why messages rendered from ``used`` in ``mode`` (with ``instruction``) are not what this model was
        trained on, or None when they are. ``trained`` is the version the examples came from, when stored."""
        if self.prompt is not None and used.name != self.prompt:
            return f"it was trained on prompt {self.prompt!r}, not {used.name!r}"
        if mode != self.mode or (mode == SHORT and instruction != self.instruction):
            sent = TrainPrompt(mode, instruction).describe()
            return f"it was trained on {self.describe()}, and this run sends {sent}"
        if trained is None or self.version is None:
            return None
        label = f"{self.prompt or used.name}@v{self.version}"
        if mode == VERSION and trained.text != used.text:
            return f"it was trained on {label}'s prompt, and this run sends another version's"
        if mode == SHORT and instruction is None and system_text(trained) != system_text(used):
            return f"it was trained with {label}'s system text, and this version's differs"
        return None


def check_form(store: Store, trained: TrainPrompt, mode: str, instruction: str | None, used: Prompt) -> str | None:
    """Why messages rendered from ``used`` in ``mode`` are not what a model ``trained`` so learnt on, or None
    when they are; the version the examples came from is read from ``store`` when it is stored there."""
    source = None
    if trained.version is not None:
        with contextlib.suppress(WorkbenchError):
            source = version_prompt(store.version(trained.prompt or used.name, trained.version))
    return trained.mismatch(mode, instruction, used, source)
