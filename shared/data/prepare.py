"""`python -m shared.data prepare|validate|split-preferences`: load → validate → clean → balance → split → write
splits, rejects and a report; validate files; split preference pairs into proxy and gold sets (no shared prompt)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.data.cleaning import CleaningConfig, clean
from shared.data.mixing import balance, split_rows
from shared.data.preference_split import split_preferences
from shared.data.readers import DataError
from shared.data.schemas import SCHEMAS
from shared.data.sources import parse_sources
from shared.data.validation import Rejects, load_examples, require_usable_rows, strip_origin, write_jsonl


@dataclass
class PrepareConfig:
    inputs: list[str]
    schema: str
    output_dir: str
    on_invalid: str = "skip"
    validation_fraction: float = 0.05
    balance_column: str | None = None
    balance_cap: int | None = None
    balance_target: dict[str, float] | None = None
    tokenizer: str | None = None  # needed for cleaning.max_tokens: token counts with the model's own tokenizer
    seed: int = 42
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PrepareConfig:
        import dataclasses

        import yaml

        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = {f.name for f in dataclasses.fields(cls)}
        for key in raw:
            if key not in known:
                raise DataError(f"{path}: unknown key '{key}' (known: {', '.join(sorted(known))})")
        cleaning = raw.pop("cleaning", {}) or {}
        known_cleaning = {f.name for f in dataclasses.fields(CleaningConfig)}
        for key in cleaning:
            if key not in known_cleaning:
                raise DataError(f"{path}: unknown key 'cleaning.{key}' (known: {', '.join(sorted(known_cleaning))})")
        return cls(**raw, cleaning=CleaningConfig(**cleaning))


def prepare(config: PrepareConfig) -> dict[str, Any]:
    """Load → validate → clean → balance → split → write splits, rejects and a report."""
    out = Path(config.output_dir)
    rejects = Rejects()
    rows: list[dict[str, Any]] = []
    loaded = {}
    for spec in parse_sources(config.inputs, config.schema):
        batch = load_examples(spec.path, spec.schema, on_invalid=config.on_invalid, rejects=rejects, keep_origin=True)
        loaded[spec.path] = len(batch)
        rows.extend(batch)
    n_loaded = len(rows)
    count_tokens = None
    if config.cleaning.max_tokens is not None:
        if not config.tokenizer:
            raise DataError("cleaning.max_tokens needs `tokenizer:` (a tokenizer path or Hub id) in the config")
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(config.tokenizer)

        def count_tokens(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    rows, steps = clean(rows, config.cleaning, rejects, count_tokens=count_tokens)
    balance_table = None
    if config.balance_column and (config.balance_cap or config.balance_target):
        rows, balance_table = balance(
            rows, config.balance_column, cap=config.balance_cap, target=config.balance_target, seed=config.seed
        )
    require_usable_rows(
        rows, what=config.schema, sources=config.inputs, rejects=rejects, rejects_path=out / "rejects.jsonl"
    )
    train, validation = split_rows(strip_origin(rows), config.validation_fraction, seed=config.seed)
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "validation.jsonl", validation)
    rejects.write(out / "rejects.jsonl")
    column = config.balance_column or "category"
    report = {
        "inputs": loaded,
        "invalid_rows": rejects.counts().get("validate", 0),
        "loaded_valid": n_loaded,
        "steps": [{"step": s.step, "before": s.before, "removed": s.removed, "after": s.after} for s in steps],
        "balance": {k: {"before": before, "after": after} for k, (before, after) in (balance_table or {}).items()},
        "per_category": dict(sorted(Counter(str(r.get(column)) for r in train + validation).items())),
        "train": len(train),
        "validation": len(validation),
        "rejected_total": len(rejects.rows),
    }
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "report.md").write_text(_report_markdown(report), encoding="utf-8")
    return report


def _report_markdown(report: dict[str, Any]) -> str:
    lines = ["# Data preparation report", "", "| step | before | removed | after |", "|---|---:|---:|---:|"]
    lines.append(
        f"| validate | {report['loaded_valid'] + report['invalid_rows']} | {report['invalid_rows']} | "
        f"{report['loaded_valid']} |"
    )
    lines += [f"| {s['step']} | {s['before']} | {s['removed']} | {s['after']} |" for s in report["steps"]]
    if report["balance"]:
        lines += ["", "## Balancing", "", "| class | before | after |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['before']} | {v['after']} |" for k, v in report["balance"].items()]
    lines += ["", "## Per category (after)", "", "| category | rows |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in report["per_category"].items()]
    lines += [
        "",
        f"train: {report['train']}, validation: {report['validation']}, "
        f"rejected (see rejects.jsonl): {report['rejected_total']}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="clean, balance and split a dataset from a YAML config")
    prep.add_argument("--config", required=True)
    prep.add_argument("--output_dir", help="overrides output_dir from the config")
    check = commands.add_parser("validate", help="validate files against a schema; exit 1 on the first error")
    check.add_argument("files", nargs="+")
    check.add_argument("--schema", required=True, choices=sorted(SCHEMAS))
    split = commands.add_parser(
        "split-preferences", help="split preference pairs into proxy.jsonl and gold.jsonl with no shared prompts"
    )
    split.add_argument("--input", default="data/preferences/train.jsonl")
    split.add_argument("--out_dir", "--out-dir", dest="out_dir", default="artifacts/data/preferences")
    split.add_argument("--fraction", type=float, default=0.5, help="the proxy's share of the rows")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--stratify", default="defect", help="column to stratify by ('none': no stratification)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.command == "prepare":
            config = PrepareConfig.from_yaml(args.config)
            config.output_dir = args.output_dir or config.output_dir
            report = prepare(config)
            print(json.dumps({k: report[k] for k in ("train", "validation", "rejected_total")}, ensure_ascii=False))
        elif args.command == "split-preferences":
            stratify = None if args.stratify.lower() == "none" else args.stratify
            report = split_preferences(
                args.input, args.out_dir, fraction=args.fraction, seed=args.seed, stratify=stratify
            )
            keys = ("proxy_rows", "gold_rows", "proxy_prompts", "gold_prompts", "shared_prompts")
            print(json.dumps({k: report[k] for k in keys}) + f"  → {args.out_dir}/proxy.jsonl, gold.jsonl")
        else:
            for path in args.files:
                count = len(load_examples(path, args.schema))
                if not count:
                    raise DataError(f"{path}: no rows (a header only, or an empty list)")
                print(f"{path}: {count} valid rows")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
