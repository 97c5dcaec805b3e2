"""PPO from an SFT checkpoint against the reward model (plus optional rule rewards) — our own loop on Accelerate.

    accelerate launch --config_file configs/accelerate/cpu.yaml rlhf/ppo.py --config configs/rlhf/ppo_tiny.yaml
    accelerate launch --config_file configs/accelerate/single_gpu.yaml rlhf/ppo.py --config configs/rlhf/ppo_llama3_8b_lora.yaml
    accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml rlhf/ppo.py --config configs/rlhf/ppo_llama3_8b_zero3.yaml

Recipe: config → prompts (annotation prompts or the SFT set's user turns) → policy (full or LoRA), reference
(frozen copy, or the adapter-disabled policy with LoRA), value model (initialised from the reward model), reward
(`rlhf.rewards.CombinedReward`) → `rlhf.ppo_trainer.PPOTrainer` → save (merged policy, tokenizer, value model) →
model card. Resume with `--resume_from_checkpoint <dir>|true`. TensorBoard: `<runs_dir>/ppo/<run_name>/`.
Reward-hacking guards (reward normalisation and clipping, log-ratio clamps, token-level loss, the `overlong` term, a
reward-model ensemble) and the gold reward model (`eval/gold_score`): see `rlhf/ppo_trainer.py`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate.utils import set_seed
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl import ModelConfig

from rlhf.ppo_trainer import PPOArguments, PPOTrainer, TokenValueModel, ppo_accelerator
from rlhf.rewards import CombinedReward, RewardArguments, parse_reward_terms
from shared.config import optional_value, run_script
from shared.data import load_prompts
from shared.modeling import cpu_supports_bf16, is_adapter_dir, model_init_kwargs, peft_config, tensorboard_dir
from shared.stage import PromptStageArguments, finish_stage
from shared.tracking import ComputeTracker


@dataclass
class PPOScriptArguments(RewardArguments, PromptStageArguments):
    eval_prompt_data: list[str] = field(default_factory=list, metadata={"help": "empty: split num_eval_prompts off"})
    num_eval_prompts: int = 16
    value_model: str | None = field(
        default=None, metadata={"help": "critic init; default: reward_model, else the policy"}
    )
    value_use_peft: bool | None = field(default=None, metadata={"help": "LoRA on the critic; default: as use_peft"})
    merge_adapter: bool = field(default=True, metadata={"help": "LoRA: save the policy merged (plain model)"})
    save_value_model: bool = True


def torch_dtype(name: str | None):
    return getattr(torch, name) if name and name != "auto" else None


def build_reward(script_args: PPOScriptArguments, device, dtype, max_new_tokens: int) -> CombinedReward:
    """CombinedReward with its reward model(s) placed on this process's device (and in the run's dtype)."""
    weights = parse_reward_terms(script_args.reward_terms)
    if weights.get("reward_model") and not script_args.reward_model:
        raise SystemExit("reward_terms has reward_model but no --reward_model path is set")
    return CombinedReward(
        weights,
        script_args.reward_model,
        batch_size=script_args.reward_batch_size,
        max_length=script_args.reward_max_length,
        device=str(device),
        dtype=dtype,
        ensemble_std_coef=script_args.ensemble_std_coef,
        max_completion_length=max_new_tokens,
        overlong_buffer=script_args.overlong_buffer,
    )


def load_policy(model_args: ModelConfig, args: PPOArguments):
    """(policy, reference): with LoRA the reference is None (the adapter-disabled policy)."""
    kwargs = model_init_kwargs(model_args, args)
    path = model_args.model_name_or_path

    def load():
        if is_adapter_dir(path):  # an SFT adapter: merge it, PPO trains its own adapter or the full model
            from peft import AutoPeftModelForCausalLM

            return AutoPeftModelForCausalLM.from_pretrained(path, **kwargs).merge_and_unload()
        return AutoModelForCausalLM.from_pretrained(path, **kwargs)

    policy = load()
    if model_args.use_peft:
        from peft import get_peft_model

        return get_peft_model(policy, peft_config(model_args)), None
    return policy, load()


def load_value_model(script_args: PPOScriptArguments, model_args: ModelConfig, args: PPOArguments) -> TokenValueModel:
    path = script_args.value_model or (script_args.reward_model or [model_args.model_name_or_path])[0]
    kwargs = model_init_kwargs(model_args, args)
    if is_adapter_dir(path):  # a LoRA reward model (adapter + score head): merge into a plain classifier
        from peft import AutoPeftModelForSequenceClassification

        classifier = AutoPeftModelForSequenceClassification.from_pretrained(
            path, num_labels=1, **kwargs
        ).merge_and_unload()
    else:
        classifier = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, **kwargs)
    use_peft = model_args.use_peft if script_args.value_use_peft is None else script_args.value_use_peft
    if use_peft:
        from peft import get_peft_model

        lora = peft_config(model_args, task_type="SEQ_CLS")
        lora.modules_to_save = sorted(set(lora.modules_to_save or []) | {"score"})
        classifier = get_peft_model(classifier, lora)
    return TokenValueModel(classifier)


def main(script_args: PPOScriptArguments, args: PPOArguments, model_args: ModelConfig) -> dict:
    for name in ("value_model", "system_prompt"):  # reward_model: a list, normalised by RewardArguments
        setattr(script_args, name, optional_value(getattr(script_args, name)))
    args.resume_from_checkpoint = optional_value(args.resume_from_checkpoint)
    args.run_name = args.run_name or "ppo"
    if args.bf16 and not torch.cuda.is_available() and not cpu_supports_bf16():
        args.bf16 = False
    accelerator = ppo_accelerator(args, use_peft=model_args.use_peft)  # refuses unsupported backends, in one line
    run_dir = tensorboard_dir(script_args.runs_dir, "ppo", args.run_name)
    set_seed(args.seed)

    # Prompts
    prompts = load_prompts(script_args.prompt_data, script_args.max_prompts)
    if script_args.eval_prompt_data:
        eval_prompts = load_prompts(script_args.eval_prompt_data, script_args.num_eval_prompts)
    else:
        shuffled = [
            prompts[i] for i in torch.randperm(len(prompts), generator=torch.Generator().manual_seed(args.seed))
        ]
        eval_prompts, prompts = shuffled[: script_args.num_eval_prompts], shuffled[script_args.num_eval_prompts :]

    # Models
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path)
    policy, ref_policy = load_policy(model_args, args)
    value_model = load_value_model(script_args, model_args, args)
    reward = build_reward(script_args, accelerator.device, torch_dtype(model_args.dtype), args.max_new_tokens)
    set_seed(args.seed, device_specific=True)  # each process samples differently from here on
    trainer = PPOTrainer(
        args=args,
        accelerator=accelerator,
        policy=policy,
        ref_policy=ref_policy,
        value_model=value_model,
        reward_fn=reward,
        tokenizer=tokenizer,
        prompts=prompts,
        eval_prompts=eval_prompts,
        system_prompt=script_args.system_prompt,
        run_dir=run_dir,
    )

    # Train
    with ComputeTracker(script_args.country_iso_code) as tracker:
        metrics = trainer.train()

    # Save
    saved = trainer.save_policy(args.output_dir, script_args.merge_adapter)
    if script_args.save_value_model:
        trainer.save_value_model(f"{args.output_dir}/value_model")
    if accelerator.is_main_process:
        Path(args.output_dir, "results.json").write_text(json.dumps(metrics, indent=2))
        reference = (
            "adapter-disabled policy (no second model)" if ref_policy is None else "frozen copy of the SFT model"
        )
        notes = [
            f"policy saved as: {saved}",
            f"reference model: {reference}",
            f"value model initialised from {script_args.value_model or (script_args.reward_model or ['the policy'])[0]}",
            f"rewards: {', '.join(script_args.reward_terms)} "
            f"(reward model: {', '.join(script_args.reward_model) or 'none'})",
            f"KL: {args.kl_estimator} estimator, {'adaptive' if args.adaptive_kl else 'fixed'} coefficient "
            f"(final {trainer.kl_ctl.value:.4g}); {len(trainer.prompts)} training prompts, {len(eval_prompts)} "
            f"held-out, {trainer.skipped_prompts} skipped as longer than max_prompt_length",
            "eval_mean_score_*: mean combined reward of sampled answers to the held-out prompts, fixed seed",
        ]
        finish_stage(
            stage="ppo",
            run_dir=run_dir,
            tokenizer=tokenizer,
            script_args=script_args,
            training_args=args,
            model_args=model_args,
            data=script_args.prompt_data,
            metrics=metrics,
            tracker=tracker,
            step=trainer.step,
            notes=notes,
        )
        accelerator.print(f"PPO done: {metrics} → {args.output_dir}, logs in {run_dir}")
    accelerator.wait_for_everyone()
    return metrics


if __name__ == "__main__":
    run_script(main, PPOScriptArguments, PPOArguments, ModelConfig)
