"""Rewards for online RL (PPO and GRPO): the trained reward model plus optional rule-based terms, combined by
weights. Every function takes plain strings, so PPO (token ids decoded) and GRPO (TRL reward_funcs) share them.

Two guards against reward hacking live here for both: a reward-model ensemble scored mean − k·std across its
members (`EnsembleScorer`: `reward_model` given several paths, `ensemble_std_coef: k`), so an answer that only
some of them like scores low; and a length term (`overlong` in `reward_terms`, with `overlong_buffer`): DAPO's soft
overlong punishment, TRL's `get_soft_overlong_punishment`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from trl.rewards import get_soft_overlong_punishment

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
    raise ValueError(f"unknown reward term {name!r} (use reward_model, overlong, {', '.join(RULES)}, target_word:<w>)")


def overlong_penalty(max_length: int, buffer: int):
    """The `overlong` term: DAPO's soft overlong punishment as a reward function of `completion_ids` (TRL's): 0 up
    to max_length − buffer tokens, then linear down to −1 at max_length. Punishes answers that run into the length
    limit — truncated, usually looping — without rewarding short ones."""
    if not 0 < buffer <= max_length:
        raise ValueError(f"the overlong term needs 0 < overlong_buffer <= {max_length} (max length), got {buffer}")
    return get_soft_overlong_punishment(max_completion_len=max_length, soft_punish_cache=buffer)


def ensemble_score(scores: torch.Tensor, std_coef: float) -> torch.Tensor:
    """Scores of several reward models `[models, answers]` → one per answer: mean − std_coef · std across the
    models (population std). Where the models disagree the answer is probably off their training distribution —
    where a policy hacks one reward model — and scores lower (Coste et al., 2023, "Reward Model Ensembles Help
    Mitigate Overoptimization")."""
    return scores.mean(dim=0) - std_coef * scores.std(dim=0, unbiased=False)


def reward_model_paths(value: str | list[str] | None) -> list[str]:
    """`reward_model` as a list of paths: one path (YAML string), several (YAML list or CLI), none / null → []."""
    values = [value] if isinstance(value, str) else list(value or [])
    return [v for v in values if v and v.strip().lower() not in {"none", "null"}]


class EnsembleScorer:
    """Several reward models (`shared.reward_model.RewardScorer`) as one scorer; a single model scores as itself."""

    def __init__(
        self,
        paths: list[str],
        std_coef: float = 0.0,
        device: str | None = None,
        dtype=None,
        max_length: int | None = None,
    ):
        from shared.reward_model import RewardScorer

        if not paths:
            raise ValueError("an ensemble needs at least one reward model path")
        self.scorers = [RewardScorer(path, device=device, dtype=dtype, max_length=max_length) for path in paths]
        self.std_coef = std_coef

    def score(self, prompts: list[str], responses: list[str], batch_size: int = 16) -> list[float]:
        per_model = [scorer.score(prompts, responses, batch_size=batch_size) for scorer in self.scorers]
        if len(per_model) == 1:
            return per_model[0]
        return ensemble_score(torch.tensor(per_model), self.std_coef).tolist()


@dataclass
class RewardArguments:
    """The reward settings PPO and GRPO share (their script dataclasses inherit them)."""

    reward_model: list[str] | None = field(
        default_factory=lambda: ["artifacts/reward/tiny"],
        metadata={"help": "reward model path; several paths: an ensemble (see ensemble_std_coef); none: no model"},
    )
    reward_terms: list[str] = field(
        default_factory=lambda: ["reward_model=1.0"],
        metadata={"help": "`name=weight`: reward_model, overlong, turkish_share, safety, repetition, target_word:<w>"},
    )
    reward_batch_size: int = 16
    reward_max_length: int | None = None
    ensemble_std_coef: float = field(
        default=0.0, metadata={"help": "several reward models: score = mean − ensemble_std_coef × std across them"}
    )
    overlong_buffer: int = field(
        default=0,
        metadata={
            "help": "the `overlong` term: 0 up to max_len − overlong_buffer tokens, linear to −1 at max_len (PPO: "
            "max_new_tokens, GRPO: max_completion_length)"
        },
    )

    def __post_init__(self):
        self.reward_model = reward_model_paths(self.reward_model)


def parse_reward_terms(terms: list[str]) -> dict[str, float]:
    """`["reward_model=1.0", "turkish_share=0.5", "safety"]` → weights (a bare name weighs 1)."""
    weights = {}
    for term in terms:
        name, _, weight = term.rpartition("=") if "=" in term else (term, "", "1")
        weights[name] = float(weight)
    return weights


class CombinedReward:
    """score(prompts, responses) = Σ weight × term; terms are the reward model (or an ensemble), the `overlong`
    length term (needs the answers' token ids) and rules from `RULES`."""

    def __init__(
        self,
        weights: dict[str, float],
        reward_model: str | list[str] | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
        device: str | None = None,
        dtype=None,
        ensemble_std_coef: float = 0.0,
        max_completion_length: int | None = None,
        overlong_buffer: int = 0,
    ):
        self.weights = dict(weights)
        self.rules = {name: rule_reward(name) for name in self.weights if name not in {"reward_model", "overlong"}}
        self.scorer = None
        if self.weights.get("reward_model"):
            if not reward_model_paths(reward_model):
                raise ValueError("the reward_model term needs a reward model path")
            self.scorer = EnsembleScorer(
                reward_model_paths(reward_model), ensemble_std_coef, device=device, dtype=dtype, max_length=max_length
            )
        self.overlong = None
        if "overlong" in self.weights:
            self.overlong = overlong_penalty(max_completion_length or 0, overlong_buffer)
        self.batch_size = batch_size

    @property
    def scorers(self) -> list:
        """The reward models' scorers (PPO under DeepSpeed swaps each one's model for an inference engine)."""
        return self.scorer.scorers if self.scorer is not None else []

    def terms(
        self, prompts: list[str], responses: list[str], completion_ids: list[list[int]] | None = None
    ) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        for name in self.weights:
            if name == "reward_model":
                values[name] = self.scorer.score(prompts, responses, batch_size=self.batch_size)
            elif name == "overlong":
                if completion_ids is None:
                    raise ValueError("the overlong term needs the answers' token ids (completion_ids)")
                values[name] = self.overlong(completion_ids=completion_ids)
            else:
                values[name] = [self.rules[name](r) for r in responses]
        return values

    def combine(self, terms: dict[str, list[float]], count: int) -> list[float]:
        """The weighted sum of `terms` for each of `count` answers."""
        return [sum(self.weights[name] * terms[name][i] for name in terms) for i in range(count)]

    def __call__(
        self, prompts: list[str], responses: list[str], completion_ids: list[list[int]] | None = None
    ) -> list[float]:
        return self.combine(self.terms(prompts, responses, completion_ids), len(responses))
