"""Padded batches of token-id lists with explicit position ids.

Position ids follow the attention mask (each sequence starts at 0 whatever the padding), so a padded row
scores exactly like the unpadded sequence — on either padding side.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def padded_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, *, side: str = "left", device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    if side not in {"left", "right"}:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        span = slice(width - len(ids), width) if side == "left" else slice(0, len(ids))
        input_ids[row, span] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, span] = 1
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    return {
        "input_ids": input_ids.to(device),
        "attention_mask": attention_mask.to(device),
        "position_ids": position_ids.to(device),
    }
