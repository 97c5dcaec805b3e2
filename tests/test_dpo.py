"""DPO (rlhf/dpo.py) and KTO (rlhf/kto.py): real runs from a tiny policy; preference accuracy rises; LoRA needs
no reference copy."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer, ModelConfig

from shared.data import Rejects, dpo_rows, kto_rows
from shared.stage import PreferenceScriptArguments, build_preference_trainer

TRAIN = "data/preferences/train.jsonl"


def sequence_logprob(model, tokenizer, prompt: str, answer: str) -> float:
    """Sum of log-probabilities of the answer tokens after the chat-templated prompt."""
    prefix = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    full = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], tokenize=True, return_dict=True
    )["input_ids"]
    ids = torch.tensor([full])
    with torch.no_grad():
        logprobs = model(ids).logits[0, :-1].log_softmax(-1)
    targets = ids[0, 1:]
    picked = logprobs[torch.arange(len(targets)), targets]
    return float(picked[len(prefix) - 1 :].sum())


def implicit_reward_accuracy(model_dir, reference_dir, pairs) -> float:
    """Share of pairs where DPO's implicit reward prefers the chosen answer:
    [log π(c) − log π_ref(c)] > [log π(r) − log π_ref(r)]. It is 0 before training (policy = reference)."""
    margins = []
    for path in (model_dir, reference_dir):
        model, tokenizer = AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
        margins.append(
            [
                sequence_logprob(model, tokenizer, p["prompt"], p["chosen"])
                - sequence_logprob(model, tokenizer, p["prompt"], p["rejected"])
                for p in pairs
            ]
        )
    return sum(policy > reference for policy, reference in zip(*margins)) / len(pairs)


def dpo_args(model_dir, out, runs, config="configs/rlhf/dpo_tiny.yaml", **overrides):
    values = {
        "model_name_or_path": model_dir,
        "output_dir": out,
        "runs_dir": runs,
        "run_name": "test",
        "max_train_samples": 48,
        "max_eval_samples": 16,
    } | overrides
    return ["--config", config, *[x for k, v in values.items() for x in (f"--{k}", str(v))]]


@pytest.mark.slow
@pytest.mark.learning
def test_dpo_raises_preference_accuracy_on_train_pairs(tiny_model_dir, tmp_path, run_stage):
    pairs = [json.loads(line) for line in open(TRAIN, encoding="utf-8").read().splitlines()[:48]]
    assert implicit_reward_accuracy(tiny_model_dir, tiny_model_dir, pairs) == 0.0
    out = tmp_path / "dpo"
    run_stage("rlhf/dpo.py", *dpo_args(tiny_model_dir, out, tmp_path / "runs", max_steps=30, learning_rate=2e-3))
    after = implicit_reward_accuracy(out, tiny_model_dir, pairs)
    assert after >= 0.8, after
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "frozen copy of the SFT model" in card and "train_loss" in card
    assert (tmp_path / "runs" / "dpo" / "test").is_dir()


def test_lora_dpo_uses_the_adapter_disabled_policy_as_reference(tiny_model_dir, tmp_path):
    script = PreferenceScriptArguments(train_data=[TRAIN], eval_data=[], max_train_samples=8)
    training = DPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to=[], max_length=256)
    model = ModelConfig(
        model_name_or_path=str(tiny_model_dir), use_peft=True, lora_r=4, lora_target_modules=["q_proj"]
    )  # one module: the regex pitfall
    trainer = build_preference_trainer(DPOTrainer, dpo_rows, script, training, model, Rejects())
    assert trainer.ref_model is None  # no second model in memory
    assert sum(p.numel() for p in trainer.model.parameters() if p.requires_grad) < 10_000


def test_kto_rows_come_from_pairs_or_unpaired_labels(tmp_path):
    rejects = Rejects()
    rows = kto_rows([TRAIN], "error", rejects, seed=0)
    assert {r["label"] for r in rows} == {True, False} and len(rows) % 2 == 0
    unpaired = tmp_path / "kto.jsonl"
    unpaired.write_text('{"prompt": "Soru?", "completion": "Yanıt.", "label": false}\n', encoding="utf-8")
    assert kto_rows([str(unpaired)], "error", rejects, seed=0)[0]["label"] is False


@pytest.mark.slow
def test_kto_runs_and_saves(tiny_model_dir, tmp_path, run_stage):
    out = tmp_path / "kto"
    run_stage(
        "rlhf/kto.py",
        *dpo_args(tiny_model_dir, out, tmp_path / "runs", config="configs/rlhf/kto_tiny.yaml", max_steps=6),
    )
    assert (out / "model.safetensors").is_file() and (tmp_path / "runs" / "kto" / "test").is_dir()
