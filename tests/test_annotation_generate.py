"""Annotation app: candidate generation CLI on the tiny model, idempotent on re-run."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from annotation_app import generate
from annotation_app.storage import Candidate, Item, open_database
from annotation_app.testing import OFFLINE_ENV, REPO_ROOT, prompt_row

pytestmark = pytest.mark.slow


def test_generate_cli_is_idempotent(tiny_model_dir, tmp_path, monkeypatch):
    second_model = tmp_path / "tiny-llama-b"
    shutil.copytree(tiny_model_dir, second_model)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps(prompt_row(k), ensure_ascii=False) + "\n" for k in range(3)), encoding="utf-8"
    )
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        json.dumps({**prompt_row(99), "gold_answer": "Doğru.", "rejected_answer": "Yanlış."}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    db = f"sqlite:///{tmp_path / 'app.db'}"
    args = [
        "--model",
        str(tiny_model_dir),
        "--model",
        str(second_model),
        "--prompts",
        str(prompts),
        "--gold",
        str(gold),
        "--n",
        "2",
        "--max-new-tokens",
        "6",
        "--batch-size",
        "2",
        "--db",
        db,
    ]
    first = subprocess.run(
        [sys.executable, "-m", "annotation_app.generate", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["generated"] == {tiny_model_dir.name: 6, "tiny-llama-b": 6}
    assert summary["gold_items"] == 1 and summary["new_items"] == 3

    sessions = open_database(db)
    with sessions() as session:
        candidates = session.scalars(select(Candidate).where(Candidate.model_name == "tiny-llama-b")).all()
        assert sorted({c.sample_index for c in candidates}) == [0, 1]
        assert all(c.decoding["max_new_tokens"] == 6 and c.generation_seconds > 0 for c in candidates)
        assert {c.decoding["seed"] for c in candidates} == {0, 1}
        counts = (session.scalar(select(func.count(Candidate.id))), session.scalar(select(func.count(Item.id))))

    def no_model_loading(path):
        raise AssertionError("a re-run with nothing to do must not load a model")

    monkeypatch.setattr(generate, "_load", no_model_loading)
    generate.main(args)
    with sessions() as session:
        assert (session.scalar(select(func.count(Candidate.id))), session.scalar(select(func.count(Item.id)))) == counts
