"""The CPU LM head (shared/lm_head.py) gives TRL's fused-head outputs and gradients, projecting only labelled tokens."""

import pytest
import torch
from transformers import AutoModelForCausalLM
from trl.trainer.utils import add_fused_lm_head

from shared.lm_head import add_compact_lm_head, compact_log_probs


def reference(hidden, weight, targets):
    log_softmax = torch.log_softmax(hidden @ weight.t(), -1)
    entropy = -(log_softmax.exp() * log_softmax).sum(-1)
    top1 = log_softmax.argmax(-1) == targets
    return log_softmax.gather(-1, targets.unsqueeze(-1)).squeeze(-1), entropy, top1


@pytest.mark.parametrize("tokens", [5, 1500])  # 1500 > one token chunk
def test_log_probs_entropy_top1_and_gradients_match_plain_softmax(tokens):
    torch.manual_seed(0)
    hidden = torch.randn(tokens, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 50, (tokens,))
    targets[0] = (hidden[0] @ weight.t()).argmax()  # at least one top-1 hit
    upstream = torch.randn(tokens, dtype=torch.float64)

    log_probs, entropy, top1 = compact_log_probs(hidden, weight, targets)
    expected = reference(hidden, weight, targets)
    torch.testing.assert_close(log_probs, expected[0])
    torch.testing.assert_close(entropy, expected[1].detach())
    assert torch.equal(top1, expected[2]) and top1[0]

    grads = torch.autograd.grad((log_probs * upstream).sum(), (hidden, weight))
    expected_grads = torch.autograd.grad((expected[0] * upstream).sum(), (hidden, weight))
    for got, want in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(got, want)


def test_model_outputs_match_trls_fused_head_and_skip_unlabelled_positions(tiny_model_dir):
    torch.manual_seed(0)
    ids = torch.randint(0, 100, (2, 12))
    labels = ids.clone()
    labels[0, :7] = -100  # a prompt
    labels[1, :] = -100  # a row with no label at all
    outputs, grads = {}, {}
    for name, patch in {"trl": None, "compact": add_compact_lm_head}.items():
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
        if patch:
            patch(model)
        outputs[name] = model(input_ids=ids, labels=labels, fused_lm_head=True)
        outputs[name].loss.backward()
        grads[name] = model.get_output_embeddings().weight.grad
    trl, compact = outputs["trl"], outputs["compact"]
    close = {"atol": 1e-5, "rtol": 1e-4}  # TRL's CPU tiles and ours sum in a different order
    torch.testing.assert_close(compact.loss, trl.loss, **close)
    for field in ("log_probs", "entropy"):
        torch.testing.assert_close(getattr(compact, field), getattr(trl, field), **close)
    assert torch.equal(compact.is_top1, trl.is_top1) and torch.equal(compact.label_mask, trl.label_mask)
    assert (compact.log_probs[1] == 0).all()
    torch.testing.assert_close(grads["compact"], grads["trl"], **close)


def test_bf16_autocast_stays_close_to_fp32():
    torch.manual_seed(0)
    hidden, weight = torch.randn(64, 32), torch.randn(300, 32) / 4
    targets = torch.randint(0, 300, (64,))
    exact = compact_log_probs(hidden, weight, targets)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        approx = compact_log_probs(hidden, weight, targets)[0]
    assert approx.dtype == torch.float32
    torch.testing.assert_close(approx, exact, atol=0.1, rtol=0.02)


def test_generation_path_is_unchanged(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = torch.randint(0, 100, (1, 6))
    before = model(input_ids=ids).logits
    add_fused_lm_head(model)
    add_compact_lm_head(model)
    torch.testing.assert_close(model(input_ids=ids).logits, before)
