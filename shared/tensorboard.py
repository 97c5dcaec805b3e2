"""TensorBoard helpers shared by the stages: extra scalars/text next to the trainer's own logs, and a callback
that writes a few generated Turkish answers at every evaluation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from transformers import TrainerCallback

from shared.generation import DecodingSettings, generate_answers


def log_scalars(run_dir: str, scalars: dict[str, float], step: int = 0) -> None:
    with SummaryWriter(run_dir) as writer:
        for tag, value in scalars.items():
            writer.add_scalar(tag, float(value), step)


def log_text(run_dir: str, tag: str, text: str, step: int = 0) -> None:
    with SummaryWriter(run_dir) as writer:
        writer.add_text(tag, text, step)


class SampleAnswersCallback(TrainerCallback):
    """At each evaluation, answer a few fixed prompts and log them as text (main process only)."""

    def __init__(
        self, tokenizer, prompts: list[str], run_dir: str, system_prompt: str | None = None, max_new_tokens: int = 48
    ):
        self.tokenizer, self.prompts, self.run_dir = tokenizer, prompts, run_dir
        self.system_prompt = system_prompt
        self.settings = DecodingSettings(max_new_tokens=max_new_tokens)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero or not self.prompts or model is None:
            return
        with torch.autocast(model.device.type, enabled=False):
            answers = generate_answers(
                model, self.tokenizer, self.prompts, settings=self.settings, system_prompt=self.system_prompt
            )
        table = "\n\n".join(f"**Soru:** {p}\n\n**Yanıt:** {a}" for p, a in zip(self.prompts, answers))
        log_text(self.run_dir, "samples/answers", table, state.global_step)


def write_rank_report(output_dir: str | Path, model, **counts) -> Path | None:
    """ranks/rank<i>.json for this process of a multi-process run: the world size (as the process group and as the
    launcher's WORLD_SIZE see it), the backend, what it trained (`counts`) and a checksum of its trainable weights.
    Every rank must report the same world size and counts and — under DDP — the same checksum."""
    env_world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if env_world_size < 2:
        return None
    distributed = torch.distributed.is_initialized()
    rank = torch.distributed.get_rank() if distributed else int(os.environ.get("RANK", "0"))
    checksum = float(sum(p.detach().float().sum() for p in model.parameters() if p.requires_grad))
    path = Path(output_dir) / "ranks" / f"rank{rank}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "rank": rank,
        "world_size": torch.distributed.get_world_size() if distributed else env_world_size,
        "env_world_size": env_world_size,
        "backend": torch.distributed.get_backend() if distributed else None,
        # torchrun's node rank (accelerate's --machine_rank) and the rank within the node
        "machine_rank": int(os.environ.get("GROUP_RANK", "0")),
        "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
        **counts,
        "trainable_checksum": checksum,
    }
    path.write_text(json.dumps(report))
    return path


class RankReportCallback(TrainerCallback):
    """Each process writes what it trained (`write_rank_report`) so multi-process runs are verifiable."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1

    def on_train_end(self, args, state, control, model=None, **kwargs):
        write_rank_report(self.output_dir, model, optimizer_steps=self.steps, global_step=state.global_step)
