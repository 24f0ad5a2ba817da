"""Provides the plain records shared by the core: cases, model requests and replies, scores, and
``public_params``: the one rule for what of a request's params may reach the store or an export,
``params_fault``: the one check of params a user writes (a prompt's, a judge's, a model alias's), and
``redact_url``/``restore_url``: how a configured address is stored and how it is called again.

They are frozen dataclasses with no behaviour beyond small helpers, so every part of the core
(and both front ends) can pass them around without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import ConfigError

Message = dict[str, Any]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically (sorted keys, no spaces, UTF-8 kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def field_of(obj: Any, name: str) -> Any:
    """``obj[name]`` when ``obj`` is a dict, else its attribute ``name``; None when it has neither. Provider
    answers come as SDK objects or as plain dicts, depending on the provider and the library's version."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def sha256_hex(text: str) -> str:
    """Return the hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_SECRET_QUERY = re.compile(r"(^|[_-])(api[_-]?key|key|secret|password|passwd|pwd|token|auth|authorization|"
                           r"credentials?|sig|signature)$", re.IGNORECASE)
"""A URL query parameter whose value is a credential (``?key=``, ``?api-key=``, ``?access_token=``, ``?sig=``)."""


def url_secrets(url: str) -> list[str]:
    """What in ``url`` is a credential: its userinfo (``user:password@``) and its secret query parameters
    (by name, never their values); empty when it holds none."""
    from urllib.parse import urlsplit

    if "://" not in url:
        return []  # not an address: a stop sequence, a text
    try:
        parts = urlsplit(url)
        userinfo = "@" in parts.netloc
    except ValueError:  # not a URL at all (an unbalanced IPv6 bracket): treat the whole as suspect
        return ["the address"]
    found = ["user:password@"] if userinfo else []
    for item in parts.query.split("&"):
        name = item.split("=", 1)[0]
        if name and _SECRET_QUERY.search(name):
            found.append(f"?{name}=")
    return found


def redact_url(url: str) -> str:
    """``url`` with its userinfo and secret query values replaced by ``***``: how an api_base is printed or
    stored, so that a key written into an address never is."""
    from urllib.parse import urlsplit, urlunsplit

    if not url_secrets(url):
        return url  # as written
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(f"{item.split('=', 1)[0]}=***" if _SECRET_QUERY.search(item.split("=", 1)[0]) else item
                     for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{}]+")
"""An address inside free text (an error message): a scheme, ``://`` and what follows up to a space, a quote
or a bracket."""


def redact_text(text: str) -> str:
    """``text`` with every address in it that holds credentials replaced by its ``redact_url``: how a provider's
    error message (which may quote the address it failed to reach) is stored, printed or reported."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text) if "://" in text else text


def restore_url(stored: str | None, configured: Iterable[str | None], *, what: str, hint: str) -> str | None:
    """The address to call again for ``stored``, an address as it was stored (``redact_url`` of the one called):
    ``stored`` itself when nothing in it was redacted, else the first of ``configured`` (the addresses set now,
    in workbench.toml or by a flag) that redacts to the same text.

    Raises ``ConfigError`` (``what`` was sent to ``stored``..., with ``hint``: where to set it again) when
    ``stored`` was redacted and none of ``configured`` matches: its credentials were never stored."""
    if stored is None or not url_secrets(stored) or redact_url(stored) != stored:
        return stored  # no credentials in it, or stored before addresses were redacted: called as it is
    for url in configured:
        if url and redact_url(url) == stored:
            return url
    raise ConfigError(f"{what} was sent to {stored}, whose credentials were never stored", hint=hint)


SECRET_NAME = re.compile(r"(^|_)(api_key|key|secret|password|token|authorization|credentials?)$|headers$",
                         re.IGNORECASE)
NOT_SECRET = {"max_tokens", "max_completion_tokens", "top_k"}


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without anything that could hold a secret: what may reach the store or an export."""
    return {key: value for key, value in params.items()
            if key in NOT_SECRET or not SECRET_NAME.search(str(key))}


# Keywords the workbench gives litellm.acompletion itself (providers.client: ModelClient.complete and
# _call_with_retries, with a model's call_kwargs): the same key in params would make every call fail with
# "got multiple values for keyword argument", or (stream) return no answer to read. -> what to do instead.
RESERVED_PARAMS: dict[str, str] = {
    "model": "name the model with 'model:' in the front matter, or --model",
    "messages": "the messages are the prompt's body and 'system:'",
    "timeout": "set timeout in workbench.toml [defaults], or WORKBENCH_TIMEOUT",
    "num_retries": "set retries in workbench.toml [defaults], or WORKBENCH_RETRIES",
    "max_retries": "set retries in workbench.toml [defaults], or WORKBENCH_RETRIES",
    "stream": "remove it: the workbench reads each answer whole",
    "api_base": "a server is a model alias in workbench.toml: [models.NAME] with api_base and api_key_env, "
                "then 'model: NAME'",
    "base_url": "a server is a model alias in workbench.toml: [models.NAME] with api_base and api_key_env, "
                "then 'model: NAME'",
}
SECRET_PARAM = "<secret>"
"""The ``params_fault`` hint of a secret-named key."""
CREDENTIAL_URL = "<credential url>"
"""The ``params_fault`` hint of a value holding a URL with credentials."""
PARAM_HINTS: dict[str, str] = {
    SECRET_PARAM: "keys stay in environment variables; see api_key_env in workbench.toml",
    CREDENTIAL_URL: "use a model alias in workbench.toml: [models.NAME] with api_base (no key in it) and "
                    "api_key_env naming the variable that holds the key, then 'model: NAME'",
    **RESERVED_PARAMS,
}
"""What to do about each fault of a prompt's params; ``params_fault`` takes others (a model alias's)."""


def params_fault(params: Mapping[str, Any], what: str = "params",
                 hints: Mapping[str, str] | None = None) -> tuple[str, str, str] | None:
    """The first fault of ``params`` as (key, message, hint), else None: a secret-named key (``public_params``
    would drop it), a value holding a URL with credentials at any depth (``url_secrets``: it would be stored
    with every run), or a keyword the workbench passes to litellm itself (``RESERVED_PARAMS``).

    ``what`` names the params in the message; ``hints`` replaces ``PARAM_HINTS`` by key (``SECRET_PARAM``,
    ``CREDENTIAL_URL`` or a reserved key). The message never repeats a value: it may hold a key."""
    hint = {**PARAM_HINTS, **(hints or {})}
    secrets = sorted(str(key) for key in params.keys() - public_params(dict(params)).keys())
    if secrets:
        return secrets[0], f"{what} must not hold a secret ({secrets[0]!r})", hint[SECRET_PARAM]
    for key, value in params.items():
        found = sorted({part for text in _strings(value) for part in url_secrets(text)})
        if found:
            return (key, f"{what}: {str(key)!r} holds credentials in a URL ({', '.join(found)}), which would be "
                         "stored with every run", hint[CREDENTIAL_URL])
        if key in RESERVED_PARAMS:
            return key, f"{what} must not set {key!r}: the workbench passes it to litellm itself", hint[key]
    return None


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a param's value, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


@dataclass(frozen=True)
class Case:
    """One row of a test set."""

    id: str
    """Stable id: the row's ``id`` column, or a hash of its inputs."""
    vars: dict[str, Any]
    """Template variables: every column except the reserved ones."""
    expected: Any = None
    """The reference answer, or None when the row has none."""
    split: str = "dev"
    """``dev``, ``test`` or ``train`` (``cases.CASE_SPLITS``); the default is ``cases.DEFAULT_SPLIT``, written
    out here because records sit below cases (a test keeps the two equal)."""
    source: str = ""
    """The file the case came from (for messages)."""
    line: int = 0
    """The line (JSONL) or row (CSV/Parquet, counting the header as line 1) it came from."""
    held_out: bool = False
    """True when the row is marked held out: never exported as training data."""

    def fingerprint(self) -> str:
        """Hash of everything that defines the case, used for the test-set hash."""
        return sha256_hex(canonical_json([self.id, self.vars, self.expected, self.split, self.held_out]))


@dataclass(frozen=True)
class CompletionRequest:
    """One call to a model."""

    model: str
    messages: list[Message]
    params: dict[str, Any] = field(default_factory=dict)
    """Provider parameters: temperature, max_tokens, stop, seed, api_base, ..."""

    def cache_key(self) -> str:
        """The response-cache key: a hash of (model, messages, params)."""
        return sha256_hex(canonical_json({"model": self.model, "messages": self.messages, "params": self.params}))


CUT_REASONS = frozenset({"length", "content_filter"})
"""Finish reasons of an answer the provider stopped before the model finished it."""


@dataclass(frozen=True)
class Completion:
    """A model's answer to one request, with what it cost."""

    text: str
    """What the scorers read: the answer's text, or, for an answer that is only tool calls, their JSON
    (``{"name": ..., "arguments": ...}``, a list of them for several calls)."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = 0.0
    """The provider's latency of the call; None when there was no call of its own to time (an answer from a
    provider batch), so that it never counts as 0 ms."""
    cached: bool = False
    attempts: int = 1
    finish_reason: str | None = None
    """Why the model stopped, as the provider said: ``stop``, ``length`` (cut at max_tokens),
    ``tool_calls``, ``content_filter``, ... (None when it did not say)."""
    tool_calls: list[dict[str, Any]] | None = None
    """The tool calls the answer made: ``[{"name": str, "arguments": parsed JSON or raw text}]``."""
    deployment: str | None = None
    """Which deployment of a routed alias answered (its label), None for other models and cached answers."""

    @property
    def truncated(self) -> bool:
        """True when the answer was cut at ``max_tokens``."""
        return self.finish_reason == "length"

    @property
    def empty(self) -> bool:
        """True when the model said and did nothing: no text and no tool call."""
        return not self.text.strip() and not self.tool_calls

    @property
    def cut(self) -> bool:
        """True when the provider stopped the answer early: at ``max_tokens`` or by its content filter."""
        return self.finish_reason in CUT_REASONS

    @property
    def cacheable(self) -> bool:
        """Only a whole answer is cached: never an empty or cut one."""
        return not self.empty and not self.cut


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one output."""

    scorer: str
    value: float
    """In [0, 1]."""
    passed: bool
    reason: str = ""
    weight: float = 1.0
    detail: dict[str, Any] | None = None
