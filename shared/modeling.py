"""Model loading shared by every stage: precision, quantisation (QLoRA), LoRA config, adapter merging."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch
from transformers import AutoConfig
from trl import ModelConfig, get_peft_config, get_quantization_config

logger = logging.getLogger(__name__)

# Local models this repository builds, and the command that builds each (a new user's first missing path).
MODEL_BUILDERS = {"artifacts/tiny-llama": "make tiny-model", "artifacts/smollm2-135m": "make smollm2"}
# artifacts/<stage>/<run>: the script that writes it (`make demo` runs every stage on the tiny model).
STAGE_SCRIPTS = {"sft": "sft/train.py", "reward": "reward/train.py", "dpo": "rlhf/dpo.py", "kto": "rlhf/kto.py"}
STAGE_SCRIPTS |= {"ppo": "rlhf/ppo.py", "grpo": "rlhf/grpo.py"}
MODEL_PATH_FIELDS = ("model_name_or_path", "reward_model", "value_model", "gold_reward_model")

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
        # Set in place, not dataclasses.replace: __post_init__ derives fields (GRPO's steps_per_generation from
        # generation_batch_size) that a second run refuses next to their source, so GRPO failed on every CPU
        # without bf16 (ONEDNN_MAX_CPU_ISA=AVX2). mixed_precision is the one field __post_init__ derives from bf16.
        training_args.bf16 = False
        training_args.mixed_precision = "no"
    return training_args


class ModelPathError(ValueError):
    """A model path that does not exist, named with the command that builds it."""


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return (
        len(parts) == 2 and all(parts) and not name.startswith((".", "~", "artifacts/")) and not Path(parts[0]).is_dir()
    )


def check_model_path(path: str, field: str = "model_name_or_path") -> None:
    """One line for a missing model — the path and what builds it — instead of huggingface_hub's
    `LocalEntryNotFoundError` traceback. Hub ids pass when cached (or when the Hub may be reached)."""
    if Path(path).expanduser().exists():
        return
    if _looks_like_hub_id(path):
        from huggingface_hub import constants, try_to_load_from_cache

        if not constants.HF_HUB_OFFLINE or isinstance(try_to_load_from_cache(path, "config.json"), str):
            return
        raise ModelPathError(
            f"{field}: {path} is neither a local folder nor in the Hugging Face cache, and the Hub is offline "
            f"(HF_HUB_OFFLINE=1): download it on a connected machine, or set {field} to a local folder"
        )
    key = Path(path).as_posix().removeprefix("./").rstrip("/")
    parts = key.split("/")
    if key in MODEL_BUILDERS:
        how = f"build it with `{MODEL_BUILDERS[key]}`"
    elif len(parts) >= 3 and parts[0] == "artifacts" and parts[1] in STAGE_SCRIPTS:
        how = f"train it first with {STAGE_SCRIPTS[parts[1]]} (`make demo` builds every stage of the tiny loop)"
    else:
        how = "check the path"
    raise ModelPathError(f"{field}: {path} not found — {how}")


def check_model_paths(*configs) -> None:
    """`check_model_path` for every model path field of a script's configs (`none` and unused ones skipped)."""
    for config in configs:
        terms = getattr(config, "reward_terms", None)
        for field in MODEL_PATH_FIELDS:
            values = getattr(config, field, None)
            if field == "reward_model" and terms is not None and not any(t.startswith("reward_model") for t in terms):
                continue
            for value in values if isinstance(values, list | tuple) else [values]:  # an ensemble: every member
                if isinstance(value, str) and value.strip().lower() not in {"", "none", "null"}:
                    check_model_path(value, field)


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


def peft_config(model_args: ModelConfig, task_type: str | None = None, top_layers: int = 0):
    """TRL's LoRA config from the recipe's `lora_*` keys; with `top_layers` N > 0 the adapters go on the top N
    decoder layers only. Below the lowest adapter nothing needs a gradient, so autograd records no backward for
    those layers: the step costs their forward only (faster, but it learned less per second than every layer in
    docs/benchmarks.md, so no recipe uses it)."""
    if task_type is not None:
        model_args = dataclasses.replace(model_args, lora_task_type=task_type)
    config = get_peft_config(model_args)
    # TRL turns a one-element list into a plain string, which PEFT reads as a regex that must match the whole
    # module path ("q_proj" then matches nothing); a module name must stay a list.
    if config is not None and isinstance(config.target_modules, str) and config.target_modules != "all-linear":
        if config.target_modules.isidentifier():
            config.target_modules = {config.target_modules}
    if config is not None and top_layers > 0:
        layers = AutoConfig.from_pretrained(model_args.model_name_or_path).num_hidden_layers
        if top_layers > layers:
            raise ValueError(f"lora_top_layers: {top_layers} > the model's {layers} decoder layers")
        config.layers_to_transform = list(range(layers - top_layers, layers))
        config.layers_pattern = "layers"  # model.layers.<i> in Llama-family models
    return config


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def upcast_on_cpu(model):
    """A CPU model with bf16/fp16 weights, in float32 (in place). The CPU recipes keep frozen base weights in bf16
    only for speed; a LoRA update is far smaller than bf16's step at the weights' scale, so merging into bf16
    weights rounds most of it away (a reward model trained so scored 0.19 apart after its merge). On a GPU the
    weights keep their dtype: the usual bf16 merge of a Llama-3-8B adapter."""
    params = list(model.parameters())
    if params and params[0].device.type == "cpu" and any(p.dtype in (torch.bfloat16, torch.float16) for p in params):
        model.float()
    return model


def save_merged(model, tokenizer, output_dir: str | Path) -> Path:
    """Merge a LoRA adapter into its base weights and save a plain Transformers model."""
    merged = upcast_on_cpu(model).merge_and_unload()
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
