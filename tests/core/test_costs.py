"""The cost model: cost per case on each path, training cost, break-even (hand-computed cases)."""

from __future__ import annotations

import pytest

from workbench.costs import (
    CaseCost,
    CostSettings,
    TrainingCost,
    break_even,
    case_cost,
    hosted_training_cost,
    local_training_cost,
)
from workbench.errors import ConfigError

SETTINGS = CostSettings()


def test_a_hosted_case_costs_the_mean_provider_charge_and_tokens_are_averaged() -> None:
    cost = case_cost(local=False, costs_usd=[0.001, 0.003], latencies_ms=[500, 700], input_tokens=[400, 600],
                     output_tokens=[3, 5], settings=SETTINGS)
    assert cost.usd == pytest.approx(0.002) and cost.per_1k == pytest.approx(2.0)
    assert (cost.input_tokens, cost.output_tokens, cost.basis) == (500, 4, "provider price")


def test_a_local_case_costs_its_compute_time_at_the_hourly_rate() -> None:
    # 360 ms a case at $0.10/h: 0.0001 h x 0.10 = $0.00001 a case, $0.01 per 1,000.
    cost = case_cost(local=True, costs_usd=[], latencies_ms=[300, 420], input_tokens=[10, 10],
                     output_tokens=[1, 1], settings=CostSettings(local_usd_per_hour=0.10))
    assert cost.usd == pytest.approx(0.00001) and cost.per_1k == pytest.approx(0.01)
    assert "local compute at $0.1/h" == cost.basis


def test_an_unknown_price_is_none_never_zero() -> None:
    cost = case_cost(local=False, costs_usd=[], latencies_ms=[100], input_tokens=[], output_tokens=[],
                     settings=SETTINGS)
    assert cost.usd is None and cost.per_1k is None and "no price" in cost.basis


def test_hosted_training_costs_tokens_times_epochs_times_the_price() -> None:
    # 150,000 tokens x 3 epochs at $3 per million (gpt-4o-mini) = $1.35.
    cost = hosted_training_cost("openai/gpt-4o-mini-2024-07-18", 150_000, 3, SETTINGS)
    assert cost.usd == pytest.approx(1.35)
    # The longest matching name wins: gpt-4.1-mini is not priced as gpt-4.1.
    assert hosted_training_cost("gpt-4.1-mini-2025-04-14", 1_000_000, 1, SETTINGS).usd == pytest.approx(5.0)
    assert hosted_training_cost("gpt-4.1", 1_000_000, 1, SETTINGS).usd == pytest.approx(25.0)
    unknown = hosted_training_cost("mistral/tiny", 1000, 1, SETTINGS)
    assert unknown.usd is None and "[costs.training]" in unknown.basis


def test_local_training_costs_its_measured_time() -> None:
    assert local_training_cost(1800, CostSettings(local_usd_per_hour=0.2)).usd == pytest.approx(0.1)


def test_break_even_is_training_cost_over_the_saving_per_case() -> None:
    # Prompt $0.002 a case, tuned $0.0005: saving $0.0015; $18 of training pays back after 12,000 cases,
    # 2,000 a month over 6 months.
    result = break_even(TrainingCost(18.0, ""), CaseCost(0.002, ""), CaseCost(0.0005, ""), months=6)
    assert (result.cases, result.monthly_cases, result.pays) == (12_000, 2_000, True)
    assert result.text == "pays back after 12,000 cases (2,000 a month pays it back in 6 months)"
    # Rounded up to whole cases: $1 at $0.0003 a case is 3,333.3 cases, so 3,334.
    assert break_even(TrainingCost(1.0, ""), CaseCost(0.0004, ""), CaseCost(0.0001, "")).cases == 3334


def test_a_tuned_path_that_is_not_cheaper_never_pays() -> None:
    dearer = break_even(TrainingCost(5.0, ""), CaseCost(0.001, ""), CaseCost(0.003, ""))
    assert not dearer.pays and dearer.cases is None
    assert dearer.text == "never pays on cost: the tuned path costs $2.00 more per 1,000 cases"
    same = break_even(TrainingCost(5.0, ""), CaseCost(0.001, ""), CaseCost(0.001, ""))
    assert not same.pays and "no cheaper" in same.text
    unknown = break_even(TrainingCost(None, ""), CaseCost(0.001, ""), CaseCost(0.0, ""))
    assert unknown.saving_per_case is None and "unknown" in unknown.text
    free = break_even(TrainingCost(0.0, ""), CaseCost(0.001, ""), CaseCost(0.0, ""))
    assert free.cases == 0 and "at once" in free.text


def test_the_costs_table_is_read_and_checked() -> None:
    settings = CostSettings.from_table({"local_usd_per_hour": 0.5, "payback_months": 12,
                                        "training": {"my-base": 2}})
    assert (settings.local_usd_per_hour, settings.payback_months) == (0.5, 12)
    assert settings.training_price("openai/my-base") == 2.0 and settings.training_price("gpt-4o") == 25.0
    for table, message in (({"local_usd_per_hour": "cheap"}, "local_usd_per_hour"),
                           ({"local_usd_per_hour": -1}, "0 or more"), ({"payback_months": 0}, "at least 1"),
                           ({"training": 3}, "must be a table"), ({"rate": 1}, "unknown setting")):
        with pytest.raises(ConfigError, match=message):
            CostSettings.from_table(table)


def test_a_tuned_models_training_cost_comes_from_its_model_json() -> None:
    from workbench.costs import training_cost

    # OpenAI bills trained_tokens with every epoch counted: 1,000,000 tokens of gpt-4o-mini cost $3.
    hosted = training_cost({"backend": "hosted", "base": "openai/gpt-4o-mini", "trained_tokens": 1_000_000},
                           SETTINGS)
    assert hosted.usd == pytest.approx(3.0) and "epochs" not in hosted.basis
    assert training_cost({"backend": "hosted", "base": "gpt-4o-mini"}, SETTINGS).usd is None
    local = training_cost({"backend": "transformers", "duration_s": 720}, CostSettings(local_usd_per_hour=1.0))
    assert local.usd == pytest.approx(0.2) and "12.0 min" in local.basis
    assert training_cost({}, SETTINGS).usd is None


def test_status_states_each_paths_cost_the_training_cost_and_the_break_even(tmp_path, monkeypatch) -> None:
    import json

    from support.cli import answer_by_question, hosted_tuned_model, invoke, make_project
    from support.openai_server import FakeOpenAIServer

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def reply(messages: list[dict], body: dict) -> str:
        return "yes" if body["model"] == "ft-fake" else answer_by_question(messages, body)

    with FakeOpenAIServer(reply=reply) as server:
        root = make_project(tmp_path, server.base_url)
        with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
            toml.write("[costs.training]\nfake = 10\n")
        lines = [json.dumps({"id": f"t{i:02d}", "question": f"case {i} {'odd' if i % 4 == 3 else 'even'}",
                             "expected": "yes", "split": "test"}) for i in range(20)]
        (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        hosted_tuned_model(root, server.base_url, trained_tokens=200_000)
        for model in ("fake", "tuned"):
            code, _, err = invoke(root, "run", "yesno", "--split", "test", "--model", model)
            assert code == 0, err
        code, out, err = invoke(root, "status", "yesno")
        assert code == 0, err
        # 200,000 billed tokens at the configured $10 per million: $2.00; no inference price is known for
        # the loopback models, so the break-even cannot be told (never shown as free).
        assert "training  $2.00 (200,000 tokens at $10 per million); break-even unknown: a price is missing" in out
        assert "cost unknown prompt (no price known for this model, " in out
        code, out, _ = invoke(root, "status", "yesno", "--json")
        verdict = next(r for r in json.loads(out) if r["model"] == "fake")["tuned"][0]
        assert verdict["training_cost_usd"] == pytest.approx(2.0) and verdict["break_even_cases"] is None
        assert verdict["prompt_tokens_per_case"] > 0
