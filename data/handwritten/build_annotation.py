"""Build data/prompts/annotation.jsonl from src/annotation.txt.

Each non-comment line: category|crop|region|season|prompt (category, region and season from `shared.taxonomy`).
Run with the project installed: `.venv/bin/python data/handwritten/build_annotation.py`.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from shared.taxonomy import CATEGORIES, REGIONS, SEASONS

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "prompts" / "annotation.jsonl"


def main() -> int:
    rows = []
    seen: set[str] = set()
    for lineno, line in enumerate((HERE / "src" / "annotation.txt").read_text(encoding="utf-8").splitlines(), 1):
        line = unicodedata.normalize("NFC", line.strip())
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 5:
            raise ValueError(f"line {lineno}: expected 5 fields, got {len(parts)}")
        cat, crop, region, season, prompt = parts
        if cat not in CATEGORIES or region not in REGIONS or season not in SEASONS:
            raise ValueError(f"line {lineno}: bad category/region/season: {parts[:4]}")
        key = prompt.casefold()
        if key in seen:
            raise ValueError(f"line {lineno}: duplicate prompt {prompt!r}")
        seen.add(key)
        rows.append(
            {
                "id": f"ann-{len(rows) + 1:04d}",
                "prompt": prompt,
                "crop": crop,
                "region": region,
                "season": season,
                "category": cat,
            }
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        json.dumps(
            {
                "rows": len(rows),
                "per_category": Counter(r["category"] for r in rows),
                "per_region": Counter(r["region"] for r in rows),
                "per_season": Counter(r["season"] for r in rows),
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
