"""RM-judged metrics: the mean reward-model score of the model's answers (`rm_score`) and how often the reward
model scores the answer above the reference answer (`rm_win_rate`; a win counts 1, a tie 0.5).

Both are reported as "RM-judged": when the policy was trained against this same reward model
(PPO/GRPO) or its preference data (DPO), the judge is not independent — the policy may have learned the reward
model's blind spots, so a high score can mean reward hacking rather than better answers. Use a held-out reward
model or human review for claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.eval.stats import Estimate, estimate

NOTE = (
    "RM-judged: not independent when the policy was trained on this reward model (or its preference data); "
    "a high score or win rate can reflect reward hacking."
)


class Scorer(Protocol):
    def score(self, prompts: list[str], responses: list[str], batch_size: int = ...) -> list[float]: ...


def load_scorer(reward_model: str, device: str | None = None) -> Scorer:
    from shared.reward_model import RewardScorer

    return RewardScorer(reward_model, device=device)


def outcomes(answer_scores: Sequence[float], reference_scores: Sequence[float]) -> list[float]:
    return [1.0 if a > r else 0.5 if a == r else 0.0 for a, r in zip(answer_scores, reference_scores)]


def judge(
    scorer: Scorer,
    questions: Sequence[str],
    answers: Sequence[str],
    references: Sequence[str] | None = None,
    *,
    batch_size: int = 8,
    n: int = 1000,
    seed: int = 0,
) -> dict[str, Estimate]:
    """`rm_score` (mean score of `answers`) and, with `references`, `rm_win_rate` over them, by the scorer."""
    answer_scores = scorer.score(list(questions), list(answers), batch_size=batch_size)
    judged = {"rm_score": estimate(answer_scores, n=n, seed=seed)}
    if references is not None:
        reference_scores = scorer.score(list(questions), list(references), batch_size=batch_size)
        judged["rm_win_rate"] = estimate(outcomes(answer_scores, reference_scores), n=n, seed=seed)
    return judged
