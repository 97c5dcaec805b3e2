"""Padded batches of token-id lists with explicit position ids.

Position ids follow the attention mask (each sequence starts at 0 whatever the padding), so a padded row
scores exactly like the unpadded sequence — on either padding side, and for a left-padded prompt followed by a
right-padded response (`prompt_response_batch`, PPO's rollout and update).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """0, 1, 2, … over the attended tokens of each row (padding gets 0)."""
    return (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)


def padded_batch(
    sequences: Sequence[Sequence[int] | torch.Tensor],
    pad_id: int,
    *,
    side: str = "left",
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    if side not in {"left", "right"}:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        span = slice(width - len(ids), width) if side == "left" else slice(0, len(ids))
        input_ids[row, span] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask[row, span] = 1
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": attention_mask.to(device),
        "position_ids": position_ids(attention_mask).to(device),
    }


def prompt_response_batch(
    prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor, response_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Left-padded prompts joined to right-padded responses: one batch whose prompt width is the same in every
    row, so response token t sits at column `prompt_width + t` everywhere."""
    attention_mask = torch.cat([prompt_mask, response_mask], dim=1)
    return {
        "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
        "attention_mask": attention_mask,
        "position_ids": position_ids(attention_mask),
    }
