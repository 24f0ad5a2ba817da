"""Provides the checks of settings' values, wherever they are written (``workbench.toml``, a ``WORKBENCH_*``
variable, a flag): ``setting_number`` for every number, so that each is a finite number within its range
when the settings are read (never a crash or a silently wrong verdict later), and ``api_base_fault`` for a
server address. Neither ever repeats a value that is not a number: it may hold a key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.text import kind_of

API_BASE_HINT = ("write the address without '?' or '#' (in a password: %3F, %23) and give the key with "
                 "api_key_env, sent as an Authorization header; a server that takes its key only as a query "
                 "parameter needs a proxy in front of it that adds the parameter")
"""What to do about an ``api_base`` that ``api_base_fault`` refuses."""


def setting_number(value: Any, where: str, *, whole: bool = False, low: float | None = None,
                   high: float | None = None, low_open: bool = False, high_open: bool = False,
                   meaning: str | None = None, path: Path | str | None = None, hint: str | None = None) -> Any:
    """``value`` as the setting ``where`` needs it: an int (``whole``) or a float, finite and within
    ``[low, high]`` (``low_open``/``high_open``: that end excluded); a string (an environment variable, a
    flag) is parsed first. Raises ``ConfigError`` naming ``where`` (in ``path`` when given) and what it must
    be: ``meaning``, else the range in words. A number is shown (``inf``, ``nan``, ``0``), anything else
    only by its kind."""
    kind = "a whole number" if whole else "a number"
    number = value
    if isinstance(value, str):
        try:
            number = int(value.strip()) if whole else float(value.strip())
        except ValueError:
            raise ConfigError(f"{where} must be {kind}, not a string", path=path, hint=hint) from None
    if isinstance(number, bool) or not isinstance(number, int | float) or (whole and not isinstance(number, int)):
        shown = repr(number) if isinstance(number, float) else kind_of(number)
        raise ConfigError(f"{where} must be {kind}, not {shown}", path=path, hint=hint)
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if (isinstance(number, float) and not math.isfinite(number)) or below or above:
        words = meaning or _range(kind, low, high, low_open, high_open)
        raise ConfigError(f"{where} must be {words}, not {number!r}", path=path, hint=hint)
    return number if whole else float(number)


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
