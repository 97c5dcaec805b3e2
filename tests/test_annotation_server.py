"""Annotation app end to end: a real server in a subprocess, driven with gradio_client."""

import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from gradio_client.exceptions import AppError
from sqlalchemy import func, select

from annotation_app.config import AppConfig
from annotation_app.content import add_candidate, upsert_prompt
from annotation_app.service import AnnotationService
from annotation_app.storage import Annotator, Assignment, Item, Vote
from annotation_app.testing import login, seed_database, start_server, stop_server, submit_vote_args

pytestmark = pytest.mark.slow

PASSWORD = "parola-123"
XSS = "<img src=x onerror=alert(1)><script>alert(1)</script>"
N_CONCURRENT = 20
NOTICE, ERROR = 6, 7  # outputs: assignment, question, meta, answer A, answer B, progress, notice, error, take-task


def status(outputs) -> str:
    """ "saved" / "already saved" from a submit's notice, or the refusal shown next to the button."""
    if outputs[ERROR]:
        return outputs[ERROR]
    return "already saved" if "zaten kaydedilmişti" in outputs[NOTICE] else "saved"


def make_config(db_path) -> AppConfig:
    return AppConfig(db_url=f"sqlite:///{db_path}", annotators_per_item=2, gold_share=0.0, swap_repeat_share=0.0)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("annotation_server")
    config = make_config(workdir / "app.db")
    service = AnnotationService.from_config(config)
    seed_database(service, 150)
    for name in ("ali", "veli", "xss", *(f"etiketci{k:02d}" for k in range(N_CONCURRENT))):
        service.add_user(name, PASSWORD)
    service.add_user("yonetici", PASSWORD, role="admin")
    process, url = start_server(config, workdir)
    yield url, service
    stop_server(process)


def test_login_fetch_vote_and_export(server):
    url, service = server
    with pytest.raises(ValueError):
        login(url, "ali", "yanlis-parola")
    ali = login(url, "ali", PASSWORD)
    assignment_id, prompt, meta, answer_a, answer_b, progress, *_ = ali.predict(api_name="/next_task")
    assert "soru" in prompt and "Ürün:" in meta and answer_a and answer_b and "/" in progress
    after = ali.predict(
        *submit_vote_args(assignment_id, "a_much_better", comment="Güzel cevap"), api_name="/submit_vote"
    )
    assert status(after) == "saved" and "Oyunuz kaydedildi" in after[NOTICE] and after[0] != assignment_id
    again = ali.predict(*submit_vote_args(assignment_id, "b_better"), api_name="/submit_vote")
    assert status(again) == "already saved"
    with service.sessions() as session:
        vote = session.scalar(select(Vote).where(Vote.assignment_id == assignment_id))
        assert vote.comment == "Güzel cevap" and len(vote.ratings) == 8 and len(vote.corrections) == 1
        assert vote.assignment.annotator.username == "ali"

    admin = login(url, "yonetici", PASSWORD)
    annotators, agreement, *_ = admin.predict(api_name="/admin_report")
    assert annotators["headers"][:2] == ["Etiketleyici", "Oy"] and "ali" in [row[0] for row in annotators["data"]]
    assert [row[0] for row in agreement["data"]][0] == "Fleiss kappa"
    sft_file = admin.predict("sft", False, api_name="/export")
    with open(sft_file, encoding="utf-8") as handle:
        assert "Düzeltilmiş cevap." in handle.read()


def test_annotator_cannot_reach_admin_endpoints_or_others_assignments(server):
    url, service = server
    ali, veli = login(url, "ali", PASSWORD), login(url, "veli", PASSWORD)
    for args, endpoint in (((), "/admin_report"), (("dpo", False), "/export"), (("raw", True), "/export")):
        with pytest.raises(AppError, match="Yetkiniz yok"):
            ali.predict(*args, api_name=endpoint)
    veli_task = veli.predict(api_name="/next_task")[0]
    with pytest.raises(AppError, match="size ait değil"):
        ali.predict(*submit_vote_args(veli_task), api_name="/submit_vote")
    with pytest.raises(AppError, match="size ait değil"):
        ali.predict(veli_task, api_name="/skip")
    with service.sessions() as session:
        assignment = session.get(Assignment, veli_task)
        assert assignment.status == "pending" and assignment.vote is None


def test_xss_payload_comes_back_as_text(server):
    url, service = server
    with service.sessions.begin() as session:
        prompt = upsert_prompt(session, {"id": "xss", "prompt": f"Soru {XSS}", "crop": XSS})
        first, second = (
            add_candidate(session, prompt, model_name=m, checkpoint="", sample_index=0, text=f"{m}: {XSS}")
            for m in ("model_x", "model_y")
        )
        item = Item(prompt_id=prompt.id, candidate_a_id=first.id, candidate_b_id=second.id)
        session.add(item)
        session.flush()
        xss_user = session.scalar(select(Annotator).where(Annotator.username == "xss"))
        session.add(Assignment(item=item, annotator=xss_user, left_candidate_id=first.id, right_candidate_id=second.id))
    client = login(url, "xss", PASSWORD)
    _, prompt_md, meta, answer_a, answer_b, *_ = client.predict(api_name="/next_task")
    for shown in (prompt_md, meta, answer_a, answer_b):
        assert "<script>" not in shown and "<img" not in shown
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown


def test_oversized_inputs_are_refused_with_a_message(server):
    url, service = server
    client = login(url, "veli", PASSWORD)
    task = client.predict(api_name="/next_task")[0]
    refusals = [
        client.predict(*submit_vote_args(task, **wrong), api_name="/submit_vote")
        for wrong in ({"comment": "ç" * 2001}, {"correction": "x" * 8001}, {"choice": None})
    ]
    assert "Yorum çok uzun: 2001 karakter (en fazla 2000)" in status(refusals[0])
    assert "düzeltilmiş cevap çok uzun: 8001 karakter" in status(refusals[1])
    assert "Lütfen bir tercih seçin" in status(refusals[2])
    with service.sessions() as session:
        assert session.get(Assignment, task).vote is None
    assert client.predict(*submit_vote_args(task), api_name="/submit_vote")[0] != task  # then a good one goes in


def _annotate(url: str, username: str, votes: int) -> list[tuple[int, str]]:
    """Log in, vote `votes` times, double-submitting the first task concurrently; returns (assignment, status)."""
    client = login(url, username, PASSWORD)
    task = client.predict(api_name="/next_task")[0]
    twins = [client.submit(*submit_vote_args(task), api_name="/submit_vote") for _ in range(2)]
    results = [(task, status(job.result())) for job in twins]
    task = client.predict(api_name="/next_task")[0]
    for _ in range(votes - 1):
        outputs = client.predict(*submit_vote_args(task, "b_better"), api_name="/submit_vote")
        results.append((task, status(outputs)))
        task = outputs[0]
    return results


def test_twenty_concurrent_annotators_store_every_vote_exactly_once(server):
    url, service = server
    users = [f"etiketci{k:02d}" for k in range(N_CONCURRENT)]
    with ThreadPoolExecutor(N_CONCURRENT) as pool:
        outcomes = list(pool.map(lambda user: _annotate(url, user, votes=4), users))
    for user_results in outcomes:
        statuses = [status for _, status in user_results]
        assert sorted(statuses[:2]) == ["already saved", "saved"]
        assert statuses[2:] == ["saved"] * 3
    submitted = {assignment for user_results in outcomes for assignment, _ in user_results}
    assert len(submitted) == 4 * N_CONCURRENT
    with service.sessions() as session:
        stored = session.scalars(select(Vote.assignment_id).where(Vote.assignment_id.in_(submitted))).all()
        assert sorted(stored) == sorted(submitted)
        per_item = session.execute(
            select(Assignment.item_id, func.count(Assignment.id)).group_by(Assignment.item_id)
        ).all()
        assert max(count for _, count in per_item) <= 2


def _keep_voting(url: str, username: str, stop: threading.Event) -> None:
    try:
        client = login(url, username, PASSWORD)
        task = client.predict(api_name="/next_task")[0]
        while not stop.is_set() and task is not None:
            task = client.predict(*submit_vote_args(task), api_name="/submit_vote")[0]
    except Exception:  # the server is killed under it
        return


def test_database_survives_sigkill_mid_session(tmp_path):
    config = make_config(tmp_path / "app.db")
    service = AnnotationService.from_config(config)
    seed_database(service, 200)
    users = [f"u{k}" for k in range(4)]
    for user in users:
        service.add_user(user, PASSWORD)
    process, url = start_server(config, tmp_path)
    stop = threading.Event()
    threads = [threading.Thread(target=_keep_voting, args=(url, user, stop)) for user in users]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill once votes are flowing
        with service.sessions() as session:
            if session.scalar(select(func.count(Vote.id))) >= 8:
                break
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    with sqlite3.connect(tmp_path / "app.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        votes = db.execute(
            "SELECT v.id, a.status, (SELECT count(*) FROM ratings r WHERE r.vote_id = v.id), "
            "(SELECT count(*) FROM flags f WHERE f.vote_id = v.id), "
            "(SELECT count(*) FROM corrections c WHERE c.vote_id = v.id) "
            "FROM votes v JOIN assignments a ON a.id = v.assignment_id"
        ).fetchall()
        done_without_vote = db.execute(
            "SELECT count(*) FROM assignments a WHERE a.status = 'done' AND NOT EXISTS "
            "(SELECT 1 FROM votes v WHERE v.assignment_id = a.id)"
        ).fetchone()[0]
    assert len(votes) >= 8
    assert all(row[1:] == ("done", 8, 1, 1) for row in votes), "a vote was stored partially"
    assert done_without_vote == 0

    process, url = start_server(config, tmp_path)  # and the app starts again on the same file
    try:
        client = login(url, users[0], PASSWORD)
        task = client.predict(api_name="/next_task")[0]
        assert status(client.predict(*submit_vote_args(task), api_name="/submit_vote")) == "saved"
    finally:
        stop_server(process)
