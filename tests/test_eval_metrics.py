"""Evaluation metrics without a model: Turkish ROUGE/chrF/BLEU/fact recall, bootstrap intervals, safety rules."""

import math

import evaluate
import pytest
from rouge_score import rouge_scorer

from shared.eval import safety
from shared.eval.stats import bootstrap_ci, estimate
from shared.eval.text_metrics import (
    TurkishTokenizer,
    bleu,
    chrf_plus_plus,
    corpus_score,
    corpus_score_ci,
    corpus_statistic,
    fact_found,
    item_statistics,
)
from shared.metrics import NAMES, metric_path
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def metrics():
    return {name: evaluate.load(metric_path(name)) for name in NAMES}


def test_turkish_rouge_does_not_match_ascii_fragments(metrics):
    # The default tokenizer keeps [a-z0-9] only: "ağaç dikildi" / "aşı yapıldı" share fragments like "a", "d".
    default = rouge_scorer.RougeScorer(["rougeL"]).score("ağaç dikildi", "aşı yapıldı")["rougeL"].fmeasure
    assert default > 0
    ours = metrics["turkish_rouge"].compute(predictions=["aşı yapıldı"], references=["ağaç dikildi"])
    assert ours["rougeL"] == 0.0


def test_identical_strings_score_full_marks(metrics):
    text = "Buğday ekimi ekim ayında yapılır; dekara 20 kg tohum atılır."
    assert metrics["chrf"].compute(predictions=[text], references=[text])["score"] == pytest.approx(100.0)
    assert metrics["bleu"].compute(predictions=[text], references=[text])["score"] == pytest.approx(100.0)
    assert metrics["turkish_rouge"].compute(predictions=[text], references=[text])["rougeL"] == pytest.approx(1.0)
    assert metrics["fact_recall"].compute(predictions=[text], references=[["dekara 20 kg"]])["fact_recall"] == 1.0


def test_turkish_casing_dotted_and_dotless_i_match(metrics):
    assert TurkishTokenizer().tokenize("İZMİR'DE ILIK") == ["izmir", "de", "ılık"]
    result = metrics["turkish_rouge"].compute(predictions=["İZMİR'DE ILIK"], references=["izmir'de ılık"])
    assert result["rougeL"] == pytest.approx(1.0)
    assert fact_found("İzmir'de ılık", "İZMİR'DE ILIK bir kış geçer")


def test_fact_matching_rule():
    assert fact_found("toprak sulama", "Toprağı sulamayı unutmayın.")  # softened k, suffixes
    assert fact_found("2,5 kg", "Dekara 2.5 kg verin.")  # decimal comma and point
    assert not fact_found("25 kg", "Dekara 2.5 kg verin.")  # numbers match exactly
    assert not fact_found("kg/da", "kg/ha kullanılır")  # short words match exactly
    assert not fact_found("azot gübresi", "fosfor gübresi")  # every word of the fact is needed
    recall = evaluate.load(metric_path("fact_recall")).compute(
        predictions=["Ekimde ekilir.", "Hiçbir şey."], references=[["ekim", "kasım"], ["sulama"]]
    )
    assert recall["scores"] == [0.5, 0.0] and recall["fact_recall"] == 0.25


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    values = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0]
    result = estimate(values, n=500, seed=3)
    assert result.low <= result.value <= result.high and result.value == pytest.approx(0.7)
    assert 0.3 < result.low < 0.7 < result.high <= 1.0
    assert bootstrap_ci(values, n=500, seed=3) == bootstrap_ci(values, n=500, seed=3)
    median = estimate([3, 1, 4, 1, 5, 9, 2, 6], stat=lambda xs: sorted(xs)[len(xs) // 2], n=200, seed=0)
    assert median.low <= median.value <= median.high
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_corpus_chrf_interval_contains_the_corpus_score():
    hyps = ["buğday ekimde ekilir", "domates sıcak sever", "elma budanır", "mısır sulanır", "arpa erken ekilir"]
    refs = ["buğday ekim ayında ekilir", "domates sıcağı sever", "elma kışın budanır", "mısır sık sulanır", "arpa"]
    point = corpus_score(chrf_plus_plus(), hyps, refs)
    low, high = corpus_score_ci(chrf_plus_plus(), hyps, refs, n=300, seed=0)
    assert low <= point <= high and low < high
    for metric in (chrf_plus_plus(), bleu()):  # the per-item statistics give exactly the corpus score
        stats = item_statistics(metric, hyps, refs)
        assert len(stats) == len(hyps)
        assert corpus_statistic(metric)(stats) == pytest.approx(corpus_score(metric, hyps, refs), abs=1e-9)


@pytest.mark.parametrize(
    "text",
    [
        "Dekara 200 ilaç uygulayın.",
        "İlacı 100 litre suya 50 katarak püskürtün.",
        "Gübreyi dekara 2,5 serpin.",
    ],
)
def test_safety_flags_doses_without_units(text):
    assert safety.check(text).unitless_dose


@pytest.mark.parametrize(
    "text",
    [
        "Dekara 200 ml ilaç uygulayın.",
        "Dekara 150-200 ml ilaç uygulayın.",
        "Dekara 150 ile 200 ml ilaç uygulayın.",
        "İlacı 7 gün arayla 2 kez uygulayın; hasattan 14 gün önce bırakın.",
        "15-15-15 kompoze gübreden dekara 20 kg verin.",
        "%2,5 oranında ilaç karıştırın.",
        "Ekimi 15 Ekim ile 15 Kasım arasında yapın, dekara 20 kg tohum.",
        "1. Toprağı sürün\n2. Gübre uygulayın",
        "Buğday 200 metre yükseklikte yetişir.",  # no dose cue: not a dose sentence
    ],
)
def test_safety_accepts_doses_with_units_and_other_numbers(text):
    assert not safety.check(text).unitless_dose, safety.check(text)


def test_safety_flags_unit_mixups_but_not_conversions():
    assert safety.check("Dekara 150 kg/ha azot verin.").unit_mixup
    assert safety.check("Hektara 2 kg/da ilaç uygulanır.").unit_mixup
    assert safety.check("Dozu 3 da/kg olarak ayarlayın.").unit_mixup
    assert not safety.check("Dekara 15 kg, yani hektara 150 kg gübre verin.").unit_mixup
    assert not safety.check("Dekara 15 kg/da gübre verin.").unit_mixup
    summary = safety.summarize(["Dekara 150 kg/ha azot verin.", "Dekara 200 ml ilaç.", "Dekara 5 ilaç."], n=100)
    assert summary["safety_unit_mixup"].value == pytest.approx(1 / 3)
    assert summary["safety_unitless_dose"].value == pytest.approx(1 / 3)
    assert summary["safety_any"].value == pytest.approx(2 / 3)


def test_harness_task_renders_the_same_prompt_and_target_as_our_scorer():
    import jinja2
    import yaml

    from shared.eval import mcq

    task = yaml.safe_load((REPO_ROOT / "shared/eval/harness/tarim_mcq.yaml").read_text(encoding="utf-8"))
    item = {"question": "Buğday ne zaman ekilir?", "choices": ["a", "b", "c", "d", "e"], "answer": "C"}

    def render(template: str) -> str:
        return jinja2.Environment().from_string(template).render(**item)

    assert render(task["doc_to_text"]) == mcq.question_prompt(item["question"])
    assert render(task["doc_to_target"]) == "2" and render(task["doc_to_choice"]) == str(item["choices"])
    assert task["target_delimiter"] == " " and task["fewshot_delimiter"] == "\n\n"  # as mcq.build_context
    assert task["dataset_kwargs"]["data_files"] == {"test": "data/eval/mcq.jsonl", "dev": "data/eval/mcq_dev.jsonl"}


def test_report_bolds_the_best_by_direction(tmp_path):
    from shared.eval.report import write_report

    def entry(v):
        return {"value": v, "low": v * 0.9, "high": v * 1.1}

    def result(acc, ppl, rouge):
        return {
            "metrics": {"mcq_acc": entry(acc), "val_perplexity": entry(ppl), "rougeL": entry(rouge)},
            "mcq_subdomains": {"sebze": entry(acc)},
            "samples": [],
            "meta": {"model": "m", "seed": 0, "bootstrap_samples": 10, "mcq_items": 4, "num_fewshot": 0},
        }

    files = write_report({"base": result(0.2, 50.0, 0.3), "sft": result(0.5, 20.0, 0.3)}, tmp_path)
    report = files["report"].read_text(encoding="utf-8")
    sft_row = next(line for line in report.splitlines() if line.startswith("| sft | **"))
    assert "**0.500 [0.450, 0.550]**" in sft_row and "**20.0 [18.0, 22.0]**" in sft_row  # higher acc, lower ppl
    assert "**0.300" not in report  # a tie singles out nobody
    assert "Paired deltas" not in report  # no comparisons given
    assert files["metrics"].is_file() and files["mcq_subdomains"].is_file()
