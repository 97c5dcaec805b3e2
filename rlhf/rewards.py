"""Rewards for online RL (PPO and GRPO): the trained reward model plus optional rule-based terms, combined by
weights. Every function takes plain strings, so PPO (token ids decoded) and GRPO (TRL reward_funcs) share them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from shared.text import repeated_ngram_share, turkish_lower, turkish_score

# Advice that contradicts basic pesticide safety; each match costs one unit of penalty. Simple and documented:
# the reward model is the main signal, these only push away from the most dangerous phrasings.
UNSAFE_PATTERNS = (
    r"bekleme süresine (gerek|uymaya gerek) yok",
    r"bekleme süresi(ni)? (önemli değil|önemsemeyin|beklemeden)",
    r"(eldiven|maske|koruyucu)[^.]{0,30}(gerek yok|gereksiz)",
    r"dozu (iki|üç) katına",
    r"ilaçları (birbirine )?karıştır",
)
_UNSAFE = [re.compile(p) for p in UNSAFE_PATTERNS]


def turkish_share_reward(text: str) -> float:
    """0–1: how Turkish the answer looks (penalises code-mixed English)."""
    return turkish_score(text)


def safety_penalty(text: str) -> float:
    """-1 per unsafe pattern found (Turkish-lower-cased text)."""
    lowered = turkish_lower(text)
    return -float(sum(bool(pattern.search(lowered)) for pattern in _UNSAFE))


def repetition_penalty(text: str) -> float:
    """-1–0: minus the share of repeated word trigrams. A weak policy's reward hacking is often a loop
    ("bir bir bir …") that the reward model scores unpredictably; this term makes loops cost directly."""
    return -repeated_ngram_share(text, n=3)


def target_word_reward(text: str, word: str) -> float:
    """1 if the (Turkish-lower-cased) word occurs — a transparent objective for testing RL loops."""
    return float(turkish_lower(word) in turkish_lower(text))


RULES: dict[str, Callable[[str], float]] = {
    "turkish_share": turkish_share_reward,
    "safety": safety_penalty,
    "repetition": repetition_penalty,
}


def rule_reward(name: str) -> Callable[[str], float]:
    """The rule term `name` (one of `RULES`, or `target_word:<w>`) as a text → score function."""
    if name.startswith("target_word:"):
        return partial(target_word_reward, word=name.split(":", 1)[1])
    if name in RULES:
        return RULES[name]
    raise ValueError(f"unknown reward term {name!r} (use reward_model, {', '.join(RULES)}, target_word:<w>)")


@dataclass
class RewardArguments:
    """The reward settings PPO and GRPO share (their script dataclasses inherit them)."""

    reward_model: str | None = "artifacts/reward/tiny"
    reward_terms: list[str] = field(
        default_factory=lambda: ["reward_model=1.0"],
        metadata={"help": "`name=weight`: reward_model, turkish_share, safety, repetition, target_word:<w>"},
    )
    reward_batch_size: int = 16
    reward_max_length: int | None = None


def parse_reward_terms(terms: list[str]) -> dict[str, float]:
    """`["reward_model=1.0", "turkish_share=0.5", "safety"]` → weights (a bare name weighs 1)."""
    weights = {}
    for term in terms:
        name, _, weight = term.rpartition("=") if "=" in term else (term, "", "1")
        weights[name] = float(weight)
    return weights


class CombinedReward:
    """score(prompts, responses) = Σ weight × term; terms are the reward model and rules from `RULES`."""

    def __init__(
        self,
        weights: dict[str, float],
        reward_model: str | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
        device: str | None = None,
        dtype=None,
    ):
        self.weights = dict(weights)
        self.rules = {name: rule_reward(name) for name in self.weights if name != "reward_model"}
        self.scorer = None
        if self.weights.get("reward_model"):
            if not reward_model:
                raise ValueError("the reward_model term needs a reward model path")
            from shared.reward_model import RewardScorer

            self.scorer = RewardScorer(reward_model, device=device, dtype=dtype, max_length=max_length)
        self.batch_size = batch_size

    @property
    def scorers(self) -> list:
        """The reward models' scorers (PPO under DeepSpeed swaps each one's model for an inference engine)."""
        return [self.scorer] if self.scorer is not None else []

    def terms(self, prompts: list[str], responses: list[str]) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        for name in self.weights:
            if name == "reward_model":
                values[name] = self.scorer.score(prompts, responses, batch_size=self.batch_size)
            else:
                values[name] = [self.rules[name](r) for r in responses]
        return values

    def __call__(self, prompts: list[str], responses: list[str]) -> list[float]:
        terms = self.terms(prompts, responses)
        return [sum(self.weights[name] * terms[name][i] for name in terms) for i in range(len(responses))]
