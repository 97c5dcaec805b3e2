"""Merging a LoRA adapter trained on bf16 base weights (the CPU recipes' speed setting) keeps the update."""

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from shared.modeling import save_merged


def test_a_small_lora_update_survives_the_merge_of_a_bf16_base(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.bfloat16)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    torch.manual_seed(0)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # an update far below bf16's resolution at the weights' scale, as after a few steps
            param.data = torch.randn_like(param) * 1e-3
    inputs = tokenizer(["Buğday ne zaman ekilir?"], return_tensors="pt")
    with torch.no_grad():
        trained = model.float()(**inputs).logits  # the trained function, computed in float32
    model.bfloat16()  # back to what training left: bf16 base weights

    save_merged(model, tokenizer, tmp_path / "merged")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert reloaded.dtype == torch.float32
    with torch.no_grad():
        merged = reloaded(**inputs).logits
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)  # the base without the update
    with torch.no_grad():
        without_update = plain(**inputs).logits
    assert (merged - trained).abs().max() < 1e-4
    assert (trained - without_update).abs().max() > 100 * (merged - trained).abs().max()  # the update is visible
