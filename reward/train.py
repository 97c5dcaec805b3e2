"""Reward model from agronomists' pairwise preferences (Bradley-Terry), on TRL's RewardTrainer.

    accelerate launch --config_file configs/accelerate/cpu.yaml reward/train.py --config configs/reward/tiny.yaml

Recipe: config → preference data (seed file, app export, Hub id or a weighted mixture) → sequence-classification
model with one output, initialised from a causal LM → train → save a self-contained model → held-out metrics.
With LoRA the score head is trained in full (`modules_to_save`), and by default the adapter is merged so the
output directory is a plain `AutoModelForSequenceClassification`; `merge_adapter: false` keeps adapter + head.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset
from transformers import AutoTokenizer
from trl import ModelConfig, RewardConfig, RewardTrainer

from shared.checkpoints import resolve_resume
from shared.config import run_script
from shared.data import Rejects, is_critical_safety, preference_rows, require_usable_rows
from shared.modeling import (
    model_init_kwargs,
    peft_config,
    resolve_precision,
    save_trained,
    tensorboard_dir,
    upcast_on_cpu,
)
from shared.preference_metrics import check_reload, preference_metrics
from shared.reward_model import RewardScorer, reward_conversation
from shared.stage import StageArguments, finish_stage
from shared.tensorboard import RankReportCallback
from shared.tracking import ComputeTracker


@dataclass
class RewardScriptArguments(StageArguments):
    train_data: list[str] = field(
        default_factory=lambda: ["data/preferences/train.jsonl"],
        metadata={"help": "files/Hub ids (`path=weight` for a mixture): seed + app exports"},
    )
    eval_data: list[str] = field(default_factory=lambda: ["data/preferences/test.jsonl"])
    on_invalid: str = "error"
    use_strength_margin: bool = field(default=False, metadata={"help": "margin = margin_scale × strength"})
    margin_scale: float = 0.5
    safety_weight: int = field(default=1, metadata={"help": "repeat critical-safety pairs this many times"})
    max_train_samples: int | None = None
    merge_adapter: bool = field(default=True, metadata={"help": "LoRA: save adapter + score head merged (plain model)"})
    reload_check_pairs: int = field(
        default=16, metadata={"help": "held-out pairs scored before saving and after reloading (must match)"}
    )


def preference_dataset(
    rows: list[dict], tokenizer, max_length: int | None, rejects: Rejects, args: RewardScriptArguments
) -> Dataset:
    """Conversational pairs for RewardTrainer. Pairs over max_length go to rejects (the trainer would drop
    them silently)."""
    records = []
    for row in rows:
        chosen, rejected = (
            reward_conversation(row["prompt"], row["chosen"]),
            reward_conversation(row["prompt"], row["rejected"]),
        )
        longest = max(
            len(tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"])
            for c in (chosen, rejected)
        )
        if max_length and longest > max_length:
            rejects.add(row, "max_length", f"{longest} tokens > max_length {max_length}")
            continue
        record = {"prompt": chosen[:1], "chosen": chosen[1:], "rejected": rejected[1:]}
        if args.use_strength_margin:
            record["margin"] = args.margin_scale * row.get("strength", 1)
        records.extend([record] * (args.safety_weight if is_critical_safety(row) else 1))
    return Dataset.from_list(records)


def main(script_args: RewardScriptArguments, training_args: RewardConfig, model_args: ModelConfig) -> dict:
    training_args = resolve_precision(training_args)
    run_dir = tensorboard_dir(script_args.runs_dir, "reward", training_args.run_name or "reward")

    # Data
    rejects = Rejects()

    train_rows, eval_rows = (
        preference_rows(specs, script_args.on_invalid, rejects, training_args.seed)
        for specs in (script_args.train_data, script_args.eval_data)
    )
    train_rows = train_rows[: script_args.max_train_samples] if script_args.max_train_samples else train_rows
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    train_dataset = preference_dataset(train_rows, tokenizer, training_args.max_length, rejects, script_args)
    require_usable_rows(
        train_dataset,
        what="preference",
        sources=script_args.train_data,
        rejects=rejects,
        rejects_path=f"{training_args.output_dir}/rejects.jsonl",
    )

    # Model: a one-output classifier on top of the causal LM; with LoRA the new score head is fully trained.
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    lora = peft_config(model_args, task_type="SEQ_CLS")
    if lora is not None:
        lora.modules_to_save = sorted(set(lora.modules_to_save or []) | {"score"})
    trainer = RewardTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[RankReportCallback(training_args.output_dir)],
    )

    # Train
    with ComputeTracker(script_args.country_iso_code) as tracker:
        train_result = trainer.train(
            resume_from_checkpoint=resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
        )

    # Scores of a few held-out pairs from the in-memory model, before saving (merging changes the module in place):
    # the reloaded model must give the same. A few pairs catch a lost adapter or score head; scoring every pair twice
    # cost more than training a real-model reward model on CPU.
    prompts = [r["prompt"] for r in eval_rows]
    responses = [r["chosen"] for r in eval_rows] + [r["rejected"] for r in eval_rows]
    check_rows = eval_rows[: script_args.reload_check_pairs]
    check_prompts = [r["prompt"] for r in check_rows]
    check_responses = [r["chosen"] for r in check_rows] + [r["rejected"] for r in check_rows]
    # keep_fp32_wrapper=False: otherwise forward still runs under the bf16 autocast of mixed-precision training.
    # Upcast first (CPU, bf16 base): the merge is done in float32, and the check below compares like with like.
    model = upcast_on_cpu(trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False))
    in_memory = RewardScorer.from_model(model, tokenizer, training_args.max_length).score(
        check_prompts * 2, check_responses
    )

    # Save a self-contained model
    output_dir = training_args.output_dir
    save_trained(trainer, tokenizer, output_dir, lora is not None and script_args.merge_adapter)
    trainer.accelerator.wait_for_everyone()

    # Evaluate the saved model on held-out pairs (this also proves it reloads)
    metrics = {"train_loss": train_result.training_loss}
    if trainer.accelerator.is_main_process:
        tokenizer.save_pretrained(output_dir)
        reloaded = RewardScorer(output_dir, max_length=training_args.max_length).score(prompts * 2, responses)
        n = len(prompts)
        check_reload(in_memory, reloaded[: len(check_rows)] + reloaded[n : n + len(check_rows)], output_dir)
        chosen, rejected = reloaded[: len(prompts)], reloaded[len(prompts) :]
        groups = {"defect": [r.get("defect") for r in eval_rows], "category": [r.get("category") for r in eval_rows]}
        metrics |= preference_metrics(chosen, rejected, groups)
        finish_stage(
            stage="reward",
            title="Reward model",
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
            notes=[
                f"held-out: {script_args.eval_data}",
                "load with AutoModelForSequenceClassification (num_labels=1) or shared.reward_model.RewardScorer",
            ],
            scalars={f"heldout/{k}": v for k, v in metrics.items()},
        )
        trainer.accelerator.print(
            f"reward model: held-out accuracy {metrics['accuracy']:.3f}, ECE {metrics['ece']:.3f} → {output_dir}"
        )
    trainer.accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    run_script(main, RewardScriptArguments, RewardConfig, ModelConfig)
