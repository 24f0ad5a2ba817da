"""Tuned local models as GGUF: the writer (tensor names, the q/k row permutation, metadata kept from the base
file), the registry and ``workbench models`` (which runtime serves each model), the Ollama export, and, on a
real fine-tune, llama.cpp answering as the transformers model does."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.cli import invoke
from workbench.providers import local
from workbench.providers.tuned import read_model

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("llama_cpp")

TINY = {"block_count": 2, "embedding_length": 64, "feed_forward_length": 128, "attention.head_count": 4,
        "attention.head_count_kv": 2, "rope.dimension_count": 16, "context_length": 256}
"""A two-block llama with SmolLM2's vocabulary: the bundled file's tokenizer and template fit it."""
TOKENS = [1, 504, 3458, 314, 4193, 30, 1095, 22, 260, 1234, 5000, 42, 77, 9000, 31, 12]


def tiny_model(tied: bool = True) -> Any:
    """A random two-block llama; q and k weights scaled up so attention is sharp and their row order matters."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                         tie_word_embeddings=tied, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.normal_(0, 0.5)
            layer.self_attn.k_proj.weight.normal_(0, 0.5)
    return model


@pytest.fixture(scope="module")
def bundled() -> dict[str, Any]:
    """The bundled GGUF's metadata as the writer reads it."""
    from workbench.finetune.gguf_writer import read_base

    return read_base(local.bundled_gguf())


@pytest.fixture(scope="module")
def tiny_base(bundled: dict[str, Any]) -> dict[str, Any]:
    """The bundled metadata with the tiny model's hyper-parameters in place of SmolLM2's."""
    base = copy.deepcopy(bundled)
    for key, value in TINY.items():
        _, kind, sub = base["fields"][f"llama.{key}"]
        base["fields"][f"llama.{key}"] = (value, kind, sub)
    return base


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory, tiny_base: dict[str, Any]) -> dict[str, Path]:
    """The tiny model written as F32, F16 and Q8_0."""
    from workbench.finetune.gguf_writer import gguf_tensors, write_gguf

    folder = tmp_path_factory.mktemp("tiny")
    tensors = gguf_tensors(tiny_model(), tiny_base)
    return {qtype: write_gguf(tensors, tiny_base, folder / f"tiny.{qtype}.gguf", name="tiny", qtype=qtype).path
            for qtype in ("F32", "F16", "Q8_0")}


@pytest.fixture(autouse=True)
def _no_leaked_registrations() -> Iterator[None]:
    before = dict(local._registered)
    yield
    local._registered.clear()
    local._registered.update(before)


def llama(path: Path, **options: Any) -> Any:
    from llama_cpp import Llama

    local.quiet_llama()
    return Llama(model_path=str(path), verbose=False, **{"n_ctx": 256, **options})


# -- the writer ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tensor_names_follow_gguf_and_a_tied_output_is_not_written(tiny_base: dict[str, Any]) -> None:
    from workbench.finetune.gguf_writer import gguf_tensors

    per_block = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "attn_norm",
                 "ffn_norm")
    expected = {"token_embd.weight", "output_norm.weight"} | {
        f"blk.{block}.{part}.weight" for block in range(2) for part in per_block}
    tied = gguf_tensors(tiny_model(tied=True), tiny_base)
    assert {name for name, _ in tied} == expected and len(tied) == len(expected)
    assert "output.weight" not in tiny_base["tensors"]  # SmolLM2 ties its output to token_embd
    untied = dict(gguf_tensors(tiny_model(tied=False), tiny_base))
    assert set(untied) == expected | {"output.weight"} and untied["output.weight"].shape == (49152, 64)


def test_the_qk_permutation_is_what_transformers_undoes() -> None:
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from workbench.finetune.gguf_writer import permute_qk

    undo = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((9 * 64, 576)), rng.standard_normal((3 * 64, 576))
    for weights, kv_heads in ((q, 9), (k, 3)):
        permuted = permute_qk(weights, 9, kv_heads)
        assert not np.array_equal(permuted, weights)
        assert np.array_equal(undo._reverse_permute_weights(permuted, 9, kv_heads), weights)
        # Within a head, GGUF interleaves the two rotary halves: row 1 is the first row of the second half.
        assert np.array_equal(permuted[1], weights[32]) and np.array_equal(permuted[2], weights[1])
    # And through the processor transformers runs on every tensor of a GGUF it loads:
    assert np.array_equal(undo.process(permute_qk(k, 9, 3), "blk.0.attn_k.weight").weights, k)


@pytest.mark.slow
def test_llama_cpp_computes_the_same_logits_as_transformers(tiny_files: dict[str, Path],
                                                            tiny_base: dict[str, Any], tmp_path: Path) -> None:
    from workbench.finetune.gguf_writer import gguf_tensors, write_gguf

    with torch.no_grad():
        expected = tiny_model()(torch.tensor([TOKENS])).logits[0].numpy()

    def logits(path: Path) -> Any:
        model = llama(path, n_ctx=64, logits_all=True)
        try:
            model.eval(TOKENS)
            return np.array(model.scores[:len(TOKENS)])
        finally:
            model.close()

    exact = logits(tiny_files["F32"])
    assert np.abs(exact - expected).max() < 0.02 and (exact.argmax(1) == expected.argmax(1)).all()
    half = logits(tiny_files["F16"])
    assert np.abs(half - expected).max() < 0.05
    # The check has teeth: the same weights without the q/k permutation compute something else.
    import transformers.modeling_gguf_pytorch_utils as hf

    undo = hf.LlamaTensorProcessor(config={"num_attention_heads": 4, "num_key_value_heads": 2})
    unpermuted = [(name, undo.process(array, name).weights) for name, array in gguf_tensors(tiny_model(), tiny_base)]
    wrong = logits(write_gguf(unpermuted, tiny_base, tmp_path / "wrong.gguf", name="wrong", qtype="F32").path)
    assert np.abs(wrong - expected).max() > 0.3


@pytest.mark.slow
def test_the_served_file_is_chosen_by_its_answers(tiny_files: dict[str, Path], tiny_base: dict[str, Any],
                                                  tmp_path: Path) -> None:
    import transformers.modeling_gguf_pytorch_utils as hf
    from transformers import AutoTokenizer

    from workbench.finetune.gguf_check import choose_served
    from workbench.finetune.gguf_writer import gguf_tensors, write_gguf

    bundled_file = local.bundled_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_file.parent), gguf_file=bundled_file.name)
    examples = [[{"role": "user", "content": f"ticket {i}: my card never arrived"},
                 {"role": "assistant", "content": "card_arrival"}] for i in range(20)]
    model = tiny_model()
    chosen, record = choose_served(model, tokenizer, {"F16": tiny_files["F16"], "F32": tiny_files["F32"]},
                                   examples, ("F16",), "F32")
    assert chosen == "F16" and record["prompts"] == 20 and record["same_answers"] == {"F16": 20}
    # A file that answers otherwise (here: q/k rows left in transformers' order) is not served.
    undo = hf.LlamaTensorProcessor(config={"num_attention_heads": 4, "num_key_value_heads": 2})
    wrong = write_gguf([(name, undo.process(array, name).weights) for name, array in gguf_tensors(model, tiny_base)],
                       tiny_base, tmp_path / "wrong.gguf", name="wrong", qtype="F32").path
    chosen, record = choose_served(model, tokenizer, {"Q8_0": wrong, "F32": tiny_files["F32"]}, examples,
                                   ("Q8_0",), "F32")
    assert chosen == "F32" and record["same_answers"]["Q8_0"] < 20 and record["same_answers"]["F32"] == 20
    # Agreement on too few prompts shows little: the faithful file is served, every file still measured.
    chosen, record = choose_served(model, tokenizer, {"F16": tiny_files["F16"], "F32": tiny_files["F32"]},
                                   examples[:8], ("F16",), "F32")
    assert chosen == "F32" and record["same_answers"] == {"F16": 8, "F32": 8} and "fewer than 20" in record["note"]
    assert choose_served(model, tokenizer, {"F32": tiny_files["F32"]}, [], ("Q8_0",), "F32")[0] == "F32"


@pytest.mark.slow
def test_metadata_round_trips_with_the_tuned_name(tiny_files: dict[str, Path], bundled: dict[str, Any]) -> None:
    from gguf import GGMLQuantizationType, GGUFReader, LlamaFileType

    for qtype, file_type in (("F16", LlamaFileType.MOSTLY_F16), ("Q8_0", LlamaFileType.MOSTLY_Q8_0)):
        reader = GGUFReader(str(tiny_files[qtype]))

        def value(key: str, reader: Any = reader) -> Any:
            return reader.get_field(key).contents()

        assert value("general.architecture") == "llama" and value("general.name") == "tiny"
        assert value("general.file_type") == file_type
        for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.chat_template",
                    "tokenizer.ggml.eos_token_id", "tokenizer.ggml.model", "llama.rope.freq_base"):
            assert value(key) == bundled["fields"][key][0], key
        assert "<|im_start|>" in value("tokenizer.chat_template")
        assert value("llama.block_count") == 2 and value("llama.attention.head_count_kv") == 2
        types = {tensor.name: tensor.tensor_type for tensor in reader.tensors}
        assert types["output_norm.weight"] == GGMLQuantizationType.F32  # 1-D tensors stay float32
        assert types["blk.0.attn_q.weight"] == GGMLQuantizationType[qtype]
        assert types["token_embd.weight"] == GGMLQuantizationType[qtype] and "output.weight" not in types
        assert not any(field.startswith("GGUF.") and field not in ("GGUF.version", "GGUF.tensor_count",
                                                                   "GGUF.kv_count") for field in reader.fields)


def test_unsupported_models_are_refused_in_one_line(tiny_base: dict[str, Any], tmp_path: Path,
                                                    bundled: dict[str, Any]) -> None:
    from workbench.finetune.gguf_writer import GGUFWriteError, gguf_tensors, write_gguf

    with pytest.raises(GGUFWriteError, match=r"block_count \(2\) differs from the base GGUF's \(30\)"):
        gguf_tensors(tiny_model(), bundled)
    other = copy.deepcopy(tiny_base)
    other["fields"]["general.architecture"] = ("qwen2", *other["fields"]["general.architecture"][1:])
    with pytest.raises(GGUFWriteError, match="no GGUF writer for the qwen2 architecture"):
        gguf_tensors(tiny_model(), other)
    with pytest.raises(GGUFWriteError, match="unknown GGUF type 'Q3_K'"):
        write_gguf([], tiny_base, tmp_path / "x.gguf", name="x", qtype="Q3_K")


# -- the registry, `workbench models` and the Ollama export ----------------------------------------------------


def tuned_folder(models_dir: Path, name: str, gguf: Path | None, **info: Any) -> Path:
    """A tuned model's folder: its GGUF (a copy of ``gguf``) as the served file, or a transformers stand-in."""
    folder = models_dir / name
    folder.mkdir(parents=True)
    entries: dict[str, Any] = {"name": name, "base": "local/smollm2", "method": "lora", "status": "completed"}
    if gguf is not None:
        served = f"{name}.F16.gguf"
        shutil.copyfile(gguf, folder / served)
        entries |= {"backend": "gguf", "runtime": "llama.cpp", "gguf": {
            "served": served, "served_type": "F16", "files": {"F16": {"file": served}}}}
    else:
        (folder / "config.json").write_text("{}", encoding="utf-8")
        (folder / "model.safetensors").write_bytes(b"\0" * 3_000_000)
        entries |= {"backend": "transformers"}
    (folder / "model.json").write_text(json.dumps(entries | info), encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path, tiny_files: dict[str, Path]) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "workbench.toml").write_text('[defaults]\nmodel = "local/smollm2"\n', encoding="utf-8")
    models_dir = root / ".workbench" / "models"
    tuned_folder(models_dir, "tiny", tiny_files["F16"])
    tuned_folder(models_dir, "old", None)
    tuned_folder(models_dir, "hosted-1", None, backend="hosted", provider="openai",
                 provider_model="ft:gpt-4.1-mini:x", litellm_model="openai/ft:gpt-4.1-mini:x")
    return root


def test_a_tuned_model_runs_its_gguf_and_an_old_folder_falls_back(project: Path) -> None:
    models_dir = project / ".workbench" / "models"
    tiny, old = read_model(models_dir / "tiny"), read_model(models_dir / "old")
    assert tiny is not None and old is not None
    assert (tiny.runtime, tiny.model_ref, tiny.usable) == ("llama.cpp", "local/tiny", True)
    assert tiny.serving_path == models_dir / "tiny" / "tiny.F16.gguf" and tiny.size_bytes() > 1_000_000
    assert (old.runtime, old.serving_path, old.size_bytes()) == ("transformers", models_dir / "old", 3_000_000)
    assert local.register_tuned("tiny", models_dir) and local.model_path("tiny").suffix == ".gguf"
    assert not local.is_tuned(local.model_path("tiny"))  # llama.cpp, not transformers
    assert local.register_tuned("old", models_dir) and local.is_tuned(local.model_path("old"))
    assert not local.register_tuned("hosted-1", models_dir) and not local.register_tuned("nope", models_dir)
    (models_dir / "tiny" / "tiny.F16.gguf").unlink()
    gone = read_model(models_dir / "tiny")
    assert gone is not None and not gone.usable and gone.runtime == ""


def test_training_on_a_tuned_model_starts_from_its_weights_and_keeps_the_base_metadata(project: Path) -> None:
    from workbench.finetune.local import gguf_source, resolve_base

    models_dir = project / ".workbench" / "models"
    served = models_dir / "tiny" / "tiny.F16.gguf"
    assert resolve_base("local/old", models_dir) == ("folder", models_dir / "old")
    assert resolve_base("local/tiny", models_dir) == ("gguf", served)  # no transformers copy: its F16 GGUF
    assert gguf_source("local/tiny", models_dir) == served
    assert gguf_source("local/old", models_dir) == local.bundled_gguf()  # no GGUF of its own: its base's
    assert gguf_source("local/smollm2", None) == local.bundled_gguf()


def test_a_failed_conversion_falls_back_to_transformers_and_leaves_no_file(tmp_path: Path) -> None:
    from workbench.finetune.local import write_gguf

    lines: list[str] = []
    entries = write_gguf(tiny_model(), tmp_path, "tiny", local.bundled_gguf(), lines.append)
    assert (entries["backend"], entries["runtime"], entries["gguf"]) == ("transformers", "transformers", None)
    assert "block_count (2) differs" in entries["gguf_error"] and not list(tmp_path.iterdir())
    assert lines[-1].startswith("warning: no GGUF written (") and "runs in transformers instead" in lines[-1]
    assert write_gguf(tiny_model(), tmp_path, "tiny", None)["gguf_error"] == (
        "no base GGUF to take the tokenizer and metadata from")


def test_workbench_models_says_which_runtime_serves_each_model(project: Path) -> None:
    code, out, err = invoke(project, "models")
    assert code == 0, err
    header, _, *rows = out.splitlines()
    assert header.split()[:4] == ["model", "kind", "runtime", "size"]
    lines = {row.split()[0]: row for row in rows}
    assert "llama.cpp (GGUF F16)" in lines["local/tiny"] and " MB " in lines["local/tiny"]
    assert "transformers (fallback)" in lines["local/old"] and "3 MB" in lines["local/old"]
    assert "hosted (openai)" in lines["hosted-1"] and "ft:gpt-4.1-mini:x" in lines["hosted-1"]
    assert "llama.cpp (GGUF Q4_1)" in lines["local/smollm2"] and "98 MB" in lines["local/smollm2"]
    assert "hosted" in lines["gpt-4o-mini"] and "ollama" in lines["ollama/llama3.2"]


@pytest.mark.slow
def test_export_writes_a_modelfile_next_to_a_gguf_llama_cpp_loads(project: Path, tmp_path: Path) -> None:
    from workbench.finetune.ollama import parse_modelfile

    target = tmp_path / "ollama" / "tiny"
    code, out, err = invoke(project, "models", "export", "tiny", "--ollama", str(target))
    assert code == 0, err
    parsed = parse_modelfile((target / "Modelfile").read_text(encoding="utf-8"))
    assert parsed["FROM"] == "./tiny.F16.gguf" and (target / "tiny.F16.gguf").is_file()
    assert (target / "tiny.F16.gguf").samefile(project / ".workbench" / "models" / "tiny" / "tiny.F16.gguf")
    assert parsed["TEMPLATE"] == ("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
                                  "{{ end }}<|im_start|>assistant\n")
    assert parsed["SYSTEM"] == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert parsed["PARAMETER"] == [("stop", "<|im_start|>"), ("stop", "<|im_end|>"), ("temperature", "0")]
    assert f"llama-server -m {(target / 'tiny.F16.gguf').resolve()}" in out
    assert f"ollama create tiny -f {(target / 'Modelfile').resolve()}" in out
    model = llama(target / parsed["FROM"])
    try:
        answer = model.create_chat_completion(messages=[{"role": "user", "content": "Hello"}], max_tokens=4,
                                              temperature=0)
    finally:
        model.close()
    assert answer["usage"]["completion_tokens"] >= 1 and answer["usage"]["prompt_tokens"] > 5
    # Exporting again replaces what is there; --json says what was written.
    code, out, _ = invoke(project, "models", "export", "local/tiny", "--ollama", str(target), "--json")
    assert code == 0 and json.loads(out)["modelfile"] == str((target / "Modelfile").resolve())


@pytest.mark.parametrize(("args", "words"), [
    (("nope",), "no tuned model called 'nope' (tuned local models: old, tiny)"),
    (("smollm2",), "local/smollm2 is the bundled model"),
    (("hosted-1",), "hosted-1 is a hosted model (ft:gpt-4.1-mini:x): it runs at openai"),
    (("tiny", "--type", "Q8_0"), "local/tiny has no Q8_0 GGUF (written: F16)"),
    # An old folder is converted first; this stand-in has no weights to convert.
    (("old",), "cannot load local/old to convert it"),
])
def test_export_errors_are_one_line_exit_2(project: Path, tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    code, out, err = invoke(project, "models", "export", *args, "--ollama", str(tmp_path / "out"))
    assert code == 2 and out == "", err
    assert err.splitlines()[-1].startswith("error: ") and words in err, err
    assert err.count("\n") == 1 or args == ("old",), err  # the conversion announces itself first


def test_an_unwritable_folder_is_one_line_exit_2(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    code, out, err = invoke(project, "models", "export", "tiny", "--ollama", str(blocker / "sub"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: cannot write to {blocker / 'sub'}: "), err


# -- proof on a real fine-tune ----------------------------------------------------------------------------------

SYSTEM = "Label the banking intent."
TRAIN = [("my card never arrived", "card_arrival"), ("what is the euro exchange rate", "exchange_rate"),
         ("I lost my card yesterday", "lost_card"), ("my top up failed", "top_up_failed"),
         ("the card is still not here", "card_arrival"), ("rate for dollars today?", "exchange_rate"),
         ("someone stole my card", "lost_card"), ("top up did not work", "top_up_failed")]
PROMPTS = [
    "where is my new card", "my card has not come yet", "still waiting for the card to arrive",
    "how long does card delivery take", "the card you sent never showed up", "what's the rate for pounds",
    "euro to dollar rate please", "how much is one euro in yen", "exchange rate for swiss francs",
    "is the exchange rate good today", "I cannot find my card anywhere", "my wallet was stolen with my card",
    "I think I lost my card on the train", "please block my lost card", "my card is gone",
    "the top up did not go through", "adding money failed", "why did my top-up fail", "top up declined",
    "I tried to top up but it failed", "my card never came", "dollar exchange rate", "lost card",
    "top up problem", "card not arrived after two weeks", "rate for euros", "someone took my card",
    "my top up is not showing", "when will my card arrive", "what is the current exchange rate",
    "I misplaced my debit card", "top up keeps failing", "card delivery is late", "convert euros to dollars",
    "card stolen last night", "failed top up yesterday", "has my card been posted", "exchange rates today",
    "can't find card", "top-up error",
]


@pytest.mark.slow
def test_the_tuned_gguf_answers_as_the_transformers_model_does(tmp_path: Path) -> None:
    from workbench.finetune.ollama import parse_modelfile
    from workbench.providers import generate
    from workbench.providers.client import ModelClient
    from workbench.records import CompletionRequest

    root = tmp_path / "proj"
    chat = root / "exports" / "intents" / "openai-chat"
    chat.mkdir(parents=True)
    (root / "workbench.toml").write_text('[defaults]\nmodel = "local/smollm2"\n', encoding="utf-8")
    rows = [{"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text},
                          {"role": "assistant", "content": label}]} for text, label in TRAIN]
    (chat / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (root / "exports" / "intents" / "manifest.json").write_text(json.dumps(
        {"prompt": "intents", "version": 1, "run_id": 1, "files": {"openai-chat": ["openai-chat/train.jsonl"]}}),
        encoding="utf-8")
    code, out, err = invoke(root, "finetune", "exports/intents", "--max-steps", "8", "--batch-size", "4",
                            "--learning-rate", "0.002", "--name", "tuned", "--json")
    assert code == 0, err
    info = json.loads(out)
    folder = root / ".workbench" / "models" / "tuned"
    assert (info["backend"], info["runtime"], info["gguf_error"]) == ("gguf", "llama.cpp", None)
    served = info["gguf"]["served"]
    assert served == f"tuned.{info['gguf']['served_type']}.gguf" and set(info["gguf"]["files"]) == {"F16", "Q8_0"}
    check = info["gguf"]["check"]
    assert check["prompts"] == 8 and check["same_answers"][info["gguf"]["served_type"]] >= 0.95 * 8
    # Eight check prompts are too few to show a quantised file's agreement: the faithful file is served.
    assert info["gguf"]["served_type"] == "F16" and "fewer than 20" in check["note"] and check["note"] in err
    sizes = {qtype: (folder / entry["file"]).stat().st_size for qtype, entry in info["gguf"]["files"].items()}
    assert 250e6 < sizes["F16"] < 290e6 and 130e6 < sizes["Q8_0"] < 160e6
    assert (folder / "config.json").is_file()  # the transformers model: the fallback and the next training base
    assert "writing GGUF (F16, Q8_0)" in err and f"serving {served}: " in err

    params = {"temperature": 0, "max_tokens": 6}
    questions = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}] for text in PROMPTS]
    expected = [generate.complete(folder, messages, params)["choices"][0]["message"]["content"]
                for messages in questions]
    client = ModelClient(models_dir=folder.parent, use_cache=False)

    async def ask_all() -> list[str]:
        return [(await client.complete(CompletionRequest("local/tuned", messages, params))).text
                for messages in questions]

    answers = asyncio.run(ask_all())
    assert local.model_path("tuned") == folder / served  # served by llama.cpp from the GGUF
    same = sum(a.strip() == b.strip() for a, b in zip(answers, expected, strict=True))
    assert len(PROMPTS) >= 20 and same / len(PROMPTS) >= 0.95, list(zip(answers, expected, strict=True))
    # The float16 file, whichever is served, is the trained model itself.
    half = llama(folder / "tuned.F16.gguf", n_ctx=2048)
    try:
        answers_f16 = [half.create_chat_completion(messages=messages, **params)["choices"][0]["message"]["content"]
                       for messages in questions]
    finally:
        half.close()
    same_f16 = sum(a.strip() == b.strip() for a, b in zip(answers_f16, expected, strict=True))
    assert same_f16 / len(PROMPTS) >= 0.95
    print(f"\nserved {served}: {same}/{len(PROMPTS)} answers as transformers; F16: {same_f16}/{len(PROMPTS)}; "
          f"check {check}; conversion {info['gguf']['seconds']} s + check {info['gguf']['check_seconds']} s")

    # The exported copy answers alike when loaded on its own, as llama-server or Ollama would load it.
    target = tmp_path / "export"
    code, out, err = invoke(root, "models", "export", "tuned", "--ollama", str(target))
    assert code == 0, err
    model = llama(target / parse_modelfile((target / "Modelfile").read_text(encoding="utf-8"))["FROM"])
    try:
        reply = model.create_chat_completion(messages=questions[0], **params)["choices"][0]["message"]["content"]
    finally:
        model.close()
    assert reply == answers[0]
