"""Paired deltas: each model against its baseline on the same items, with a paired bootstrap interval.

For every metric both models have per-item values for, delta = metric(model) − metric(baseline) and its 95%
percentile interval from resampling item indices jointly (`shared.eval.stats.paired_bootstrap`); each metric's own
statistic is recomputed per resample (corpus chrF++/BLEU from summed n-gram statistics, pooled perplexity,
macro-F1). The verdict is "ahead" when the interval excludes 0 on the metric's better side, "behind" when it
excludes 0 on the other side, else "no significant difference".
"""

from __future__ import annotations

from typing import Any

from shared.eval.runner import metric_info, ordered_metrics
from shared.eval.stats import paired_bootstrap, verdict

Results = dict[str, dict[str, Any]]  # model name → evaluate_model() result


def paired_deltas(
    results: Results,
    comparisons: list[tuple[str, str]],
    *,
    n: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (model, baseline, metric): model and baseline values, delta, low, high, n, verdict."""
    rows = []
    for model, baseline in comparisons:
        ours, theirs = results[model]["per_item"], results[baseline]["per_item"]
        for metric in ordered_metrics([m for m in ours if m in theirs]):
            if len(ours[metric]) != len(theirs[metric]):
                raise ValueError(
                    f"{metric}: {model} has {len(ours[metric])} items, {baseline} {len(theirs[metric])}: "
                    "paired deltas need both models evaluated on the same items"
                )
            info = metric_info(metric)
            paired = paired_bootstrap(ours[metric], theirs[metric], info.statistic, n=n, seed=seed)
            rows.append(
                {
                    "model": model,
                    "baseline": baseline,
                    "metric": metric,
                    "model_value": info.statistic(ours[metric]),
                    "baseline_value": info.statistic(theirs[metric]),
                    **paired.to_dict(),
                    "verdict": verdict(paired.low, paired.high, info.higher_is_better),
                }
            )
    return rows


def verdict_summary(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, list[str]]]:
    """(model, baseline) → {verdict: [metrics]}, for the report's and the terminal's one-line summaries."""
    summary: dict[tuple[str, str], dict[str, list[str]]] = {}
    for row in rows:
        summary.setdefault((row["model"], row["baseline"]), {}).setdefault(row["verdict"], []).append(row["metric"])
    return summary
