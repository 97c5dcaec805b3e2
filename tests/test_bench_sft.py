"""bench/sft_throughput.py: the pure parts (MFU, variant settings read from the recipe YAMLs, ratios)."""

import importlib.util
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sft_throughput", REPO_ROOT / "bench/sft_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_mfu_is_six_flops_per_parameter_per_token_over_the_peak(bench):
    # 100M parameters at 1,000 tokens/s = 0.6 TFLOP/s; over a 1.2 TFLOP/s peak = 50%
    assert bench.mfu(100_000_000, 1_000, 1.2) == pytest.approx(0.5)
    assert bench.mfu(135_000_000, 330, 1.7) == pytest.approx(0.157, abs=1e-3)  # issue 14's "≈ 15%"


def test_real_recipes_are_read_from_their_yaml_files(bench):
    script, training, model = bench.variant_configs(bench.REAL_VARIANTS["smollm2_lora"], "some/model")
    assert model.model_name_or_path == "some/model"  # the bench's --model wins over the recipe's path
    assert (model.use_peft, model.lora_r, model.lora_dropout, model.dtype) == (True, 16, 0.0, "bfloat16")
    assert model.attn_implementation == "eager" and script.compact_lm_head
    assert (training.per_device_train_batch_size, training.max_length, training.packing_strategy) == (4, 512, "wrapped")
    assert not training.activation_checkpointing

    assert script.lora_top_layers == 0  # adapters on every layer: the top-layers variants trade loss for speed
    top = speed_settings(bench.variant_configs(bench.REAL_VARIANTS["smollm2_lora_top15"], "some/model"))
    assert top["speed_ups"][-1] == 15
    assert {k: v for k, v in top.items() if k != "speed_ups"} == {
        k: v for k, v in speed_settings((script, training, model)).items() if k != "speed_ups"
    }

    script, training, model = bench.variant_configs(bench.REAL_VARIANTS["smollm2_full"], "some/model")
    assert not model.use_peft and model.dtype == "float32" and script.compact_lm_head


def test_baseline_is_issue_14s_recipe(bench):
    script, training, model = bench.variant_configs(bench.REAL_VARIANTS["baseline_lora_autocast"], "m")
    assert (model.use_peft, model.lora_r, model.lora_alpha, model.lora_dropout) == (True, 16, 32, 0.05)
    assert set(model.lora_target_modules) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert model.dtype == "float32" and model.attn_implementation is None and not script.compact_lm_head
    assert (training.per_device_train_batch_size, training.learning_rate, training.bf16) == (4, 5e-4, True)
    assert (training.max_length, training.packing_strategy) == (512, "wrapped")


def speed_settings(configs) -> dict:
    """What decides a step's speed and what it learns (not output paths, logging, schedules)."""
    script, training, model = configs
    return {
        "weights": model.dtype,
        "attention": model.attn_implementation or "sdpa",  # transformers' default
        "lora": (model.use_peft, model.lora_r, model.lora_alpha, model.lora_dropout, set(model.lora_target_modules)),
        "batch": (training.per_device_train_batch_size, training.max_length, training.packing_strategy),
        "optimisation": (training.learning_rate, training.bf16, training.activation_checkpointing),
        "speed_ups": (
            script.compact_lm_head,
            script.lora_inputs_in_autocast_dtype,
            script.compile_layers,
            script.lora_top_layers,
        ),
    }


def test_lever_ladder_goes_from_the_baseline_to_the_recipe_one_lever_at_a_time(bench):
    recipe = bench.variant_configs(bench.REAL_VARIANTS["smollm2_lora"], "m")
    all_off = bench.Variant(bench.LORA_RECIPE, dict(bench.LEVERS.values()))
    rungs = [all_off, *(bench.REAL_VARIANTS[f"+{name}"] for name in list(bench.LEVERS)[:-1])]
    settings = [speed_settings(bench.variant_configs(rung, "m")) for rung in rungs] + [speed_settings(recipe)]
    # with every lever off, the recipe is issue 14's baseline: the levers are all that differ
    assert settings[0] == speed_settings(bench.variant_configs(bench.REAL_VARIANTS["baseline_lora_autocast"], "m"))
    for before, after in zip(settings, settings[1:]):
        changed = [key for key in before if before[key] != after[key]]
        assert len(changed) == 1, changed  # each rung adds one lever
    assert settings[-1]["batch"] == settings[0]["batch"] and settings[-1]["lora"][-1] == settings[0]["lora"][-1]


def test_stock_variant_keeps_trl_defaults(bench):
    script, training, model = bench.variant_configs(bench.REAL_VARIANTS["stock_trl_defaults"], "m")
    assert training.use_cpu and not training.bf16 and not training.packing and not model.use_peft
    assert training.activation_checkpointing and training.per_device_train_batch_size == 8


def test_extra_variant_spec(bench):
    name, variant = bench.parse_extra("one_thread=configs/sft/smollm2_lora.yaml,lora_r=8,env.OMP_NUM_THREADS=1")
    assert name == "one_thread" and variant.recipe == "configs/sft/smollm2_lora.yaml"
    assert variant.overrides == {"lora_r": "8"} and variant.env == {"OMP_NUM_THREADS": "1"}
    assert bench.variant_configs(variant, "m")[2].lora_r == 8
    name, variant = bench.parse_extra("stock_bf16=stock,bf16=true")
    assert variant.recipe is None and variant.overrides["bf16"] == "true"
    with pytest.raises(ValueError, match="key=value"):
        bench.parse_extra("bad=configs/sft/tiny.yaml,lora_r")


def test_ratios_are_medians_of_per_round_ratios(bench):
    def run(tokens_per_s, tokens_per_cpu_s):
        return {
            "tokens_per_s": tokens_per_s,
            "tokens_per_cpu_s": tokens_per_cpu_s,
            "loss": 2.0,
            "params": 100,
            "bf16": True,
            "peak_rss_mib": 10.0,
        }

    # The machine gets twice as slow in round 2: the per-round ratio stays 3.
    rounds = [{"base": run(100.0, 60.0), "new": run(300.0, 120.0)}, {"base": run(50.0, 50.0), "new": run(150.0, 100.0)}]
    peak = {"wall": 1e-6, "per_cpu_s": 0.5e-6}
    summary = bench.summarise(rounds, {"bf16": peak, "fp32": peak}, "base")
    assert summary["new"]["ratio_to_baseline"] == pytest.approx(3.0)
    assert summary["base"]["ratio_to_baseline"] == 1.0
    assert summary["new"]["tokens_per_s"] == pytest.approx(225.0)
    assert summary["new"]["mfu"] == pytest.approx(6 * 100 * 225.0 / 1e6)
    assert summary["new"]["cpu_ratio_to_baseline"] == pytest.approx(2.0)
    assert summary["new"]["mfu_cpu_time"] == pytest.approx(6 * 100 * 110.0 / 0.5e6)
