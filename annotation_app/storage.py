"""Storage layer: SQLAlchemy 2 ORM models, engine set-up and versioned schema migrations.

SQLite is the default (WAL journal, foreign keys ON, write transactions taken with BEGIN IMMEDIATE so
concurrent annotators queue on the busy timeout instead of failing); any SQLAlchemy URL works.

Concurrency on SQLite: transactions opened through `read_sessions()` begin DEFERRED (WAL readers never wait
for the writer), every other transaction begins IMMEDIATE. Writers inside one process should also hold
`write_lock()`: they then queue on a Python lock and are woken the moment the previous writer commits,
instead of polling the busy timeout (SQLite's busy handler sleeps 1, 2, 5, 10, ... 100 ms between retries,
which dominated the tail latency under 20 concurrent annotators). Other processes still queue on the busy
timeout, so the lock is an optimisation, never needed for correctness.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from annotation_app.vocabulary import CHOICES, CRITERIA, FLAG_TYPES, SEVERITIES

ROLES = ("annotator", "admin")
ASSIGNMENT_STATUSES = ("pending", "done", "skipped")
GOLD_MODEL = "gold_reference"
GOLD_REJECTED_MODEL = "gold_rejected"


def utcnow() -> datetime:
    """Naive UTC timestamp (SQLite stores no time zone; every timestamp here is UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Prompt(Base):
    __tablename__ = "prompts"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    text: Mapped[str] = mapped_column(Text)
    crop: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(200), default="")
    season: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(100), default="")
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    candidates: Mapped[list[Candidate]] = relationship(back_populates="prompt")


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("prompt_id", "model_name", "checkpoint", "sample_index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    checkpoint: Mapped[str] = mapped_column(String(1000))
    sample_index: Mapped[int] = mapped_column(Integer, default=0)
    decoding: Mapped[dict] = mapped_column(JSON, default=dict)
    generation_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    prompt: Mapped[Prompt] = relationship(back_populates="candidates")


class Annotator(Base):
    __tablename__ = "annotators"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role_known"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="annotator")
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Item(Base):
    """A pair of candidates for one prompt, in canonical order (candidate_a.id < candidate_b.id)."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("candidate_a_id", "candidate_b_id"),
        CheckConstraint("candidate_a_id < candidate_b_id", name="canonical_order"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    candidate_a_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    candidate_b_id: Mapped[int] = mapped_column(ForeignKey("candidates.id", ondelete="CASCADE"))
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[float | None] = mapped_column(Float, nullable=True)  # active learning: lower first
    prompt: Mapped[Prompt] = relationship()
    candidate_a: Mapped[Candidate] = relationship(foreign_keys=[candidate_a_id])
    candidate_b: Mapped[Candidate] = relationship(foreign_keys=[candidate_b_id])


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "annotator_id", "is_swap_repeat"),
        CheckConstraint(_in("status", ASSIGNMENT_STATUSES), name="status_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotators.id", ondelete="CASCADE"), index=True)
    left_candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    right_candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    is_swap_repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat_of_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    shown_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    item: Mapped[Item] = relationship()
    annotator: Mapped[Annotator] = relationship()
    left_candidate: Mapped[Candidate] = relationship(foreign_keys=[left_candidate_id])
    right_candidate: Mapped[Candidate] = relationship(foreign_keys=[right_candidate_id])
    vote: Mapped[Vote | None] = relationship(back_populates="assignment", uselist=False)


class Vote(Base):
    """One vote per assignment; `choice` refers to the item's canonical candidates a/b, not the sides."""

    __tablename__ = "votes"
    __table_args__ = (CheckConstraint(_in("choice", CHOICES), name="choice_known"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), unique=True)
    choice: Mapped[str] = mapped_column(String(20))
    time_spent_ms: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    assignment: Mapped[Assignment] = relationship(back_populates="vote")
    ratings: Mapped[list[Rating]] = relationship(cascade="all, delete-orphan")
    flags: Mapped[list[Flag]] = relationship(cascade="all, delete-orphan")
    corrections: Mapped[list[Correction]] = relationship(cascade="all, delete-orphan")


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("vote_id", "candidate_id", "criterion"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        CheckConstraint(_in("criterion", CRITERIA), name="criterion_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    criterion: Mapped[str] = mapped_column(String(40))
    score: Mapped[int] = mapped_column(Integer)


class Flag(Base):
    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("vote_id", "candidate_id", "flag_type"),
        CheckConstraint(_in("flag_type", FLAG_TYPES), name="flag_type_known"),
        CheckConstraint(_in("severity", SEVERITIES), name="severity_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    flag_type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(20))


class Correction(Base):
    __tablename__ = "corrections"
    __table_args__ = (UniqueConstraint("vote_id", "candidate_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey("votes.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("candidates.id"))
    text: Mapped[str] = mapped_column(Text)


# ---------------------------------------------------------------- engine

READ_ONLY_OPTION = "annotation_read_only"  # execution option: begin SQLite transactions DEFERRED
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Take the write lock up front: a deferred read→write upgrade under WAL fails with SQLITE_BUSY
        # without waiting on the busy timeout. Read-only sessions (`read_sessions`) begin DEFERRED.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """Engine for `url`; SQLite files get WAL, foreign keys and immediate write transactions."""
    is_sqlite = url.startswith("sqlite")
    file = sqlite_file(url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"connect_args": {"check_same_thread": False, "timeout": 30}} if is_sqlite else {}
    engine = create_engine(url, **kwargs)
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


# ---------------------------------------------------------------- migrations


def _migration_1_initial(connection: Connection) -> None:
    tables = [t for name, t in Base.metadata.tables.items() if name != "schema_version"]
    Base.metadata.create_all(connection, tables=tables)


def _migration_2_indexes(connection: Connection) -> None:
    connection.execute(
        text("CREATE INDEX IF NOT EXISTS ix_assignments_annotator_status ON assignments (annotator_id, status)")
    )
    connection.execute(text("CREATE INDEX IF NOT EXISTS ix_items_priority ON items (priority)"))


MIGRATIONS: list[tuple[int, Callable[[Connection], None]]] = [
    (1, _migration_1_initial),
    (2, _migration_2_indexes),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_schema_version(connection: Connection) -> int:
    SchemaVersion.__table__.create(connection, checkfirst=True)
    version = connection.execute(select(SchemaVersion.version).order_by(SchemaVersion.version.desc())).first()
    return version[0] if version else 0


def migrate(engine: Engine) -> int:
    """Apply every migration newer than the stored schema version, each in its own transaction."""
    for version, apply in MIGRATIONS:
        with engine.begin() as connection:
            if current_schema_version(connection) >= version:
                continue
            apply(connection)
            connection.execute(SchemaVersion.__table__.insert().values(version=version, applied_at=utcnow()))
    with engine.connect() as connection:
        return current_schema_version(connection)


def _engine_of(sessions: sessionmaker) -> Engine:
    return sessions.kw["bind"]


def read_sessions(sessions: sessionmaker) -> sessionmaker:
    """Sessions on the same engine whose transactions begin DEFERRED on SQLite: for work that only reads.
    (A write through one of them still works; it just takes SQLite's lock late, like plain SQLite would.)"""
    engine = _engine_of(sessions)
    return sessionmaker(engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False)


def write_lock(sessions: sessionmaker) -> AbstractContextManager:
    """The process-wide lock that write transactions on this SQLite database hold from BEGIN to COMMIT
    (a no-op context for other databases, which have row-level locking)."""
    engine = _engine_of(sessions)
    if engine.dialect.name != "sqlite":
        return nullcontext()
    key = str(engine.url)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, threading.Lock())


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def database_exists(url: str) -> bool:
    """Whether `url` holds an app database already (schema applied). Creates nothing: a missing SQLite file
    stays missing."""
    file = sqlite_file(url)
    if file is not None and not file.is_file():
        return False
    if make_url(url).get_backend_name() == "sqlite" and file is None:
        return False  # in-memory: new on every connection
    engine = create_engine(url)
    try:
        return inspect(engine).has_table(SchemaVersion.__tablename__)
    finally:
        engine.dispose()


def open_database(url: str) -> sessionmaker:
    """Engine + migrations + a session factory (expire_on_commit off so results outlive the session)."""
    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
