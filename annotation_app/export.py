"""Exports of the collected judgements: DPO pairs, KTO labels, SFT from corrections, raw votes.

python -m annotation_app.export --format dpo|kto|sft|raw --out FILE [--db URL | --config FILE]

JSONL by default (the ARCHITECTURE.md schemas, readable by `datasets.load_dataset("json", ...)`), CSV when the
file name ends in .csv: UTF-8 with a byte-order mark (so Excel reads ğ, ş, ı right) and spreadsheet formula injection
neutralised. A database that does not exist is refused (exit 1, nothing created); one without any vote yet writes its
empty file, warns and exits 1 unless --allow-empty; other empty exports only warn.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from annotation_app.config import add_config_arguments, config_from_args
from annotation_app.records import VoteRecord, load_vote_records
from annotation_app.storage import Vote, database_exists, open_database
from annotation_app.vocabulary import CRITERIA, CRITICAL, FLAG_DEFECTS
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


_DEFECT_ORDER = list(dict.fromkeys(FLAG_DEFECTS.values()))


def critical_defect(votes: Sequence[VoteRecord], candidate_id: int) -> str:
    """The defect that annotators' critical flags on `candidate_id` name (the most flagged one; a tie goes to the
    defect listed first in FLAG_DEFECTS); "" when no vote flags it as critical."""
    counts = Counter(
        FLAG_DEFECTS[kind]
        for record in votes
        for cid, kind, severity in record.flags
        if cid == candidate_id and severity == CRITICAL
    )
    if not counts:
        return ""
    return max(counts, key=lambda defect: (counts[defect], -_DEFECT_ORDER.index(defect)))


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
        if critical_defect(votes, chosen.id) or chosen.text == rejected.text:
            continue
        much = sum(r.choice.endswith("much_better") for r in winners) * 2 > len(winners)
        rows.append(_pair(votes, chosen.text, rejected.id, rejected.text, 2 if much else 1, "annotation_vote"))
    for record, original, corrected in corrections(records):
        rows.append(_pair([record], corrected, original.id, original.text, 2, CORRECTION_SOURCE))
    return rows


def _pair(votes: Sequence[VoteRecord], chosen: str, rejected_id: int, rejected: str, strength: int, source: str):
    """A preference row; `defect` from the critical flags on the rejected answer, which also mark the row
    `critical_safety` (reward/train.py weights those pairs up, whatever the defect)."""
    defect = critical_defect(votes, rejected_id)
    return {
        "prompt": votes[0].prompt,
        "chosen": chosen,
        "rejected": rejected,
        "strength": strength,
        "defect": defect,
        "category": votes[0].category,
        "meta": _meta(votes, source) | ({"critical_safety": True} if defect else {}),
    }


def corrections(records: Sequence[VoteRecord]):
    """(record, original candidate, corrected text) for every correction that changes the answer."""
    for record in records:
        candidates = {c.id: c for c in (record.candidate_a, record.candidate_b)}
        for candidate_id, text in record.corrections:
            if text.strip() != candidates[candidate_id].text.strip():
                yield record, candidates[candidate_id], text


def kto_rows(records: Sequence[VoteRecord]) -> list[dict]:
    """Unpaired labels per (prompt, answer): any critical flag → undesirable, with the flag's `defect`; otherwise
    more item wins than losses → desirable, more losses (both_bad counts as a loss for both) → undesirable;
    corrections desirable."""
    net: dict[tuple[int, int], int] = defaultdict(int)
    texts: dict[tuple[int, int], tuple[str, str]] = {}
    flagged: dict[tuple[int, int], list[VoteRecord]] = defaultdict(list)
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
            flagged[key] += votes
    defects = {key: critical_defect(flagged[key], key[1]) for key in net}
    rows = [
        {
            "prompt": texts[key][0],
            "completion": texts[key][1],
            "label": not defects[key] and score > 0,
            "defect": defects[key],
        }
        for key, score in net.items()
        if defects[key] or score != 0
    ]
    rows += [
        {"prompt": record.prompt, "completion": text, "label": True, "defect": ""}
        for record, _, text in corrections(records)
    ]
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


def _correction_of(record: VoteRecord, candidate_id: int) -> str:
    return next((text for cid, text in record.corrections if cid == candidate_id), "")


def raw_rows(records: Sequence[VoteRecord]) -> list[dict]:
    """One flat row per vote: who, what was shown where, how long, what was chosen, the rubric, the flags with
    their severities (`type:severity`, comma-separated) and the corrected answers' text."""
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
                "left_correction": _correction_of(r, left.id),
                "right_correction": _correction_of(r, right.id),
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
        with out.open("w", encoding="utf-8-sig", newline="") as handle:  # BOM: Excel then reads UTF-8
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
    parser.add_argument(
        "--allow-empty",
        action="store_true",
        help="exit 0 even when the database has no votes yet (the demo exports before anyone has voted)",
    )
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    if not database_exists(config.db_url):
        sys.exit(
            f"error: no annotation database at {config.db_url}; nothing exported and nothing created. "
            "Pass --db URL (or --config FILE) for the database the app writes to."
        )
    sessions = open_database(config.db_url)
    path, count = export(sessions, args.format, args.out, config.system_prompt)
    print(json.dumps({"format": args.format, "db": config.db_url, "out": str(path), "rows": count}))
    if count:
        return
    with sessions() as session:
        votes = session.scalar(select(func.count(Vote.id)))
    if votes:
        what = "corrected answers" if args.format == "sft" else "votes that carry a preference"
        print(f"warning: 0 rows written to {path}: none of the {votes} votes has {what}", file=sys.stderr)
        return
    print(
        f"warning: 0 rows written to {path}: {config.db_url} has no votes yet (annotators vote in the app: "
        "make app). Is this the database the app writes to?",
        file=sys.stderr,
    )
    if not args.allow_empty:
        sys.exit(1)


if __name__ == "__main__":
    main()
