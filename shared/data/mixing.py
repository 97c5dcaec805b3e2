"""Class balancing, seeded train/validation splits and weighted mixtures of sources."""

from __future__ import annotations

import random
from typing import Any


def balance(
    rows: list[dict[str, Any]],
    column: str,
    *,
    cap: int | None = None,
    target: dict[str, float] | None = None,
    total: int | None = None,
    seed: int = 42,
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, int]]]:
    """Balance classes of `column`: cap each class at `cap` rows (down-sampling), or resample to a `target`
    distribution (shares, normalised) of `total` rows (default: current size), up-sampling with replacement.

    Returns the rows and a table {class: (before, after)}.
    """
    if (cap is None) == (target is None):
        raise ValueError("give exactly one of cap or target")
    rng = random.Random(seed)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(column)), []).append(row)
    if target is not None:
        missing = set(target) - set(groups)
        if missing:
            raise ValueError(f"target classes with no rows: {sorted(missing)}")
        total = total or len(rows)
        norm = sum(target.values())
        wanted = {name: round(total * share / norm) for name, share in target.items()}
    else:
        wanted = {name: min(len(group), cap) for name, group in groups.items()}
    balanced: list[dict[str, Any]] = []
    for name in sorted(groups):
        group, n = groups[name], wanted.get(name, 0)
        if n <= len(group):
            balanced.extend(rng.sample(group, n))
        else:
            balanced.extend(group + rng.choices(group, k=n - len(group)))
    rng.shuffle(balanced)
    table = {name: (len(groups[name]), wanted.get(name, 0)) for name in sorted(groups)}
    return balanced, table


def split_rows(
    rows: list[dict[str, Any]], validation_fraction: float, *, seed: int = 42
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Deterministic seeded train/validation split."""
    if not 0 <= validation_fraction < 1:
        raise ValueError("validation_fraction must be in [0, 1)")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = round(len(rows) * validation_fraction)
    val_ids = set(order[:n_val])
    train = [rows[i] for i in order if i not in val_ids]
    validation = [rows[i] for i in sorted(val_ids)]
    return train, validation


def mix(sources: list[tuple[list[dict[str, Any]], float]], *, total: int | None = None, seed: int = 42) -> list[dict]:
    """Weighted mixture: each source contributes `weight / sum(weights)` of `total` rows (default: sum of sizes);
    a source smaller than its share is up-sampled with replacement, a larger one down-sampled."""
    if not sources or any(weight < 0 for _, weight in sources):
        raise ValueError("a mixture needs sources with non-negative weights")
    rng = random.Random(seed)
    total = total or sum(len(rows) for rows, _ in sources)
    norm = sum(weight for _, weight in sources)
    mixed: list[dict[str, Any]] = []
    for rows, weight in sources:
        n = round(total * weight / norm)
        if not rows and n:
            raise ValueError("a weighted source has no rows")
        mixed.extend(rng.sample(rows, n) if n <= len(rows) else rows + rng.choices(rows, k=n - len(rows)))
    rng.shuffle(mixed)
    return mixed
