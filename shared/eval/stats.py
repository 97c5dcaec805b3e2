"""Bootstrap confidence intervals (percentile method), seeded so reports are reproducible: one model's metric
(`estimate`) and the paired difference between two models on the same items (`paired_bootstrap`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float | np.number) for v in values)


def _percentiles(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[Any],
    stat: Callable[[Sequence[Any]], float] = mean,
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat` over `values` resampled with replacement, `n` times.

    `values` may be numbers or any items (e.g. (hypothesis, reference) pairs for a corpus-level metric);
    `stat` receives a resampled list.
    """
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(values), size=(n, len(values)))
    if stat is mean and _numeric(values):
        samples = np.asarray(values, dtype=float)[indices].mean(axis=1)  # vectorised: the common case
    else:
        samples = np.array([stat([values[i] for i in row]) for row in indices])
    return _percentiles(samples, confidence)


def estimate(
    values: Sequence[Any],
    stat: Callable[[Sequence[Any]], float] = mean,
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """`stat(values)` with its bootstrap interval."""
    low, high = bootstrap_ci(values, stat, n=n, seed=seed, confidence=confidence)
    return Estimate(float(stat(values)) if len(values) else float("nan"), low, high)


def estimates(
    item_values: Mapping[str, Sequence[Any]],
    statistics: Mapping[str, Callable[[Sequence[Any]], float]] | None = None,
    *,
    n: int = 1000,
    seed: int = 0,
) -> dict[str, Estimate]:
    """One `estimate` per metric from its per-item values; `statistics` names the metrics not averaged."""
    statistics = statistics or {}
    return {name: estimate(values, statistics.get(name, mean), n=n, seed=seed) for name, values in item_values.items()}


@dataclass(frozen=True)
class PairedDelta:
    """stat(model) − stat(baseline) on the same `n` items, with its paired bootstrap interval."""

    delta: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def paired_bootstrap(
    model_values: Sequence[Any],
    baseline_values: Sequence[Any],
    stat: Callable[[Sequence[Any]], float] = mean,
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedDelta:
    """Paired percentile bootstrap of stat(model) − stat(baseline).

    Item i of both lists is the same test item, so each resample draws item indices once and applies them to
    both models: the difference keeps what the items share (an easy question is easy for both), and the
    interval is narrower than one from two independent intervals. `stat` is recomputed on each resample, so
    corpus-level statistics (chrF++ from summed n-gram counts, pooled perplexity) are paired correctly too.
    """
    if len(model_values) != len(baseline_values):
        raise ValueError(f"paired bootstrap needs the same items: {len(model_values)} vs {len(baseline_values)} values")
    size = len(model_values)
    if size == 0:
        return PairedDelta(float("nan"), float("nan"), float("nan"), 0)
    delta = float(stat(model_values)) - float(stat(baseline_values))
    indices = np.random.default_rng(seed).integers(0, size, size=(n, size))
    if stat is mean and _numeric(model_values) and _numeric(baseline_values):
        differences = np.asarray(model_values, dtype=float) - np.asarray(baseline_values, dtype=float)
        samples = differences[indices].mean(axis=1)
    else:
        samples = np.array(
            [stat([model_values[i] for i in row]) - stat([baseline_values[i] for i in row]) for row in indices]
        )
    low, high = _percentiles(samples, confidence)
    return PairedDelta(delta, low, high, size)


AHEAD, BEHIND, NO_DIFFERENCE = "ahead", "behind", "no significant difference"


def verdict(low: float, high: float, higher_is_better: bool | None) -> str:
    """ "ahead" when the interval excludes 0 on the metric's better side, "behind" when it excludes 0 on the other,
    else "no significant difference"; a metric without a direction (answer length) is "higher" or "lower"."""
    if np.isnan(low) or np.isnan(high):
        return "not computed"
    if low <= 0 <= high:
        return NO_DIFFERENCE
    above = low > 0
    if higher_is_better is None:
        return "higher" if above else "lower"
    return AHEAD if above == higher_is_better else BEHIND
