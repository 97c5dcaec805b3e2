"""RM-judged win rate: how often a reward model scores the model's answer above the reference answer.

A win counts 1, a tie 0.5. Reported as "RM-judged": when the policy was trained against this same reward model
(PPO/GRPO) or its preference data (DPO), the judge is not independent — the policy may have learned the reward
model's blind spots, so a high win rate can mean reward hacking rather than better answers. Use a held-out reward
model or human review for claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.eval.stats import Estimate, estimate

NOTE = ("RM-judged: not independent when the policy was trained on this reward model (or its preference data); "
        "a high win rate can reflect reward hacking.")  # fmt: skip


class Scorer(Protocol):
    def score(self, prompts: list[str], responses: list[str], batch_size: int = ...) -> list[float]: ...


def load_scorer(reward_model: str, device: str | None = None) -> Scorer:
    from reward.score import RewardScorer

    return RewardScorer(reward_model, device=device)


def outcomes(answer_scores: Sequence[float], reference_scores: Sequence[float]) -> list[float]:
    return [1.0 if a > r else 0.5 if a == r else 0.0 for a, r in zip(answer_scores, reference_scores)]


def win_rate(scorer: Scorer, questions: Sequence[str], answers: Sequence[str], references: Sequence[str], *,
             batch_size: int = 8, n: int = 1000, seed: int = 0) -> Estimate:  # fmt: skip
    """Win rate of `answers` over `references` for the same `questions`, by the scorer's rewards."""
    answer_scores = scorer.score(list(questions), list(answers), batch_size=batch_size)
    reference_scores = scorer.score(list(questions), list(references), batch_size=batch_size)
    return estimate(outcomes(answer_scores, reference_scores), n=n, seed=seed)
