"""Data integrity from the test set to the stored answer (issue 10, kinds 1-5), through the CLI against the
loopback server: data a scorer cannot use, variables Jinja reads itself, empty prompts and answers that
are not plain text are refused or recorded as what they are, never scored as a model's failure."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from support.cli import invoke
from support.openai_server import FakeOpenAIServer

TOML = ("[defaults]\nmodel = \"fake\"\nconcurrency = 2\ntimeout = 5\nretries = 0\n"
        "[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base}\"\napi_key_env = \"FAKE_KEY\"\n")


def project(root: Path, base_url: str, dataset: str, data: str, body: str = "Q: {{ question }}",
            scorers: str = "[exact_match]", params: str = "") -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(TOML.format(base=base_url), encoding="utf-8")
    (root / "datasets" / dataset).write_text(data, encoding="utf-8")
    (root / "prompts" / "p.prompt").write_text(
        f"---\ndataset: datasets/{dataset}\nscorers: {scorers}\n{params}---\n{body}\n", encoding="utf-8")
    return root


def chat_calls(server: FakeOpenAIServer) -> int:
    return sum(1 for r in server.requests if r["path"].endswith("/chat/completions"))


def results(root: Path) -> list[dict]:
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    db.row_factory = sqlite3.Row
    return [dict(row) for row in db.execute("SELECT * FROM results ORDER BY id")]


# 1. A scorer never runs against data it cannot use ----------------------------------------------------

def test_a_csv_header_with_a_space_after_the_comma_names_the_expected_column(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: "yes") as server:
        root = project(tmp_path, server.base_url, "q.csv", "question, expected\nis it?, yes\nreally?, yes\n")
        code, out, err = invoke(root, "run", "p")
    assert code == 0, err
    assert "100.0% (2/2)" in out
    # The space never reached the template variables: the prompt rendered the question alone.
    sent = sorted(row["messages_json"] for row in results(root))  # cases complete in any order
    assert sent == [json.dumps([{"content": f"Q: {q}", "role": "user"}], separators=(",", ":"))
                    for q in ("is it?", "really?")]


@pytest.mark.parametrize(("header", "column"), [("question,Expected", "Expected"), ("question,EXPECTED ", "EXPECTED"),
                                                ("question,expected,Split", "Split")])
def test_a_column_that_differs_from_a_reserved_name_only_by_case_is_refused(
        tmp_path: Path, server: FakeOpenAIServer, header: str, column: str) -> None:
    cells = ",".join(["is it?", "yes", "dev"][: header.count(",") + 1])
    root = project(tmp_path, server.base_url, "q.csv", f"{header}\n{cells}\n")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "datasets/q.csv:2:" in err and f"column {column!r}" in err and "only by case" in err


def test_a_test_set_without_the_expected_column_is_refused_naming_what_it_found(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.csv", "question,label\nis it?,yes\n")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert "datasets/q.csv" in err and "scorer 'exact_match'" in err and "column 'expected'" in err
    assert "'label'" in err and "'question'" in err and "expected_key" in err


def test_a_case_with_an_empty_expected_cell_is_refused_naming_the_first_one(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.csv",
                   "id,question,expected\na,is it?,yes\nb,really?,\nc,sure?,  \n")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert "datasets/q.csv:3:" in err and "case 'b' has none" in err and "2 of 3 cases" in err


def test_scorers_that_need_no_expected_answer_run_on_an_unlabelled_set(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x"}\n{"question": "y"}\n',
                   scorers="[{regex: {pattern: 'Q'}}, {contains: {value: 'Q:'}}, json_valid]")
    code, _, err = invoke(root, "run", "p")
    assert code == 0, err
    assert chat_calls(server) == 2


# 2. A scorer reads the expected answer the way it reads the output ---------------------------------------

def test_numeric_reads_a_percent_on_both_sides(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: "About 60%.") as server:
        root = project(tmp_path, server.base_url, "q.jsonl",
                       '{"question": "x", "expected": "60%"}\n{"question": "y", "expected": "$1,200"}\n'
                       '{"question": "z", "expected": 60}\n', scorers="[numeric]")
        code, out, err = invoke(root, "run", "p", "--json")
    assert code == 0, err
    assert json.loads(out)["passed"] == 2


@pytest.mark.parametrize(("expected", "why"), [('"sixty"', "holds no number"), ('"3/4"', "holds 2 numbers")])
def test_numeric_refuses_an_expected_answer_it_cannot_read_before_any_call(
        tmp_path: Path, server: FakeOpenAIServer, expected: str, why: str) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl",
                   f'{{"question": "x", "expected": "1"}}\n{{"id": "bad", "question": "y", "expected": {expected}}}\n',
                   scorers="[numeric]")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert "datasets/q.jsonl:2:" in err and "case 'bad'" in err and why in err


def test_json_match_refuses_an_expected_answer_that_is_not_json(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "{a: 1}"}\n',
                   scorers="[json_match]")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0 and "is not JSON" in err and "case '" in err


def test_json_match_with_fields_refuses_an_expected_object_missing_one(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl",
                   '{"question": "x", "expected": {"city": "Paris"}}\n',
                   scorers="[{json_match: {fields: [city, country]}}]")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and "no field 'country'" in err


@pytest.mark.parametrize("scorer", ["exact_match", "similarity", "contains"])
def test_text_scorers_refuse_a_structured_expected_answer(
        tmp_path: Path, server: FakeOpenAIServer, scorer: str) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": {"a": 1}}\n',
                   scorers=f"[{scorer}]")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0 and "use json_match" in err


# 3. Template variables mean what the column says -----------------------------------------------------------

@pytest.mark.parametrize("column", ["self", "none", "True", "loop"])
def test_a_column_jinja_resolves_itself_is_refused_with_a_new_name(
        tmp_path: Path, server: FakeOpenAIServer, column: str) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", json.dumps({column: "hello", "expected": "x"}) + "\n",
                   body=f"Say {{{{ {column} }}}}")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert f"column {column!r} cannot be a template variable" in err and f"'{column}_text'" in err
    assert "datasets/q.jsonl:1:" in err


def test_a_column_jinja_names_specially_but_the_template_does_not_use_is_fine(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"self": "a", "question": "q", "expected": "Q: q"}\n')
    assert invoke(root, "run", "p")[0] == 0


def test_a_column_that_is_not_an_identifier_gets_a_rename_hint(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"user-name": "Ann", "expected": "x"}\n',
                   body="Hello {{ user-name }}")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert "column 'user-name' is not a valid template name" in err and "'user_name'" in err
    assert "add the column" not in err


def test_a_null_value_renders_as_nothing_not_none(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "q", "note": null, "expected": "x"}\n',
                   body="Q: {{ question }} {{ note }}")
    assert invoke(root, "run", "p")[0] == 0
    assert "None" not in results(root)[0]["messages_json"]


# 4. Nothing empty is sent --------------------------------------------------------------------------------

def test_a_case_whose_prompt_renders_empty_is_refused_naming_the_variable(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.csv", "id,note,expected\na,hello,x\nb,,x\n", body="{{ note }}")
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert "datasets/q.csv:3:" in err and "case 'b'" in err and "renders empty" in err and "'note'" in err


# 5. An answer that is not plain text is recorded as what it is ----------------------------------------------

def test_an_empty_answer_cut_at_max_tokens_is_an_error_never_cached(tmp_path: Path) -> None:
    reply = {"content": "", "finish_reason": "length", "completion_tokens": 8}
    with FakeOpenAIServer(reply=lambda m, b: reply) as server:
        root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "yes"}\n',
                       params="params: {max_tokens: 8}\n")
        code, out, err = invoke(root, "run", "p")
        # The run's only case is an error: nothing was measured, so exit 2 naming why (after the summary).
        assert code == 2 and "ended in an error" in err and "raise max_tokens (now 8)" in err
        row = results(root)[0]
        assert row["error_kind"] == "empty_answer" and row["finish_reason"] == "length"
        assert "max_tokens" in row["error"] and "raise max_tokens" in row["error"]
        assert "empty_answer" in out
        # Not cached: the next run calls the model again.
        invoke(root, "run", "p")
        assert chat_calls(server) == 2
        db = sqlite3.connect(root / ".workbench" / "workbench.db")
        assert db.execute("SELECT count(*) FROM cache").fetchone() == (0,)


def test_a_truncated_answer_is_scored_flagged_and_not_cached(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: {"content": "yes and then", "finish_reason": "length"}) as server:
        root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "yes"}\n',
                       scorers="[contains]", params="params: {max_tokens: 3}\n")
        code, out, err = invoke(root, "run", "p")
        assert code == 0, err
        assert "1 of 1 answers were cut at max_tokens (3)" in out and "raise max_tokens" in out
        assert results(root)[0]["finish_reason"] == "length" and results(root)[0]["passed"] == 1
        code, out, _ = invoke(root, "show", "last")
        assert "pass (cut)" in out
        invoke(root, "run", "p")
        assert chat_calls(server) == 2


def test_a_tool_call_answer_is_kept_scored_by_json_match_and_shown(tmp_path: Path) -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "route", "arguments": '{"team": "billing"}'}}
    with FakeOpenAIServer(reply=lambda m, b: {"content": None, "tool_calls": [call],
                                              "finish_reason": "tool_calls"}) as server:
        root = project(tmp_path, server.base_url, "q.jsonl",
                       '{"question": "x", "expected": {"name": "route", "arguments": {"team": "billing"}}}\n',
                       scorers="[json_match]")
        code, out, err = invoke(root, "run", "p", "--json")
        assert code == 0, err
        assert json.loads(out)["passed"] == 1
        row = results(root)[0]
        assert row["finish_reason"] == "tool_calls"
        assert json.loads(row["tool_calls_json"]) == [{"name": "route", "arguments": {"team": "billing"}}]
        code, out, _ = invoke(root, "show", "last")
        assert "route" in out and "billing" in out
        # A whole answer: cached, and replayed with its tool call.
        code, out, _ = invoke(root, "run", "p", "--json")
        assert chat_calls(server) == 1 and json.loads(out)["cached"] == 1
        assert json.loads(results(root)[-1]["tool_calls_json"])[0]["name"] == "route"


def test_a_refusal_is_recorded_as_the_refusal_text(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: {"content": None, "refusal": "I can't help with that."}) as server:
        root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "yes"}\n')
        assert invoke(root, "run", "p")[0] == 0
    row = results(root)[0]
    assert row["output"] == "I can't help with that." and row["error"] is None and row["passed"] == 0


def test_a_content_filter_with_no_content_is_an_error_saying_so(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: {"content": None, "finish_reason": "content_filter"}) as server:
        root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "yes"}\n')
        code, _, err = invoke(root, "run", "p")
        assert code == 2 and "content filter" in err
    row = results(root)[0]
    assert row["error_kind"] == "empty_answer" and "content filter" in row["error"]


# Found by trying the fixes as a user: the same kinds, more places ------------------------------------------

@pytest.mark.parametrize("body", ["{{ question + 1 }}", "{{ '%d' % question }}", "{{ 1/0 }}"])
def test_a_template_that_fails_on_a_cases_values_is_one_line_exit_2(
        tmp_path: Path, server: FakeOpenAIServer, body: str) -> None:
    root = project(tmp_path, server.base_url, "q.csv", "question,expected\nx,y\n", body=body)
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0 and err.count("\n") == 1 and "Traceback" not in err
    assert "p.prompt:" in err and "case '" in err and "fails on this case's values" in err


@pytest.mark.parametrize("body", ["{{ note | upper }}x", "{{ note ~ 'x' }}", "{{ items | join(',') }}x"])
def test_a_null_is_no_text_through_any_filter(tmp_path: Path, server: FakeOpenAIServer, body: str) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl",
                   '{"note": null, "items": [1, null], "expected": "x"}\n', body=body, scorers="[json_valid]")
    assert invoke(root, "run", "p")[0] == 0
    sent = results(root)[0]["messages_json"]
    assert "None" not in sent and "NONE" not in sent


@pytest.mark.parametrize("body", ["[[system]]\nYou answer.", "\u200b{{ question }}"])
def test_a_prompt_with_no_user_message_or_only_invisible_text_is_refused(
        tmp_path: Path, server: FakeOpenAIServer, body: str) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "", "expected": "x"}\n', body=body)
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and chat_calls(server) == 0
    assert "no user message" in err or "renders empty" in err


def test_a_list_of_blank_answers_is_no_answer(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl",
                   '{"id": "a", "question": "x", "expected": [""]}\n{"id": "b", "question": "y", "expected": " "}\n')
    code, _, err = invoke(root, "run", "p")
    assert code == 2 and "case 'a' has none" in err and "'expected'" in err and "2 of 2" in err


def test_numeric_keeps_a_sign_before_a_currency_symbol(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: "$5") as server:
        root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "-$5"}\n',
                       scorers="[numeric]")
        code, out, _ = invoke(root, "run", "p", "--json")
    assert code == 0 and json.loads(out)["passed"] == 0


def test_exact_match_reads_a_whole_float_as_people_write_it(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: "3") as server:
        root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": 3.0}\n')
        code, out, _ = invoke(root, "run", "p", "--json")
    assert code == 0 and json.loads(out)["passed"] == 1


def test_an_answer_stopped_by_the_content_filter_is_flagged_and_not_cached(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: {"content": "partial answ", "finish_reason": "content_filter"}) as server:
        root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "yes"}\n')
        code, out, _ = invoke(root, "run", "p")
        assert code == 0 and "stopped by the provider's content filter" in out
        assert "fail (filtered)" in invoke(root, "show", "last")[1]
        invoke(root, "run", "p")
        assert chat_calls(server) == 2


def test_reviews_count_in_show_and_history_as_in_status(tmp_path: Path) -> None:
    from workbench.store import Store

    with FakeOpenAIServer(reply=lambda m, b: "Q: x" if "x" in m[-1]["content"] else "no") as server:
        root = project(tmp_path, server.base_url, "q.jsonl",
                       '{"id": "a", "question": "x", "expected": "Q: x"}\n'
                       '{"id": "b", "question": "y", "expected": "Q: y"}\n')
        assert invoke(root, "run", "p")[0] == 0
    store = Store(root / ".workbench" / "workbench.db")
    run = store.runs()[-1]
    store.set_review(run.version_id, "a", "bad", output="Q: x")  # a human rejects the passing answer
    store.close()
    code, out, _ = invoke(root, "show", "last", "--failures")
    assert code == 0 and "0.0% (0/2)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("a ", "b "))]
    assert [row[:3] for row in rows] == [["a", "bad", "(human)"], ["b", "fail", "0.00"]]
    history = invoke(root, "history", "p")[1]
    assert "0.0%" in history and "50.0%" not in history


def test_export_with_a_model_that_never_ran_is_refused(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "Q: x"}\n')
    assert invoke(root, "run", "p")[0] == 0
    code, _, err = invoke(root, "export", "p", "--model", "nosuch")
    assert code == 2 and "no run on model 'nosuch'" in err


def test_a_usage_error_is_one_line(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, "q.jsonl", '{"question": "x", "expected": "Q: x"}\n')
    code, _, err = invoke(root, "run", "p", "--concurrency", "0")
    assert code == 2 and err.count("\n") == 1 and "--concurrency" in err and "--help" in err
