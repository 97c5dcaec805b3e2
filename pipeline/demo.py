"""The whole loop on a CPU, offline: `make demo` (full, <= 15 min on 2 cores) or `make demo DEMO_SCALE=fast`.

tiny model → data preparation → SFT → annotation candidates → reward model → DPO, PPO, GRPO → comparison report.
Each stage is the same command a user runs by hand (printed before it runs); the demo stops at the first failure
and names the stage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from annotation_app.config import DEFAULT_DB_PATH
from pipeline.stages import ACCELERATE, REPO_ROOT, Stage, run_stages, with_app_export

# Per scale: model size and steps per stage. `full` is the documented demo (<= 15 min on 2 cores), whose loop checks
# must hold; `fast` is the smoke run `make test` uses (the <1M model, a few steps each, small evaluation limits),
# whose checks are reported only.
SCALES = {
    "full": {
        "size": "small",
        "sft": 100,
        "reward": 70,
        "dpo": 40,
        "ppo": 10,
        "grpo": 48,
        "candidates": 24,
        "eval": [],
        "enforce_checks": True,
    },
    "fast": {
        "size": "tiny",
        "sft": 12,
        "reward": 6,
        "dpo": 4,
        "ppo": 2,
        "grpo": 2,
        "candidates": 4,
        "eval": ["--max_mcq", "10", "--max_open_qa", "4", "--max_perplexity", "8", "--bootstrap_samples", "100"],
        "enforce_checks": False,
    },
}


def stages(scale: str, root: str) -> list[Stage]:
    steps = SCALES[scale]
    art = f"{root}/artifacts"
    runs = f"{root}/runs"
    base, sft, rm = f"{art}/tiny-llama", f"{art}/sft/tiny", f"{art}/reward/tiny"
    db = f"sqlite:///{root}/{DEFAULT_DB_PATH}"  # the app's own database, so `make app` shows these candidates
    export = f"{art}/annotation/dpo_export.jsonl"
    common = ["--runs_dir", runs]
    py = [sys.executable, "-m"]
    return [
        Stage("tiny model", [*py, "shared.tiny_model", "--out", base, "--size", steps["size"]], [base]),
        Stage(
            "data preparation",
            [*py, "shared.data", "prepare", "--config", "configs/data/sft.yaml", "--output_dir", f"{art}/data/sft"],
            [f"{art}/data/sft/report.md"],
        ),
        Stage(
            "SFT",
            [
                *ACCELERATE,
                "sft/train.py",
                "--config",
                "configs/sft/tiny.yaml",
                "--model_name_or_path",
                base,
                "--train_data",
                f"{art}/data/sft/train.jsonl",
                "--eval_data",
                f"{art}/data/sft/validation.jsonl",
                "--output_dir",
                sft,
                "--max_steps",
                str(steps["sft"]),
                *common,
            ],
            [sft],
        ),
        Stage(
            "annotation candidates",
            [
                *py,
                "annotation_app.generate",
                "--db",
                db,
                "--model",
                sft,
                "--model",
                base,
                "--prompts",
                "data/prompts/annotation.jsonl",
                "--gold",
                "data/prompts/annotation_gold.jsonl",
                "--n",
                "1",
                "--limit",
                str(steps["candidates"]),
                "--max-new-tokens",
                "96",
            ],
            [db],
        ),
        Stage(  # before anyone has voted: an empty export, on purpose (make app, then make round)
            "app export",
            [*py, "annotation_app.export", "--db", db, "--format", "dpo", "--out", export, "--allow-empty"],
            [export],
        ),
        Stage(
            "reward model",
            lambda: [
                *ACCELERATE,
                "reward/train.py",
                "--config",
                "configs/reward/tiny.yaml",
                "--train_data",
                *with_app_export("data/preferences/train.jsonl", export),
                "--model_name_or_path",
                sft,
                "--output_dir",
                rm,
                "--max_steps",
                str(steps["reward"]),
                *common,
            ],
            [rm],
        ),
        Stage(
            "DPO",
            [
                *ACCELERATE,
                "rlhf/dpo.py",
                "--config",
                "configs/rlhf/dpo_tiny.yaml",
                "--model_name_or_path",
                sft,
                "--output_dir",
                f"{art}/dpo/tiny",
                "--max_steps",
                str(steps["dpo"]),
                *common,
            ],
            [f"{art}/dpo/tiny"],
        ),
        Stage(
            "PPO",
            [
                *ACCELERATE,
                "rlhf/ppo.py",
                "--config",
                "configs/rlhf/ppo_tiny.yaml",
                "--model_name_or_path",
                sft,
                "--reward_model",
                rm,
                "--output_dir",
                f"{art}/ppo/tiny",
                "--max_steps",
                str(steps["ppo"]),
                *common,
            ],
            [f"{art}/ppo/tiny"],
        ),
        Stage(
            "GRPO",
            [
                *ACCELERATE,
                "rlhf/grpo.py",
                "--config",
                "configs/rlhf/grpo_tiny.yaml",
                "--model_name_or_path",
                sft,
                "--reward_model",
                rm,
                "--output_dir",
                f"{art}/grpo/tiny",
                "--max_steps",
                str(steps["grpo"]),
                *common,
            ],
            [f"{art}/grpo/tiny"],
        ),
        Stage(
            "comparison",
            [
                *py,
                "shared.eval.compare",
                "--config",
                "configs/eval/tiny.yaml",
                "--models",
                f"base={base}",
                f"sft={sft}",
                f"dpo={art}/dpo/tiny",
                f"ppo={art}/ppo/tiny",
                f"grpo={art}/grpo/tiny",
                "--reward_model",
                rm,
                "--output_dir",
                f"{art}/eval/tiny",
                "--runs_dir",
                runs,
                *steps["eval"],
            ],
            [f"{art}/eval/tiny/report.md"],
        ),
    ]


ALIGNED = ("dpo", "ppo", "grpo")


def loop_checks(results: dict) -> list[dict]:
    """What the loop should show: SFT ahead of base (MCQ accuracy, SFT-validation perplexity) and each aligned
    model's mean reward-model score ahead of SFT on the held-out questions. Enforced at the full scale (`make demo`
    fails naming the check); reported only at the fast scale, which trains a few steps."""
    from shared.eval.runner import METRICS  # the metric's direction; imported here: it pulls in torch

    def value(model: str, metric: str) -> float | None:
        return results.get(model, {}).get("metrics", {}).get(metric, {}).get("value")

    wanted = [
        ("sft", "base", "mcq_acc"),
        ("sft", "base", "val_perplexity"),
        *[(model, "sft", "proxy_score") for model in ALIGNED],
    ]
    checks = []
    for model, baseline, metric in wanted:
        ours, theirs = value(model, metric), value(baseline, metric)
        if ours is None or theirs is None:
            continue
        ahead = ours > theirs if METRICS[metric].higher_is_better else ours < theirs
        checks.append(
            {
                "model": model,
                "baseline": baseline,
                "metric": metric,
                "value": ours,
                "baseline_value": theirs,
                "ahead": ahead,
            }
        )
    return checks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default=os.environ.get("DEMO_SCALE", "full"))
    parser.add_argument("--root", default=".", help="where artifacts/ and runs/ go (relative to the repo)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary = run_stages(stages(args.scale, args.root), REPO_ROOT / args.root / "artifacts" / "demo_logs")
    totals = {k: sum(s.get(k, 0.0) for s in summary) for k in ("device_hours", "energy_kwh", "co2_kg")}
    results = json.loads((REPO_ROOT / args.root / "artifacts" / "eval" / "tiny" / "results.json").read_text())
    checks = loop_checks(results["models"])
    report = {
        "scale": args.scale,
        "seconds": round(time.perf_counter() - start, 1),
        "stages": summary,
        "compute_totals": totals,
        "checks": checks,
    }
    out = REPO_ROOT / args.root / "artifacts" / "demo_summary.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    art, runs = f"{args.root}/artifacts", f"{args.root}/runs"
    print(
        f"\nDemo finished in {report['seconds']:.0f} s. Training CO2 total: {totals['co2_kg'] * 1000:.2f} g "
        f"({totals['energy_kwh'] * 1000:.2f} Wh, {totals['device_hours']:.4f} device-hours)."
    )
    for line in check_lines(checks):
        print(line)
    print(f"  Report and plots:  {art}/eval/tiny/report.md, {art}/eval/tiny/*.png, {art}/eval/tiny/results.json")
    print(f"  Stage summary:     {art}/demo_summary.json")
    print(f"  TensorBoard:       make tensorboard   (or: tensorboard --logdir {runs})")
    print("  Annotation app:    make app   (demo admin credentials are printed there once)")
    print("  App export:        empty until annotators vote (make app); then make round trains on their votes")
    enforce_checks(checks, args.scale)


def check_lines(checks: list[dict]) -> list[str]:
    return [
        f"  {'✓' if c['ahead'] else '✗'} {c['model']} {'ahead of' if c['ahead'] else 'not ahead of'} "
        f"{c['baseline']} on {c['metric']}: {c['value']:.4g} vs {c['baseline_value']:.4g}"
        for c in checks
    ]


def enforce_checks(checks: list[dict], scale: str) -> None:
    """`make demo` exits non-zero naming every check that did not hold (the fast smoke run only reports them)."""
    failed = [f"{c['model']} not ahead of {c['baseline']} on {c['metric']}" for c in checks if not c["ahead"]]
    if failed and SCALES[scale]["enforce_checks"]:
        raise SystemExit(f"demo: {len(failed)} loop check(s) failed: {'; '.join(failed)}")


if __name__ == "__main__":
    main()
