"""Provides prompt files: YAML front matter validated with file and line, a Jinja2 body rendered in a
sandbox with strict undefined variables, and the normalised text that identifies a version.

A body line that is exactly ``[[user]]``, ``[[assistant]]`` or ``[[system]]`` starts a new message with
that role, so few-shot and multi-turn prompts need no other syntax.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from workbench.cases import RUN_SPLITS, or_list
from workbench.errors import PromptError, ScorerError
from workbench.names import nfc
from workbench.records import Case, Message, params_fault, sha256_hex
from workbench.text import kind_of, visible

if TYPE_CHECKING:
    from workbench.store import Version

ROLE_MARKER = re.compile(r"^\[\[(user|assistant|system)\]\]$")

# Each key's expected type, and what a user should write there when it is wrong.
FRONT_MATTER: dict[str, tuple[type | tuple[type, ...], str]] = {
    "description": (str, "a line of text"),
    "model": (str, "a litellm model name or an alias from workbench.toml"),
    "params": (dict, "a mapping such as {temperature: 0, max_tokens: 20}"),
    "dataset": (str, "a path such as datasets/tickets.jsonl"),
    "split": (str, or_list(RUN_SPLITS)),
    "scorers": (list, "a list such as [exact_match] or [{contains: {ignore_case: true}}]"),
    "system": (str, "the system message (Jinja2)"),
    "defaults": (dict, "a mapping of variable defaults"),
    "expected_key": (str, "the test-set column holding the expected answer"),
}


@dataclass(frozen=True)
class Segment:
    """One message of the body: its role, its template source and the file line it starts on."""

    role: str
    source: str
    line: int


@dataclass(frozen=True)
class Prompt:
    """A parsed prompt file."""

    name: str
    path: Path
    text: str
    """The normalised file content: what a version stores and hashes."""
    hash: str
    description: str = ""
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    split: str | None = None
    scorers: list[Any] = field(default_factory=list)
    system: str | None = None
    system_line: int = 0
    defaults: dict[str, Any] = field(default_factory=dict)
    expected_key: str = "expected"
    segments: tuple[Segment, ...] = ()


# Names Jinja resolves itself, whatever the context holds: a test-set column of that name never reaches
# the template, so ``{{ self }}`` would render ``<TemplateReference None>`` and ``{{ none }}`` "None".
JINJA_NAMES = {
    "self": "the template itself", "loop": "the loop inside {% for %}", "super": "the parent block",
    "caller": "a macro's caller", "varargs": "a macro's extra arguments", "kwargs": "a macro's keyword arguments",
    **{name: f"the constant {name.capitalize()}" for name in
       ("true", "false", "none", "True", "False", "None")},
}
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined")


def _finalize(value: Any) -> Any:
    # A null cell (JSON null, a missing Parquet value) is no text, not the word "None".
    return "" if value is None else value


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                         finalize=_finalize)


@lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return _environment().from_string(source)


def normalize_text(text: str) -> str:
    """Line endings to LF, no trailing spaces, exactly one final newline: what makes two files equal."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def list_prompts(folder: Path) -> list[Path]:
    """The ``*.prompt`` files directly in ``folder``, sorted by name."""
    return sorted(folder.glob("*.prompt")) if folder.is_dir() else []


def load_prompt(path: Path | str) -> Prompt:
    """Read and parse a prompt file; its name is the file's stem (in NFC, like every name)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError("no such prompt file", path=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise PromptError(f"cannot read the prompt file: {error}", path=path) from None
    return parse_prompt(text, path)


def parse_prompt(text: str, path: Path | str, name: str | None = None) -> Prompt:
    """Parse prompt file ``text``; every error names ``path`` and the line."""
    path = Path(path)
    text = normalize_text(text)
    lines = text.split("\n")
    header: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    body_start = 0
    if lines[0].strip() == "---":
        try:
            end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        except StopIteration:
            raise PromptError("front matter opened with '---' is never closed", path=path, line=1,
                              hint="end it with a line holding only '---'") from None
        header, key_lines = _parse_front_matter("\n".join(lines[1:end]), path, first_line=2)
        body_start = end + 1
    values = _validate(header, key_lines, path)
    body = "\n".join(lines[body_start:])
    segments = _segments(body, first_line=body_start + 1)
    for segment in segments:
        _compile(segment.source, path, segment.line)
    system = values.get("system")
    system_line = key_lines.get("system@value", 0)
    if system is not None:
        _compile(system, path, system_line)
    return Prompt(
        name=nfc(name or path.stem), path=path, text=text, hash=sha256_hex(text),
        description=values.get("description", ""), model=values.get("model"),
        params=values.get("params", {}), dataset=values.get("dataset"), split=values.get("split"),
        scorers=values.get("scorers", []), system=system, system_line=system_line,
        defaults=values.get("defaults", {}), expected_key=values.get("expected_key", "expected"),
        segments=tuple(segments),
    )


def _parse_front_matter(source: str, path: Path, first_line: int) -> tuple[dict[str, Any], dict[str, int]]:
    """Load the YAML header and find the line of each top-level key (and of each scorer item)."""
    try:
        node = yaml.compose(source, Loader=yaml.SafeLoader)
        data = yaml.safe_load(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(error, "problem", None) or str(error).split("\n")[0]
        raise PromptError(f"front matter is not valid YAML: {problem}", path=path, line=line) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise PromptError("front matter must be a mapping of keys (description:, model:, ...)", path=path,
                          line=first_line)
    key_lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key_lines[str(key_node.value)] = first_line + key_node.start_mark.line
        # A block scalar (``system: |``) starts on the line after its key.
        block = isinstance(value_node, yaml.ScalarNode) and value_node.style in ("|", ">")
        key_lines[f"{key_node.value}@value"] = first_line + value_node.start_mark.line + int(block)
        if key_node.value == "params" and isinstance(value_node, yaml.MappingNode):
            for param_node, _ in value_node.value:
                key_lines[f"params.{param_node.value}"] = first_line + param_node.start_mark.line
        if key_node.value == "scorers" and isinstance(value_node, yaml.SequenceNode):
            for index, item in enumerate(value_node.value):
                key_lines[f"scorers[{index}]"] = first_line + item.start_mark.line
    return data, key_lines


def _validate(header: dict[str, Any], key_lines: dict[str, int], path: Path) -> dict[str, Any]:
    from workbench.scorers import check_spec

    values: dict[str, Any] = {}
    for key, value in header.items():
        line = key_lines.get(str(key))
        if key not in FRONT_MATTER:
            raise PromptError(f"unknown front-matter key {key!r}", path=path, line=line,
                              hint="known keys: " + ", ".join(FRONT_MATTER))
        kind, expected = FRONT_MATTER[key]
        if value is None and key in ("params", "scorers", "defaults"):
            value = [] if key == "scorers" else {}
        if not isinstance(value, kind) or isinstance(value, bool):
            # The type found, never the value: params, defaults or a system text may hold a key.
            raise PromptError(f"{key} must be {expected}, not {kind_of(value)}", path=path, line=line)
        values[key] = value
    if values.get("split") not in (None, *RUN_SPLITS):
        raise PromptError(f"split must be one of {', '.join(RUN_SPLITS)}, not {values['split']!r}", path=path,
                          line=key_lines.get("split"))
    params = values.get("params", {})
    _check_params(params, path, key_lines.get("params"), {key: key_lines[f"params.{key}"] for key in params
                                                           if f"params.{key}" in key_lines})
    for index, spec in enumerate(values.get("scorers", [])):
        line = key_lines.get(f"scorers[{index}]")
        try:
            check_spec(spec)
        except ScorerError as error:
            raise PromptError(error.message, path=path, line=line, hint=error.hint) from None
        # A judge's params reach the same client call as the prompt's, and are stored with the run's scorers.
        options = next(iter(spec.values()), None) if isinstance(spec, dict) else None
        if isinstance(options, dict) and isinstance(options.get("params"), dict):
            _check_params(options["params"], path, line, {}, what=f"the params of scorer {next(iter(spec))!r}")
    return values


def _check_params(params: dict[str, Any], path: Path, line: int | None, key_lines: dict[str, int],
                  what: str = "params") -> None:
    """Refuse what ``records.params_fault`` finds in ``params`` (stored with every run): a secret, a URL with
    credentials, a keyword the workbench passes to litellm itself; named with its line (``key_lines``, else
    ``line``) and what to do."""
    fault = params_fault(params, what)
    if fault is not None:
        key, message, hint = fault
        raise PromptError(message, path=path, line=key_lines.get(key, line), hint=hint)


def _segments(body: str, first_line: int) -> list[Segment]:
    """Split the body at role markers; a body without markers is one user message."""
    segments: list[Segment] = []
    buffer: list[str] = []
    role, start = "user", first_line
    for offset, line in enumerate(body.split("\n")):
        marker = ROLE_MARKER.match(line.strip())
        if marker:
            if buffer and "".join(buffer).strip():
                segments.append(Segment(role, "\n".join(buffer), start))
            role, start, buffer = marker.group(1), first_line + offset + 1, []
        else:
            buffer.append(line)
    if "".join(buffer).strip() or not segments:
        segments.append(Segment(role, "\n".join(buffer), start))
    return segments


def _compile(source: str, path: Path, line: int) -> None:
    try:
        _environment().parse(source)
    except TemplateSyntaxError as error:
        raise PromptError(f"template error: {error.message}", path=path,
                          line=line + (error.lineno or 1) - 1) from None


def variables(prompt: Prompt) -> set[str]:
    """Every variable the system and body templates read (defaults included)."""
    names: set[str] = set()
    for source in [prompt.system or "", *(segment.source for segment in prompt.segments)]:
        names |= _variables_of(source)
    return names


@lru_cache(maxsize=512)
def _names_used(source: str) -> frozenset[str]:
    """Every name token of a template source (variables, constants, tests), from Jinja's own lexer."""
    try:
        return frozenset(value for _, kind, value in _environment().lex(source) if kind == "name")
    except TemplateSyntaxError:
        return frozenset()


@lru_cache(maxsize=512)
def _variables_of(source: str) -> frozenset[str]:
    return frozenset(meta.find_undeclared_variables(_environment().parse(source)))


def render(prompt: Prompt, case: Case) -> list[Message]:
    """The chat messages for ``case``: system (if any), then the body's messages in order.

    Raises ``PromptError`` naming the case, its file and line for a missing variable, a column whose name
    Jinja resolves itself (``self``, ``none``, ...), and a user or assistant message that renders empty:
    nothing empty is ever sent to a model.
    """
    context = {**prompt.defaults, **_no_nulls(case.vars)}
    parts: list[tuple[str, str, int]] = []
    if prompt.system is not None:
        parts.append(("system", prompt.system, prompt.system_line))
    parts += [(segment.role, segment.source, segment.line) for segment in prompt.segments]
    for name in sorted(case.vars.keys() & JINJA_NAMES.keys()):
        if any(name in _names_used(source) for _, source, _ in parts):
            raise PromptError(f"case {case.id!r}: column {name!r} cannot be a template variable: Jinja reads "
                              f"{{{{ {name} }}}} as {JINJA_NAMES[name]}", path=case.source or None,
                              line=case.line or None,
                              hint=f"rename the column and the variable, e.g. to '{name}_text'")
    messages: list[Message] = []
    for role, source, line in parts:
        try:
            content = _template(source).render(context).strip()
        except UndefinedError as error:
            raise PromptError(f"case {case.id!r}: {error.message} in {prompt.path.name} (line {line})",
                              path=case.source or None, line=case.line or None,
                              hint=_undefined_hint(error.message or "", case)) from None
        except SecurityError as error:
            raise PromptError(f"case {case.id!r}: unsafe template operation: {error}", path=prompt.path,
                              line=line) from None
        except TemplateError as error:
            raise PromptError(f"case {case.id!r}: template error: {error}", path=prompt.path, line=line) from None
        except Exception as error:  # Python's own errors inside an expression: {{ q + 1 }}, {{ 1/0 }}, ...
            raise PromptError(f"case {case.id!r}: the template fails on this case's values: "
                              f"{type(error).__name__}: {error}", path=prompt.path, line=line,
                              hint="check the types the template expects (a CSV value is text)") from None
        if role == "system" and not content:
            continue
        if not visible(content):
            empty = sorted(name for name in _variables_of(source) if name in case.vars
                           and not visible(str(context[name])))
            what = f" (empty variable: {', '.join(map(repr, empty))})" if empty else ""
            raise PromptError(f"case {case.id!r}: the {role} message of {prompt.path.name} (line {line}) renders "
                              f"empty{what}", path=case.source or None, line=case.line or None,
                              hint="fill in the value or remove the case: an empty prompt is never sent")
        messages.append({"role": role, "content": content})
    # (A render of the system text alone, with no body segments, is the short training prompt's part.)
    if prompt.segments and not any(message["role"] == "user" for message in messages):
        raise PromptError(f"case {case.id!r}: the prompt has no user message", path=prompt.path,
                          hint="write the user message in the body (a system message alone is not a prompt)")
    return messages


def _no_nulls(value: Any) -> Any:
    """``value`` with every null (None, a NaN from a Parquet or pandas gap) as empty text, at any depth:
    a missing value is no text, never the word "None" or "nan", whatever filter the template applies."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, dict):
        return {key: _no_nulls(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nulls(item) for item in value]
    return value


def _undefined_hint(message: str, case: Case) -> str:
    """What to do about an undefined variable: rename a column Jinja cannot name, or add one."""
    match = _UNDEFINED_NAME.search(message)
    name = match.group(1) if match else ""
    for column in case.vars:
        # {{ user-name }} reads as user - name: the column is there, its name is not a template name.
        if not column.isidentifier() and name and name in re.split(r"\W+", column):
            fixed = re.sub(r"\W+", "_", column.strip()).strip("_") or "value"
            return (f"column {column!r} is not a valid template name (letters, digits and _ only): "
                    f"rename it, e.g. to {fixed!r}")
    known = ", ".join(sorted(case.vars)) or "none"
    return f"the case's columns are: {known}; add the column or a 'defaults:' entry"


def version_prompt(version: Version) -> Prompt:
    """The prompt as it was at a stored ``version``."""
    return parse_prompt(version.text, f"{version.prompt}.prompt", name=version.prompt)
