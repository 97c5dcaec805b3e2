"""Loaders on real-world-shaped files (tests/fixtures/README.md documents what each file holds)."""

import pytest

from shared.data import CleaningConfig, DataError, Rejects, clean, load_examples
from tests.conftest import FIXTURES


def test_spreadsheet_csv_with_bom_crlf_mojibake_and_zero_width_characters():
    rows = load_examples(FIXTURES / "excel_export.csv", "prompt_completion", keep_origin=True)
    assert len(rows) == 12
    assert rows[3]["prompt"] == "Türkiye'de şeker pancarı hangi bölgelerde yetişir?"
    assert rows[5]["prompt"] == "Buğdaya üre ne zaman atılır?"
    assert rows[6]["prompt"] == "Mısır tarlasında damla sulama işe yarar mı?"
    assert rows[6]["completion"] == "Evet, mısırda damla sulama karık sulamaya göre %30–50 su tasarrufu sağlar."
    assert "\n" in rows[2]["completion"] and "," in rows[2]["completion"]
    assert rows[0]["_origin"]["line"] == 2  # line numbers are file lines (header is line 1)


def test_windows_1254_csv_is_read_as_turkish():
    rows = load_examples(FIXTURES / "excel_export_cp1254.csv", "prompt_completion")
    assert len(rows) == 6
    assert rows[2]["prompt"] == "Iğdır'da kayısı ne zaman çiçek açar?" and rows[3]["prompt"].startswith("İnek")


def test_broken_preferences_error_names_first_broken_line():
    with pytest.raises(DataError, match=r"broken_preferences.jsonl:3: invalid JSON"):
        load_examples(FIXTURES / "broken_preferences.jsonl", "preference")


def test_broken_preferences_skip_policy_rejects_exactly_the_broken_lines(tmp_path):
    rejects = Rejects()
    rows = load_examples(FIXTURES / "broken_preferences.jsonl", "preference", on_invalid="skip", rejects=rejects)
    assert len(rows) == 7
    assert [r["line"] for r in rejects.rows] == [3, 6, 9]
    assert [r["reason"].split(" ")[0] for r in rejects.rows] == ["invalid", "rejected:", "chosen:"]
    broken_line = (FIXTURES / "broken_preferences.jsonl").read_text(encoding="utf-8").splitlines()[2]
    assert rejects.rows[0]["row"] is None and rejects.rows[0]["raw"] == broken_line  # the text, to fix by hand
    path = rejects.write(tmp_path / "rejects.jsonl")
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


def test_broken_sft_rows_are_reported_with_field():
    rejects = Rejects()
    rows = load_examples(FIXTURES / "broken_sft.jsonl", "sft", on_invalid="skip", rejects=rejects)
    assert len(rows) == 5
    reasons = {r["line"]: r["reason"] for r in rejects.rows}
    assert set(reasons) == {2, 5, 7}
    assert "role" in reasons[2] and "list" in reasons[5] and "no assistant turn" in reasons[7]


def test_dedup_and_near_dedup_on_fixture():
    rows = load_examples(FIXTURES / "near_duplicates.jsonl", "prompt_completion")
    rejects = Rejects()
    exact_only, _ = clean(rows, CleaningConfig(near_dedup_threshold=None, turkish_threshold=None), rejects)
    assert len(exact_only) == 10
    both, steps = clean(rows, CleaningConfig(near_dedup_threshold=0.7, turkish_threshold=None), Rejects())
    assert len(both) == 8 and {s.step: s.removed for s in steps}["near_dedup"] == 2


def test_language_filter_on_fixture():
    rows = load_examples(FIXTURES / "mixed_language.jsonl", "prompt_completion", keep_origin=True)
    rejects = Rejects()
    kept, _ = clean(rows, CleaningConfig(dedup=False, near_dedup_threshold=None), rejects)
    assert len(kept) == 7
    assert sorted(r["line"] for r in rejects.rows) == [3, 6, 9]
