"""Hostile inputs the loaders meet in practice: Turkish-Excel CSV (`;`), rows with a field too many, one
Windows-1254 line in a UTF-8 file, the app's own CSV exports, odd paths, empty files. Each either loads exactly
or fails with `file:line: reason` (or, with `on_invalid: skip`, lands in rejects with its text)."""

import json

import pytest

from annotation_app import export
from annotation_app.config import AppConfig
from annotation_app.service import AnnotationService, VoteInput
from annotation_app.testing import seed_database
from shared.data import DataError, Rejects, load_examples, read_rows
from shared.data.prepare import main as data_main

PAIRS = [
    ("Buğday ne zaman ekilir?", "Ekim ayında, dekara 20 kg tohumla."),
    ("Domateste çiçek dökümü neden olur?", "Aşırı sıcak; sulamayı düzenleyin."),
]


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


# 1. CSV: delimiter and field counts


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_csv_delimiter_is_read_from_the_header(tmp_path, delimiter):
    lines = [f"prompt{delimiter}completion"] + [f'"{p}"{delimiter}"{c}"' for p, c in PAIRS]
    path = write(tmp_path / "excel.csv", "\r\n".join(lines) + "\r\n")
    rows = load_examples(path, "prompt_completion")
    assert [(r["prompt"], r["completion"]) for r in rows] == PAIRS


def test_csv_delimiter_can_be_given(tmp_path):
    # One column whose text has commas: detection would see one column either way; the delimiter is explicit.
    path = write(tmp_path / "one.csv", "prompt;id\nBuğday, arpa ve yulaf ne zaman ekilir?;1\n")
    assert load_examples(path, "annotation_prompt", delimiter=";")[0]["prompt"].startswith("Buğday, arpa")


def test_csv_row_with_more_fields_than_the_header_is_refused_with_its_line(tmp_path):
    # Before: DictReader kept the answer up to the first comma and dropped the rest silently.
    path = write(
        tmp_path / "prefs.csv",
        "prompt,completion\nBuğday ne zaman ekilir?,Ekim ayında\nMısır?,Nisanda, toprak 10 °C olunca\n",
    )
    with pytest.raises(DataError, match=r"prefs.csv:3: 3 fields where the header has 2"):
        load_examples(path, "prompt_completion")
    rejects = Rejects()
    rows = load_examples(path, "prompt_completion", on_invalid="skip", rejects=rejects)
    assert len(rows) == 1 and [r["line"] for r in rejects.rows] == [3]
    assert rejects.rows[0]["raw"] == "Mısır?,Nisanda, toprak 10 °C olunca"


def test_csv_row_with_fewer_fields_and_a_semicolon_file_read_as_commas(tmp_path):
    path = write(tmp_path / "short.csv", "prompt,completion\nSadece soru\n")
    with pytest.raises(DataError, match=r"short.csv:2: 1 fields where the header has 2"):
        load_examples(path, "prompt_completion")
    semicolons = write(tmp_path / "tr.csv", "prompt;completion\nSoru?;Cevap, virgüllü.\n")
    with pytest.raises(DataError, match=r"tr.csv:2: 2 fields where the header has 1"):
        load_examples(semicolons, "prompt_completion", delimiter=",")


def test_csv_broken_quoting_is_a_line_error_not_a_changed_value(tmp_path):
    path = write(tmp_path / "q.csv", 'prompt,completion\n"Soru"x,Cevap\n')
    with pytest.raises(DataError, match=r"q.csv:2: unreadable CSV"):
        load_examples(path, "prompt_completion")


# 3. Encodings, line by line


def test_one_windows_1254_line_in_a_utf8_file_is_named(tmp_path):
    # Before: a raw UnicodeDecodeError naming neither file nor line.
    good = "".join(json.dumps({"prompt": p, "completion": c}, ensure_ascii=False) + "\n" for p, c in PAIRS)
    bad = json.dumps({"prompt": "Şeker pancarı?", "completion": "Ğ harfi"}, ensure_ascii=False) + "\n"
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(good.encode() + bad.encode("cp1254"))
    with pytest.raises(DataError, match=r"mixed.jsonl:3: not UTF-8 \(looks like Windows-1254\?"):
        load_examples(path, "prompt_completion")
    rejects = Rejects()
    assert len(load_examples(path, "prompt_completion", on_invalid="skip", rejects=rejects)) == 2
    assert rejects.rows[0]["line"] == 3 and "\\xde" in rejects.rows[0]["raw"]  # Ş kept visible as its byte


def test_csv_with_one_windows_1254_line_and_a_wholly_windows_1254_csv(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes("prompt;completion\nÇiçek?;Ölçülü sulama.\n".encode() + "Şeker?;Ğübre\n".encode("cp1254"))
    with pytest.raises(DataError, match=r"mixed.csv:3: not UTF-8 \(looks like Windows-1254\?"):
        load_examples(path, "prompt_completion")
    # A file with no valid UTF-8 non-ASCII line at all is a legacy Turkish export: read as Windows-1254.
    legacy = write(tmp_path / "legacy.csv", "prompt;completion\nŞeker?;Ğübre\nIğdır?;İyi\n", "cp1254")
    assert [r["prompt"] for r in load_examples(legacy, "prompt_completion")] == ["Şeker?", "Iğdır?"]


def test_bytes_neither_utf8_nor_windows_1254_are_a_line_error(tmp_path):
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b'{"prompt": "a\x81b", "completion": "c"}\n')  # 0x81 is undefined in Windows-1254
    with pytest.raises(DataError, match=r"junk.jsonl:1: neither UTF-8 nor Windows-1254"):
        load_examples(path, "prompt_completion")


def test_jsonl_lines_end_only_at_line_feeds(tmp_path):
    # A JSON string may hold U+2028 / U+0085 unescaped; str.splitlines() cut such a row in two.
    record = {"prompt": "Soru\u2028devamı?", "completion": "Cevap\x85."}
    path = write(tmp_path / "ls.jsonl", json.dumps(record, ensure_ascii=False) + "\r\n")
    assert [row.data for row in read_rows(path)] == [record]


# 4. The app's CSV exports read back as its JSONL exports


@pytest.fixture
def voted_service(tmp_path):
    config = AppConfig(
        db_url=f"sqlite:///{tmp_path / 'app.db'}", annotators_per_item=1, gold_share=0.0, swap_repeat_share=0.0
    )
    service = AnnotationService.from_config(config)
    seed_database(service, 4)
    service.add_user("ayse", "parola-123")
    plans = [
        dict(choice="a_much_better"),
        dict(choice="b_better"),
        dict(choice="both_bad"),
        # an answer that starts like a formula ("- ", "=") gets the export's quote guard in CSV
        dict(choice="a_better", corrections={"B": "- Dekara 2 kg; =sabah sulayın, akşam değil."}),
    ]
    for plan in plans:
        task = service.next_task("ayse")
        service.submit_vote("ayse", VoteInput(task.assignment_id, **plan))
    return service


@pytest.mark.parametrize(("fmt", "schema"), [("dpo", "preference"), ("kto", "kto"), ("sft", "sft")])
def test_app_csv_exports_round_trip_through_the_loaders(voted_service, tmp_path, fmt, schema):
    # Before: every CSV cell is text, and the loaders refused strength '1', label 'False', messages '[...]'.
    jsonl, count = export.export(voted_service.sessions, fmt, tmp_path / f"{fmt}.jsonl", "Sistem.")
    csv_path, _ = export.export(voted_service.sessions, fmt, tmp_path / f"{fmt}.csv", "Sistem.")
    assert count >= 1
    assert [r.data for r in read_rows(csv_path)] == [r.data for r in read_rows(jsonl)]
    assert load_examples(csv_path, schema) == load_examples(jsonl, schema)
    if fmt == "kto":
        assert {r["label"] for r in load_examples(csv_path, schema)} == {True, False}


def test_csv_typed_cells_are_parsed_and_bad_ones_named(tmp_path):
    path = write(
        tmp_path / "p.csv",
        "prompt,chosen,rejected,strength,meta\n"
        'Soru?,İyi.,Kötü.,2,"{""source"": ""tablo""}"\n'
        "Soru?,İyi.,Kötü.,,\n"
        "Soru?,İyi.,Kötü.,çok,\n",
    )
    rejects = Rejects()
    rows = load_examples(path, "preference", on_invalid="skip", rejects=rejects)
    assert [(r["strength"], r["meta"]) for r in rows] == [(2, {"source": "tablo"}), (1, {})]  # empty → default
    assert rejects.rows[0]["line"] == 4 and rejects.rows[0]["reason"].startswith("strength:")


# 8. Paths, suffixes, empty files, field names in reasons


def test_paths_folders_suffixes_and_hub_ids(tmp_path):
    with pytest.raises(DataError, match="not found"):
        list(read_rows(tmp_path / "no_suffix_here"))  # before: handed to the Hub loader, ended in a traceback
    (tmp_path / "x.jsonl").mkdir()
    with pytest.raises(DataError, match="x.jsonl: is a folder"):
        list(read_rows(tmp_path / "x.jsonl"))
    upper = write(tmp_path / "UPPER.JSONL", json.dumps({"prompt": "a", "completion": "b"}) + "\n")
    assert load_examples(upper, "prompt_completion") == [{"prompt": "a", "completion": "b"}]
    with pytest.raises(DataError, match=r"^tarim/olmayan-veri: not a local file; loading it as a Hugging Face dataset"):
        list(read_rows("tarim/olmayan-veri"))  # offline: one line, not the Hub client's traceback


@pytest.mark.parametrize("content", [b"", b"\n\r\n  \n"])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json"])
def test_empty_or_blank_files_fail_validate_and_prepare(tmp_path, capsys, content, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(content)
    assert data_main(["validate", str(path), "--schema", "sft"]) == 1
    assert "the file is empty" in capsys.readouterr().err
    config = tmp_path / "prep.yaml"
    config.write_text(f"inputs: [{path}]\nschema: sft\noutput_dir: {tmp_path / 'out'}\n", encoding="utf-8")
    assert data_main(["prepare", "--config", str(config)]) == 1


def test_header_only_csv_fails_validate_and_prepare_with_zero_usable_rows(tmp_path, capsys):
    path = write(tmp_path / "header.csv", "prompt,completion\n")
    assert data_main(["validate", str(path), "--schema", "prompt_completion"]) == 1
    assert "no rows" in capsys.readouterr().err
    bad = write(tmp_path / "bad.jsonl", '{"prompt": "", "completion": "x"}\n')
    config = tmp_path / "prep.yaml"
    config.write_text(f"inputs: [{bad}]\nschema: prompt_completion\noutput_dir: {tmp_path / 'out'}\n", encoding="utf-8")
    assert data_main(["prepare", "--config", str(config)]) == 1
    message = capsys.readouterr().err
    assert "0 usable prompt_completion rows" in message and "1 at validate" in message
    assert (tmp_path / "out" / "rejects.jsonl").is_file()  # the reason is kept
