"""Resuming: find the newest checkpoint that was written completely.

A run killed while saving leaves a `checkpoint-N` folder with missing or truncated files; Transformers'
`resume_from_checkpoint=True` would pick it (by number) and crash. We pick the newest one whose trainer state
parses and whose weights exist.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def is_complete(checkpoint: Path) -> bool:
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return any((checkpoint / name).is_file() for name in _WEIGHTS) or (checkpoint / "pytorch_model_fsdp_0").exists()


def latest_complete_checkpoint(output_dir: str | Path) -> str | None:
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and _CHECKPOINT.match(p.name)]
    for folder in sorted(folders, key=lambda p: int(_CHECKPOINT.match(p.name).group(1)), reverse=True):
        if is_complete(folder):
            return str(folder)
        logger.warning("skipping incomplete checkpoint %s (interrupted while saving?)", folder)
    return None


def resolve_resume(value: str | bool | None, output_dir: str | Path) -> str | None:
    """`true` → the newest complete checkpoint in output_dir (error if none); a path → itself; else None."""
    if value is None or str(value).lower() in {"", "false", "none"}:
        return None
    if str(value).lower() == "true":
        checkpoint = latest_complete_checkpoint(output_dir)
        if checkpoint is None:
            raise SystemExit(f"--resume_from_checkpoint true: no complete checkpoint in {output_dir}")
        return checkpoint
    return str(value)
