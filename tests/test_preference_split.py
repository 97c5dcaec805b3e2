"""The proxy/gold split of the preference pairs: no shared prompt, deterministic, complete, rows unchanged."""

import json
from collections import Counter

import pytest

from shared.data import DataError, turkish_key
from shared.data.preference_split import split_preferences
from shared.data.prepare import main
from tests.conftest import REPO_ROOT

TRAIN = REPO_ROOT / "data/preferences/train.jsonl"


def source_lines(path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line.strip()]


def test_split_of_the_project_pairs_is_disjoint_complete_balanced_and_byte_exact(tmp_path):
    report = split_preferences(TRAIN, tmp_path, fraction=0.5, seed=42)
    source = source_lines(TRAIN)
    proxy, gold = source_lines(tmp_path / "proxy.jsonl"), source_lines(tmp_path / "gold.jsonl")
    assert len(proxy) + len(gold) == len(source) == report["rows"]
    assert sorted(proxy + gold) == sorted(source)  # every row once, byte for byte
    assert [line for line in source if line in set(proxy)] == proxy  # in source order
    prompts = [{turkish_key(json.loads(line)["prompt"]) for line in lines} for lines in (proxy, gold)]
    assert not prompts[0] & prompts[1] and report["shared_prompts"] == 0
    defects = [Counter(json.loads(line)["defect"] for line in lines) for lines in (proxy, gold)]
    for defect in defects[0] | defects[1]:  # stratified: each defect split within one row of half
        assert abs(defects[0][defect] - defects[1][defect]) <= 1, defect
        assert report["per_defect"][defect] == {"proxy": defects[0][defect], "gold": defects[1][defect]}
    assert abs(len(proxy) - len(gold)) <= 1
    assert "in both: 0" in (tmp_path / "split_report.md").read_text(encoding="utf-8")


def test_split_is_deterministic_and_the_seed_and_fraction_matter(tmp_path):
    first = split_preferences(TRAIN, tmp_path / "a", seed=42)
    split_preferences(TRAIN, tmp_path / "b", seed=42)
    for name in ("proxy.jsonl", "gold.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    split_preferences(TRAIN, tmp_path / "c", seed=7)
    assert (tmp_path / "c" / "proxy.jsonl").read_bytes() != (tmp_path / "a" / "proxy.jsonl").read_bytes()
    quarter = split_preferences(TRAIN, tmp_path / "d", fraction=0.25, seed=42)
    assert quarter["proxy_rows"] == pytest.approx(0.25 * first["rows"], abs=len(first["per_defect"]))


def pair(prompt: str, defect: str, tag: str) -> dict:
    return {"prompt": prompt, "chosen": f"İyi yanıt {tag}.", "rejected": f"Kötü yanıt {tag}.", "defect": defect}


def test_prompts_that_differ_only_in_case_or_spacing_stay_together(tmp_path):
    rows = [
        pair("Buğday ne zaman ekilir?", "vague", "1"),
        pair("BUĞDAY  ne zaman EKİLİR?", "rude", "2"),  # Turkish upper case İ, double space: the same prompt
        pair("buğday ne zaman ekilir?", "vague", "3"),
        *[pair(f"Soru {i}: domates nasıl sulanır?", "vague", f"x{i}") for i in range(9)],
    ]
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report = split_preferences(source, tmp_path / "out", seed=3)
    assert report["prompts"] == 10 and report["rows"] == 12 and report["shared_prompts"] == 0
    for name in ("proxy", "gold"):
        prompts = [json.loads(x)["prompt"] for x in source_lines(tmp_path / "out" / f"{name}.jsonl")]
        together = sum("UĞDAY" in p.upper() for p in prompts)
        assert together in (0, 3), (name, prompts)


def test_command_line_and_bad_rows(tmp_path, capsys):
    assert main(["split-preferences", "--input", str(TRAIN), "--out-dir", str(tmp_path), "--seed", "1"]) == 0
    assert '"shared_prompts": 0' in capsys.readouterr().out
    assert (tmp_path / "proxy.jsonl").is_file() and (tmp_path / "split_report.json").is_file()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(pair("Soru?", "vague", "1")) + '\n{"prompt": "Soru 2?", "chosen": "a"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: rejected"):
        split_preferences(bad, tmp_path / "bad_out")
    assert main(["split-preferences", "--input", str(bad), "--out-dir", str(tmp_path / "bad_out")]) == 1
    with pytest.raises(DataError, match="fraction"):
        split_preferences(TRAIN, tmp_path, fraction=1.0)
