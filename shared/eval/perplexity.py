"""Perplexity on the SFT validation conversations, with the chat template applied.

Loss is on the assistant tokens only (what SFT trains with `assistant_only_loss`), marked by the template's
`{% generation %}` block; a template without that block (e.g. Llama-3's original) falls back to all tokens after
the first, and the result records which (`perplexity_tokens`). Perplexity = exp(total NLL / total scored tokens),
token-weighted over the set; its interval resamples conversations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from shared.eval.models import token_logprobs
from shared.generation import with_system_prompt


def encode_conversation(tokenizer, messages: list[dict[str, str]], max_length: int) -> tuple[list[int], list[int]]:
    """(token ids, 1 where the token is scored), truncated to `max_length` from the right."""
    encoded = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids = list(encoded["input_ids"])[:max_length]
    mask = list(encoded.get("assistant_masks") or [])[:max_length]
    return ids, mask


def conversation_nll(
    model, tokenizer, conversations: Sequence[list[dict[str, str]]], *, batch_size: int, max_length: int
) -> tuple[list[tuple[float, int]], str]:
    """Per conversation (summed NLL, scored tokens), and which tokens were scored ("assistant" or "all")."""
    encoded = [encode_conversation(tokenizer, messages, max_length) for messages in conversations]
    # The template marks assistant tokens iff some conversation has a mask; one cut before its answer scores 0.
    assistant_only = any(any(mask) for _, mask in encoded)
    results: list[tuple[float, int]] = []
    for start in tqdm(range(0, len(encoded), batch_size), desc="perplexity", leave=False):
        chunk = encoded[start : start + batch_size]
        logprobs = token_logprobs(
            model, [ids for ids, _ in chunk], [len(ids) - 1 for ids, _ in chunk], tokenizer.pad_token_id
        )
        for (ids, mask), values in zip(chunk, logprobs):
            # values[j] is the log-probability of token j+1; the first token is never predicted.
            scored = (
                torch.tensor(mask[1:], dtype=torch.bool)
                if assistant_only
                else torch.ones(len(ids) - 1, dtype=torch.bool)
            )
            results.append((float(-values[scored].sum()), int(scored.sum())))
    return results, "assistant" if assistant_only else "all"


def pooled_perplexity(pairs: Sequence[Sequence[float]]) -> float:
    """exp(total NLL / total scored tokens) over (NLL, tokens) pairs: token-weighted, not a mean of ratios."""
    total_tokens = sum(tokens for _, tokens in pairs)
    return math.exp(sum(nll for nll, _ in pairs) / total_tokens) if total_tokens else float("nan")


STATISTICS = {"val_perplexity": pooled_perplexity}


def item_values(
    model,
    tokenizer,
    rows: Sequence[dict[str, Any]],
    *,
    system_prompt: str | None,
    batch_size: int,
    max_length: int,
) -> tuple[dict[str, list], str]:
    """Per conversation [summed NLL, scored tokens] (pooled by `pooled_perplexity`), and which tokens were scored."""
    conversations = [with_system_prompt(row["messages"], system_prompt) for row in rows]
    pairs, scored = conversation_nll(model, tokenizer, conversations, batch_size=batch_size, max_length=max_length)
    return {"val_perplexity": [[nll, tokens] for nll, tokens in pairs]}, scored
