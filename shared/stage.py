"""What the stage scripts share: their common arguments (each script's dataclass inherits `StageArguments`, so the
YAML keys and CLI flags are the same everywhere) and the end of every training stage in one place — tokenizer,
resolved config, compute report, TensorBoard scalars, rejects and the model card (main process only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.config import save_resolved_config
from shared.data import Rejects
from shared.generation import DEFAULT_SYSTEM_PROMPT
from shared.model_card import write_model_card
from shared.tensorboard import log_scalars
from shared.tracking import ComputeTracker


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
