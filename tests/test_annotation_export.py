"""Annotation app: DPO/KTO/SFT/raw exports, exclusions, CSV formula neutralisation, loading with datasets."""

import csv
import json

import pytest
from sqlalchemy import text

from annotation_app import export
from annotation_app.config import AppConfig
from annotation_app.service import AnnotationService, VoteInput
from annotation_app.testing import seed_database
from shared.data import load_examples

CORRECTED = "Düzeltilmiş cevap: dekara 1,5 kg, hasattan 21 gün önce son ilaçlama."
INJECTIONS = ['=HYPERLINK("http://x","tıkla")', "+1+1", "-2+3", "@SUM(A1)", "\tsekme", "\rsatır"]


@pytest.fixture
def voted(tmp_path):
    """Five items, one vote each: much better, better (medium flag), tie, both bad, critical-flagged + correction."""
    config = AppConfig(
        db_url=f"sqlite:///{tmp_path / 'app.db'}",
        annotators_per_item=1,
        gold_share=0.0,
        swap_repeat_share=0.0,
        system_prompt="Sen bir ziraat mühendisisin.",
    )
    service = AnnotationService.from_config(config)
    seed_database(service, 5)
    service.add_user("ali", "parola-123")
    service.add_user("yonetici", "parola-123", role="admin")
    plans = [
        dict(choice="a_much_better"),
        dict(choice="b_better", flags={"B": {"wrong_dose_unit": "medium"}}),
        dict(choice="tie", comment=INJECTIONS[0]),
        dict(choice="both_bad"),
        dict(choice="a_better", flags={"A": {"dangerous_practice": "critical"}}, corrections={"B": CORRECTED}),
    ]
    tasks = []
    for plan in plans:
        task = service.next_task("ali")
        service.submit_vote("ali", VoteInput(task.assignment_id, **plan))
        tasks.append(task)
    return service, tasks


def test_dpo_export_excludes_ties_both_bad_and_critical_chosen(voted):
    service, tasks = voted
    rows = service.export_rows("yonetici", "dpo")
    votes = [r for r in rows if r["meta"]["source"] == "annotation_vote"]
    assert [(r["chosen"], r["rejected"], r["strength"]) for r in votes] == [
        (tasks[0].answer_a, tasks[0].answer_b, 2),
        (tasks[1].answer_b, tasks[1].answer_a, 1),
    ]
    (correction,) = [r for r in rows if r["meta"]["source"] == "annotator_correction"]
    assert (correction["chosen"], correction["rejected"], correction["strength"]) == (CORRECTED, tasks[4].answer_b, 2)
    assert all(r["defect"] == "" and r["category"] == "bitki_koruma" for r in rows)


def test_critical_flags_fill_the_defect_and_each_flag_keeps_its_severity(tmp_path):
    """Two flags on one rejected answer: the critical one names the defect (phi_ignored → unsafe_practice), the
    medium one does not; the raw export keeps both with their own severities."""
    config = AppConfig(
        db_url=f"sqlite:///{tmp_path / 'app.db'}", annotators_per_item=1, gold_share=0.0, swap_repeat_share=0.0
    )
    service = AnnotationService.from_config(config)
    seed_database(service, 2)
    service.add_user("ali", "parola-123")
    service.add_user("yonetici", "parola-123", role="admin")
    for flags in ({"phi_ignored": "critical", "wrong_dose_unit": "medium"}, {"wrong_dose_unit": "medium"}):
        task = service.next_task("ali")
        service.submit_vote("ali", VoteInput(task.assignment_id, "a_much_better", flags={"B": flags}))
    by_defect = {r["defect"]: r for r in service.export_rows("yonetici", "dpo")}
    assert set(by_defect) == {"unsafe_practice", ""}
    assert by_defect["unsafe_practice"]["meta"]["critical_safety"] is True
    assert "critical_safety" not in by_defect[""]["meta"]
    kto = sorted((r["label"], r["defect"]) for r in service.export_rows("yonetici", "kto"))
    assert kto == [(False, ""), (False, "unsafe_practice"), (True, ""), (True, "")]
    raw = service.export_rows("yonetici", "raw")
    assert [r["right_flags"] for r in raw] == ["phi_ignored:critical,wrong_dose_unit:medium", "wrong_dose_unit:medium"]
    assert [r["left_flags"] for r in raw] == ["", ""]


def test_critical_defect_prefers_the_most_flagged_defect():
    from tests.test_annotation_qc import record

    votes = [
        record(1, "r1", "a_better", flags=((3, "wrong_dose_unit", "critical"), (3, "phi_ignored", "medium"))),
        record(1, "r2", "a_better", flags=((3, "phi_ignored", "critical"), (3, "dangerous_practice", "critical"))),
    ]
    assert export.critical_defect(votes, 3) == "unsafe_practice"  # 2 × unsafe_practice against 1 × wrong_dose_unit
    assert export.critical_defect(votes[:1], 3) == "wrong_dose_unit"
    assert export.critical_defect(votes, 2) == ""


def test_kto_export_labels(voted):
    service, tasks = voted
    labels = {(r["completion"]): r["label"] for r in service.export_rows("yonetici", "kto")}
    assert labels == {
        tasks[0].answer_a: True,
        tasks[0].answer_b: False,
        tasks[1].answer_b: True,
        tasks[1].answer_a: False,
        tasks[3].answer_a: False,
        tasks[3].answer_b: False,
        tasks[4].answer_a: False,
        tasks[4].answer_b: False,  # critical flag / lost
        CORRECTED: True,
    }


def test_sft_export_from_corrections(voted):
    service, tasks = voted
    (row,) = service.export_rows("yonetici", "sft")
    assert row == {
        "messages": [
            {"role": "system", "content": "Sen bir ziraat mühendisisin."},
            {"role": "user", "content": tasks[4].prompt},
            {"role": "assistant", "content": CORRECTED},
        ],
        "category": "bitki_koruma",
        "source": "annotator_correction",
    }


def test_exports_load_with_datasets_and_the_project_schemas(voted, tmp_path):
    import datasets

    service, _ = voted
    for fmt, schema in (("dpo", "preference"), ("kto", "kto"), ("sft", "sft"), ("raw", None)):
        path, count = export.export(service.sessions, fmt, tmp_path / f"{fmt}.jsonl", service.config.system_prompt)
        loaded = datasets.load_dataset("json", data_files=str(path), split="train")
        assert len(loaded) == count > 0
        if schema:
            assert len(load_examples(path, schema)) == count
    dpo = datasets.load_dataset("json", data_files=str(tmp_path / "dpo.jsonl"), split="train")
    assert {"prompt", "chosen", "rejected", "strength", "defect", "category"} <= set(dpo.column_names)


def test_raw_export_records_display_order_timing_and_choice(voted):
    service, tasks = voted
    rows = service.export_rows("yonetici", "raw")
    assert [r["displayed_choice"] for r in rows] == ["a_much_better", "b_better", "tie", "both_bad", "a_better"]
    first = rows[0]
    assert (first["user"], first["left_answer"], first["right_answer"]) == ("ali", tasks[0].answer_a, tasks[0].answer_b)
    assert first["time_spent_ms"] >= 0 and first["shown_at"] <= first["created_at"]
    swapped = first["left_candidate_id"] != first["candidate_a_id"]
    assert first["choice"] == ("b_much_better" if swapped else "a_much_better")
    corrected = rows[4]  # the correction was written for answer B, shown on the right
    assert (corrected["right_correction"], corrected["left_correction"], corrected["corrections"]) == (CORRECTED, "", 1)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_csv_cells_that_look_like_formulas_are_neutralised(payload, tmp_path):
    path = export.write_rows([{"comment": payload, "n": 3, "safe": "buğday"}], tmp_path / "raw.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the UTF-8 byte-order mark Excel needs for ğ, ş, ı
    with path.open(encoding="utf-8-sig", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["comment"] == "'" + payload and row["safe"] == "buğday" and row["n"] == "3"


def test_export_cli_writes_csv(voted, tmp_path, capsys):
    service, _ = voted
    out = tmp_path / "votes.csv"
    export.main(["--format", "raw", "--out", str(out), "--db", service.config.db_url])
    assert json.loads(capsys.readouterr().out)["rows"] == 5
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert "'" + INJECTIONS[0] in [row["comment"] for row in rows]
    assert CORRECTED in [row["right_correction"] for row in rows]


def test_export_cli_refuses_a_missing_database_and_an_empty_one(tmp_path, capsys):
    out = tmp_path / "dpo.jsonl"
    missing = tmp_path / "yok" / "annotation.db"
    with pytest.raises(SystemExit, match="no annotation database") as exit_info:
        export.main(["--format", "dpo", "--out", str(out), "--db", f"sqlite:///{missing}"])
    assert exit_info.value.code != 0
    assert not missing.exists() and not missing.parent.exists() and not out.exists()

    empty = AnnotationService.from_config(AppConfig(db_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    seed_database(empty, 2)  # candidates, no votes yet (as after `make demo`)
    with pytest.raises(SystemExit) as exit_info:
        export.main(["--format", "dpo", "--out", str(out), "--db", empty.config.db_url])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1 and json.loads(captured.out)["rows"] == 0 and "no votes yet" in captured.err
    export.main(["--format", "dpo", "--out", str(out), "--db", empty.config.db_url, "--allow-empty"])  # the demo
    assert "no votes yet" in capsys.readouterr().err and out.read_text() == ""


def test_export_cli_warns_when_votes_give_no_rows(voted, tmp_path, capsys):
    service, _ = voted
    with service.sessions.begin() as session:
        session.execute(text("DELETE FROM corrections"))
    export.main(["--format", "sft", "--out", str(tmp_path / "sft.jsonl"), "--db", service.config.db_url])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"] == 0 and "none of the 5 votes has corrected answers" in captured.err
