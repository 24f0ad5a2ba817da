"""Prompt files: front-matter validation with file and line, sandboxed strict rendering, role sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import PromptError
from workbench.prompts import load_prompt, normalize_text, parse_prompt, render, variables
from workbench.records import Case

TICKETS = """\
---
description: Route a support ticket
model: local/smollm2
params: {temperature: 0, max_tokens: 12}
dataset: datasets/tickets.jsonl
scorers:
  - exact_match: {normalize: true}
system: |
  You route tickets for {{ company }}.
defaults: {company: Acme}
---
Ticket: {{ text }}
Team:
"""


def case(**variables: object) -> Case:
    return Case(id="c1", vars=dict(variables), expected="billing", source="datasets/t.jsonl", line=3)


def test_a_full_prompt_parses_and_renders_system_then_user() -> None:
    prompt = parse_prompt(TICKETS, "prompts/tickets.prompt")
    assert prompt.name == "tickets" and prompt.model == "local/smollm2"
    assert prompt.params == {"temperature": 0, "max_tokens": 12}
    assert prompt.scorers == [{"exact_match": {"normalize": True}}]
    assert render(prompt, case(text="I was charged twice")) == [
        {"role": "system", "content": "You route tickets for Acme."},
        {"role": "user", "content": "Ticket: I was charged twice\nTeam:"},
    ]
    assert render(prompt, case(text="x", company="Globex"))[0]["content"] == "You route tickets for Globex."
    assert variables(prompt) == {"company", "text"}


def test_a_file_without_front_matter_is_one_user_message() -> None:
    prompt = parse_prompt("Say {{ word }}\n", "p.prompt")
    assert render(prompt, case(word="hi")) == [{"role": "user", "content": "Say hi"}]


def test_role_markers_make_few_shot_and_multi_turn_prompts() -> None:
    text = "---\nsystem: Classify.\n---\nGreat!\n[[assistant]]\npositive\n[[user]]\n{{ review }}\n"
    messages = render(parse_prompt(text, "p.prompt"), case(review="Awful."))
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert [m["content"] for m in messages] == ["Classify.", "Great!", "positive", "Awful."]


def test_normalised_text_makes_whitespace_only_edits_the_same_version() -> None:
    a = parse_prompt(TICKETS, "p.prompt")
    b = parse_prompt(TICKETS.replace("\n", "  \r\n") + "\n\n", "p.prompt")
    c = parse_prompt(TICKETS.replace("Team:", "Team name:"), "p.prompt")
    assert a.hash == b.hash and a.text == b.text == normalize_text(TICKETS)
    assert c.hash != a.hash


def test_a_missing_variable_names_the_case_its_file_and_line_and_the_variable() -> None:
    prompt = parse_prompt(TICKETS, "prompts/tickets.prompt")
    with pytest.raises(PromptError) as caught:
        render(prompt, case(body="no text column"))
    message = str(caught.value)
    assert message.startswith("datasets/t.jsonl:3: case 'c1': 'text' is undefined")
    assert "body" in message and "\n" not in message


@pytest.mark.parametrize(("text", "line", "words"), [
    ("---\nmodel: x\ncolour: blue\n---\nhi\n", 3, "unknown front-matter key 'colour'"),
    ("---\nparams: 3\n---\nhi\n", 2, "params must be"),
    ("---\nmodel: [a, b]\n---\nhi\n", 2, "model must be"),
    ("---\nsplit: holdout\n---\nhi\n", 2, "split must be one of"),
    ("---\ndescription: x\nscorers:\n  - exact_match\n  - no_such_scorer\n---\nhi\n", 5, "no_such_scorer"),
    ("---\nscorers:\n  - exact_match: {colour: 1}\n---\nhi\n", 3, "colour"),
    ("---\nparams: {api_key: sk-123}\n---\nhi\n", 2, "must not hold a secret"),
    ("---\nmodel: x\n  bad: indent: here\n---\nhi\n", 3, "not valid YAML"),
    ("---\nmodel: x\nhi\n", 1, "never closed"),
    ("---\nmodel: x\n---\nline one\n{{ text }\n", 5, "template error"),
    ("---\nsystem: |\n  ok\n  {% if x %}never closed\n---\nhi\n", 4, "template error"),
    ("---\nmodel: x\n---\nintro\n[[assistant]]\n{% for x in y %}\n", 6, "template error"),
])
def test_bad_prompt_files_name_the_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(PromptError) as caught:
        parse_prompt(text, "prompts/bad.prompt")
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"prompts/bad.prompt:{line}: ") and words in str(caught.value)


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    prompt = parse_prompt("{{ text.__class__.__mro__[1].__subclasses__() }}\n", "p.prompt")
    with pytest.raises(PromptError):
        render(prompt, case(text="x"))


def test_load_prompt_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="no such prompt file"):
        load_prompt(tmp_path / "nope.prompt")
