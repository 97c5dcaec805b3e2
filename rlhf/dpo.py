"""Direct preference optimisation (DPO) — or KTO with `--method kto` — from an SFT checkpoint.

    accelerate launch --config_file configs/accelerate/cpu.yaml rlhf/dpo.py --config configs/rlhf/dpo_tiny.yaml
    accelerate launch --config_file configs/accelerate/cpu.yaml rlhf/dpo.py --config configs/rlhf/kto_tiny.yaml

Recipe: config → preference pairs (seed file, app DPO export, Hub id, or a weighted mixture; ties and "both bad"
excluded) → policy (full, LoRA or QLoRA) → TRL DPOTrainer / KTOTrainer → train → save → evaluate.
With LoRA the reference model is the same weights with the adapter disabled: no second model in memory.
KTO learns from unpaired good/bad labels (the app's KTO export), or from pairs split into a good and a bad row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset
from transformers import AutoTokenizer
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer, ModelConfig

from shared.checkpoints import resolve_resume
from shared.config import parse_config
from shared.data import Rejects, load_sources, parse_sources, to_conversational_preference, trainable_preferences
from shared.modeling import model_init_kwargs, peft_config, resolve_precision, save_trained, tensorboard_dir
from shared.stage import StageArguments, finish_stage
from shared.tensorboard import RankReportCallback
from shared.tracking import ComputeTracker


@dataclass
class PreferenceScriptArguments(StageArguments):
    method: str = field(default="dpo", metadata={"help": "dpo | kto"})
    train_data: list[str] = field(
        default_factory=lambda: ["data/preferences/train.jsonl"],
        metadata={"help": "preference pairs (or, for KTO, unpaired rows with `label`)"},
    )
    eval_data: list[str] = field(default_factory=lambda: ["data/preferences/test.jsonl"])
    on_invalid: str = "error"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    eval_config: str | None = None


def load_rows(specs: list[str], method: str, on_invalid: str, rejects: Rejects, seed: int) -> list[dict]:
    """Pairs for DPO; for KTO unpaired rows as they are, or pairs split into one good and one bad row."""
    first = parse_sources(specs[:1], "preference")[0].path
    schema = "kto" if method == "kto" and _looks_unpaired(first) else "preference"
    rows = load_sources(parse_sources(specs, schema), on_invalid=on_invalid, rejects=rejects, seed=seed)
    if schema == "kto":
        return [
            {
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "completion": [{"role": "assistant", "content": r["completion"]}],
                "label": r["label"],
            }
            for r in rows
        ]
    pairs = [to_conversational_preference(r) for r in trainable_preferences(rows, rejects)]
    if method == "dpo":
        return pairs
    return [
        {"prompt": p["prompt"], "completion": p[side], "label": side == "chosen"}
        for p in pairs
        for side in ("chosen", "rejected")
    ]


def _looks_unpaired(path: str) -> bool:
    from shared.data import read_rows

    first = next((row.data for row in read_rows(path) if row.data is not None), {})
    return "label" in first and "chosen" not in first


def build_trainer(script_args: PreferenceScriptArguments, training_args, model_args: ModelConfig, rejects: Rejects):
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)

    def load(specs: list[str], limit: int | None) -> Dataset:
        rows = load_rows(specs, script_args.method, script_args.on_invalid, rejects, training_args.seed)
        return Dataset.from_list(rows[:limit])

    train_dataset = load(script_args.train_data, script_args.max_train_samples)
    eval_dataset = load(script_args.eval_data, script_args.max_eval_samples) if script_args.eval_data else None
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    trainer_class = KTOTrainer if script_args.method == "kto" else DPOTrainer
    return trainer_class(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config(model_args),
        callbacks=[RankReportCallback(training_args.output_dir)],
    )


def main(script_args: PreferenceScriptArguments, training_args, model_args: ModelConfig) -> dict:
    training_args = resolve_precision(training_args)
    run_dir = tensorboard_dir(script_args.runs_dir, script_args.method, training_args.run_name or script_args.method)
    rejects = Rejects()
    trainer = build_trainer(script_args, training_args, model_args, rejects)
    reference = (
        "adapter-disabled policy (no second model)"
        if trainer.ref_model is None and model_args.use_peft
        else ("precomputed log-probs" if trainer.ref_model is None else "frozen copy of the SFT model")
    )

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
            stage=script_args.method,
            output_dir=output_dir,
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
            notes=[f"reference model: {reference}"],
        )
        trainer.accelerator.print(f"{script_args.method.upper()} done: {metrics} → {output_dir}")
    trainer.accelerator.wait_for_everyone()
    return metrics


def requested_method(argv: list[str]) -> str:
    """`--method` from the command line, else from the YAML, else dpo — it decides the TRL config class."""
    import yaml

    if "--method" in argv:
        return argv[argv.index("--method") + 1]
    if "--config" in argv:
        with open(argv[argv.index("--config") + 1], encoding="utf-8") as handle:
            return (yaml.safe_load(handle) or {}).get("method", "dpo")
    return "dpo"


if __name__ == "__main__":
    import sys

    method = requested_method(sys.argv[1:])
    if method not in {"dpo", "kto"}:
        raise SystemExit(f"--method must be dpo or kto, got {method!r}")
    main(*parse_config(PreferenceScriptArguments, KTOConfig if method == "kto" else DPOConfig, ModelConfig))
