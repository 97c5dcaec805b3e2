"""Reward-model scoring, shared by every stage that needs a score: PPO and GRPO rewards, evaluation (`rm_score`),
the annotation app's active learning and `python -m reward.score`.

The conversation is built exactly as in reward-model training (`reward_conversation`), and position ids follow the
attention mask, so scores do not depend on the batch size or on the padding side.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from shared.batching import padded_batch


def reward_conversation(prompt: str, response: str) -> list[dict[str, str]]:
    """The one format the reward model sees, in training and in scoring."""
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]


def load_reward_model(path: str | Path, dtype: torch.dtype | None = None):
    """A plain (merged) reward model, or a LoRA adapter directory with its saved score head."""
    path = Path(path)
    if (path / "adapter_config.json").is_file():
        from peft import AutoPeftModelForSequenceClassification

        model = AutoPeftModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=dtype)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=dtype)
    return model.eval()


class RewardScorer:
    """`RewardScorer(path)` loads a saved reward model; `RewardScorer.from_model(model, tokenizer)` wraps one in
    memory (used to prove that save → reload gives the same scores)."""

    def __init__(
        self,
        path: str | Path | None = None,
        device: str | None = None,
        max_length: int | None = None,
        dtype: torch.dtype | None = None,
        *,
        model=None,
        tokenizer=None,
    ):
        if path is not None:
            tokenizer, model = AutoTokenizer.from_pretrained(path), load_reward_model(path, dtype)
            model.to(torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")))
        if model is None or tokenizer is None:
            raise ValueError("give a path, or a model and its tokenizer")
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.pad_id = tokenizer.pad_token_id
        self.model.config.pad_token_id = self.pad_id  # where the score is read: the last non-pad token

    @classmethod
    def from_model(cls, model, tokenizer, max_length: int | None = None) -> RewardScorer:
        return cls(model=model, tokenizer=tokenizer, max_length=max_length)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, prompt: str, response: str) -> list[int]:
        ids = self.tokenizer.apply_chat_template(
            reward_conversation(prompt, response), tokenize=True, return_dict=True
        )["input_ids"]
        # Keep the end (where the score is read) if a conversation is too long.
        return ids[-self.max_length :] if self.max_length else ids

    @torch.no_grad()
    def score_ids(self, sequences: list[list[int]], batch_size: int = 16, padding_side: str = "right") -> list[float]:
        was_training = self.model.training
        self.model.eval()
        scores: list[float] = []
        for start in range(0, len(sequences), batch_size):
            batch = padded_batch(
                sequences[start : start + batch_size], self.pad_id, side=padding_side, device=self.device
            )
            # The model reads the score at each row's last non-pad token, on either padding side.
            logits = self.model(**batch).logits
            scores.extend(logits.squeeze(-1).float().cpu().tolist())
        self.model.train(was_training)
        return scores

    def score(
        self, prompts: list[str], responses: list[str], batch_size: int = 16, padding_side: str = "right"
    ) -> list[float]:
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
        sequences = [self.encode(p, r) for p, r in zip(prompts, responses)]
        return self.score_ids(sequences, batch_size, padding_side)
