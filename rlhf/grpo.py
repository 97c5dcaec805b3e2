"""GRPO (group-relative policy optimisation) from an SFT checkpoint, on TRL's GRPOTrainer.

    accelerate launch --config_file configs/accelerate/cpu.yaml rlhf/grpo.py --config configs/rlhf/grpo_tiny.yaml

Recipe: config → prompts (annotation prompts or the SFT set's user turns, chat-formatted) → reward functions (the
reward model and optional rule terms from `rlhf.rewards`, one TRL `reward_funcs` entry each, weighted by
`reward_terms`) → policy (full or LoRA; with LoRA and beta > 0 the reference is the adapter-disabled policy) →
GRPOTrainer → save → model card. No value model: each prompt's `num_generations` answers are each other's baseline.
TensorBoard: `<runs_dir>/grpo/<run_name>/` (per-term rewards under `rewards/<term>/mean`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from datasets import Dataset
from transformers import AutoTokenizer
from trl import GRPOConfig, GRPOTrainer, ModelConfig

from rlhf.rewards import EnsembleScorer, RewardArguments, overlong_penalty, parse_reward_terms, rule_reward
from shared.checkpoints import resolve_resume
from shared.config import optional_value, run_script
from shared.data import load_prompts
from shared.eval.judge_callback import JudgeCurveArguments, judge_curve_callbacks
from shared.generation import chat_messages
from shared.modeling import model_init_kwargs, peft_config, resolve_precision, save_trained, tensorboard_dir
from shared.stage import PromptStageArguments, finish_stage
from shared.tensorboard import RankReportCallback
from shared.tracking import ComputeTracker


@dataclass
class GRPOScriptArguments(RewardArguments, PromptStageArguments, JudgeCurveArguments):
    """Prompts and stage settings (`PromptStageArguments`), the reward terms (`RewardArguments`) and the
    proxy/gold judge curve (`JudgeCurveArguments`)."""


def message_text(value) -> str:
    """TRL passes conversational prompts/completions as message lists: the last message's text; strings as is."""
    if isinstance(value, str):
        return value
    return value[-1]["content"] if value else ""


def user_text(prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else message_text(prompt)


def rule_scores(rule, prompts: list[str], completions: list[str]) -> list[float]:
    return [rule(text) for text in completions]


class TextReward:
    """A TRL reward function (prompts, completions, **kwargs) → list[float] over plain texts; `__name__` is the
    term's name, so TRL logs it as `rewards/<name>/mean`."""

    def __init__(self, name: str, score):
        self.__name__ = name.replace(":", "_")
        self.score = score  # (prompt_texts, completion_texts) → list[float]

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        return list(self.score([user_text(p) for p in prompts], [message_text(c).strip() for c in completions]))


def build_reward_funcs(
    script_args: GRPOScriptArguments, device: str | None = None, max_completion_length: int | None = None
) -> tuple[list, list[float]]:
    funcs, weights = [], []
    for name, weight in parse_reward_terms(script_args.reward_terms).items():
        if name == "reward_model":
            if not script_args.reward_model:
                raise SystemExit("reward_terms has reward_model but no --reward_model path is set")
            scorer = EnsembleScorer(  # several paths: mean − ensemble_std_coef·std across them
                script_args.reward_model,
                script_args.ensemble_std_coef,
                device=device,
                max_length=script_args.reward_max_length,
            )
            score = partial(scorer.score, batch_size=script_args.reward_batch_size)
        elif name == "overlong":  # TRL's soft overlong punishment reads `completion_ids`
            funcs.append(overlong_penalty(max_completion_length or 0, script_args.overlong_buffer))
            weights.append(weight)
            continue
        else:
            try:
                rule = rule_reward(name)
            except ValueError as error:
                raise SystemExit(str(error)) from None
            score = partial(rule_scores, rule)
        funcs.append(TextReward(name, score))
        weights.append(weight)
    return funcs, weights


def reward_history(log_history: list[dict]) -> list[float]:
    return [entry["reward"] for entry in log_history if "reward" in entry]


def main(script_args: GRPOScriptArguments, training_args: GRPOConfig, model_args: ModelConfig) -> dict:
    for name in ("system_prompt",):  # reward_model: a list, normalised by RewardArguments
        setattr(script_args, name, optional_value(getattr(script_args, name)))
    training_args = resolve_precision(training_args)
    run_dir = tensorboard_dir(script_args.runs_dir, "grpo", training_args.run_name or "grpo")

    from accelerate import PartialState

    prompts = load_prompts(script_args.prompt_data, script_args.max_prompts)
    dataset = Dataset.from_list([{"prompt": chat_messages(p, script_args.system_prompt)} for p in prompts])
    reward_funcs, weights = build_reward_funcs(
        script_args, str(PartialState().device), training_args.max_completion_length
    )
    if training_args.reward_weights is None:
        training_args.reward_weights = weights
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    trainer = GRPOTrainer(
        model=model_args.model_name_or_path,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(model_args),
        callbacks=[RankReportCallback(training_args.output_dir)],
    )
    for callback in judge_curve_callbacks(
        script_args,
        tokenizer,
        proxy=script_args.reward_model,
        output_dir=training_args.output_dir,
        run_dir=run_dir,
        system_prompt=script_args.system_prompt,
    ):
        trainer.add_callback(callback)  # proxy and gold RM scores over training: eval/proxy_score, eval/gold_score

    with ComputeTracker(script_args.country_iso_code) as tracker:
        train_result = trainer.train(
            resume_from_checkpoint=resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
        )
    rewards = reward_history(trainer.state.log_history)
    metrics = {"train_loss": train_result.training_loss}
    if rewards:
        metrics |= {"reward_first_log": rewards[0], "reward_last_log": rewards[-1], "reward_max_log": max(rewards)}

    output_dir = training_args.output_dir
    save_trained(trainer, tokenizer, output_dir, script_args.merge_adapter and model_args.use_peft)
    if trainer.accelerator.is_main_process:
        Path(output_dir, "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
        reference = (
            "none (beta = 0)"
            if training_args.beta == 0
            else (
                "adapter-disabled policy (no second model)" if model_args.use_peft else "frozen copy of the SFT model"
            )
        )
        finish_stage(
            stage="grpo",
            run_dir=run_dir,
            tokenizer=tokenizer,
            script_args=script_args,
            training_args=training_args,
            model_args=model_args,
            data=script_args.prompt_data,
            metrics=metrics,
            tracker=tracker,
            step=trainer.state.global_step,
            notes=[
                f"reference model: {reference}",
                f"rewards: {', '.join(script_args.reward_terms)} (reward model: {script_args.reward_model})",
                f"{len(prompts)} prompts, {training_args.num_generations} answers per prompt",
            ],
        )
        trainer.accelerator.print(f"GRPO done: {metrics} → {output_dir}")
    trainer.accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    run_script(main, GRPOScriptArguments, GRPOConfig, ModelConfig)
