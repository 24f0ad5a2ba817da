"""Provides the ``python`` scorer: a user function ``module:function`` imported from the project root.

The function is called with whichever of ``output``, ``expected``, ``vars`` and ``case`` its signature
accepts. It may be sync or async and return a bool, a number in [0, 1], a ``(value, reason)`` tuple, a
dict or a ``Score``. An exception inside it, or anything else returned, is the scorer's fault, never the
model's: ``ScorerFailed``, which the runner records as the case's error (kind ``scorer_error``), scored again
on the next run.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from workbench.errors import ScorerError
from workbench.records import Score
from workbench.scorers.registry import (
    BuildEnv,
    Option,
    ScoreContext,
    ScoreFn,
    ScorerFailed,
    Verdict,
    describe_error,
    scorer,
)
from workbench.scorers.text import REASON_WIDTH
from workbench.text import shorten

ARGUMENTS = ("output", "expected", "vars", "case")
"""The keyword arguments a user function may take."""

_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_FUNCTION = re.compile(rf"{_DOTTED}:{_DOTTED}")
_RETURNS = "a bool, a number in [0, 1], (value, reason), a dict with 'value' or a Score"


def _function_format(value: str) -> str | None:
    if _FUNCTION.fullmatch(value):
        return None
    return f"must look like 'module:function' (e.g. scorers_lib:check), not {value!r}"


def import_project_module(name: str, root: Path) -> ModuleType:
    """Import module ``name`` with ``root`` first on ``sys.path`` for the duration of the import only."""
    top = name.partition(".")[0]
    root_text = str(root)
    if top not in sys.stdlib_module_names and importlib.machinery.PathFinder.find_spec(top, [root_text]):
        # Forget an earlier import of this project module so edits (or another project's module of the
        # same name, in a long-lived TUI or a test session) are picked up.
        for loaded in [key for key in sys.modules if key == top or key.startswith(top + ".")]:
            del sys.modules[loaded]
        importlib.invalidate_caches()
    sys.path.insert(0, root_text)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and (name == error.name or name.startswith(error.name + ".")):
            raise ScorerError(f"scorer 'python' cannot import module {name!r}: no such module in {root_text}",
                              hint="put it in the project root, e.g. scorers_lib.py") from None
        raise ScorerError(f"scorer 'python' cannot import module {name!r}: {describe_error(error)}") from None
    except Exception as error:  # a syntax error or anything raised while the module runs
        raise ScorerError(f"scorer 'python' cannot import module {name!r}: {describe_error(error)}") from None
    finally:
        if root_text in sys.path:
            sys.path.remove(root_text)


_FIX = "fix the function; the case is scored again on the next run"


def _accepted(function: Callable[..., Any], label: str) -> tuple[str, ...]:
    """The arguments of ``ARGUMENTS`` that ``function`` takes; raises if it needs any other."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # some builtins have no signature: offer everything
        return ARGUMENTS
    parameters = signature.parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return ARGUMENTS
    for parameter in parameters:
        required = parameter.default is inspect.Parameter.empty
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY and required:
            raise ScorerError(f"scorer 'python' function {label} has a positional-only parameter "
                              f"{parameter.name!r}", hint="take keyword arguments: " + ", ".join(ARGUMENTS))
        variadic = parameter.kind is inspect.Parameter.VAR_POSITIONAL
        if required and not variadic and parameter.name not in ARGUMENTS:
            raise ScorerError(f"scorer 'python' function {label} needs an unknown argument "
                              f"{parameter.name!r}", hint="it may take " + ", ".join(ARGUMENTS))
    names = {parameter.name for parameter in parameters
             if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    return tuple(name for name in ARGUMENTS if name in names)


def _unit(value: Any) -> float | None:
    """``value`` as a score in [0, 1] (bools count), or None when it is not one."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1:
        return float(value)
    return None


def interpret(result: Any, label: str, threshold: float) -> Verdict:
    """Turn what a user function returned into a verdict; raises ``ScorerFailed`` for anything that is not
    a score (the case's error, not the model's failure)."""
    if isinstance(result, Score):
        value = _unit(result.value)
        if value is not None:
            reason = result.reason or f"{label} returned a Score"
            return Verdict(value, bool(result.passed), reason, result.detail)
    elif isinstance(result, bool):
        return Verdict(float(result), result, f"{label} returned {result}")
    elif isinstance(result, int | float):
        value = _unit(result)
        if value is not None:
            return Verdict(value, value >= threshold, f"{label} returned {value:g}")
    elif isinstance(result, tuple) and len(result) == 2:
        value = _unit(result[0])
        if value is not None:
            passed = result[0] if isinstance(result[0], bool) else value >= threshold
            reason = shorten(str(result[1]), REASON_WIDTH) or f"{label} returned {value:g}"
            return Verdict(value, passed, reason)
    elif isinstance(result, dict):
        value = _unit(result.get("value", result.get("score")))
        if value is not None:
            passed = result["passed"] if isinstance(result.get("passed"), bool) else value >= threshold
            detail = result.get("detail") if isinstance(result.get("detail"), dict) else None
            reason = shorten(str(result.get("reason") or ""), REASON_WIDTH) or f"{label} returned {value:g}"
            return Verdict(value, passed, reason, detail)
    raise ScorerFailed(f"{label} returned {shorten(repr(result), 60)}; expected {_RETURNS}", hint=_FIX)


@scorer("python", Option("function", "str", required=True, check=_function_format),
        Option("pass_threshold", "number", 0.5, minimum=0, maximum=1))
def python(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Call a user function ``module:function`` from the project (sync or async)."""
    label = options["function"]
    module_name, _, path = label.partition(":")
    target: Any = import_project_module(module_name, env.project_root)
    for part in path.split("."):
        if not hasattr(target, part):
            raise ScorerError(f"scorer 'python' cannot find {path!r} in module {module_name!r}",
                              hint=f"define it in {module_name.replace('.', '/')}.py")
        target = getattr(target, part)
    if not callable(target):
        raise ScorerError(f"scorer 'python' function {label} is not callable")
    function: Callable[..., Any] = target
    accepted = _accepted(function, label)
    threshold = options["pass_threshold"]

    async def evaluate(context: ScoreContext) -> Verdict:
        arguments = {"output": context.output, "expected": context.case.expected, "vars": context.case.vars,
                     "case": context.case}
        try:
            result = function(**{name: arguments[name] for name in accepted})
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:  # the user's bug is this case's error: not the model's failure, not the run's
            raise ScorerFailed(f"{label} raised {describe_error(error)}", hint=_FIX) from error
        return interpret(result, label, threshold)

    return evaluate
