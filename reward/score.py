"""Score (prompt, response) pairs with a saved reward model from the command line (`shared.reward_model` does
the scoring; PPO, GRPO, evaluation and the annotation app use it directly).

    python -m reward.score --model artifacts/reward/tiny --input data/preferences/test.jsonl --output scored.jsonl

Input rows are either `{"prompt", "response"}` (one score each) or preference rows `{"prompt", "chosen",
"rejected"}` (both scored, and pairwise accuracy printed).
"""

from __future__ import annotations

import argparse
import json

from shared.data import read_rows, write_jsonl
from shared.reward_model import RewardScorer


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m reward.score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True, help="JSONL/JSON/CSV/Parquet of pairs or preference rows")
    parser.add_argument("--output", help="write the rows with scores here (JSONL)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_length", type=int)
    args = parser.parse_args(argv)
    scorer = RewardScorer(args.model, max_length=args.max_length)
    rows = []
    for row in read_rows(args.input):
        if row.data is None:
            raise SystemExit(f"{row.source}:{row.line}: {row.error}")
        rows.append(row.data)
    summary: dict = {"rows": len(rows)}
    if rows and "chosen" in rows[0]:
        prompts = [r["prompt"] for r in rows]
        chosen = scorer.score(prompts, [r["chosen"] for r in rows], args.batch_size)
        rejected = scorer.score(prompts, [r["rejected"] for r in rows], args.batch_size)
        for row, c, r in zip(rows, chosen, rejected):
            row["chosen_score"], row["rejected_score"] = c, r
        summary["pairwise_accuracy"] = sum(c > r for c, r in zip(chosen, rejected)) / max(len(rows), 1)
    else:
        scores = scorer.score([r["prompt"] for r in rows], [r["response"] for r in rows], args.batch_size)
        for row, s in zip(rows, scores):
            row["score"] = s
        summary["mean_score"] = sum(scores) / max(len(scores), 1)
    if args.output:
        write_jsonl(args.output, rows)
    print(json.dumps(summary, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    main()
