"""The PPO maths as small pure functions on tensors (no models, no state) — each one unit-tested by hand.

Shapes: `[batch, response_length]` for per-token quantities; `mask` is 1 for response tokens up to and including
the end-of-turn token and 0 after it (and for padding). Conventions follow Ziegler et al. (2019) / Stiennon et al.
(2020) as implemented in TRL's former PPOTrainer and torchtune's PPO recipe:

* reward per token = −β·KL_t, plus the sequence score on the last response token;
* GAE over response tokens only, values and rewards after the end are zero;
* advantages whitened over the masked tokens of the whole batch; returns are not whitened.

Reward-hacking guards (each off by default, each a config key of `rlhf.ppo_trainer.PPOArguments`): scores whitened
by running moments across steps (`RunningMoments`, `normalize_scores`) and clipped; the per-token log-ratio clamped
before the KL penalty (`kl_estimate(..., log_ratio_clip)`) and before the PPO ratio
(`clipped_policy_loss(..., log_ratio_clip)`); losses summed over tokens and divided by a token count fixed for the
whole rollout (`masked_token_loss(..., token_count)`) instead of a mean per micro-batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    mask = mask.to(values.dtype)
    if dim is None:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Population variance (divide by N) over the masked entries."""
    mean = masked_mean(values, mask)
    return masked_mean((values - mean) ** 2, mask)


def masked_token_loss(losses: torch.Tensor, mask: torch.Tensor, token_count: float | None = None) -> torch.Tensor:
    """Per-token losses → one loss. `token_count` None: the mean over this micro-batch's tokens (each micro-batch
    weighs the same, whatever its length). A number: Σ losses / token_count, with one count for every micro-batch
    of the rollout, so that every response token weighs the same ("token-level" averaging, as DAPO and TRL's GRPO
    `loss_type="dapo"`)."""
    if token_count is None:
        return masked_mean(losses, mask)
    return (losses * mask.to(losses.dtype)).sum() / token_count


def whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """(x − mean) / std over masked entries; masked-out entries come back as 0. `shift_mean=False` keeps the mean."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask.to(values.dtype)


def logprobs_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(label) per position: logits `[B, T, V]`, labels `[B, T]` → `[B, T]` (float32 for stable ratios)."""
    logprobs = F.log_softmax(logits.float(), dim=-1)
    return torch.gather(logprobs, 2, labels.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution per position: logsumexp(z) − Σ softmax(z)·z."""
    logits = logits.float()
    return torch.logsumexp(logits, dim=-1) - (F.softmax(logits, dim=-1) * logits).sum(-1)


def kl_estimate(
    logprobs: torch.Tensor, ref_logprobs: torch.Tensor, kind: str = "k1", log_ratio_clip: float | None = None
) -> torch.Tensor:
    """Per-token KL(π‖π_ref) estimators from samples of π (Schulman, "Approximating KL divergence", 2020).

    k1 = log π − log π_ref (unbiased, can be negative); k3 = (r − 1) − log r with r = π_ref/π (unbiased, ≥ 0).
    `log_ratio_clip` c clamps log π − log π_ref to [−c, c] first, so a few tokens where the policy has drifted far
    (k3 grows exponentially in them) cannot dominate the penalty.
    """
    log_ratio = logprobs - ref_logprobs
    if log_ratio_clip is not None:
        log_ratio = log_ratio.clamp(-log_ratio_clip, log_ratio_clip)
    if kind == "k1":
        return log_ratio
    if kind == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {kind!r} (use k1 or k3)")


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last 1 in each row of a response mask (0 for an empty row)."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), positions, torch.zeros_like(positions)).max(dim=1).values


def per_token_rewards(
    scores: torch.Tensor, kl: torch.Tensor, kl_coef: float, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rewards `[B, T]`: −kl_coef·KL on every response token, plus the sequence score on its last token.

    Returns (rewards, non_score_rewards); both are 0 where `mask` is 0.
    """
    mask = mask.to(kl.dtype)
    non_score = -kl_coef * kl * mask
    rewards = non_score.clone()
    rows = torch.arange(scores.shape[0], device=scores.device)
    rewards[rows, last_token_index(mask)] += scores.to(rewards.dtype)
    return rewards, non_score


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al., 2016) over response tokens.

    δ_t = r_t + γ·V_{t+1} − V_t,  A_t = δ_t + γλ·A_{t+1}; V and A are 0 beyond the last response token.
    Returns (advantages, returns = advantages + values), both 0 where `mask` is 0.
    """
    mask = mask.to(values.dtype)
    values, rewards = values * mask, rewards * mask
    advantages = torch.zeros_like(values)
    last = torch.zeros_like(values[:, 0])
    length = values.shape[1]
    for t in reversed(range(length)):
        next_value = values[:, t + 1] if t + 1 < length else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = (delta + gamma * lam * last) * mask[:, t]
        advantages[:, t] = last
    return advantages, (advantages + values) * mask


def clipped_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
    log_ratio_clip: float | None = None,
    token_count: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO-clip: mean over tokens of max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)), ρ = exp(logπ − logπ_old).

    `log_ratio_clip` c computes ρ from log π − log π_old clamped to [−c, c] (no overflow, no gradient beyond it);
    `token_count`: see `masked_token_loss`. Returns (loss, clipfrac = share of tokens where the clipped term is the
    larger one, approx_kl = ½·mean(Δlogp²) of the unclamped log-ratio).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio if log_ratio_clip is None else log_ratio.clamp(-log_ratio_clip, log_ratio_clip))
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_range, 1.0 + clip_range)
    loss = masked_token_loss(torch.maximum(unclipped, clipped), mask, token_count)
    clipfrac = masked_mean((clipped > unclipped).float(), mask)
    approx_kl = 0.5 * masked_mean(log_ratio**2, mask)
    return loss, clipfrac.detach(), approx_kl.detach()


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
    token_count: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """½·mean over tokens of max((V − R)², (V_clipped − R)²), V_clipped = V_old + clip(V − V_old, ±ε).

    `token_count`: see `masked_token_loss`. Returns (loss, clipfrac = share of tokens where the clipped error is the
    larger one).
    """
    clipped_values = old_values + torch.clamp(values - old_values, -clip_range, clip_range)
    unclipped_error, clipped_error = (values - returns) ** 2, (clipped_values - returns) ** 2
    loss = 0.5 * masked_token_loss(torch.maximum(unclipped_error, clipped_error), mask, token_count)
    clipfrac = masked_mean((clipped_error > unclipped_error).float(), mask)
    return loss, clipfrac.detach()


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 − Var(R − V) / Var(R) over masked tokens: 1 is a perfect critic, 0 no better than a constant."""
    var_returns = masked_var(returns, mask)
    return 1.0 - masked_var(returns - values, mask) / var_returns.clamp(min=1e-8)


def response_mask(responses: torch.Tensor, stop_token_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask of response tokens up to and including the first stop token; and whether each row has one."""
    is_stop = torch.isin(responses, torch.tensor(stop_token_ids, device=responses.device))
    # number of stop tokens strictly before position t; a token is kept while none came before it
    before = torch.cumsum(is_stop.long(), dim=1) - is_stop.long()
    return (before == 0).long(), is_stop.any(dim=1)


def update_moments(mean: float, var: float, count: int, batch: torch.Tensor) -> tuple[float, float, int]:
    """Running mean and population variance of every value seen so far, updated with a batch (the exact parallel
    combination of Chan et al., 1979 — not an exponential average). Returns (mean, var, count)."""
    n = batch.numel()
    if n == 0:
        return mean, var, count
    batch = batch.double()
    batch_mean, batch_var = float(batch.mean()), float(batch.var(unbiased=False))
    total = count + n
    delta = batch_mean - mean
    m2 = var * count + batch_var * n + delta**2 * count * n / total
    return mean + delta * n / total, m2 / total, total


def normalize_scores(scores: torch.Tensor, mean: float, var: float, eps: float = 1e-8) -> torch.Tensor:
    """(score − running mean) / running std: the reward's scale stays ~1 whatever the reward model's."""
    return (scores - mean) / (var + eps) ** 0.5


class RunningMoments:
    """Mean and variance of the scores of every step so far (reward normalisation across steps)."""

    def __init__(self):
        self.mean, self.var, self.count = 0.0, 1.0, 0

    def update(self, batch: torch.Tensor) -> None:
        self.mean, self.var, self.count = update_moments(self.mean, self.var, self.count, batch)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.var, self.count = state["mean"], state["var"], state["count"]


class AdaptiveKLController:
    """Adaptive KL coefficient (Ziegler et al., 2019): β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon)."""

    def __init__(self, init_kl_coef: float, target: float, horizon: float):
        self.value, self.target, self.horizon = init_kl_coef, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_steps / self.horizon

    def state_dict(self) -> dict:
        return {"type": "adaptive", "value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]


class FixedKLController:
    def __init__(self, kl_coef: float):
        self.value = kl_coef

    def update(self, current_kl: float, n_steps: int) -> None:
        pass

    def state_dict(self) -> dict:
        return {"type": "fixed", "value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]
