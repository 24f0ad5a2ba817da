"""QA faults of the params check and of what params may reach the store: a secret-named key is known however
it is spelled (``Api-Key``, ``apiKey``, ``apikey``, ``"api_key "``, ``bearer``) and at any depth
(``extra_body.api_key``), an address with credentials is found inside longer text, a wrong type is named
without repeating the value, and a ``[models.NAME]`` alias refuses every secret-named key and a non-string
address, model or key variable. Each is refused with one line and exit 2, before any call, never printing
the secret."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from support.cli import refused_before_any_call
from support.openai_server import FakeOpenAIServer
from workbench.errors import ConfigError, PromptError
from workbench.project import load_settings
from workbench.prompts import parse_prompt
from workbench.records import params_fault, public_params, secret_name

SECRET = "sk-secret-123"
TOML = ("[defaults]\nmodel = \"fake\"\nconcurrency = 2\ntimeout = 5\nretries = 0\n"
        "[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base}\"\napi_key_env = \"FAKE_KEY\"\n")


def project(root: Path, base_url: str, *, scorers: str = "[exact_match]", params: str = "",
            toml: str = TOML) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(toml.replace("{base}", base_url), encoding="utf-8")
    (root / "datasets" / "q.jsonl").write_text(
        "".join(json.dumps({"id": key, "question": key, "expected": "yes"}) + "\n" for key in "ab"), encoding="utf-8")
    (root / "prompts" / "p.prompt").write_text(
        f"---\ndataset: datasets/q.jsonl\nscorers: {scorers}\n{params}---\nQ: {{{{ question }}}}\n", encoding="utf-8")
    return root


def refused_without_the_secret(root: Path, server: FakeOpenAIServer) -> tuple[str, str]:
    """``support.cli.refused_before_any_call``, the secret never printed and no run stored."""
    out, err = refused_before_any_call(root, server)
    assert SECRET not in out + err
    db = root / ".workbench" / "workbench.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            assert not conn.execute("SELECT id FROM runs").fetchall()
    return out, err


def refused_prompt(front_matter: str) -> str:
    with pytest.raises(PromptError) as caught:
        parse_prompt(f"---\n{front_matter}\n---\nQ: {{{{ q }}}}\n", "prompts/p.prompt")
    message = str(caught.value)
    assert SECRET not in message and "\n" not in message
    return message


# 1. One secret-name rule, whatever the spelling ------------------------------------------------------------

SPELLINGS = ["Api-Key", "apikey", "apiKey", "'api_key '", "bearer", "x-api-key", "accessToken", "access token",
             "clientSecret", "auth"]
LEGITIMATE = ["max_tokens", "top_k", "stop", "temperature", "logit_bias", "response_format", "seed", "tools",
              "tool_choice", "n", "presence_penalty", "frequency_penalty", "user", "reasoning_effort",
              "max_completion_tokens", "maxTokens", "max_new_tokens", "top_p", "prompt_cache_key", "extra_body",
              "api_key_env", "stop_token_ids"]


@pytest.mark.parametrize("key", SPELLINGS)
def test_a_secret_named_param_is_refused_however_it_is_spelled(key: str) -> None:
    message = refused_prompt(f"params:\n  temperature: 0\n  {key}: {SECRET}")
    assert message.startswith("prompts/p.prompt:4: params must not hold a secret (")
    assert not public_params({key.strip("'"): SECRET, "seed": 1}).keys() - {"seed"}


def test_the_secret_name_rule_keeps_every_legitimate_param() -> None:
    assert not [key for key in LEGITIMATE if secret_name(key)]
    params = dict.fromkeys(LEGITIMATE, 1)
    assert public_params(params) == params and params_fault(params) is None
    # The names refused before still are.
    assert all(secret_name(key) for key in ("api_key", "API_KEY", "Authorization", "db_password", "extra_headers",
                                            "aws_secret_access_key", "token", "vertex_credentials"))


def test_a_prompt_with_a_differently_spelled_key_never_calls_nor_stores_it(tmp_path: Path,
                                                                           server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, params=f"params: {{temperature: 0, Api-Key: {SECRET}}}\n")
    _, err = refused_without_the_secret(root, server)
    assert "prompts/p.prompt:4:" in err and "must not hold a secret ('Api-Key')" in err and "api_key_env" in err


# 2. Keys at any depth ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "path"), [
    (f"{{extra_body: {{api_key: {SECRET}}}}}", "extra_body.api_key"),
    (f"{{extra_body: {{auth: {{Authorization: 'Bearer {SECRET}'}}}}}}", "extra_body.auth"),
    (f"{{metadata: [{{note: x}}, {{x-api-key: {SECRET}}}]}}", "metadata[1].x-api-key"),
])
def test_a_secret_named_key_at_any_depth_is_refused_naming_its_path(params: str, path: str) -> None:
    message = refused_prompt(f"params: {params}")
    assert message.startswith(f"prompts/p.prompt:2: params must not hold a secret ({path!r})"), message


def test_a_nested_secret_in_a_prompts_params_is_never_stored(tmp_path: Path, server: FakeOpenAIServer) -> None:
    params = f"params:\n  temperature: 0\n  extra_body:\n    api_key: {SECRET}\n"
    root = project(tmp_path, server.base_url, params=params)
    _, err = refused_without_the_secret(root, server)
    assert "prompts/p.prompt:6:" in err and "('extra_body.api_key')" in err  # the line of extra_body
    # And what is stored of params drops a secret-named key at any depth, whatever reaches it.
    stored = public_params({"temperature": 0, "extra_body": {"api_key": SECRET, "tags": [{"Bearer": SECRET}]}})
    assert stored == {"temperature": 0, "extra_body": {"tags": [{}]}}


def test_a_nested_secret_in_an_alias_params_table_is_refused(tmp_path: Path, server: FakeOpenAIServer) -> None:
    toml = TOML + f"[models.fake.params.extra_body]\nAuthorization = \"Bearer {SECRET}\"\n"
    root = project(tmp_path, server.base_url, toml=toml)
    _, err = refused_without_the_secret(root, server)
    assert "workbench.toml: [models.fake] params must not hold a secret ('extra_body.Authorization')" in err


def test_a_judges_nested_secret_is_refused(tmp_path: Path, server: FakeOpenAIServer) -> None:
    scorers = f"\n  - llm_judge: {{rubric: r, model: fake, params: {{extra_body: {{apiKey: {SECRET}}}}}}}\n"
    root = project(tmp_path, server.base_url, scorers=scorers)
    _, err = refused_without_the_secret(root, server)
    assert "prompts/p.prompt:4:" in err
    assert "the params of scorer 'llm_judge' must not hold a secret ('extra_body.apiKey')" in err


def test_a_json_schema_property_named_like_a_secret_is_a_field_not_a_secret() -> None:
    schema = {"type": "object", "properties": {"password": {"type": "string"}, "token": {"type": "string"}},
              "$defs": {"ApiKey": {"type": "string"}}}
    params = {"response_format": {"type": "json_schema", "json_schema": {"name": "login", "schema": schema}},
              "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}]}
    assert params_fault(params) is None and public_params(params) == params
    # A value where a schema belongs is no field: still refused.
    assert params_fault({"extra_body": {"properties": {"api_key": SECRET}}}) is not None


# 3. An address with credentials inside longer text --------------------------------------------------------

@pytest.mark.parametrize("text", [f"see http://u:{SECRET}@h/ now", f"http://h/v1?next=https://u:{SECRET}@h/",
                                  f"proxy at 'http://u:{SECRET}@h.example'"])
def test_an_address_with_credentials_inside_text_is_refused(text: str) -> None:
    message = refused_prompt(f"params:\n  stop: [{json.dumps(text)}]")
    assert message.startswith("prompts/p.prompt:3: params: 'stop' holds credentials in a URL"), message


def test_text_and_addresses_without_credentials_inside_params_are_kept() -> None:
    parse_prompt("---\nparams: {stop: ['see http://h/v1 now', 'a@b c://d'], extra_body: {note: 'x:y@z'}}\n---\nQ\n",
                 "p.prompt")


# 4. A wrong type is named, never repeated ------------------------------------------------------------------

@pytest.mark.parametrize(("front_matter", "message"), [
    (f"params: 'http://u:{SECRET}@h/v1'", "params must be a mapping such as {temperature: 0, max_tokens: 20}, "
                                          "not a string"),
    (f"params: [api_key, {SECRET}]", "params must be a mapping such as {temperature: 0, max_tokens: 20}, not a list"),
    (f"defaults: {SECRET}", "defaults must be a mapping of variable defaults, not a string"),
    (f"system: [{SECRET}]", "system must be the system message (Jinja2), not a list"),
    (f"scorers: {SECRET}", "scorers must be a list such as"),
    (f"scorers: [[llm_judge, {SECRET}]]", "a scorer must be a name or a one-key mapping, not a list"),
    (f"scorers: [{{exact_match: {SECRET}}}]", "the options of scorer 'exact_match' must be a mapping, not a string"),
    (f"scorers: [{{exact_match: {{}}, api_key: {SECRET}}}]",
     "a scorer must be a one-key mapping, not one with 2 keys ('exact_match', 'api_key')"),
    (f"scorers: [{{llm_judge: {{rubric: r, params: 'http://u:{SECRET}@h/v1'}}}}]",
     "option 'params' of scorer 'llm_judge' must be a mapping, not a string"),
    (f"scorers: [{{llm_judge: {{rubric: r, params: [api_key, {SECRET}]}}}}]",
     "option 'params' of scorer 'llm_judge' must be a mapping, not a list"),
    (f"scorers: [{{llm_judge: {{rubric: [{SECRET}]}}}}]", "option 'rubric' of scorer 'llm_judge' must be a string, "
                                                          "not a list"),
    (f"scorers: [{{contains: {{value: [a, {{k: {SECRET}}}]}}}}]",
     "option 'value' of scorer 'contains' must be a string or a list of strings, not a list holding a mapping"),
])
def test_a_wrong_type_is_named_without_repeating_the_value(front_matter: str, message: str) -> None:
    assert message in refused_prompt(front_matter)


def test_a_non_mapping_params_through_the_cli_is_one_line_without_the_value(tmp_path: Path,
                                                                           server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, params=f"params: \"http://u:{SECRET}@h/v1\"\n")
    _, err = refused_without_the_secret(root, server)
    assert "prompts/p.prompt:4: params must be a mapping" in err and "not a string" in err


# 5. A model alias's own keys ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["API_KEY", "\"Api-Key\"", "token", "apiKey", "\"api_key \"", "bearer"])
def test_an_alias_refuses_every_secret_named_key(tmp_path: Path, server: FakeOpenAIServer, key: str) -> None:
    root = project(tmp_path, server.base_url, toml=TOML + f"{key} = \"{SECRET}\"\n")
    _, err = refused_without_the_secret(root, server)
    assert "workbench.toml: [models.fake] must not hold an API key (" in err and "api_key_env" in err


@pytest.mark.parametrize(("line", "message"), [
    ("api_base = 5", "[models.m] api_base must be a string, not a number"),
    ("api_base = [\"http://h/v1\"]", "[models.m] api_base must be a string, not a list"),
    ("api_key_env = 5", "[models.m] api_key_env must be a string, not a number"),
    ("api_key_env = {name = \"K\"}", "[models.m] api_key_env must be a string, not a mapping"),
    (f"API-KEY = \"{SECRET}\"", "[models.m] must not hold an API key ('API-KEY')"),
    (f"[[models.m.deployments]]\nApi_Key = \"{SECRET}\"", "[[models.m.deployments]] 1 must not hold an API key"),
    ("[[models.m.deployments]]\napi_base = 5", "[[models.m.deployments]] 1: api_base must be a string, not a number"),
    (f"[[models.m.deployments]]\nrpm = \"{SECRET}\"", "rpm must be a whole number: it is text that is not a number"),
    ("api_bse = \"http://h/v1\"", "[models.m] has an unknown key 'api_bse'"),
    ("price = 3", "[models.m] has an unknown key 'price'"),
    (f"api_key_env = \"{SECRET}\"", "[models.m] api_key_env must be the name of an environment variable"),
    (f"[[models.m.deployments]]\napi_key_env = \"{SECRET}\"",
     "[models.m] api_key_env must be the name of an environment variable"),
])
def test_an_alias_with_a_wrong_key_or_type_is_refused_when_settings_load(tmp_path: Path, line: str,
                                                                         message: str) -> None:
    (tmp_path / "workbench.toml").write_text(f"[models.m]\nmodel = \"openai/m\"\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    assert message in str(caught.value) and SECRET not in str(caught.value), str(caught.value)


def test_a_non_string_api_base_is_one_line_through_the_cli(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project(tmp_path, server.base_url, toml=TOML.replace("api_base = \"{base}\"", "api_base = 5"))
    _, err = refused_without_the_secret(root, server)
    assert "workbench.toml: [models.fake] api_base must be a string, not a number" in err


def test_every_key_an_alias_may_set_loads(tmp_path: Path) -> None:
    (tmp_path / "workbench.toml").write_text(
        "[models.m]\nmodel = \"openai/m\"\napi_base = \"http://h/v1\"\napi_key_env = \"M_KEY_2\"\n"
        "params = {temperature = 0}\n[[models.m.deployments]]\nname = \"a\"\napi_key_env = \"_OTHER\"\n",
        encoding="utf-8")
    assert set(load_settings(tmp_path, env={}).models["m"]) == {"model", "api_base", "api_key_env", "params",
                                                              "deployments"}


# Second QA pass: what the rule must not refuse, and settings errors --------------------------------------

@pytest.mark.parametrize("params", [
    {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002},
    {"extra_body": {"chat_template_kwargs": {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}}},
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "properties": {"token": True, "password": {"type": "string", "default": {"token": ""},
                                                                     "examples": [{"token": "abc"}]}},
        "dependentRequired": {"password": ["user"]}}}}},
    {"stop": ["https://mastodon.social:443/@user", "http://localhost:8080/search?email=a@b.com"]},
])
def test_legitimate_params_that_look_like_secrets_are_kept(params: dict) -> None:
    assert params_fault(params) is None
    assert public_params(params) == params


@pytest.mark.parametrize("address", ["http://alice:Xy9SuperSecretPart#Tail@127.0.0.1:9/v1",
                                     "http://u:p#ss/w0rdSecretPart@127.0.0.1:9/v1"])
def test_an_api_base_whose_password_ends_the_address_is_refused_without_a_piece_of_it(
        tmp_path: Path, server: FakeOpenAIServer, address: str) -> None:
    # The HTTP client would read part of the password as host:port, quote it in its error, and retry.
    root = project(tmp_path, server.base_url, toml=TOML.replace("api_base = \"{base}\"", f"api_base = \"{address}\""))
    _, err = refused_without_the_secret(root, server)
    assert "[models.fake] api_base: its user:password@ holds '#', '/' or '?'" in err
    assert "SecretPart" not in err and "p#ss" not in err


@pytest.mark.parametrize(("text", "message"), [
    ("defaults = 5", "[defaults] must be a table, not a number"),
    ("plateau = \"x\"", "[plateau] must be a table, not a string"),
    ("ui = 5", "[ui] must be a table, not a number"),
    (f"[defaults]\nretries = \"{SECRET}\"",
     "[defaults] retries must be a whole number: it is text that is not a number"),
    ("[ui]\ntheme = 5", "[ui] theme must be a string, not a number"),
    (f"[costs]\nlocal_usd_per_hour = \"{SECRET}\"",
     "[costs] local_usd_per_hour must be a number: it is text that is not a number"),
])
def test_a_settings_section_or_value_of_the_wrong_type_is_named_without_its_value(tmp_path: Path, text: str,
                                                                                   message: str) -> None:
    (tmp_path / "workbench.toml").write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    assert message in str(caught.value) and SECRET not in str(caught.value), str(caught.value)


def test_an_environment_setting_of_the_wrong_type_is_named_without_its_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={"WORKBENCH_TIMEOUT": SECRET})
    assert "WORKBENCH_TIMEOUT must be a number: it is text that is not a number" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(("front_matter", "message"), [
    ("params: {temperature: .inf}", "params temperature must be a finite number, not inf"),
    ("params: {extra_body: {top_k: [1, .nan]}}", "params extra_body.top_k[1] must be a finite number, not nan"),
    ("scorers: [{llm_judge: {rubric: r, params: {temperature: -.inf}}}]",
     "the params of scorer 'llm_judge' temperature must be a finite number, not -inf"),
])
def test_an_infinity_or_nan_in_a_prompts_or_judges_params_is_refused(front_matter: str, message: str) -> None:
    # The one params check (records.params_fault) refuses them for prompts and judges as for aliases:
    # a request is JSON, which has no infinity or NaN, so every call would fail.
    shown = refused_prompt(front_matter)
    assert message in shown and "write a finite number" in shown, shown
