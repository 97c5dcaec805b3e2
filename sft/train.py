"""Supervised fine-tuning on Turkish agricultural conversations.

    accelerate launch --config_file configs/accelerate/cpu.yaml sft/train.py --config configs/sft/tiny.yaml
    accelerate launch --config_file configs/accelerate/single_gpu.yaml sft/train.py --config configs/sft/llama3_8b_lora.yaml

Recipe: config → data → model → TRL SFTTrainer → train → save (model/adapter, tokenizer, config, card) → evaluate.
Any YAML key can be overridden on the command line (`--learning_rate 1e-4`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from datasets import Dataset
from transformers import AutoTokenizer
from trl import ModelConfig, SFTConfig, SFTTrainer

from shared.checkpoints import resolve_resume
from shared.config import run_script
from shared.data import Rejects, load_sources, parse_sources, require_usable_rows, split_rows
from shared.generation import DEFAULT_SYSTEM_PROMPT, with_system_prompt
from shared.modeling import model_init_kwargs, peft_config, resolve_precision, save_trained, tensorboard_dir
from shared.speed import SpeedArguments, apply_speedups
from shared.stage import StageArguments, finish_stage
from shared.tensorboard import RankReportCallback, SampleAnswersCallback
from shared.tracking import ComputeTracker


@dataclass
class SFTScriptArguments(StageArguments, SpeedArguments):
    train_data: list[str] = field(
        default_factory=lambda: ["data/sft/train.jsonl"],
        metadata={"help": "files or Hub ids, optionally `path=weight` for a mixture"},
    )
    eval_data: list[str] = field(default_factory=list, metadata={"help": "validation sources; empty: split train"})
    validation_fraction: float = 0.05
    on_invalid: str = field(default="error", metadata={"help": "error | skip (skipped rows → rejects.jsonl)"})
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    system_prompt: str | None = field(default=DEFAULT_SYSTEM_PROMPT, metadata={"help": "added when a row has none"})
    sample_prompts: list[str] = field(
        default_factory=lambda: ["Buğday ne zaman ekilir?", "Domateste yaprak kıvrılması neden olur?"]
    )
    eval_config: str | None = field(default=None, metadata={"help": "configs/eval/*.yaml: domain eval at the end"})


def conversations(rows: list[dict], system_prompt: str | None, limit: int | None) -> Dataset:
    rows = rows[:limit] if limit else rows
    return Dataset.from_list([{"messages": with_system_prompt(row["messages"], system_prompt)} for row in rows])


def main(script_args: SFTScriptArguments, training_args: SFTConfig, model_args: ModelConfig) -> dict:
    training_args = resolve_precision(training_args)
    run_dir = tensorboard_dir(script_args.runs_dir, "sft", training_args.run_name or "sft")

    # Data
    rejects = Rejects()

    def load(specs: list[str]) -> list[dict]:
        return load_sources(
            parse_sources(specs, "sft"), on_invalid=script_args.on_invalid, rejects=rejects, seed=training_args.seed
        )

    train_rows = load(script_args.train_data)
    if script_args.eval_data:
        eval_rows = load(script_args.eval_data)
    else:
        train_rows, eval_rows = split_rows(train_rows, script_args.validation_fraction, seed=training_args.seed)
    require_usable_rows(
        train_rows,
        what="sft",
        sources=script_args.train_data,
        rejects=rejects,
        rejects_path=f"{training_args.output_dir}/rejects.jsonl",
    )
    train_dataset = conversations(train_rows, script_args.system_prompt, script_args.max_train_samples)
    eval_dataset = conversations(eval_rows, script_args.system_prompt, script_args.max_eval_samples)

    # Model
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if len(eval_dataset) else None,
        processing_class=tokenizer,
        peft_config=peft_config(model_args, top_layers=script_args.lora_top_layers),
        callbacks=[
            SampleAnswersCallback(tokenizer, script_args.sample_prompts, run_dir, script_args.system_prompt),
            RankReportCallback(training_args.output_dir),
        ],
    )

    apply_speedups(trainer, script_args)

    # Train
    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    with ComputeTracker(script_args.country_iso_code) as tracker:
        train_result = trainer.train(resume_from_checkpoint=resume)

    # Evaluate
    metrics = {"train_loss": train_result.training_loss, "train_runtime_s": train_result.metrics["train_runtime"]}
    if len(eval_dataset):
        eval_metrics = trainer.evaluate()
        metrics |= {"eval_loss": eval_metrics["eval_loss"], "eval_perplexity": math.exp(eval_metrics["eval_loss"])}

    # Save
    output_dir = training_args.output_dir
    save_trained(trainer, tokenizer, output_dir, script_args.merge_adapter and model_args.use_peft)
    if trainer.accelerator.is_main_process:
        if script_args.eval_config:
            from shared.eval.stage import evaluate_stage

            metrics |= evaluate_stage(output_dir, script_args.eval_config, run_dir)
        finish_stage(
            stage="sft",
            run_dir=run_dir,
            tokenizer=tokenizer,
            script_args=script_args,
            training_args=training_args,
            model_args=model_args,
            data=script_args.train_data,
            metrics=metrics,
            tracker=tracker,
            rejects=rejects,
            step=trainer.state.global_step,
            scalars={"eval/perplexity": metrics.get("eval_perplexity", float("nan"))},
        )
        trainer.accelerator.print(f"SFT done: {metrics} → {output_dir}, logs in {run_dir}")
    trainer.accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    run_script(main, SFTScriptArguments, SFTConfig, ModelConfig)
