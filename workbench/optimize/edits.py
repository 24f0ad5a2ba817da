"""Provides edits of a prompt file's text, as the search's strategies make them: its front matter (the
system message, the params), its few-shot demonstrations and its instruction (the last user message).

A prompt is read as: front matter, then the body's messages; the last ``user`` message is the
instruction (it holds the case's variables), the ``user``/``assistant`` pairs before it are
demonstrations. Every edit returns the full text of a new prompt file, parsed again by the caller with
``prompts.parse_prompt``: an edit that does not parse is never a candidate.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import yaml

from workbench.prompts import ROLE_MARKER, Prompt, Segment, render
from workbench.records import Case

JINJA_OPENERS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Layout:
    """A prompt split into what the strategies edit."""

    header: dict[str, Any]
    """The front matter, ``system`` included, in file order."""
    lead: tuple[Segment, ...]
    """Body ``system`` messages before the conversation."""
    demos: tuple[tuple[str, str], ...]
    """(user, assistant) template sources of the demonstrations."""
    instruction: Segment | None
    """The last user message: the one the case's variables go into (None: the body has no user message)."""
    tail: tuple[Segment, ...]
    """Messages after the instruction (an assistant prefix, say)."""
    single_turn: bool
    """True when everything between the lead and the instruction is user/assistant pairs."""


def front_matter(prompt: Prompt) -> dict[str, Any]:
    """The front matter of ``prompt`` as a mapping (empty when it has none)."""
    lines = prompt.text.split("\n")
    if lines[0].strip() != "---":
        return {}
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    data = yaml.safe_load("\n".join(lines[1:end]))
    return dict(data) if isinstance(data, dict) else {}


def layout(prompt: Prompt) -> Layout:
    """``prompt`` split into front matter, lead, demonstrations, instruction and tail."""
    segments = list(prompt.segments)
    users = [index for index, segment in enumerate(segments) if segment.role == "user"]
    if not users:
        return Layout(front_matter(prompt), (), (), None, tuple(segments), False)
    last = users[-1]
    start = 0
    while start < last and segments[start].role == "system":
        start += 1
    middle = segments[start:last]
    pairs = [(middle[i], middle[i + 1]) for i in range(0, len(middle) - 1, 2)]
    single = len(middle) % 2 == 0 and all(u.role == "user" and a.role == "assistant" for u, a in pairs)
    return Layout(front_matter(prompt), tuple(segments[:start]),
                  tuple((u.source, a.source) for u, a in pairs) if single else (),
                  segments[last], tuple(segments[last + 1:]), single)


class _Dumper(yaml.SafeDumper):
    """YAML with multi-line text as literal blocks, the way prompt files are written by hand."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None
    if "\n" in value.strip("\n"):
        style = "|"  # several lines of text: a literal block
    elif "\n" in value or not value.isprintable():
        style = '"'  # a stop sequence such as "\n": escaped, on one line
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def compose(header: dict[str, Any], messages: list[tuple[str, str]]) -> str:
    """A prompt file from front matter and (role, template source) messages, every message marked."""
    parts = []
    if header:
        dumped = yaml.dump(header, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None,
                           width=100_000)
        parts.append(f"---\n{dumped.rstrip()}\n---")
    for role, source in messages:
        parts.append(f"[[{role}]]\n{source.strip(chr(10))}")
    return "\n".join(parts) + "\n"


def rebuild(parts: Layout, *, header: dict[str, Any] | None = None,
            demos: tuple[tuple[str, str], ...] | None = None, instruction: str | None = None,
            system: str | bool | None = False) -> str:
    """The text of ``parts`` with any of its front matter, demonstrations, instruction or system message
    replaced (``system=None`` removes it; the default ``False`` keeps it)."""
    head = dict(parts.header if header is None else header)
    if system is None:
        head.pop("system", None)
    elif isinstance(system, str):
        head["system"] = system.strip()
    messages = [(segment.role, segment.source) for segment in parts.lead]
    for user, assistant in parts.demos if demos is None else demos:
        messages += [("user", user), ("assistant", assistant)]
    source = instruction if instruction is not None else (parts.instruction.source if parts.instruction else None)
    if source is not None:
        messages.append(("user", source))
    messages += [(segment.role, segment.source) for segment in parts.tail]
    return compose(head, messages)


def hoist(parts: Layout) -> tuple[str, str] | None:
    """The instruction's leading lines that hold no variable, and the rest: (system text, user template).

    A few-shot prompt states its instruction once (in the system message) and shows each demonstration's
    input alone; None when the instruction does not start with such lines or has nothing after them.
    """
    if parts.instruction is None:
        return None
    lines = parts.instruction.source.strip("\n").split("\n")
    first = next((i for i, line in enumerate(lines) if any(opener in line for opener in JINJA_OPENERS)), None)
    if not first:
        return None
    static, rest = "\n".join(lines[:first]).strip(), "\n".join(lines[first:]).strip()
    if not static or not rest:
        return None
    system = str(parts.header.get("system") or "").strip()
    return (f"{system}\n{static}" if system else static), rest


def literal(text: str) -> str | None:
    """``text`` as template source that renders to itself (a ``{% raw %}`` block when it holds Jinja
    syntax), or None when it cannot be written in a prompt body (a line that is a role marker)."""
    if any(ROLE_MARKER.match(line.strip()) for line in text.split("\n")):
        return None
    if any(opener in text for opener in JINJA_OPENERS):
        if "endraw" in text:
            return None
        return "{% raw %}" + text + "{% endraw %}"
    return text


def instruction_message(prompt: Prompt, case: Case) -> str:
    """The instruction (last user message) of ``prompt`` rendered for ``case``: a demonstration's question."""
    parts = layout(prompt)
    assert parts.instruction is not None
    alone = dataclasses.replace(prompt, system=None, segments=(parts.instruction,))
    return render(alone, case)[0]["content"]


def answer_text(expected: Any) -> str | None:
    """A demonstration's answer from an expected answer: text as is, the first of several acceptable
    answers, a number or an object as JSON; None when there is nothing to show."""
    if isinstance(expected, list):
        expected = expected[0] if expected else None
    if expected is None:
        return None
    text = expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)
    return text.strip() or None
