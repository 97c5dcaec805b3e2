"""Loading a model to evaluate (full model or LoRA adapter directory) and building padded batches for scoring."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from shared.batching import padded_batch
from shared.modeling import is_adapter_dir
from shared.tiny_model import CHAT_TEMPLATE

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto`: bf16 on GPU (how 8B models are served), fp32 on CPU (exact and fast enough for tiny models)."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (use auto, {', '.join(DTYPES)})")
    return DTYPES[dtype]


def load_model_and_tokenizer(path: str, *, device: str = "auto", dtype: str = "auto"):
    """A causal LM in eval mode and its tokenizer; a LoRA adapter directory is merged into its base first."""
    target = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target)
    if is_adapter_dir(path):
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=torch_dtype).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.chat_template is None:
        # A base checkpoint without a template (some Llama-3 base repos): every project model speaks the
        # Llama-3 chat format, so answer prompts are built the same way for all models compared.
        tokenizer.chat_template = CHAT_TEMPLATE
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.to(target).eval(), tokenizer


@torch.no_grad()
def token_logprobs(
    model, sequences: Sequence[Sequence[int]], n_scored: Sequence[int], pad_id: int
) -> list[torch.Tensor]:
    """Log-probabilities of the last `n_scored[i]` tokens of each sequence given everything before them."""
    device = next(model.parameters()).device
    # Left padding puts every sequence's end in the same column, so the scored positions are the last columns
    # for every row and `logits_to_keep` can skip the rest of the vocabulary projection.
    batch = padded_batch(sequences, pad_id, side="left", device=device)
    keep = max(n_scored) + 1
    logits = model(**batch, logits_to_keep=keep).logits.float()  # (batch, keep, vocab)
    # Column j of `logits` predicts the token in column j+1: the last `keep`-1 prediction columns score the
    # last `keep`-1 tokens.
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
    targets = batch["input_ids"][:, -(keep - 1) :]
    picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (batch, keep-1)
    return [picked[row, picked.shape[1] - n :].cpu() for row, n in enumerate(n_scored)]
