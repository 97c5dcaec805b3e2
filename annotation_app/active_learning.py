"""Active learning: put the pairs a reward model finds hardest to tell apart (|s(a) - s(b)| smallest) first."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from annotation_app.storage import Assignment, Item

ScoreFn = Callable[[list[str], list[str]], list[float]]


def score_gaps(prompts: Sequence[str], pairs: Sequence[tuple[str, str]], score_fn: ScoreFn) -> list[float]:
    """|s(prompt, a) - s(prompt, b)| for each pair, scoring all answers in one call."""
    doubled_prompts = [p for p in prompts for _ in range(2)]
    answers = [answer for pair in pairs for answer in pair]
    scores = score_fn(doubled_prompts, answers)
    return [abs(scores[2 * k] - scores[2 * k + 1]) for k in range(len(pairs))]


def order_by_score_closeness(prompts: Sequence[str], pairs: Sequence[tuple[str, str]], score_fn: ScoreFn) -> list[int]:
    """Indices of `pairs` ordered by score gap, smallest first (ties keep their order)."""
    gaps = score_gaps(prompts, pairs, score_fn)
    return sorted(range(len(pairs)), key=gaps.__getitem__)


def prioritize_items(sessions: sessionmaker, score_fn: ScoreFn) -> int:
    """Store the score gap as priority on every regular item nobody has been assigned yet; returns the count."""
    with sessions.begin() as session:
        started = select(Assignment.item_id)
        items = session.scalars(select(Item).where(Item.is_gold.is_(False), Item.id.not_in(started))).all()
        if not items:
            return 0
        gaps = score_gaps(
            [i.prompt.text for i in items], [(i.candidate_a.text, i.candidate_b.text) for i in items], score_fn
        )
        for item, gap in zip(items, gaps):
            item.priority = gap
        return len(items)


def reward_score_fn(model_path: str) -> ScoreFn:
    """score_fn backed by the project's reward model (imported lazily: torch only when asked for)."""
    from shared.reward_model import RewardScorer

    return RewardScorer(model_path).score
