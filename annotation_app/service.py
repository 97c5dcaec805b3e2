"""Service layer: the annotation workflow and admin functions. No UI code; every call names the acting user."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, joinedload, sessionmaker

from annotation_app.config import AppConfig
from annotation_app.passwords import hash_password, verify_password
from annotation_app.records import SWAPPED_CHOICE, assignment_status_counts, load_vote_records
from annotation_app.storage import (
    ROLES,
    Annotator,
    Assignment,
    Candidate,
    Correction,
    Flag,
    Item,
    Prompt,
    Rating,
    Vote,
    open_database,
    read_sessions,
    utcnow,
    write_lock,
)
from annotation_app.vocabulary import CHOICES, CRITERIA, FLAG_TYPES, SEVERITIES, SIDES
from shared.text import normalize_turkish

if TYPE_CHECKING:  # qc pulls in sklearn/statsmodels; loaded only when a report is asked for
    from annotation_app.qc import QCReport

# ---------------------------------------------------------------- hot-path statements
# Built once with bind parameters: constructing them per request cost more CPU than running them.


def _unseen_items(*, gold: bool):
    seen = select(Assignment.item_id).where(Assignment.annotator_id == bindparam("annotator_id"))
    return select(Item).where(Item.is_gold.is_(gold), Item.id.not_in(seen))


def _open_items():
    """Regular items the user has not seen that still have fewer than `per_item` active assignments;
    active-learning priority first, then items closest to complete."""
    taken = (
        select(Assignment.item_id, func.count(Assignment.id).label("n"))
        .where(Assignment.is_swap_repeat.is_(False), Assignment.status != "skipped")
        .group_by(Assignment.item_id)
        .subquery()
    )
    n_taken = func.coalesce(taken.c.n, 0)
    return (
        _unseen_items(gold=False)
        .outerjoin(taken, taken.c.item_id == Item.id)
        .where(n_taken < bindparam("per_item"))
        .order_by(Item.priority.is_(None), Item.priority, n_taken.desc(), Item.id)
    )


def _task_texts():
    left, right = aliased(Candidate), aliased(Candidate)
    return (
        select(Prompt.text, Prompt.crop, Prompt.region, Prompt.season, Prompt.category, left.text, right.text)
        .select_from(Assignment)
        .join(Item, Item.id == Assignment.item_id)
        .join(Prompt, Prompt.id == Item.prompt_id)
        .join(left, left.id == Assignment.left_candidate_id)
        .join(right, right.id == Assignment.right_candidate_id)
        .where(Assignment.id == bindparam("assignment_id"))
    )


OPEN_ITEM = _open_items().limit(1)
OPEN_ITEM_COUNT = select(func.count()).select_from(_open_items().subquery())
UNSEEN_GOLD_ITEM = _unseen_items(gold=True).order_by(Item.id).limit(1)
PENDING_ASSIGNMENT = (
    select(Assignment)
    .where(Assignment.annotator_id == bindparam("annotator_id"), Assignment.status == "pending")
    .order_by(Assignment.id)
    .limit(1)
)
STATUS_COUNTS = (
    select(Assignment.status, func.count(Assignment.id))
    .where(Assignment.annotator_id == bindparam("annotator_id"))
    .group_by(Assignment.status)
)
TASK_TEXTS = _task_texts()


class ValidationError(ValueError):
    """Invalid input; the message is Turkish and meant for the annotator."""


@dataclass(frozen=True)
class Task:
    assignment_id: int
    prompt: str
    crop: str
    region: str
    season: str
    category: str
    answer_a: str  # left
    answer_b: str  # right


@dataclass
class VoteInput:
    """A vote as displayed: `choice` and the side keys use A = left, B = right."""

    assignment_id: int
    choice: str
    ratings: dict[str, dict[str, int]] = field(default_factory=dict)  # side → criterion → 1..5
    flags: dict[str, dict[str, str]] = field(default_factory=dict)  # side → flag type → severity
    corrections: dict[str, str] = field(default_factory=dict)  # side → corrected answer
    comment: str = ""


@dataclass(frozen=True)
class VoteResult:
    vote_id: int
    assignment_id: int
    choice: str  # canonical (item's candidate a / b)
    time_spent_ms: int
    already_recorded: bool


@dataclass(frozen=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True)
class Screen:
    """What the annotator sees next, read in the same transaction as the vote or skip before it."""

    task: Task | None  # None: nothing left
    progress: Progress
    result: VoteResult | None = None


class AnnotationService:
    """Writes run in `_writing()` (process-wide write lock + BEGIN IMMEDIATE), reads in `_reading()`
    (DEFERRED: a WAL snapshot that never waits for writers). `sessions` stays the general-purpose factory."""

    def __init__(self, sessions: sessionmaker, config: AppConfig) -> None:
        self.sessions = sessions
        self.config = config
        self._rng = random.Random(config.seed)
        self._read_sessions = read_sessions(sessions)
        self._write_lock = write_lock(sessions)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        """One write transaction, holding the process-wide write lock from BEGIN to COMMIT/ROLLBACK."""
        with self._write_lock, self.sessions.begin() as session:
            yield session

    def _reading(self) -> Session:
        return self._read_sessions()

    @classmethod
    def from_config(cls, config: AppConfig) -> AnnotationService:
        return cls(open_database(config.db_url), config)

    # ------------------------------------------------------------ users

    def add_user(self, username: str, password: str, role: str = "annotator") -> int:
        if role not in ROLES:
            raise ValidationError(f"Bilinmeyen rol: {role!r} (annotator veya admin).")
        username = username.strip()
        if not username:
            raise ValidationError("Kullanıcı adı boş olamaz.")
        password_hash = hash_password(password)  # scrypt (~50 ms): not while holding the write lock
        with self._writing() as session:
            if session.scalar(select(Annotator.id).where(Annotator.username == username)) is not None:
                raise ValidationError(f"Kullanıcı zaten var: {username}")
            annotator = Annotator(username=username, role=role, password_hash=password_hash)
            session.add(annotator)
            session.flush()
            return annotator.id

    def authenticate(self, username: str, password: str) -> bool:
        with self._reading() as session:
            stored = session.scalar(select(Annotator.password_hash).where(Annotator.username == username))
        return stored is not None and verify_password(password, stored)

    def role_of(self, username: str | None) -> str | None:
        with self._reading() as session:
            return session.scalar(select(Annotator.role).where(Annotator.username == username))

    def is_admin(self, username: str | None) -> bool:
        return self.role_of(username) == "admin"

    def require_admin(self, username: str | None) -> None:
        if not self.is_admin(username):
            raise PermissionError("Bu işlem yalnızca yöneticilere açık.")

    # ------------------------------------------------------------ tasks

    def next_task(self, username: str) -> Task | None:
        """The user's pending task, else a new one (swap repeat, gold or regular); None when nothing is left."""
        with self._writing() as session:
            return self._next_task(session, _annotator(session, username))

    def next_screen(self, username: str) -> Screen:
        """`next_task` and `progress` in one transaction (what the UI shows when the user asks for a task)."""
        with self._writing() as session:
            return self._screen(session, _annotator(session, username))

    def open_screen(self, username: str) -> Screen:
        """What the page shows when it opens: the user's pending task, else a new one; an admin gets a new task
        only by asking for it (`next_screen`), so opening the admin view takes no annotator's place on an item."""
        with self._writing() as session:
            annotator = _annotator(session, username)
            if annotator.role == "admin" and self._pending(session, annotator) is None:
                return Screen(None, self._progress(session, annotator))
            return self._screen(session, annotator)

    def _screen(self, session: Session, annotator: Annotator, result: VoteResult | None = None) -> Screen:
        return Screen(self._next_task(session, annotator), self._progress(session, annotator), result)

    def _next_task(self, session: Session, annotator: Annotator) -> Task | None:
        pending = self._pending(session, annotator)
        if pending is not None:
            pending.shown_at = utcnow()  # time spent counts from the latest showing
        assignment = pending or self._new_assignment(session, annotator)
        return None if assignment is None else _task(session, assignment.id)

    def _pending(self, session: Session, annotator: Annotator) -> Assignment | None:
        return session.scalar(PENDING_ASSIGNMENT, {"annotator_id": annotator.id})

    def _new_assignment(self, session: Session, annotator: Annotator) -> Assignment | None:
        if self._rng.random() < self.config.swap_repeat_share:
            repeat = self._swap_repeat(session, annotator)
            if repeat is not None:
                return repeat
        if self._rng.random() < self.config.gold_share:
            gold = session.scalar(UNSEEN_GOLD_ITEM, {"annotator_id": annotator.id})
            if gold is not None:
                return self._assign(session, annotator, gold)
        item = session.scalar(OPEN_ITEM, self._open_item_params(annotator))
        return None if item is None else self._assign(session, annotator, item)

    def _open_item_params(self, annotator: Annotator) -> dict:
        return {"annotator_id": annotator.id, "per_item": self.config.annotators_per_item}

    def _assign(self, session: Session, annotator: Annotator, item: Item) -> Assignment:
        left, right = item.candidate_a_id, item.candidate_b_id
        if self._rng.random() < 0.5:
            left, right = right, left
        assignment = Assignment(
            item=item, annotator=annotator, left_candidate_id=left, right_candidate_id=right, shown_at=utcnow()
        )
        session.add(assignment)
        session.flush()
        return assignment

    def _swap_repeat(self, session: Session, annotator: Annotator) -> Assignment | None:
        """Re-show one of the user's done (non-gold) items with the sides swapped, not among their latest votes."""
        mine = select(Assignment.id).where(Assignment.annotator_id == annotator.id)
        recent = (
            mine.where(Assignment.status == "done").order_by(Assignment.id.desc()).limit(self.config.repeat_min_gap)
        )
        repeated = select(Assignment.repeat_of_id).where(
            Assignment.annotator_id == annotator.id, Assignment.repeat_of_id.is_not(None)
        )
        original = session.scalar(
            select(Assignment)
            .join(Item)
            .where(
                Assignment.annotator_id == annotator.id,
                Assignment.status == "done",
                Assignment.is_swap_repeat.is_(False),
                Item.is_gold.is_(False),
                Assignment.id.not_in(recent.scalar_subquery()),
                Assignment.id.not_in(repeated),
            )
            .order_by(Assignment.id)
        )
        if original is None:
            return None
        repeat = Assignment(
            item_id=original.item_id,
            annotator=annotator,
            is_swap_repeat=True,
            repeat_of_id=original.id,
            left_candidate_id=original.right_candidate_id,
            right_candidate_id=original.left_candidate_id,
            shown_at=utcnow(),
        )
        session.add(repeat)
        session.flush()
        return repeat

    def progress(self, username: str) -> Progress:
        """done / (done + pending + regular items still open to this user)."""
        with self._reading() as session:
            return self._progress(session, _annotator(session, username))

    def _progress(self, session: Session, annotator: Annotator) -> Progress:
        by_status = dict(session.execute(STATUS_COUNTS, {"annotator_id": annotator.id}).all())
        open_items = session.scalar(OPEN_ITEM_COUNT, self._open_item_params(annotator))
        done = by_status.get("done", 0)
        return Progress(done=done, total=done + by_status.get("pending", 0) + open_items)

    # ------------------------------------------------------------ votes

    def submit_vote(self, username: str, vote: VoteInput) -> VoteResult:
        """Store the vote with its ratings, flags and correction in one transaction. Submitting the same
        assignment again stores nothing and returns the first result (`already_recorded=True`)."""
        self._validate(vote)
        try:
            with self._writing() as session:
                return self._vote_once(session, username, vote)[1]
        except IntegrityError as error:
            return self._recorded_result(username, vote.assignment_id, error)

    def vote_and_next(self, username: str, vote: VoteInput) -> Screen:
        """`submit_vote`, then the next task and progress, in one transaction (what the UI's submit runs)."""
        self._validate(vote)
        try:
            with self._writing() as session:
                annotator, result = self._vote_once(session, username, vote)
                return self._screen(session, annotator, result)
        except IntegrityError as error:
            recorded = self._recorded_result(username, vote.assignment_id, error)
            return replace(self.next_screen(username), result=recorded)

    def _vote_once(self, session: Session, username: str, vote: VoteInput) -> tuple[Annotator, VoteResult]:
        assignment = _owned_assignment(session, username, vote.assignment_id)
        if assignment.vote is not None:
            return assignment.annotator, _result(assignment.vote, already_recorded=True)
        if assignment.status == "skipped":
            raise ValidationError("Bu görev atlanmış; oy verilemez.")
        return assignment.annotator, _result(self._store_vote(session, assignment, vote), already_recorded=False)

    def _recorded_result(self, username: str, assignment_id: int, error: IntegrityError) -> VoteResult:
        """After `error`: a concurrent double submit (e.g. from another process) won the race on the unique
        assignment id; report its vote. Any other integrity error is raised as it was."""
        with self._reading() as session:
            existing = _owned_assignment(session, username, assignment_id).vote
            if existing is None:
                raise error
            return _result(existing, already_recorded=True)

    def _validate(self, vote: VoteInput) -> None:
        if vote.choice not in CHOICES:
            raise ValidationError("Lütfen bir tercih seçin (A çok daha iyi … İkisi de kötü).")
        if len(vote.comment or "") > self.config.max_comment_chars:
            raise ValidationError(
                f"Yorum çok uzun: {len(vote.comment)} karakter (en fazla {self.config.max_comment_chars})."
            )
        for side, text in vote.corrections.items():
            if len(text or "") > self.config.max_correction_chars:
                raise ValidationError(
                    f"{side} için düzeltilmiş cevap çok uzun: {len(text)} karakter "
                    f"(en fazla {self.config.max_correction_chars})."
                )
        for side in (*vote.ratings, *vote.flags, *vote.corrections):
            if side not in SIDES:
                raise ValidationError(f"Bilinmeyen cevap tarafı: {side!r} (A veya B).")
        for scores in vote.ratings.values():
            for criterion, score in scores.items():
                if criterion not in CRITERIA:
                    raise ValidationError(f"Bilinmeyen ölçüt: {criterion!r}.")
                if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
                    raise ValidationError("Puanlar 1 ile 5 arasında tam sayı olmalı.")
        for flags in vote.flags.values():
            for flag_type, severity in flags.items():
                if flag_type not in FLAG_TYPES:
                    raise ValidationError(f"Bilinmeyen güvenlik işareti: {flag_type!r}.")
                if severity not in SEVERITIES:
                    raise ValidationError(f"Bilinmeyen önem derecesi: {severity!r}.")

    def _store_vote(self, session: Session, assignment: Assignment, vote: VoteInput) -> Vote:
        side_candidate = {"A": assignment.left_candidate_id, "B": assignment.right_candidate_id}
        is_left_a = assignment.left_candidate_id == assignment.item.candidate_a_id
        shown_at = assignment.shown_at or assignment.created_at
        stored = Vote(
            assignment=assignment,
            choice=vote.choice if is_left_a else SWAPPED_CHOICE[vote.choice],
            time_spent_ms=max(0, int((utcnow() - shown_at).total_seconds() * 1000)),
            comment=normalize_turkish(vote.comment or ""),
        )
        assignment.status = "done"
        session.add(stored)
        session.flush()
        # Child rows as one executemany each: the ORM would insert the 8 ratings one by one to fetch their ids.
        children = {
            Rating: [
                {"candidate_id": side_candidate[side], "criterion": criterion, "score": score}
                for side, scores in vote.ratings.items()
                for criterion, score in scores.items()
            ],
            Flag: [
                {"candidate_id": side_candidate[side], "flag_type": flag_type, "severity": severity}
                for side, flags in vote.flags.items()
                for flag_type, severity in flags.items()
            ],
            Correction: [
                {"candidate_id": side_candidate[side], "text": text}
                for side, raw in vote.corrections.items()
                if (text := normalize_turkish(raw or ""))
            ],
        }
        for model, rows in children.items():
            if rows:
                session.execute(insert(model), [{"vote_id": stored.id, **row} for row in rows])
        return stored

    def skip(self, username: str, assignment_id: int) -> None:
        with self._writing() as session:
            self._skip(session, username, assignment_id)

    def skip_and_next(self, username: str, assignment_id: int) -> Screen:
        with self._writing() as session:
            return self._screen(session, self._skip(session, username, assignment_id))

    def _skip(self, session: Session, username: str, assignment_id: int) -> Annotator:
        assignment = _owned_assignment(session, username, assignment_id)
        if assignment.status == "pending":
            assignment.status = "skipped"
        return assignment.annotator

    # ------------------------------------------------------------ admin

    def qc_report(self, username: str) -> QCReport:
        from annotation_app import qc

        self.require_admin(username)
        with self._reading() as session:
            records = load_vote_records(session)
            statuses = assignment_status_counts(session)
        return qc.build_report(
            records, statuses, bootstrap_samples=self.config.bootstrap_samples, seed=self.config.seed
        )

    def export_rows(self, username: str, fmt: str) -> list[dict]:
        from annotation_app.export import build_rows

        self.require_admin(username)
        with self._reading() as session:
            records = load_vote_records(session)
        return build_rows(records, fmt, system_prompt=self.config.system_prompt)


def _annotator(session: Session, username: str | None) -> Annotator:
    annotator = session.scalar(select(Annotator).where(Annotator.username == username))
    if annotator is None:
        raise PermissionError("Bilinmeyen kullanıcı.")
    return annotator


def _owned_assignment(session: Session, username: str, assignment_id: int) -> Assignment:
    assignment = session.get(
        Assignment,
        int(assignment_id),
        options=[joinedload(Assignment.annotator), joinedload(Assignment.vote), joinedload(Assignment.item)],
    )
    if assignment is None:
        raise ValidationError("Görev bulunamadı.")
    if assignment.annotator.username != username:
        raise PermissionError("Bu görev size ait değil.")
    return assignment


def _task(session: Session, assignment_id: int) -> Task:
    return Task(assignment_id, *session.execute(TASK_TEXTS, {"assignment_id": assignment_id}).one())


def _result(vote: Vote, *, already_recorded: bool) -> VoteResult:
    return VoteResult(
        vote_id=vote.id,
        assignment_id=vote.assignment_id,
        choice=vote.choice,
        time_spent_ms=vote.time_spent_ms,
        already_recorded=already_recorded,
    )
