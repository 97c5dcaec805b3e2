"""The embedded tiny Llama: a byte-level BPE tokenizer trained on our Turkish corpus + a random-init Llama.

It has the Llama-3 special tokens and chat format, and grouped-query attention, so every stage runs the same
code on a laptop CPU as on Llama-3-8B. `python -m shared.tiny_model --out artifacts/tiny-llama --size small`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import torch
import yaml
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from shared.text import normalize_turkish

REPO_ROOT = Path(__file__).resolve().parent.parent
# Held-out evaluation files are deliberately not in the tokenizer corpus.
DEFAULT_CORPUS = ("data/corpus/*.txt", "data/kb/*.yaml", "data/sft/train.jsonl", "data/handwritten/*.jsonl")

BOS, EOS, EOT, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>"
HEADER_START, HEADER_END = "<|start_header_id|>", "<|end_header_id|>"
SPECIAL_TOKENS = [BOS, EOS, HEADER_START, HEADER_END, EOT, PAD]

# Llama-3's chat format; {% generation %} marks assistant text so TRL's assistant-only loss can find it.
# The same file is given to Llama-3-8B recipes as `chat_template_path`.
CHAT_TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / "llama3_chat.jinja"
CHAT_TEMPLATE = CHAT_TEMPLATE_PATH.read_text(encoding="utf-8")

SIZES = {
    # <1M parameters: unit tests.
    "tiny": dict(
        vocab_size=2048,
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    ),
    # ~15M parameters: the demo default.
    "small": dict(
        vocab_size=8192,
        hidden_size=320,
        intermediate_size=864,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=4,
    ),
}


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def corpus_texts(patterns: tuple[str, ...] = DEFAULT_CORPUS, root: Path = REPO_ROOT) -> Iterator[str]:
    """Every text in the corpus files (JSONL rows, YAML values, plain text), normalised, in a fixed order."""
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.suffix == ".jsonl":
                for line in path.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        yield from map(normalize_turkish, _strings(json.loads(line)))
            elif path.suffix in {".yaml", ".yml"}:
                yield from map(normalize_turkish, _strings(yaml.safe_load(path.read_text(encoding="utf-8"))))
            else:
                yield normalize_turkish(path.read_text(encoding="utf-8"))


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE (as Llama 3) with the Llama-3 special tokens and chat template."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    # Like Llama 3, plain text gets <|begin_of_text|> in front; chat templates add it themselves.
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tokenizer.token_to_id(BOS))]
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOT, pad_token=PAD, model_max_length=2048
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_tiny_model(
    out_dir: str | Path, size: str = "tiny", seed: int = 0, corpus: tuple[str, ...] = DEFAULT_CORPUS
) -> Path:
    """Train the tokenizer, build a random-init `LlamaForCausalLM`, save both to `out_dir`."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r} (use {', '.join(SIZES)})")
    shape = SIZES[size]
    texts = list(corpus_texts(corpus))
    if not texts:
        raise FileNotFoundError(f"no corpus text found under {REPO_ROOT} for {corpus}")
    tokenizer = train_tokenizer(texts, shape["vocab_size"])
    config = LlamaConfig(
        **{**shape, "vocab_size": len(tokenizer)},
        max_position_embeddings=2048,
        rope_theta=500_000.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(EOS)]
    out = Path(out_dir)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    (out / "tiny_model.json").write_text(
        json.dumps({"size": size, "seed": seed, "parameters": n_params, "corpus_texts": len(texts)}, indent=2)
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.tiny_model", description=__doc__)
    parser.add_argument("--out", default="artifacts/tiny-llama")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = build_tiny_model(args.out, args.size, args.seed)
    info = json.loads((out / "tiny_model.json").read_text())
    print(f"built {args.size} Llama ({info['parameters'] / 1e6:.2f}M parameters) in {out}")


if __name__ == "__main__":
    main()
