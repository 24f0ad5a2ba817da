"""Provides the export's ``manifest.json`` (where every row came from, the settings, what was dropped
and why, the validation report, token statistics) and its short dataset card (``README.md``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from workbench import __version__
from workbench.examples import UNJUDGED
from workbench.export.formats import get_format
from workbench.export.plan import ExportPlan

TEST_WARNING = ("THIS EXPORT INCLUDES {n} TEST-SPLIT OR HELD-OUT CASES (--include-test): a model trained on "
                "it must not be evaluated on those cases, and its scores on them are not a fair comparison")


def manifest(plan: ExportPlan, files: dict[str, list[str]], created_utc: str) -> dict[str, Any]:
    """The manifest of a written export; ``files`` are paths relative to the export folder, per format."""
    data: dict[str, Any] = {}
    if plan.options.include_test:
        data["WARNING"] = TEST_WARNING.format(n=plan.test_cases)
    data |= {
        "includes_test_cases": plan.options.include_test,
        "workbench_version": __version__,
        "created_utc": created_utc,
        "prompt": plan.prompt,
        **plan.origin,
        "settings": asdict(plan.options),
        # False when the targets are a run's outputs as given (--source outputs): no scorer or reviewer
        # vouched for them, and a trainer reading the manifest should know.
        "targets_judged": plan.options.source != UNJUDGED,
        "notes": plan.notes,
        "counts": plan.summary(),
        "dropped": plan.dropped,
        "contradictions": plan.contradictions,
        "redactions": plan.redactions,
        "tokens": asdict(plan.tokens) if plan.tokens else None,
        "validation": {name: report.to_dict() for name, report in plan.reports.items()},
        "valid": plan.ok,
        "files": files,
        "rows": [row.provenance() for row in plan.rows],
    }
    return data


def dataset_card(plan: ExportPlan, files: dict[str, list[str]], created_utc: str) -> str:
    """A short README: what the data is, where it came from, how it was cleaned, how to load it."""
    counts = plan.summary()
    options = plan.options
    origin = plan.origin
    sources = ", ".join(f"{count} {name}" for name, count in counts["by_source"].items())
    lines = [f"# {plan.prompt}: fine-tuning data", ""]
    if options.include_test:
        lines += [f"> **Warning:** {TEST_WARNING.format(n=plan.test_cases)}.", ""]
    lines += [
        f"Exported by Prompt Workbench {__version__} on {created_utc} from prompt `{plan.prompt}` "
        f"version {origin.get('version', '?')}"
        + (f" (run {origin['run_id']}, model `{origin['model']}`, test set `{origin['dataset']}`)."
           if origin.get("run_id") else "."),
        "",
        f"- **Examples:** {counts['examples']} ({counts['train']} train, {counts['validation']} validation); "
        f"targets: {sources}.",
        (f"- **Source policy:** `{options.source}`: the targets were NOT JUDGED. Every output of the run that "
         "is not an error is a target, whatever a scorer or a reviewer said of it (a teacher model's answers)."
         if options.source == UNJUDGED else
         f"- **Source policy:** `{options.source}` (a human correction beats a gold answer, which beats a "
         "passing output; failing outputs are never targets)."),
        f"- **Training prompt:** `{options.train_prompt}`"
        + (f" with the instruction {options.instruction!r}." if options.instruction is not None else "."),
        f"- **Split:** stable hash of (seed {options.seed}, case id), "
        f"{options.valid_fraction:.0%} validation.",
        "- **Left out:** " + (", ".join(f"{count} {why}" for why, count in plan.dropped.items())
                              or "nothing") + ".",
    ]
    if plan.redactions is not None:
        replaced = plan.redactions["replaced"]
        lines.append(f"- **PII redaction:** {replaced.get('email', 0)} e-mail addresses and "
                     f"{replaced.get('phone', 0)} phone numbers replaced by placeholders "
                     "(`<EMAIL_1>`, `<PHONE_1>`).")
    if plan.tokens:
        t = plan.tokens
        lines.append(f"- **Tokens per example:** min {t.min}, p50 {t.p50:.0f}, p90 {t.p90:.0f}, max {t.max} "
                     f"({t.tokenizer}).")
    lines += ["", "## Files", ""]
    for name, paths in files.items():
        report = plan.reports[name]
        state = "valid" if report.ok else "INVALID (written with --force): " + ", ".join(
            f"{error} x{count}" for error, count in sorted(report.errors.items()))
        lines.append(f"- `{name}` — {get_format(name).description}; {state}")
        lines += [f"  - `{path}`" for path in paths]
    if "hf" in files:
        lines += ["", "Load the Hugging Face dataset with `datasets.load_from_disk(\"hf/dataset\")` or "
                  "`datasets.load_dataset(\"parquet\", data_files={\"train\": "
                  "\"hf/parquet/train.parquet\"})`."]
    lines += ["", "`manifest.json` records every row's case, version, source, score and split, the settings, "
              "what was dropped and why, and the full validation report.", ""]
    return "\n".join(lines)
