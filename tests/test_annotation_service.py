"""Annotation app: storage and service layer, without Gradio."""

import io
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text

from annotation_app import service as service_module
from annotation_app import users
from annotation_app.active_learning import order_by_score_closeness, prioritize_items
from annotation_app.config import AppConfig, load_config
from annotation_app.passwords import hash_password, verify_password
from annotation_app.service import AnnotationService, ValidationError, VoteInput
from annotation_app.storage import (
    SCHEMA_VERSION,
    Annotator,
    Assignment,
    Correction,
    Flag,
    Item,
    Rating,
    Vote,
    make_engine,
    migrate,
)
from annotation_app.testing import seed_database

FULL_RATINGS = {
    "A": {"dogruluk": 5, "guvenlik": 4, "uygulanabilirlik": 4, "aciklik": 5},
    "B": {"dogruluk": 2, "guvenlik": 1, "uygulanabilirlik": 3, "aciklik": 3},
}


def make_service(tmp_path, **overrides) -> AnnotationService:
    settings = {
        "db_url": f"sqlite:///{tmp_path / 'app.db'}",
        "gold_share": 0.0,
        "swap_repeat_share": 0.0,
        "annotators_per_item": 2,
        **overrides,
    }
    return AnnotationService.from_config(AppConfig(**settings))


@pytest.fixture
def service(tmp_path):
    svc = make_service(tmp_path)
    seed_database(svc, 6)
    for name in ("ali", "veli", "ayse"):
        svc.add_user(name, "parola-123")
    svc.add_user("yonetici", "parola-123", role="admin")
    return svc


def vote_all(svc, username, choice="a_better", **fields):
    results = []
    while (task := svc.next_task(username)) is not None:
        results.append(svc.submit_vote(username, VoteInput(task.assignment_id, choice, **fields)))
    return results


# ------------------------------------------------------------ storage


def test_migrations_are_versioned_and_idempotent(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert migrate(engine) == SCHEMA_VERSION
    assert migrate(engine) == SCHEMA_VERSION
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_foreign_keys_are_enforced(service):
    with pytest.raises(Exception, match="FOREIGN KEY"), service.sessions.begin() as session:
        session.add(Rating(vote_id=999, candidate_id=999, criterion="dogruluk", score=3))


def test_config_rejects_unknown_keys(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text("db_url: sqlite://\nannotators_per_itme: 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"annotators_per_itme.*app.yaml"):
        load_config(path)
    assert load_config("configs/annotation/app.yaml").host == "127.0.0.1"


# ------------------------------------------------------------ users and passwords


def test_password_hash_is_salted_self_describing_and_verifies():
    first, second = hash_password("gizli-parola"), hash_password("gizli-parola")
    assert first != second and first.startswith("scrypt$") and "gizli-parola" not in first
    assert verify_password("gizli-parola", first)
    assert not verify_password("yanlis-parola", first)
    assert not verify_password("gizli-parola", "garbage")
    with pytest.raises(ValueError):
        hash_password("kisa")


def test_users_cli_reads_password_from_stdin_and_never_prints_it(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'users.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("cok-gizli-parola\n"))
    users.main(["add", "zeynep", "--role", "admin", "--password-stdin", "--db", db])
    users.main(["list", "--db", db])
    out = capsys.readouterr().out
    assert "zeynep\tadmin" in out and "cok-gizli-parola" not in out
    stored = sqlite3.connect(tmp_path / "users.db").execute("SELECT password_hash FROM annotators").fetchone()[0]
    assert "cok-gizli-parola" not in stored
    svc = AnnotationService.from_config(AppConfig(db_url=db))
    assert svc.authenticate("zeynep", "cok-gizli-parola") and not svc.authenticate("zeynep", "yanlis-parola")
    assert svc.is_admin("zeynep")


def test_duplicate_user_is_refused(service):
    with pytest.raises(ValidationError, match="zaten var"):
        service.add_user("ali", "parola-456")


# ------------------------------------------------------------ assignment


def test_each_item_gets_k_distinct_annotators(service):
    for name in ("ali", "veli", "ayse"):
        vote_all(service, name)
    with service.sessions() as session:
        per_item = Counter(session.scalars(select(Assignment.item_id)))
        pairs = session.execute(select(Assignment.item_id, Assignment.annotator_id)).all()
    assert set(per_item.values()) == {2} and len(per_item) == 6
    assert len(pairs) == len(set(pairs))


def test_pending_task_is_resumed_and_progress_counts(service):
    first = service.next_task("ali")
    assert service.next_task("ali").assignment_id == first.assignment_id
    assert service.progress("ali").done == 0 and service.progress("ali").total == 6
    service.submit_vote("ali", VoteInput(first.assignment_id, "tie"))
    assert (service.progress("ali").done, service.progress("ali").total) == (1, 6)


def test_vote_and_next_returns_the_following_screen_in_one_step(service):
    first = service.next_screen("ali")
    assert first.progress == service.progress("ali") and first.result is None
    screen = service.vote_and_next("ali", VoteInput(first.task.assignment_id, "a_better", ratings=FULL_RATINGS))
    assert not screen.result.already_recorded
    assert screen.task.assignment_id != first.task.assignment_id
    assert screen.task == service.next_task("ali")  # the new task is the user's pending one
    assert (screen.progress.done, screen.progress.total) == (1, 6) == (service.progress("ali").done, 6)
    again = service.vote_and_next("ali", VoteInput(first.task.assignment_id, "b_better"))
    assert again.result.already_recorded and again.result.vote_id == screen.result.vote_id
    assert again.task == screen.task and again.progress == screen.progress
    skipped = service.skip_and_next("ali", screen.task.assignment_id)
    assert skipped.task.assignment_id not in (first.task.assignment_id, screen.task.assignment_id)
    with service.sessions() as session:
        assert session.get(Assignment, screen.task.assignment_id).status == "skipped"
        assert session.scalar(select(func.count(Rating.id))) == 8


def test_opening_the_app_gives_an_annotator_a_task_and_an_admin_none_until_asked(service):
    assert service.open_screen("ali").task is not None
    opened = service.open_screen("yonetici")
    assert opened.task is None and opened.progress.total == 6
    with service.sessions() as session:
        assert (
            session.scalar(select(func.count(Assignment.id)).join(Annotator).where(Annotator.username == "yonetici"))
            == 0
        )
    asked = service.next_screen("yonetici")  # the admin asks for a task: gets one, and keeps it on reopening
    assert asked.task is not None and service.open_screen("yonetici").task == asked.task


def test_gold_items_are_mixed_in_hidden(tmp_path):
    svc = make_service(tmp_path, gold_share=1.0)
    seed_database(svc, 3, n_gold=2)
    svc.add_user("ali", "parola-123")
    first, second = svc.next_task("ali"), None
    svc.submit_vote("ali", VoteInput(first.assignment_id, "a_better"))
    second = svc.next_task("ali")
    with svc.sessions() as session:
        gold = [session.get(Assignment, t.assignment_id).item.is_gold for t in (first, second)]
    assert gold == [True, True]
    assert "gold" not in repr(first).lower()


def test_swap_repeat_shows_a_done_item_again_with_sides_swapped(tmp_path):
    svc = make_service(tmp_path, swap_repeat_share=1.0, repeat_min_gap=2)
    seed_database(svc, 5)
    svc.add_user("ali", "parola-123")
    tasks = []
    while (task := svc.next_task("ali")) is not None:
        tasks.append(task)
        svc.submit_vote("ali", VoteInput(task.assignment_id, "a_better"))
    with svc.sessions() as session:
        repeats = session.scalars(select(Assignment).where(Assignment.is_swap_repeat.is_(True))).all()
        assert len(repeats) == 3  # the last `repeat_min_gap` votes are never repeated
        for repeat in repeats:
            original = session.get(Assignment, repeat.repeat_of_id)
            assert original.item_id == repeat.item_id and not original.is_swap_repeat
            assert (repeat.left_candidate_id, repeat.right_candidate_id) == (
                original.right_candidate_id,
                original.left_candidate_id,
            )
        # the first repeat only comes once `repeat_min_gap` later votes exist
        assert min(r.id for r in repeats) == 4
    assert len(tasks) == 8


def test_skip_frees_the_slot_for_someone_else(tmp_path):
    svc = make_service(tmp_path, annotators_per_item=1)
    seed_database(svc, 1)
    for name in ("ali", "veli"):
        svc.add_user(name, "parola-123")
    task = svc.next_task("ali")
    assert svc.next_task("veli") is None
    svc.skip("ali", task.assignment_id)
    assert svc.next_task("ali") is None
    assert svc.next_task("veli") is not None
    with pytest.raises(ValidationError, match="atlanmış"):
        svc.submit_vote("ali", VoteInput(task.assignment_id, "tie"))


# ------------------------------------------------------------ votes


def test_vote_maps_sides_to_candidates(service):
    task = service.next_task("ali")
    result = service.submit_vote(
        "ali",
        VoteInput(
            task.assignment_id,
            "a_much_better",
            ratings=FULL_RATINGS,
            flags={"B": {"dangerous_practice": "critical"}},
            corrections={"B": "Düzeltilmiş cevap."},
            comment="iyi",
        ),
    )
    with service.sessions() as session:
        assignment = session.get(Assignment, task.assignment_id)
        left_is_a = assignment.left_candidate_id == assignment.item.candidate_a_id
        assert result.choice == ("a_much_better" if left_is_a else "b_much_better")
        vote = session.get(Vote, result.vote_id)
        assert assignment.status == "done" and vote.comment == "iyi"
        assert {(r.candidate_id, r.criterion): r.score for r in vote.ratings}[
            (assignment.left_candidate_id, "dogruluk")
        ] == 5
        assert [(f.candidate_id, f.flag_type) for f in vote.flags] == [
            (assignment.right_candidate_id, "dangerous_practice")
        ]
        assert vote.corrections[0].candidate_id == assignment.right_candidate_id


def test_double_submit_stores_one_vote_and_returns_the_first(service):
    task = service.next_task("ali")
    first = service.submit_vote("ali", VoteInput(task.assignment_id, "a_better", ratings=FULL_RATINGS))
    again = service.submit_vote("ali", VoteInput(task.assignment_id, "b_much_better", comment="değişti"))
    assert not first.already_recorded and again.already_recorded
    assert (again.vote_id, again.choice) == (first.vote_id, first.choice)
    with service.sessions() as session:
        assert session.scalar(select(func.count(Vote.id))) == 1
        assert session.scalar(select(func.count(Rating.id))) == 8


def test_vote_is_one_transaction(service, monkeypatch):
    task = service.next_task("ali")

    def failing_normalize(value):
        if value == "patlat":
            raise RuntimeError("disk full")
        return value

    monkeypatch.setattr(service_module, "normalize_turkish", failing_normalize)
    with pytest.raises(RuntimeError):
        service.submit_vote(
            "ali",
            VoteInput(
                task.assignment_id,
                "a_better",
                ratings=FULL_RATINGS,
                flags={"A": {"phi_ignored": "low"}},
                corrections={"A": "patlat"},
            ),
        )
    with service.sessions() as session:
        for table in (Vote, Rating, Flag, Correction):
            assert session.scalar(select(func.count(table.id))) == 0
        assert session.get(Assignment, task.assignment_id).status == "pending"


@pytest.mark.parametrize(
    ("vote", "message"),
    [
        (dict(choice="en_iyi"), "tercih"),
        (dict(choice="tie", ratings={"A": {"dogruluk": 6}}), "1 ile 5"),
        (dict(choice="tie", ratings={"A": {"lezzet": 3}}), "ölçüt"),
        (dict(choice="tie", flags={"B": {"wrong_dose_unit": "huge"}}), "önem"),
        (dict(choice="tie", flags={"B": {"too_salty": "low"}}), "işaret"),
        (dict(choice="tie", comment="x" * 2001), "Yorum çok uzun"),
        (dict(choice="tie", corrections={"A": "y" * 8001}), "düzeltilmiş cevap çok uzun"),
        (dict(choice="tie", corrections={"C": "z"}), "tarafı"),
    ],
)
def test_invalid_votes_are_refused_in_turkish(service, vote, message):
    task = service.next_task("ali")
    with pytest.raises(ValidationError, match=message):
        service.submit_vote("ali", VoteInput(task.assignment_id, **vote))
    with service.sessions() as session:
        assert session.scalar(select(func.count(Vote.id))) == 0


# ------------------------------------------------------------ permissions


def test_annotator_cannot_vote_on_someone_elses_assignment(service):
    task = service.next_task("ali")
    with pytest.raises(PermissionError):
        service.submit_vote("veli", VoteInput(task.assignment_id, "a_better"))
    with pytest.raises(PermissionError):
        service.skip("veli", task.assignment_id)
    with pytest.raises(PermissionError):
        service.next_task("bilinmeyen")


def test_admin_functions_refuse_annotators(service):
    vote_all(service, "ali")
    for call in (lambda u: service.qc_report(u), lambda u: service.export_rows(u, "dpo")):
        with pytest.raises(PermissionError):
            call("ali")
        with pytest.raises(PermissionError):
            call(None)
        assert call("yonetici") is not None


# ------------------------------------------------------------ active learning


def test_order_by_score_closeness():
    def score_fn(prompts, responses):
        return [float(len(r)) for r in responses]

    pairs = [("aaaa", "a"), ("aa", "aaa"), ("aaaaa", "aaaaa")]
    assert order_by_score_closeness(["p"] * 3, pairs, score_fn) == [2, 1, 0]


def test_prioritized_items_are_served_first(service):
    def closest_is_prompt_3(prompts, responses):  # gap 0 for prompt 3's pair, 1 for every other pair
        return [0.0 if "soru 3" in p else float(k % 2) for k, p in enumerate(prompts)]

    assert prioritize_items(service.sessions, closest_is_prompt_3) == 6
    task = service.next_task("ali")
    assert "soru 3" in task.prompt
    with service.sessions() as session:
        assert session.scalar(select(func.count(Item.id)).where(Item.priority.is_not(None))) == 6


# ------------------------------------------------------------ concurrency


def test_reads_do_not_wait_for_a_writer_and_threads_store_each_vote_once(tmp_path):
    svc = make_service(tmp_path)
    seed_database(svc, 40)
    users_ = [f"u{k}" for k in range(8)]
    for name in users_:
        svc.add_user(name, "parola-123")
    writer = sqlite3.connect(tmp_path / "app.db", timeout=0)
    writer.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    try:
        started = time.perf_counter()
        assert svc.progress("u0").total == 40 and svc.authenticate("u0", "parola-123") and not svc.is_admin("u0")
        assert time.perf_counter() - started < 1.0  # DEFERRED reads: no busy-timeout wait
    finally:
        writer.rollback()
        writer.close()

    def annotate(name):
        results = []
        for _ in range(5):
            task = svc.next_task(name)
            results += [svc.submit_vote(name, VoteInput(task.assignment_id, "tie")) for _ in range(2)]
        return results

    with ThreadPoolExecutor(len(users_)) as pool:
        results = [r for rs in pool.map(annotate, users_) for r in rs]
    assert sum(not r.already_recorded for r in results) == 40
    assert {r.vote_id for r in results if r.already_recorded} == {r.vote_id for r in results if not r.already_recorded}
    with svc.sessions() as session:
        assert session.scalar(select(func.count(Vote.id))) == 40


# ------------------------------------------------------------ vocabulary and layers


def test_flag_vocabulary_speaks_the_project_taxonomy():
    from annotation_app import vocabulary
    from shared.taxonomy import CRITICAL_SAFETY_DEFECTS, DEFECTS

    assert set(vocabulary.FLAG_DEFECTS) == set(vocabulary.FLAG_TYPES)
    assert set(vocabulary.FLAG_DEFECTS.values()) <= set(DEFECTS)
    assert {"wrong_dose_unit", "unsafe_practice"} <= set(vocabulary.FLAG_DEFECTS.values()) & CRITICAL_SAFETY_DEFECTS
    assert vocabulary.CRITICAL in vocabulary.SEVERITIES


def test_the_ui_reads_its_vocabulary_from_a_module_that_is_neither_storage_nor_service():
    import ast
    from pathlib import Path

    def imported(module: str) -> set[str]:
        tree = ast.parse(Path(f"annotation_app/{module}.py").read_text(encoding="utf-8"))
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        }

    ui = imported("ui")
    assert "annotation_app.vocabulary" in ui
    assert not ui & {"annotation_app.storage", "annotation_app.records"}
    assert not {m for m in imported("vocabulary") if m.startswith("annotation_app")}
    assert not {m for m in imported("presentation") if m in ("annotation_app.storage", "annotation_app.records")}
