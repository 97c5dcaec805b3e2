"""The comparison report: report.md (model × metric table with intervals, best in bold; paired deltas of each
model against its baseline with verdicts; the reward-model judges and their test accuracy) and PNG plots (one bar
chart per metric with CI whiskers; MCQ accuracy per subdomain)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402

from shared.eval.deltas import verdict_summary  # noqa: E402
from shared.eval.reward_judged import NOTE as RM_NOTE  # noqa: E402
from shared.eval.runner import metric_info, ordered_metrics  # noqa: E402
from shared.eval.stats import AHEAD, BEHIND, NO_DIFFERENCE  # noqa: E402

Results = dict[str, dict[str, Any]]  # model name → evaluate_model() result


def fmt(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def metric_names(results: Results) -> list[str]:
    """Metrics present for at least one model, in the registry's order, then the judges' scores."""
    return ordered_metrics([name for result in results.values() for name in result["metrics"]])


def value(result: dict[str, Any], metric: str) -> float:
    entry = result["metrics"].get(metric)
    return float("nan") if entry is None else entry["value"]


def best_models(results: Results, metric: str) -> set[str]:
    direction = metric_info(metric).higher_is_better
    values = {name: value(r, metric) for name, r in results.items() if not math.isnan(value(r, metric))}
    if direction is None or len(set(values.values())) < 2:
        return set()  # nothing to single out: one model, or every model scores the same
    target = max(values.values()) if direction else min(values.values())
    return {name for name, v in values.items() if v == target}


ARROWS = {True: " ↑", False: " ↓", None: ""}


def label(metric: str) -> str:
    info = metric_info(metric)
    return info.label + ARROWS[info.higher_is_better]


def header(metrics: list[str], first: str = "model") -> list[str]:
    labels = [label(m) for m in metrics]
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


def signed(value: float) -> str:
    return "–" if value is None or math.isnan(value) else ("+" if value >= 0 else "−") + fmt(abs(value))


VERDICT_CELLS = {AHEAD: "**ahead**", BEHIND: "**behind**"}


def delta_sections(deltas: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    """One table per comparison: metric, both values, delta, paired interval, items, verdict."""
    if not deltas:
        return []
    lines = [
        "## Paired deltas (model − baseline, same items)",
        "",
        f"95% paired percentile bootstrap, {meta['bootstrap_samples']} resamples, "
        f"seed {meta['seed']}: each resample draws item indices once and scores both models on them. **ahead**: the "
        "interval excludes 0 on the metric's better side (↑ higher, ↓ lower is better); **behind**: it excludes 0 on "
        "the other side; otherwise no significant difference. chrF++ and BLEU are corpus scores recomputed on each "
        "resample, perplexity is pooled over the resampled conversations.",
        "",
    ]
    for (model, baseline), by_verdict in verdict_summary(deltas).items():
        rows = [r for r in deltas if (r["model"], r["baseline"]) == (model, baseline)]
        ahead, behind, same = (
            ", ".join(metric_info(m).label for m in by_verdict.get(v, [])) or "–"
            for v in (AHEAD, BEHIND, NO_DIFFERENCE)
        )
        lines += [
            f"### {model} − {baseline}",
            "",
            f"Ahead on: {ahead}. Behind on: {behind}. No significant difference: {same}.",
            "",
            f"| metric | {model} | {baseline} | Δ | 95% interval | n | verdict |",
            "|---|---:|---:|---:|---|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {label(r['metric'])} | {fmt(r['model_value'])} | {fmt(r['baseline_value'])} | {signed(r['delta'])} "
                f"| [{signed(r['low'])}, {signed(r['high'])}] | {r['n']} | {VERDICT_CELLS.get(r['verdict'], r['verdict'])} |"
            )
        lines.append("")
    return lines


def judge_sections(judges: dict[str, dict[str, Any]]) -> list[str]:
    """Each judge: independent or not, its members, pairwise accuracy and calibration on the test pairs."""
    if not judges:
        return []
    lines = [
        "## Reward-model judges",
        "",
        "| judge | independent | members | test pairs | accuracy [95% interval] | ECE | mean margin |",
        "|---|---|---|---:|---|---:|---:|",
    ]
    for name, judge in judges.items():
        independent = (
            "**yes**: trained on pairs disjoint from the policies' data, never a training reward"
            if judge["independent"]
            else "no: a policy may have been trained against it or on its data"
        )
        members = ", ".join(f"`{m}`" for m in judge["members"])
        members += f" (ensemble of {len(judge['members'])}: mean score)" if len(judge["members"]) > 1 else ""
        test = judge.get("test")
        if test:
            ci = test["accuracy_ci"]
            cells = (
                f"{int(test['pairs'])} | {fmt(test['accuracy'])} [{fmt(ci['low'])}, {fmt(ci['high'])}] | "
                f"{fmt(test['ece'])} | {signed(test['mean_margin'])}"
            )
        else:
            cells = "– | – | – | –"
        lines.append(f"| {name} | {independent} | {members} | {cells} |")
    tested = {name: j["test"] for name, j in judges.items() if j.get("test")}
    defects = sorted({k.split("/", 2)[2] for t in tested.values() for k in t if k.startswith("accuracy/defect/")})
    if defects:
        lines += ["", "Accuracy per defect of the rejected answer:", ""]
        lines += ["| defect | " + " | ".join(tested) + " |", "|---|" + "---:|" * len(tested)]
        for defect in defects:
            cells = [fmt(t.get(f"accuracy/defect/{defect}", float("nan"))) for t in tested.values()]
            lines.append(f"| {defect} | " + " | ".join(cells) + " |")
    first = next(iter(judges.values()))
    if first.get("test_data"):
        lines += [
            "",
            f"Test pairs: `{first['test_data']}` ({first.get('test_pairs_skipped', 0)} ties or both-bad pairs "
            "skipped). ECE: calibration of the Bradley-Terry probability sigmoid(score difference).",
        ]
    return [*lines, ""]


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

    def timing(result: dict[str, Any]) -> str:
        seconds = result["meta"].get("seconds") or {}
        parts = ", ".join(f"{task} {value:.0f}" for task, value in seconds.items())
        return f" ({sum(seconds.values()):.0f} s: {parts})" if seconds else ""

    lines = [f"- `{name}`: `{r['meta']['model']}`{timing(r)}" for name, r in results.items()]
    counts = [
        f"{meta[key]} {what}"
        for key, what in (
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


def write_markdown(
    results: Results,
    path: Path,
    plots: list[str],
    deltas: list[dict[str, Any]] | None = None,
    judges: dict[str, dict[str, Any]] | None = None,
) -> Path:
    metrics = metric_names(results)
    meta = next(iter(results.values()))["meta"]
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
        *delta_sections(deltas or [], meta),
        *judge_sections(judges or {}),
    ]
    if subdomain := subdomain_table(results):
        lines += ["## MCQ accuracy per subdomain", "", *subdomain, ""]
    if judges:
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
        _bars(ax, names, [results[n]["metrics"].get(metric) for n in names], metric_info(metric).label)
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


def write_report(
    results: Results,
    output_dir: str | Path,
    deltas: list[dict[str, Any]] | None = None,
    judges: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Path]:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = [plot_metrics(results, out / "metrics.png")]
    if subdomains := plot_subdomains(results, out / "mcq_subdomains.png"):
        plots.append(subdomains)
    report = write_markdown(results, out / "report.md", [str(p) for p in plots], deltas, judges)
    return {"report": report, **{p.stem: p for p in plots}}
