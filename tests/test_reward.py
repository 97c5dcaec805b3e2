"""Reward model: metrics by hand, scoring invariances, real training runs, save → reload equality."""

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from reward.score import main as score_main
from shared.preference_metrics import bradley_terry_probability, expected_calibration_error, preference_metrics
from shared.reward_model import RewardScorer

SEED_TRAIN, SEED_TEST = "data/preferences/train.jsonl", "data/preferences/test.jsonl"


def test_bradley_terry_and_ece_by_hand():
    assert bradley_terry_probability(1.0, 1.0) == 0.5
    assert bradley_terry_probability(2.0, 0.0) == pytest.approx(0.880797, abs=1e-6)
    # bin 0.9: p=(0.95, 0.95) outcomes (1, 0) → |0.5 - 0.95| = 0.45 for half the data; bin 0.2: p=0.25, y=0 twice
    assert expected_calibration_error([0.95, 0.95, 0.25, 0.25], [1, 0, 0, 0]) == pytest.approx(0.5 * 0.45 + 0.5 * 0.25)
    assert expected_calibration_error([0.8] * 5, [1, 1, 1, 1, 0]) == pytest.approx(0.0)


def test_preference_metrics_by_hand():
    metrics = preference_metrics([2.0, 0.0, 1.0], [1.0, 1.0, -1.0], {"defect": ["vague", "vague", "rude"]})
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["mean_margin"] == pytest.approx((1 - 1 + 2) / 3)
    assert metrics["accuracy/defect/vague"] == 0.5 and metrics["accuracy/defect/rude"] == 1.0


@pytest.fixture(scope="module")
def random_head_scorer(tiny_model_dir):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    return RewardScorer.from_model(model, AutoTokenizer.from_pretrained(tiny_model_dir))


def test_scores_do_not_depend_on_batch_size_or_padding_side(random_head_scorer):
    prompts = ["Buğday ne zaman ekilir?", "Domateste çiçek dökümü neden olur?", "Süt ineğine ne kadar yem verilir?"]
    responses = [
        "Ekim ayında.",
        "Aşırı sıcak ve düzensiz sulama çiçek dökümüne yol açar; sulamayı düzenleyin.",
        "Canlı ağırlığın yaklaşık yüzde üçü kadar kuru madde, süt verimine göre kesif yem eklenir.",
    ]
    one = random_head_scorer.score(prompts, responses, batch_size=1)
    for batch_size, side in [(3, "right"), (3, "left"), (2, "left")]:
        other = random_head_scorer.score(prompts, responses, batch_size=batch_size, padding_side=side)
        torch.testing.assert_close(torch.tensor(other), torch.tensor(one), atol=1e-5, rtol=1e-5)
    assert len(set(one)) == 3  # different answers get different scores


def reward_args(model_dir, out, runs, **overrides):
    values = {"model_name_or_path": model_dir, "output_dir": out, "runs_dir": runs, "run_name": "test"} | overrides
    return ["--config", "configs/reward/tiny.yaml", *[x for k, v in values.items() for x in (f"--{k}", str(v))]]


# Measured on the seed preferences with the tiny (<1M) model and configs/reward/tiny.yaml: 0.952 held-out accuracy
# (2026-11-25, 104 test pairs). The floor sits a few points below; chance is 0.5.
HELD_OUT_ACCURACY_FLOOR = 0.90


@pytest.mark.slow
@pytest.mark.learning
def test_full_reward_model_beats_chance_on_held_out_seed_pairs_and_reloads(tiny_model_dir, tmp_path, run_stage):
    out = tmp_path / "rm"
    run_stage("reward/train.py", *reward_args(tiny_model_dir, out, tmp_path / "runs"))
    check = json.loads((out / "reload_check.json").read_text())
    assert check["max_abs_diff"] < 1e-4 and check["pairs"] == 16  # the default reload_check_pairs
    summary = score_main(["--model", str(out), "--input", SEED_TEST, "--output", str(tmp_path / "scored.jsonl")])
    assert summary["pairwise_accuracy"] >= HELD_OUT_ACCURACY_FLOOR
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| ece |" in card and "accuracy/defect/unsafe_practice" in card
    scored = [json.loads(line) for line in (tmp_path / "scored.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {"chosen_score", "rejected_score"} <= set(scored[0])


@pytest.mark.slow
@pytest.mark.parametrize("merge", ["true", "false"])
def test_lora_reward_model_save_reload_gives_identical_scores(tiny_model_dir, tmp_path, run_stage, merge):
    out = tmp_path / f"rm-{merge}"
    run_stage(
        "reward/train.py",
        *reward_args(
            tiny_model_dir,
            out,
            tmp_path / "runs",
            use_peft="true",
            lora_target_modules="all-linear",
            merge_adapter=merge,
            max_steps=8,
        ),
    )
    assert (out / "adapter_config.json").exists() == (merge == "false")
    assert json.loads((out / "reload_check.json").read_text())["max_abs_diff"] < 1e-4
    # Reloading twice is stable too (no randomly re-initialised head on load).
    pairs = (["Buğday ne zaman ekilir?"] * 2, ["Ekimde, dekara 20 kg tohumla.", "Bilmem."])
    assert RewardScorer(out).score(*pairs) == RewardScorer(out).score(*pairs)


def test_broken_preference_row_is_reported_with_its_line(tiny_model_dir, tmp_path, run_stage):
    good = {"prompt": "Soru?", "chosen": "İyi yanıt.", "rejected": "Kötü.", "strength": 1}
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join([json.dumps(good), json.dumps(good), json.dumps({**good, "chosen": ""})]) + "\n")
    result = run_stage(
        "reward/train.py",
        *reward_args(tiny_model_dir, tmp_path / "rm", tmp_path / "runs", train_data=str(path)),
        check=False,
    )
    assert result.returncode != 0
    assert f"{path}:3: chosen: empty" in result.stderr
