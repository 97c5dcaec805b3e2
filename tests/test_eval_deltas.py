"""Paired deltas between models: the paired bootstrap by hand, verdicts by direction, comparisons and judges in the
eval config, and a comparison of constant-answer "models" end to end into results.json and report.md."""

import json

import numpy as np
import pytest

from shared.config import ConfigError
from shared.eval import mcq, open_qa, safety
from shared.eval.compare import write_outputs
from shared.eval.config import EvalConfig, load_eval_config
from shared.eval.perplexity import pooled_perplexity
from shared.eval.runner import summarize
from shared.eval.stats import estimate, paired_bootstrap, verdict
from tests.conftest import REPO_ROOT


def test_paired_bootstrap_by_hand():
    # Per-item differences [1, 0, 0]: a resample's mean difference is k/3 with k ~ Binomial(3, 1/3), so 0 with
    # probability 8/27 (29.6%, above the 2.5% tail) and 1 with probability 1/27 (3.7%, above the upper 2.5% tail).
    paired = paired_bootstrap([1, 1, 0], [0, 1, 0], n=4000, seed=0)
    assert paired.delta == pytest.approx(1 / 3) and (paired.low, paired.high) == (0.0, 1.0) and paired.n == 3
    # Identical items: delta 0 and every resample 0.
    same = paired_bootstrap([0.3, 0.7, 0.1], [0.3, 0.7, 0.1])
    assert (same.delta, same.low, same.high, same.n) == (0.0, 0.0, 0.0, 3)
    # A constant improvement of 2 on items of very different difficulty: the pairing removes the item variance,
    # so the interval is [2, 2] although the two models' own intervals overlap.
    baseline, model = [1, 5, 9, 3], [3, 7, 11, 5]
    shifted = paired_bootstrap(model, baseline, n=500)
    assert (shifted.delta, shifted.low, shifted.high) == (2.0, 2.0, 2.0)
    assert estimate(model, n=500).low < estimate(baseline, n=500).high  # unpaired: overlapping intervals
    # A statistic that is not a mean is recomputed on each resample of the same indices: pooled perplexity.
    pooled = paired_bootstrap([[0.0, 1], [0.0, 3]], [[1.0, 1], [3.0, 3]], pooled_perplexity, n=200)
    assert pooled.delta == pytest.approx(1 - np.e) and pooled.low == pytest.approx(1 - np.e)
    assert pooled.high == pytest.approx(1 - np.e)
    assert paired_bootstrap([1, 0, 1, 1], [0, 0, 1, 0], seed=7) == paired_bootstrap([1, 0, 1, 1], [0, 0, 1, 0], seed=7)
    with pytest.raises(ValueError, match="same items"):
        paired_bootstrap([1, 0], [1])


def test_paired_bootstrap_matches_the_exact_resampling_distribution():
    # Differences [0, 1]: the resampled mean is 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4.
    rng_samples = paired_bootstrap([0, 1], [0, 0], n=20000, seed=1)
    assert (rng_samples.low, rng_samples.high) == (0.0, 1.0)
    indices = np.random.default_rng(1).integers(0, 2, size=(20000, 2))  # the draws paired_bootstrap makes
    share_half = float(np.mean(np.array([0.0, 1.0])[indices].mean(axis=1) == 0.5))
    assert share_half == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize(
    ("low", "high", "higher_is_better", "expected"),
    [
        (0.1, 0.3, True, "ahead"),
        (-0.3, -0.1, True, "behind"),
        (-0.3, -0.1, False, "ahead"),  # lower repetition or perplexity is better
        (0.1, 0.3, False, "behind"),
        (-0.1, 0.2, True, "no significant difference"),
        (0.0, 0.2, True, "no significant difference"),  # the interval must exclude 0, not touch it
        (0.0, 0.0, False, "no significant difference"),
        (2.0, 5.0, None, "higher"),  # answer length has no better side
        (float("nan"), float("nan"), True, "not computed"),
    ],
)
def test_verdict_follows_the_metric_direction(low, high, higher_is_better, expected):
    assert verdict(low, high, higher_is_better) == expected


def test_comparisons_default_from_baselines_or_given_as_model_baseline():
    models = ["base=b", "sft=s", "dpo=d", "ppo-lora=p", "grpo=g"]
    assert EvalConfig(models=models).comparison_pairs() == [
        ("sft", "base"),
        ("dpo", "sft"),
        ("ppo-lora", "sft"),
        ("grpo", "sft"),
    ]
    assert EvalConfig(models=["sft=s", "dpo=d"]).comparison_pairs() == [("dpo", "sft")]
    assert EvalConfig(models=["a=x", "b=y"]).comparison_pairs() == []  # no baseline among the models
    given = EvalConfig(models=models, comparisons=["ppo-lora-sft", "dpo-base"]).comparison_pairs()
    assert given == [("ppo-lora", "sft"), ("dpo", "base")]  # a hyphenated name still splits one way only
    with pytest.raises(ConfigError, match="does not name two models"):
        EvalConfig(models=models, comparisons=["kto-sft"]).comparison_pairs()
    with pytest.raises(ConfigError, match="ambiguous"):
        EvalConfig(models=["a=x", "a-b=y", "b-c=z", "c=w"], comparisons=["a-b-c"]).comparison_pairs()


def test_judges_from_reward_models_and_the_reward_model_key(tmp_path):
    config_file = tmp_path / "eval.yaml"
    config_file.write_text("reward_models:\n  proxy: rm/proxy\n  gold: [rm/gold-a, rm/gold-b]\n", encoding="utf-8")
    config = load_eval_config(["--config", str(config_file)])
    assert config.judge_paths() == {"proxy": ["rm/proxy"], "gold": ["rm/gold-a", "rm/gold-b"]}
    from_cli = load_eval_config(["--reward_models", "{gold: rm/g}", "--reward_model", "rm/p"])
    assert from_cli.judge_paths() == {"proxy": ["rm/p"], "gold": ["rm/g"]}  # `reward_model` is the proxy
    assert EvalConfig(reward_model="none").judge_paths() == {}
    with pytest.raises(ConfigError, match="proxy judge is given twice"):
        load_eval_config(["--config", str(config_file), "--reward_model", "rm/other"]).judge_paths()
    with pytest.raises(ConfigError, match="reward_models.gold"):
        EvalConfig(reward_models={"gold": []}).judge_paths()
    with pytest.raises(ConfigError, match="expected"):
        EvalConfig(reward_models="[a, b]").judge_paths()


ITEMS = [
    {"question": f"Soru {i}?", "reference": ref, "facts": [fact]}
    for i, (ref, fact) in enumerate(
        [
            ("Buğday ekimi ekim ayında yapılır.", "ekim ayında"),
            ("Domates fidesi don bittikten sonra dikilir.", "don bittikten sonra"),
            ("Toprak asitliği kireçleme ile düzeltilir.", "kireçleme"),
            ("Damla sulama su tasarrufu sağlar.", "su tasarrufu"),
            ("Azotlu gübre dekara 10 kg verilir.", "dekara 10 kg"),
            ("Mısır derin ve verimli toprağı sever.", "verimli toprak"),
        ]
        * 5
    )
]
MCQ = [{"id": f"q{i}", "answer": "ABCDE"[i % 5]} for i in range(40)]


def constant_model(name: str, answers: list[str], letters: list[str], nll_per_token: float) -> dict:
    """The result `evaluate_model` would give a model that answers `answers`, picks `letters` and has a fixed
    per-token loss on 10 validation conversations of 20 tokens."""
    predictions = [{"answer": item["answer"], "pred": p, "pred_norm": p} for item, p in zip(MCQ, letters)]
    per_item = (
        mcq.item_values(predictions)
        | open_qa.item_values(answers, ITEMS)
        | safety.item_values(answers)
        | {"val_perplexity": [[nll_per_token * 20, 20]] * 10}
    )
    return {
        "metrics": summarize(per_item, n=500, seed=0),
        "per_item": per_item,
        "mcq_subdomains": {},
        "samples": [
            {"question": i["question"], "answer": a, "reference": i["reference"]} for i, a in zip(ITEMS, answers)
        ],
        "meta": {"model": name, "seed": 0, "bootstrap_samples": 500, "mcq_items": 40, "num_fewshot": 0},
    }


def test_constant_answer_models_get_the_expected_verdicts_in_results_and_report(tmp_path):
    references = [item["reference"] for item in ITEMS]
    unsure = ["Bilmiyorum, bilmiyorum, bilmiyorum, bilmiyorum."] * len(ITEMS)
    results = {
        # base: always "A" (right on 8 of 40), a looping non-answer, high validation loss
        "base": constant_model("base", unsure, ["A"] * 40, nll_per_token=3.0),
        # sft: always right, the reference answer, lower loss
        "sft": constant_model("sft", references, [item["answer"] for item in MCQ], nll_per_token=2.0),
        # dpo: the same answers as sft, a dose without its unit in every answer
        "dpo": constant_model(
            "dpo", [r + " İlacı dekara 5 uygulayın." for r in references], [i["answer"] for i in MCQ], 2.0
        ),
    }
    config = EvalConfig(
        models=["base=b", "sft=s", "dpo=d"],
        output_dir=str(tmp_path / "out"),
        runs_dir=str(tmp_path / "runs"),
        bootstrap_samples=300,
    )
    write_outputs(results, config)
    document = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    verdicts = {(r["model"], r["baseline"], r["metric"]): r["verdict"] for r in document["deltas"]}
    rows = {(r["model"], r["baseline"], r["metric"]): r for r in document["deltas"]}
    assert set(document) == {"models", "deltas", "judges"} and set(document["models"]) == {"base", "sft", "dpo"}
    expected = {
        ("sft", "base", "mcq_acc"): "ahead",
        ("sft", "base", "chrf"): "ahead",
        ("sft", "base", "fact_recall"): "ahead",
        ("sft", "base", "repetition"): "ahead",  # lower is better: the loop is gone
        ("sft", "base", "val_perplexity"): "ahead",
        ("sft", "base", "answer_words"): "higher",
        ("sft", "base", "safety_any"): "no significant difference",
        ("dpo", "sft", "mcq_acc"): "no significant difference",
        ("dpo", "sft", "fact_recall"): "no significant difference",
        ("dpo", "sft", "safety_unitless_dose"): "behind",
        ("dpo", "sft", "chrf"): "behind",  # the extra sentence is not in the reference
    }
    assert {key: verdicts[key] for key in expected} == expected
    acc = rows[("sft", "base", "mcq_acc")]
    assert acc["delta"] == pytest.approx(1 - 8 / 40) and acc["n"] == 40 and acc["low"] > 0
    assert rows[("sft", "base", "val_perplexity")]["delta"] == pytest.approx(np.exp(2) - np.exp(3))
    assert rows[("sft", "base", "val_perplexity")]["n"] == 10
    same = rows[("dpo", "sft", "mcq_acc")]
    assert (same["delta"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    assert rows[("sft", "base", "chrf")]["delta"] == pytest.approx(
        document["models"]["sft"]["metrics"]["chrf"]["value"] - document["models"]["base"]["metrics"]["chrf"]["value"]
    )
    assert ("dpo", "base", "mcq_acc") not in rows  # only the configured comparisons
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Paired deltas (model − baseline, same items)" in report
    assert "### sft − base" in report and "### dpo − sft" in report
    assert "| MCQ acc ↑ | 1.000 | 0.200 | +0.800 | [+0.6" in report and "| 40 | **ahead** |" in report
    assert "| repeated trigrams ↓ |" in report
    dpo_section = report.split("### dpo − sft")[1]
    assert "| dose w/o unit ↓ | 1.000 | 0.000 | +1.000 | [+1.000, +1.000] | 30 | **behind** |" in dpo_section
    assert "Behind on: chrF++, BLEU" in dpo_section


def test_shipped_eval_configs_load_and_the_real_model_config_uses_every_open_question():
    for path in sorted((REPO_ROOT / "configs/eval").glob("*.yaml")):
        config = load_eval_config(["--config", str(path)])
        config.comparison_pairs()
        config.judge_paths()
    real = load_eval_config(["--config", str(REPO_ROOT / "configs/eval/smollm2.yaml")])
    assert real.max_open_qa is None and (real.max_mcq is None or real.max_mcq >= 200)
    assert real.max_new_tokens >= 192


def test_missing_model_or_judge_paths_fail_before_any_evaluation(tmp_path):
    from shared.eval.compare import check_paths, compare

    config = EvalConfig(
        models=[f"base={tmp_path}", "hub=meta-llama/Meta-Llama-3-8B", f"sft={tmp_path}/sft"],
        reward_models={"proxy": str(tmp_path), "gold": [str(tmp_path), "artifacts/reward/nowhere"]},
    )
    with pytest.raises(
        ConfigError, match=r"not found: models: sft=.*/sft; reward_models.gold: artifacts/reward/nowhere$"
    ):
        compare(config)
    check_paths(EvalConfig(models=[f"base={tmp_path}"], reward_models={"gold": "missing"}), scorers={"gold": object()})
