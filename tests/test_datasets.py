"""The project's Turkish datasets: counts, schemas, NFC, HF loadability, eval/train leakage."""

from __future__ import annotations

import importlib.util
import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from shared import taxonomy
from shared.data import leakage

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SUBDOMAINS = set(taxonomy.CATEGORIES)
DEFECTS = set(taxonomy.DEFECTS)
SFT_FILES = ["sft/train.jsonl", "sft/validation.jsonl"]
PREF_FILES = ["preferences/train.jsonl", "preferences/test.jsonl"]
EVAL_FILES = ["eval/mcq.jsonl", "eval/mcq_dev.jsonl", "eval/open_qa.jsonl"]
ALL_FILES = SFT_FILES + PREF_FILES + EVAL_FILES
# Measured with the generator at seed 20240601 (+ 324 hand-written rows): mean 8-gram overlap 0.002,
# max 0.33, exact matches 0. Thresholds leave a ~10x margin on the mean.
MEAN_NGRAM_OVERLAP_MAX = 0.02
MAX_NGRAM_OVERLAP_MAX = 0.75


def read(rel: str) -> list[dict]:
    with (DATA / rel).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _load_module(name: str):
    spec = importlib.util.spec_from_file_location(name, DATA / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("rel", ALL_FILES)
def test_file_is_nfc_utf8_jsonl(rel):
    raw = (DATA / rel).read_bytes()
    text = raw.decode("utf-8")
    assert text == unicodedata.normalize("NFC", text), f"{rel} is not NFC"
    lines = text.splitlines()
    assert lines and all(line.strip() for line in lines)
    for line in lines:
        json.loads(line)


@pytest.mark.parametrize("rel", ALL_FILES)
def test_loadable_with_datasets(rel, tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("json", data_files=str(DATA / rel), split="train", cache_dir=str(tmp_path))
    assert len(ds) == len(read(rel))


def test_sft_counts_and_schema():
    rows = [r for rel in SFT_FILES for r in read(rel)]
    generated = [r for r in rows if r["source"] == "kb_generated"]
    assert len(generated) >= 1900, "generator must produce >= 1900 conversations"
    assert len(rows) >= 2000, (
        f"only {len(rows)} SFT rows; the total (generated + data/handwritten/sft_farmer.jsonl) must be >= 2000"
    )
    val = read("sft/validation.jsonl")
    assert 0.03 <= len(val) / len(rows) <= 0.08
    for r in rows:
        assert set(r) == {"messages", "category", "source"}
        assert r["category"] in SUBDOMAINS
        roles = [m["role"] for m in r["messages"]]
        assert roles[0] == "system" and roles[-1] == "assistant"
        assert "user" in roles and all(m["content"].strip() for m in r["messages"])
    assert set(Counter(r["category"] for r in generated)) == SUBDOMAINS


def test_preferences_counts_and_schema():
    train, test = read("preferences/train.jsonl"), read("preferences/test.jsonl")
    rows = train + test
    assert len(rows) >= 600
    assert 0.10 <= len(test) / len(rows) <= 0.20
    for r in rows:
        assert set(r) == {"prompt", "chosen", "rejected", "strength", "defect", "category"}
        assert r["defect"] in DEFECTS and r["category"] in SUBDOMAINS
        assert r["strength"] in (1, 2)
        assert r["chosen"] != r["rejected"]
    counts = Counter(r["defect"] for r in rows)
    assert set(counts) == DEFECTS
    assert max(counts.values()) <= 1.5 * min(counts.values()), counts
    assert set(r["defect"] for r in test) == DEFECTS, "every defect must appear in the test split"
    severe = {r["defect"] for r in rows if r["strength"] == 2}
    assert severe == {"wrong_dose_unit", "unsafe_practice"}


def _check_mcq(rows):
    for r in rows:
        assert set(r) == {"id", "question", "choices", "answer", "subdomain"}
        assert isinstance(r["choices"], list) and len(r["choices"]) == 5
        assert len(set(r["choices"])) == 5 and all(c.strip() for c in r["choices"])
        assert r["answer"] in "ABCDE" and len(r["answer"]) == 1
        assert r["subdomain"] in SUBDOMAINS


def test_mcq():
    mcq, dev = read("eval/mcq.jsonl"), read("eval/mcq_dev.jsonl")
    assert len(mcq) >= 400
    _check_mcq(mcq)
    _check_mcq(dev)
    letters = Counter(r["answer"] for r in mcq)
    assert set(letters) == set("ABCDE") and max(letters.values()) - min(letters.values()) <= 0.05 * len(mcq)
    assert Counter(r["subdomain"] for r in dev) == {s: 5 for s in SUBDOMAINS}
    ids = [r["id"] for r in mcq + dev]
    assert len(ids) == len(set(ids))
    assert not {r["question"] for r in mcq} & {r["question"] for r in dev}, "mcq_dev must be disjoint from mcq"


def test_open_qa():
    rows = read("eval/open_qa.jsonl")
    assert len(rows) >= 150
    for r in rows:
        assert set(r) == {"id", "question", "reference", "facts", "safety_critical", "subdomain"}
        assert r["subdomain"] in SUBDOMAINS and isinstance(r["safety_critical"], bool)
        assert 2 <= len(r["facts"]) <= 4 and all(f.strip() for f in r["facts"])
        assert len(r["reference"].split()) >= 15
    assert any(r["safety_critical"] for r in rows)
    assert set(r["subdomain"] for r in rows) == SUBDOMAINS


def test_no_eval_train_leakage():
    report = leakage.find_leaks([DATA / f for f in EVAL_FILES], [DATA / f for f in SFT_FILES + PREF_FILES], ngram=8)
    assert report["n_exact"] == 0, report["exact_matches"][:5]
    assert report["mean_overlap"] < MEAN_NGRAM_OVERLAP_MAX, report
    assert report["max_overlap"] < MAX_NGRAM_OVERLAP_MAX, report


def test_leak_detector_catches_normalised_duplicates(tmp_path):
    ev = tmp_path / "eval.jsonl"
    tr = tmp_path / "train.jsonl"
    ev.write_text(
        json.dumps({"id": "x", "question": "İZMİR'de IŞIK ne zaman?"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    tr.write_text(json.dumps({"prompt": "izmirde  ışık ne zaman"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert leakage.find_leaks([ev], [tr])["n_exact"] == 1
    assert leakage.main(["--eval", str(ev), "--train", str(tr)]) == 1


def test_kb_topics():
    yaml = pytest.importorskip("yaml")
    topics = []
    for path in sorted((DATA / "kb").glob("*.yaml")):
        topics += yaml.safe_load(path.read_text(encoding="utf-8"))["topics"]
    assert len(topics) >= 40
    assert {t["subdomain"] for t in topics} == SUBDOMAINS
    assert all(t.get("source_note") for t in topics)


def test_data_card_is_current():
    card = _load_module("data_card")
    text = card.CARD.read_text(encoding="utf-8")
    assert "<!-- fertility:begin -->" in text and "<!-- fertility:end -->" in text
    assert card.render(text, card.stats_markdown()) == text, "run python data/scripts/data_card.py"


def test_generator_reproduces_the_committed_files(tmp_path, capsys):
    """The generator (code + data/templates + data/kb) and the committed files stay in step, byte for byte."""
    generator = _load_module("generate_datasets")
    assert generator.main(["--out-root", str(tmp_path)]) == 0
    for rel in ALL_FILES:
        assert (tmp_path / rel).read_bytes() == (DATA / rel).read_bytes(), (
            f"{rel}: run data/scripts/generate_datasets.py"
        )
