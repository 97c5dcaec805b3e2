"""Resuming: find the newest checkpoint that was written completely.

A run killed while saving leaves a `checkpoint-N` folder with missing or truncated files; Transformers'
`resume_from_checkpoint=True` would pick it (by number) and crash. We pick the newest one whose trainer state
parses and whose weights exist. Two kinds of checkpoint are known: the Transformers Trainer's (model or adapter
weights, or an FSDP shard folder) and our PPO loop's (`PPO_FILES`: trainable weights of policy and critic and
both optimizers).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
PPO_FILES = ("policy_trainable.pt", "value_trainable.pt", "optimizers.pt")


def is_complete(checkpoint: str | Path) -> bool:
    """trainer_state.json parses, and the weights of a Trainer checkpoint or every file of a PPO one exist."""
    checkpoint = Path(checkpoint)
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    trainer = any((checkpoint / name).is_file() for name in _WEIGHTS) or (checkpoint / "pytorch_model_fsdp_0").exists()
    return trainer or all((checkpoint / name).is_file() for name in PPO_FILES)


def latest_complete_checkpoint(output_dir: str | Path) -> str | None:
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and _CHECKPOINT.match(p.name)]
    for folder in sorted(folders, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)), reverse=True):
        if is_complete(folder):
            return str(folder)
        logger.warning("skipping incomplete checkpoint %s (interrupted while saving?)", folder)
    return None


def resolve_resume(value: str | bool | None, output_dir: str | Path) -> str | None:
    """`true` (or `latest`) → the newest complete checkpoint in output_dir (error if none); a path → itself;
    else None."""
    if value is None or str(value).lower() in {"", "false", "none"}:
        return None
    if str(value).lower() in {"true", "latest"}:
        checkpoint = latest_complete_checkpoint(output_dir)
        if checkpoint is None:
            raise SystemExit(f"--resume_from_checkpoint true: no complete checkpoint in {output_dir}")
        return checkpoint
    return str(value)
