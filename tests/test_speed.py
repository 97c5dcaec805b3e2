"""shared/speed.py: the opt-in CPU speed-ups change how a step runs, not what it computes."""

import pytest
import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from torch._dynamo.testing import CompileCounter
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import ModelConfig, SFTConfig, SFTTrainer

from shared import lm_head
from shared.data import load_examples
from shared.lm_head import CompactLogProbs
from shared.modeling import peft_config
from shared.speed import SpeedArguments, apply_speedups, compile_decoder_layers, lora_inputs_in_autocast_dtype
from tests.conftest import REPO_ROOT


def lora_model(model_dir, dtype=torch.float32):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    return get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0))


def test_lora_inputs_stay_bf16_under_autocast_with_identical_outputs(tiny_model_dir):
    torch.manual_seed(0)
    model = lora_model(tiny_model_dir, torch.bfloat16)  # bf16 base, fp32 adapters (PEFT's default)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)  # B starts at zero; make the adapters count
    ids = torch.randint(0, 100, (2, 16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        before = model(input_ids=ids).logits
        changed = lora_inputs_in_autocast_dtype(model)
        after = model(input_ids=ids).logits
    layers = model.get_base_model().config.num_hidden_layers
    assert changed == 7 * layers  # q, k, v, o, gate, up, down in every layer
    # bf16 → fp32 → bf16 is exact, so skipping the round trip changes nothing
    assert torch.equal(before, after)


def test_compiled_layers_train_like_eager_and_leave_eval_eager(tiny_model_dir):
    torch.manual_seed(0)
    eager, compiled = lora_model(tiny_model_dir), lora_model(tiny_model_dir)
    compiled.load_state_dict(eager.state_dict())
    counter = CompileCounter()
    assert compile_decoder_layers(compiled, backend=counter) == eager.get_base_model().config.num_hidden_layers
    ids = torch.randint(0, 100, (2, 16))
    losses = {}
    for name, model in {"eager": eager, "compiled": compiled}.items():
        model.train()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        losses[name] = loss
    torch.testing.assert_close(losses["compiled"], losses["eager"])
    grads = [
        (p.grad, q.grad) for p, q in zip(eager.parameters(), compiled.parameters(), strict=True) if p.requires_grad
    ]
    for want, got in grads:
        torch.testing.assert_close(got, want)
    graphs = counter.frame_count
    assert graphs >= 1  # training steps did run compiled code
    compiled.eval()
    with torch.no_grad():
        compiled(input_ids=torch.randint(0, 100, (1, 7)))  # eval: a new length, no new graph
    compiled.generate(input_ids=ids[:1, :4], max_new_tokens=3, do_sample=False)
    assert counter.frame_count == graphs


def train_losses(model_dir, tmp_path, speed: SpeedArguments) -> tuple[list[float], SFTTrainer]:
    """Three LoRA SFT steps under bf16 autocast with the given speed-ups, as sft/train.py applies them."""
    rows = [{"messages": r["messages"]} for r in load_examples(REPO_ROOT / "data/sft/train.jsonl", "sft")[:48]]
    args = SFTConfig(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=True,
        max_steps=3,
        learning_rate=1e-2,
        max_length=128,
        packing=True,
        packing_strategy="wrapped",
        assistant_only_loss=True,  # prompt tokens carry label -100: the compact head must skip them
        per_device_train_batch_size=2,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        dataloader_pin_memory=False,
        seed=0,
        model_init_kwargs={"dtype": "bfloat16"},
    )
    trainer = SFTTrainer(
        model=str(model_dir),
        args=args,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
        train_dataset=Dataset.from_list(rows),
        peft_config=LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0, task_type="CAUSAL_LM"),
    )
    apply_speedups(trainer, speed)
    trainer.train()
    return [log["loss"] for log in trainer.state.log_history if "loss" in log], trainer


def test_apply_speedups_changes_the_trainers_model_not_its_losses(tiny_model_dir, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(
        lm_head, "compact_log_probs", lambda *a: calls.append(a[0].shape[0]) or CompactLogProbs.apply(*a)
    )
    plain, _ = train_losses(tiny_model_dir, tmp_path / "plain", SpeedArguments())
    assert calls == []
    fast, trainer = train_losses(
        tiny_model_dir, tmp_path / "fast", SpeedArguments(compact_lm_head=True, lora_inputs_in_autocast_dtype=True)
    )
    # every training step went through the compact head, with fewer rows than the batch's 2 × 127 positions
    assert len(calls) == 3 and all(0 < rows < 2 * 127 for rows in calls)
    lora_layers = [module for module in trainer.model.modules() if hasattr(module, "lora_A")]
    assert lora_layers and not any(module.cast_input_dtype_enabled for module in lora_layers)
    assert len(plain) == len(fast) == 3
    torch.testing.assert_close(fast, plain, rtol=2e-2, atol=0)  # bf16 rounding differs, the learning does not


def test_lora_top_layers_adapts_only_the_top_layers_and_records_no_backward_below(tiny_model_dir):
    model_args = ModelConfig(
        model_name_or_path=str(tiny_model_dir), use_peft=True, lora_r=4, lora_target_modules=["q_proj", "down_proj"]
    )
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    layers = base.config.num_hidden_layers
    assert layers >= 2
    model = get_peft_model(base, peft_config(model_args, top_layers=1))
    adapted = {name.split(".layers.")[1].split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert adapted == {str(layers - 1)}
    hidden = model(input_ids=torch.randint(0, 100, (1, 8)), output_hidden_states=True).hidden_states
    # hidden_states[i] enters layer i: everything up to the top layer's input carries no autograd graph
    assert not any(h.requires_grad for h in hidden[:layers])
    assert hidden[layers].requires_grad
    with pytest.raises(ValueError, match=f"lora_top_layers: {layers + 1} > the model's {layers} decoder layers"):
        peft_config(model_args, top_layers=layers + 1)
    assert peft_config(model_args).layers_to_transform is None  # 0: every layer, TRL's default
