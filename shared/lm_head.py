"""A CPU-friendly LM head + cross-entropy for TRL's trainers (opt-in; GPUs keep TRL's Triton kernel).

TRL patches the model so that `model(..., labels=..., fused_lm_head=True)` returns per-token log-probabilities
without building the `(batch, seq, vocab)` logits. Its kernel is Triton; on CPU it falls back to torch ops that
(1) score every position, even those whose label is -100 (with assistant-only loss, ~40% of our tokens are prompt),
(2) run the LM head three times (forward, recomputed in backward, gradient in fp32 because CPU has no
`out_dtype=fp32` GEMM), and (3) make a dozen passes over the fp32 `tokens × vocab` tile. With a 49k vocabulary
and a 135M model that head is a large share of a CPU step (see docs/benchmarks.md).

`add_compact_lm_head` replaces only the `fused_lm_head=True` path, same inputs and outputs as TRL's
(`FusedCausalLMOutput`: loss, log_probs, entropy, is_top1, label_mask): it projects only the positions with a
label, once, keeps the softmax from the forward for the backward (bf16 when the head runs in bf16) instead of
recomputing the projection, and computes the gradient GEMM in the head's own dtype with fp32 accumulation
inside one matmul over the whole vocabulary (no per-chunk rounding). Memory: the saved softmax is
`labelled tokens × vocab` elements (e.g. 1,300 × 49,152 bf16 ≈ 130 MB for a 4×512 batch) — fine on CPU, and the
reason this stays opt-in for large batches on accelerators.
"""

from __future__ import annotations

import functools
import types

import torch
from trl.trainer.utils import FusedCausalLMOutput

TOKEN_CHUNK = 1024  # rows of the fp32 logits tile alive at once (1024 × 49k × 4 B ≈ 200 MB)


class CompactLogProbs(torch.autograd.Function):
    """log p(target) for each row of `hidden @ weight.T`, plus entropy and top-1 (no gradient) for TRL's metrics."""

    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor):
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
        hidden, weight_c = hidden.to(dtype), weight.to(dtype)
        exact = torch.promote_types(dtype, torch.float32)  # softmax statistics in fp32 (or better)
        n = hidden.shape[0]
        log_probs = hidden.new_empty(n, dtype=exact)
        entropy, is_top1 = torch.empty_like(log_probs), torch.empty(n, dtype=torch.bool, device=hidden.device)
        probs = hidden.new_empty(n, weight.shape[0], dtype=dtype)  # softmax, kept for the backward
        for start in range(0, n, TOKEN_CHUNK):
            rows = slice(start, start + TOKEN_CHUNK)
            z = (hidden[rows] @ weight_c.t()).to(exact)
            top, argmax = z.max(-1)
            z.sub_(top.unsqueeze(-1))  # z - max, in place
            e = z.exp()
            total = e.sum(-1)
            # entropy = log Σe − Σ e·(z−max) / Σe (a batched dot: no extra tile)
            weighted = torch.bmm(e.unsqueeze(1), z.unsqueeze(2)).view(-1)
            entropy[rows] = total.log() - weighted / total
            log_probs[rows] = z.gather(-1, targets[rows].unsqueeze(-1)).squeeze(-1) - total.log()
            is_top1[rows] = argmax == targets[rows]
            probs[rows] = e.div_(total.unsqueeze(-1))
        ctx.save_for_backward(hidden, weight_c, targets, probs)
        ctx.weight_dtype = weight.dtype
        ctx.mark_non_differentiable(entropy, is_top1)
        return log_probs, entropy, is_top1

    @staticmethod
    def backward(ctx, grad_log_probs, *_):
        hidden, weight, targets, probs = ctx.saved_tensors
        # d log p_t / dz = onehot(t) − p, scaled by the incoming gradient
        grad_z = probs * (-grad_log_probs).unsqueeze(-1).to(probs.dtype)
        rows = torch.arange(grad_z.shape[0], device=grad_z.device)
        grad_z[rows, targets] += grad_log_probs.to(probs.dtype)
        grad_hidden = grad_z @ weight if ctx.needs_input_grad[0] else None
        grad_weight = (grad_z.t() @ hidden).to(ctx.weight_dtype) if ctx.needs_input_grad[1] else None
        return grad_hidden, grad_weight, None


def compact_log_probs(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor):
    """(log_probs, entropy, is_top1) of `targets` under `softmax(hidden @ weight.T)`; rows are tokens."""
    return CompactLogProbs.apply(hidden, weight, targets)


def add_compact_lm_head(model) -> None:
    """Replace the `fused_lm_head=True` forward that TRL's trainers added to `model` (call after the trainer is
    built; pass the PEFT model or the plain one). Other calls (generation, `fused_lm_head=False`) are unchanged."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    trl_forward = base.forward

    @functools.wraps(type(base).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        if not fused_lm_head or shift_labels is not None:
            # Sequence/context parallelism pre-shifts the labels; leave that case to TRL's kernel.
            return trl_forward(
                *args,
                fused_lm_head=fused_lm_head,
                labels=labels,
                shift_labels=shift_labels,
                num_items_in_batch=num_items_in_batch,
                **kwargs,
            )
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        labels = labels[:, 1:]
        mask = labels != -100
        weight = self.get_output_embeddings().weight
        log_probs, entropy, is_top1 = compact_log_probs(hidden[mask], weight, labels[mask])
        # Back to (batch, seq − 1), zero where the label is -100; masked_scatter keeps an all-masked batch
        # connected to the graph (a differentiable zero), as TRL does.
        log_probs, entropy, is_top1 = (
            x.new_zeros(mask.shape).masked_scatter(mask, x) for x in (log_probs, entropy, is_top1)
        )
        denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / denominator,
            log_probs=log_probs,
            entropy=entropy,
            is_top1=is_top1,
            label_mask=mask,
        )

    base.forward = types.MethodType(forward, base)
