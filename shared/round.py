"""One annotation round: export the app's votes → retrain the reward model and DPO on seed + new votes →
re-evaluate → generate the next candidates into the app. `make round` (or `python -m shared.round`).

The round's models go to artifacts/rounds/<name>/; the app database is the one given with --db.
"""

from __future__ import annotations

import argparse
import sys
import time

from shared.demo import ACCELERATE, REPO_ROOT, Stage, jsonl_rows, run_stages, with_app_export


def round_stages(args) -> list[Stage]:
    out = f"artifacts/rounds/{args.name}"
    export, sft_export = f"{out}/dpo_export.jsonl", f"{out}/sft_corrections.jsonl"
    rm, dpo = f"{out}/reward", f"{out}/dpo"
    py = [sys.executable, "-m"]
    runs = ["--runs_dir", f"runs/rounds/{args.name}"]
    return [
        Stage("export votes", [*py, "annotation_app.export", "--db", args.db, "--format", "dpo", "--out", export], [export]),
        Stage("export corrections", [*py, "annotation_app.export", "--db", args.db, "--format", "sft", "--out", sft_export],
              [sft_export]),
        Stage("reward model", lambda: [*ACCELERATE, "reward/train.py", "--config", "configs/reward/tiny.yaml",
                                       "--model_name_or_path", args.sft, "--output_dir", rm,
                                       "--train_data", *with_app_export("data/preferences/train.jsonl", export),
                                       "--max_steps", str(args.reward_steps), *runs], [rm]),
        Stage("DPO", lambda: [*ACCELERATE, "rlhf/dpo.py", "--config", "configs/rlhf/dpo_tiny.yaml",
                              "--model_name_or_path", args.sft, "--output_dir", dpo,
                              "--train_data", *with_app_export("data/preferences/train.jsonl", export),
                              "--max_steps", str(args.dpo_steps), *runs], [dpo]),
        Stage("evaluation", [*py, "shared.eval.compare", "--config", "configs/eval/tiny.yaml", "--models",
                             f"sft={args.sft}", f"dpo={dpo}", "--reward_model", rm, "--output_dir", f"{out}/eval",
                             "--runs_dir", f"runs/rounds/{args.name}"], [f"{out}/eval/report.md"]),
        Stage("next candidates", [*py, "annotation_app.generate", "--db", args.db, "--model", dpo, "--model", args.sft,
                                  "--prompts", args.prompts, "--n", "1"], [args.db]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.round", description=__doc__)
    parser.add_argument("--db", default="sqlite:///artifacts/annotation/demo.db")
    parser.add_argument("--sft", default="artifacts/sft/tiny", help="the SFT model the round starts from")
    parser.add_argument("--prompts", default="data/prompts/annotation.jsonl")
    parser.add_argument("--name", default=time.strftime("round-%Y%m%d-%H%M%S"))
    parser.add_argument("--reward_steps", type=int, default=120)
    parser.add_argument("--dpo_steps", type=int, default=80)
    args = parser.parse_args(argv)
    summary = run_stages(round_stages(args), REPO_ROOT / "artifacts" / "rounds" / args.name / "logs", title="round")
    votes = jsonl_rows(f"artifacts/rounds/{args.name}/dpo_export.jsonl")
    print(f"\nRound {args.name}: {votes} new preference pairs from the app; {len(summary)} stages done.")
    print(f"  report: artifacts/rounds/{args.name}/eval/report.md   models: artifacts/rounds/{args.name}/")


if __name__ == "__main__":
    main()
