"""Held-out metrics of a reward model on preference pairs: accuracy, margin, calibration, per-group accuracy; and
the check that a saved reward model scores like the trained one."""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from pathlib import Path


def bradley_terry_probability(score_a: float, score_b: float) -> float:
    """P(a preferred over b) under the Bradley-Terry model the reward loss fits: sigmoid(a - b)."""
    return 1.0 / (1.0 + math.exp(-(score_a - score_b)))


def expected_calibration_error(probabilities: list[float], outcomes: list[int], bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width probability bins, weighted by bin size."""
    buckets: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p, y in zip(probabilities, outcomes):
        buckets[min(int(p * bins), bins - 1)].append((p, y))
    total = len(probabilities)
    return (
        sum(
            len(items) / total * abs(sum(y for _, y in items) / len(items) - sum(p for p, _ in items) / len(items))
            for items in buckets.values()
        )
        if total
        else 0.0
    )


def preference_metrics(
    chosen_scores: list[float],
    rejected_scores: list[float],
    groups: dict[str, list[str | None]] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Pairwise accuracy, mean margin, ECE of the BT probability and accuracy per group value (e.g. per defect).

    For calibration each pair is shown in a random (seeded) order, so both outcomes occur; otherwise the
    "chosen first" label would always be 1 and ECE would only measure confidence.
    """
    n = len(chosen_scores)
    correct = [c > r for c, r in zip(chosen_scores, rejected_scores)]
    rng = random.Random(seed)
    probabilities, outcomes = [], []
    for c, r in zip(chosen_scores, rejected_scores):
        chosen_first = rng.random() < 0.5
        a, b = (c, r) if chosen_first else (r, c)
        probabilities.append(bradley_terry_probability(a, b))
        outcomes.append(int(chosen_first))
    metrics = {
        "pairs": float(n),
        "accuracy": sum(correct) / n if n else 0.0,
        "mean_margin": sum(c - r for c, r in zip(chosen_scores, rejected_scores)) / n if n else 0.0,
        "ece": expected_calibration_error(probabilities, outcomes),
    }
    for group_name, values in (groups or {}).items():
        per_value: dict[str, list[bool]] = defaultdict(list)
        for value, ok in zip(values, correct):
            per_value[str(value)].append(ok)
        for value, oks in sorted(per_value.items()):
            metrics[f"accuracy/{group_name}/{value}"] = sum(oks) / len(oks)
    return metrics


def check_reload(in_memory: list[float], reloaded: list[float], output_dir: str, tolerance: float = 1e-4) -> None:
    """The saved model must score exactly like the trained one (LoRA head/adapter loss is a known bug class)."""
    worst = max((abs(a - b) for a, b in zip(in_memory, reloaded)), default=0.0)
    if worst > tolerance:
        raise RuntimeError(f"{output_dir}: reloaded reward model scores differ from the trained model by {worst:.2e}")
    (Path(output_dir) / "reload_check.json").write_text(
        json.dumps({"pairs": len(in_memory) // 2, "max_abs_diff": worst})
    )
