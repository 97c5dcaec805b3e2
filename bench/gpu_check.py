"""One prepared GPU check: a few training steps of every stage on a Llama-3-8B-shaped model made on the device.

    python bench/gpu_check.py [--out gpu_check.json] [--stages sft_lora,sft_qlora,reward,dpo,ppo]
    python bench/gpu_check.py --tiny          # CPU (or GPU): the same code on a tiny Llama, seconds

Needs no network and no download: random weights (Llama-3-8B shape: 32 layers, hidden 4096, intermediate 14336,
32/8 GQA heads, vocab 128,256, rope theta 500,000), synthetic token ids, and a word-level tokenizer built in
memory whose vocabulary is the model's (word "t<id>" is id <id>; the top 256 ids hold the Llama-3 special tokens
at Llama 3's own ids), so every id decodes and re-encodes to itself and TRL tokenizes our synthetic texts to
exactly the ids we drew. Stages, each as the project's recipes run them:

* sft_lora / sft_qlora: TRL SFTTrainer, LoRA r=16 on all linear layers, bf16 base / 4-bit NF4 base (bitsandbytes;
  CUDA only: skipped on CPU with the reason), activation checkpointing;
* reward: TRL RewardTrainer on a sequence-classification Llama with LoRA (score head trained);
* dpo: TRL DPOTrainer with LoRA (the reference is the adapter-disabled policy);
* ppo: our `rlhf.ppo_trainer.PPOTrainer` with LoRA policy and LoRA critic, scored by a frozen reward model — the
  three 8B models of `configs/rlhf/ppo_llama3_8b_lora.yaml`.

Each stage reports tokens/s over the steps after warm-up (sequence tokens trained on per second, wall clock),
peak GPU memory (CPU: the process's peak RSS so far) and its losses, as one JSON object. The stages run one
after another in this process; a failing stage is reported with its error and the others still run (exit
code 1). trl and datasets must be importable (on a bare GPU machine: carried wheels, docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}.items():
    os.environ.setdefault(_name, _value)

STAGES = ("sft_lora", "sft_qlora", "reward", "dpo", "ppo")
# The Llama-3-8B shape, for every bench script that makes one with random weights (sft_throughput.py too).
LLAMA3_8B = dict(
    vocab_size=128_256,
    hidden_size=4096,
    intermediate_size=14_336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=8192,
    rope_theta=500_000.0,
)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Llama 3's special tokens at their offsets from the first special id (128,000 in Llama 3 itself).
SPECIAL_OFFSETS = {
    "<|begin_of_text|>": 0,
    "<|end_of_text|>": 1,
    "<|finetune_right_pad_id|>": 4,
    "<|start_header_id|>": 6,
    "<|end_header_id|>": 7,
    "<|eot_id|>": 9,
    "<|reserved_special_token_unk|>": 255,
}
ROLE_WORDS = ["system", "user", "assistant"]  # the chat template writes them between header tokens


@dataclass
class Sizes:
    """Batch shapes and step counts; `--tiny` and the GPU default differ only here and in the model shape."""

    seq: int  # SFT row length; reward pairs and DPO use seq // 2 per side, PPO prompts seq // 8
    batch: int
    steps: int
    warmup: int
    ppo_rollout: int
    ppo_new_tokens: int
    ppo_steps: int


GPU_SIZES = Sizes(seq=2048, batch=2, steps=6, warmup=2, ppo_rollout=8, ppo_new_tokens=128, ppo_steps=2)
TINY_SIZES = Sizes(seq=256, batch=2, steps=2, warmup=1, ppo_rollout=4, ppo_new_tokens=8, ppo_steps=1)


def tiny_shape() -> dict:
    """The embedded tiny Llama's shape (`shared.tiny_model`, imported only here: the GPU path needs no `shared`)."""
    from shared.tiny_model import SIZES

    return {**SIZES["tiny"], "max_position_embeddings": 1024, "rope_theta": LLAMA3_8B["rope_theta"]}


def require_training_stack() -> None:
    missing = []
    for name in ("trl", "datasets", "peft", "accelerate", "transformers"):
        try:
            __import__(name)
        except ImportError as error:
            missing.append(f"{name} ({error})")
    if missing:
        sys.exit(
            f"gpu_check: cannot import {', '.join(missing)} — install the project's pins (on a machine without "
            "network: carry wheels, see docs/benchmarks.md 'GPU check')"
        )


# ---------------------------------------------------------------------------------------------- tokens and models


def build_tokenizer(vocab_size: int):
    """Word-level tokenizer over the model's whole vocabulary: id i <-> word "t<i>", specials at the top 256."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    first_special = vocab_size - 256
    vocab = {f"t{i}": i for i in range(first_special)}
    for i, word in enumerate(ROLE_WORDS):
        del vocab[f"t{i}"]
        vocab[word] = i
    specials = {token: first_special + offset for token, offset in SPECIAL_OFFSETS.items()}
    used = set(specials.values())
    # the other special slots, as Llama 3's reserved tokens (every id has exactly one token)
    specials |= {f"<|reserved_special_token_{i}|>": i for i in range(first_special, vocab_size) if i not in used}
    vocab.update(specials)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|reserved_special_token_unk|>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.add_special_tokens(list(specials))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
        unk_token="<|reserved_special_token_unk|>",
        model_max_length=LLAMA3_8B["max_position_embeddings"],
    )
    tokenizer.chat_template = (REPO_ROOT / "shared/templates/llama3_chat.jinja").read_text(encoding="utf-8")
    return tokenizer


class Words:
    """Synthetic texts: `n` words drawn from the ordinary (non-special, non-role) ids, one token each."""

    def __init__(self, vocab_size: int, seed: int = 0):
        import torch

        self.high = vocab_size - 256
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, n: int) -> str:
        import torch

        ids = torch.randint(len(ROLE_WORDS), self.high, (n,), generator=self.generator)
        return " ".join(f"t{i}" for i in ids.tolist())


def model_config(shape: dict, tokenizer, num_labels: int | None = None):
    from transformers import LlamaConfig

    config = LlamaConfig(
        **shape,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    if num_labels is not None:
        config.num_labels = num_labels
    return config


def build_model(shape: dict, tokenizer, device: str, dtype, classifier: bool = False):
    """Random weights made directly on the device in the run's dtype (no fp32 copy of 8B parameters)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto = AutoModelForSequenceClassification if classifier else AutoModelForCausalLM
    torch.manual_seed(0)
    with torch.device(device):
        model = auto.from_config(model_config(shape, tokenizer, 1 if classifier else None), dtype=dtype)
    if not classifier:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def build_4bit_model(shape: dict, tokenizer, workdir: str):
    """QLoRA as users load it: bitsandbytes quantises at load time, so the random bf16 model is saved once and
    reloaded in 4-bit NF4 with double quantisation (the recipe's settings)."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    path = Path(workdir) / "random-llama"
    model = build_model(shape, tokenizer, "cuda", torch.bfloat16)
    model.save_pretrained(path)
    del model
    free_memory()
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    model = AutoModelForCausalLM.from_pretrained(
        path, quantization_config=quant, dtype=torch.bfloat16, device_map={"": 0}
    )
    torch.cuda.reset_peak_memory_stats()  # the peak of training in 4-bit, not of making the bf16 model to save
    return model


def lora(task_type: str, **extra):
    from peft import LoraConfig

    return LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_TARGETS, task_type=task_type, bias="none", **extra
    )


def free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def peak_memory() -> dict:
    import torch

    if torch.cuda.is_available():
        return {
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
            "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        }
    return {"peak_rss_mib_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ---------------------------------------------------------------------------------------------- TRL stages


def trl_settings(run, config_class, **overrides):
    """The recipes' common training settings, for `warmup + steps` optimizer steps with a loss logged at each."""
    cuda = run.device == "cuda"
    return config_class(
        output_dir=run.workdir,
        max_steps=run.sizes.warmup + run.sizes.steps,
        per_device_train_batch_size=run.sizes.batch,
        gradient_accumulation_steps=1,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        disable_tqdm=True,
        bf16=cuda,
        use_cpu=not cuda,
        activation_checkpointing=cuda,
        dataloader_pin_memory=cuda,
        seed=0,
        **overrides,
    )


class StepClock:
    """A TrainerCallback: wall time from the end of the last warm-up step to the end of the last step."""

    def __init__(self, warmup: int):
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                clock.mark(state.global_step)

        self.callback, self.warmup, self.start, self.end = Callback(), warmup, None, None

    def mark(self, step: int) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        if step == self.warmup:
            self.start = time.perf_counter()
        self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.end - self.start


def run_trainer(run, trainer, clock: StepClock, tokens_per_row: float, rows_per_step: int, notes: str) -> dict:
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    tokens = tokens_per_row * rows_per_step * run.sizes.steps
    return {
        "tokens_per_s": tokens / clock.seconds,
        "seconds": clock.seconds,
        "steps": run.sizes.steps,
        "warmup_steps": run.sizes.warmup,
        "tokens": tokens,
        "tokens_per_step": tokens_per_row * rows_per_step,
        "losses": losses,
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "tokens_counted": notes,
    }


def mean_length(dataset, *columns: str) -> float:
    """Tokens per row after TRL's own preprocessing (EOS added etc.), summed over the given id columns."""
    return sum(len(row[c]) for row in dataset for c in columns) / len(dataset)


def stage_sft(run, quantized: bool) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    if quantized:
        model = build_4bit_model(run.shape, run.tokenizer, run.workdir)
    else:
        model = build_model(run.shape, run.tokenizer, run.device, run.dtype)
    rows = run.sizes.batch * (run.sizes.warmup + run.sizes.steps)
    data = Dataset.from_list([{"text": run.words(run.sizes.seq - 1)} for _ in range(rows)])  # + EOS = seq tokens
    clock = StepClock(run.sizes.warmup)
    args = trl_settings(run, SFTConfig, max_length=run.sizes.seq, packing=False, dataset_text_field="text")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=run.tokenizer,
        peft_config=lora("CAUSAL_LM"),
        callbacks=[clock.callback],
    )
    return run_trainer(
        run, trainer, clock, mean_length(trainer.train_dataset, "input_ids"), run.sizes.batch, "tokens of each row"
    )


def stage_reward(run) -> dict:
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    model = build_model(run.shape, run.tokenizer, run.device, run.dtype, classifier=True)
    side = run.sizes.seq // 2
    rows = run.sizes.batch * (run.sizes.warmup + run.sizes.steps)
    data = Dataset.from_list([{"chosen": run.words(side - 1), "rejected": run.words(side - 1)} for _ in range(rows)])
    clock = StepClock(run.sizes.warmup)
    trainer = RewardTrainer(
        model=model,
        args=trl_settings(run, RewardConfig, max_length=side),
        train_dataset=data,
        processing_class=run.tokenizer,
        peft_config=lora("SEQ_CLS", modules_to_save=["score"]),
        callbacks=[clock.callback],
    )
    tokens = mean_length(trainer.train_dataset, "chosen_ids", "rejected_ids")
    return run_trainer(run, trainer, clock, tokens, run.sizes.batch, "chosen + rejected tokens of each pair")


def stage_dpo(run) -> dict:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    model = build_model(run.shape, run.tokenizer, run.device, run.dtype)
    side = run.sizes.seq // 4  # prompt, chosen and rejected: two sequences of seq // 2 per pair
    rows = run.sizes.batch * (run.sizes.warmup + run.sizes.steps)
    data = Dataset.from_list(
        [
            {"prompt": run.words(side), "chosen": " " + run.words(side - 1), "rejected": " " + run.words(side - 1)}
            for _ in range(rows)
        ]
    )
    clock = StepClock(run.sizes.warmup)
    trainer = DPOTrainer(
        model=model,
        args=trl_settings(run, DPOConfig, max_length=run.sizes.seq, beta=0.1),
        train_dataset=data,
        processing_class=run.tokenizer,
        peft_config=lora("CAUSAL_LM"),
        callbacks=[clock.callback],
    )
    prompt = mean_length(trainer.train_dataset, "prompt_ids")
    tokens = 2 * prompt + mean_length(trainer.train_dataset, "chosen_ids", "rejected_ids")
    return run_trainer(
        run,
        trainer,
        clock,
        tokens,
        run.sizes.batch,
        "prompt+chosen and prompt+rejected tokens of each pair (policy; the reference forward is extra)",
    )


# ---------------------------------------------------------------------------------------------- PPO (our loop)


def stage_ppo(run) -> dict:
    import torch
    from accelerate import Accelerator
    from peft import get_peft_model

    from rlhf.ppo_trainer import PPOArguments, PPOTrainer, TokenValueModel

    sizes, tokenizer = run.sizes, run.tokenizer
    prompt_words = sizes.seq // 8
    cuda = run.device == "cuda"
    policy = get_peft_model(build_model(run.shape, tokenizer, run.device, run.dtype), lora("CAUSAL_LM"))
    critic = build_model(run.shape, tokenizer, run.device, run.dtype, classifier=True)
    critic = get_peft_model(critic, lora("SEQ_CLS", modules_to_save=["score"]))
    reward_model = build_model(run.shape, tokenizer, run.device, run.dtype, classifier=True).eval()
    reward_model.requires_grad_(False)

    class FrozenRewardModel:
        """The reward PPOTrainer takes (CombinedReward's `terms`/`combine`), with one term: the frozen reward model
        on prompt + decoded answer."""

        @torch.no_grad()
        def terms(self, prompts: list[str], texts: list[str], completion_ids=None) -> dict[str, list[float]]:
            batch = tokenizer([f"{p} {t}" for p, t in zip(prompts, texts)], return_tensors="pt", padding=True)
            with torch.autocast(run.device, dtype=torch.bfloat16, enabled=cuda):
                scores = reward_model(**batch.to(run.device)).logits[:, 0]
            return {"reward_model": scores.float().cpu().tolist()}

        def combine(self, terms: dict[str, list[float]], count: int) -> list[float]:
            return terms["reward_model"][:count]

    micro = 2
    args = PPOArguments(
        output_dir=str(Path(run.workdir) / "ppo"),
        use_cpu=not cuda,
        bf16=cuda,
        activation_checkpointing=cuda,
        max_steps=sizes.warmup,
        rollout_batch_size=sizes.ppo_rollout,
        forward_batch_size=sizes.ppo_rollout,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=sizes.ppo_rollout // micro,
        ppo_epochs=1,
        learning_rate=1e-5,
        max_prompt_length=prompt_words + 16,
        max_new_tokens=sizes.ppo_new_tokens,
        temperature=1.0,
        sample_steps=0,
        eval_steps=0,
        save_steps=0,
        logging_steps=1,
    )
    accelerator = Accelerator(
        cpu=not cuda,
        mixed_precision="bf16" if cuda else "no",
        gradient_accumulation_steps=args.gradient_accumulation_steps,
    )
    trainer = PPOTrainer(
        args=args,
        accelerator=accelerator,
        policy=policy,
        ref_policy=None,  # LoRA: the reference is the adapter-disabled policy
        value_model=TokenValueModel(critic),
        reward_fn=FrozenRewardModel(),
        tokenizer=tokenizer,
        prompts=[run.words(prompt_words) for _ in range(4 * sizes.ppo_rollout)],
        eval_prompts=[],
        system_prompt=None,
        run_dir=str(Path(run.workdir) / "runs"),
    )
    trainer.train()  # warm-up steps
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    args.max_steps = sizes.warmup + sizes.ppo_steps
    trainer.train()  # continues from the warm-up's last step
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    logged = [json.loads(line) for line in (Path(args.output_dir) / "metrics.jsonl").read_text().splitlines()]
    measured = [entry for entry in logged if entry.get("step", 0) > sizes.warmup and "loss/policy" in entry]
    if len(measured) != sizes.ppo_steps:
        raise RuntimeError(f"expected {sizes.ppo_steps} logged PPO steps with loss/policy, got {measured}")
    # every prompt has the same length; response_length is the batch mean up to and including the stop token
    generated = sum(entry["response_length"] for entry in measured) * sizes.ppo_rollout
    tokens = len(trainer.queries[0]) * sizes.ppo_rollout * sizes.ppo_steps + generated
    return {
        "tokens_per_s": tokens / seconds,
        "generated_tokens_per_s": generated / seconds,
        "seconds": seconds,
        "steps": sizes.ppo_steps,
        "warmup_steps": sizes.warmup,
        "tokens": tokens,
        "tokens_per_step": tokens / sizes.ppo_steps,
        "rollout_seconds": [entry.get("time/rollout_s") for entry in measured],
        "losses": [entry["loss/policy"] for entry in measured],
        "value_losses": [entry["loss/value"] for entry in measured],
        "rollout_batch": sizes.ppo_rollout,
        "max_new_tokens": sizes.ppo_new_tokens,
        # policy and value model (PolicyAndValue)
        "trainable_parameters": sum(p.numel() for p in trainer.unwrapped.parameters() if p.requires_grad),
        "tokens_counted": "prompt + generated tokens of the rollout batch per PPO step (rollout, scoring, update)",
    }


# ---------------------------------------------------------------------------------------------- driver


@dataclass
class Run:
    shape: dict
    sizes: Sizes
    device: str
    dtype: object
    tokenizer: object
    words: Words
    workdir: str = ""


def run_stage(run: Run, name: str) -> dict:
    import torch

    if name == "sft_qlora" and run.device != "cuda":
        return {"skipped": "QLoRA needs CUDA: bitsandbytes 4-bit layers have no CPU training path"}
    free_memory()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    # Trainers print their logs to stdout: send them to stderr, so stdout carries only the report.
    with tempfile.TemporaryDirectory(prefix=f"gpu_check_{name}_") as workdir, contextlib.redirect_stdout(sys.stderr):
        run.workdir = workdir
        try:
            if name in ("sft_lora", "sft_qlora"):
                result = stage_sft(run, quantized=name == "sft_qlora")
            elif name == "reward":
                result = stage_reward(run)
            elif name == "dpo":
                result = stage_dpo(run)
            else:
                result = stage_ppo(run)
        except Exception as error:  # one stage's failure (OOM, a missing kernel) must not hide the others' figures
            traceback.print_exc()
            result = {"error": f"{type(error).__name__}: {error}"[:2000]}
        finally:
            reset_accelerate()
    result |= peak_memory()
    result["stage_seconds"] = time.perf_counter() - started
    if "losses" in result and not all(math.isfinite(x) for x in result["losses"]):
        result["error"] = f"non-finite loss: {result['losses']}"
    return result


def reset_accelerate() -> None:
    """Each stage builds its own Accelerator (TRL's or ours); forget the previous one's process-wide state."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    free_memory()


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny Llama and short batches (CPU tests)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--seq", type=int, help="override the row length (default 2048, --tiny 256)")
    parser.add_argument("--steps", type=int, help="override the measured steps per TRL stage")
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown or not stages:
        parser.error(f"--stages: unknown {unknown} (choose from {', '.join(STAGES)})")
    require_training_stack()

    import torch

    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shape = tiny_shape() if args.tiny else LLAMA3_8B
    sizes = TINY_SIZES if args.tiny else GPU_SIZES
    sizes = Sizes(**{**vars(sizes), **{k: v for k, v in (("seq", args.seq), ("steps", args.steps)) if v}})
    if device == "cpu" and not args.tiny:
        print("gpu_check: no CUDA device — the Llama-3-8B shape needs a GPU; use --tiny on CPU", file=sys.stderr)
        return 2
    if device == "cpu":
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    tokenizer = build_tokenizer(shape["vocab_size"])
    run = Run(
        shape,
        sizes,
        device,
        torch.bfloat16 if device == "cuda" else torch.float32,
        tokenizer,
        Words(shape["vocab_size"]),
    )
    report = {
        "benchmark": "gpu_check",
        "device": torch.cuda.get_device_name(0) if device == "cuda" else f"cpu ({os.cpu_count()} cores)",
        "shape": "tiny" if args.tiny else "llama3-8b",
        "model": {**shape, "dtype": str(run.dtype).removeprefix("torch.")},
        "sizes": vars(sizes),
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d"),
        "stages": {},
    }
    for name in stages:
        print(f"gpu_check: {name} ...", file=sys.stderr, flush=True)
        report["stages"][name] = run_stage(run, name)
        print(f"gpu_check: {name}: {json.dumps(report['stages'][name])}", file=sys.stderr, flush=True)
    report["total_seconds"] = time.perf_counter() - started
    text = json.dumps(report, ensure_ascii=False)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if any("error" in result for result in report["stages"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
