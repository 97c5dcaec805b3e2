"""The comparison report: report.md (model × metric table with intervals, best in bold, deltas against the
baselines) and PNG plots (one bar chart per metric with CI whiskers; MCQ accuracy per subdomain)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402

from shared.eval.reward_judged import NOTE as RM_NOTE  # noqa: E402
from shared.eval.runner import METRICS  # noqa: E402

Results = dict[str, dict[str, Any]]  # model name → evaluate_model() result


def fmt(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def fmt_delta(value: float) -> str:
    return "–" if math.isnan(value) else ("+" if value >= 0 else "−") + fmt(abs(value))


def metric_names(results: Results) -> list[str]:
    """Metrics present for at least one model, in the registry's order."""
    present = {name for result in results.values() for name in result["metrics"]}
    return [name for name in METRICS if name in present]


def value(result: dict[str, Any], metric: str) -> float:
    entry = result["metrics"].get(metric)
    return float("nan") if entry is None else entry["value"]


def best_models(results: Results, metric: str) -> set[str]:
    direction = METRICS[metric].higher_is_better
    values = {name: value(r, metric) for name, r in results.items() if not math.isnan(value(r, metric))}
    if direction is None or len(set(values.values())) < 2:
        return set()  # nothing to single out: one model, or every model scores the same
    target = max(values.values()) if direction else min(values.values())
    return {name for name, v in values.items() if v == target}


def header(metrics: list[str], first: str = "model") -> list[str]:
    arrows = {True: " ↑", False: " ↓", None: ""}
    labels = [METRICS[m].label + arrows[METRICS[m].higher_is_better] for m in metrics]
    return [f"| {first} | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(metrics)]


def results_table(results: Results, metrics: list[str]) -> list[str]:
    lines = header(metrics)
    best = {m: best_models(results, m) for m in metrics}
    for name, result in results.items():
        cells = []
        for metric in metrics:
            entry = result["metrics"].get(metric)
            if entry is None:
                cells.append("–")
                continue
            cell = f"{fmt(entry['value'])} [{fmt(entry['low'])}, {fmt(entry['high'])}]"
            cells.append(f"**{cell}**" if name in best[metric] else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def delta_table(results: Results, metrics: list[str], baseline: str) -> list[str]:
    lines = header(metrics)
    for name, result in results.items():
        if name != baseline:
            deltas = [fmt_delta(value(result, m) - value(results[baseline], m)) for m in metrics]
            lines.append(f"| {name} | " + " | ".join(deltas) + " |")
    return lines


def subdomain_table(results: Results) -> list[str]:
    subdomains = sorted({s for result in results.values() for s in result["mcq_subdomains"]})
    if not subdomains:
        return []
    lines = ["| subdomain | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for subdomain in subdomains:
        cells = [fmt(r["mcq_subdomains"].get(subdomain, {}).get("value", float("nan"))) for r in results.values()]
        lines.append(f"| {subdomain} | " + " | ".join(cells) + " |")
    return lines


def settings_lines(results: Results) -> list[str]:
    meta = next(iter(results.values()))["meta"]
    lines = [f"- `{name}`: `{r['meta']['model']}`" for name, r in results.items()]
    counts = [
        f"{meta[key]} {label}"
        for key, label in (
            ("mcq_items", f"MCQ items ({meta.get('num_fewshot')}-shot)"),
            ("open_qa_items", "open questions"),
            ("perplexity_items", "validation conversations"),
        )
        if key in meta
    ]
    lines.append(f"- Same held-out items and settings for every model: {', '.join(counts)}.")
    if "decoding" in meta:
        lines.append(f"- Decoding: `{meta['decoding']}`.")
    lines.append(
        f"- Intervals: 95% percentile bootstrap over items, {meta['bootstrap_samples']} resamples, seed {meta['seed']}."
    )
    if "perplexity_tokens" in meta:
        lines.append(f"- Perplexity scored on {meta['perplexity_tokens']} tokens of the chat-formatted conversations.")
    return lines


def write_markdown(results: Results, path: Path, baselines: list[str], plots: list[str]) -> Path:
    metrics = metric_names(results)
    lines = [
        "# Evaluation report",
        "",
        *settings_lines(results),
        "",
        "## Results",
        "",
        *results_table(results, metrics),
        "",
        "Best value per column in **bold** (↑ higher is better, ↓ lower is better); `[low, high]` is the 95% interval.",
        "",
    ]
    for baseline in baselines:
        if baseline in results and len(results) > 1:
            lines += [f"## Δ vs {baseline}", "", *delta_table(results, metrics, baseline), ""]
    if subdomain := subdomain_table(results):
        lines += ["## MCQ accuracy per subdomain", "", *subdomain, ""]
    if {"rm_score", "rm_win_rate"} & set(metrics):
        lines += ["## Note on the RM-judged metrics", "", RM_NOTE, ""]
    lines += [
        "## Plots",
        "",
        *[f"![{Path(p).stem}]({Path(p).name})" for p in plots],
        "",
        "Metric definitions and caveats: docs/evaluation.md.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _values_and_whiskers(entries: list[dict[str, float] | None]) -> tuple[list[float], list[list[float]]]:
    """Bar heights and matplotlib's asymmetric `yerr` ([below], [above]) from {value, low, high} entries."""
    values = [e["value"] if e else float("nan") for e in entries]
    below = [max(e["value"] - e["low"], 0) if e else 0 for e in entries]
    above = [max(e["high"] - e["value"], 0) if e else 0 for e in entries]
    return values, [below, above]


def _bars(ax, names: list[str], entries: list[dict[str, float] | None], title: str) -> None:
    values, whiskers = _values_and_whiskers(entries)
    ax.bar(names, values, yerr=whiskers, capsize=4, color=[f"C{i}" for i in range(len(names))])
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)


def plot_metrics(results: Results, path: Path) -> Path:
    metrics = metric_names(results)
    columns = min(4, len(metrics))
    rows = math.ceil(len(metrics) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.8 * rows), squeeze=False)
    names = list(results)
    for ax, metric in zip(axes.flat, metrics):
        _bars(ax, names, [results[n]["metrics"].get(metric) for n in names], METRICS[metric].label)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_subdomains(results: Results, path: Path) -> Path | None:
    subdomains = sorted({s for result in results.values() for s in result["mcq_subdomains"]})
    if not subdomains:
        return None
    figure, ax = plt.subplots(figsize=(max(6, 1.2 * len(subdomains) * max(1, len(results) / 2)), 3.6))
    width = 0.8 / len(results)
    for index, (name, result) in enumerate(results.items()):
        entries = [result["mcq_subdomains"].get(s) for s in subdomains]
        xs = [i + index * width for i in range(len(subdomains))]
        values, whiskers = _values_and_whiskers(entries)
        ax.bar(xs, values, width, yerr=whiskers, capsize=3, label=name)
    ax.set_xticks(
        [i + width * (len(results) - 1) / 2 for i in range(len(subdomains))],
        subdomains,
        rotation=30,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel("MCQ accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(results: Results, output_dir: str | Path, baselines: list[str]) -> dict[str, Path]:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = [plot_metrics(results, out / "metrics.png")]
    if subdomains := plot_subdomains(results, out / "mcq_subdomains.png"):
        plots.append(subdomains)
    report = write_markdown(results, out / "report.md", baselines, [str(p) for p in plots])
    return {"report": report, **{p.stem: p for p in plots}}
