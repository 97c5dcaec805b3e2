"""PPO maths (rlhf/ppo_core.py) against numbers worked out by hand, and the rollout plumbing on the tiny model."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from rlhf.ppo_core import (
    AdaptiveKLController,
    FixedKLController,
    RunningMoments,
    clipped_policy_loss,
    clipped_value_loss,
    entropy_from_logits,
    explained_variance,
    gae,
    kl_estimate,
    last_token_index,
    logprobs_from_logits,
    masked_mean,
    masked_token_loss,
    normalize_scores,
    per_token_rewards,
    response_mask,
    update_moments,
    whiten,
)
from rlhf.ppo_trainer import PPOArguments, TokenValueModel, generate, generation_config, response_logits
from shared.batching import prompt_response_batch
from shared.generation import encode_prompt


def approx(values, abs=1e-5):
    return pytest.approx(values, abs=abs)


def t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_logprobs_and_entropy_by_hand():
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]])  # softmax (1/4, 3/4) and (1/2, 1/2)
    assert logprobs_from_logits(logits, torch.tensor([[1, 0]])).tolist()[0] == approx([math.log(0.75), math.log(0.5)])
    # H(1/4, 3/4) = 0.25·ln4 + 0.75·ln(4/3) = 0.346574 + 0.215762;  H(1/2, 1/2) = ln 2
    assert entropy_from_logits(logits).tolist()[0] == approx([0.562335, 0.693147])


def test_kl_estimators_by_hand():
    logprobs, ref = t([-1.0, -2.0]), t([-1.5, -1.0])
    assert kl_estimate(logprobs, ref, "k1").tolist()[0] == approx([0.5, -1.0])
    # k3 = e^{-(lp-ref)} − 1 + (lp-ref): e^{-0.5} − 0.5 = 0.106531;  e^{1} − 2 = 0.718282
    assert kl_estimate(logprobs, ref, "k3").tolist()[0] == approx([0.106531, 0.718282])
    assert kl_estimate(ref, ref, "k3").abs().max() == 0
    with pytest.raises(ValueError, match="k2"):
        kl_estimate(logprobs, ref, "k2")


def test_per_token_rewards_put_score_on_last_response_token():
    kl, mask = t([0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.1, 0.1]), t([1, 1, 1, 0], [1, 0, 0, 0])
    rewards, non_score = per_token_rewards(torch.tensor([2.0, -1.0]), kl, kl_coef=0.5, mask=mask)
    assert non_score.tolist() == [approx([-0.05, -0.1, -0.15, 0.0]), approx([-0.05, 0, 0, 0])]
    assert rewards.tolist() == [approx([-0.05, -0.1, 1.85, 0.0]), approx([-1.05, 0, 0, 0])]
    assert last_token_index(mask).tolist() == [2, 0]
    assert last_token_index(t([0, 0, 0], [1, 1, 1])).tolist() == [0, 2]


def test_gae_three_tokens_by_hand():
    # 3 response tokens + 1 masked position whose garbage reward/value must not leak in.
    rewards, values, mask = t([0.0, 0.0, 1.0, 5.0]), t([0.5, 0.6, 0.7, 9.0]), t([1, 1, 1, 0])
    # γ=1, λ=0.9: δ2 = 1 − 0.7 = 0.3 → A2 = 0.3; δ1 = 0.7 − 0.6 = 0.1 → A1 = 0.1 + 0.9·0.3 = 0.37;
    #             δ0 = 0.6 − 0.5 = 0.1 → A0 = 0.1 + 0.9·0.37 = 0.433;  returns = A + V
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.9)
    assert advantages.tolist()[0] == approx([0.433, 0.37, 0.3, 0.0])
    assert returns.tolist()[0] == approx([0.933, 0.97, 1.0, 0.0])
    # γ=0.9, λ=0.5: A2 = 0.3; δ1 = 0.9·0.7 − 0.6 = 0.03 → A1 = 0.03 + 0.45·0.3 = 0.165;
    #               δ0 = 0.9·0.6 − 0.5 = 0.04 → A0 = 0.04 + 0.45·0.165 = 0.11425
    advantages, _ = gae(rewards, values, mask, gamma=0.9, lam=0.5)
    assert advantages.tolist()[0] == approx([0.11425, 0.165, 0.3, 0.0])
    # λ=0 is one-step TD, λ=1 (γ=1) is Monte-Carlo return minus value
    assert gae(rewards, values, mask, 1.0, 0.0)[0].tolist()[0] == approx([0.1, 0.1, 0.3, 0.0])
    assert gae(rewards, values, mask, 1.0, 1.0)[1].tolist()[0] == approx([1.0, 1.0, 1.0, 0.0])


def test_masked_whitening_by_hand():
    values, mask = t([1.0, 2.0, 3.0, 100.0]), t([1, 1, 1, 0])
    # mean 2, population variance 2/3, std 0.816497 → ±1/0.816497 = ±1.224745; masked entry → 0
    assert whiten(values, mask).tolist()[0] == approx([-1.224745, 0.0, 1.224745, 0.0])
    assert whiten(values, mask, shift_mean=False).tolist()[0] == approx([0.775255, 2.0, 3.224745, 0.0])
    assert masked_mean(values, mask).item() == approx(2.0)


def test_clipped_policy_loss_by_hand():
    logprobs = t([math.log(1.5), math.log(0.5), math.log(1.1)])  # ratios 1.5, 0.5, 1.1 against old log-probs 0
    old, advantages, mask = torch.zeros(1, 3), t([1.0, 1.0, -1.0]), torch.ones(1, 3)
    # tok0: max(−1.5, −1.2) = −1.2 (clipped);  tok1: max(−0.5, −0.8) = −0.5;  tok2: max(1.1, 1.1) = 1.1
    loss, clipfrac, approx_kl = clipped_policy_loss(logprobs, old, advantages, mask, clip_range=0.2)
    assert loss.item() == approx((-1.2 - 0.5 + 1.1) / 3)
    assert clipfrac.item() == approx(1 / 3)
    # ½·mean(ln²1.5, ln²0.5, ln²1.1) = ½·(0.164402 + 0.480453 + 0.009085)/3
    assert approx_kl.item() == approx(0.108990)
    # gradient only through the unclipped tokens: d/dlogp of −A·ρ/3 at tok1 = −0.5/3, tok2 = 1.1/3
    logprobs.requires_grad_(True)
    clipped_policy_loss(logprobs, old, advantages, mask, 0.2)[0].backward()
    assert logprobs.grad.tolist()[0] == approx([0.0, -0.5 / 3, 1.1 / 3])


def test_clipped_value_loss_by_hand():
    values, old, returns, mask = t([1.0, 0.6]), t([0.5, 0.5]), t([2.0, 0.0]), torch.ones(1, 2)
    # tok0: V_clip = 0.5 + 0.2 = 0.7 → max((1−2)², (0.7−2)²) = 1.69 (clipped);  tok1: V_clip = 0.6 → 0.36 both
    loss, clipfrac = clipped_value_loss(values, old, returns, mask, clip_range=0.2)
    assert loss.item() == approx(0.5 * (1.69 + 0.36) / 2)
    assert clipfrac.item() == approx(0.5)


def test_running_score_moments_and_normalisation_by_hand():
    # first batch [1, 2, 3]: mean 2, population variance 2/3
    assert update_moments(0.0, 1.0, 0, torch.tensor([1.0, 2.0, 3.0])) == approx((2.0, 2 / 3, 3))
    # then [5]: the moments of [1, 2, 3, 5] — mean 2.75, Σ(x − 2.75)² = 3.0625 + 0.5625 + 0.0625 + 5.0625 = 8.75
    moments = RunningMoments()
    moments.update(torch.tensor([1.0, 2.0, 3.0]))
    moments.update(torch.tensor([5.0]))
    assert (moments.mean, moments.var, moments.count) == approx((2.75, 8.75 / 4, 4))
    assert update_moments(2.75, 2.1875, 4, torch.tensor([])) == (2.75, 2.1875, 4)  # an empty batch changes nothing
    # std √2.1875 = 1.479020: 2.75 → 0, 5 → 2.25 / 1.479020 = 1.521278, 1 → −1.183216
    assert normalize_scores(torch.tensor([2.75, 5.0, 1.0]), 2.75, 2.1875).tolist() == approx([0.0, 1.521278, -1.183216])
    restored = RunningMoments()
    restored.load_state_dict(moments.state_dict())
    assert restored.state_dict() == {"mean": 2.75, "var": 2.1875, "count": 4}


def test_kl_log_ratio_clamp_by_hand():
    logprobs, ref = t([3.0, -3.0, 0.5]), torch.zeros(1, 3)
    assert kl_estimate(logprobs, ref, "k1", log_ratio_clip=1.0).tolist()[0] == approx([1.0, -1.0, 0.5])
    # k3 = e^(−l) − 1 + l on the clamped l: l=1 → 0.367879; l=−1 → 0.718282; l=0.5 → 0.106531 (unclamped l=3: 2.0498)
    assert kl_estimate(logprobs, ref, "k3", log_ratio_clip=1.0).tolist()[0] == approx([0.367879, 0.718282, 0.106531])
    assert kl_estimate(logprobs, ref, "k3").tolist()[0][0] == approx(2.049787)


def test_policy_log_ratio_clamp_by_hand():
    # log-ratios 2 and 0.1 with clamp 0.5: ρ = e^0.5 = 1.648721 and e^0.1 = 1.105171; A = −1, ε = 10 (no PPO clip)
    logprobs, old, advantages, mask = t([2.0, 0.1]), torch.zeros(1, 2), t([-1.0, -1.0]), torch.ones(1, 2)
    loss, _, approx_kl = clipped_policy_loss(logprobs, old, advantages, mask, clip_range=10.0, log_ratio_clip=0.5)
    assert loss.item() == approx((1.648721 + 1.105171) / 2)
    assert approx_kl.item() == approx(0.5 * (4.0 + 0.01) / 2)  # diagnostics use the unclamped log-ratio
    # no gradient through the clamped token: d/dl of ρ/2 = 0 for l=2, e^0.1 / 2 = 0.552585 for l=0.1
    logprobs.requires_grad_(True)
    clipped_policy_loss(logprobs, old, advantages, mask, 10.0, log_ratio_clip=0.5)[0].backward()
    assert logprobs.grad.tolist()[0] == approx([0.0, 0.552585])


def test_token_level_loss_weighs_every_token_alike_by_hand():
    # micro-batch 1: one response token with loss 3; micro-batch 2: three tokens with loss 1 (masked garbage: 100)
    losses_1, mask_1 = t([3.0, 100.0, 100.0]), t([1, 0, 0])
    losses_2, mask_2 = t([1.0, 1.0, 1.0]), t([1, 1, 1])
    # mean of per-micro-batch means: (3 + 1) / 2 = 2; the short answer's token weighs 3× the others
    assert (masked_token_loss(losses_1, mask_1) + masked_token_loss(losses_2, mask_2)).item() / 2 == approx(2.0)
    # token-level: (3 + 1 + 1 + 1) / 4 = 1.5, split over the micro-batches as 3/4 + 3/4 with the rollout's count 4
    total = masked_token_loss(losses_1, mask_1, token_count=4) + masked_token_loss(losses_2, mask_2, token_count=4)
    assert total.item() == approx(1.5)
    # the policy and value losses use it: value loss ½·(V − R)² summed / 4
    values, returns = t([1.0, 2.0, 0.0]), t([0.0, 0.0, 0.0])
    assert clipped_value_loss(values, values, returns, t([1, 1, 0]), 0.2, token_count=4)[0].item() == approx(
        0.5 * (1.0 + 4.0) / 4
    )


def test_explained_variance_by_hand():
    returns, mask = t([1.0, 2.0, 3.0, 50.0]), t([1, 1, 1, 0])
    assert explained_variance(t([1.0, 2.0, 3.0, 0.0]), returns, mask).item() == approx(1.0)
    assert explained_variance(t([2.0, 2.0, 2.0, 0.0]), returns, mask).item() == approx(0.0)
    # residuals (0, 0, −1): variance 2/9; Var(R) = 2/3 → 1 − 1/3
    assert explained_variance(t([1.0, 2.0, 4.0, 0.0]), returns, mask).item() == approx(2 / 3)


def test_response_mask_stops_after_first_stop_token():
    responses = torch.tensor([[5, 7, 2, 9], [5, 5, 5, 5], [2, 3, 8, 3], [4, 8, 2, 2]])
    mask, ended = response_mask(responses, [2, 8])
    assert mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]]
    assert ended.tolist() == [True, False, True, True]


def test_kl_controllers_by_hand():
    controller = AdaptiveKLController(0.1, target=6.0, horizon=100)
    controller.update(9.0, n_steps=10)  # error clipped to +0.2 → ×(1 + 0.2·10/100)
    assert controller.value == approx(0.102)
    controller.update(3.0, n_steps=10)  # −0.5 clipped to −0.2 → ×0.98
    assert controller.value == approx(0.102 * 0.98)
    controller.update(6.6, n_steps=50)  # +0.1 → ×1.05
    assert controller.value == approx(0.102 * 0.98 * 1.05)
    restored = AdaptiveKLController(0.5, 6.0, 100)
    restored.load_state_dict(controller.state_dict())
    assert restored.value == controller.value
    fixed = FixedKLController(0.05)
    fixed.update(100.0, 10)
    assert fixed.value == 0.05


def test_batched_left_padded_rollout_matches_one_prompt_at_a_time(tiny_model_dir):
    """Log-probs and values of a left-padded batch equal those of each sequence alone (position ids follow the
    attention mask), and the response mask ends at the stop token."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    policy = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    torch.manual_seed(0)
    critic = TokenValueModel(AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)).eval()
    queries = [
        encode_prompt(tokenizer, p, None)
        for p in ["Buğday ne zaman ekilir?", "Toprak analizi neden önemlidir, hangi aralıklarla yapılmalıdır?"]
    ]
    assert len(queries[0]) != len(queries[1])
    config = generation_config(PPOArguments(max_new_tokens=12), tokenizer)
    torch.manual_seed(0)
    query, query_mask, response, resp_mask = generate(policy, tokenizer, queries, config, 2, "cpu")
    assert query_mask[0, 0] == 0 and query_mask[1].all()  # left padding
    inputs = prompt_response_batch(query, query_mask, response, resp_mask)
    with torch.no_grad():
        batched = logprobs_from_logits(response_logits(policy, inputs, query.shape[1], 0.7), response)
        batched_values = critic(**inputs)[:, query.shape[1] - 1 : -1]
        for row in range(2):
            length = int(resp_mask[row].sum())
            ids = torch.tensor([queries[row] + response[row, :length].tolist()])
            alone = {
                "input_ids": ids,
                "attention_mask": torch.ones_like(ids),
                "position_ids": torch.arange(ids.shape[1]).unsqueeze(0),
            }
            single = logprobs_from_logits(
                response_logits(policy, alone, len(queries[row]), 0.7), ids[:, len(queries[row]) :]
            )
            torch.testing.assert_close(batched[row, :length], single[0], atol=1e-4, rtol=1e-4)
            values = critic(**alone)[:, len(queries[row]) - 1 : -1]
            torch.testing.assert_close(batched_values[row, :length], values[0], atol=1e-4, rtol=1e-4)


def test_token_values_at_the_last_token_are_the_classifier_score(tiny_model_dir):
    """The critic initialised from the reward model starts out predicting the reward model's own score."""
    torch.manual_seed(0)
    classifier = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids = torch.tensor([tokenizer("Buğday ekimi ekimde yapılır.")["input_ids"]])
    inputs = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "position_ids": torch.arange(ids.shape[1])[None],
    }
    with torch.no_grad():
        values = TokenValueModel(classifier)(**inputs)
        score = classifier(input_ids=ids).logits[0, 0]
    assert values.shape == ids.shape
    assert values[0, -1].item() == approx(score.item(), abs=1e-5)
