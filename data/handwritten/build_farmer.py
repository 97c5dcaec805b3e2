"""Build data/handwritten/sft_farmer.jsonl from the hand-written sources in src/.

Source format (one file per subdomain, src/<category>.txt): conversations are
separated by a line containing only "===". Inside a conversation, lines starting
with "S: " are farmer (user) turns and lines starting with "C: " are assistant
answers; they must alternate S, C, S, C ... Run with the project installed:
`.venv/bin/python data/handwritten/build_farmer.py`.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

from shared.generation import DEFAULT_SYSTEM_PROMPT
from shared.taxonomy import CATEGORIES

HERE = Path(__file__).resolve().parent
OUT = HERE / "sft_farmer.jsonl"


def parse(path: Path) -> list[list[tuple[str, str]]]:
    convs: list[list[tuple[str, str]]] = []
    for block in path.read_text(encoding="utf-8").split("\n===\n"):
        turns: list[tuple[str, str]] = []
        for line in block.strip().splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("S: "):
                turns.append(("user", line[3:].strip()))
            elif line.startswith("C: "):
                turns.append(("assistant", line[3:].strip()))
            elif line == "===":
                continue
            else:
                raise ValueError(f"{path.name}: unexpected line: {line[:60]!r}")
        if not turns:
            continue
        roles = [r for r, _ in turns]
        expected = ["user", "assistant"] * (len(turns) // 2)
        if roles != expected:
            raise ValueError(f"{path.name}: turns must alternate S/C: {turns[0][1][:60]!r}")
        convs.append(turns)
    return convs


def main() -> int:
    rows = []
    seen: set[str] = set()
    for cat in CATEGORIES:
        for turns in parse(HERE / "src" / f"{cat}.txt"):
            for role, text in turns:
                if role == "user":
                    key = unicodedata.normalize("NFC", text).casefold()
                    if key in seen:
                        raise ValueError(f"duplicate question: {text!r}")
                    seen.add(key)
            messages = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}]
            messages += [{"role": r, "content": unicodedata.normalize("NFC", t)} for r, t in turns]
            rows.append({"messages": messages, "category": cat, "source": "handwritten"})
    with OUT.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {c: sum(r["category"] == c for r in rows) for c in CATEGORIES}
    multi = sum(sum(m["role"] == "user" for m in r["messages"]) >= 2 for r in rows)
    print(json.dumps({"rows": len(rows), "multi_turn": multi, "per_category": counts}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
