"""Cleaning: length filters, exact and near duplicates (MinHash), non-Turkish rows; every removed row goes to
the rejects with its reason and each step is counted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.data.validation import Rejects
from shared.text import is_turkish, normalize_turkish, turkish_lower, words

logger = logging.getLogger(__name__)


def example_text(row: dict[str, Any]) -> str:
    """All the text of an example, for length checks, deduplication and language checks."""
    if "messages" in row:
        return "\n".join(m["content"] for m in row["messages"])
    fields = ("prompt", "completion", "chosen", "rejected", "question", "reference")
    return "\n".join(str(row[name]) for name in fields if isinstance(row.get(name), str))


def turkish_key(text: str) -> str:
    """Normalised comparison key (NFC, Turkish lower case, single spaces) for leakage and matching checks."""
    return " ".join(turkish_lower(normalize_turkish(text)).split())


def _where(row: dict[str, Any], index: int) -> str:
    origin = row.get("_origin")
    return f"{origin['source']}:{origin['line']}" if origin else f"kept row {index}"


def _dedup_key(text: str) -> str:
    return " ".join(words(text))


def _shingles(text: str, size: int = 5) -> set[str]:
    tokens = words(text)
    if len(tokens) < size:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


@dataclass
class CleaningConfig:
    min_chars: int = 10
    max_chars: int = 20_000
    max_tokens: int | None = None
    dedup: bool = True
    near_dedup_threshold: float | None = 0.85  # Jaccard on word 5-shingles; None turns near-dedup off
    turkish_threshold: float | None = 0.35  # None turns the language filter off
    num_perm: int = 128
    seed: int = 42


@dataclass
class StepReport:
    step: str
    before: int
    removed: int

    @property
    def after(self) -> int:
        return self.before - self.removed


def clean(
    rows: list[dict[str, Any]],
    config: CleaningConfig,
    rejects: Rejects,
    *,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[list[dict[str, Any]], list[StepReport]]:
    """Length filters, exact and near duplicates, non-Turkish rows. Every removed row goes to `rejects`."""
    report: list[StepReport] = []

    def apply(step: str, keep: Callable[[dict[str, Any]], str | None]) -> None:
        nonlocal rows
        kept = []
        for row in rows:
            reason = keep(row)
            if reason is None:
                kept.append(row)
            else:
                rejects.add(row, step, reason)
        report.append(StepReport(step, len(rows), len(rows) - len(kept)))
        logger.info("%s: removed %d of %d rows", step, len(rows) - len(kept), len(rows))
        rows = kept

    def length(row: dict[str, Any]) -> str | None:
        n = len(example_text(row))
        if n < config.min_chars:
            return f"{n} characters < min_chars {config.min_chars}"
        if n > config.max_chars:
            return f"{n} characters > max_chars {config.max_chars}"
        if config.max_tokens is not None and count_tokens is not None:
            tokens = count_tokens(example_text(row))
            if tokens > config.max_tokens:
                return f"{tokens} tokens > max_tokens {config.max_tokens}"
        return None

    apply("length", length)

    if config.dedup:
        seen: dict[str, str] = {}

        def exact(row: dict[str, Any]) -> str | None:
            key = _dedup_key(example_text(row))
            if key in seen:
                return f"exact duplicate of {seen[key]}"
            seen[key] = _where(row, len(seen))
            return None

        apply("exact_dedup", exact)

    if config.near_dedup_threshold is not None:
        from datasketch import MinHash, MinHashLSH

        # LSH banding misses pairs just above its threshold, so candidates are gathered at a lower threshold
        # and confirmed with the exact Jaccard below.
        lsh = MinHashLSH(threshold=max(config.near_dedup_threshold - 0.2, 0.1), num_perm=config.num_perm)
        kept_shingles: dict[str, set[str]] = {}
        kept_where: dict[str, str] = {}

        def near(row: dict[str, Any]) -> str | None:
            shingles = _shingles(example_text(row))
            minhash = MinHash(num_perm=config.num_perm, seed=config.seed)
            minhash.update_batch([s.encode("utf-8") for s in shingles])
            for key in lsh.query(minhash):
                other = kept_shingles[key]
                jaccard = len(shingles & other) / len(shingles | other)
                if jaccard >= config.near_dedup_threshold:
                    return f"near duplicate of {kept_where[key]} (Jaccard {jaccard:.2f})"
            key = str(len(kept_shingles))
            lsh.insert(key, minhash)
            kept_shingles[key] = shingles
            kept_where[key] = _where(row, len(kept_where))
            return None

        apply("near_dedup", near)

    if config.turkish_threshold is not None:

        def turkish(row: dict[str, Any]) -> str | None:
            if is_turkish(example_text(row), config.turkish_threshold):
                return None
            return "not Turkish"

        apply("language", turkish)
    return rows, report
