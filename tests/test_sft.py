"""SFT stage: real `accelerate launch` runs of sft/train.py on the tiny model."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.conftest import REPO_ROOT

TRAIN = "data/sft/train.jsonl"
VALIDATION = "data/sft/validation.jsonl"


def sft_args(model_dir, output_dir, runs_dir, **overrides):
    values = {
        "model_name_or_path": model_dir,
        "output_dir": output_dir,
        "runs_dir": runs_dir,
        "train_data": TRAIN,
        "eval_data": VALIDATION,
        "max_train_samples": 32,
        "max_eval_samples": 8,
        "max_length": 256,
        "per_device_train_batch_size": 4,
        "max_steps": 40,
        "eval_steps": 20,
        "save_steps": 20,
        "logging_steps": 5,
        "learning_rate": 3e-3,
        "warmup_steps": 2,
        "run_name": "test",
    }
    values.update(overrides)
    return ["--config", "configs/sft/tiny.yaml", *[x for k, v in values.items() for x in (f"--{k}", str(v))]]


# A short data-parallel run (2 processes or 2 machines): 6 steps of 2 rows per rank, no eval, no checkpoint.
SHORT_DDP_RUN = {"max_steps": 6, "eval_strategy": "no", "save_strategy": "no", "per_device_train_batch_size": 2}


def losses(output_dir):
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    history = json.loads((checkpoints[-1] / "trainer_state.json").read_text())["log_history"]
    return [entry["loss"] for entry in history if "loss" in entry]


@pytest.mark.slow
@pytest.mark.learning
def test_full_sft_learns_saves_card_logs_and_reloads(tiny_model_dir, tmp_path, run_stage):
    out, runs = tmp_path / "sft", tmp_path / "runs"
    run_stage("sft/train.py", *sft_args(tiny_model_dir, out, runs))
    curve = losses(out)
    assert curve[-1] < curve[0] - 1.0, curve  # loss falls clearly within 40 steps on a fixed small set
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "eval_perplexity" in card and "learning_rate" in card and "co2_kg" in card
    assert (out / "resolved_config.yaml").is_file() and (out / "chat_template.jinja").is_file()
    tags = EventAccumulator(str(runs / "sft" / "test")).Reload().Tags()
    assert "train/loss" in tags["scalars"] and "eval/loss" in tags["scalars"]
    texts = set()
    for events in (runs / "sft" / "test").glob("events.*"):
        texts |= set(EventAccumulator(str(events)).Reload().Tags()["tensors"])
    assert "samples/answers/text_summary" in texts
    tokenizer, model = AutoTokenizer.from_pretrained(out), AutoModelForCausalLM.from_pretrained(out)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Buğday ne zaman ekilir?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    assert model.generate(**inputs, max_new_tokens=5, do_sample=False).shape[1] > inputs["input_ids"].shape[1]


@pytest.mark.slow
@pytest.mark.learning
def test_lora_sft_saves_adapter_and_merged_model(tiny_model_dir, tmp_path, run_stage):
    adapter, merged = tmp_path / "lora", tmp_path / "merged"
    common = {
        "use_peft": "true",
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_target_modules": "all-linear",
        "max_steps": 20,
        "eval_steps": 20,
        "save_steps": 20,
    }
    run_stage("sft/train.py", *sft_args(tiny_model_dir, adapter, tmp_path / "runs", **common))
    assert (adapter / "adapter_config.json").is_file()
    assert losses(adapter)[-1] < losses(adapter)[0]
    run_stage("sft/train.py", *sft_args(tiny_model_dir, merged, tmp_path / "runs", merge_adapter="true", **common))
    assert not (merged / "adapter_config.json").exists()
    reloaded = AutoModelForCausalLM.from_pretrained(merged)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(
        reloaded.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight
    )


def test_assistant_only_loss_labels_only_assistant_tokens(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [
        {"role": "system", "content": "Sistem metni."},
        {"role": "user", "content": "Soru metni?"},
        {"role": "assistant", "content": "Yanıt bir."},
        {"role": "user", "content": "Bir soru daha?"},
        {"role": "assistant", "content": "Yanıt iki."},
    ]
    args = SFTConfig(
        output_dir=str(tmp_path),
        assistant_only_loss=True,
        use_cpu=True,
        bf16=False,
        report_to=[],
        max_length=256,
        per_device_train_batch_size=1,
    )
    trainer = SFTTrainer(
        model=str(tiny_model_dir),
        args=args,
        processing_class=tokenizer,
        train_dataset=Dataset.from_list([{"messages": messages}]),
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labelled = batch["input_ids"][batch["labels"] != -100]
    assert tokenizer.decode(labelled) == "Yanıt bir.<|eot_id|>Yanıt iki.<|eot_id|>"


@pytest.mark.slow
def test_kill_and_resume_matches_uninterrupted_run(tiny_model_dir, tmp_path, run_stage):
    overrides = {
        "max_steps": 12,
        "save_steps": 4,
        "eval_strategy": "no",
        "bf16": "false",
        "save_total_limit": 5,
        "dataloader_num_workers": 0,
    }
    reference = tmp_path / "reference"
    run_stage("sft/train.py", *sft_args(tiny_model_dir, reference, tmp_path / "runs", **overrides))

    interrupted = tmp_path / "interrupted"
    command = [
        str(Path(sys.executable).parent / "accelerate"),
        "launch",
        "--config_file",
        "configs/accelerate/cpu.yaml",
        "sft/train.py",
        *sft_args(tiny_model_dir, interrupted, tmp_path / "runs", **overrides),
    ]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    marker = interrupted / "checkpoint-4" / "trainer_state.json"
    deadline = time.time() + 300
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the whole process group: launcher and trainer
    process.wait()
    assert marker.exists() and not (interrupted / "model.safetensors").exists(), "run was not interrupted mid-way"

    run_stage(
        "sft/train.py",
        *sft_args(tiny_model_dir, interrupted, tmp_path / "runs", resume_from_checkpoint="true", **overrides),
    )
    expected, resumed = load_file(reference / "model.safetensors"), load_file(interrupted / "model.safetensors")
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.slow
def test_two_process_ddp_on_cpu_trains_on_both_ranks(tiny_model_dir, tmp_path, run_stage):
    out = tmp_path / "ddp"
    run_stage(
        "sft/train.py",
        *sft_args(tiny_model_dir, out, tmp_path / "runs", **SHORT_DDP_RUN),
        processes=2,
    )
    reports = [json.loads((out / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    assert all(r["backend"] == "gloo" and r["optimizer_steps"] == 6 for r in reports)
    # DDP keeps replicas identical: both ranks took the same averaged steps.
    assert reports[0]["trainable_checksum"] == pytest.approx(reports[1]["trainable_checksum"], rel=1e-6)


def test_qlora_on_cpu_is_refused_clearly(tiny_model_dir, tmp_path, run_stage):
    result = run_stage(
        "sft/train.py",
        *sft_args(tiny_model_dir, tmp_path / "q", tmp_path / "runs", use_peft="true", load_in_4bit="true"),
        check=False,
    )
    assert result.returncode != 0
    assert "QLoRA (4-/8-bit via bitsandbytes) needs a CUDA GPU" in result.stdout + result.stderr
