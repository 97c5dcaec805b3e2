"""What the stage scripts share: their common arguments (each script's dataclass inherits `StageArguments`, so the
YAML keys and CLI flags are the same everywhere), the end of every training stage in one place — tokenizer,
resolved config, compute report, TensorBoard scalars, rejects and the model card (main process only) — and the
body of the offline preference recipes (rlhf/dpo.py, rlhf/kto.py), which differ only in trainer and rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset
from transformers import AutoTokenizer, Trainer
from trl import ModelConfig

from shared.checkpoints import resolve_resume
from shared.config import save_resolved_config
from shared.data import Rejects, reject_overlong, require_usable_rows
from shared.generation import DEFAULT_SYSTEM_PROMPT
from shared.model_card import write_model_card
from shared.modeling import model_init_kwargs, peft_config, resolve_precision, save_trained, tensorboard_dir
from shared.tensorboard import RankReportCallback, log_scalars
from shared.tracking import ComputeTracker

# dpo_rows or kto_rows (shared.data): (sources, on_invalid, rejects, seed) -> rows the trainer takes
PreferenceRows = Callable[[list[str], str, Rejects, int], list[dict[str, Any]]]


@dataclass
class StageArguments:
    """Every stage script's own arguments start with these (all have defaults, so subclasses' fields must too)."""

    runs_dir: str = field(default="runs", metadata={"help": "TensorBoard root: <runs_dir>/<stage>/<run_name>/"})
    country_iso_code: str = field(default="TUR", metadata={"help": "electricity mix for the CO2 estimate"})
    merge_adapter: bool = field(default=False, metadata={"help": "merge LoRA into the base and save a full model"})


@dataclass
class PreferenceScriptArguments(StageArguments):
    """The arguments of rlhf/dpo.py and rlhf/kto.py: offline preference optimisation from labelled data."""

    train_data: list[str] = field(
        default_factory=lambda: ["data/preferences/train.jsonl"],
        metadata={"help": "preference pairs (or, for KTO, unpaired rows with `label`)"},
    )
    eval_data: list[str] = field(default_factory=lambda: ["data/preferences/test.jsonl"])
    on_invalid: str = "error"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    eval_config: str | None = None


@dataclass
class PromptStageArguments(StageArguments):
    """Online RL, where the policy answers prompts: rlhf/ppo.py and rlhf/grpo.py."""

    prompt_data: list[str] = field(
        default_factory=lambda: ["data/prompts/annotation.jsonl"],
        metadata={"help": "rows with `prompt`, or SFT rows (`messages`: first user turn)"},
    )
    max_prompts: int | None = None
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT


def reference_model_note(ref_model, use_peft: bool) -> str:
    """How a TRL preference trainer holds its reference policy (for the model card)."""
    if ref_model is not None:
        return "frozen copy of the SFT model"
    return "adapter-disabled policy (no second model)" if use_peft else "precomputed log-probs"


def finish_stage(
    *,
    stage: str,
    run_dir: str,
    tokenizer,
    script_args,
    training_args,
    model_args,
    data: list[str],
    metrics: dict[str, float],
    tracker: ComputeTracker,
    step: int,
    rejects: Rejects | None = None,
    notes: list[str] | None = None,
    title: str | None = None,
    scalars: dict[str, float] | None = None,
) -> None:
    """Save everything but the weights into `training_args.output_dir`. `title` defaults to "<STAGE>: <run_name>";
    `scalars` (TensorBoard, next to the compute report's) default to every numeric metric under `final/`."""
    output_dir = training_args.output_dir
    rejects = rejects or Rejects()
    tokenizer.save_pretrained(output_dir)
    tracker.write(output_dir)
    save_resolved_config(output_dir, script_args, training_args, model_args)
    if rejects.rows:
        rejects.write(f"{output_dir}/rejects.jsonl")
    if scalars is None:
        scalars = {f"final/{k}": v for k, v in metrics.items() if isinstance(v, int | float)}
    log_scalars(run_dir, scalars | tracker.report.scalars(), step)
    notes = list(notes or [])
    if rejects.rows:
        notes.append(f"rows skipped by policy, per step (see rejects.jsonl): {rejects.counts()}")
    write_model_card(
        output_dir,
        title=f"{title or stage.upper()}: {training_args.run_name}",
        stage=stage,
        base_model=model_args.model_name_or_path,
        data=data,
        training_args=training_args,
        model_args=model_args,
        metrics=metrics,
        compute=tracker.report.to_dict(),
        notes=notes,
    )


def build_preference_trainer(
    trainer_class: type[Trainer],
    rows: PreferenceRows,
    script_args: PreferenceScriptArguments,
    training_args,
    model_args: ModelConfig,
    rejects: Rejects,
) -> Trainer:
    """A TRL preference trainer (DPOTrainer, KTOTrainer) on the rows `rows` reads; stops with one line, after writing
    the rejects, when no training row is left."""
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)

    def load(specs: list[str], limit: int | None) -> Dataset:
        loaded = rows(specs, script_args.on_invalid, rejects, training_args.seed)
        # the trainer would cut an over-long row silently: to the rejects instead, counted
        loaded = reject_overlong(loaded, tokenizer, training_args.max_length, rejects)
        return Dataset.from_list(loaded[:limit])

    train_dataset = load(script_args.train_data, script_args.max_train_samples)
    require_usable_rows(
        train_dataset,
        what="preference",
        sources=script_args.train_data,
        rejects=rejects,
        rejects_path=f"{training_args.output_dir}/rejects.jsonl",
    )
    eval_dataset = load(script_args.eval_data, script_args.max_eval_samples) if script_args.eval_data else None
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    return trainer_class(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config(model_args),
        callbacks=[RankReportCallback(training_args.output_dir)],
    )


def train_preference_stage(
    stage: str,
    trainer_class: type[Trainer],
    rows: PreferenceRows,
    script_args: PreferenceScriptArguments,
    training_args,
    model_args: ModelConfig,
) -> dict[str, float]:
    """The offline preference recipe: rows → policy → trainer → train (resumable) → evaluate → save (merged if
    asked) → stage evaluation (`eval_config`) → finish_stage. Returns the metrics."""
    training_args = resolve_precision(training_args)
    run_dir = tensorboard_dir(script_args.runs_dir, stage, training_args.run_name or stage)
    rejects = Rejects()
    trainer = build_preference_trainer(trainer_class, rows, script_args, training_args, model_args, rejects)

    with ComputeTracker(script_args.country_iso_code) as tracker:
        train_result = trainer.train(
            resume_from_checkpoint=resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
        )
    metrics = {"train_loss": train_result.training_loss}
    if trainer.eval_dataset is not None:
        metrics |= {k: v for k, v in trainer.evaluate().items() if k.startswith("eval_")}

    output_dir = training_args.output_dir
    save_trained(trainer, trainer.processing_class, output_dir, script_args.merge_adapter and model_args.use_peft)
    if trainer.accelerator.is_main_process:
        if script_args.eval_config:
            from shared.eval.stage import evaluate_stage

            metrics |= evaluate_stage(output_dir, script_args.eval_config, run_dir)
        finish_stage(
            stage=stage,
            run_dir=run_dir,
            tokenizer=trainer.processing_class,
            script_args=script_args,
            training_args=training_args,
            model_args=model_args,
            data=script_args.train_data,
            metrics=metrics,
            tracker=tracker,
            rejects=rejects,
            step=trainer.state.global_step,
            notes=[f"reference model: {reference_model_note(trainer.ref_model, model_args.use_peft)}"],
        )
        trainer.accelerator.print(f"{stage.upper()} done: {metrics} → {output_dir}")
    trainer.accelerator.wait_for_everyone()
    return metrics
