"""Votes joined with everything QC and exports need, as plain immutable records (no ORM outside the session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from annotation_app.storage import GOLD_MODEL, Annotator, Assignment, Candidate, Item, Vote

# Canonical choice → preference direction: which candidate (a/b) is preferred, or tie / both_bad.
DIRECTION = {
    "a_much_better": "a",
    "a_better": "a",
    "tie": "tie",
    "b_better": "b",
    "b_much_better": "b",
    "both_bad": "both_bad",
}
SWAPPED_CHOICE = {
    "a_much_better": "b_much_better",
    "a_better": "b_better",
    "tie": "tie",
    "b_better": "a_better",
    "b_much_better": "a_much_better",
    "both_bad": "both_bad",
}


@dataclass(frozen=True)
class CandidateInfo:
    id: int
    model_name: str
    checkpoint: str
    text: str


@dataclass(frozen=True)
class VoteRecord:
    vote_id: int
    assignment_id: int
    item_id: int
    prompt_id: int
    prompt_external_id: str
    prompt: str
    category: str
    crop: str
    region: str
    season: str
    annotator: str
    candidate_a: CandidateInfo
    candidate_b: CandidateInfo
    left_candidate_id: int
    choice: str  # canonical: refers to candidate_a / candidate_b
    time_spent_ms: int
    comment: str
    shown_at: datetime | None
    created_at: datetime
    is_gold: bool
    is_swap_repeat: bool
    repeat_of_id: int | None
    ratings: tuple[tuple[int, str, int], ...]  # (candidate id, criterion, score)
    flags: tuple[tuple[int, str, str], ...]  # (candidate id, flag type, severity)
    corrections: tuple[tuple[int, str], ...]  # (candidate id, corrected text)

    @property
    def direction(self) -> str:
        return DIRECTION[self.choice]

    @property
    def preferred(self) -> CandidateInfo | None:
        return {"a": self.candidate_a, "b": self.candidate_b}.get(self.direction)

    @property
    def dispreferred(self) -> CandidateInfo | None:
        return {"a": self.candidate_b, "b": self.candidate_a}.get(self.direction)

    @property
    def displayed_choice(self) -> str:
        """The choice as the annotator saw it (a = left/A)."""
        return self.choice if self.left_candidate_id == self.candidate_a.id else SWAPPED_CHOICE[self.choice]

    @property
    def gold_correct(self) -> bool | None:
        if not self.is_gold:
            return None
        return self.preferred is not None and self.preferred.model_name == GOLD_MODEL

    def has_critical_flag(self, candidate_id: int) -> bool:
        return any(cid == candidate_id and severity == "critical" for cid, _, severity in self.flags)


def _candidate_info(candidate: Candidate) -> CandidateInfo:
    return CandidateInfo(candidate.id, candidate.model_name, candidate.checkpoint, candidate.text)


def _record(vote: Vote) -> VoteRecord:
    assignment = vote.assignment
    item = assignment.item
    prompt = item.prompt
    return VoteRecord(
        vote_id=vote.id,
        assignment_id=assignment.id,
        item_id=item.id,
        prompt_id=prompt.id,
        prompt_external_id=prompt.external_id,
        prompt=prompt.text,
        category=prompt.category,
        crop=prompt.crop,
        region=prompt.region,
        season=prompt.season,
        annotator=assignment.annotator.username,
        candidate_a=_candidate_info(item.candidate_a),
        candidate_b=_candidate_info(item.candidate_b),
        left_candidate_id=assignment.left_candidate_id,
        choice=vote.choice,
        time_spent_ms=vote.time_spent_ms,
        comment=vote.comment,
        shown_at=assignment.shown_at,
        created_at=vote.created_at,
        is_gold=item.is_gold,
        is_swap_repeat=assignment.is_swap_repeat,
        repeat_of_id=assignment.repeat_of_id,
        ratings=tuple((r.candidate_id, r.criterion, r.score) for r in vote.ratings),
        flags=tuple((f.candidate_id, f.flag_type, f.severity) for f in vote.flags),
        corrections=tuple((c.candidate_id, c.text) for c in vote.corrections),
    )


def load_vote_records(session: Session) -> list[VoteRecord]:
    stmt = (
        select(Vote)
        .order_by(Vote.id)
        .options(
            joinedload(Vote.assignment).joinedload(Assignment.annotator),
            joinedload(Vote.assignment).joinedload(Assignment.item).joinedload(Item.prompt),
            joinedload(Vote.assignment).joinedload(Assignment.item).joinedload(Item.candidate_a),
            joinedload(Vote.assignment).joinedload(Assignment.item).joinedload(Item.candidate_b),
            selectinload(Vote.ratings),
            selectinload(Vote.flags),
            selectinload(Vote.corrections),
        )
    )
    return [_record(vote) for vote in session.scalars(stmt).unique()]


def assignment_status_counts(session: Session) -> dict[str, dict[str, int]]:
    """username → {status: count} over all assignments."""
    rows = session.execute(
        select(Annotator.username, Assignment.status, func.count(Assignment.id))
        .join(Assignment, Assignment.annotator_id == Annotator.id)
        .group_by(Annotator.username, Assignment.status)
    ).all()
    counts: dict[str, dict[str, int]] = {}
    for username, status, count in rows:
        counts.setdefault(username, {})[status] = count
    return counts
