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
import math
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


_SECRET_QUERY = re.compile(r"(^|[_;-])(api[_-]?key|key|secret|password|passwd|pwd|token|auth|authorization|"
                           r"credentials?|sig|signature)$", re.IGNORECASE)
"""A URL query parameter whose value is a credential (``?key=``, ``?api-key=``, ``?access_token=``, ``?sig=``)."""


def _userinfo(url: str) -> str | None:
    """The ``user:password`` of ``url`` (RFC 3986: before the ``@`` of its authority, which ends at the first
    ``/``, ``?`` or ``#``), or None. A password holding one of those unescaped is no valid address
    (``address_fault``); an ``@`` later in the path or query (``https://h:443/@user``) is no userinfo."""
    from urllib.parse import urlsplit

    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return None
    return netloc.rpartition("@")[0] if "@" in netloc else None


def address_fault(url: str) -> str | None:
    """Why ``url``, a configured server address, cannot be called as written, or None: a ``user:password@``
    whose password holds ``#``, ``/`` or ``?`` unescaped ends the address inside the password, so the HTTP
    client would read part of it as the host and port (and quote it in its error)."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    head = rest.split("@", 1)[0] if "@" in rest else ""
    ends = [head.find(char) for char in "/?#" if char in head]
    colon = head.find(":")
    # host:PORT/...@... is a port, then an @ in the path (https://h:443/@user), not a password
    if _userinfo(url) is None and colon != -1 and ends and colon < min(ends) \
            and not head[colon + 1:min(ends)].isdigit():
        return ("its user:password@ holds '#', '/' or '?', which end an address: write them percent-encoded "
                "(%23, %2F, %3F)")
    return None


def url_secrets(url: str) -> list[str]:
    """What in ``url`` is a credential: its userinfo (``user:password@``) and its secret query parameters
    (by name, never their values); empty when it holds none."""

    if "://" not in url:
        return []  # not an address: a stop sequence, a text
    found = ["user:password@"] if _userinfo(url) is not None or address_fault(url) else []
    query = _secret_query(url)
    if query is None:  # not a URL at all (an unbalanced IPv6 bracket): treat the whole as suspect
        return ["the address"]
    return found + [f"?{name}=" for name, _ in query]


def _secret_query(url: str) -> list[tuple[str, str]] | None:
    """The (name, value) of each secret query parameter of ``url`` (``_SECRET_QUERY``); None when ``url`` is
    no URL at all."""
    from urllib.parse import urlsplit

    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    pairs = [item.partition("=") for item in query.split("&")]
    return [(name, value) for name, _, value in pairs if name and _SECRET_QUERY.search(name)]


def _url_credentials(url: str) -> list[str]:
    """The credentials written in ``url``: its userinfo, its password, its secret query parameters' values."""

    userinfo = _userinfo(url)
    found = [userinfo, userinfo.partition(":")[2]] if userinfo else []
    return found + [value for _, value in _secret_query(url) or [] if value]


def redact_url(url: str) -> str:
    """``url`` with its userinfo and secret query values replaced by ``***``: how an api_base is printed or
    stored, so that a key written into an address never is."""
    from urllib.parse import urlsplit, urlunsplit

    if not url_secrets(url):
        return url  # as written
    if address_fault(url):  # a password holding '#', '/' or '?': all before its '@' goes
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://***@{rest.split('@', 1)[1]}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = "***@" + parts.netloc.rpartition("@")[2] if "@" in parts.netloc else parts.netloc
    query = "&".join(f"{item.split('=', 1)[0]}=***" if _SECRET_QUERY.search(item.split("=", 1)[0]) else item
                     for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(?://|\\/\\/)[^\s'\"<>]+")
"""An address inside free text (an error message): a scheme, ``://`` (or JSON's escaped ``:\\/\\/``) and what
follows up to a space, a quote or an angle bracket."""
_KNOWN_SECRETS: set[str] = set()
"""Credentials this process has handed to a provider (``remember_credentials``): scrubbed by ``redact_text``
wherever they appear, however a message quotes them."""
MIN_SECRET_LENGTH = 12
"""Shorter values are not scrubbed as text: a key such as ``ollama`` or ``lm-studio`` (what local servers
suggest) would blank every word holding it. Provider keys are longer; an address's credentials are
redacted as part of the address whatever their length."""
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
"""An environment variable whose value is a credential (``OPENAI_API_KEY``, ``HF_TOKEN``...)."""


def remember_credentials(*, address: str | None = None, key: str | None = None) -> None:
    """Note the credentials of an ``address`` about to be called and a ``key`` about to be sent, so that
    ``redact_text`` scrubs them from any message that quotes them."""
    values = _url_credentials(address) if address else []
    if key:
        values.append(key)
    _KNOWN_SECRETS.update(value for value in values if _scrubbable(value))


def _scrubbable(value: str) -> bool:
    """Whether ``value`` looks like a credential worth scrubbing from text: long enough, one word, no path
    (``GOOGLE_APPLICATION_CREDENTIALS`` holds a file's path, which an error must be able to name)."""
    return len(value) >= MIN_SECRET_LENGTH and not any(char in value for char in " /\\\t\n")


_AUTH_CREDENTIALS = re.compile(r"\b(Basic|Bearer|Digest|Token)\s+[A-Za-z0-9+/._~=-]{8,}", re.IGNORECASE)
"""An ``Authorization`` header's credentials after their scheme (RFC 9110 section 11.4): a Basic header is a
password in base64, which no list of known secrets holds."""


def redact_text(text: str) -> str:
    """``text`` with every address in it that holds credentials replaced by its ``redact_url``, the
    credentials of any ``Authorization`` header it quotes (``Basic ***``), then every known credential
    (``remember_credentials``, and the value of any environment variable named like a key: ``*_KEY``,
    ``*_TOKEN``, ``*_SECRET``...) replaced by ``***``: how a provider's message (which may quote the address
    it failed to reach, or the key it refused) is stored, printed or reported."""
    import os

    if "://" in text or ":\\/\\/" in text:
        text = _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0).replace("\\/", "/")), text)
    text = _AUTH_CREDENTIALS.sub(lambda match: f"{match.group(1)} ***", text)
    secrets = _KNOWN_SECRETS | {value for name, value in os.environ.items()
                                if _SECRET_ENV.search(name) and _scrubbable(value)}
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


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


SECRET_NAME = re.compile(
    r"(^|_)(key|token|o?auth|pwd|cookies?)$"  # a word of its own: ``api_key``, ``Api-Key``, ``apiKey``, ``token``
    r"|(secret|password|passwd|passphrase|authorization|credentials?|bearer|headers"  # ending any name
    r"|(api|access|secret|private)_?key|(access|auth|refresh|session|bearer|api|id)_?token)$")
"""A secret-named key, matched against its ``key_words`` (so case, ``-``, spaces and camelCase do not matter):
one whose last word is a key, token, auth, password, ..., or that ends with a joined form (``apikey``,
``accesstoken``, ``clientsecret``). ``max_tokens`` (tokens, plural) is no secret."""
NOT_SECRET = {"max_tokens", "max_completion_tokens", "top_k", "prompt_cache_key"}
"""Keys ``SECRET_NAME`` would match that name no secret (as ``key_words``): OpenAI's ``prompt_cache_key`` is a
routing hint."""
NOT_SECRET_NAME = re.compile(r"(^|_)(per_token|(bos|eos|pad|unk|sep|cls|mask|stop|start|end)_token)$")
"""Names whose last word is ``token`` but that hold no secret: a price per token (litellm's
``input_cost_per_token``) and a tokenizer's special tokens (``eos_token`` in vLLM's ``chat_template_kwargs``)."""
SCHEMA_NAMES = {"properties", "patternProperties", "$defs", "definitions", "dependentRequired",
                "dependentSchemas"}
"""The JSON Schema keywords (in ``response_format``, ``tools``) whose keys name fields or types, not
credentials: a property ``password`` whose value is a schema (a mapping) is not a secret."""

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD_SEPARATORS = re.compile(r"[\s_.-]+")


def key_words(key: Any) -> str:
    """``key`` as lower-case words joined by ``_``: surrounding spaces dropped, and ``-``, ``.``, spaces and
    camelCase boundaries read as ``_`` (``"Api-Key "``, ``apiKey`` and ``API_KEY`` are all ``api_key``)."""
    text = _CAMEL_BOUNDARY.sub("_", str(key).strip())
    return "_".join(word for word in _WORD_SEPARATORS.split(text.lower()) if word)


def secret_name(key: Any) -> bool:
    """Whether ``key`` names something that could hold a secret (``SECRET_NAME``, less ``NOT_SECRET``): the
    one rule for params, a model alias's keys and a deployment's."""
    words = key_words(key)
    return (words not in NOT_SECRET and NOT_SECRET_NAME.search(words) is None
            and SECRET_NAME.search(words) is not None)


SCHEMA_DATA = {"default", "examples", "const", "enum"}
"""JSON Schema keywords whose value is an example of the data, not settings: nothing below them is checked."""


def _secret_key(key: Any, value: Any, parent: Any) -> bool:
    # A JSON Schema's property and definition names name fields, not credentials (their value is a schema:
    # a mapping or true/false, or a list of names); a string there would be no schema.
    return secret_name(key) and not (str(parent) in SCHEMA_NAMES and not isinstance(value, str))


def secret_paths(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every secret-named key in ``params`` at any depth (mappings inside mappings or lists), as (its top-level
    key, its path such as ``extra_body.api_key`` or ``tools[0].headers``), sorted by path."""
    found: list[tuple[str, str]] = []

    def walk(value: Any, top: str, path: str, parent: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                here = f"{path}.{key}" if path else str(key)
                if _secret_key(key, item, parent):
                    found.append((top or str(key), here))
                if not (top and str(key) in SCHEMA_DATA):
                    walk(item, top or str(key), here, key)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, top, f"{path}[{index}]", None)

    walk(params, "", "", None)
    return sorted(found, key=lambda pair: pair[1])


def public_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without anything that could hold a secret: every secret-named key (``secret_name``) at any
    depth dropped. What may reach the store or an export."""

    def public(value: Any, parent: Any) -> Any:
        if isinstance(value, Mapping):
            # Below a top-level key, as secret_paths: data examples of a JSON Schema are kept as they are.
            return {key: item if str(key) in SCHEMA_DATA else public(item, key) for key, item in value.items()
                    if not _secret_key(key, item, parent)}
        if isinstance(value, list | tuple):
            return [public(item, None) for item in value]
        return value

    return {key: public(value, key) for key, value in params.items() if not secret_name(key)}


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
NON_FINITE = "<non-finite number>"
"""The ``params_fault`` hint of an infinity or a NaN."""
PARAM_HINTS: dict[str, str] = {
    SECRET_PARAM: "keys stay in environment variables; see api_key_env in workbench.toml",
    NON_FINITE: "write a finite number: a request is JSON, which has no infinity or NaN",
    CREDENTIAL_URL: "use a model alias in workbench.toml: [models.NAME] with api_base (no key in it) and "
                    "api_key_env naming the variable that holds the key, then 'model: NAME'",
    **RESERVED_PARAMS,
}
"""What to do about each fault of a prompt's params; ``params_fault`` takes others (a model alias's)."""


def params_fault(params: Mapping[str, Any], what: str = "params",
                 hints: Mapping[str, str] | None = None) -> tuple[str, str, str] | None:
    """The first fault of ``params`` as (key, message, hint), else None: a secret-named key (``public_params``
    would drop it), a value holding a URL with credentials at any depth (``url_secrets``: it would be stored
    with every run), a keyword the workbench passes to litellm itself (``RESERVED_PARAMS``), or an infinity
    or a NaN at any depth (no request can carry one: every call would fail).

    ``what`` names the params in the message; ``hints`` replaces ``PARAM_HINTS`` by key (``SECRET_PARAM``,
    ``CREDENTIAL_URL``, ``NON_FINITE`` or a reserved key). The message never repeats a value that is not a
    number: it may hold a key."""
    hint = {**PARAM_HINTS, **(hints or {})}
    secrets = secret_paths(params)
    if secrets:
        key, path = secrets[0]
        return key, f"{what} must not hold a secret ({path!r})", hint[SECRET_PARAM]
    for key, value in params.items():
        found = sorted({part for text in _strings({key: value}) for address in _addresses_in(text)
                        for part in url_secrets(address)})
        if found:
            return (key, f"{what}: {str(key)!r} holds credentials in a URL ({', '.join(found)}), which would be "
                         "stored with every run", hint[CREDENTIAL_URL])
        if key in RESERVED_PARAMS:
            return key, f"{what} must not set {key!r}: the workbench passes it to litellm itself", hint[key]
        found_at = _non_finite(value, str(key))
        if found_at is not None:
            return key, f"{what} {found_at[0]} must be a finite number, not {found_at[1]!r}", hint[NON_FINITE]
    return None


def _non_finite(value: Any, at: str) -> tuple[str, float] | None:
    """The dotted place (``extra_body.top_k[1]``) and value of the first infinity or NaN in ``value``, else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return at, value
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list | tuple) else ()
    for key, item in items:
        found = _non_finite(item, f"{at}[{key}]" if isinstance(key, int) else f"{at}.{key}")
        if found is not None:
            return found
    return None


def _strings(value: Any) -> Iterable[str]:
    """Every string inside a param's value, at any depth (a mapping's keys too: they are stored as well)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_ADDRESS_BREAKS = re.compile(r"[\s'\"`]+")


def _addresses_in(text: str) -> Iterable[str]:
    """Every candidate address in ``text``, for ``url_secrets``: each piece of it between spaces and quotes, from
    each scheme (``xxx://``) in the piece to the piece's end, so that ``see http://u:pw@h/ now`` and
    ``http://h/?next=http://u:pw@h`` are both found. (Checking only, unlike ``redact_text``'s pattern: it
    never rewrites text.)"""
    if "://" not in text:
        return
    for piece in _ADDRESS_BREAKS.split(text):
        for match in _SCHEME.finditer(piece):
            yield piece[match.start():]


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
