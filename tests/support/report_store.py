"""A store holding two runs of two versions of one prompt, for the JUnit, HTML report and view tests.

Run 1 (v1) on five cases: c1 passes; c2 fails with an untrusted output (a script tag, an ampersand, an
escape character) and a scorer's reason; c3 errors (timeout); c4 fails by the scorer but a human review
of that very output says good; c5 passes. Run 2 (v2, a template with markup in it) on the same cases:
c1 fails (a regression), c2 and c3 pass (improvements), c4 and c5 pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.records import Case, Completion, Score
from workbench.store import Run, Store

XSS = "<script>alert(1)</script>"
EVIL_OUTPUT = f"{XSS} & \x1b[31mred"
V1_TEXT = "Answer: {{ q }}"
V2_TEXT = "Answer </pre><script>alert(2)</script> {{ q }}"
CASES = [Case("c1", {"q": "a"}, "A"), Case("c2", {"q": "b"}, "B"), Case("c3", {"q": "c"}, {"label": "C"}),
         Case("c4", {"q": "d"}, "D"), Case("c5", {"q": "e"}, "E")]


@dataclass(frozen=True)
class FakePrompt:
    """The only fields the store reads from a Prompt."""

    name: str
    hash: str
    text: str
    path: Path = Path("prompts/p.prompt")


def _record(store: Store, run: Run, case: Case, output: str | None, passed: bool, *, reason: str = "",
            error: str | None = None, kind: str | None = None, cached: bool = False) -> None:
    completion = None if error else Completion(output or "", input_tokens=10, output_tokens=2, cost_usd=0.001,
                                               latency_ms=250.0, cached=cached, finish_reason="stop")
    scores = [] if error else [Score("exact_match", float(passed), passed, reason)]
    store.record_result(run.id, case, messages=[{"role": "user", "content": "x"}], completion=completion,
                        scores=scores, passed=passed, score=float(passed), error=error, error_kind=kind)


def build_store(store: Store | None = None) -> tuple[Store, Run, Run]:
    """The store described above: (store, run 1, run 2), both finished."""
    store = store or Store.memory()
    store.save_testset("datasets/d.jsonl", CASES, "hash1")
    runs = []
    for number, text in ((1, V1_TEXT), (2, V2_TEXT)):
        version = store.save_version(FakePrompt("p", f"h{number}", text))
        run, _ = store.start_run(version=version, model="echo", params={}, testset_hash="hash1",
                                 dataset="datasets/d.jsonl", split="dev", scorers=["exact_match"], n_cases=5)
        runs.append(run)
    first, second = runs
    _record(store, first, CASES[0], "A", True)
    _record(store, first, CASES[1], EVIL_OUTPUT, False, reason="expected 'B' & got something else")
    _record(store, first, CASES[2], None, False, error="timed out after 5 s", kind="timeout")
    _record(store, first, CASES[3], "d, surely", False, reason="not exactly 'D'")
    _record(store, first, CASES[4], "E", True, cached=True)
    store.set_review(first.version_id, "c4", "good", output="d, surely")
    _record(store, second, CASES[0], "nope", False, reason="expected 'A'")
    for case in CASES[1:]:
        _record(store, second, case, str(case.expected), True)
    store.finish_run(first.id)
    store.finish_run(second.id)
    return store, store.run(first.id), store.run(second.id)
