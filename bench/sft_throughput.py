"""SFT throughput: stock TRL defaults vs the project's recipes, same model and data, same run.

    python bench/sft_throughput.py [--model artifacts/tiny-llama] [--steps 15]     # tiny recipe (configs/sft/tiny.yaml)
    python bench/sft_throughput.py --model artifacts/smollm2-135m [--repeats 2]    # real-model recipes (smollm2_*.yaml)
    python bench/sft_throughput.py --model artifacts/smollm2-135m --variants baseline_lora_autocast \
        --extra 'lora_no_compact=configs/sft/smollm2_lora.yaml,compact_lm_head=false'   # one more variant
    python bench/sft_throughput.py --gpu            # Llama-3-8B shape, random weights: LoRA and QLoRA

Each variant is a recipe YAML (read with the same parser as sft/train.py, so the benchmark measures the recipe
itself) plus overrides, and runs in its own process (so peak memory is its own). It reports real (non-padding)
tokens/s of the median measured step after warm-up steps, the mean training loss of the measured steps, peak RSS, and MFU = 6·params·tokens/s
over a matmul peak measured in the same run (bf16 for bf16 variants, fp32 otherwise; params = the base model's,
so LoRA and full fine-tuning are measured against the same yardstick). With `--repeats N` the variants run
interleaved N times (A B C A B C) and each ratio is the median of the per-round ratios: on a shared machine the
load drifts, and only ratios measured side by side mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY_MODEL = "artifacts/tiny-llama"

# Stock = what SFTConfig does by default, plus only what CPU requires (bf16 default is refused on CPU).
STOCK = {"use_cpu": "true", "bf16": "false"}
ALL_LINEAR = "[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]"


@dataclass(frozen=True)
class Variant:
    """A recipe YAML (None: stock TRL defaults) plus key overrides, as `sft/train.py --config R --key value`."""

    recipe: str | None
    overrides: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # process environment, e.g. OMP_NUM_THREADS


TINY_VARIANTS = {
    "stock_trl_defaults": Variant(None, STOCK),
    "project_tiny_recipe": Variant("configs/sft/tiny.yaml"),
}
REAL_VARIANTS = {
    "stock_trl_defaults": Variant(None, STOCK),
    # Issue 14's measured recipe (≈ 330 tokens/s alone on 2 cores): the tiny recipe's CPU settings (wrapped 512,
    # bf16 autocast over fp32 weights, no activation checkpointing) with LoRA r=16 on all linear layers.
    "baseline_lora_autocast": Variant(
        "configs/sft/tiny.yaml",
        {
            "use_peft": "true",
            "lora_r": "16",
            "lora_alpha": "32",
            "lora_dropout": "0.05",
            "lora_target_modules": ALL_LINEAR,
            "per_device_train_batch_size": "4",
            "learning_rate": "5e-4",
        },
    ),
}
LORA_RECIPE = "configs/sft/smollm2_lora.yaml"
# The LoRA recipe's speed levers, each as (recipe key, the baseline's value), in the order the ladder adds them.
LEVERS = {
    "bf16_weights": ("dtype", "float32"),
    "no_dropout": ("lora_dropout", "0.05"),
    "compact_head": ("compact_lm_head", "false"),
    "lora_inputs_bf16": ("lora_inputs_in_autocast_dtype", "false"),
    "eager_attention": ("attn_implementation", "sdpa"),
    "compile_layers": ("compile_layers", "false"),
}


def ladder(recipe: str, levers: dict[str, tuple[str, str]]) -> dict[str, Variant]:
    """One variant per lever, each adding its lever to the one before: the recipe with every later lever set back
    to the baseline's value. The last lever's rung is the recipe itself, so the ladder stops one short of it."""
    names = list(levers)
    return {
        f"+{name}": Variant(recipe, {key: value for key, value in (levers[later] for later in names[i + 1 :])})
        for i, name in enumerate(names[:-1])
    }


REAL_VARIANTS |= ladder(LORA_RECIPE, LEVERS) | {
    "smollm2_lora": Variant(LORA_RECIPE),
    # the same tokens per step in shorter rows: attention costs less, but no example sees more than 256 tokens
    "smollm2_lora_8x256": Variant(LORA_RECIPE, {"per_device_train_batch_size": "8", "max_length": "256"}),
    "smollm2_full": Variant("configs/sft/smollm2_full.yaml"),
    # adapters on the top half / third of the 30 layers only: no backward below them (fewer FLOPs per token, but a
    # higher validation loss after the same steps: docs/benchmarks.md; not in the recipe)
    "smollm2_lora_top15": Variant(LORA_RECIPE, {"lora_top_layers": "15"}),
    "smollm2_lora_top10": Variant(LORA_RECIPE, {"lora_top_layers": "10"}),
}
BASELINE = {"tiny": "stock_trl_defaults", "real": "baseline_lora_autocast"}


def parse_extra(spec: str) -> tuple[str, Variant]:
    """`name=recipe.yaml,key=value,...` (recipe `stock` for TRL defaults; `env.NAME=value` for the process env)."""
    name, _, rest = spec.partition("=")
    recipe, *pairs = rest.split(",")
    overrides, env = {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--extra {spec!r}: expected key=value, got {pair!r}")
        (env if key.startswith("env.") else overrides)[key.removeprefix("env.")] = value
    if recipe == "stock":
        return name, Variant(None, {**STOCK, **overrides}, env)
    return name, Variant(recipe, overrides, env)


def variant_cli(variant: Variant, model: str) -> list[str]:
    """The command-line arguments that `shared.config.parse_config` reads for this variant."""
    args = ["--config", variant.recipe] if variant.recipe else []
    args += ["--model_name_or_path", model]
    for key, value in variant.overrides.items():
        args += [f"--{key}", *(value.strip("[]").replace(",", " ").split() if value.startswith("[") else [value])]
    return args


def variant_configs(variant: Variant, model: str):
    """(script_args, training_args, model_args) exactly as sft/train.py parses them."""
    from trl import ModelConfig, SFTConfig

    from sft.train import SFTScriptArguments
    from shared.config import parse_config

    return parse_config(SFTScriptArguments, SFTConfig, ModelConfig, args=variant_cli(variant, model))


def mfu(params: int, tokens_per_s: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation: 6 FLOPs per parameter per trained token (forward + backward) over the peak."""
    return 6 * params * tokens_per_s / (peak_tflops * 1e12)


def matmul_peak_tflops(dtype_name: str, size: int = 2048, repeats: int = 10) -> dict[str, float]:
    """A square matmul's TFLOP/s per wall second and per CPU second (CPU time of all threads: the peak of one
    core, which load from other processes hardly changes)."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        a @ b
    flops = 2 * size**3 * repeats
    return {
        "wall": flops / (time.perf_counter() - wall) / 1e12,
        "per_cpu_s": flops / (time.process_time() - cpu) / 1e12,
    }


def run_variant(variant: Variant, model: str, data: str, steps: int, warmup: int) -> dict:
    import dataclasses

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import SFTTrainer

    from shared.data import load_examples
    from shared.generation import with_system_prompt
    from shared.modeling import model_init_kwargs, peft_config, resolve_precision
    from shared.speed import apply_speedups

    script_args, training_args, model_args = variant_configs(variant, model)
    rows = [
        {"messages": with_system_prompt(r["messages"], script_args.system_prompt)} for r in load_examples(data, "sft")
    ]
    edges, losses = [], []

    class Timer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= warmup:  # the clocks at the end of the warm-up and of every measured step
                edges.append((time.perf_counter(), time.process_time(), state.num_input_tokens_seen))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.global_step > warmup and logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    with tempfile.TemporaryDirectory() as out:
        training_args = dataclasses.replace(
            training_args,
            output_dir=out,
            max_steps=warmup + steps,
            report_to=[],
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="steps",
            logging_steps=1,
            include_num_input_tokens_seen="non_padding",
            dataloader_pin_memory=False,
        )
        training_args = resolve_precision(training_args)
        stock = variant.recipe is None
        if not stock:
            training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
        trainer = SFTTrainer(
            model=model,
            args=training_args,
            train_dataset=Dataset.from_list(rows),
            processing_class=AutoTokenizer.from_pretrained(model),
            peft_config=None if stock else peft_config(model_args, top_layers=script_args.lora_top_layers),
            callbacks=[Timer()],
        )
        if not stock:
            apply_speedups(trainer, script_args)
        trainer.train()
        base = trainer.model.get_base_model() if hasattr(trainer.model, "get_base_model") else trainer.model
        params = sum(p.numel() for name, p in base.named_parameters() if "lora_" not in name)
        weights_dtype = str(next(base.parameters()).dtype).removeprefix("torch.")
    load_average = os.getloadavg()[0]  # 1-minute load at the end of the measured steps (this process counts ~2)
    per_step = [(b[0] - a[0], b[1] - a[1], b[2] - a[2]) for a, b in zip(edges, edges[1:])]
    return {
        # the median step: a step that another process's burst slowed down does not move it
        "tokens_per_s": statistics.median(tokens / wall for wall, _, tokens in per_step),
        # CPU seconds of all the process's threads: on a shared machine the wall clock also counts the time other
        # processes held the cores, CPU time much less so (it still counts cache/bandwidth contention and spinning).
        "tokens_per_cpu_s": statistics.median(tokens / cpu for _, cpu, tokens in per_step),
        "step_seconds": [round(wall, 3) for wall, _, _ in per_step],
        "tokens": sum(tokens for _, _, tokens in per_step),
        "seconds": sum(wall for wall, _, _ in per_step),
        "loss": statistics.fmean(losses) if losses else None,
        "params": params,
        "bf16": bool(training_args.bf16) or weights_dtype == "bfloat16",
        "weights_dtype": weights_dtype,
        "threads": torch.get_num_threads(),
        "settings": variant_cli(variant, model)[2 if variant.recipe else 0 :],
        "recipe": variant.recipe,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_average": load_average,
        # the peak sampled under the same load as the steps, in this variant's precision (the run keeps the best)
        "matmul_peak_tflops": matmul_peak_tflops(
            "bfloat16" if training_args.bf16 or weights_dtype == "bfloat16" else "float32"
        ),
    }


def run_in_subprocess(name: str, variant: Variant, args, model: str) -> dict:
    spec = json.dumps({"recipe": variant.recipe, "overrides": variant.overrides, "env": variant.env})
    command = [sys.executable, __file__, "--run-one", spec, "--model", model, "--data", args.data]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = {**os.environ, **variant.env}
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"variant {name} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(rounds: list[dict[str, dict]], peaks: dict[str, dict[str, float]], baseline: str) -> dict:
    """Per variant: median tokens/s over the rounds, and the median of the per-round ratios to the baseline."""
    summary = {}
    for name in rounds[0]:
        runs = [r[name] for r in rounds]
        tokens_per_s = statistics.median(run["tokens_per_s"] for run in runs)
        tokens_per_cpu_s = statistics.median(run["tokens_per_cpu_s"] for run in runs)
        peak = peaks["bf16" if runs[0]["bf16"] else "fp32"]
        per_round = {k: [run[k] for run in runs] for k in ("tokens_per_s", "tokens_per_cpu_s")}
        summary[name] = {
            **{k: v for k, v in runs[0].items() if k not in {*per_round, "tokens", "seconds", "loss", "load_average"}},
            "load_average": [run.get("load_average") for run in runs],
            "tokens_per_s": tokens_per_s,
            "tokens_per_s_rounds": per_round["tokens_per_s"],
            "ratio_to_baseline": statistics.median(
                r[name]["tokens_per_s"] / r[baseline]["tokens_per_s"] for r in rounds
            ),
            "tokens_per_cpu_s": tokens_per_cpu_s,
            "cpu_ratio_to_baseline": statistics.median(
                r[name]["tokens_per_cpu_s"] / r[baseline]["tokens_per_cpu_s"] for r in rounds
            ),
            "loss": statistics.median(run["loss"] for run in runs) if runs[0]["loss"] is not None else None,
            "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
            "mfu": mfu(runs[0]["params"], tokens_per_s, peak["wall"]),
            # the same utilisation from CPU time: tokens per CPU second over the peak per CPU second
            "mfu_cpu_time": mfu(runs[0]["params"], tokens_per_cpu_s, peak["per_cpu_s"]),
        }
    return summary


def cpu_benchmark(args) -> dict:
    model = args.model
    if not (Path(model) / "config.json").exists():
        if model != TINY_MODEL:
            raise SystemExit(
                f"{model}: no config.json (build it first, e.g. python -m shared.pretrained --out {model})"
            )
        from shared.tiny_model import build_tiny_model

        model = str(build_tiny_model(Path(tempfile.mkdtemp()) / "tiny-llama", size="small"))
    suite = args.suite or ("tiny" if args.model == TINY_MODEL else "real")
    variants = dict(TINY_VARIANTS if suite == "tiny" else REAL_VARIANTS)
    if args.variants:
        variants = {name: variants[name] for name in args.variants}
    variants.update(parse_extra(spec) for spec in args.extra)
    baseline = args.baseline or (BASELINE[suite] if BASELINE[suite] in variants else next(iter(variants)))
    peaks = {"bf16": {"wall": 0.0, "per_cpu_s": 0.0}, "fp32": {"wall": 0.0, "per_cpu_s": 0.0}}
    rounds = []
    for _ in range(args.repeats):
        rounds.append({})
        for name, variant in variants.items():
            rounds[-1][name] = run_in_subprocess(name, variant, args, model)
            peak = peaks["bf16" if rounds[-1][name]["bf16"] else "fp32"]
            for kind, value in rounds[-1][name].pop("matmul_peak_tflops").items():
                peak[kind] = max(peak[kind], value)
            keys = ("tokens_per_s", "tokens_per_cpu_s", "seconds", "loss", "peak_rss_mib", "load_average")
            progress = {k: rounds[-1][name][k] for k in keys}
            print(f"round {len(rounds)} {name}: {json.dumps(progress)}", file=sys.stderr, flush=True)
        for dtype, key in (("bfloat16", "bf16"), ("float32", "fp32")):
            for kind, value in matmul_peak_tflops(dtype).items():  # and after each round: a peak is the best seen
                peaks[key][kind] = max(peaks[key][kind], value)
    summary = summarise(rounds, peaks, baseline)
    result = {
        "benchmark": "sft_throughput",
        "suite": suite,
        "device": "cpu",
        "cores": os.cpu_count(),
        "model": model,
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "matmul_peak_tflops": peaks,
        "baseline": baseline,
        "variants": summary,
        "ratios_to_baseline": {name: v["ratio_to_baseline"] for name, v in summary.items()},
        "cpu_time_ratios_to_baseline": {name: v["cpu_ratio_to_baseline"] for name, v in summary.items()},
    }
    if suite == "tiny":
        stock, project = summary["stock_trl_defaults"], summary["project_tiny_recipe"]
        result |= {
            "ratio_tokens_per_s": project["tokens_per_s"] / stock["tokens_per_s"],
            "ratio_peak_rss": project["peak_rss_mib"] / stock["peak_rss_mib"],
            "target_ratio": 2.0,
        }
    else:
        result["target_ratio"] = 3.0  # issue 18: the real-model recipes ≥ 3× the baseline, side by side
    return result


def gpu_benchmark(args) -> dict:
    """Llama-3-8B shape with random weights (no download): LoRA (bf16 base) and QLoRA (4-bit base)."""
    import torch
    from gpu_check import LLAMA3_8B  # bench/ is on sys.path: this file runs as a script from there
    from peft import LoraConfig, get_peft_model
    from transformers import BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**LLAMA3_8B)
    results = {}
    for name in ("lora", "qlora"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        with tempfile.TemporaryDirectory() as tmp:
            if name == "qlora":
                # bitsandbytes quantises at load time, so the random model is saved once and reloaded in 4-bit.
                LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(tmp)
                quant = BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_compute_dtype=torch.bfloat16,
                    bnb_4bit_use_double_quant=True,
                )
                model = LlamaForCausalLM.from_pretrained(tmp, quantization_config=quant, device_map={"": 0})
                torch.cuda.reset_peak_memory_stats()
            else:
                with torch.device("cuda"):
                    model = LlamaForCausalLM(config).to(torch.bfloat16)
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        batch = torch.randint(0, config.vocab_size, (args.gpu_batch, args.gpu_seq), device="cuda")
        for step in range(args.warmup + args.steps):
            if step == args.warmup:
                torch.cuda.synchronize()
                start = time.perf_counter()
            loss = model(input_ids=batch, labels=batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        tokens_per_s = args.steps * batch.numel() / (time.perf_counter() - start)
        results[name] = {
            "tokens_per_s": tokens_per_s,
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30,
            "batch": args.gpu_batch,
            "seq_len": args.gpu_seq,
        }
        del model, optimizer
    return {
        "benchmark": "sft_throughput_gpu",
        "device": torch.cuda.get_device_name(0),
        "variants": results,
        "ratio_qlora_over_lora_tokens_per_s": results["qlora"]["tokens_per_s"] / results["lora"]["tokens_per_s"],
        "ratio_qlora_over_lora_memory": results["qlora"]["peak_memory_gib"] / results["lora"]["peak_memory_gib"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=TINY_MODEL)
    parser.add_argument("--data", default="data/sft/train.jsonl")
    parser.add_argument("--suite", choices=("tiny", "real"), help="default: tiny for the tiny model, else real")
    parser.add_argument("--steps", type=int, help="measured steps per variant (default: tiny 15, real 4)")
    parser.add_argument("--warmup", type=int, help="unmeasured steps first (default: tiny 3, real 1)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all variants, interleaved")
    parser.add_argument("--variants", nargs="+", help="run only these built-in variants")
    parser.add_argument("--extra", action="append", default=[], help="name=recipe.yaml,key=value,... (repeatable)")
    parser.add_argument("--baseline", help="variant the ratios divide by")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--gpu_batch", type=int, default=4)
    parser.add_argument("--gpu_seq", type=int, default=2048)
    args = parser.parse_args()
    real = (args.suite or ("tiny" if args.model == TINY_MODEL else "real")) == "real"
    args.steps = args.steps or (4 if real else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if real else 3)
    if args.run_one:
        result = run_variant(Variant(**json.loads(args.run_one)), args.model, args.data, args.steps, args.warmup)
    else:
        result = gpu_benchmark(args) if args.gpu else cpu_benchmark(args)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
