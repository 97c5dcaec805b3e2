"""Opt-in training speed-ups for CPU recipes, measured by bench/sft_throughput.py (docs/benchmarks.md).

Each is a recipe key (`SpeedArguments`, mixed into a stage's script arguments) and is off by default: the GPU
recipes keep TRL's own kernels. `apply_speedups(trainer, args)` applies the ones a recipe turns on, once the
trainer has built the (PEFT) model and before `train()` creates the optimizer; `lora_top_layers` is read earlier,
by `shared.modeling.peft_config`, since it decides where the adapters go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from shared.lm_head import add_compact_lm_head


@dataclass
class SpeedArguments:
    compact_lm_head: bool = field(
        default=False, metadata={"help": "CPU: LM head + cross-entropy on labelled tokens only (shared/lm_head.py)"}
    )
    lora_inputs_in_autocast_dtype: bool = field(
        default=False,
        metadata={"help": "under autocast, skip PEFT's cast of each LoRA layer's input to the adapter's fp32"},
    )
    compile_layers: bool = field(
        default=False, metadata={"help": "torch.compile each decoder layer for training steps (not eval/generate)"}
    )
    lora_top_layers: int = field(
        default=0,
        metadata={"help": "LoRA on the top N decoder layers only (0: every layer); backward stops below them"},
    )


def lora_inputs_in_autocast_dtype(model) -> int:
    """PEFT casts a LoRA layer's input to the adapter weights' dtype (fp32) and autocast casts it straight back to
    bf16 for the matmul: two copies of the activations per adapter, forward and backward. Under autocast the first
    is useless, so turn it off with PEFT's own switch. Returns the number of LoRA layers changed."""
    layers = [module for module in model.modules() if hasattr(module, "lora_A")]
    for module in layers:
        module.cast_input_dtype_enabled = False
    return len(layers)


def compile_decoder_layers(model, backend: str | object = "inductor") -> int:
    """Regional compilation: every decoder layer shares one compiled graph (same code, same shapes), so compiling
    costs one layer, not thirty. Only training steps (training mode, gradients on) run the compiled graph;
    evaluation and generation (other shapes, a KV cache) keep the eager forward instead of recompiling for every
    new length. Returns the number of layers compiled."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = base.base_model.layers
    for layer in layers:
        eager_forward = layer.forward
        compiled_forward = torch.compile(eager_forward, backend=backend)

        def forward(*args, _layer=layer, _eager=eager_forward, _compiled=compiled_forward, **kwargs):
            run = _compiled if _layer.training and torch.is_grad_enabled() else _eager
            return run(*args, **kwargs)

        layer.forward = forward
    return len(layers)


def apply_speedups(trainer, args: SpeedArguments) -> None:
    if args.compact_lm_head:
        add_compact_lm_head(trainer.model)
    if args.lora_inputs_in_autocast_dtype and trainer.args.bf16:
        lora_inputs_in_autocast_dtype(trainer.model)
    if args.compile_layers:
        compile_decoder_layers(trainer.model)
