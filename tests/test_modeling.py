"""shared.modeling: what `from_pretrained` is asked for on this machine."""

from trl import ModelConfig, SFTConfig

import shared.modeling as modeling


def test_bf16_weights_fall_back_to_fp32_on_a_cpu_without_bf16(monkeypatch, tmp_path):
    training_args = SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False)
    model_args = ModelConfig(model_name_or_path="m", dtype="bfloat16", attn_implementation="eager")
    monkeypatch.setattr(modeling, "cpu_supports_bf16", lambda: True)
    assert modeling.model_init_kwargs(model_args, training_args)["dtype"] == "bfloat16"
    monkeypatch.setattr(modeling, "cpu_supports_bf16", lambda: False)  # an older CPU (AVX2 only)
    kwargs = modeling.model_init_kwargs(model_args, training_args)
    assert kwargs["dtype"] == "float32" and kwargs["attn_implementation"] == "eager"
