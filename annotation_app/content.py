"""Loading what annotators judge: prompts, model candidates, gold items and candidate pairs (items)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from annotation_app.storage import GOLD_MODEL, GOLD_REJECTED_MODEL, Candidate, Item, Prompt
from shared.text import normalize_turkish

PROMPT_FIELDS = ("crop", "region", "season", "category")


def upsert_prompt(session: Session, row: dict) -> Prompt:
    """Insert the prompt with external id `row["id"]` unless it is already stored; returns the stored one."""
    external_id = str(row["id"])
    prompt = session.scalar(select(Prompt).where(Prompt.external_id == external_id))
    if prompt is None:
        prompt = Prompt(
            external_id=external_id,
            text=normalize_turkish(row["prompt"]),
            **{name: str(row.get(name) or "") for name in PROMPT_FIELDS},
        )
        session.add(prompt)
        session.flush()
    return prompt


def import_prompts(session: Session, rows: Iterable[dict]) -> list[Prompt]:
    return [upsert_prompt(session, row) for row in rows]


def missing_samples(
    session: Session, prompts: list[Prompt], model_name: str, checkpoint: str, n_samples: int
) -> dict[int, list[Prompt]]:
    """sample index → prompts that have no candidate yet from (model, checkpoint) at that index."""
    stored = set(
        session.execute(
            select(Candidate.prompt_id, Candidate.sample_index).where(
                Candidate.model_name == model_name, Candidate.checkpoint == checkpoint
            )
        ).all()
    )
    missing = {index: [p for p in prompts if (p.id, index) not in stored] for index in range(n_samples)}
    return {index: todo for index, todo in missing.items() if todo}


def add_candidate(
    session: Session,
    prompt: Prompt,
    *,
    model_name: str,
    checkpoint: str,
    sample_index: int,
    text: str,
    decoding: dict | None = None,
    generation_seconds: float = 0.0,
) -> Candidate:
    candidate = Candidate(
        prompt_id=prompt.id,
        model_name=model_name,
        checkpoint=checkpoint,
        sample_index=sample_index,
        text=normalize_turkish(text),
        decoding=decoding or {},
        generation_seconds=generation_seconds,
    )
    session.add(candidate)
    session.flush()
    return candidate


def _get_or_add_item(session: Session, first: Candidate, second: Candidate, is_gold: bool = False) -> tuple[Item, bool]:
    a, b = sorted((first, second), key=lambda c: c.id)
    item = session.scalar(select(Item).where(Item.candidate_a_id == a.id, Item.candidate_b_id == b.id))
    if item is not None:
        return item, False
    item = Item(prompt_id=a.prompt_id, candidate_a_id=a.id, candidate_b_id=b.id, is_gold=is_gold)
    session.add(item)
    session.flush()
    return item, True


def add_gold_item(session: Session, row: dict) -> Item:
    """A hidden gold item: `row` is an annotation prompt plus `gold_answer` (the expected winner) and
    `rejected_answer` (a known-bad answer)."""
    prompt = upsert_prompt(session, row)
    prompt.is_gold = True
    prompt.gold_answer = normalize_turkish(row["gold_answer"])
    pair = []
    for model_name, key in ((GOLD_MODEL, "gold_answer"), (GOLD_REJECTED_MODEL, "rejected_answer")):
        candidate = session.scalar(
            select(Candidate).where(Candidate.prompt_id == prompt.id, Candidate.model_name == model_name)
        )
        pair.append(
            candidate
            or add_candidate(session, prompt, model_name=model_name, checkpoint="", sample_index=0, text=row[key])
        )
    return _get_or_add_item(session, *pair, is_gold=True)[0]


def _ranked_pairs(candidates: list[Candidate], rng: random.Random) -> list[tuple[Candidate, Candidate]]:
    """All candidate pairs of one prompt, cross-model pairs first, shuffled within each group."""
    pairs = list(itertools.combinations(candidates, 2))
    rng.shuffle(pairs)
    return sorted(pairs, key=lambda pair: pair[0].model_name == pair[1].model_name)


def build_items(session: Session, pairs_per_prompt: int, seed: int = 0) -> int:
    """Give every non-gold prompt up to `pairs_per_prompt` items; returns how many items were added."""
    added = 0
    for prompt in session.scalars(select(Prompt).where(Prompt.is_gold.is_(False)).order_by(Prompt.id)):
        count = session.scalar(select(func.count(Item.id)).where(Item.prompt_id == prompt.id))
        candidates = sorted(prompt.candidates, key=lambda c: c.id)
        for first, second in _ranked_pairs(candidates, random.Random(f"{seed}:{prompt.id}")):
            if count >= pairs_per_prompt:
                break
            created = _get_or_add_item(session, first, second)[1]
            count += created
            added += created
    return added
