"""Exports of the collected judgements: DPO pairs, KTO labels, SFT from corrections, raw votes.

python -m annotation_app.export --format dpo|kto|sft|raw --out FILE [--db URL | --config FILE]

JSONL by default (the ARCHITECTURE.md schemas, readable by `datasets.load_dataset("json", ...)`), CSV when the
file name ends in .csv, with spreadsheet formula injection neutralised.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from annotation_app.config import add_config_arguments, config_from_args
from annotation_app.records import VoteRecord, load_vote_records
from annotation_app.storage import CRITERIA, open_database
from shared.data.csv_cells import to_cell

FORMATS = ("dpo", "kto", "sft", "raw")
CORRECTION_SOURCE = "annotator_correction"


def _by_item(records: Sequence[VoteRecord]) -> dict[int, list[VoteRecord]]:
    grouped: dict[int, list[VoteRecord]] = defaultdict(list)
    for record in records:
        if not record.is_swap_repeat:
            grouped[record.item_id].append(record)
    return grouped


def item_verdict(votes: Sequence[VoteRecord]) -> str | None:
    """The item's preference direction by strict plurality of its votes; None when the top is shared."""
    ranked = Counter(r.direction for r in votes).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def _critical(votes: Sequence[VoteRecord], candidate_id: int) -> bool:
    return any(r.has_critical_flag(candidate_id) for r in votes)


def _meta(votes: Sequence[VoteRecord], source: str) -> dict:
    return {
        "source": source,
        "item_id": votes[0].item_id,
        "prompt_id": votes[0].prompt_external_id,
        "votes": len(votes),
    }


def dpo_rows(records: Sequence[VoteRecord]) -> list[dict]:
    """One pair per item the annotators prefer a side on (ties, both_bad, split votes, identical answers and
    pairs whose chosen answer has a critical safety flag are left out), plus correction ≻ original pairs
    (strength 2)."""
    rows = []
    for votes in _by_item(records).values():
        verdict = item_verdict(votes)
        if verdict not in ("a", "b"):
            continue
        winners = [r for r in votes if r.direction == verdict]
        chosen, rejected = winners[0].preferred, winners[0].dispreferred
        if _critical(votes, chosen.id) or chosen.text == rejected.text:
            continue
        much = sum(r.choice.endswith("much_better") for r in winners) * 2 > len(winners)
        rows.append(
            {
                "prompt": votes[0].prompt,
                "chosen": chosen.text,
                "rejected": rejected.text,
                "strength": 2 if much else 1,
                "defect": "",
                "category": votes[0].category,
                "meta": _meta(votes, "annotation_vote"),
            }
        )
    for record, original, corrected in corrections(records):
        rows.append(
            {
                "prompt": record.prompt,
                "chosen": corrected,
                "rejected": original.text,
                "strength": 2,
                "defect": "",
                "category": record.category,
                "meta": _meta([record], CORRECTION_SOURCE),
            }
        )
    return rows


def corrections(records: Sequence[VoteRecord]):
    """(record, original candidate, corrected text) for every correction that changes the answer."""
    for record in records:
        candidates = {c.id: c for c in (record.candidate_a, record.candidate_b)}
        for candidate_id, text in record.corrections:
            if text.strip() != candidates[candidate_id].text.strip():
                yield record, candidates[candidate_id], text


def kto_rows(records: Sequence[VoteRecord]) -> list[dict]:
    """Unpaired labels per (prompt, answer): any critical flag → undesirable; otherwise more item wins than
    losses → desirable, more losses (both_bad counts as a loss for both) → undesirable; corrections desirable."""
    net: dict[tuple[int, int], int] = defaultdict(int)
    texts: dict[tuple[int, int], tuple[str, str]] = {}
    critical: set[tuple[int, int]] = set()
    for votes in _by_item(records).values():
        record = votes[0]
        verdict = item_verdict(votes)
        for candidate, sign in (
            (record.candidate_a, {"a": 1, "b": -1, "both_bad": -1}),
            (record.candidate_b, {"b": 1, "a": -1, "both_bad": -1}),
        ):
            key = (record.prompt_id, candidate.id)
            texts[key] = (record.prompt, candidate.text)
            net[key] += sign.get(verdict, 0)
            if _critical(votes, candidate.id):
                critical.add(key)
    rows = [
        {"prompt": texts[key][0], "completion": texts[key][1], "label": key not in critical and score > 0}
        for key, score in net.items()
        if key in critical or score != 0
    ]
    rows += [{"prompt": record.prompt, "completion": text, "label": True} for record, _, text in corrections(records)]
    return rows


def sft_rows(records: Sequence[VoteRecord], system_prompt: str = "") -> list[dict]:
    rows = []
    for record, _, text in corrections(records):
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages += [{"role": "user", "content": record.prompt}, {"role": "assistant", "content": text}]
        rows.append({"messages": messages, "category": record.category, "source": CORRECTION_SOURCE})
    return rows


def _ratings_of(record: VoteRecord, candidate_id: int) -> str:
    scores = {criterion: score for cid, criterion, score in record.ratings if cid == candidate_id}
    return ",".join(f"{c}={scores[c]}" for c in CRITERIA if c in scores)


def _flags_of(record: VoteRecord, candidate_id: int) -> str:
    return ",".join(f"{kind}:{severity}" for cid, kind, severity in record.flags if cid == candidate_id)


def raw_rows(records: Sequence[VoteRecord]) -> list[dict]:
    """One flat row per vote: who, what was shown where, how long, what was chosen."""
    rows = []
    for r in records:
        left, right = (
            (r.candidate_a, r.candidate_b)
            if r.left_candidate_id == r.candidate_a.id
            else (r.candidate_b, r.candidate_a)
        )
        rows.append(
            {
                "vote_id": r.vote_id,
                "assignment_id": r.assignment_id,
                "item_id": r.item_id,
                "user": r.annotator,
                "prompt_id": r.prompt_external_id,
                "prompt": r.prompt,
                "category": r.category,
                "left_model": left.model_name,
                "right_model": right.model_name,
                "left_candidate_id": left.id,
                "right_candidate_id": right.id,
                "left_answer": left.text,
                "right_answer": right.text,
                "displayed_choice": r.displayed_choice,
                "choice": r.choice,
                "candidate_a_id": r.candidate_a.id,
                "candidate_b_id": r.candidate_b.id,
                "time_spent_ms": r.time_spent_ms,
                "shown_at": r.shown_at.isoformat() if r.shown_at else "",
                "created_at": r.created_at.isoformat(),
                "is_gold": r.is_gold,
                "is_swap_repeat": r.is_swap_repeat,
                "comment": r.comment,
                "left_ratings": _ratings_of(r, left.id),
                "right_ratings": _ratings_of(r, right.id),
                "left_flags": _flags_of(r, left.id),
                "right_flags": _flags_of(r, right.id),
                "corrections": len(r.corrections),
            }
        )
    return rows


def build_rows(records: Sequence[VoteRecord], fmt: str, system_prompt: str = "") -> list[dict]:
    if fmt == "dpo":
        return dpo_rows(records)
    if fmt == "kto":
        return kto_rows(records)
    if fmt == "sft":
        return sft_rows(records, system_prompt)
    if fmt == "raw":
        return raw_rows(records)
    raise ValueError(f"unknown export format {fmt!r}; expected one of {FORMATS}")


def write_rows(rows: Sequence[dict], out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        fields = list(dict.fromkeys(key for row in rows for key in row))
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            # JSON for lists/objects, formulas guarded; shared.data's CSV reader undoes both
            writer.writerows({k: to_cell(v) for k, v in row.items()} for row in rows)
    else:
        with out.open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return out


def export(sessions, fmt: str, out: str | Path, system_prompt: str = "") -> tuple[Path, int]:
    with sessions() as session:
        records = load_vote_records(session)
    rows = build_rows(records, fmt, system_prompt)
    return write_rows(rows, out), len(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--out", required=True, help="output file (.jsonl, or .csv for a spreadsheet)")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    path, count = export(open_database(config.db_url), args.format, args.out, config.system_prompt)
    print(json.dumps({"format": args.format, "out": str(path), "rows": count}))


if __name__ == "__main__":
    main()
