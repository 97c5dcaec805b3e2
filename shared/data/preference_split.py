"""A proxy/gold split of preference pairs with no shared prompts, so the gold reward model judges policies
trained against the proxy on pairs it never saw (Gao et al. 2022, "Scaling Laws for Reward Model
Overoptimization": the gold judge must be independent of the proxy's data).

`python -m shared.data split-preferences --input data/preferences/train.jsonl --out_dir artifacts/data/preferences`

Rows are grouped by normalised prompt (NFC, Turkish lower case, single spaces), so two phrasings that differ only
in case or spacing land in the same file. Groups are stratified by defect (the most frequent defect of the group's
rows), shuffled with the seed, and each goes to whichever split is further below its target share of that
stratum. Each output line is the source line unchanged (the bytes as read), in source order.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from shared.data.cleaning import turkish_key
from shared.data.readers import DataError
from shared.data.validation import load_examples

SPLITS = ("proxy", "gold")


def _raw_lines(path: Path) -> list[bytes]:
    """Non-blank lines of a JSONL file as bytes, without the newline (so they can be written back unchanged)."""
    lines = path.read_bytes().split(b"\n")
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):
        lines[0] = lines[0][3:]  # a UTF-8 byte-order mark is not part of the first row
    return [line for line in lines if line.strip()]


def _stratum(rows: list[dict[str, Any]], column: str) -> str:
    counts = Counter(str(row.get(column)) for row in rows)
    return min(counts, key=lambda value: (-counts[value], value))  # most frequent; ties by name


def assign_groups(
    groups: dict[str, list[dict[str, Any]]], fraction: float, seed: int, stratify: str | None = "defect"
) -> dict[str, str]:
    """Prompt key → "proxy" or "gold": per stratum, seeded shuffle, then each group to the split further below
    its target (`fraction` of the stratum's rows for the proxy); a tie goes to the split further below its target
    over all strata, so odd strata alternate."""
    strata: dict[str, list[str]] = defaultdict(list)
    for key in sorted(groups):
        strata[_stratum(groups[key], stratify) if stratify else "all"].append(key)
    rng = random.Random(seed)
    assignment: dict[str, str] = {}
    overall = {"proxy": 0.0, "gold": 0.0}  # target minus filled, over all strata: breaks ties between strata
    for stratum in sorted(strata):
        keys = strata[stratum]
        rng.shuffle(keys)
        total = sum(len(groups[k]) for k in keys)
        deficit = {"proxy": fraction * total, "gold": (1 - fraction) * total}
        overall = {"proxy": overall["proxy"] + deficit["proxy"], "gold": overall["gold"] + deficit["gold"]}
        for key in keys:
            split = max(SPLITS, key=lambda s: (round(deficit[s], 9), round(overall[s], 9), s == "proxy"))
            assignment[key] = split
            deficit[split] -= len(groups[key])
            overall[split] -= len(groups[key])
    return assignment


def split_preferences(
    input_path: str | Path,
    out_dir: str | Path,
    *,
    fraction: float = 0.5,
    seed: int = 42,
    stratify: str | None = "defect",
) -> dict[str, Any]:
    """Write `proxy.jsonl`, `gold.jsonl` and `split_report.json`/`.md` to `out_dir`; return the report."""
    if not 0 < fraction < 1:
        raise DataError(f"--fraction must be between 0 and 1 (the proxy's share), got {fraction}")
    input_path, out = Path(input_path), Path(out_dir)
    rows = load_examples(input_path, "preference")  # a bad row stops here, naming file:line: field
    raw = _raw_lines(input_path)  # row i is raw line i: both skip blank lines only
    if len(raw) != len(rows):
        raise DataError(
            f"{input_path}: {len(raw)} non-blank lines but {len(rows)} rows; one JSON object per line please"
        )
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[turkish_key(row["prompt"])].append(row)
    assignment = assign_groups(groups, fraction, seed, stratify)
    chosen = {
        split: [i for i, r in enumerate(rows) if assignment[turkish_key(r["prompt"])] == split] for split in SPLITS
    }
    prompts = {split: {turkish_key(rows[i]["prompt"]) for i in chosen[split]} for split in SPLITS}
    shared = prompts["proxy"] & prompts["gold"]
    assert not shared, f"{len(shared)} prompts in both splits"  # by construction; a bug if it ever fires
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        (out / f"{split}.jsonl").write_bytes(b"".join(raw[i] + b"\n" for i in chosen[split]))
    column = stratify or "defect"
    report = {
        "input": str(input_path),
        "fraction": fraction,
        "seed": seed,
        "stratify": stratify,
        "rows": len(rows),
        "prompts": len(groups),
        "shared_prompts": len(shared),
        **{f"{split}_rows": len(chosen[split]) for split in SPLITS},
        **{f"{split}_prompts": len(prompts[split]) for split in SPLITS},
        "per_" + column: {
            value: {split: sum(str(rows[i].get(column)) == value for i in chosen[split]) for split in SPLITS}
            for value in sorted({str(row.get(column)) for row in rows})
        },
    }
    (out / "split_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "split_report.md").write_text(_markdown(report, column), encoding="utf-8")
    return report


def _markdown(report: dict[str, Any], column: str) -> str:
    lines = [
        "# Proxy / gold split of the preference pairs",
        "",
        f"`{report['input']}`: {report['rows']} rows, {report['prompts']} distinct prompts; proxy share "
        f"{report['fraction']}, seed {report['seed']}, stratified by {report['stratify'] or 'nothing'}.",
        "",
        f"| {column} | proxy | gold |",
        "|---|---:|---:|",
        *[f"| {value} | {c['proxy']} | {c['gold']} |" for value, c in report["per_" + column].items()],
        f"| **all** | {report['proxy_rows']} | {report['gold_rows']} |",
        "",
        f"Prompts: proxy {report['proxy_prompts']}, gold {report['gold_prompts']}, in both: {report['shared_prompts']}.",
        "",
    ]
    return "\n".join(lines)
