"""Model loading shared by every stage: precision, quantisation (QLoRA), LoRA config, adapter merging."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch
from trl import ModelConfig, get_peft_config, get_quantization_config

logger = logging.getLogger(__name__)

QLORA_ON_CPU = (
    "QLoRA (4-/8-bit via bitsandbytes) needs a CUDA GPU, and none is available here. "
    "On CPU train with LoRA instead: --load_in_4bit false --use_peft true."
)


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(training_args):
    """On CPU, keep bf16 autocast only where the processor supports it (else fp32); TRL defaults to bf16."""
    if torch.cuda.is_available() or not getattr(training_args, "bf16", False):
        return training_args
    if not training_args.use_cpu:
        # TRL configs default to bf16, which Transformers refuses on CPU unless use_cpu is set.
        training_args = dataclasses.replace(training_args, use_cpu=True)
    if not cpu_supports_bf16():
        training_args = dataclasses.replace(training_args, bf16=False)
    return training_args


def check_quantization(model_args: ModelConfig) -> None:
    if (model_args.load_in_4bit or model_args.load_in_8bit) and not torch.cuda.is_available():
        raise SystemExit(QLORA_ON_CPU)


def model_init_kwargs(model_args: ModelConfig, training_args) -> dict:
    """Keyword arguments for `from_pretrained`, as TRL's own scripts build them."""
    check_quantization(model_args)
    dtype = model_args.dtype
    if dtype == "bfloat16" and not torch.cuda.is_available() and not cpu_supports_bf16():
        # Without bf16 instructions every bf16 matmul is emulated, several times slower than fp32.
        logger.warning("this CPU has no bf16 support: loading the model in float32 instead of bfloat16")
        dtype = "float32"
    kwargs = dict(
        revision=model_args.model_revision,
        trust_remote_code=getattr(training_args, "trust_remote_code", False),
        attn_implementation=model_args.attn_implementation,
        dtype=dtype,
    )
    quantization = get_quantization_config(model_args)
    if quantization is not None:
        from accelerate import PartialState

        # Quantised weights are placed at load time: each process on its own GPU.
        kwargs.update(quantization_config=quantization, device_map={"": PartialState().local_process_index})
    return {k: v for k, v in kwargs.items() if v is not None}


def peft_config(model_args: ModelConfig, task_type: str | None = None):
    if task_type is not None:
        model_args = dataclasses.replace(model_args, lora_task_type=task_type)
    config = get_peft_config(model_args)
    # TRL turns a one-element list into a plain string, which PEFT reads as a regex that must match the whole
    # module path ("q_proj" then matches nothing); a module name must stay a list.
    if config is not None and isinstance(config.target_modules, str) and config.target_modules != "all-linear":
        if config.target_modules.isidentifier():
            config.target_modules = {config.target_modules}
    return config


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def save_merged(model, tokenizer, output_dir: str | Path) -> Path:
    """Merge a LoRA adapter into its base weights and save a plain Transformers model."""
    merged = model.merge_and_unload()
    merged.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return Path(output_dir)


def save_trained(trainer, tokenizer, output_dir: str | Path, merge_adapter: bool) -> None:
    """Save a trainer's model: merged into a plain Transformers model when asked (LoRA), else as trained
    (full weights, or adapter + modules_to_save). Every process calls it; only the main one writes a merge."""
    if merge_adapter:
        if trainer.accelerator.is_main_process:
            save_merged(trainer.accelerator.unwrap_model(trainer.model), tokenizer, output_dir)
    else:
        trainer.save_model(output_dir)


def tensorboard_dir(runs_root: str, stage: str, run_name: str) -> str:
    """One TensorBoard root for every stage: runs/<stage>/<run_name>. Transformers reads the env variable."""
    path = os.path.join(runs_root, stage, run_name)
    os.environ["TENSORBOARD_LOGGING_DIR"] = path
    return path
