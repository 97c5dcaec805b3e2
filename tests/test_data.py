import json

import datasets
import pytest

from shared.data import (
    CleaningConfig,
    DataError,
    PrepareConfig,
    Rejects,
    balance,
    clean,
    load_examples,
    mix,
    prepare,
    split_rows,
    write_jsonl,
)

GOOD_PREF = {
    "prompt": "Buğday ne zaman ekilir?",
    "chosen": "İç Anadolu'da ekim ayında, dekara 20 kg tohumla.",
    "rejected": "Ne zaman istersen.",
    "strength": 2,
    "defect": "vague",
    "category": "tarla_bitkileri",
}


def jsonl_with_broken_lines(tmp_path):
    lines = [json.dumps(GOOD_PREF, ensure_ascii=False)] * 5
    lines[1] = '{"prompt": "Buğday", "chosen": '  # truncated JSON on line 2
    lines[3] = json.dumps({**GOOD_PREF, "rejected": None}, ensure_ascii=False)  # line 4: missing rejected
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_error_policy_names_file_line_and_field(tmp_path):
    path = jsonl_with_broken_lines(tmp_path)
    with pytest.raises(DataError) as excinfo:
        load_examples(path, "preference")
    assert f"{path}:2:" in str(excinfo.value) and "invalid JSON" in str(excinfo.value)


def test_skip_policy_writes_exactly_the_broken_rows_to_rejects(tmp_path):
    path = jsonl_with_broken_lines(tmp_path)
    rejects = Rejects()
    rows = load_examples(path, "preference", on_invalid="skip", rejects=rejects)
    assert len(rows) == 3
    assert [(r["line"], r["step"]) for r in rejects.rows] == [(2, "validate"), (4, "validate")]
    assert rejects.rows[1]["reason"].startswith("rejected: missing")
    written = rejects.write(tmp_path / "out" / "rejects.jsonl")
    assert len(written.read_text(encoding="utf-8").splitlines()) == 2


def test_skip_without_rejects_collector_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Rejects"):
        load_examples(jsonl_with_broken_lines(tmp_path), "preference", on_invalid="skip")


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"messages": [{"role": "asistan", "content": "x"}]}, "messages[0].role"),
        ({"messages": "merhaba"}, "messages"),
        ({"messages": [{"role": "user", "content": "Soru?"}]}, "messages"),
        (
            {"messages": [{"role": "user", "content": "Soru?"}, {"role": "assistant", "content": 5}]},
            "messages[1].content",
        ),
        (
            {"messages": [{"role": "user", "content": "Soru?"}, {"role": "assistant", "content": " "}]},
            "messages[1].content: empty",
        ),
    ],
)
def test_sft_schema_errors_name_the_field(tmp_path, record, field):
    path = write_jsonl(tmp_path / "sft.jsonl", [record])
    with pytest.raises(DataError, match=rf"sft.jsonl:1: {__import__('re').escape(field)}"):
        load_examples(path, "sft")


def test_rows_are_normalised_on_load(tmp_path):
    record = {"prompt": "TÃ¼rkiye'de  buğday?", "completion": "Ekim\u200b ayında."}
    rows = load_examples(write_jsonl(tmp_path / "pc.jsonl", [record]), "prompt_completion")
    assert rows == [{"prompt": "Türkiye'de buğday?", "completion": "Ekim ayında."}]


def test_csv_with_bom_crlf_and_cp1254(tmp_path):
    utf8 = tmp_path / "export.csv"
    utf8.write_bytes('\ufeffprompt,completion\r\n"Soru, virgüllü","Cevap\r\nçok satırlı"\r\nİkinci,Yanıt\r\n'.encode())
    rows = load_examples(utf8, "prompt_completion", keep_origin=True)
    assert rows[0]["prompt"] == "Soru, virgüllü" and rows[0]["completion"] == "Cevap\nçok satırlı"
    assert [r["_origin"]["line"] for r in rows] == [2, 4]
    cp1254 = tmp_path / "tr.csv"
    cp1254.write_bytes("prompt,completion\nŞeker pancarı ığdır,İyi\n".encode("cp1254"))
    assert load_examples(cp1254, "prompt_completion")[0]["prompt"] == "Şeker pancarı ığdır"


def test_unknown_file_and_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_examples(tmp_path / "yok.jsonl", "sft")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match="unsupported"):
        load_examples(tmp_path / "a.txt", "sft")


def test_hub_loader_path_reads_a_local_dataset_directory(tmp_path):
    # Hub ids go through datasets.load_dataset; a saved local dataset exercises the same call offline.
    folder = tmp_path / "hub_like"
    datasets.Dataset.from_list([GOOD_PREF]).to_json(str(folder / "train.jsonl"))
    rows = load_examples(f"{folder}:train", "preference")
    assert rows[0]["chosen"] == GOOD_PREF["chosen"]


def pc(text, category="sebze"):
    return {"prompt": "Domates nasıl sulanır?", "completion": text, "category": category}


BASE = (
    "Domates fideleri dikimden sonra can suyu ile sulanır ve ilk haftalarda toprak nemli tutulur; damla sulama "
    "ile suyu kök bölgesine vermek yaprak hastalıklarını azaltır, meyve tutumunda su eksikliği çatlamaya yol açar."
)


def test_clean_removes_and_records_duplicates_near_duplicates_short_and_foreign_rows():
    rows = [
        pc(BASE),
        pc(BASE),  # exact duplicate
        pc(BASE.replace("ilk haftalarda", "ilk haftada")),  # near duplicate
        pc("Kısa."),  # too short
        pc("Tomatoes need regular watering with drip irrigation, and the soil should be kept moist at all times."),
        pc("Buğday tarlasında yabancı ot mücadelesi kardeşlenme döneminde yapılır ve etiket dozuna uyulur."),
    ]
    rejects = Rejects()
    kept, steps = clean(rows, CleaningConfig(min_chars=40, near_dedup_threshold=0.7), rejects)
    assert len(kept) == 2
    assert {s.step: s.removed for s in steps} == {"length": 1, "exact_dedup": 1, "near_dedup": 1, "language": 1}
    assert sorted(r["step"] for r in rejects.rows) == ["exact_dedup", "language", "length", "near_dedup"]


def test_balance_cap_and_upsample_are_seeded():
    rows = [{"category": "sebze", "i": i} for i in range(10)] + [{"category": "meyve_bag", "i": i} for i in range(2)]
    capped, table = balance(rows, "category", cap=3, seed=1)
    assert table == {"meyve_bag": (2, 2), "sebze": (10, 3)}
    assert len(capped) == 5 and capped == balance(rows, "category", cap=3, seed=1)[0]
    upsampled, table = balance(rows, "category", target={"sebze": 1, "meyve_bag": 1}, total=12, seed=1)
    assert table == {"meyve_bag": (2, 6), "sebze": (10, 6)}
    assert sum(r["category"] == "meyve_bag" for r in upsampled) == 6


def test_split_is_deterministic_and_disjoint():
    rows = [{"i": i} for i in range(100)]
    train, val = split_rows(rows, 0.1, seed=3)
    assert len(val) == 10 and len(train) == 90
    assert {r["i"] for r in train}.isdisjoint({r["i"] for r in val})
    assert split_rows(rows, 0.1, seed=3) == (train, val)
    assert split_rows(rows, 0.1, seed=4)[1] != val


def test_mixture_follows_weights():
    a, b = [{"s": "a"}] * 50, [{"s": "b"}] * 10
    mixed = mix([(a, 1.0), (b, 3.0)], total=40, seed=0)
    assert sum(r["s"] == "a" for r in mixed) == 10 and sum(r["s"] == "b" for r in mixed) == 30


def test_prepare_writes_splits_rejects_and_report_loadable_by_datasets(tmp_path):
    def convo(question: str, answer: str, category: str) -> dict:
        messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        return {"messages": messages, "category": category, "source": "test"}

    rows = [
        convo(
            f"Soru {i}: buğday hangi ayda ekilir ve kaç kilo tohum atılır?",
            f"Cevap {i}: İç Anadolu'da buğday ekim ayında ekilir, dekara yirmi kilo tohum atılır ve toprak "
            f"tavında olmalıdır. Örnek numarası {i} için ayrıntı {i * 7}.",
            "tarla_bitkileri" if i % 3 else "sebze",
        )
        for i in range(30)
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    with src.open("a", encoding="utf-8") as handle:
        handle.write("{broken\n")
    config_path = tmp_path / "prep.yaml"
    config_path.write_text(
        f"inputs: [{src}]\nschema: sft\noutput_dir: {tmp_path / 'out'}\nvalidation_fraction: 0.2\n"
        "balance_column: category\nbalance_cap: 12\ncleaning:\n  near_dedup_threshold: null\n",
        encoding="utf-8",
    )
    report = prepare(PrepareConfig.from_yaml(config_path))
    assert report["invalid_rows"] == 1 and report["train"] + report["validation"] == 22
    out = tmp_path / "out"
    loaded = datasets.load_dataset("json", data_files={"train": str(out / "train.jsonl")})["train"]
    assert loaded.num_rows == report["train"] and "messages" in loaded.column_names
    assert json.loads((out / "rejects.jsonl").read_text().splitlines()[0])["line"] == 31
    assert "| validate |" in (out / "report.md").read_text()


def test_prepare_config_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("inputs: []\nschema: sft\noutput_dir: x\ncleaning:\n  min_char: 3\n")
    with pytest.raises(DataError, match="cleaning.min_char"):
        PrepareConfig.from_yaml(path)


def test_token_length_filter_uses_the_model_tokenizer(tmp_path, tiny_model_dir):
    long_answer = "Buğday tarlasında toprak işleme ve gübreleme zamanı önemlidir. " * 30
    rows = [
        {"prompt": "Kısa soru ve cevap hakkında bilgi?", "completion": "Ekim ayında ekilir ve dekara yirmi kilo."},
        {"prompt": "Uzun soru?", "completion": long_answer},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    config_path = tmp_path / "prep.yaml"
    config_path.write_text(
        f"inputs: [{src}]\nschema: prompt_completion\noutput_dir: {tmp_path / 'out'}\n"
        f"validation_fraction: 0.0\ntokenizer: {tiny_model_dir}\n"
        "cleaning:\n  max_tokens: 100\n  near_dedup_threshold: null\n",
        encoding="utf-8",
    )
    report = prepare(PrepareConfig.from_yaml(config_path))
    assert report["steps"][0] == {"step": "length", "before": 2, "removed": 1, "after": 1}
    rejected = json.loads((tmp_path / "out" / "rejects.jsonl").read_text(encoding="utf-8"))
    assert "tokens > max_tokens 100" in rejected["reason"]
