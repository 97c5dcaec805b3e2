#!/usr/bin/env python
"""Eval/train leakage check for the project's JSONL datasets.

``find_leaks(eval_files, train_files, ngram=8)`` compares every evaluation question with every
training *question* (SFT user turns, preference / prompt-completion prompts) after Turkish-aware
normalisation (NFC, İ→i and I→ı before lower-casing, punctuation stripped, spaces collapsed) and
reports exact matches plus word n-gram overlap (share of an eval question's n-grams that occur
anywhere in the training questions).

CLI::

    python data/scripts/check_leakage.py                       # default project files
    python data/scripts/check_leakage.py --eval a.jsonl --train b.jsonl c.jsonl --ngram 8

Exits with status 1 when at least one exact leak is found.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EVAL = ["data/eval/mcq.jsonl", "data/eval/mcq_dev.jsonl", "data/eval/open_qa.jsonl"]
DEFAULT_TRAIN = [
    "data/sft/train.jsonl",
    "data/sft/validation.jsonl",
    "data/preferences/train.jsonl",
    "data/preferences/test.jsonl",
]
_APOSTROPHES = {"'", "\u2019", "\u2018", "`", "\u00b4"}


def turkish_lower(text: str) -> str:
    """Lower-case with Turkish rules (İ→i, I→ı first, then str.lower)."""
    return text.replace("İ", "i").replace("I", "ı").lower()


def normalize(text: str) -> str:
    """NFC, Turkish lower-case, punctuation removed (apostrophes dropped in place), spaces collapsed."""
    text = turkish_lower(unicodedata.normalize("NFC", text))
    out = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue
        cat = unicodedata.category(ch)
        if cat.startswith("P") or cat.startswith("S"):
            out.append(" ")
        else:
            out.append(ch)
    # lower() can emit combining marks (e.g. "i̇"); recompose, then collapse whitespace.
    return " ".join(unicodedata.normalize("NFC", "".join(out)).split())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    toks = normalize(text).split()
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


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
    for f in files:
        path = Path(f)
        if not path.is_absolute():
            path = ROOT / path
        for i, row in enumerate(_read_jsonl(path)):
            rid = str(row.get("id", i))
            for q in row_questions(row):
                out.append((str(f), rid, q))
    return out


def find_leaks(eval_files: Iterable[str | Path], train_files: Iterable[str | Path], ngram: int = 8) -> dict:
    """Report exact normalised matches and n-gram overlap of eval questions against training questions."""
    train = _questions(train_files)
    train_norm = {normalize(q) for _, _, q in train}
    train_grams: set[tuple[str, ...]] = set()
    for _, _, q in train:
        train_grams |= ngrams(q, ngram)

    exact = []
    per_file: dict[str, dict] = {}
    overlaps = []
    for f, rid, q in _questions(eval_files):
        stats = per_file.setdefault(f, {"n": 0, "exact": 0, "overlaps": []})
        stats["n"] += 1
        if normalize(q) in train_norm:
            exact.append({"file": f, "id": rid, "question": q})
            stats["exact"] += 1
        grams = ngrams(q, ngram)
        ov = len(grams & train_grams) / len(grams) if grams else 0.0
        overlaps.append(ov)
        stats["overlaps"].append(ov)

    def _summ(vals: list[float]) -> tuple[float, float]:
        return (max(vals) if vals else 0.0, sum(vals) / len(vals) if vals else 0.0)

    report_files = {}
    for f, s in per_file.items():
        mx, mean = _summ(s["overlaps"])
        report_files[f] = {
            "n": s["n"],
            "exact": s["exact"],
            "max_overlap": round(mx, 4),
            "mean_overlap": round(mean, 4),
        }
    mx, mean = _summ(overlaps)
    return {
        "ngram": ngram,
        "n_eval_questions": len(overlaps),
        "n_train_questions": len(train),
        "n_exact": len(exact),
        "exact_matches": exact,
        "max_overlap": round(mx, 4),
        "mean_overlap": round(mean, 4),
        "share_with_any_overlap": round(sum(1 for o in overlaps if o > 0) / len(overlaps), 4) if overlaps else 0.0,
        "per_file": report_files,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", nargs="+", default=DEFAULT_EVAL, help="evaluation JSONL files")
    ap.add_argument("--train", nargs="+", default=DEFAULT_TRAIN, help="training JSONL files")
    ap.add_argument("--ngram", type=int, default=8)
    args = ap.parse_args(argv)
    report = find_leaks(args.eval, args.train, ngram=args.ngram)
    shown = dict(report)
    shown["exact_matches"] = report["exact_matches"][:20]
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    return 1 if report["n_exact"] else 0


if __name__ == "__main__":
    sys.exit(main())
