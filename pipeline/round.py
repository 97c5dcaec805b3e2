"""One annotation round: export the app's votes → retrain the reward model and DPO on seed + new votes →
re-evaluate → generate the next candidates into the app. `make round` (or `python -m pipeline.round`).

Works on the demo's outputs by default (`--root` as for `pipeline.demo`): the app database
<root>/artifacts/annotation/annotation.db (the app's default) and the SFT model <root>/artifacts/sft/tiny. The round's models, exports and
report go to <root>/artifacts/rounds/<name>/, its TensorBoard runs to <root>/runs/rounds/<name>/. `--scale`
picks the demo scale's training steps and evaluation limits.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from annotation_app.config import DEFAULT_DB_PATH
from pipeline.demo import SCALES
from pipeline.stages import ACCELERATE, REPO_ROOT, Stage, jsonl_rows, run_stages, with_app_export


def round_dir(args) -> str:
    return f"{args.root}/artifacts/rounds/{args.name}"


def round_stages(args) -> list[Stage]:
    out = round_dir(args)
    runs = ["--runs_dir", f"{args.root}/runs/rounds/{args.name}"]
    export, sft_export = f"{out}/dpo_export.jsonl", f"{out}/sft_corrections.jsonl"
    rm, dpo = f"{out}/reward", f"{out}/dpo"
    steps = SCALES[args.scale]
    py = [sys.executable, "-m"]
    limit = ["--limit", str(args.limit)] if args.limit else []
    return [
        Stage(
            "export votes",
            [*py, "annotation_app.export", "--db", args.db, "--format", "dpo", "--out", export],
            [export],
        ),
        Stage(
            "export corrections",
            [*py, "annotation_app.export", "--db", args.db, "--format", "sft", "--out", sft_export],
            [sft_export],
        ),
        Stage(
            "reward model",
            lambda: [
                *ACCELERATE,
                "reward/train.py",
                "--config",
                "configs/reward/tiny.yaml",
                "--model_name_or_path",
                args.sft,
                "--output_dir",
                rm,
                "--train_data",
                *with_app_export("data/preferences/train.jsonl", export),
                "--max_steps",
                str(args.reward_steps or steps["reward"]),
                *runs,
            ],
            [rm],
        ),
        Stage(
            "DPO",
            lambda: [
                *ACCELERATE,
                "rlhf/dpo.py",
                "--config",
                "configs/rlhf/dpo_tiny.yaml",
                "--model_name_or_path",
                args.sft,
                "--output_dir",
                dpo,
                "--train_data",
                *with_app_export("data/preferences/train.jsonl", export),
                "--max_steps",
                str(args.dpo_steps or steps["dpo"]),
                *runs,
            ],
            [dpo],
        ),
        Stage(
            "evaluation",
            [
                *py,
                "shared.eval.compare",
                "--config",
                "configs/eval/tiny.yaml",
                "--models",
                f"sft={args.sft}",
                f"dpo={dpo}",
                "--reward_model",
                rm,
                "--output_dir",
                f"{out}/eval",
                *runs,
                *steps["eval"],
            ],
            [f"{out}/eval/report.md"],
        ),
        Stage(
            "next candidates",
            [
                *py,
                "annotation_app.generate",
                "--db",
                args.db,
                "--model",
                dpo,
                "--model",
                args.sft,
                "--prompts",
                args.prompts,
                "--n",
                "1",
                *limit,
            ],
            [args.db],
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.round", description=__doc__)
    parser.add_argument("--root", default=".", help="where the demo's artifacts/ and runs/ are (relative to the repo)")
    parser.add_argument(
        "--scale",
        choices=sorted(s for s in SCALES if SCALES[s]["tier"] == "tiny"),
        default=os.environ.get("DEMO_SCALE", "full"),
    )
    parser.add_argument("--db", default=None, help="app database URL (default: the app's, under --root)")
    parser.add_argument("--sft", default=None, help="the SFT model the round starts from (default: the demo's)")
    parser.add_argument("--prompts", default="data/prompts/annotation.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="next candidates for the first N prompts only")
    parser.add_argument("--name", default=time.strftime("round-%Y%m%d-%H%M%S"))
    parser.add_argument("--reward_steps", type=int, default=None, help="default: the scale's")
    parser.add_argument("--dpo_steps", type=int, default=None, help="default: the scale's")
    args = parser.parse_args(argv)
    args.db = args.db or f"sqlite:///{args.root}/{DEFAULT_DB_PATH}"
    args.sft = args.sft or f"{args.root}/artifacts/sft/tiny"
    out = round_dir(args)
    summary = run_stages(round_stages(args), REPO_ROOT / out / "logs", title="round")
    votes = jsonl_rows(f"{out}/dpo_export.jsonl")
    print(f"\nRound {args.name}: {votes} new preference pairs from the app; {len(summary)} stages done.")
    print(f"  report: {out}/eval/report.md   models: {out}/")


if __name__ == "__main__":
    main()
