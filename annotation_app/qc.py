"""Quality control over vote records: throughput, gold accuracy, self-consistency, agreement, disagreements,
model win rates (Bradley–Terry, bootstrap CIs). Pure functions; the service loads the records."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from annotation_app.records import CandidateInfo, VoteRecord

DIRECTIONS = ("a", "tie", "b", "both_bad")
# Ordinal preference scale for Krippendorff's ordinal alpha (both_bad has no place on it).
ORDINAL = {"a_much_better": 0, "a_better": 1, "tie": 2, "b_better": 3, "b_much_better": 4}


@dataclass(frozen=True)
class DisagreementVote:
    """One annotator's vote on a disputed item, as they saw it: the item's answers are numbered 1 (candidate a)
    and 2 (candidate b), and either could have been shown on the left (A)."""

    annotator: str
    displayed_choice: str  # what they clicked: a… = the answer shown as A (left)
    left_answer: int  # 1 or 2: the answer shown as A
    preferred_answer: int | None  # 1 or 2: the answer the vote prefers; None for tie / both bad


@dataclass(frozen=True)
class Disagreement:
    item_id: int
    prompt: str
    answers: tuple[CandidateInfo, CandidateInfo]  # answer 1, answer 2 (full texts)
    votes: tuple[DisagreementVote, ...]
    distinct: int  # how many different preference directions


@dataclass(frozen=True)
class QCReport:
    annotators: list[dict]
    agreement: dict
    cohen_pairs: list[dict]
    disagreements: list[Disagreement]
    win_rates: list[dict]


def originals(records: Sequence[VoteRecord]) -> list[VoteRecord]:
    """First-time votes (swap repeats are only for self-consistency)."""
    return [r for r in records if not r.is_swap_repeat]


# ------------------------------------------------------------ per annotator


def _votes_per_hour(votes: Sequence[VoteRecord]) -> float | None:
    if len(votes) < 2:
        return None
    first = min(r.shown_at or r.created_at for r in votes)
    hours = (max(r.created_at for r in votes) - first).total_seconds() / 3600
    return round(len(votes) / hours, 2) if hours > 0 else None


def self_consistency(records: Sequence[VoteRecord]) -> dict[str, tuple[int, int]]:
    """username → (consistent repeats, repeats): a repeat is consistent when it keeps the preference direction."""
    by_assignment = {r.assignment_id: r for r in records}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for repeat in records:
        original = by_assignment.get(repeat.repeat_of_id) if repeat.is_swap_repeat else None
        if original is not None:
            counts[repeat.annotator][0] += original.direction == repeat.direction
            counts[repeat.annotator][1] += 1
    return {user: (c[0], c[1]) for user, c in counts.items()}


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def annotator_stats(records: Sequence[VoteRecord], statuses: dict[str, dict[str, int]]) -> list[dict]:
    by_user: dict[str, list[VoteRecord]] = defaultdict(list)
    for record in records:
        by_user[record.annotator].append(record)
    consistency = self_consistency(records)
    rows = []
    for user in sorted(set(by_user) | set(statuses)):
        votes = by_user.get(user, [])
        gold = [r.gold_correct for r in votes if r.is_gold]
        consistent, repeats = consistency.get(user, (0, 0))
        rows.append(
            {
                "annotator": user,
                "votes": len(votes),
                "skipped": statuses.get(user, {}).get("skipped", 0),
                "pending": statuses.get(user, {}).get("pending", 0),
                "votes_per_hour": _votes_per_hour(votes),
                "median_time_s": round(statistics.median(r.time_spent_ms for r in votes) / 1000, 2) if votes else None,
                "gold_items": len(gold),
                "gold_accuracy": _rate(sum(gold), len(gold)),
                "swap_repeats": repeats,
                "self_consistency": _rate(consistent, repeats),
            }
        )
    return rows


# ------------------------------------------------------------ agreement


def _labels_by_item(records: Sequence[VoteRecord], label) -> dict[int, dict[str, object]]:
    """item → annotator → label over original votes."""
    table: dict[int, dict[str, object]] = defaultdict(dict)
    for record in originals(records):
        value = label(record)
        if value is not None:
            table[record.item_id][record.annotator] = value
    return table


def cohen_pairs(records: Sequence[VoteRecord], min_items: int = 2) -> list[dict]:
    """Cohen's kappa on preference direction for every annotator pair with `min_items` common items."""
    table = _labels_by_item(records, lambda r: r.direction)
    users = sorted({u for labels in table.values() for u in labels})
    rows = []
    for first, second in itertools.combinations(users, 2):
        common = [labels for labels in table.values() if first in labels and second in labels]
        if len(common) < min_items:
            continue
        y1, y2 = [c[first] for c in common], [c[second] for c in common]
        kappa = cohen_kappa_score(y1, y2, labels=list(DIRECTIONS)) if len(set(y1) | set(y2)) > 1 else None
        agreement = sum(a == b for a, b in zip(y1, y2)) / len(common)
        rows.append(
            {
                "annotator_1": first,
                "annotator_2": second,
                "items": len(common),
                "raw_agreement": round(agreement, 4),
                "cohen_kappa": None if kappa is None or math.isnan(kappa) else round(float(kappa), 4),
            }
        )
    return rows


def fleiss(records: Sequence[VoteRecord]) -> tuple[float | None, int]:
    """Fleiss' kappa on direction over the items with the most common number (≥ 2) of raters."""
    table = _labels_by_item(records, lambda r: r.direction)
    sizes = [len(labels) for labels in table.values() if len(labels) >= 2]
    if not sizes:
        return None, 0
    raters = statistics.mode(sizes)
    rows = [[DIRECTIONS.index(v) for v in labels.values()] for labels in table.values() if len(labels) == raters]
    counts, _ = aggregate_raters(np.array(rows), n_cat=len(DIRECTIONS))
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = fleiss_kappa(counts, method="fleiss")
    return (None if math.isnan(kappa) else round(float(kappa), 4)), len(rows)


def krippendorff_alpha(records: Sequence[VoteRecord], level: str) -> float | None:
    """Krippendorff's alpha: nominal on direction, ordinal on the 5-point preference scale."""
    if level == "nominal":
        table = _labels_by_item(records, lambda r: DIRECTIONS.index(r.direction))
    else:
        table = _labels_by_item(records, lambda r: ORDINAL.get(r.choice))
    users = sorted({u for labels in table.values() for u in labels})
    items = [labels for labels in table.values() if len(labels) >= 2]
    values = {v for labels in items for v in labels.values()}
    if len(items) < 1 or len(values) < 2:
        return None
    matrix = np.array([[labels.get(u, np.nan) for labels in items] for u in users], dtype=float)
    return round(float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)), 4)


def agreement_summary(records: Sequence[VoteRecord]) -> dict:
    kappa, n_items = fleiss(records)
    return {
        "fleiss_kappa": kappa,
        "fleiss_items": n_items,
        "krippendorff_alpha_nominal": krippendorff_alpha(records, "nominal"),
        "krippendorff_alpha_ordinal": krippendorff_alpha(records, "ordinal"),
    }


def _as_seen(record: VoteRecord) -> DisagreementVote:
    return DisagreementVote(
        annotator=record.annotator,
        displayed_choice=record.displayed_choice,
        left_answer=1 if record.left_candidate_id == record.candidate_a.id else 2,
        preferred_answer={"a": 1, "b": 2}.get(record.direction),
    )


def disagreements(records: Sequence[VoteRecord]) -> list[Disagreement]:
    """Items whose annotators chose different preference directions, most split first, with both answers in
    full and each vote as its annotator saw it (which answer was on the left, what they clicked)."""
    by_item: dict[int, list[VoteRecord]] = defaultdict(list)
    for record in originals(records):
        by_item[record.item_id].append(record)
    rows = []
    for item_id, votes in by_item.items():
        directions = {r.direction for r in votes}
        if len(directions) > 1:
            first = votes[0]
            rows.append(
                Disagreement(
                    item_id=item_id,
                    prompt=first.prompt,
                    answers=(first.candidate_a, first.candidate_b),
                    votes=tuple(_as_seen(r) for r in votes),
                    distinct=len(directions),
                )
            )
    return sorted(rows, key=lambda row: (-row.distinct, row.item_id))


# ------------------------------------------------------------ win rates

Outcome = tuple[int, int, float]  # (model i, model j, score of i: 1 win, 0.5 tie, 0 loss)


def model_outcomes(records: Sequence[VoteRecord]) -> tuple[list[str], list[Outcome]]:
    """Cross-model, non-gold original votes as outcomes; both_bad carries no preference and is left out."""
    votes = [
        r
        for r in originals(records)
        if not r.is_gold and r.direction != "both_bad" and r.candidate_a.model_name != r.candidate_b.model_name
    ]
    models = sorted({m for r in votes for m in (r.candidate_a.model_name, r.candidate_b.model_name)})
    score = {"a": 1.0, "tie": 0.5, "b": 0.0}
    return models, [
        (models.index(r.candidate_a.model_name), models.index(r.candidate_b.model_name), score[r.direction])
        for r in votes
    ]


def bradley_terry(
    n_models: int, outcomes: Sequence[Outcome], prior: float = 0.5, iterations: int = 1000, tolerance: float = 1e-10
) -> np.ndarray:
    """Log-strengths (mean 0) by Hunter's MM algorithm; ties count half a win each, and `prior` virtual ties
    between every pair keep unbeaten or winless models finite."""
    wins = np.full(n_models, prior * (n_models - 1) / 2)
    games = np.full((n_models, n_models), prior)
    np.fill_diagonal(games, 0.0)
    for i, j, s in outcomes:
        wins[i] += s
        wins[j] += 1 - s
        games[i, j] += 1
        games[j, i] += 1
    strength = np.ones(n_models)
    for _ in range(iterations):
        updated = wins / (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        updated /= np.exp(np.log(updated).mean())
        converged = np.max(np.abs(updated - strength)) < tolerance
        strength = updated
        if converged:
            break
    return np.log(strength)


def _win_rates(n_models: int, outcomes: Sequence[Outcome]) -> np.ndarray:
    points, games = np.zeros(n_models), np.zeros(n_models)
    for i, j, s in outcomes:
        points[i] += s
        points[j] += 1 - s
        games[i] += 1
        games[j] += 1
    with np.errstate(divide="ignore", invalid="ignore"):
        return points / games


def win_rates(records: Sequence[VoteRecord], bootstrap_samples: int = 200, seed: int = 0) -> list[dict]:
    """Per model: comparisons, win rate (ties half) and Bradley–Terry score, each with a bootstrap 95% CI."""
    models, outcomes = model_outcomes(records)
    if len(models) < 2 or not outcomes:
        return []
    rate, score = _win_rates(len(models), outcomes), bradley_terry(len(models), outcomes)
    rng = np.random.default_rng(seed)
    samples = [[outcomes[k] for k in rng.integers(0, len(outcomes), len(outcomes))] for _ in range(bootstrap_samples)]
    boot_rate = np.array([_win_rates(len(models), s) for s in samples])
    boot_score = np.array([bradley_terry(len(models), s) for s in samples])
    rows = []
    for m, model in enumerate(models):
        played = [o for o in outcomes if m in o[:2]]
        rows.append(
            {
                "model": model,
                "comparisons": len(played),
                "win_rate": round(float(rate[m]), 4),
                "win_rate_ci95": [round(float(np.nanpercentile(boot_rate[:, m], q)), 4) for q in (2.5, 97.5)],
                "bt_score": round(float(score[m]), 4),
                "bt_ci95": [round(float(np.percentile(boot_score[:, m], q)), 4) for q in (2.5, 97.5)],
            }
        )
    return sorted(rows, key=lambda row: -row["bt_score"])


def build_report(
    records: Sequence[VoteRecord], statuses: dict[str, dict[str, int]], *, bootstrap_samples: int = 200, seed: int = 0
) -> QCReport:
    return QCReport(
        annotators=annotator_stats(records, statuses),
        agreement=agreement_summary(records),
        cohen_pairs=cohen_pairs(records),
        disagreements=disagreements(records),
        win_rates=win_rates(records, bootstrap_samples, seed),
    )
