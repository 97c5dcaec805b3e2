"""The end of every training stage, in one place: tokenizer, resolved config, compute report, TensorBoard
scalars, rejects and the model card (main process only)."""

from __future__ import annotations

from typing import Any

from shared.config import save_resolved_config
from shared.data import Rejects
from shared.model_card import write_model_card
from shared.tensorboard import log_scalars
from shared.tracking import ComputeTracker


def finish_stage(
    *,
    stage: str,
    output_dir: str,
    run_dir: str,
    tokenizer,
    configs: tuple[Any, ...],
    training_args,
    model_args,
    data: list[str],
    metrics: dict[str, float],
    tracker: ComputeTracker,
    rejects: Rejects,
    step: int,
    notes: list[str] | None = None,
    scalar_prefix: str = "final",
) -> None:
    tokenizer.save_pretrained(output_dir)
    tracker.write(output_dir)
    save_resolved_config(output_dir, *configs)
    if rejects.rows:
        rejects.write(f"{output_dir}/rejects.jsonl")
    numeric = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    log_scalars(run_dir, {f"{scalar_prefix}/{k}": v for k, v in numeric.items()} | tracker.report.scalars(), step)
    notes = list(notes or [])
    if rejects.rows:
        notes.append(f"rows skipped by policy, per step (see rejects.jsonl): {rejects.counts()}")
    write_model_card(
        output_dir,
        title=f"{stage.upper()}: {training_args.run_name}",
        stage=stage,
        base_model=model_args.model_name_or_path,
        data=data,
        training_args=training_args,
        model_args=model_args,
        metrics=metrics,
        compute=tracker.report.to_dict(),
        notes=notes,
    )
