"""Eval/train leakage: does an evaluation question also occur among the training questions?

`find_leaks(eval_files, train_files, ngram=8)` compares every evaluation question with every training
*question* (SFT user turns, preference / prompt-completion prompts) by `question_key` (NFC, Turkish lower case,
apostrophes dropped, other punctuation removed, spaces collapsed) and reports exact matches plus word n-gram
overlap (the share of an eval question's n-grams that occur anywhere in the training questions). The dataset
generator runs it before writing its files; tests and users run it from the command line:

    python -m shared.data.leakage                                   # the project's own files
    python -m shared.data.leakage --eval a.jsonl --train b.jsonl c.jsonl --ngram 8

Exits with status 1 when at least one exact leak is found.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from shared.text import turkish_lower

ROOT = Path(__file__).resolve().parents[2]  # relative file names are read from the repository root
DEFAULT_EVAL = ["data/eval/mcq.jsonl", "data/eval/mcq_dev.jsonl", "data/eval/open_qa.jsonl"]
DEFAULT_TRAIN = [
    "data/sft/train.jsonl",
    "data/sft/validation.jsonl",
    "data/preferences/train.jsonl",
    "data/preferences/test.jsonl",
]
_APOSTROPHES = {"'", "\u2019", "\u2018", "`", "\u00b4"}


def question_key(text: str) -> str:
    """NFC, Turkish lower case, punctuation removed (apostrophes dropped in place), spaces collapsed.
    Stricter than `shared.data.turkish_key` (which keeps punctuation): "İzmir'de?" and "izmirde" match."""
    text = turkish_lower(unicodedata.normalize("NFC", text))
    out = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        category = unicodedata.category(ch)
        out.append(" " if category.startswith("P") or category.startswith("S") else ch)
    # lower() can emit combining marks (e.g. "i̇"); recompose, then collapse whitespace.
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    tokens = question_key(text).split()
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def row_questions(row: dict) -> list[str]:
    """The question-like texts of one row, whatever its format."""
    if "messages" in row:
        return [m["content"] for m in row["messages"] if m.get("role") == "user"]
    if "question" in row:
        return [row["question"]]
    if "prompt" in row:
        prompt = row["prompt"]
        if isinstance(prompt, list):  # conversational prompt
            return [m["content"] for m in prompt if m.get("role") == "user"]
        return [prompt]
    return []


def _questions(files: Iterable[str | Path]) -> list[tuple[str, str, str]]:
    out = []
    for name in files:
        path = Path(name)
        if not path.is_absolute():
            path = ROOT / path
        for i, row in enumerate(_read_jsonl(path)):
            row_id = str(row.get("id", i))
            out.extend((str(name), row_id, question) for question in row_questions(row))
    return out


def _max_and_mean(values: list[float]) -> tuple[float, float]:
    return (max(values), sum(values) / len(values)) if values else (0.0, 0.0)


def find_leaks(eval_files: Iterable[str | Path], train_files: Iterable[str | Path], ngram: int = 8) -> dict:
    """Report exact normalised matches and n-gram overlap of eval questions against training questions."""
    train = _questions(train_files)
    train_keys = {question_key(q) for _, _, q in train}
    train_grams: set[tuple[str, ...]] = set()
    for _, _, q in train:
        train_grams |= ngrams(q, ngram)

    exact = []
    per_file: dict[str, dict] = {}
    overlaps = []
    for name, row_id, q in _questions(eval_files):
        stats = per_file.setdefault(name, {"n": 0, "exact": 0, "overlaps": []})
        stats["n"] += 1
        if question_key(q) in train_keys:
            exact.append({"file": name, "id": row_id, "question": q})
            stats["exact"] += 1
        grams = ngrams(q, ngram)
        overlap = len(grams & train_grams) / len(grams) if grams else 0.0
        overlaps.append(overlap)
        stats["overlaps"].append(overlap)

    report_files = {}
    for name, stats in per_file.items():
        highest, mean = _max_and_mean(stats["overlaps"])
        report_files[name] = {
            "n": stats["n"],
            "exact": stats["exact"],
            "max_overlap": round(highest, 4),
            "mean_overlap": round(mean, 4),
        }
    highest, mean = _max_and_mean(overlaps)
    return {
        "ngram": ngram,
        "n_eval_questions": len(overlaps),
        "n_train_questions": len(train),
        "n_exact": len(exact),
        "exact_matches": exact,
        "max_overlap": round(highest, 4),
        "mean_overlap": round(mean, 4),
        "share_with_any_overlap": round(sum(1 for o in overlaps if o > 0) / len(overlaps), 4) if overlaps else 0.0,
        "per_file": report_files,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Eval/train leakage check for JSONL datasets.")
    parser.add_argument("--eval", nargs="+", default=DEFAULT_EVAL, help="evaluation JSONL files")
    parser.add_argument("--train", nargs="+", default=DEFAULT_TRAIN, help="training JSONL files")
    parser.add_argument("--ngram", type=int, default=8)
    args = parser.parse_args(argv)
    report = find_leaks(args.eval, args.train, ngram=args.ngram)
    print(json.dumps(report | {"exact_matches": report["exact_matches"][:20]}, ensure_ascii=False, indent=2))
    return 1 if report["n_exact"] else 0


if __name__ == "__main__":
    sys.exit(main())
