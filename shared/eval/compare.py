"""Compare models on the same held-out sets with the same settings.

    python -m shared.eval.compare --config configs/eval/tiny.yaml
    python -m shared.eval.compare --config configs/eval/tiny.yaml --models base=artifacts/tiny-llama sft=artifacts/sft/tiny

Every model answers the same items with the same settings; then the reward-model judges score the answers (one
judge in memory at a time), and each model is compared with its baseline (`comparisons`, default from `baselines`)
by a paired bootstrap on the same items. Writes TensorBoard scalars to <runs_dir>/eval/<name>/ (identical tags for
every model, so `tensorboard --logdir runs` overlays them; the deltas under <runs_dir>/eval/deltas/<model>-vs-
<baseline>/) and report.md, results.json ({"models", "deltas", "judges"}) and PNG plots to <output_dir>.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from shared.config import ConfigError, save_resolved_config
from shared.eval.config import EvalConfig, load_eval_config
from shared.eval.deltas import paired_deltas, verdict_summary
from shared.eval.report import fmt, metric_names, write_report
from shared.eval.runner import EvalData, Scorers, add_judge_scores, evaluate_model, log_to_tensorboard
from shared.tensorboard import log_scalars, log_text

logger = logging.getLogger(__name__)


def compare(config: EvalConfig, scorers: Scorers | None = None) -> dict[str, Any]:
    """Evaluate every model of `config.models`, judge their answers, compare each with its baseline; write
    TensorBoard runs, results.json, report.md and plots. `scorers` ({judge: scorer or [scorers]}) stand in for
    (or add to) the config's reward-model paths."""
    models = config.model_paths()
    if not models:
        raise ConfigError("no models: set `models:` in the YAML or pass --models name=path ...")
    config.comparison_pairs()  # a typo fails before an hour of evaluation, not after
    check_paths(config, scorers)
    data = EvalData.load(config, with_judge_test=bool(config.judge_paths() or scorers))
    results: dict[str, dict[str, Any]] = {}
    for name, path in tqdm(models.items(), desc="models"):
        logger.info("evaluating %s (%s)", name, path)
        results[name] = evaluate_model(path, config, data)
    judges = add_judge_scores(results, config, data, scorers)
    return write_outputs(results, config, judges)


def _missing(path: str) -> bool:
    """A local path that does not exist; "org/name" without a local match is left to the Hub loader."""
    hub_id = path.count("/") == 1 and not path.startswith((".", "/", "~", "artifacts/"))
    return not Path(path).expanduser().exists() and not hub_id


def check_paths(config: EvalConfig, scorers: Scorers | None = None) -> None:
    """Every model and judge path exists, before anything is evaluated."""
    missing = [f"models: {name}={path}" for name, path in config.model_paths().items() if _missing(path)]
    for judge, members in config.judge_paths().items():
        if judge not in (scorers or {}):
            missing += [f"reward_models.{judge}: {path}" for path in members if _missing(path)]
    if missing:
        raise ConfigError("not found: " + "; ".join(missing))


def log_deltas(deltas: list[dict[str, Any]], runs_dir: str) -> None:
    """One TensorBoard run per comparison, `delta/<metric>` scalars and the table as text."""
    for model, baseline in {(r["model"], r["baseline"]) for r in deltas}:
        rows = [r for r in deltas if (r["model"], r["baseline"]) == (model, baseline)]
        run_dir = os.path.join(runs_dir, "eval", "deltas", f"{model}-vs-{baseline}")
        log_scalars(run_dir, {f"delta/{r['metric']}": r["delta"] for r in rows})
        table = "\n".join(
            f"| {r['metric']} | {r['delta']:+.4g} | [{r['low']:+.4g}, {r['high']:+.4g}] | {r['n']} | {r['verdict']} |"
            for r in rows
        )
        log_text(run_dir, "eval/deltas", "| metric | Δ | 95% interval | n | verdict |\n|---|---|---|---|---|\n" + table)


def write_outputs(
    results: dict[str, dict[str, Any]], config: EvalConfig, judges: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """From evaluated (and judged) results: paired deltas, TensorBoard, results.json, report.md and plots."""
    deltas = paired_deltas(results, config.comparison_pairs(), n=config.bootstrap_samples, seed=config.seed)
    for name, result in results.items():
        log_to_tensorboard(result, os.path.join(config.runs_dir, "eval", name))
    log_deltas(deltas, config.runs_dir)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = {"models": results, "deltas": deltas, "judges": judges or {}}
    (out / "results.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    save_resolved_config(out, config)
    files = write_report(results, out, deltas, judges)
    return {
        "results": results,
        "deltas": deltas,
        "judges": judges or {},
        "files": {k: str(v) for k, v in files.items()},
    }


def summary(results: dict[str, dict[str, Any]], deltas: list[dict[str, Any]] | None = None) -> str:
    """A plain-text table for the terminal."""
    metrics = metric_names(results)
    width = max(len(name) for name in results) + 2
    lines = [" " * width + "  ".join(f"{m:>12}" for m in metrics)]
    for name, result in results.items():
        cells = [fmt(result["metrics"].get(m, {}).get("value", float("nan"))) for m in metrics]
        lines.append(f"{name:<{width}}" + "  ".join(f"{c:>12}" for c in cells))
    for (model, baseline), by_verdict in verdict_summary(deltas or []).items():
        ahead, behind = (", ".join(by_verdict.get(v, [])) or "–" for v in ("ahead", "behind"))
        lines.append(f"{model} − {baseline} (paired 95%): ahead on {ahead}; behind on {behind}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        config = load_eval_config(list(sys.argv[1:] if argv is None else argv))
        outcome = compare(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(outcome["results"], outcome["deltas"]))
    print(f"report: {outcome['files']['report']}  ·  TensorBoard: {os.path.join(config.runs_dir, 'eval')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
