"""Compare models on the same held-out sets with the same settings.

    python -m shared.eval.compare --config configs/eval/tiny.yaml
    python -m shared.eval.compare --config configs/eval/tiny.yaml --models base=artifacts/tiny-llama sft=artifacts/sft/tiny

Writes TensorBoard scalars to <runs_dir>/eval/<name>/ (identical tags for every model, so `tensorboard --logdir
runs` overlays them) and report.md, results.json and PNG plots to <output_dir>.
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
from shared.eval.report import fmt, metric_names, write_report
from shared.eval.runner import EvalData, evaluate_model, log_to_tensorboard

logger = logging.getLogger(__name__)


def compare(config: EvalConfig, scorer=None) -> dict[str, Any]:
    """Evaluate every model of `config.models`; write TensorBoard runs, results.json, report.md and plots."""
    models = config.model_paths()
    if not models:
        raise ConfigError("no models: set `models:` in the YAML or pass --models name=path ...")
    data = EvalData.load(config)
    results: dict[str, dict[str, Any]] = {}
    for name, path in tqdm(models.items(), desc="models"):
        logger.info("evaluating %s (%s)", name, path)
        results[name] = evaluate_model(path, config, data, scorer=scorer)
        log_to_tensorboard(results[name], os.path.join(config.runs_dir, "eval", name))
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    save_resolved_config(out, config)
    files = write_report(results, out, config.baselines)
    return {"results": results, "files": {k: str(v) for k, v in files.items()}}


def summary(results: dict[str, dict[str, Any]]) -> str:
    """A plain-text table for the terminal."""
    metrics = metric_names(results)
    width = max(len(name) for name in results) + 2
    lines = [" " * width + "  ".join(f"{m:>12}" for m in metrics)]
    for name, result in results.items():
        cells = [fmt(result["metrics"].get(m, {}).get("value", float("nan"))) for m in metrics]
        lines.append(f"{name:<{width}}" + "  ".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        config = load_eval_config(list(sys.argv[1:] if argv is None else argv))
        outcome = compare(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(outcome["results"]))
    print(f"report: {outcome['files']['report']}  ·  TensorBoard: {os.path.join(config.runs_dir, 'eval')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
