"""QA faults of bad input, through the CLI against the loopback server: a scorer that raises or returns no
score is the case's error (never the model's failure), params the workbench sets itself and credentials in
an api_base are refused at load (and never printed), and a --fail-under or test-set value that is no number
is refused with one line and exit 2."""

from __future__ import annotations

import ast
import base64
import json
import math
import sqlite3
from pathlib import Path

import pytest

from support.cli import invoke, one_line_error, refused_before_any_call
from support.openai_server import FakeOpenAIServer
from workbench.cases import load_cases
from workbench.errors import CasesError, PromptError
from workbench.prompts import parse_prompt

TOML = ("[defaults]\nmodel = \"fake\"\nconcurrency = 2\ntimeout = 5\nretries = 0\n"
        "[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base}\"\napi_key_env = \"FAKE_KEY\"\n")
QUESTIONS = [("a", "is it even?"), ("b", "is it odd?"), ("c", "is it even too?"), ("d", "odd again?")]


def project(root: Path, base_url: str, *, scorers: str = "[exact_match]", params: str = "",
            data: str | None = None, toml: str = TOML) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(toml.format(base=base_url), encoding="utf-8")
    if data is None:
        data = "".join(json.dumps({"id": key, "question": q, "expected": "yes"}) + "\n" for key, q in QUESTIONS)
    (root / "datasets" / "q.jsonl").write_text(data, encoding="utf-8")
    (root / "prompts" / "p.prompt").write_text(
        f"---\ndataset: datasets/q.jsonl\nscorers: {scorers}\n{params}---\nQ: {{{{ question }}}}\n", encoding="utf-8")
    return root


def answer(messages: list[dict], body: dict) -> str:
    return "no" if "odd" in messages[-1]["content"] else "yes"


def chat_calls(server: FakeOpenAIServer) -> int:
    return sum(1 for r in server.requests if r["path"].endswith("/chat/completions"))


def rows(root: Path, sql: str) -> list[dict]:
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute(sql)]
    finally:
        db.close()


# 1. A scorer that raises or returns no score is the case's error ------------------------------------------

MYSCORE = """
def boom(output):
    if output.strip() == "no":
        raise ValueError("cannot read " + output)
    return True


def nonsense(output):
    return {'nonsense': 1}
"""


def test_a_python_scorer_that_raises_is_the_cases_error_and_is_scored_again_next_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer) as server:
        root = project(tmp_path, server.base_url, scorers="[{python: {function: myscore:boom}}]")
        (root / "myscore.py").write_text(MYSCORE, encoding="utf-8")
        code, out, err = invoke(root, "run", "p", "--json")
        assert code == 0, err
        summary = json.loads(out)
        # The two "no" answers were not scored: errors, not the model's failures.
        assert (summary["passed"], summary["errors"], summary["completed"]) == (2, 2, 4)
        got = rows(root, "SELECT case_id, verdict, error, error_kind FROM results_view ORDER BY case_id")
        errored = [row for row in got if row["error_kind"] == "scorer_error"]
        assert [row["case_id"] for row in errored] == ["b", "d"]
        assert all(row["verdict"] == "error" for row in errored)
        assert "myscore:boom raised ValueError: cannot read no" in errored[0]["error"]
        assert rows(root, "SELECT count(*) AS n FROM scores s JOIN results r ON r.id = s.result_id "
                          "WHERE r.error IS NOT NULL")[0]["n"] == 0
        # Fixed, the next run scores those answers again (from the cache: no new call).
        calls = chat_calls(server)
        (root / "myscore.py").write_text("def boom(output):\n    return output.strip() == 'yes'\n", encoding="utf-8")
        code, out, err = invoke(root, "run", "p", "--json")
        assert code == 0, err
        again = json.loads(out)
        assert (again["passed"], again["errors"], again["completed"]) == (2, 0, 4)
        assert chat_calls(server) == calls


def test_a_python_scorer_that_returns_no_score_errors_every_case_and_the_run_exits_2(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer) as server:
        root = project(tmp_path, server.base_url, scorers="[{python: {function: myscore:nonsense}}]")
        (root / "myscore.py").write_text(MYSCORE, encoding="utf-8")
        code, _, err = invoke(root, "run", "p")
    last = err.splitlines()[-1]  # after the progress lines
    one_line_error(code, last + "\n")
    assert "every case" in last and "myscore:nonsense returned {'nonsense': 1}" in last
    assert "every case" in err and "myscore:nonsense returned {'nonsense': 1}" in err
    kinds = rows(root, "SELECT error_kind FROM results")
    assert [row["error_kind"] for row in kinds] == ["scorer_error"] * 4


# 2. Params the workbench sets itself, and credentials in an api_base --------------------------------------

@pytest.mark.parametrize("param", ["timeout: 30", "model: gpt-4o", "messages: []", "stream: true", "num_retries: 3",
                                  "max_retries: 3", "api_base: http://127.0.0.1:9/v1"])
def test_a_param_the_workbench_passes_itself_is_refused_at_load_naming_its_line(
        tmp_path: Path, server: FakeOpenAIServer, param: str) -> None:
    root = project(tmp_path, server.base_url, params=f"params:\n  temperature: 0\n  {param}\n")
    _, err = refused_before_any_call(root, server)
    # The front matter starts on line 2 (dataset, scorers, params:, temperature, then the key): line 6.
    key = param.split(":")[0]
    assert "prompts/p.prompt:6:" in err and f"must not set {key!r}" in err
    assert "multiple values" not in err and "(" in err  # what to do, in the hint


def test_the_reserved_params_cover_every_keyword_the_client_passes_to_litellm() -> None:
    from workbench.records import RESERVED_PARAMS

    # Read from the client's source, so a keyword it starts passing is refused in params too.
    source = (Path(__file__).parents[2] / "workbench" / "providers" / "client.py").read_text(encoding="utf-8")
    passed: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "acompletion":
            passed |= {keyword.arg for keyword in node.keywords if keyword.arg}
    assert {"model", "messages", "timeout"} <= passed
    call_kwargs = {"api_base", "api_key"}  # ResolvedModel.call_kwargs: api_key is refused as a secret
    assert passed | call_kwargs - {"api_key"} <= set(RESERVED_PARAMS)


@pytest.mark.parametrize(("option", "fragment"), [
    ("timeout: 3", "the params of scorer 'llm_judge' must not set 'timeout'"),
    ("stream: true", "the params of scorer 'llm_judge' must not set 'stream'"),
    ("api_key: sk-secret-123", "the params of scorer 'llm_judge' must not hold a secret ('api_key')"),
    ("api_base: 'http://u:sk-secret-123@h/v1'", "the params of scorer 'llm_judge': 'api_base' holds credentials"),
])
def test_a_judges_params_are_checked_like_the_prompts(tmp_path: Path, server: FakeOpenAIServer, option: str,
                                                       fragment: str) -> None:
    scorers = f"\n  - exact_match\n  - llm_judge: {{rubric: 'is it right?', model: fake, params: {{{option}}}}}\n"
    root = project(tmp_path, server.base_url, scorers=scorers)
    out, err = refused_before_any_call(root, server)
    assert "prompts/p.prompt:5:" in err and fragment in err and "sk-secret-123" not in out + err


@pytest.mark.parametrize("url", ["http://user:sk-secret-123@127.0.0.1:9/v1", "https://h.example/v1?key=sk-secret-123",
                                 "https://h.example/v1?api-key=sk-secret-123"])
def test_an_api_base_with_credentials_in_params_is_refused_without_repeating_it(
        tmp_path: Path, server: FakeOpenAIServer, url: str) -> None:
    root = project(tmp_path, server.base_url, params=f"params: {{temperature: 0, api_base: '{url}'}}\n")
    out, err = refused_before_any_call(root, server)
    assert "prompts/p.prompt:4:" in err and "credentials" in err and "api_key_env" in err
    assert "sk-secret-123" not in err + out
    assert not (root / ".workbench" / "workbench.db").exists() or not rows(
        root, "SELECT id FROM runs WHERE params_json LIKE '%sk-secret%'")


def test_a_credential_in_any_url_inside_params_is_refused_at_load(tmp_path: Path) -> None:
    text = "---\nparams:\n  extra_body:\n    proxy: http://u:sk-secret-123@proxy.example\n---\nQ: {{ q }}\n"
    with pytest.raises(PromptError) as caught:
        parse_prompt(text, "prompts/p.prompt")
    assert str(caught.value).startswith("prompts/p.prompt:3: params: 'extra_body' holds credentials")
    assert "sk-secret-123" not in str(caught.value)
    # An address without credentials, and text that is no address, are still fine.
    parse_prompt("---\nparams: {stop: ['//[', 'a@b'], extra_body: {url: 'http://h/v1?x=1'}}\n---\nQ\n", "p.prompt")


@pytest.mark.parametrize(("params", "fragment", "hint"), [
    ("{timeout = 3}", "[models.fake] params must not set 'timeout'", "[defaults]"),
    ("{temperature = 0, api_key = \"sk-secret-123\"}", "[models.fake] params must not hold a secret ('api_key')",
     "api_key_env"),
    ("{extra_body = {proxy = \"http://u:sk-secret-123@proxy.example\"}}",
     "[models.fake] params: 'extra_body' holds credentials in a URL (user:password@)", "api_base"),
    ("{api_base = \"http://127.0.0.1:9/v1\"}", "[models.fake] params must not set 'api_base'",
     "use the alias's own api_base key"),
    ("{model = \"gpt-4o\"}", "[models.fake] params must not set 'model'", "its own 'model' key"),
])
def test_a_model_alias_params_are_checked_like_a_prompts_when_workbench_toml_is_loaded(
        tmp_path: Path, server: FakeOpenAIServer, params: str, fragment: str, hint: str) -> None:
    # Merged under every call's params of the alias (registry.resolve_model): timeout made each call fail with
    # "got multiple values for keyword argument", and a key would have been sent and stored.
    toml = TOML + "params = " + params.replace("{", "{{").replace("}", "}}") + "\n"
    root = project(tmp_path, server.base_url, toml=toml)
    out, err = refused_before_any_call(root, server)
    assert err.startswith("error: ") and "workbench.toml: " in err and fragment in err, err
    assert hint in err.rsplit(" (", 1)[1]  # what to do, in the hint
    assert "sk-secret-123" not in out + err and "multiple values" not in err
    assert not (root / ".workbench" / "workbench.db").exists() or not rows(root, "SELECT id FROM runs")


def test_every_reserved_param_and_a_non_table_is_refused_in_an_alias(tmp_path: Path) -> None:
    from workbench.errors import ConfigError
    from workbench.project import load_settings
    from workbench.records import RESERVED_PARAMS

    for value in [*(f"{{{key} = 1}}" for key in RESERVED_PARAMS), "3", "{authorization = 'Bearer x'}"]:
        (tmp_path / "workbench.toml").write_text(f"[models.m]\nmodel = \"openai/m\"\nparams = {value}\n",
                                                 encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_settings(tmp_path, env={})
        assert str(caught.value).startswith(f"{tmp_path / 'workbench.toml'}: [models.m] params "), value
    (tmp_path / "workbench.toml").write_text("[models.m]\nmodel = \"openai/m\"\nparams = {temperature = 0, "
                                             "max_tokens = 5, stop = ['a@b']}\n", encoding="utf-8")
    assert load_settings(tmp_path, env={}).models["m"]["params"]["max_tokens"] == 5


def test_a_stored_address_is_restored_only_from_one_configured_that_redacts_the_same() -> None:
    from workbench.errors import ConfigError
    from workbench.records import redact_url, restore_url

    url = "http://user:sk-secret-123@127.0.0.1:9/v1"
    stored = redact_url(url)
    assert restore_url(stored, [None, "http://other:sk-x@127.0.0.1:9/v1x", url], what="w", hint="h") == url
    assert restore_url("http://127.0.0.1:9/v1", [], what="w", hint="h") == "http://127.0.0.1:9/v1"
    assert restore_url(None, [url], what="w", hint="h") is None
    with pytest.raises(ConfigError) as caught:
        restore_url(stored, ["http://127.0.0.1:9/v1"], what="batch 1", hint="define it again")
    assert str(caught.value) == ("batch 1 was sent to http://***@127.0.0.1:9/v1, whose credentials were never "
                                 "stored (define it again)")
    query = "https://h.example/v1?api-key=sk-secret-123&v=2"
    assert restore_url(redact_url(query), [query], what="w", hint="h") == query


def test_workbench_models_redacts_an_aliases_api_base_and_deployment_label(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "workbench.toml").write_text(
        "[models.srv]\nmodel = \"openai/m\"\napi_base = \"http://user:sk-secret-123@127.0.0.1:9/v1\"\n"
        "[models.fast]\nmodel = \"openai/m\"\n[[models.fast.deployments]]\n"
        "api_base = \"https://proxy:sk-secret-789@h.example/v1\"\n", encoding="utf-8")
    code, out, err = invoke(tmp_path, "models")
    assert code == 0, err
    assert "sk-secret" not in out + err
    assert "http://***@127.0.0.1:9/v1" in out and "https://***@h.example/v1" in out
    # An api_base with a query string (?api-key=...) is refused when workbench.toml is read
    # (test_setting_ranges_cli.py): the client would add /chat/completions after the query.
    # An address without credentials is printed as written.
    from workbench.records import redact_url

    assert redact_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


# 3. A --fail-under or a test-set value that is no number --------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "-1", "inf", "101", "-inf"])
def test_a_fail_under_that_could_never_fail_is_refused(tmp_path: Path, server: FakeOpenAIServer, value: str) -> None:
    root = project(tmp_path, server.base_url)
    code, _, err = invoke(root, "run", "p", "--fail-under", value)
    one_line_error(code, err)
    assert "--fail-under" in err and "from 0 to 1" in err
    assert chat_calls(server) == 0


@pytest.mark.parametrize(("value", "code"), [("1", 1), ("100", 1), ("0.5", 0), ("50", 0), ("0", 0)])
def test_the_documented_fail_under_values_keep_their_meaning(tmp_path: Path, value: str, code: int) -> None:
    # Half the cases pass: 1 and 100 both mean 100%, 0.5 and 50 both 50%.
    with FakeOpenAIServer(reply=answer) as server:
        root = project(tmp_path, server.base_url)
        got, _, err = invoke(root, "run", "p", "--fail-under", value)
    assert got == code, err


@pytest.mark.parametrize(("cell", "shown"), [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"),
                                             ("1e999", "Infinity")])
def test_a_jsonl_value_that_is_no_number_is_refused_naming_file_line_and_column(
        tmp_path: Path, server: FakeOpenAIServer, cell: str, shown: str) -> None:
    data = ('{"id": "a", "question": "q1", "expected": "yes"}\n'
            f'{{"id": "b", "question": "q2", "review": {cell}, "expected": "yes"}}\n')
    root = project(tmp_path, server.base_url, data=data)
    code, _, err = invoke(root, "run", "p")
    one_line_error(code, err)
    assert "datasets/q.jsonl:2:" in err and f"column 'review' holds {shown}" in err
    assert chat_calls(server) == 0


def test_a_non_finite_value_nested_or_in_a_json_test_set_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text('[{"question": "q1"}, {"question": "q2", "meta": {"scores": [1, NaN]}}]', encoding="utf-8")
    with pytest.raises(CasesError) as caught:
        load_cases(path)
    assert str(caught.value).startswith(f"{path}:2: column 'meta' holds NaN at scores[1]")


def test_a_parquet_gap_is_a_null_value_and_every_stored_case_is_valid_json(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "q.parquet"
    pq.write_table(pa.table({"question": ["q1", "q2"], "score": [0.5, float("nan")]}), path)
    cases = load_cases(path)
    assert cases[1].vars["score"] is None and cases[0].vars["score"] == 0.5
    for case in cases:
        json.loads(json.dumps(case.vars, allow_nan=False))
    assert not any(isinstance(v, float) and math.isnan(v) for case in cases for v in case.vars.values())


def test_finetune_json_prints_a_model_json_api_base_redacted() -> None:
    from workbench.cli.finetune import _shown

    info = {"name": "m", "api_base": "http://u:sk-secret-123@127.0.0.1:9/v1", "status": "succeeded"}
    assert _shown(info) == {**info, "api_base": "http://***@127.0.0.1:9/v1"}
    assert _shown({"name": "m"}) == {"name": "m"}


def test_a_provider_error_quoting_an_address_with_credentials_is_stored_and_shown_redacted(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    # A proxy's error that quotes the upstream address it failed to reach, credentials and all.
    def reply(messages: list[dict], body: dict) -> str:
        raise RuntimeError("upstream http://user:sk-secret-123@10.0.0.1/v1 refused; see https://h.example/s?key=sk-secret-456")

    server.reply = reply
    toml = TOML + ("[models.closed]\nmodel = \"openai/fake-model\"\napi_base = \"http://user:sk-secret-789@127.0.0.1:9/v1\"\n"
                   "api_key_env = \"FAKE_KEY\"\n")
    root = project(tmp_path, server.base_url, toml=toml)
    outputs = [invoke(root, "run", "p"), invoke(root, "run", "p", "--model", "closed", "--no-cache"),
               invoke(root, "show", "last", "--json")]
    errors = [row["error"] for row in rows(root, "SELECT error FROM results")]
    assert errors and all(errors)
    assert any("http://***@10.0.0.1/v1" in error for error in errors)
    shown = " ".join(out + err for _, out, err in outputs) + " ".join(errors)
    assert "sk-secret" not in shown
    db = b"".join(path.read_bytes() for path in (root / ".workbench").glob("workbench.db*"))
    assert b"sk-secret" not in db


def test_an_alias_whose_api_base_carries_credentials_is_called_and_never_stored(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    # A proxy that wants user:password@ in the address: the call goes through the wire transport, which sends
    # the credentials as the HTTP client made them (an Authorization header), never in the request line.
    address = server.base_url.replace("http://", "http://user:sk-secret-123@")
    toml = TOML.replace('api_base = "{base}"', f'api_base = "{address}"')
    root = project(tmp_path, server.base_url, toml=toml)
    code, out, err = invoke(root, "run", "p", "--json")
    assert code == 0, err
    assert [row["error"] for row in rows(root, "SELECT error FROM results")] == [None] * len(QUESTIONS)
    assert chat_calls(server) == len(QUESTIONS)
    # As httpx's own transport: the client turns user:password@ into Basic auth (which replaces the key's).
    basic = "Basic " + base64.b64encode(b"user:sk-secret-123").decode()
    assert {r["headers"].get("Authorization") for r in server.requests} == {basic}
    assert "sk-secret" not in out + err
    assert all("sk-secret" not in request["path"] for request in server.requests)
    db = b"".join(path.read_bytes() for path in (root / ".workbench").glob("workbench.db*"))
    assert b"sk-secret" not in db


# A version's run, as compare picks it: one that measured something, on the other side's model -----------------

def test_compare_of_versions_skips_a_run_that_only_measured_errors_and_prefers_the_same_model(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url)
    assert invoke(root, "run", "p")[0] == 0  # v1: run 1
    prompt = root / "prompts" / "p.prompt"
    prompt.write_text(prompt.read_text(encoding="utf-8").replace("Q: ", "Question: "), encoding="utf-8")
    assert invoke(root, "run", "p")[0] == 0  # v2: run 2, measured
    assert invoke(root, "run", "p", "--model", "echo")[0] in (0, 1)  # v2: run 3, another model
    server.failures = lambda index, body: "500"
    assert invoke(root, "run", "p", "--no-cache")[0] == 2  # v2: run 4, every case an error
    code, out, err = invoke(root, "compare", "p@v1", "p@v2", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["a"]["label"], shown["b"]["label"]) == ("p@v1 (run 1, fake)", "p@v2 (run 2, fake)")
    assert shown["b"]["errors"] == 0


@pytest.mark.parametrize(("env", "message"), [
    ("WORKBENCH_TIMEOUT", "WORKBENCH_TIMEOUT must be a number of seconds above 0"),
    ("WORKBENCH_RETRIES", "WORKBENCH_RETRIES must be 0 or more")])
def test_a_timeout_or_retries_that_cannot_work_is_refused_before_any_call(
        tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, env: str, message: str) -> None:
    monkeypatch.setenv(env, "-5")
    root = project(tmp_path, server.base_url)
    _, err = refused_before_any_call(root, server)
    assert message in err
