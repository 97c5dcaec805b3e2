"""Batched chat generation: left padding, KV cache, stop at end-of-turn. Used by evaluation, the annotation
app's candidate generation and SFT's sample answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

DEFAULT_SYSTEM_PROMPT = (
    "Sen Türkiye'deki çiftçilere yardımcı olan uzman bir ziraat mühendisisin. Sorulara açık, pratik ve güvenli "
    "Türkçe yanıtlar verirsin; ilaç ve gübre dozlarını birimleriyle verir, etiket talimatlarına ve hasat öncesi "
    "bekleme sürelerine uyulmasını hatırlatırsın."
)


@dataclass
class DecodingSettings:
    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0

    def generate_kwargs(self) -> dict:
        if self.do_sample:
            return {
                "max_new_tokens": self.max_new_tokens,
                "do_sample": True,
                "temperature": self.temperature,
                "top_p": self.top_p,
            }
        return {"max_new_tokens": self.max_new_tokens, "do_sample": False}

    def to_dict(self) -> dict:
        return asdict(self)


def with_system_prompt(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """Prepend the system prompt to a conversation that has none (SFT training and evaluation alike)."""
    if system_prompt and messages[0]["role"] != "system":
        return [{"role": "system", "content": system_prompt}, *messages]
    return messages


def chat_messages(prompt: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    return with_system_prompt([{"role": "user", "content": prompt}], system_prompt)


def encode_prompt(tokenizer, prompt: str, system_prompt: str | None = None) -> list[int]:
    """Token ids of one chat-templated prompt, ending with the assistant's header (PPO's rollout queries)."""
    return tokenizer.apply_chat_template(
        chat_messages(prompt, system_prompt), tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]


def encode_prompts(tokenizer, prompts: list[str], system_prompt: str | None = None) -> dict[str, torch.Tensor]:
    """Chat-templated, left-padded batch (generation appends on the right, so padding must be on the left)."""
    texts = [
        tokenizer.apply_chat_template(chat_messages(p, system_prompt), tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side


class PromptTooLong(ValueError):
    """A prompt that leaves the model no room for its answer."""


def prompt_token_limit(model_config, max_new_tokens: int, max_prompt_tokens: int | None = None) -> int | None:
    """The longest prompt (chat-templated, in tokens) a model takes with room for `max_new_tokens`: its
    `max_position_embeddings` minus `max_new_tokens`, or a smaller configured `max_prompt_tokens`."""
    positions = getattr(model_config, "max_position_embeddings", None)
    limits = [limit for limit in (positions and positions - max_new_tokens, max_prompt_tokens) if limit is not None]
    return max(0, min(limits)) if limits else None


def prompt_lengths(tokenizer, prompts: list[str], system_prompt: str | None = None) -> list[int]:
    """Chat-templated prompt lengths in tokens, as `encode_prompts` builds them."""
    texts = [
        tokenizer.apply_chat_template(chat_messages(p, system_prompt), tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def too_long_prompts(
    tokenizer, prompts: list[str], limit: int | None, system_prompt: str | None = None
) -> dict[int, int]:
    """{index: tokens} of the prompts over `limit` tokens (none when there is no limit)."""
    if limit is None:
        return {}
    return {i: n for i, n in enumerate(prompt_lengths(tokenizer, prompts, system_prompt)) if n > limit}


@torch.no_grad()
def generate_answers(
    model,
    tokenizer,
    prompts: list[str],
    *,
    settings: DecodingSettings | None = None,
    system_prompt: str | None = None,
    batch_size: int = 8,
    max_prompt_tokens: int | None = None,
) -> list[str]:
    """Answers for `prompts`, generated `batch_size` at a time; special tokens stripped. A prompt longer than
    `prompt_token_limit` raises `PromptTooLong` before anything is generated (callers that can skip prompts
    filter them first with `too_long_prompts`)."""
    settings = settings or DecodingSettings()
    limit = prompt_token_limit(model.config, settings.max_new_tokens, max_prompt_tokens)
    too_long = too_long_prompts(tokenizer, prompts, limit, system_prompt)
    if too_long:
        index, tokens = next(iter(too_long.items()))
        raise PromptTooLong(
            f"{len(too_long)} prompt(s) longer than {limit} tokens (max_prompt_tokens, or the model's "
            f"max_position_embeddings minus max_new_tokens {settings.max_new_tokens}); the first, prompt {index}, "
            f"has {tokens} tokens"
        )
    torch.manual_seed(settings.seed)
    was_training = model.training
    model.eval()
    answers: list[str] = []
    device = next(model.parameters()).device
    for start in range(0, len(prompts), batch_size):
        batch = encode_prompts(tokenizer, prompts[start : start + batch_size], system_prompt).to(device)
        output = model.generate(
            **batch, **settings.generate_kwargs(), pad_token_id=tokenizer.pad_token_id, use_cache=True
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        answers.extend(t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    model.train(was_training)
    return answers
