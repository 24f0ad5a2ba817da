"""The training prompt: the messages of each mode, what counts as a version's system text, and when a run's
messages are not what a tuned model learnt on."""

from __future__ import annotations

import pytest

from workbench.prompts import parse_prompt
from workbench.records import Case
from workbench.train_prompt import TrainPrompt, demonstrations, system_text

FEW_SHOT = parse_prompt("---\nsystem: Route it.\n---\n[[system]]\nTeams: a, b.\n[[user]]\nhello\n[[assistant]]\na\n"
                        "[[user]]\n{{ text }}\n", "prompts/route.prompt")
PLAIN = parse_prompt("---\nsystem: Route it.\n---\nTicket: {{ text }}\n", "prompts/route.prompt")
CASE = Case("c1", {"text": "my bill"}, "a")


def test_each_mode_renders_its_messages() -> None:
    assert TrainPrompt("version").messages(FEW_SHOT, CASE)[-1] == {"role": "user", "content": "my bill"}
    assert len(TrainPrompt("version").messages(FEW_SHOT, CASE)) == 5
    assert TrainPrompt("short").messages(FEW_SHOT, CASE) == [
        {"role": "system", "content": "Route it.\n\nTeams: a, b."}, {"role": "user", "content": "my bill"}]
    assert TrainPrompt("short", "Be brief.").messages(FEW_SHOT, CASE)[0] == {"role": "system", "content": "Be brief."}
    assert TrainPrompt("none").messages(FEW_SHOT, CASE) == [{"role": "user", "content": "my bill"}]


def test_demonstrations_and_system_text() -> None:
    assert demonstrations(FEW_SHOT) == 1 and demonstrations(PLAIN) == 0
    assert system_text(PLAIN) == "Route it." and system_text(FEW_SHOT) == "Route it.\n\nTeams: a, b."
    assert system_text(parse_prompt("---\n---\n{{ text }}\n", "prompts/x.prompt")) is None


@pytest.mark.parametrize("data", [None, {}, {"mode": "long"}, "short", {"mode": None}])
def test_an_unreadable_record_is_no_record(data: object) -> None:
    assert TrainPrompt.from_dict(data) is None


def test_a_record_round_trips_and_drops_wrong_types() -> None:
    record = TrainPrompt("short", None, "route", 3)
    assert TrainPrompt.from_dict(record.to_dict()) == record
    assert TrainPrompt.from_dict({"mode": "none", "version": True, "prompt": 7}) == TrainPrompt("none")


def test_mismatches_are_named() -> None:
    short = TrainPrompt("short", None, "route", 1)
    assert short.mismatch("short", None, PLAIN, PLAIN) is None
    # Only the system text matters to the short prompt: another body with the same system text is fine.
    other_body = parse_prompt("---\nsystem: Route it.\n---\nT: {{ text }}\n", "prompts/route.prompt")
    assert short.mismatch("short", None, other_body, PLAIN) is None
    changed = parse_prompt("---\nsystem: Route it now.\n---\nTicket: {{ text }}\n", "prompts/route.prompt")
    assert "system text" in (short.mismatch("short", None, changed, PLAIN) or "")
    assert "full prompt" in (short.mismatch("version", None, PLAIN, PLAIN) or "")
    assert "not 'other'" in (short.mismatch("short", None, parse_prompt(
        "---\n---\n{{ text }}\n", "prompts/other.prompt"), PLAIN) or "")
    full = TrainPrompt("version", None, "route", 1)
    assert "another version's" in (full.mismatch("version", None, other_body, PLAIN) or "")
    assert full.mismatch("version", None, PLAIN, None) is None  # the trained version is not stored: unknown
    instructed = TrainPrompt("short", "Be brief.", "route", 1)
    assert instructed.mismatch("short", "Be brief.", changed, PLAIN) is None  # the instruction replaced it
    assert instructed.mismatch("short", None, PLAIN, PLAIN) is not None
