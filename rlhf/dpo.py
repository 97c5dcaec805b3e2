"""Direct preference optimisation (DPO) from an SFT checkpoint, on TRL's DPOTrainer.

    accelerate launch --config_file configs/accelerate/cpu.yaml rlhf/dpo.py --config configs/rlhf/dpo_tiny.yaml

Recipe: config → preference pairs (seed file, app DPO export, Hub id, or a weighted mixture; ties and "both bad"
excluded) → policy (full, LoRA or QLoRA) → TRL DPOTrainer → train → save → evaluate.
With LoRA the reference model is the same weights with the adapter disabled: no second model in memory.
KTO, from unpaired good/bad labels, is its own recipe: rlhf/kto.py.
"""

from __future__ import annotations

from datasets import Dataset
from transformers import AutoTokenizer
from trl import DPOConfig, DPOTrainer, ModelConfig

from shared.checkpoints import resolve_resume
from shared.config import run_script
from shared.data import Rejects, dpo_rows, reject_overlong, require_usable_rows
from shared.modeling import model_init_kwargs, peft_config, resolve_precision, save_trained, tensorboard_dir
from shared.stage import PreferenceScriptArguments, finish_stage, reference_model_note
from shared.tensorboard import RankReportCallback
from shared.tracking import ComputeTracker


def build_trainer(
    script_args: PreferenceScriptArguments, training_args: DPOConfig, model_args: ModelConfig, rejects: Rejects
) -> DPOTrainer:
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)

    def load(specs: list[str], limit: int | None) -> Dataset:
        rows = dpo_rows(specs, script_args.on_invalid, rejects, training_args.seed)
        # the trainer would cut an over-long pair silently: to the rejects instead, counted
        rows = reject_overlong(rows, tokenizer, training_args.max_length, rejects)
        return Dataset.from_list(rows[:limit])

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
    return DPOTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config(model_args),
        callbacks=[RankReportCallback(training_args.output_dir)],
    )


def main(script_args: PreferenceScriptArguments, training_args: DPOConfig, model_args: ModelConfig) -> dict:
    training_args = resolve_precision(training_args)
    run_dir = tensorboard_dir(script_args.runs_dir, "dpo", training_args.run_name or "dpo")
    rejects = Rejects()
    trainer = build_trainer(script_args, training_args, model_args, rejects)

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
            stage="dpo",
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
        trainer.accelerator.print(f"DPO done: {metrics} → {output_dir}")
    trainer.accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    run_script(main, PreferenceScriptArguments, DPOConfig, ModelConfig)
