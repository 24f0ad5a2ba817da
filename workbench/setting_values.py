"""Provides the checks of settings' values, wherever they are written (``workbench.toml``, a ``WORKBENCH_*``
variable, a flag): ``setting_number`` for every number, so that each is a finite number within its range
when the settings are read (never a crash or a silently wrong verdict later), and ``api_base_fault`` for a
server address. Neither ever repeats a value that is not a number: it may hold a key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.text import kind_of

API_BASE_HINT = ("write the address without '?' or '#' (in a password: %3F, %23) and give the key with "
                 "api_key_env, sent as an Authorization header; a server that takes its key only as a query "
                 "parameter needs a proxy in front of it that adds the parameter")
"""What to do about an ``api_base`` that ``api_base_fault`` refuses."""
_WHOLE_TEXT = re.compile(r"[+-]?[0-9]+")
"""A whole number as text: ASCII digits only (no ``_`` separators, no other scripts' digits)."""
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)",
                          re.IGNORECASE)
"""A plain decimal number as text (``4``, ``4.0``, ``.5``, ``1e3``), or an infinity or a NaN (refused as not
finite, by name): no ``_`` separators (``4_0`` is no 40), no hexadecimal, no other scripts' digits."""


def env_setting(env: Mapping[str, str], name: str) -> str | None:
    """The value of the environment variable ``name``, or None when it is unset or blank (empty or only
    whitespace): the one rule for every ``WORKBENCH_*`` variable, so that ``WORKBENCH_CONCURRENCY=`` (a CI
    variable left unset) counts as not set rather than as a bad value."""
    value = env.get(name)
    return value if value is not None and value.strip() else None


def setting_number(value: Any, where: str, *, whole: bool = False, low: float | None = None,
                   high: float | None = None, low_open: bool = False, high_open: bool = False,
                   meaning: str | None = None, path: Path | str | None = None, hint: str | None = None) -> Any:
    """``value`` as the setting ``where`` needs it: an int (``whole``) or a float, finite and within
    ``[low, high]`` (``low_open``/``high_open``: that end excluded); a string (an environment variable, a
    flag) is parsed first, as a plain decimal number only (``_NUMBER_TEXT``); a float with no fractional part
    (``2.0``, ``"2.0"``) is a whole number, ``2.5`` is not, nor is a boolean. Raises ``ConfigError`` naming
    ``where`` (in ``path`` when given) and what it must be: ``meaning``, else the range in words. A number is
    shown (``inf``, ``nan``, ``0``, ``2.5``), text that is no number is said to be text, anything else only
    by its kind."""
    kind = "a whole number" if whole else "a number"
    number = value
    if isinstance(value, str):
        number = _parsed(value, whole)
        if number is None:  # the text itself is never repeated: it may be a pasted key
            raise ConfigError(f"{where} must be {kind}: it is text that is not a number", path=path, hint=hint)
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise ConfigError(f"{where} must be {kind}, not {kind_of(number)}", path=path, hint=hint)
    if whole and isinstance(number, float):
        if not number.is_integer():  # 2.5, inf, nan
            raise ConfigError(f"{where} must be {kind}, not {number!r}", path=path, hint=hint)
        number = int(number)  # 2.0, as TOML tools and templates often write a whole number, is 2
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if (isinstance(number, float) and not math.isfinite(number)) or below or above:
        words = meaning or _range(kind, low, high, low_open, high_open)
        raise ConfigError(f"{where} must be {words}, not {number!r}", path=path, hint=hint)
    return number if whole else float(number)


def _parsed(text: str, whole: bool) -> int | float | None:
    """``text`` (an environment variable, a flag, a TOML string) as a number: an int when ``whole`` and it is
    written as one, else a float; None when it is no plain decimal number."""
    text = text.strip()
    if whole and _WHOLE_TEXT.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # beyond Python's limit of digits: too large for any setting
            return math.inf
    return float(text) if _NUMBER_TEXT.fullmatch(text) else None


def _range(kind: str, low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    parts = [f"{'above' if low_open else 'at least'} {low:g}"] if low is not None else []
    parts += [f"{'below' if high_open else 'at most'} {high:g}"] if high is not None else []
    return f"a finite {kind.removeprefix('a ')}" + (" " + " and ".join(parts) if parts else "")


def api_base_fault(url: str) -> str | None:
    """Why ``url``, a configured server address (``api_base``), can never be called, or None: a password
    holding ``#``, ``/`` or ``?`` unescaped (``records.address_fault``), or a query string or a fragment,
    after which the OpenAI client adds its own path (``/v1?key=X/chat/completions``). The address itself
    is never part of the answer: it may hold a key."""
    from workbench.records import address_fault

    fault = address_fault(url)
    if fault:
        return fault
    if "?" in url or "#" in url:
        return ("it holds a query string or a fragment ('?' or '#'): the client would add its path "
                "(/chat/completions) after it, so no call could reach the server")
    return None
