"""Our PPO loop (TRL 1.16 has no PPOTrainer): explicit, torchtune-style code on Accelerate.

One PPO step = `rollout` (batched sampling with KV cache → score (reward model + rules) → per-token KL penalty to
the reference → GAE), which returns a typed `Rollout`, then `update`: `ppo_epochs` shuffled passes over it, one
`ppo_step` per micro-batch (forward, clipped policy and value losses, backward; the optimizers step every
`gradient_accumulation_steps` micro-batches) → metrics. The maths lives in `rlhf.ppo_core` as pure functions.

Models (loaded by `rlhf/ppo.py`):
* policy: causal LM from the SFT checkpoint, trained in full or with a LoRA adapter;
* reference: a frozen copy — or, with LoRA, the same weights with the adapter disabled (no second model);
* value model (critic): a sequence-classification model initialised from the reward model; its backbone + `score`
  head read out a value at every token (`TokenValueModel`). Separate weights from the policy, so the value loss
  cannot disturb the policy, and it starts from a head that already knows what a good answer looks like;
* reward: `rlhf.rewards.CombinedReward` (reward-model score + weighted rule terms), on decoded text.

Reward-hacking guards, each a config key, all off by default (the tiny recipes keep their behaviour):
* `reward_normalization`: scores whitened by the running mean/std of every process's scores over all steps so far
  (`RunningMoments`); `reward_clip: c` then clips them to ±c (OpenRLHF's normalize_reward / reward_clip_range);
* `kl_log_ratio_clip: c`: per-token log π/π_ref clamped to ±c before the KL estimate of the penalty; and
  `policy_log_ratio_clip: c`: log π/π_old clamped before the PPO ratio (no overflow on a runaway token);
* `token_level_loss`: policy and value losses summed over tokens and divided by the rollout's response tokens (all
  processes, per optimizer step) instead of a mean per micro-batch, so long answers are not down-weighted;
* the length term `overlong` in `reward_terms` with `overlong_buffer` (DAPO's soft overlong punishment over the last
  `overlong_buffer` of `max_new_tokens`), next to `missing_eos_penalty`;
* a reward-model ensemble: several `reward_model` paths scored mean − `ensemble_std_coef`·std across them.
Every step logs `objective/shaped_score` (mean, min, max) when scores are normalised or clipped. With
`gold_reward_model`, each evaluation also scores the held-out answers with that independent model
(`eval/gold_score`) next to the proxy reward model the policy is trained on (`eval/proxy_score`), so
over-optimisation shows as two curves parting (Gao et al., 2022); results add `eval_gold_score_start/end`.

Backends (read from accelerate's state at start by `ppo_accelerator`, which refuses in one line what it cannot
run, before any model is loaded): 1 process, DDP (gloo on CPU, NCCL on GPUs) and DeepSpeed on CUDA GPUs (ZeRO-3
shards policy, critic and their optimizer states). Policy and critic are one module (`PolicyAndValue`) with one
optimizer, so one `accelerator.prepare` call serves every backend (DeepSpeed and FSDP2 take one model per call);
under DeepSpeed the frozen models (reference, reward models) get their own inference engines (TRL's
`prepare_deepspeed`), and generation gathers the policy's sharded parameters for the whole `generate` call (as
TRL's `unwrap_model_for_generation`). Under DeepSpeed, LoRA and checkpoints are refused (not supported yet); FSDP
is refused (use ZeRO-3). Every process samples its own prompts; metrics are averaged over processes. Dropout is
switched off in every model (p=0) so rollout and update log-probs agree, as in TRL's former PPOTrainer.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import GenerationConfig, get_scheduler
from trl.distributed import DistributedBackend

from rlhf.ppo_core import (
    AdaptiveKLController,
    FixedKLController,
    RunningMoments,
    clipped_policy_loss,
    clipped_value_loss,
    entropy_from_logits,
    explained_variance,
    gae,
    kl_estimate,
    logprobs_from_logits,
    masked_mean,
    normalize_scores,
    per_token_rewards,
    response_mask,
    whiten,
)
from shared.batching import padded_batch, prompt_response_batch
from shared.checkpoints import is_complete, resolve_resume
from shared.generation import encode_prompt
from shared.tensorboard import write_rank_report


@dataclass
class PPOArguments:
    """Hyperparameters of the loop (the recipe's `training_args`); batch sizes are per process."""

    output_dir: str = "artifacts/ppo"
    run_name: str | None = None
    seed: int = 42
    use_cpu: bool = False
    bf16: bool = field(default=False, metadata={"help": "bf16 autocast (log-prob ratios are computed in fp32)"})
    activation_checkpointing: bool = field(default=False, metadata={"help": "recompute activations in the update"})
    # steps and batches
    max_steps: int = field(default=100, metadata={"help": "PPO steps (one rollout batch each)"})
    rollout_batch_size: int = field(default=16, metadata={"help": "prompts sampled per process per PPO step"})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "micro-batch of the update"})
    gradient_accumulation_steps: int = field(default=2, metadata={"help": "micro-batches per optimizer step"})
    ppo_epochs: int = field(default=2, metadata={"help": "passes over each rollout batch"})
    forward_batch_size: int = field(default=16, metadata={"help": "rows per no-grad forward / generate call"})
    # optimisation
    learning_rate: float = 1.0e-5
    value_learning_rate: float | None = field(default=None, metadata={"help": "critic lr; default learning_rate"})
    lr_scheduler_type: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # sampling
    max_prompt_length: int = field(default=512, metadata={"help": "longer (chat-templated) prompts are skipped"})
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = field(default=1.0, metadata={"help": "<1 truncates sampling; log-probs stay untruncated"})
    missing_eos_penalty: float | None = field(
        default=1.0,
        metadata={"help": "subtracted from the score of responses without an end-of-turn token; null: none"},
    )
    # PPO / KL
    kl_estimator: str = field(default="k1", metadata={"help": "k1 | k3 (per-token KL to the reference)"})
    kl_coef: float = 0.05
    adaptive_kl: bool = field(default=False, metadata={"help": "Ziegler et al. controller towards kl_target"})
    kl_target: float = 6.0
    kl_horizon: float = 10000.0
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    whiten_advantages: bool = True
    # reward-hacking guards: all off by default (the length term and the reward-model ensemble are reward settings:
    # `overlong` in reward_terms with overlong_buffer, several reward_model paths with ensemble_std_coef)
    reward_normalization: bool = field(
        default=False, metadata={"help": "whiten scores by the running mean/std of all scores so far (all steps)"}
    )
    reward_clip: float | None = field(default=None, metadata={"help": "clip scores (normalised or not) to ±this"})
    kl_log_ratio_clip: float | None = field(
        default=None, metadata={"help": "clamp per-token log π/π_ref to ±this before the KL penalty"}
    )
    policy_log_ratio_clip: float | None = field(
        default=None, metadata={"help": "clamp per-token log π/π_old to ±this before the PPO ratio"}
    )
    token_level_loss: bool = field(
        default=False,
        metadata={
            "help": "losses summed over tokens / response tokens of the whole rollout on all processes (every token "
            "weighs alike) instead of the mean of per-micro-batch means"
        },
    )
    gold_reward_model: str | None = field(
        default=None,
        metadata={"help": "an independent reward model scoring only the held-out answers: eval/gold_score"},
    )
    # logging / evaluation / checkpoints
    logging_steps: int = 1
    sample_steps: int = field(default=10, metadata={"help": "log sample generations as text every N steps"})
    eval_steps: int = field(default=0, metadata={"help": "held-out mean score every N steps (0: start and end)"})
    save_steps: int = field(default=0, metadata={"help": "checkpoint every N steps (0: none)"})
    save_total_limit: int | None = None
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "checkpoint dir, or true: latest"})

    def __post_init__(self):
        if isinstance(self.gold_reward_model, str) and self.gold_reward_model.strip().lower() in {"", "none", "null"}:
            self.gold_reward_model = None

    @property
    def shapes_scores(self) -> bool:
        return self.reward_normalization or self.reward_clip is not None

    def to_dict(self) -> dict:
        return asdict(self)


class TokenValueModel(nn.Module):
    """Per-token values from a sequence-classification model: backbone hidden states → its `score` head."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier  # plain or PEFT-wrapped AutoModelForSequenceClassification

    def forward(self, input_ids, attention_mask, position_ids):
        model = self.classifier.get_base_model() if hasattr(self.classifier, "get_base_model") else self.classifier
        backbone = getattr(model, model.base_model_prefix)
        hidden = backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        return model.score(hidden).squeeze(-1).float()


class PolicyAndValue(nn.Module):
    """Policy and critic as one module: one `accelerator.prepare` (one DDP reducer, one DeepSpeed engine) and one
    optimizer serve both, and `forward` runs both so gradient synchronisation sees every trained parameter."""

    def __init__(self, policy: nn.Module, value_model: TokenValueModel):
        super().__init__()
        self.policy, self.value_model = policy, value_model

    def forward(self, inputs: dict[str, torch.Tensor], prompt_width: int, temperature: float):
        """(logits predicting each response token, values at each response token)."""
        logits = response_logits(self.policy, inputs, prompt_width, temperature)
        return logits, self.value_model(**inputs)[:, prompt_width - 1 : -1]


CPU_ALTERNATIVE = (
    "on CPU use configs/accelerate/cpu.yaml, or 2-process DDP: ACCELERATE_USE_CPU=1 accelerate launch --multi_gpu "
    "--num_processes 2"
)


def launch_refusal(
    requested: str | None,
    *,
    args: PPOArguments,
    use_peft: bool,
    deepspeed_installed: bool,
    cuda: bool,
    distributed_type: str | None = None,
    zero_stage: int | None = None,
) -> str | None:
    """Why PPO cannot run under the backend that `accelerate launch` asked for (`requested`: "deepspeed", "fsdp" or
    None) — one line naming the reason and what to use instead — or None. `distributed_type` and `zero_stage` are
    what accelerate's state made of the request (None before the Accelerator exists)."""
    if requested == "fsdp":
        return (
            "FSDP is not supported by our PPO loop (and on CPU accelerate would silently run plain DDP instead); "
            "for sharded training use DeepSpeed ZeRO-3 on GPUs (configs/accelerate/deepspeed_zero3.yaml with "
            "configs/rlhf/ppo_llama3_8b_zero3.yaml), else DDP (configs/accelerate/multi_gpu.yaml), or "
            + CPU_ALTERNATIVE
        )
    if requested == "deepspeed":
        if not deepspeed_installed:
            missing = "DeepSpeed is not installed (it is in the gpu extra: pip install -e '.[gpu]' on a CUDA machine)"
            return f"the accelerate config asks for DeepSpeed, but {missing}; {CPU_ALTERNATIVE}"
        if not cuda or (distributed_type is not None and distributed_type != "DEEPSPEED"):
            needs = "runs only on CUDA GPUs (with use_cpu false)"
            return f"the accelerate config asks for DeepSpeed, which {needs}; {CPU_ALTERNATIVE}"
    if distributed_type == "DEEPSPEED":
        if use_peft:
            return (
                f"LoRA under DeepSpeed (ZeRO stage {zero_stage}) is not supported (the adapter-disabled reference and "
                "the merged save would need gathered parameters); LoRA PPO fits one GPU or DDP: "
                "configs/rlhf/ppo_llama3_8b_lora.yaml with configs/accelerate/single_gpu.yaml or multi_gpu.yaml"
            )
        if args.save_steps or args.resume_from_checkpoint:
            return (
                "PPO checkpoints (save_steps, resume_from_checkpoint) are not supported under DeepSpeed yet; set "
                "--save_steps 0 (the final policy is still saved), or checkpoint under DDP "
                "(configs/accelerate/multi_gpu.yaml)"
            )
    return None


def ppo_accelerator(args: PPOArguments, use_peft: bool):
    """The run's `Accelerator`, once PPO is known to support the backend that `accelerate launch` asked for (its
    environment, then accelerate's state); otherwise exit with one line before any model is loaded."""
    from accelerate import Accelerator
    from accelerate.utils import is_deepspeed_available, parse_flag_from_env

    requested = None
    if parse_flag_from_env("ACCELERATE_USE_DEEPSPEED"):
        requested = "deepspeed"
    elif parse_flag_from_env("ACCELERATE_USE_FSDP"):
        requested = "fsdp"
    checks = {
        "args": args,
        "use_peft": use_peft,
        "deepspeed_installed": is_deepspeed_available(),
        "cuda": torch.cuda.is_available(),
    }
    # Before the Accelerator: without deepspeed it would raise an ImportError, and on CPU it ignores FSDP.
    reason = launch_refusal(requested, **checks)
    if reason is None:
        accelerator = Accelerator(
            cpu=args.use_cpu,
            mixed_precision="bf16" if args.bf16 else "no",
            gradient_accumulation_steps=args.gradient_accumulation_steps,
        )
        plugin = accelerator.state.deepspeed_plugin
        reason = launch_refusal(
            requested,
            **checks,
            distributed_type=accelerator.state.distributed_type.value,
            zero_stage=plugin.zero_stage if plugin is not None else None,
        )
    if reason:
        raise SystemExit(f"PPO cannot start: {reason}")
    return accelerator


def disable_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def stop_token_ids(tokenizer) -> list[int]:
    """End of turn (<|eot_id|>, the tokenizer's eos) and end of text, where the vocabulary has them."""
    ids = {tokenizer.eos_token_id}
    for token in ("<|eot_id|>", "<|end_of_text|>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.add(token_id)
    return sorted(i for i in ids if i is not None)


def generation_config(args: PPOArguments, tokenizer, greedy: bool = False) -> GenerationConfig:
    sampling = {} if greedy else {"do_sample": True, "temperature": args.temperature, "top_p": args.top_p, "top_k": 0}
    return GenerationConfig(
        max_new_tokens=args.max_new_tokens,
        eos_token_id=stop_token_ids(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
        **sampling,
    )


@torch.no_grad()
def generate(
    model, tokenizer, queries: list[list[int]], config: GenerationConfig, batch_size: int, device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched sampling with KV cache: `batch_size` left-padded prompts per `generate` call.

    Returns (query_ids [B, P] left-padded, query_mask, response_ids [B, R] with pad after the stop token,
    response_mask [B, R] — 1 up to and including the first stop token).
    """
    stops = list(config.eos_token_id)
    responses: list[torch.Tensor] = []
    for start in range(0, len(queries), batch_size):
        prompts = padded_batch(queries[start : start + batch_size], tokenizer.pad_token_id, side="left")
        ids, mask = prompts["input_ids"], prompts["attention_mask"]
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config)
        new = out[:, ids.shape[1] :].cpu()
        keep, _ = response_mask(new, stops)
        responses.extend(row[: int(k.sum())] for row, k in zip(new, keep))
    query = padded_batch(queries, tokenizer.pad_token_id, side="left")
    response = padded_batch(
        [r if len(r) else torch.tensor([tokenizer.pad_token_id]) for r in responses],
        tokenizer.pad_token_id,
        side="right",
    )
    resp_mask = response["attention_mask"]
    resp_mask[[i for i, r in enumerate(responses) if not len(r)]] = 0
    return query["input_ids"], query["attention_mask"], response["input_ids"], resp_mask


def response_logits(model, inputs: dict[str, torch.Tensor], prompt_width: int, temperature: float) -> torch.Tensor:
    """Logits predicting each response token (position t−1 predicts token t), divided by the temperature.

    Only the last response_length + 1 positions go through the LM head (`logits_to_keep`): for long prompts and
    large vocabularies (Llama 3: 128k) that is most of the time and memory of the forward pass."""
    response_length = inputs["input_ids"].shape[1] - prompt_width
    logits = model(**inputs, use_cache=False, logits_to_keep=response_length + 1).logits[:, :-1]
    return logits / temperature


@dataclass
class Rollout:
    """One PPO step's samples on this process (torchtune's `Trajectory`): B rows, prompt width P, response width R.
    Token ids stay on the CPU; the per-token tensors live on the accelerator's device."""

    query: torch.Tensor  # [B, P] prompt ids, left-padded
    query_mask: torch.Tensor  # [B, P]
    response: torch.Tensor  # [B, R] sampled ids, right-padded after the stop token
    mask: torch.Tensor  # [B, R] float: 1 up to and including the stop token
    logprobs: torch.Tensor  # [B, R] log π_old of the sampled tokens
    values: torch.Tensor  # [B, R] critic values V_old
    advantages: torch.Tensor  # [B, R] GAE (whitened with whiten_advantages)
    returns: torch.Tensor  # [B, R] GAE + V_old: the critic's targets
    scores: torch.Tensor  # [B] sequence scores (reward model + rules − missing-EOS penalty)
    shaped_scores: torch.Tensor  # [B] the scores in the reward: normalised and clipped if configured, else `scores`
    kl: torch.Tensor  # [B, R] per-token KL estimate to the reference
    non_score: torch.Tensor  # [B, R] −β·KL
    ended: torch.Tensor  # [B] bool: the answer has its stop token
    prompts: list[str]
    texts: list[str]  # decoded answers

    def select(self, rows: torch.Tensor) -> Rollout:
        """The micro-batch made of `rows` (indices into this rollout)."""
        picked = {}
        for item in fields(self):
            value = getattr(self, item.name)
            picked[item.name] = value[rows] if isinstance(value, torch.Tensor) else [value[i] for i in rows.tolist()]
        return Rollout(**picked)

    def model_inputs(self, device) -> dict[str, torch.Tensor]:
        """input_ids, attention_mask and position_ids of prompt + response, on `device`."""
        batch = prompt_response_batch(self.query, self.query_mask, self.response, self.mask.long().cpu())
        return {name: tensor.to(device) for name, tensor in batch.items()}


@dataclass
class PPOStats:
    """What one `ppo_step` measured on its micro-batch."""

    pg_loss: float
    vf_loss: float
    clipfrac: float
    vf_clipfrac: float
    approx_kl: float
    entropy: float


class PPOTrainer:
    def __init__(
        self,
        *,
        args: PPOArguments,
        accelerator,
        policy,
        ref_policy,
        value_model: nn.Module,
        reward_fn,
        tokenizer,
        prompts: list[str],
        eval_prompts: list[str],
        system_prompt: str | None,
        run_dir: str,
    ):
        self.args, self.accelerator, self.tokenizer = args, accelerator, tokenizer
        self.reward_fn, self.system_prompt, self.run_dir = reward_fn, system_prompt, run_dir
        self.use_adapter_reference = ref_policy is None
        if self.use_adapter_reference and not hasattr(policy, "disable_adapter"):
            raise ValueError("without a reference model the policy must be a PEFT model (adapter-disabled reference)")
        micro, accumulation = args.per_device_train_batch_size, args.gradient_accumulation_steps
        if args.rollout_batch_size % (micro * accumulation):
            raise ValueError(
                f"rollout_batch_size {args.rollout_batch_size} must be a multiple of "
                f"per_device_train_batch_size × gradient_accumulation_steps = {micro * accumulation}"
            )

        # Prompts: chat-templated once; too-long ones are skipped (and counted).
        self.prompts, self.queries, self.skipped_prompts = [], [], 0
        for prompt in prompts:
            ids = encode_prompt(tokenizer, prompt, system_prompt)
            if len(ids) > args.max_prompt_length:
                self.skipped_prompts += 1
                continue
            self.prompts.append(prompt)
            self.queries.append(ids)
        if not self.prompts:
            raise ValueError("no training prompts (all longer than max_prompt_length?)")
        self.eval_prompts = eval_prompts

        # Models and optimizers
        for model in (policy, value_model, ref_policy):
            if model is not None:
                disable_dropout(model)
                model.eval()  # train mode only inside the update, where activation checkpointing needs it
        if args.activation_checkpointing:
            for model in (policy, value_model.classifier):
                model = model.get_base_model() if hasattr(model, "get_base_model") else model
                model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
                model.enable_input_require_grads()  # LoRA: frozen embeddings, checkpointed blocks still need grads
        if ref_policy is not None:
            ref_policy.requires_grad_(False)
        # One module and one optimizer (a param group each, their own learning rates) for policy and critic.
        model = PolicyAndValue(policy, value_model)
        optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in policy.parameters() if p.requires_grad], "lr": args.learning_rate},
                {
                    "params": [p for p in value_model.parameters() if p.requires_grad],
                    "lr": args.value_learning_rate or args.learning_rate,
                },
            ],
            lr=args.learning_rate,
            weight_decay=args.weight_decay,
        )
        self.backend = DistributedBackend(accelerator)
        self.deepspeed = accelerator.state.deepspeed_plugin is not None
        if self.deepspeed:  # no dataloader to infer them from; DeepSpeed clips the norm over policy + critic
            config = accelerator.state.deepspeed_plugin.deepspeed_config
            for key, value in (
                ("train_micro_batch_size_per_gpu", micro),
                ("gradient_clipping", args.max_grad_norm),
            ):
                if config.get(key, "auto") == "auto":
                    config[key] = value
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.unwrapped: PolicyAndValue = accelerator.unwrap_model(self.model)
        self.ref_policy = self.prepare_frozen(ref_policy) if ref_policy is not None else None
        self.gold_scorer = None
        if args.gold_reward_model:
            from shared.reward_model import RewardScorer

            self.gold_scorer = RewardScorer(args.gold_reward_model, device=str(accelerator.device))
        for scorer in [*getattr(reward_fn, "scorers", []), *([self.gold_scorer] if self.gold_scorer else [])]:
            scorer.model = self.prepare_frozen(scorer.model)
        self.score_moments = RunningMoments()
        self.loss_token_count: float | None = None
        updates = args.max_steps * args.ppo_epochs * (args.rollout_batch_size // (micro * accumulation))
        self.scheduler = get_scheduler(
            args.lr_scheduler_type, self.optimizer, num_warmup_steps=args.warmup_steps, num_training_steps=updates
        )
        self.kl_ctl = (
            AdaptiveKLController(args.kl_coef, args.kl_target, args.kl_horizon)
            if args.adaptive_kl
            else FixedKLController(args.kl_coef)
        )
        self.gen_config = generation_config(args, tokenizer)
        self.step = 0
        self.writer = None
        if accelerator.is_main_process:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(run_dir)
        self.metrics_path = Path(args.output_dir) / "metrics.jsonl"

    def prepare_frozen(self, model: nn.Module) -> nn.Module:
        """A frozen model (reference, reward models) for inference: its own ZeRO inference engine under DeepSpeed
        (sharded under ZeRO-3, where `from_pretrained` already partitioned it), else Accelerate's device placement."""
        if self.deepspeed:
            from trl.models import prepare_deepspeed

            return prepare_deepspeed(model, self.accelerator)
        return self.accelerator.prepare_model(model, evaluation_mode=True)

    @contextmanager
    def policy_for_generation(self):
        """The unwrapped policy, ready for `generate`. Under ZeRO-3 each process holds a shard of every weight:
        gather the policy's weights for the whole call and detach ZeRO's per-module fetch hooks meanwhile (as
        TRL's `unwrap_model_for_generation`), instead of an all-gather per layer per generated token."""
        if not self.backend.is_zero3:
            yield self.unwrapped.policy
            return
        import deepspeed
        from trl.models.utils import add_hooks, remove_hooks

        with deepspeed.zero.GatheredParameters(list(self.unwrapped.policy.parameters())):
            remove_hooks(self.model)
            try:
                yield self.unwrapped.policy
            finally:
                add_hooks(self.model)

    # ------------------------------------------------------------------------------------------ data

    def prompt_indices(self, step: int) -> list[int]:
        """This process's prompts for a step: a pure function of (seed, step, rank), so resuming needs no data
        state. Epochs are reshuffled permutations of the prompt set."""
        n, size = len(self.prompts), self.args.rollout_batch_size
        start = ((step - 1) * self.accelerator.num_processes + self.accelerator.process_index) * size
        indices, perms = [], {}
        for position in range(start, start + size):
            epoch = position // n
            if epoch not in perms:
                perms[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(self.args.seed + epoch))
            indices.append(int(perms[epoch][position % n]))
        return indices

    # ------------------------------------------------------------------------------------------ rollout

    def _reference_logits(self, inputs, prompt_width):
        if self.ref_policy is not None:
            return response_logits(self.ref_policy, inputs, prompt_width, self.args.temperature)
        with self.unwrapped.policy.disable_adapter():
            return response_logits(self.unwrapped.policy, inputs, prompt_width, self.args.temperature)

    def score(
        self, prompts: list[str], response_ids: torch.Tensor, resp_mask: torch.Tensor, ended: torch.Tensor
    ) -> tuple[torch.Tensor, list[str], dict[str, list[float]]]:
        """(scores, decoded answers, each reward term's values). Score = the reward's weighted terms − the missing
        end-of-turn penalty."""
        texts = [t.strip() for t in self.tokenizer.batch_decode(response_ids, skip_special_tokens=True)]
        completion_ids = [row[: int(n)].tolist() for row, n in zip(response_ids, resp_mask.sum(1))]
        terms = self.reward_fn.terms(prompts, texts, completion_ids)
        scores = torch.tensor(self.reward_fn.combine(terms, len(texts)), dtype=torch.float32)
        if self.args.missing_eos_penalty is not None:
            scores = scores - self.args.missing_eos_penalty * (~ended).float()
        return scores, texts, terms

    def shape_scores(self, scores: torch.Tensor) -> torch.Tensor:
        """Reward normalisation (by the running moments of every process's scores over all steps) and clipping;
        the scores unchanged when neither is configured."""
        args = self.args
        if args.reward_normalization:
            self.score_moments.update(self.accelerator.gather(scores))
            scores = normalize_scores(scores, self.score_moments.mean, self.score_moments.var)
        if args.reward_clip is not None:
            scores = scores.clamp(-args.reward_clip, args.reward_clip)
        return scores

    @torch.no_grad()
    def rollout(self, step: int) -> Rollout:
        """Sample answers to this process's prompts for `step`, score them, and compute log-probs, values, the
        KL-penalised per-token rewards, advantages and returns."""
        args, acc = self.args, self.accelerator
        indices = self.prompt_indices(step)
        prompts = [self.prompts[i] for i in indices]
        with self.policy_for_generation() as policy, acc.autocast():
            query, query_mask, response, resp_mask = generate(
                policy,
                self.tokenizer,
                [self.queries[i] for i in indices],
                self.gen_config,
                args.forward_batch_size,
                acc.device,
            )
        _, ended = response_mask(response, list(self.gen_config.eos_token_id))
        ended &= resp_mask.bool().any(1)
        width = query.shape[1]
        logprobs, ref_logprobs, values = [], [], []
        for start in range(0, len(prompts), args.forward_batch_size):
            rows = slice(start, start + args.forward_batch_size)
            batch = prompt_response_batch(query[rows], query_mask[rows], response[rows], resp_mask[rows])
            inputs = {name: tensor.to(acc.device) for name, tensor in batch.items()}
            labels = response[rows].to(acc.device)
            with acc.autocast():
                logits = response_logits(self.unwrapped.policy, inputs, width, args.temperature)
                logprobs.append(logprobs_from_logits(logits, labels))
                ref_logprobs.append(logprobs_from_logits(self._reference_logits(inputs, width), labels))
                values.append(self.unwrapped.value_model(**inputs)[:, width - 1 : -1])
        mask = resp_mask.to(acc.device).float()
        logprobs, ref_logprobs, values = torch.cat(logprobs), torch.cat(ref_logprobs), torch.cat(values) * mask
        scores, texts, _ = self.score(prompts, response, resp_mask, ended)
        scores = scores.to(acc.device)
        shaped_scores = self.shape_scores(scores)
        kl = kl_estimate(logprobs, ref_logprobs, args.kl_estimator, args.kl_log_ratio_clip) * mask
        rewards, non_score = per_token_rewards(shaped_scores, kl, self.kl_ctl.value, mask)
        advantages, returns = gae(rewards, values, mask, args.gamma, args.lam)
        if args.whiten_advantages:
            advantages = whiten(advantages, mask)
        return Rollout(
            query=query,
            query_mask=query_mask,
            response=response,
            mask=mask,
            logprobs=logprobs,
            values=values,
            advantages=advantages,
            returns=returns,
            scores=scores,
            shaped_scores=shaped_scores,
            kl=kl,
            non_score=non_score,
            ended=ended,
            prompts=prompts,
            texts=texts,
        )

    # ------------------------------------------------------------------------------------------ update

    def ppo_step(self, micro: Rollout) -> PPOStats:
        """One micro-batch: forward policy and critic, clipped policy and value losses (`rlhf.ppo_core`), backward.
        Inside Accelerate's `accumulate`, gradients are clipped and the optimizers and schedulers step only on the
        last micro-batch of each `gradient_accumulation_steps` group (elsewhere `step` and `zero_grad` are no-ops)."""
        args, acc = self.args, self.accelerator
        width = micro.query.shape[1]
        inputs = micro.model_inputs(acc.device)
        with acc.accumulate(self.model):
            with acc.autocast():
                logits, values = self.model(inputs, width, args.temperature)
            logprobs = logprobs_from_logits(logits, micro.response.to(acc.device))
            pg_loss, clipfrac, approx_kl = clipped_policy_loss(
                logprobs,
                micro.logprobs,
                micro.advantages,
                micro.mask,
                args.cliprange,
                log_ratio_clip=args.policy_log_ratio_clip,
                token_count=self.loss_token_count,
            )
            vf_loss, vf_clipfrac = clipped_value_loss(
                values, micro.values, micro.returns, micro.mask, args.cliprange_value, self.loss_token_count
            )
            acc.backward(pg_loss + args.vf_coef * vf_loss)
            if acc.sync_gradients and not self.deepspeed:  # each model's norm on its own; DeepSpeed clips itself
                acc.clip_grad_norm_(self.unwrapped.policy.parameters(), args.max_grad_norm)
                acc.clip_grad_norm_(self.unwrapped.value_model.parameters(), args.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad()
            if acc.sync_gradients:
                self.scheduler.step()
        with torch.no_grad():
            entropy = masked_mean(entropy_from_logits(logits.detach()), micro.mask)
        return PPOStats(*(float(v.detach()) for v in (pg_loss, vf_loss, clipfrac, vf_clipfrac, approx_kl, entropy)))

    def update(self, rollout: Rollout) -> dict[str, float]:
        """`ppo_epochs` passes over the rollout in a fresh random order, one `ppo_step` per micro-batch; returns
        the mean of each statistic."""
        args = self.args
        generator = torch.Generator().manual_seed(
            args.seed * 100_003 + self.step * 101 + self.accelerator.process_index
        )
        micro, accumulation = args.per_device_train_batch_size, args.gradient_accumulation_steps
        if args.token_level_loss:
            # Each optimizer step sums its tokens' losses over micro-batches and processes and divides by the mean
            # number of response tokens per optimizer step (all processes): every token of the rollout weighs the
            # same. Accelerate divides each micro-batch's loss by the accumulation steps and DDP averages over
            # processes, so both are taken out of the count.
            tokens = float(self.accelerator.reduce(rollout.mask.sum(), reduction="sum"))
            steps_per_epoch = args.rollout_batch_size // (micro * accumulation)
            self.loss_token_count = tokens / steps_per_epoch / (accumulation * self.accelerator.num_processes)
        stats: list[PPOStats] = []
        self.model.train()
        for _ in range(args.ppo_epochs):
            order = torch.randperm(args.rollout_batch_size, generator=generator)
            for start in range(0, args.rollout_batch_size, micro):
                stats.append(self.ppo_step(rollout.select(order[start : start + micro])))
        self.model.eval()
        return {name: sum(getattr(s, name) for s in stats) / len(stats) for name in asdict(stats[0])}

    # ------------------------------------------------------------------------------------------ loop

    def train(self) -> dict[str, float]:
        args, acc = self.args, self.accelerator
        resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)
        if resume:
            self.load_checkpoint(Path(resume))
        metrics: dict[str, float] = {}
        if self.step == 0 and self.eval_prompts:
            metrics |= {f"eval_{name}_start": value for name, value in self.evaluate().items()}
        last_eval = None
        while self.step < args.max_steps:
            self.step += 1
            started = time.perf_counter()
            rollout = self.rollout(self.step)
            rollout_seconds = time.perf_counter() - started
            stats = self.update(rollout)
            step_metrics = self.step_metrics(rollout, stats)
            step_metrics |= {"time/rollout_s": rollout_seconds, "time/step_s": time.perf_counter() - started}
            check_finite(step_metrics)
            self.kl_ctl.update(step_metrics["objective/kl"], args.rollout_batch_size * acc.num_processes)
            if self.step % args.logging_steps == 0 or self.step == args.max_steps:
                self.log(step_metrics)
            if args.sample_steps and (self.step % args.sample_steps == 0 or self.step == 1):
                self.log_samples(rollout)
            if args.eval_steps and self.step % args.eval_steps == 0 and self.eval_prompts:
                last_eval = self.evaluate()
            if args.save_steps and self.step % args.save_steps == 0:
                self.save_checkpoint()
        if self.eval_prompts:
            evaluated_last_step = bool(args.eval_steps) and self.step % args.eval_steps == 0 and last_eval is not None
            end = last_eval if evaluated_last_step else self.evaluate()
            metrics |= {f"eval_{name}_end": value for name, value in end.items()}
        metrics |= {
            "final_" + k.replace("/", "_"): v
            for k, v in getattr(self, "last_metrics", {}).items()
            if k.startswith(("objective/", "policy/", "val/"))
        }
        metrics["ppo_steps"] = self.step
        write_rank_report(args.output_dir, self.unwrapped.policy, ppo_steps=self.step)
        if self.writer is not None:
            self.writer.flush()
        return metrics

    def step_metrics(self, rollout: Rollout, stats: dict[str, float]) -> dict[str, float]:
        mask = rollout.mask
        local = {
            "objective/mean_score": rollout.scores.mean(),
            "objective/kl": rollout.kl.sum(1).mean(),
            "objective/non_score_reward": rollout.non_score.sum(1).mean(),
            "objective/rlhf_reward": (rollout.shaped_scores + rollout.non_score.sum(1)).mean(),
            "policy/entropy": stats["entropy"],
            "policy/clipfrac": stats["clipfrac"],
            "policy/approx_kl": stats["approx_kl"],
            "loss/policy": stats["pg_loss"],
            "loss/value": stats["vf_loss"],
            "val/clipfrac": stats["vf_clipfrac"],
            "val/explained_variance": explained_variance(rollout.values, rollout.returns, mask),
            "val/eos_rate": rollout.ended.float().mean(),
            "response_length": mask.sum(1).mean(),
        }
        values = torch.tensor([float(v) for v in local.values()], device=self.accelerator.device)
        values = self.accelerator.reduce(values, reduction="mean")
        metrics = dict(zip(local, values.tolist()))
        if self.args.shapes_scores:  # what normalisation and clipping made of the scores, over all processes
            shaped = self.accelerator.gather(rollout.shaped_scores)
            metrics |= {
                "objective/shaped_score": float(shaped.mean()),
                "objective/shaped_score_min": float(shaped.min()),
                "objective/shaped_score_max": float(shaped.max()),
            }
        metrics |= {"kl_coef": self.kl_ctl.value, "lr": self.scheduler.get_last_lr()[0]}
        self.last_metrics = metrics
        return metrics

    def log(self, metrics: dict[str, float]) -> None:
        if not self.accelerator.is_main_process:
            return
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, self.step)
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": self.step, **metrics}) + "\n")
        self.accelerator.print(
            f"ppo step {self.step}: score {metrics['objective/mean_score']:.3f} "
            f"kl {metrics['objective/kl']:.3f} length {metrics['response_length']:.1f}"
        )

    def log_samples(self, rollout: Rollout, count: int = 4) -> None:
        if not self.accelerator.is_main_process:
            return
        rows = [
            f"**Soru:** {p}\n\n**Yanıt:** {t}\n\n**Skor:** {float(s):.3f}"
            for p, t, s in zip(rollout.prompts[:count], rollout.texts[:count], rollout.scores[:count])
        ]
        self.writer.add_text("samples/generations", "\n\n---\n\n".join(rows), self.step)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Scores of sampled answers to the held-out prompts, all processes together, sampling with a fixed seed so
        evaluations are comparable across steps and runs: `mean_score`, the combined score (without the KL term);
        with a `gold_reward_model`, also `proxy_score` (the reward-model term the policy is trained on — the
        combined score if it has none) and `gold_score` (the independent gold model on the same answers), whose
        curves part when the policy over-optimises the proxy (Gao et al., 2022)."""
        from accelerate.utils import gather_object

        acc = self.accelerator
        # ZeRO-3: every process must run the same forward passes (each one all-gathers weights), so shards are
        # padded to equal size with repeats of the last prompt, dropped again after the gather.
        padded = self.backend.is_zero3
        with (
            acc.split_between_processes(self.eval_prompts, apply_padding=padded) as shard,
            torch.random.fork_rng(devices=[]),
        ):
            torch.manual_seed(self.args.seed + 7)
            columns: dict[str, list[float]] = {"mean_score": []}
            if shard:
                queries = [encode_prompt(self.tokenizer, p, self.system_prompt) for p in shard]
                with self.policy_for_generation() as policy, acc.autocast():
                    _, _, response, resp_mask = generate(
                        policy,
                        self.tokenizer,
                        queries,
                        self.gen_config,
                        self.args.forward_batch_size,
                        acc.device,
                    )
                _, ended = response_mask(response, list(self.gen_config.eos_token_id))
                scores, texts, terms = self.score(shard, response, resp_mask, ended & resp_mask.bool().any(1))
                columns["mean_score"] = scores.tolist()
                if self.gold_scorer is not None:
                    columns["proxy_score"] = terms.get("reward_model", columns["mean_score"])
                    columns["gold_score"] = self.gold_scorer.score(
                        shard, texts, batch_size=self.args.forward_batch_size
                    )
        if self.gold_scorer is not None:
            columns.setdefault("proxy_score", [])
            columns.setdefault("gold_score", [])
        means, count = {}, 0
        for name, values in columns.items():
            values = gather_object(values)[: len(self.eval_prompts)]
            means[name], count = sum(values) / max(len(values), 1), len(values)
        if acc.is_main_process:
            for name, value in means.items():
                self.writer.add_scalar(f"eval/{name}", value, self.step)
            row = {"step": self.step, "eval/mean_score": means["mean_score"], "eval/prompts": count}
            row |= {f"eval/{name}": value for name, value in means.items() if name != "mean_score"}
            self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            with self.metrics_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        return means

    # ------------------------------------------------------------------------------------------ checkpoints

    @staticmethod
    def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
        return {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad}

    def save_checkpoint(self) -> Path:
        """checkpoint-<step>/: trainable weights of policy and critic, optimizer and scheduler states, step and KL
        controller (trainer_state.json), and every process's RNG states."""
        acc = self.accelerator
        path = Path(self.args.output_dir) / f"checkpoint-{self.step}"
        if acc.is_main_process:
            path.mkdir(parents=True, exist_ok=True)
            torch.save(self._trainable_state(self.unwrapped.policy), path / "policy_trainable.pt")
            torch.save(self._trainable_state(self.unwrapped.value_model), path / "value_trainable.pt")
            torch.save(
                {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()},
                path / "optimizers.pt",
            )
        acc.wait_for_everyone()
        rng = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        torch.save(rng, path / f"rng_state_{acc.process_index}.pt")
        acc.wait_for_everyone()
        if acc.is_main_process:  # written last: `shared.checkpoints.is_complete` reads it as "saving finished"
            (path / "trainer_state.json").write_text(
                json.dumps(
                    {
                        "step": self.step,
                        "kl_controller": self.kl_ctl.state_dict(),
                        "score_moments": self.score_moments.state_dict(),
                        "world_size": acc.num_processes,
                        "last_metrics": getattr(self, "last_metrics", {}),
                    },
                    indent=2,
                )
            )
        if acc.is_main_process and self.args.save_total_limit:
            for old in sorted(Path(self.args.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[
                : -self.args.save_total_limit
            ]:
                shutil.rmtree(old, ignore_errors=True)
        return path

    def load_checkpoint(self, path: Path) -> None:
        acc = self.accelerator
        if not is_complete(path):
            raise FileNotFoundError(
                f"{path} is not a complete PPO checkpoint (trainer_state.json and policy/value/"
                "optimizer states); pass another checkpoint-<step> folder, or true for the newest"
            )
        for model, name in ((self.unwrapped.policy, "policy"), (self.unwrapped.value_model, "value")):
            state = torch.load(path / f"{name}_trainable.pt", map_location="cpu")
            missing = set(self._trainable_state(model)) - set(state)
            if missing:
                raise RuntimeError(
                    f"{path}: {name} checkpoint lacks {len(missing)} trainable tensors, e.g. {sorted(missing)[0]}"
                )
            model.load_state_dict(state, strict=False)
        optimizers = torch.load(path / "optimizers.pt", map_location="cpu", weights_only=False)
        if "optimizer" not in optimizers:
            raise RuntimeError(f"{path}: a checkpoint of the former two-optimizer PPO format; start a new run")
        self.optimizer.load_state_dict(optimizers["optimizer"])
        self.scheduler.load_state_dict(optimizers["scheduler"])
        trainer_state = json.loads((path / "trainer_state.json").read_text())
        self.step = trainer_state["step"]
        self.kl_ctl.load_state_dict(trainer_state["kl_controller"])
        self.score_moments.load_state_dict(trainer_state["score_moments"])
        rng_path = path / f"rng_state_{acc.process_index}.pt"
        if rng_path.is_file():
            rng = torch.load(rng_path, weights_only=False)
            random.setstate(rng["python"])
            np.random.set_state(rng["numpy"])
            torch.set_rng_state(rng["torch"])
            if rng["cuda"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
        acc.print(f"resumed from {path} at step {self.step} (kl_coef {self.kl_ctl.value:.4g})")

    # ------------------------------------------------------------------------------------------ outputs

    def _full_state(self, prefix: str) -> dict[str, torch.Tensor] | None:
        """Under ZeRO-3 the full weights of a submodule (`policy.`, `value_model.classifier.`), gathered as 16-bit
        on the main process (every process must call this); None elsewhere (save the unwrapped module)."""
        if not self.backend.is_zero3:
            return None
        state = self.accelerator.get_state_dict(self.model) or {}
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    def save_policy(self, output_dir: str, merge_adapter: bool) -> str:
        """The policy as a reloadable model: merged into a plain AutoModelForCausalLM if LoRA and `merge_adapter`,
        else the adapter (LoRA) or full weights; plus the tokenizer. Returns what was saved."""
        self.accelerator.wait_for_everyone()
        policy, state = self.unwrapped.policy, self._full_state("policy.")
        kind = "full model"
        if self.accelerator.is_main_process:
            if hasattr(policy, "merge_and_unload") and merge_adapter:
                policy.merge_and_unload().save_pretrained(output_dir)
                kind = "LoRA merged into the base (plain model)"
            else:
                policy.save_pretrained(output_dir, state_dict=state)
                kind = "LoRA adapter" if hasattr(policy, "peft_config") else kind
            self.tokenizer.save_pretrained(output_dir)
        self.accelerator.wait_for_everyone()
        return kind

    def save_value_model(self, output_dir: str) -> None:
        state = self._full_state("value_model.classifier.")
        if self.accelerator.is_main_process:
            self.unwrapped.value_model.classifier.save_pretrained(output_dir, state_dict=state)
            self.tokenizer.save_pretrained(output_dir)
        self.accelerator.wait_for_everyone()


def check_finite(metrics: dict[str, float]) -> None:
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite PPO metrics: {bad}")
