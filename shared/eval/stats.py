"""Bootstrap confidence intervals (percentile method), seeded so reports are reproducible."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    if stat is mean and all(isinstance(v, int | float | np.number) for v in values):
        samples = np.asarray(values, dtype=float)[indices].mean(axis=1)  # vectorised: the common case
    else:
        samples = np.array([stat([values[i] for i in row]) for row in indices])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


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
